//! Admin API keys: their scopes, enforced on every call, and their management (only by
//! a key with full rights).

use super::views::{time, Items};
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};
use accrue_store::{AdminKey, KeyScope};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Calls that change nothing although they are POSTs.
const READING_POSTS: &[&str] = &["/offers/simulate"];

/// Why `scope` does not reach this request, if it does not.
pub fn outside_scope(scope: &KeyScope, req: &Request) -> Option<String> {
    let path = req.uri().path();
    let path = path.strip_prefix("/admin/v1").unwrap_or(path);
    let reads = matches!(*req.method(), Method::GET | Method::HEAD) || READING_POSTS.contains(&path);
    if scope.read_only && !reads {
        return Some("this key may only read".into());
    }
    if path.starts_with("/admin-keys") && !scope.is_full() {
        return Some("only a key for every program that may write manages keys".into());
    }
    if routes_requests(path, reads) && scope.program.is_some() {
        return Some("only a key for every program sees or changes where faces serve programs".into());
    }
    let program = scope.program.as_deref()?;
    let named = match path.strip_prefix("/programs") {
        Some("" | "/") => return Some(format!("this key is limited to program {program}")),
        Some(rest) => rest.trim_start_matches('/').split('/').next().map(str::to_string),
        None => Some(query_program(req.uri().query()).unwrap_or_else(|| "default".into())),
    };
    (named.as_deref() != Some(program)).then(|| format!("this key is limited to program {program}"))
}

/// Whether a call sees all face bindings or changes one: bindings decide which program
/// a request to the whole server is for, so they are not one program's business.
fn routes_requests(path: &str, reads: bool) -> bool {
    let binding = path.starts_with("/programs/") && path.contains("/faces/");
    path.starts_with("/faces/") || (binding && !reads)
}

/// The `program` of a query string.
fn query_program(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs.into_iter().find(|(name, _)| name == "program").map(|(_, v)| v)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// Limit the key to this program (its code); every program when absent.
    pub program: Option<String>,
    /// Reading only.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub program: Option<String>,
    pub read_only: bool,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The key itself: shown once, when it is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn view(key: AdminKey, secret: Option<String>) -> KeyView {
    KeyView {
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        program: key.scope.program,
        read_only: key.scope.read_only,
        created_at: time(key.created_at),
        revoked_at: key.revoked_at.map(time),
        secret,
    }
}

#[utoipa::path(operation_id = "admin_keys_create", post, path = "/admin/v1/admin-keys", request_body = CreateKey,
    responses((status = 201, body = KeyView), (status = 403), (status = 404, description = "no such program")), tag = "admin keys")]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, axum::Json<KeyView>), ApiError> {
    let scope = KeyScope {
        program: body.program,
        read_only: body.read_only,
    };
    let (key, secret) = state.store.create_scoped_admin_key(&body.name, scope).await?;
    Ok((StatusCode::CREATED, axum::Json(view(key, Some(secret)))))
}

#[utoipa::path(operation_id = "admin_keys_list", get, path = "/admin/v1/admin-keys",
    responses((status = 200, body = Items<KeyView>), (status = 403)), tag = "admin keys")]
pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Items<KeyView>>, ApiError> {
    let items = state
        .store
        .admin_keys()
        .await?
        .into_iter()
        .map(|k| view(k, None))
        .collect();
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(operation_id = "admin_keys_revoke", post, path = "/admin/v1/admin-keys/{id}/revoke",
    responses((status = 204), (status = 403), (status = 404)), tag = "admin keys")]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<AdminKey>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if caller.id == id {
        return Err(ApiError::invalid("a key cannot revoke itself; use another key"));
    }
    state.store.revoke_admin_key(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
