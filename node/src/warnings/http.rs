//! The warnings' API: `GET /api/v1/warnings?node=&origin=&rule=&open=&follow_up=&page=&page_size=`,
//! `GET /api/v1/warnings/{id}` (with the follow-up's history), and the
//! follow-up's steps, `POST /api/v1/warnings/{id}/assign` and
//! `POST /api/v1/warnings/{id}/follow-up`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use chrono::NaiveDate;
use fundsync_protocol::body::FollowUpStatus;
use fundsync_protocol::{EntryId, ErrorCode, NodeCode};
use serde::{Deserialize, Serialize};

use super::follow_up::{self, FollowUpError};
use super::store::{scope_of, FollowUpFilter, FollowUpStep, WarningFilter, WarningShown};
use super::Rule;
use crate::accounts::User;
use crate::http::{Acting, ApiError, AppState, Json, Query};
use crate::ledger::query::{Page, Paged};
use crate::ledger::Outcome;

/// The list's query string. Unknown parameters are refused, like every list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    /// `unassigned`, `overdue`, or a status: `pending`, `rectifying`,
    /// `rectified`, `unfounded`.
    follow_up: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message)
}

/// `follow_up=` of the list (API and page).
pub fn follow_up_filter(s: &str) -> Option<FollowUpFilter> {
    match s {
        "unassigned" => Some(FollowUpFilter::Unassigned),
        "overdue" => Some(FollowUpFilter::Overdue),
        s => s.parse().ok().map(FollowUpFilter::Status),
    }
}

/// Lists the warnings this node holds that the caller may see: its own and
/// its subtree's.
pub async fn list(
    State(s): State<Arc<AppState>>,
    Extension(u): Extension<User>,
    Query(q): Query<WarningsQuery>,
) -> Result<Json<Paged<WarningShown>>, ApiError> {
    // A typo would otherwise list nothing, silently.
    let rule = q
        .rule
        .map(|r| r.parse::<Rule>().map_err(|e| invalid(e.to_string())))
        .transpose()?;
    let follow_up = q
        .follow_up
        .map(|f| {
            follow_up_filter(&f).ok_or_else(|| {
                invalid(format!(
                    "follow_up {f:?}: expected unassigned, overdue, pending, rectifying, \
                     rectified or unfounded"
                ))
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
        follow_up,
        scope: scope_of(&u, &s.ledger).await?,
    };
    let got = s.ledger.warnings(&f, page).await?;
    Ok(Json(Paged {
        items: got.items.into_iter().map(WarningShown::of).collect(),
        page: got.page,
        page_size: got.page_size,
        has_more: got.has_more,
    }))
}

/// One warning with its follow-up's history.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WarningDetail {
    #[serde(flatten)]
    pub warning: WarningShown,
    pub follow_up_steps: Vec<FollowUpStep>,
}

fn warning_id(id: &str) -> Result<EntryId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidId,
            format!("{id:?} is not an entry id (CODE-SEQ)"),
        )
    })
}

pub async fn detail(
    State(s): State<Arc<AppState>>,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<WarningDetail>, ApiError> {
    let id = warning_id(&id)?;
    let scope = scope_of(&u, &s.ledger).await?;
    let w = s
        .ledger
        .warning(id, scope.as_ref())
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("warning {id}")))?;
    Ok(Json(WarningDetail {
        warning: WarningShown::of(w),
        follow_up_steps: s.ledger.follow_up_steps(id).await?,
    }))
}

impl From<FollowUpError> for ApiError {
    fn from(e: FollowUpError) -> ApiError {
        let status = match e {
            FollowUpError::Ledger(l) => return ApiError::from(l),
            FollowUpError::Accounts(ref m) => {
                tracing::error!(error = %m, "follow-up: cannot read the accounts");
                return ApiError::internal();
            }
            FollowUpError::UnknownWarning(_) | FollowUpError::UnknownFinding(_) => {
                StatusCode::NOT_FOUND
            }
            FollowUpError::NotYours { .. } => StatusCode::FORBIDDEN,
            FollowUpError::Resolved(_) | FollowUpError::NotAssigned(_) => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// What `POST /api/v1/warnings/{id}/assign` takes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The assignee's login at this node.
    assignee: String,
    deadline: NaiveDate,
    #[serde(default)]
    note: String,
}

/// What a follow-up step answers: the entry recorded.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Recorded {
    pub id: String,
    pub created: bool,
}

fn recorded(o: Outcome) -> (StatusCode, Json<Recorded>) {
    match o {
        Outcome::Created(id) => (
            StatusCode::CREATED,
            Json(Recorded {
                id: id.to_string(),
                created: true,
            }),
        ),
        Outcome::Existing(id) => (
            StatusCode::OK,
            Json(Recorded {
                id: id.to_string(),
                created: false,
            }),
        ),
    }
}

/// Assigns a warning this node raised to a person with a deadline.
pub async fn assign(
    State(s): State<Arc<AppState>>,
    Acting(who): Acting,
    Path(id): Path<String>,
    Json(b): Json<AssignRequest>,
) -> Result<(StatusCode, Json<Recorded>), ApiError> {
    let id = warning_id(&id)?;
    let o = follow_up::assign(
        &s.ledger,
        &s.accounts,
        &who,
        id,
        &b.assignee,
        b.deadline,
        &b.note,
    )
    .await?;
    Ok(recorded(o))
}

/// What `POST /api/v1/warnings/{id}/follow-up` takes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    status: FollowUpStatus,
    /// 核实情况.
    #[serde(default)]
    verification: String,
    /// 整改措施.
    #[serde(default)]
    rectification: String,
}

/// The assignee (or their desk) records verification, rectification and
/// status.
pub async fn record(
    State(s): State<Arc<AppState>>,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
    Json(b): Json<FollowUpRequest>,
) -> Result<(StatusCode, Json<Recorded>), ApiError> {
    let id = warning_id(&id)?;
    let o = follow_up::record(
        &s.ledger,
        &u,
        &who,
        id,
        b.status,
        &b.verification,
        &b.rectification,
    )
    .await?;
    Ok(recorded(o))
}
