//! Processing answers: `data` is a list of operation results, each with the result
//! `code` tills switch on (`Ok`, `NotEnoughMoney` …), the messages for the cashier and
//! the cheque, and the cheque as priced. A refused operation is still a delivered
//! answer (HTTP 200, `result.state: "Success"`); its `code` says what went wrong.

use super::super::envelope::{Answer, Version};
use super::codes::{Code, Refusal};
use accrue_core::money::to_decimal;
use accrue_store::Currency;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// An amount as the processing document writes it: whole ones without a fraction (`1`,
/// not `1.0`). (The member API keeps the fraction: its clients parse amounts as floats
/// strictly.)
pub fn amount(minor: i64, currency: &Currency) -> Value {
    number(to_decimal(minor, currency.scale))
}

/// A quantity or amount as a JSON number, whole ones as integers.
pub fn number(n: Decimal) -> Value {
    match n.normalize() {
        whole if whole.scale() == 0 => whole.to_i64().map_or_else(|| json!(whole.to_f64()), |i| json!(i)),
        fraction => json!(fraction.to_f64().unwrap_or_default()),
    }
}

/// One operation result, before the method's own fields are added. `device` is the
/// till's own name for itself, as it sent it.
pub fn item(operation_id: Option<&str>, device: Option<&str>, code: Code, message: Option<&str>) -> Value {
    json!({
        "transactionId": null,
        "deviceLogicalId": device,
        "operationId": operation_id,
        "code": code.as_str(),
        "errorMessage": message,
        "cashierMessage": null,
        "chequeMessage": null,
        "cheque": null,
    })
}

pub fn answer(v: Version, item: Value) -> Answer {
    Answer::success(v, json!([item]))
}

pub fn refused(v: Version, operation_id: Option<&str>, device: Option<&str>, r: &Refusal) -> Answer {
    answer(v, item(operation_id, device, r.code, Some(&r.message)))
}

pub fn parse_error(v: Version, detail: &str) -> Answer {
    let r = Refusal::new(Code::ParseError, format!("Не удалось разобрать запрос: {detail}"));
    refused(v, None, None, &r)
}
