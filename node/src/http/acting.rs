//! The actor of a request: who the journal will say caused what a handler
//! records.
//!
//! The authentication layer (resolving the session cookie or the bearer
//! token, then checking the route's permission) puts the
//! [`fundsync_protocol::Actor`] into the request's extensions; a handler that
//! records something takes [`Acting`]. A request that reached a handler
//! without one was not authenticated, and is refused.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use fundsync_protocol::{Actor, ErrorCode};

use super::ApiError;

/// The person (and role) a request acts as.
#[derive(Debug, Clone)]
pub struct Acting(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Acting)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthenticated,
                    "sign in first (session cookie or Authorization: Bearer token)",
                )
            })
    }
}
