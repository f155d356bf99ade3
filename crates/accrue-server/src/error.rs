//! The admin API's one error shape: `{"error": {"code", "message", "details"}}`.

use accrue_core::hold::HoldError;
use accrue_store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// An error that arose outside the handlers (see `strays`), with a code for its status.
    pub fn stray(status: StatusCode, message: &str) -> ApiError {
        let code = match status.as_u16() {
            400 => "invalid_request",
            401 => "unauthorized",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "timeout",
            413 => "payload_too_large",
            414 => "uri_too_long",
            415 => "unsupported_media_type",
            429 => "rate_limited",
            500.. => "internal",
            _ => "error",
        };
        ApiError::new(status, code, message)
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        use StatusCode as S;
        let message = e.to_string();
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Invalid(m) => ApiError::invalid(m),
            StoreError::Conflict(m) => ApiError::new(S::CONFLICT, "conflict", m),
            StoreError::StepDone(_)
            | StoreError::CardBlocked(_)
            | StoreError::CardTaken(_)
            | StoreError::PasswordSet => ApiError::new(S::CONFLICT, "conflict", message),
            StoreError::InsufficientBalance { available } => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "insufficient_balance", message)
                    .with_details(json!({ "available_minor": available }))
            }
            StoreError::IdempotencyMismatch => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "idempotency_key_reused", message)
            }
            StoreError::MemberInactive(_) => ApiError::new(S::CONFLICT, "member_inactive", message),
            StoreError::BatchRowRefused { .. } => ApiError::new(S::UNPROCESSABLE_ENTITY, "batch_row_refused", message),
            StoreError::Hold(h) => {
                let code = match h {
                    HoldError::AlreadyResolved(_) => "hold_resolved",
                    HoldError::Expired => "hold_expired",
                    HoldError::CaptureExceedsHold { .. } | HoldError::NotPositive => "invalid_capture",
                };
                ApiError::new(S::CONFLICT, code, message)
            }
            StoreError::Posting(p) => ApiError::invalid(p.to_string()),
            StoreError::Code(_) => ApiError::new(S::CONFLICT, "confirmation_code", message),
            StoreError::Rejected(r) => ApiError::new(S::CONFLICT, "rejected", message).with_details(json!(r)),
            StoreError::OverLimit { what, limit } => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "amount_over_limit", message)
                    .with_details(json!({ "per": what, "limit": limit }))
            }
            StoreError::RateLimited { retry_after } => ApiError::new(S::TOO_MANY_REQUESTS, "rate_limited", message)
                .with_details(json!({ "retry_after": retry_after })),
            StoreError::Database(_) | StoreError::Internal(_) => internal(&message),
        }
    }
}

/// A failure the caller cannot fix: logged with an id that the response carries.
pub fn internal(detail: &str) -> ApiError {
    let id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(error_id = %id, error = %detail, "internal error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("internal error, id {id}"),
    )
    .with_details(json!({ "error_id": id }))
}
