//! The Integra face: a partner's API under `/integra/{path}/{method}?k=zaa<hash><data>`
//! (the client's `apiHost` is `https://<accrue>/integra`, its `partnerPath` the
//! partner's path), and the member cabinet the partner shows in an iframe under
//! `/integra/{path}/cabinet/{token}/…`.
//!
//! Every call is answered HTTP 200 with `{version, notices, status: {code, message},
//! error, data}`; a refusal has `error: true`, a code (see
//! [`accrue_core::integra::Code`]) and no `data`. The PHP client reads the envelope of
//! any answer and its newest version throws on other statuses.

mod cabinet;
mod methods;

use crate::limits::address_allowed;
use crate::AppState;
use accrue_core::integra::{parse_k, Code, Scheme};
use accrue_store::integra::{Identity, Partner};
use accrue_store::{Store, StoreError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/integra/assets/{file}", get(cabinet::asset))
        .route("/integra/{path}/{method}", any(methods::call))
        .route("/integra/{path}/cabinet/{token}", get(cabinet::home))
        .route(
            "/integra/{path}/cabinet/{token}/go/payment",
            get(cabinet::payment_form).post(cabinet::top_up),
        )
        .route("/integra/{path}/cabinet/{token}/go/{page}", get(cabinet::info_page))
        .route("/integra/{path}/cabinet/{token}/messages", get(cabinet::messages))
        .with_state(app)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with("/integra/")
}

/// The protocol's answer: HTTP 200 and the envelope, with `data` when it succeeded.
fn envelope(code: Code, message: &str, data: Option<Value>) -> Response {
    let mut body = json!({
        "version": "1",
        "notices": [],
        "status": {"code": code as i32, "message": message},
        "error": code != Code::Ok,
    });
    if let Some(data) = data {
        body["data"] = data;
    }
    (StatusCode::OK, Json(body)).into_response()
}

fn ok(data: Value) -> Response {
    envelope(Code::Ok, "ok", Some(data))
}

fn refuse(code: Code, message: &str) -> Response {
    envelope(code, message, None)
}

/// An error that arose outside the face's handlers, in the envelope, keeping its status.
pub fn stray(status: StatusCode, message: &str) -> Response {
    let code = if status.is_server_error() {
        Code::Internal
    } else {
        Code::Invalid
    };
    let mut response = refuse(code, message);
    *response.status_mut() = status;
    response
}

/// A store refusal in the protocol's codes.
fn failed(e: StoreError) -> Response {
    match e {
        StoreError::Invalid(m) => refuse(Code::Invalid, &m),
        StoreError::NotFound(what) => refuse(Code::NotFound, &format!("{what} not found")),
        StoreError::Conflict(m) => refuse(Code::Conflict, &m),
        StoreError::IdempotencyMismatch => refuse(Code::Conflict, &e.to_string()),
        StoreError::MemberInactive(_) => refuse(Code::Conflict, &e.to_string()),
        StoreError::InsufficientBalance { .. } => refuse(Code::InsufficientFunds, "the balance does not cover it"),
        e => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "integra face failed");
            refuse(Code::Internal, &format!("internal error, id {id}"))
        }
    }
}

/// An opened call: the partner of its path, who its hash names, and its arguments.
struct Call {
    partner: Partner,
    identity: Identity,
    args: Map<String, Value>,
}

/// Finds the partner, checks the caller's address, splits `k`, finds who its hash
/// names and opens the data with that identity's key (a user's calls also open with
/// the partner's key). The refusal to send otherwise.
async fn open_call(store: &Store, path: &str, k: &str, source: IpAddr) -> Result<Call, Response> {
    let partner = match store.partner(path).await {
        Ok(partner) => partner,
        Err(StoreError::NotFound(_)) => return Err(refuse(Code::BadKey, "no partner has this path")),
        Err(e) => return Err(failed(e)),
    };
    if !address_allowed(&partner.settings.allowed_ips, source) {
        return Err(refuse(Code::Forbidden, "calls from this address are not allowed"));
    }
    let key = parse_k(k).map_err(|e| refuse(e.code(), &e.to_string()))?;
    let identity = match store.integra_identity(&partner, key.hash).await {
        Ok(Some(identity)) => identity,
        Ok(None) => {
            return Err(refuse(
                Code::BadKey,
                "the hash in k is not this partner's or its users'",
            ))
        }
        Err(e) => return Err(failed(e)),
    };
    let plain = open_data(store, &partner, &identity, key.data).map_err(failed)?;
    let plain = plain.ok_or_else(|| refuse(Code::BadKey, "the data in k does not open with the key of its hash"))?;
    let args = match serde_json::from_slice::<Value>(&plain) {
        Ok(Value::Object(args)) => args,
        Ok(Value::Array(list)) if list.is_empty() => Map::new(),
        _ => return Err(refuse(Code::Invalid, "the data in k is not a JSON object")),
    };
    Ok(Call {
        partner,
        identity,
        args,
    })
}

fn open_data(store: &Store, partner: &Partner, identity: &Identity, data: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let scheme: Scheme = partner.scheme;
    if let Identity::User(user) = identity {
        if let Some(plain) = scheme.decrypt(data, &user.crypt_key(store)?) {
            return Ok(Some(plain));
        }
    }
    Ok(scheme.decrypt(data, &partner.crypt_key(store)?))
}
