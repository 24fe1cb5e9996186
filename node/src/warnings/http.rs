//! `GET /api/v1/warnings?node=&origin=&rule=&open=&page=&page_size=`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use fundsync_protocol::{ErrorCode, NodeCode};
use serde::Deserialize;

use super::store::{WarningFilter, WarningView};
use super::Rule;
use crate::http::{ApiError, AppState, Json, Query};
use crate::ledger::query::{Page, Paged};

/// The list's query string. Unknown parameters are refused, like every list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningsQuery {
    /// The node a warning is about.
    node: Option<NodeCode>,
    /// The node that raised it.
    origin: Option<NodeCode>,
    /// One of [`Rule::ALL`], by name.
    rule: Option<String>,
    /// `true`: open only; `false`: resolved only.
    open: Option<bool>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// Lists the warnings this node holds: its own and its subtree's.
pub async fn list(
    State(s): State<Arc<AppState>>,
    Query(q): Query<WarningsQuery>,
) -> Result<Json<Paged<WarningView>>, ApiError> {
    // A typo would otherwise list nothing, silently.
    let rule = q
        .rule
        .map(|r| {
            r.parse::<Rule>().map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    e.to_string(),
                )
            })
        })
        .transpose()?;
    let d = Page::default();
    let page = Page {
        page: q.page.unwrap_or(d.page),
        page_size: q.page_size.unwrap_or(d.page_size),
    };
    let f = WarningFilter {
        node: q.node,
        origin: q.origin,
        rule: rule.map(|r| r.as_str().to_owned()),
        open: q.open,
    };
    Ok(Json(s.ledger.warnings(&f, page).await?))
}
