//! HTTP plumbing shared by the node's three HTTP surfaces: the local API
//! (`crate::api`), the pages (`crate::web`) and the sync listener
//! (`crate::sync::server`).
//!
//! It holds what they would otherwise each write for themselves: the state
//! the API and the pages share ([`AppState`]), the one error type every
//! refusal goes through ([`ApiError`]: a status and the wire's
//! `{"error", "message"}` body, [`fundsync_protocol::ErrorBody`]), the JSON
//! and query extractors whose rejections are that error, the body limits,
//! and the check of the names the API answers to ([`AllowedHosts`],
//! `host.rs`); and deny by default: [`Routes`], the only way a surface adds
//! a route, with the permission it needs, and [`auth`], who the caller is
//! and whether they may. It knows no routes: `crate::server` composes them.

mod acting;
pub mod auth;
mod error;
mod extract;
mod host;
pub mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;

pub use acting::Acting;
pub use error::{code_for_status, json_errors, ApiError, ApiResult};
pub use extract::{Json, Query};
pub use host::{check_host, host_of, specific_host, AllowedHosts};
pub use routes::{Bodies, Media, RouteInfo, Routes};

use crate::accounts::Accounts;
use crate::ledger::Ledger;
use crate::link::LinkHealth;

/// Shared state of the API's handlers and the pages'.
#[derive(Debug, Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub import_bytes_max: usize,
    /// The link to the parent, when this node syncs with one.
    pub link: Option<LinkHealth>,
    /// How often nodes report their links (for judging a report's age).
    pub health_report_ms: u64,
    /// How long a link may stay behind before it shows as lagging.
    pub link_lag_ms: u64,
    /// Users, sessions and API tokens.
    pub accounts: Accounts,
    /// Whether the API listener speaks TLS (`[api] tls_*`): session cookies
    /// are then `Secure`, and every answer carries HSTS.
    pub api_tls: bool,
    /// A session unused this long ends (`tower-sessions`' inactivity
    /// expiry); one older than `session_absolute_ms` ends whatever its use.
    pub session_idle_ms: u64,
    pub session_absolute_ms: u64,
    /// The exports running now, at most `exports_concurrent_max`
    /// (`web::export`): a permit is held until the file is sent.
    pub exports: Arc<tokio::sync::Semaphore>,
}

/// A request body larger than `bytes_max` is refused (413) before a handler
/// reads it.
pub fn body_limit(bytes_max: usize) -> DefaultBodyLimit {
    DefaultBodyLimit::max(bytes_max)
}
