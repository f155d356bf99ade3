//! Loymax's answer envelope: `{"data": …, "result": {"state", "message", …}}`.
//! v1.2 clients also read `httpCode`, `messageCode` and `exception`; older versions get
//! the three documented fields only. Unexpected failures travel as HTTP 500 with
//! `state: "Fail"` and an id that is in the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V1_1,
    V1_2,
}

/// What the handler's work came to.
#[derive(Debug)]
pub enum Outcome {
    Success(Value),
    /// A business (protocol) error: HTTP 200 with `state: "Error"`; `data` may say more.
    Error(String, Value),
    /// The request itself is wrong: `(field, message)` pairs.
    Invalid(Vec<(String, String)>),
    /// Something broke on our side.
    Fail(String),
}

/// The version a request asked for, as the layer in front of the routes set it.
pub type AskedVersion = Option<axum::Extension<Version>>;

pub fn asked(v: AskedVersion) -> Version {
    v.map_or(Version::V1_2, |e| e.0)
}

pub struct Answer {
    pub version: Version,
    pub outcome: Outcome,
    /// Some successes answer 201 (`Cards/Set`, `PUT Cards/EmitVirtual`).
    pub created: bool,
}

impl Answer {
    fn new(version: Version, outcome: Outcome) -> Answer {
        Answer {
            version,
            outcome,
            created: false,
        }
    }

    pub fn success(version: Version, data: Value) -> Answer {
        Answer::new(version, Outcome::Success(data))
    }

    pub fn error(version: Version, message: impl Into<String>) -> Answer {
        Answer::new(version, Outcome::Error(message.into(), Value::Null))
    }

    pub fn error_with(version: Version, message: impl Into<String>, data: Value) -> Answer {
        Answer::new(version, Outcome::Error(message.into(), data))
    }

    pub fn invalid(version: Version, field: &str, message: impl Into<String>) -> Answer {
        Answer::new(version, Outcome::Invalid(vec![(field.to_string(), message.into())]))
    }

    /// Marks a success as HTTP 201.
    pub fn created(self) -> Answer {
        Answer {
            created: matches!(self.outcome, Outcome::Success(_)),
            ..self
        }
    }

    pub fn fail(version: Version, detail: &str) -> Answer {
        Answer::new(version, Outcome::Fail(detail.to_string()))
    }
}

fn result(version: Version, state: &str, http_code: u16, message: Value, validation: Value) -> Value {
    match version {
        Version::V1_2 => json!({
            "state": state, "httpCode": http_code, "message": message, "messageCode": null,
            "exception": null, "validationErrors": validation,
        }),
        _ => json!({"state": state, "message": message, "validationErrors": validation}),
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let v = self.version;
        let ok = if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let (status, body) = match self.outcome {
            Outcome::Success(data) => (
                ok,
                json!({"data": data, "result": result(v, "Success", 200, Value::Null, Value::Null)}),
            ),
            Outcome::Error(message, data) => {
                let result = result(v, "Error", 400, json!(message), Value::Null);
                (StatusCode::OK, json!({"data": data, "result": result}))
            }
            Outcome::Invalid(fields) => {
                let errors: Vec<Value> = fields
                    .into_iter()
                    .map(|(field, message)| json!({"field": field, "errorMessages": [message]}))
                    .collect();
                let message = json!("Запрос содержит ошибки.");
                // HTTP 200 with the 400 inside, as Loymax answers: clients read the field
                // errors only from a 2xx answer.
                let result = result(v, "ValidationError", 400, message, json!(errors));
                (StatusCode::OK, json!({"data": null, "result": result}))
            }
            Outcome::Fail(detail) => {
                let id = format!("{:016x}", rand::random::<u64>());
                tracing::error!(error_id = %id, error = %detail, "loymax face failed");
                let message = json!(format!("Идентификатор ошибки: {id}"));
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"result": result(v, "Fail", 500, message, Value::Null)}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// An error that arose outside the handlers (see `strays`): the envelope with the
/// error's own HTTP status inside and out.
pub fn stray(v: Version, status: StatusCode, message: &str) -> Response {
    let (state, validation) = match status.as_u16() {
        400 | 413 | 414 | 415 | 422 => (
            "ValidationError",
            json!([{"field": "request", "errorMessages": [message]}]),
        ),
        500.. => ("Fail", Value::Null),
        _ => ("Error", Value::Null),
    };
    let mut body = json!({"result": result(v, state, status.as_u16(), json!(message), validation)});
    // A `Fail` carries no data, as the document shows it; other answers have `data: null`.
    if state != "Fail" {
        body["data"] = Value::Null;
    }
    (status, axum::Json(body)).into_response()
}

/// HTTP 401 as Loymax (ASP.NET) sends it.
pub fn unauthorized() -> Response {
    let body = json!({"message": "Authorization has been denied for this request."});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// A JSON body whose rejection is a Loymax `ValidationError`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let version = req.extensions().get::<Version>().copied().unwrap_or(Version::V1_2);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(stray(version, e.status(), &e.body_text())),
            Err(e) => Err(Answer::invalid(version, "body", e.body_text()).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(answer: Answer) -> (StatusCode, Value) {
        let response = answer.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn the_documented_envelope() {
        let (status, v1) = body(Answer::success(Version::V1, json!({"x": 1}))).await;
        assert_eq!(status, StatusCode::OK);
        let documented =
            json!({"data": {"x": 1}, "result": {"state": "Success", "message": null, "validationErrors": null}});
        assert_eq!(v1, documented);
        let (_, v12) = body(Answer::success(Version::V1_2, json!([]))).await;
        assert_eq!(
            (v12["result"]["httpCode"].as_u64(), v12["result"]["exception"].is_null()),
            (Some(200), true)
        );
        let (status, fail) = body(Answer::fail(Version::V1, "boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(fail.get("data").is_none());
        assert_eq!(fail["result"]["state"], "Fail");
        assert!(fail["result"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Идентификатор ошибки: "));
    }
}
