//! What tills send: the Loymax processing request as JSON, or as ASP.NET-style form
//! fields (`cheque.lines[0].amount=85`) which some shop integrations post instead.

use super::super::envelope::Version;
use super::answer::parse_error;
use crate::service::pricing::{ChequeInput, LineInput};
use crate::service::purchases::RefundLineInput;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::str::FromStr;

/// A number as tills send it: a JSON number, or a string in a form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Num(pub Decimal);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        let text = match Value::deserialize(d)? {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().replace(',', "."),
            other => return Err(serde::de::Error::custom(format!("expected a number, got {other}"))),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map(Num)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number")))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessingRequest {
    pub operation_id: Option<String>,
    pub operation_date: Option<String>,
    pub cashier: Option<String>,
    pub cheque: Option<ChequeIn>,
    pub coupons: Vec<Coupon>,
    /// Bonuses to pay with (Payment).
    pub amount: Option<Num>,
    pub pays: Vec<Pay>,
    /// The till's own name for itself, echoed in the answer.
    pub device_logical_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChequeIn {
    pub number: Option<String>,
    pub date: Option<String>,
    pub lines: Vec<LineIn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LineIn {
    pub position: Option<Num>,
    pub amount: Option<Num>,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    pub quantity: Option<Num>,
    pub discount: Option<Num>,
    pub name: Option<String>,
    pub price: Option<Num>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Coupon {
    pub number: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pay {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub amount: Option<Num>,
}

/// How deep a form field's name may nest (`cheque.lines[0].amount` is 3 deep).
pub const MAX_FORM_DEPTH: usize = 8;
/// The longest form field name, in bytes.
pub const MAX_FORM_KEY: usize = 256;
/// The most form fields a request may have.
pub const MAX_FORM_FIELDS: usize = 4096;
/// The largest list index (`lines[1000]`).
pub const MAX_FORM_INDEX: usize = 1000;

/// Builds the JSON tree that ASP.NET form fields describe: `a.b[0].c=v`, within the
/// limits above (a tree of unbounded depth would exhaust the stack when dropped).
pub fn form_to_json(pairs: &[(String, String)]) -> Result<Value, String> {
    if pairs.len() > MAX_FORM_FIELDS {
        return Err(format!("more than {MAX_FORM_FIELDS} form fields"));
    }
    let mut root = Value::Object(Map::new());
    for (key, value) in pairs {
        if key.len() > MAX_FORM_KEY {
            return Err(format!("a form field name is longer than {MAX_FORM_KEY} bytes"));
        }
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() > MAX_FORM_DEPTH {
            return Err(format!("{key} nests deeper than {MAX_FORM_DEPTH} levels"));
        }
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let (name, index) = match part.split_once('[') {
                Some((name, rest)) => {
                    let index = rest
                        .trim_end_matches(']')
                        .parse::<usize>()
                        .map_err(|_| format!("bad index in {key}"))?;
                    (name, Some(index))
                }
                None => (*part, None),
            };
            if name.is_empty() || index.is_some_and(|i| i > MAX_FORM_INDEX) {
                return Err(format!("bad field name {key}"));
            }
            let object = node
                .as_object_mut()
                .ok_or_else(|| format!("{key} mixes a value and fields"))?;
            node = match index {
                None if last => {
                    object.insert(name.to_string(), Value::String(value.clone()));
                    break;
                }
                None => object.entry(name).or_insert_with(|| Value::Object(Map::new())),
                Some(index) => {
                    let list = object.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                    let list = list.as_array_mut().ok_or_else(|| format!("{key} is not a list"))?;
                    while list.len() <= index {
                        list.push(Value::Object(Map::new()));
                    }
                    if last {
                        list[index] = Value::String(value.clone());
                        break;
                    }
                    &mut list[index]
                }
            };
        }
    }
    Ok(root)
}

/// The request body, JSON or form (and the JSON it reads as, for fingerprints); an
/// unreadable one answers `ParseError`.
pub struct Body(pub ProcessingRequest, pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let version = req.extensions().get::<Version>().copied().unwrap_or(Version::V1_2);
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let value = if form {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|pairs| form_to_json(&pairs))
        } else if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(Value::Object(Map::new()))
        } else {
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        };
        let parsed = value.and_then(|v| Ok(Body(serde_json::from_value(v.clone()).map_err(|e| e.to_string())?, v)));
        parsed.map_err(|e| parse_error(version, &e).into_response())
    }
}

impl ProcessingRequest {
    /// The cheque as the service takes it; `None` when the request has none.
    pub fn cheque(&self) -> Option<ChequeInput> {
        let given = self.cheque.as_ref()?;
        let lines = given.lines.iter().map(|l| LineInput {
            position: l.position.map(|n| n.0),
            goods_id: l.goods_id.clone(),
            barcode: l.barcode.clone(),
            quantity: l.quantity.map(|n| n.0),
            price: l.price.map(|n| n.0),
            amount: l.amount.map(|n| n.0),
            discount: l.discount.map(|n| n.0),
            name: l.name.clone(),
        });
        Some(ChequeInput {
            lines: lines.collect(),
            coupons: self.coupons.iter().filter_map(|c| c.number.clone()).collect(),
            number: given.number.clone(),
        })
    }

    /// The lines a refund names (none: all that is left).
    pub fn refund_lines(&self) -> Vec<RefundLineInput> {
        let lines = self.cheque.as_ref().map_or(&[][..], |c| &c.lines[..]);
        let named = lines.iter().map(|l| RefundLineInput {
            position: l.position.map(|n| n.0),
            quantity: l.quantity.map(|n| n.0),
            amount: l.amount.map(|n| n.0),
        });
        named.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn form_fields_become_the_json_request() {
        let form = pairs(&[
            ("operationId", "op-1"),
            ("cheque.lines[0].amount", "85"),
            ("cheque.lines[0].position", "1"),
            ("cheque.lines[1].amount", "10,5"),
            ("coupons[0].number", "C-1"),
            ("amount", "36.5"),
        ]);
        let value = form_to_json(&form).unwrap();
        let request: ProcessingRequest = serde_json::from_value(value).unwrap();
        let cheque = request.cheque.unwrap();
        assert_eq!(cheque.lines[0].amount, Some(Num(Decimal::from(85))));
        assert_eq!(cheque.lines[0].position, Some(Num(Decimal::ONE)));
        assert_eq!(cheque.lines[1].amount, Some(Num(Decimal::new(105, 1))));
        assert_eq!(request.coupons[0].number.as_deref(), Some("C-1"));
        assert_eq!(request.amount, Some(Num(Decimal::new(365, 1))));
    }

    #[test]
    fn deep_long_and_many_fields_are_refused() {
        // The body that overflowed the stack: `a.a.a….a=1`, about 7000 levels.
        let attack = vec!["a"; 7000].join(".");
        assert!(form_to_json(&[(attack, "1".to_string())]).is_err());
        let deep = ["a"; 100].join(".");
        assert!(form_to_json(&[(deep, "1".to_string())]).unwrap_err().contains("deeper"));
        let eight = ["a"; MAX_FORM_DEPTH].join(".");
        assert!(form_to_json(&[(eight, "1".to_string())]).is_ok());
        assert!(form_to_json(&[("a".repeat(MAX_FORM_KEY + 1), "1".to_string())]).is_err());
        let many: Vec<(String, String)> = (0..=MAX_FORM_FIELDS).map(|i| (format!("f{i}"), "1".into())).collect();
        assert!(form_to_json(&many).is_err());
    }

    #[test]
    fn bad_form_fields_are_refused() {
        assert!(form_to_json(&pairs(&[("a[x]", "1")])).is_err());
        assert!(form_to_json(&pairs(&[("a", "1"), ("a.b", "2")])).is_err());
        assert!(form_to_json(&pairs(&[("a[99999]", "1")])).is_err());
        assert!(form_to_json(&pairs(&[(".a", "1")])).is_err());
    }

    proptest! {
        #[test]
        fn any_form_parses_or_is_refused_without_panicking(keys in proptest::collection::vec("[a-z.\\[\\]0-9]{0,12}", 0..8)) {
            let form: Vec<(String, String)> = keys.into_iter().map(|k| (k, "1".to_string())).collect();
            let _ = form_to_json(&form);
        }

        #[test]
        fn numbers_round_trip_through_forms(n in 0_i64..10_000_000, scale in 0_u32..3) {
            let d = Decimal::new(n, scale);
            let value = form_to_json(&[("amount".to_string(), d.to_string())]).unwrap();
            let request: ProcessingRequest = serde_json::from_value(value).unwrap();
            prop_assert_eq!(request.amount, Some(Num(d)));
        }
    }
}
