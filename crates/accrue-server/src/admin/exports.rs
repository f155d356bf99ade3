//! Exports: start one (a CSV of the program's members), follow its progress, download
//! its file once it is done — streamed a part at a time.

use super::views::time;
use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::service::exports as service;
use crate::{ApiError, AppState};
use accrue_store::exports::Export;
use accrue_store::AdminKey;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Parts read from the database per step of a download.
const PARTS_PER_READ: i64 = 20;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExport {
    /// `members`: id, phone, e-mail, names, state, when they joined, balance in the
    /// program's default currency.
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    pub id: i64,
    pub kind: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub rows_total: i64,
    pub rows_done: i64,
    pub requested_by: String,
    pub error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Where the file is, once it is done.
    pub file: Option<String>,
}

fn view(e: Export) -> ExportView {
    ExportView {
        file: (e.state == "done").then(|| format!("/admin/v1/exports/{}/file", e.id)),
        id: e.id,
        kind: e.kind,
        state: e.state,
        rows_total: e.rows_total,
        rows_done: e.rows_done,
        requested_by: e.requested_by,
        error: e.error,
        created_at: time(e.created_at),
        finished_at: e.finished_at.map(time),
    }
}

/// Starts an export; it is written in the background (see its `state` and `rows_done`).
#[utoipa::path(operation_id = "exports_start", post, path = "/admin/v1/exports", params(ProgramParam), request_body = StartExport,
    responses((status = 202, body = ExportView), (status = 400)), tag = "exports")]
pub async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<AdminKey>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<StartExport>,
) -> Result<(StatusCode, axum::Json<ExportView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    let export = service::start(&state.store, program.id, &body.kind, &caller.name).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(view(export))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportList {
    pub items: Vec<ExportView>,
}

/// The program's exports, newest first.
#[utoipa::path(operation_id = "exports_list", get, path = "/admin/v1/exports", params(ProgramParam, Paging),
    responses((status = 200, body = ExportList)), tag = "exports")]
pub async fn list(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<ExportList>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let (offset, count) = paging.bounds()?;
    let found = state.store.exports(program.id, offset, count).await?;
    Ok(axum::Json(ExportList {
        items: found.into_iter().map(view).collect(),
    }))
}

#[utoipa::path(operation_id = "exports_get", get, path = "/admin/v1/exports/{id}", params(ProgramParam),
    responses((status = 200, body = ExportView), (status = 404)), tag = "exports")]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<ExportView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    Ok(axum::Json(view(state.store.export(program.id, id).await?)))
}

/// The file of a finished export (CSV), sent as it is read.
#[utoipa::path(operation_id = "exports_file", get, path = "/admin/v1/exports/{id}/file", params(ProgramParam),
    responses((status = 200, content_type = "text/csv"), (status = 404), (status = 409, description = "not done")), tag = "exports")]
pub async fn file(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<Response, ApiError> {
    let program = p.resolve(&state.store).await?;
    let export = state.store.export(program.id, id).await?;
    if export.state != "done" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_done",
            format!("export {id} is {}", export.state),
        ));
    }
    let store = state.store.clone();
    // Each step reads the parts after the last key sent; a read that fails ends the
    // answer early, which the client sees as a broken download.
    let parts = futures_util::stream::unfold(Some(-1_i64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match store.export_parts(id, after, PARTS_PER_READ).await {
                Ok(parts) if parts.is_empty() => None,
                Ok(parts) => {
                    let last = parts.last().map(|(key, _)| *key);
                    let text: String = parts.into_iter().map(|(_, body)| body).collect();
                    Some((Ok::<_, std::io::Error>(text), last))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let name = format!("attachment; filename=\"{}-{id}.csv\"", export.kind);
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(parts),
    )
        .into_response())
}
