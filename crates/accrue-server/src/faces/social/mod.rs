//! Social networks: VK's Callback API receiver at `POST /social/vk/{program}`. VK sends
//! a confirmation request when the address is set (answered with the community's
//! confirmation string) and then each event, signed with the community's secret key;
//! every handled call is answered `ok` as VK requires, or VK sends it again.

use crate::service::events::{self as service, VkAnswer};
use crate::AppState;
use accrue_store::StoreError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub fn router(app: AppState) -> Router {
    Router::new().route("/social/vk/{program}", post(vk)).with_state(app)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with("/social/")
}

/// Errors in VK's terms: a short text with the status.
pub fn stray(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

async fn vk(State(app): State<AppState>, Path(program): Path<String>, body: Bytes) -> Response {
    let program = match app.store.program(&program).await {
        Ok(program) => program,
        Err(_) => return stray(StatusCode::NOT_FOUND, "no such program"),
    };
    match service::vk_callback(&app.store, program.id, &body).await {
        Ok(VkAnswer::Confirmation(code)) => code.into_response(),
        Ok(VkAnswer::Ok) => "ok".into_response(),
        Ok(VkAnswer::Refused(why)) => stray(StatusCode::FORBIDDEN, why),
        Err(StoreError::Invalid(m)) => stray(StatusCode::BAD_REQUEST, &m),
        Err(StoreError::NotFound(what)) => stray(StatusCode::NOT_FOUND, &format!("{what} not set up")),
        Err(e) => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "VK callback failed");
            stray(StatusCode::INTERNAL_SERVER_ERROR, &format!("internal error, id {id}"))
        }
    }
}
