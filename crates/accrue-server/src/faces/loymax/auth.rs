//! The member behind a request: `Authorization: Bearer <access token>`.

use super::envelope::{unauthorized, Version};
use super::programs::ServedProgram;
use crate::AppState;
use accrue_store::member_auth::{TokenKind, TokenOwner};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::Response;

/// An authenticated member and the protocol version the request used.
pub struct Member {
    pub owner: TokenOwner,
    pub version: Version,
    /// The access token the request came with (rotated by some registration steps).
    pub token: String,
    /// The program the request is for (the token's).
    pub program: ServedProgram,
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let version = parts.extensions.get::<Version>().copied().unwrap_or(Version::V1_2);
        let program = ServedProgram::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        let fail = |e: accrue_store::StoreError| {
            axum::response::IntoResponse::into_response(super::envelope::Answer::fail(version, &e.to_string()))
        };
        // A token of another program (served elsewhere) is unknown here.
        match state
            .store
            .token_owner(program.id, token.trim(), TokenKind::Access)
            .await
        {
            Ok(Some(owner)) => Ok(Member {
                owner,
                version,
                token: token.trim().to_string(),
                program,
            }),
            Ok(None) => Err(unauthorized()),
            Err(e) => Err(fail(e)),
        }
    }
}
