//! The web console under `/console`: server-rendered pages for operators, signed in with
//! a password (argon2) and a session cookie. The console is a client of the admin API
//! inside the process: every page reads and every form writes through the same calls a
//! machine makes with an admin key — the same validation, the same answers — after the
//! operator's role allowed that call ([`roles`]). It never touches the store for
//! anything but its own operators and sessions.

mod html;
mod pages;
pub mod roles;
mod session;

use crate::admin::InProcessCaller;
use crate::AppState;
use accrue_store::{AdminKey, KeyScope};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use session::Signed;
use tower::ServiceExt;

/// What the console's handlers share: the app, and the admin API to call.
#[derive(Clone)]
pub struct ConsoleState {
    pub app: AppState,
    pub admin: Router,
}

pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console/assets/{file}", get(asset))
        .route("/console/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .merge(pages::routes())
        .with_state(state)
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (html::CSS, "text/css; charset=utf-8"),
        "console.js" => (html::JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Why an admin API call the console made did not succeed.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    /// A form the console itself refuses before calling anything.
    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// An admin API error as a sentence: its message, then each field's problem.
fn said(error: &Value) -> String {
    let message = error["message"].as_str().unwrap_or("the call failed");
    let problems: Vec<String> = error["details"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}: {}",
                e["field"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    if problems.is_empty() {
        message.to_string()
    } else {
        format!("{message}: {}", problems.join("; "))
    }
}

impl ConsoleState {
    /// Calls the admin API as `who` (`path` without `/admin/v1`, with its query); the
    /// answer's JSON, or why not. A call the role may not make is refused here.
    pub async fn call(&self, who: &Signed, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Refusal> {
        self.call_with(who, method, path, body, &[]).await
    }

    /// A read of the admin API (`path` owned, so reads can be joined).
    pub async fn get(&self, who: &Signed, path: String) -> Result<Value, Refusal> {
        self.call(who, Method::GET, &path, None).await
    }

    /// [`ConsoleState::call`] with extra headers (an `Idempotency-Key`).
    pub async fn call_with(
        &self,
        who: &Signed,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, Refusal> {
        let response = self.send(who, method, path, body, headers).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .map_err(|e| Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: e.to_string(),
            })?;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        Err(Refusal {
            status,
            message: said(&json["error"]),
        })
    }

    /// A read passed on as the admin API answered it (a CSV download).
    pub async fn pass_on(&self, who: &Signed, path: &str) -> Response {
        match self.send(who, Method::GET, path, None, &[]).await {
            Ok(response) => response,
            Err(refusal) => (refusal.status, refusal.message).into_response(),
        }
    }

    /// The admin API's response to a call made as `who`.
    async fn send(
        &self,
        who: &Signed,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response, Refusal> {
        let bare = path.split('?').next().unwrap_or(path);
        if !who.role.allows(&method, bare) {
            return Err(Refusal {
                status: StatusCode::FORBIDDEN,
                message: format!("your role ({}) may not do this", who.role.as_str()),
            });
        }
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in &who.forwarded {
            request = request.header(name, value);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).map_err(|e| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: e.to_string(),
        })?;
        request.extensions_mut().insert(InProcessCaller(caller(who)));
        let response = self
            .admin
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(response.into_response())
    }
}

/// The admin key the operator's calls are made with: every program, writes allowed (the
/// role decided already), named after the operator in logs and records.
fn caller(who: &Signed) -> AdminKey {
    AdminKey {
        id: 0,
        name: format!("console:{}", who.operator.login),
        prefix: "console".into(),
        scope: KeyScope::default(),
        created_at: who.operator.created_at,
        revoked_at: None,
    }
}
