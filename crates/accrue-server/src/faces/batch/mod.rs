//! Loymax's batch balance operations service under `/loytech.batchoperationsservice/`:
//! a JSON request of accruals or write-offs, a file of them for large batches, a
//! request's progress and its rows' outcomes, and the service's OpenAPI page. Calls carry
//! the program's batch key as `Authorization: Bearer`; the key names the program.
//!
//! Answers are the protocol's `{"requestId", "type", "status", "message"}` (status 0:
//! every row posted, 1: not); a request refused whole has the same shape with a 4xx.

mod openapi;

use crate::limits::address_allowed;
use crate::service::batch::{self as service, FileFormat};
use crate::AppState;
use accrue_core::batch::{parse_request, BatchType, Header, Mode};
use accrue_store::batch::{BatchRequest, BatchSettings};
use accrue_store::StoreError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

const BASE: &str = "/loytech.batchoperationsservice";
/// The largest file read.
const MAX_FILE: usize = 1 << 30;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route(&format!("{BASE}/api/batch"), post(submit))
        .route(&format!("{BASE}/api/batch/file"), post(upload))
        .route(&format!("{BASE}/api/batch/{{request_id}}"), get(progress))
        .route(&format!("{BASE}/api/batch/{{request_id}}/rows"), get(rows))
        .route(&format!("{BASE}/swagger/ui/index"), get(openapi::page))
        .route(&format!("{BASE}/swagger/docs/v1"), get(openapi::document))
        .with_state(app)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with(BASE)
}

/// The protocol's refusal of a whole request, with `status`.
fn refusal(status: StatusCode, request_id: Option<&str>, kind: Option<i64>, message: &str) -> Response {
    let body = json!({"requestId": request_id, "type": kind, "status": 1, "message": message});
    (status, Json(body)).into_response()
}

pub fn stray(status: StatusCode, message: &str) -> Response {
    refusal(status, None, None, message)
}

fn failed(e: StoreError, request_id: Option<&str>, kind: Option<i64>) -> Response {
    let (status, message) = match e {
        StoreError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
        StoreError::NotFound(what) => (StatusCode::BAD_REQUEST, format!("{what} not found")),
        StoreError::IdempotencyMismatch => (
            StatusCode::CONFLICT,
            "this requestId was used for another request".into(),
        ),
        e => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "batch face failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("internal error, id {id}"))
        }
    };
    refusal(status, request_id, kind, &message)
}

/// The program a call is for, once its key and address are checked.
async fn caller(app: &AppState, headers: &HeaderMap, peer: SocketAddr) -> Result<(i64, BatchSettings), Response> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let unauthorized = || {
        stray(
            StatusCode::UNAUTHORIZED,
            "send the program's batch key as Authorization: Bearer",
        )
    };
    if key.is_empty() {
        return Err(unauthorized());
    }
    let hash = accrue_store::imshop::key_hash(key);
    match app.store.batch_program(&hash).await {
        Ok(Some((program_id, settings))) if address_allowed(&settings.allowed_ips, peer.ip()) => {
            Ok((program_id, settings))
        }
        Ok(Some(_)) => Err(stray(StatusCode::FORBIDDEN, "calls from this address are not allowed")),
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(failed(e, None, None)),
    }
}

/// `POST …/api/batch`: a JSON request, posted before the answer.
async fn submit(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (program_id, _) = match caller(&app, &headers, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(e) => return stray(StatusCode::BAD_REQUEST, &e.0),
    };
    let (id, kind) = (request.request_id.clone(), request.kind.code());
    match service::submit(&app.store, program_id, request).await {
        Ok(batch) => answer(&batch),
        Err(e) => failed(e, Some(&id), Some(kind)),
    }
}

/// The answer of a request that ended, or its progress.
fn answer(batch: &BatchRequest) -> Response {
    match &batch.answer {
        Some(answer) => Json(answer.clone()).into_response(),
        None => (StatusCode::ACCEPTED, Json(progress_view(batch))).into_response(),
    }
}

fn progress_view(b: &BatchRequest) -> Value {
    json!({
        "requestId": b.request_id,
        "type": b.kind.code(),
        "state": b.state,
        "mode": b.mode,
        "totalRows": b.total_rows,
        "processedRows": b.processed_rows,
        "postedRows": b.posted_rows,
        "failedRows": b.failed_rows,
        "status": b.answer.as_ref().map(|a| a["status"].clone()),
        "message": b.answer.as_ref().map(|a| a["message"].clone()),
    })
}

/// A file's header, from the query.
#[derive(Deserialize)]
struct FileQuery {
    #[serde(rename = "requestId")]
    request_id: String,
    #[serde(rename = "type")]
    kind: i64,
    #[serde(rename = "accrueDescription")]
    description: Option<String>,
    #[serde(rename = "currencyExternalId")]
    currency: Option<String>,
    #[serde(rename = "lifeTimeDefinitionExternalId")]
    lifetime: Option<String>,
}

/// `POST …/api/batch/file?requestId=…&type=…`: a CSV (`text/csv`) or JSON lines
/// (`application/x-ndjson`) file, kept as it arrives and posted row by row in the
/// background; answers 202 with the request's progress.
async fn upload(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<FileQuery>,
    body: Body,
) -> Response {
    let (program_id, _) = match caller(&app, &headers, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let Some(kind) = BatchType::from_code(q.kind) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            Some(&q.request_id),
            Some(q.kind),
            "type must be 2, 3, 4 or 5",
        );
    };
    if q.request_id.trim().is_empty() || q.request_id.len() > 100 {
        return stray(StatusCode::BAD_REQUEST, "requestId is required (1 to 100 characters)");
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = if content_type.starts_with("text/csv") {
        FileFormat::Csv
    } else if content_type.contains("ndjson") || content_type.contains("jsonl") {
        FileFormat::JsonLines
    } else {
        return stray(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send text/csv or application/x-ndjson",
        );
    };
    let header = Header {
        request_id: q.request_id.clone(),
        kind,
        description: q.description,
        currency: q.currency,
        lifetime: q.lifetime,
        mode: Mode::RowByRow,
    };
    let mut read = 0_usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| e.to_string())?;
        read += chunk.len();
        if read > MAX_FILE {
            return Err(format!("the file is larger than {MAX_FILE} bytes"));
        }
        Ok(chunk)
    });
    match service::receive_file(&app.store, program_id, header, format, Box::pin(stream)).await {
        Ok(batch) => (StatusCode::ACCEPTED, Json(progress_view(&batch))).into_response(),
        Err(e) => failed(e, Some(&q.request_id), Some(q.kind)),
    }
}

/// `GET …/api/batch/{requestId}`: progress, and the answer once done.
async fn progress(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(request_id): Path<String>,
) -> Response {
    let (program_id, _) = match caller(&app, &headers, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    match app.store.batch_request(program_id, &request_id).await {
        Ok(batch) => Json(progress_view(&batch)).into_response(),
        Err(StoreError::NotFound(_)) => refusal(StatusCode::NOT_FOUND, Some(&request_id), None, "no such request"),
        Err(e) => failed(e, Some(&request_id), None),
    }
}

#[derive(Deserialize)]
struct RowsQuery {
    from: Option<i64>,
    count: Option<i64>,
}

/// `GET …/api/batch/{requestId}/rows?from=1&count=100`: rows with their outcomes.
async fn rows(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(request_id): Path<String>,
    Query(q): Query<RowsQuery>,
) -> Response {
    let (program_id, _) = match caller(&app, &headers, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let (from, count) = (q.from.unwrap_or(1).max(1), q.count.unwrap_or(100).clamp(1, 1000));
    let batch = match app.store.batch_request(program_id, &request_id).await {
        Ok(batch) => batch,
        Err(StoreError::NotFound(_)) => {
            return refusal(StatusCode::NOT_FOUND, Some(&request_id), None, "no such request")
        }
        Err(e) => return failed(e, Some(&request_id), None),
    };
    match app.store.batch_rows(batch.id, from, count).await {
        Ok(list) => {
            let next = list.last().map(|r| r.row_no + 1).filter(|n| *n <= batch.total_rows);
            let rows: Vec<Value> = list
                .iter()
                .map(|r| {
                    json!({
                        "rowNo": r.row_no,
                        "memberNo": r.row.member_no,
                        "pointsAmount": r.row.points_amount,
                        "outcome": r.outcome,
                        "postingId": r.posting_id,
                    })
                })
                .collect();
            Json(json!({"requestId": request_id, "rows": rows, "next": next})).into_response()
        }
        Err(e) => failed(e, Some(&request_id), None),
    }
}
