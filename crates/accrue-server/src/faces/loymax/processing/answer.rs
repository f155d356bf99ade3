//! Processing answers: `data` is a list of operation results, each with the result
//! `code` tills switch on (`Ok`, `NotEnoughMoney` …), the messages for the cashier and
//! the cheque, and the cheque as priced. A refused operation is still a delivered
//! answer (HTTP 200, `result.state: "Success"`); its `code` says what went wrong.

use super::super::envelope::{Answer, Version};
use super::codes::{Code, Refusal};
use serde_json::{json, Value};

/// One operation result, before the method's own fields are added.
pub fn item(operation_id: Option<&str>, device: Option<i64>, code: Code, message: Option<&str>) -> Value {
    json!({
        "transactionId": null,
        "deviceLogicalId": device.map(|d| d.to_string()),
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

pub fn refused(v: Version, operation_id: Option<&str>, device: Option<i64>, r: &Refusal) -> Answer {
    answer(v, item(operation_id, device, r.code, Some(&r.message)))
}

pub fn parse_error(v: Version, detail: &str) -> Answer {
    let r = Refusal::new(Code::ParseError, format!("Не удалось разобрать запрос: {detail}"));
    refused(v, None, None, &r)
}
