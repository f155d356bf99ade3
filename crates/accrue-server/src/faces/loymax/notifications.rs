//! `Notification`: the member's messages, newest first, with read marks.

use super::auth::Member;
use super::envelope::{Answer, Version};
use crate::format::time;
use crate::AppState;
use accrue_store::notifications::Notification;
use accrue_store::StoreError;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};

const PAGE: i64 = 20;
const MAX_PAGE: i64 = 500;

fn render(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "title": n.title,
        "body": n.body,
        "summary": n.summary,
        "creationDate": time(n.created_at),
        "isReaded": n.read_at.is_some(),
        "imageId": null,
        "imageUrl": n.image_url,
    })
}

fn answer<T>(v: Version, result: Result<T, StoreError>, data: impl FnOnce(T) -> Value) -> Answer {
    match result {
        Ok(found) => Answer::success(v, data(found)),
        Err(StoreError::NotFound(_)) => Answer::error(v, "Оповещение не найдено"),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
pub struct Page {
    from: Option<i64>,
    count: Option<i64>,
}

fn not_a_number(v: Version) -> Answer {
    Answer::invalid(v, "notificationId", "Идентификатор оповещения должен быть числом.")
}

/// `GET Notification?from&count`
pub async fn list(State(state): State<AppState>, m: Member, Query(page): Query<Page>) -> Answer {
    let from = page.from.unwrap_or(0).max(0);
    let count = page.count.unwrap_or(PAGE).clamp(0, MAX_PAGE);
    let found = state.store.notifications(m.owner.member_id, from, count).await;
    answer(m.version, found, |list| {
        json!(list.iter().map(render).collect::<Vec<_>>())
    })
}

/// `GET Notification/Count` → `{"unReadCount"}`
pub async fn count(State(state): State<AppState>, m: Member) -> Answer {
    let unread = state.store.unread_notifications(m.owner.member_id).await;
    answer(m.version, unread, |n| json!({"unReadCount": n}))
}

/// `POST Notification/{id}/Read` → the notification
pub async fn read(State(state): State<AppState>, m: Member, Path(id): Path<String>) -> Answer {
    let Some(id) = id.parse::<i64>().ok() else {
        return not_a_number(m.version);
    };
    let read = state.store.read_notification(m.owner.member_id, id).await;
    answer(m.version, read, |n| render(&n))
}

/// `POST Notification/Read` → how many were marked
pub async fn read_all(State(state): State<AppState>, m: Member) -> Answer {
    let marked = state.store.read_all_notifications(m.owner.member_id).await;
    answer(m.version, marked, |n| json!(n))
}

/// `DELETE Notification/{id}`
pub async fn delete(State(state): State<AppState>, m: Member, Path(id): Path<String>) -> Answer {
    let Some(id) = id.parse::<i64>().ok() else {
        return not_a_number(m.version);
    };
    let deleted = state.store.delete_notification(m.owner.member_id, id).await;
    answer(m.version, deleted, |()| Value::Null)
}
