//! The performance-target cycle over the API (seed 003 第七–九条), the
//! twins of the pages in `web/targets.rs`, with the same permissions:
//!
//! - `POST /api/v1/targets/{id}/adjustment` (ManageProjects): a department
//!   submits a target again, an adjustment (调整) or the revision of one
//!   returned (`target_adjusted`).
//! - `POST /api/v1/projects/{code}/targets/review` (ReviewTargets): the
//!   review (审核) of this node's project's submissions (`targets_reviewed`);
//!   without `submissions`, every one awaiting review.
//! - `POST /api/v1/projects/{code}/targets/approval` (ApproveTargets): the
//!   approval (批复) with its 文号 (`targets_approved`); without
//!   `submissions`, every reviewed one.
//! - `GET /api/v1/projects/{origin}/{code}/submissions` (ReadLedger): a
//!   project's submissions, the history of its targets.
//! - `GET /api/v1/targets/filings` (ReadLedger): the 备案 list, approved
//!   targets of this node and its descendants, in the caller's scope.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Extension;
use chrono::NaiveDate;
use fundsync_protocol::body::{TargetAdjusted, TargetOp, TargetsApproved, TargetsReviewed};
use fundsync_protocol::{Body, EntryId, ErrorCode, NodeCode};
use serde::Deserialize;

use super::{created, entry_id, target_in_scope, Created, PageQuery};
use crate::access::Permission;
use crate::accounts::User;
use crate::http::{Acting, ApiError, ApiResult, AppState, Json, Query, Routes};
use crate::ledger::query::{FilingFilter, Paged, SubmissionView};

type S = State<Arc<AppState>>;

/// The routes, under `/api/v1`.
pub(super) fn routes(api: Routes) -> Routes {
    use Permission as P;
    api.post("/targets/{id}/adjustment", P::ManageProjects, adjust)
        .json::<NewAdjustment, Created>()
        .post("/projects/{code}/targets/review", P::ReviewTargets, review)
        .json::<NewReview, Created>()
        .post(
            "/projects/{code}/targets/approval",
            P::ApproveTargets,
            approve,
        )
        .json::<NewApproval, Created>()
        .get(
            "/projects/{origin}/{code}/submissions",
            P::ReadLedger,
            submissions,
        )
        .answers::<Vec<SubmissionView>>()
        .get("/targets/filings", P::ReadLedger, filings)
        .answers::<Paged<SubmissionView>>()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewAdjustment {
    op: TargetOp,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "rust_decimal::Decimal")]
    value: rust_decimal::Decimal,
    reason: String,
    adjusted_on: NaiveDate,
}

async fn adjust(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
    Json(b): Json<NewAdjustment>,
) -> ApiResult<impl IntoResponse> {
    let target = entry_id(&id)?;
    target_in_scope(&s, &u, target).await?;
    let body = Body::TargetAdjusted(TargetAdjusted {
        target,
        op: b.op,
        value: b.value,
        reason: b.reason,
        adjusted_on: b.adjusted_on,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewReview {
    #[serde(default)]
    submissions: Option<Vec<EntryId>>,
    reviewed_on: NaiveDate,
    necessity: bool,
    relevance: bool,
    fit: bool,
    #[serde(default)]
    reasons: String,
}

async fn review(
    State(s): S,
    Acting(who): Acting,
    Path(code): Path<String>,
    Json(b): Json<NewReview>,
) -> ApiResult<impl IntoResponse> {
    let submissions = match b.submissions {
        Some(v) => v,
        None => s.ledger.submissions_standing(&code, "submitted").await?,
    };
    let body = Body::TargetsReviewed(TargetsReviewed {
        project: code,
        submissions,
        reviewed_on: b.reviewed_on,
        necessity: b.necessity,
        relevance: b.relevance,
        fit: b.fit,
        reasons: b.reasons,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewApproval {
    #[serde(default)]
    submissions: Option<Vec<EntryId>>,
    doc_no: String,
    approved_on: NaiveDate,
}

async fn approve(
    State(s): S,
    Acting(who): Acting,
    Path(code): Path<String>,
    Json(b): Json<NewApproval>,
) -> ApiResult<impl IntoResponse> {
    let submissions = match b.submissions {
        Some(v) => v,
        None => s.ledger.submissions_standing(&code, "reviewed").await?,
    };
    let body = Body::TargetsApproved(TargetsApproved {
        project: code,
        submissions,
        doc_no: b.doc_no,
        approved_on: b.approved_on,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

async fn submissions(
    State(s): S,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let origin: NodeCode = origin
        .parse()
        .map_err(|e: fundsync_protocol::ids::IdError| {
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidId, e.to_string())
        })?;
    // Out of the caller's scope reads as absent, as the project does.
    if !s.ledger.project_visible(origin, &code, &u.scope()).await? {
        return Err(ApiError::not_found("project"));
    }
    Ok(Json(s.ledger.target_submissions(origin, &code).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FilingQuery {
    origin: Option<NodeCode>,
    project: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn filings(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<FilingQuery>,
) -> ApiResult<impl IntoResponse> {
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .page();
    let f = FilingFilter {
        origin: q.origin,
        project: q.project,
        scope: u.scope(),
    };
    Ok(Json(s.ledger.target_filings(f, page).await?))
}
