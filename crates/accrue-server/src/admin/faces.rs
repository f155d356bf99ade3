//! Where the Loymax face serves a program: host names and a path prefix bound to it
//! (`GET|PUT|DELETE /admin/v1/programs/{code}/faces/loymax`), and every binding with the
//! default program (`GET /admin/v1/faces/loymax`). A host or a prefix belongs to one
//! program at most. The face reads the bindings again as soon as they change.

use crate::extract::{Json, Path};
use crate::faces::loymax::programs::{Programs, FACE};
use crate::{ApiError, AppState};
use accrue_store::face_bindings::FaceBinding;
use accrue_store::Program;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The most host names one program may have.
const MAX_HOSTS: usize = 32;

/// First path segments the server's own routes use: no program's prefix may be one.
const RESERVED_SEGMENTS: [&str; 13] = [
    "admin",
    "imshop",
    "r",
    "referral",
    ".well-known",
    "api",
    "publicapi",
    "authorizationservice",
    "loymax",
    "t",
    "healthz",
    "readyz",
    "metrics",
];

/// Where the Loymax face serves a program. Requests to one of `hosts` (the `Host`
/// header, without port), or whose path starts with `path_prefix`
/// (`/shop2/api/v1/User`), are for this program; the prefix wins over the host.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingInput {
    /// Host names (`shop.example`), matched in any case.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// One path segment (`/shop2`): lowercase letters, digits, `-` and `_`.
    pub path_prefix: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BindingView {
    pub program: String,
    /// Sorted.
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BindingsView {
    /// The program served where no binding matches (`--loymax-program`).
    pub default_program: String,
    /// The programs that have a binding.
    pub items: Vec<BindingView>,
}

impl From<FaceBinding> for BindingView {
    fn from(b: FaceBinding) -> BindingView {
        BindingView {
            program: b.program,
            hosts: b.hosts,
            path_prefix: b.path_prefix,
        }
    }
}

fn unbound(program: Program) -> BindingView {
    BindingView {
        program: program.code,
        hosts: Vec::new(),
        path_prefix: None,
    }
}

/// A host name as the face compares it: lowercase letters, digits and `-` in labels of
/// 1 to 63 characters joined by dots, 253 characters at most; no port, no wildcard.
pub(super) fn host_name(given: &str) -> Result<String, String> {
    let host = given.to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(host)
    } else {
        Err(format!(
            "{given:?} is not a host name (letters, digits, '-' and '.'; no port, no wildcard)"
        ))
    }
}

/// A path prefix: one segment, `/` and 1 to 64 lowercase letters, digits, `-` or `_`,
/// that none of the server's own routes starts with.
fn path_prefix(given: &str) -> Result<String, String> {
    let prefix = given.to_ascii_lowercase();
    let segment = prefix.strip_prefix('/').unwrap_or_default();
    let well_formed = (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(format!(
            "{given:?} is not a path prefix: '/' and one segment of 1 to 64 letters, digits, '-' or '_'"
        ));
    }
    if RESERVED_SEGMENTS.contains(&segment) {
        return Err(format!("{given:?} is a path of the server's own routes"));
    }
    Ok(prefix)
}

/// A path segment of one program's routes in another face (`shop2` in `/imshop/shop2/…`),
/// checked as a prefix is.
pub(super) fn path_segment(given: &str) -> Result<String, ApiError> {
    let prefix = path_prefix(&format!("/{}", given.trim_start_matches('/'))).map_err(ApiError::invalid)?;
    Ok(prefix.trim_start_matches('/').to_string())
}

/// The hosts and prefix of a binding, checked and normalised.
fn checked(input: BindingInput) -> Result<(Vec<String>, Option<String>), ApiError> {
    if input.hosts.is_empty() && input.path_prefix.is_none() {
        return Err(ApiError::invalid(
            "give hosts, a path_prefix or both (DELETE removes the binding)",
        ));
    }
    if input.hosts.len() > MAX_HOSTS {
        return Err(ApiError::invalid(format!("hosts: at most {MAX_HOSTS}")));
    }
    let mut hosts = Vec::with_capacity(input.hosts.len());
    for (i, given) in input.hosts.iter().enumerate() {
        let host = host_name(given).map_err(|e| ApiError::invalid(format!("hosts[{i}]: {e}")))?;
        if hosts.contains(&host) {
            return Err(ApiError::invalid(format!("hosts[{i}]: {host} is listed twice")));
        }
        hosts.push(host);
    }
    let prefix = input.path_prefix.as_deref().map(path_prefix).transpose();
    let prefix = prefix.map_err(|e| ApiError::invalid(format!("path_prefix: {e}")))?;
    Ok((hosts, prefix))
}

async fn view_of(state: &AppState, program: Program) -> Result<BindingView, ApiError> {
    match state.store.face_binding(FACE, program.id).await? {
        Some(binding) => Ok(binding.into()),
        None => Ok(unbound(program)),
    }
}

#[utoipa::path(operation_id = "faces_loymax_get", get, path = "/admin/v1/programs/{code}/faces/loymax",
    responses((status = 200, body = BindingView), (status = 404)), tag = "programs")]
pub async fn get_loymax(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<BindingView>, ApiError> {
    let program = state.store.program(&code).await?;
    Ok(axum::Json(view_of(&state, program).await?))
}

/// Replaces where the Loymax face serves the program. A host or prefix of another
/// program → 409, and nothing changes. Needs a key for every program.
#[utoipa::path(operation_id = "faces_loymax_put", put, path = "/admin/v1/programs/{code}/faces/loymax", request_body = BindingInput,
    responses((status = 200, body = BindingView), (status = 400), (status = 404), (status = 409, description = "a host or the prefix is bound to another program")),
    tag = "programs")]
pub async fn put_loymax(
    State(state): State<AppState>,
    State(programs): State<Arc<Programs>>,
    Path(code): Path<String>,
    Json(body): Json<BindingInput>,
) -> Result<axum::Json<BindingView>, ApiError> {
    let program = state.store.program(&code).await?;
    let (hosts, prefix) = checked(body)?;
    state.store.bind_face(FACE, program.id, hosts, prefix).await?;
    programs.changed();
    Ok(axum::Json(view_of(&state, program).await?))
}

/// Removes the program's binding: the face serves it nowhere but as the default.
#[utoipa::path(operation_id = "faces_loymax_delete", delete, path = "/admin/v1/programs/{code}/faces/loymax",
    responses((status = 204), (status = 404)), tag = "programs")]
pub async fn delete_loymax(
    State(state): State<AppState>,
    State(programs): State<Arc<Programs>>,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    let program = state.store.program(&code).await?;
    state.store.unbind_face(FACE, program.id).await?;
    programs.changed();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "faces_loymax_list", get, path = "/admin/v1/faces/loymax",
    responses((status = 200, body = BindingsView)), tag = "programs")]
pub async fn list_loymax(
    State(state): State<AppState>,
    State(programs): State<Arc<Programs>>,
) -> Result<axum::Json<BindingsView>, ApiError> {
    let items = state.store.face_bindings(FACE).await?;
    Ok(axum::Json(BindingsView {
        default_program: programs.default_program().to_string(),
        items: items.into_iter().map(BindingView::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("Shop.Example").as_deref(), Ok("shop.example"));
        assert_eq!(host_name("localhost").as_deref(), Ok("localhost"));
        assert_eq!(host_name("127.0.0.1").as_deref(), Ok("127.0.0.1"));
        for bad in [
            "",
            "shop.example:8080",
            "*.example",
            "shop..example",
            "-shop.example",
            "shop example",
            "shop.example.",
        ] {
            assert!(host_name(bad).is_err(), "{bad:?}");
        }
        assert!(host_name(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn path_prefixes() {
        assert_eq!(path_prefix("/Shop2").as_deref(), Ok("/shop2"));
        assert_eq!(path_prefix("/my_shop-2").as_deref(), Ok("/my_shop-2"));
        for bad in [
            "",
            "/",
            "shop2",
            "/shop2/",
            "/a/b",
            "/shop 2",
            "/api",
            "/Admin",
            "/authorizationService",
            "/t",
        ] {
            assert!(path_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
