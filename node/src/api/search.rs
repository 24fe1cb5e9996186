//! `GET /api/v1/search`: 检索 as JSON, the same search as the `/search`
//! page (`Ledger::search`), in the caller's scope (department, 涉密).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use chrono::NaiveDate;
use fundsync_protocol::{ErrorCode, NodeCode};
use serde::Deserialize;

use crate::accounts::User;
use crate::http::{ApiError, ApiResult, AppState, Json, Query};
use crate::ledger::query::{
    Page, Paged, SearchFilter, SearchHit, SearchKind, SEARCH_TEXT_CHARS_MAX,
};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    /// The text looked for.
    #[serde(default)]
    q: String,
    /// `allocation`, `project` or `payment`; absent: all.
    kind: Option<SearchKind>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    category: Option<String>,
    department: Option<String>,
    node: Option<NodeCode>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub(super) async fn search(
    State(s): State<Arc<AppState>>,
    Extension(u): Extension<User>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Paged<SearchHit>>> {
    if q.q.chars().count() > SEARCH_TEXT_CHARS_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            format!("q: at most {SEARCH_TEXT_CHARS_MAX} characters"),
        ));
    }
    let filter = SearchFilter {
        text: q.q,
        kinds: q.kind.into_iter().collect(),
        from: q.from,
        to: q.to,
        category: q.category.filter(|c| !c.is_empty()),
        department: q.department.filter(|d| !d.is_empty()),
        node: q.node,
        categories: u.visible_categories(&s.ledger).await?,
        project_department: u.scope().department,
    };
    let d = Page::default();
    let page = Page {
        page: q.page.unwrap_or(d.page),
        page_size: q.page_size.unwrap_or(d.page_size),
    };
    Ok(Json(s.ledger.search(&filter, page).await?))
}
