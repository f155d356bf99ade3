//! A member's notifications (what the member's app lists under Loymax `Notification`):
//! the operator writes them here until offers and mailings write their own.

use super::views::{time, Items};
use super::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};
use accrue_store::notifications::{NewNotification, Notification};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 4000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationInput {
    /// Up to 200 characters.
    pub title: String,
    /// Up to 4000 characters.
    pub body: String,
    /// A short form for lists; the body when absent.
    pub summary: Option<String>,
    pub image_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub summary: String,
    pub image_url: Option<String>,
    pub created_at: String,
    /// When the member read it; null while unread.
    pub read_at: Option<String>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            id: n.id,
            title: n.title,
            body: n.body,
            summary: n.summary,
            image_url: n.image_url,
            created_at: time(n.created_at),
            read_at: n.read_at.map(time),
        }
    }
}

fn check(input: &NotificationInput) -> Result<(), ApiError> {
    let too_long = |text: &str, max: usize| text.chars().count() > max;
    if input.title.trim().is_empty() || too_long(&input.title, MAX_TITLE) {
        return Err(ApiError::invalid(format!("title must be 1 to {MAX_TITLE} characters")));
    }
    let summary = input.summary.as_deref().unwrap_or_default();
    if input.body.trim().is_empty() || too_long(&input.body, MAX_BODY) || too_long(summary, MAX_BODY) {
        return Err(ApiError::invalid(format!(
            "body and summary must be 1 to {MAX_BODY} characters"
        )));
    }
    Ok(())
}

#[utoipa::path(operation_id = "members_notify", post, path = "/admin/v1/members/{id}/notifications", params(ProgramParam),
    request_body = NotificationInput, responses((status = 201, body = NotificationView), (status = 400), (status = 404)),
    tag = "members")]
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<NotificationInput>,
) -> Result<(StatusCode, axum::Json<NotificationView>), ApiError> {
    check(&input)?;
    let program = p.resolve(&state.store).await?;
    let new = NewNotification {
        title: input.title,
        body: input.body,
        summary: input.summary,
        image_url: input.image_url,
    };
    let created = state.store.add_notification(program.id, id, new).await?;
    Ok((StatusCode::CREATED, axum::Json(created.into())))
}

/// The member's notifications, newest first (the latest 1000).
#[utoipa::path(operation_id = "members_notifications", get, path = "/admin/v1/members/{id}/notifications",
    params(ProgramParam), responses((status = 200, body = Items<NotificationView>), (status = 404)), tag = "members")]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Items<NotificationView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    state.store.member(program.id, id).await?;
    let found = state.store.notifications(id, 0, 1000).await?;
    Ok(axum::Json(Items {
        items: found.into_iter().map(Into::into).collect(),
    }))
}
