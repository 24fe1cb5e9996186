//! 结转结余 and 收回 as JSON, the twins of the `/carryover` page:
//! `GET /api/v1/carryover?as_of=&node=` the report (`Ledger::carry_over`)
//! in the caller's scope, `POST /api/v1/carryover` a reason for part of an
//! allocation's balance (`carry_over_explained`), `POST /api/v1/recalls`
//! unspent funds returned to the allocation's issuer (`funds_recalled`).
//! Both writes act on an allocation of this node, within the caller's
//! scope (department, 涉密), as an allocation does.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Extension;
use chrono::NaiveDate;
use fundsync_protocol::body::{CarryOverExplained, FundsRecalled};
use fundsync_protocol::{Body, EntryId, NodeCode};
use serde::Deserialize;

use super::{category_in_scope, created};
use crate::accounts::User;
use crate::http::{Acting, ApiError, ApiResult, AppState, Json, Query};
use crate::ledger::query::CarryOverFilter;

type S = State<Arc<AppState>>;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CarryOverQuery {
    /// The day the balances are taken at the end of; absent: today.
    as_of: Option<NaiveDate>,
    /// The subtree of this node; absent: this node's.
    node: Option<NodeCode>,
}

pub(super) async fn report(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<CarryOverQuery>,
) -> ApiResult<impl IntoResponse> {
    if let Some(n) = q.node {
        let nodes = s.ledger.nodes().await?;
        if !nodes.iter().any(|x| x.code == n.as_str()) {
            return Err(ApiError::not_found("node"));
        }
    }
    let as_of = q.as_of.unwrap_or_else(|| s.ledger.clock().today());
    let f = CarryOverFilter {
        under: q.node,
        categories: u.visible_categories(&s.ledger).await?,
    };
    Ok(Json(s.ledger.carry_over(as_of, &f).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SelfEvaluationQuery {
    /// The report's year; absent: this year.
    year: Option<i32>,
    /// Whose report; absent: this node's.
    node: Option<NodeCode>,
}

/// `GET /api/v1/report/self-evaluation?year=&node=`: the twin of the
/// `/report/self-evaluation` page (`Ledger::self_evaluation`), in the
/// caller's scope.
pub(super) async fn self_evaluation(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<SelfEvaluationQuery>,
) -> ApiResult<impl IntoResponse> {
    if let Some(n) = q.node {
        let nodes = s.ledger.nodes().await?;
        if !nodes.iter().any(|x| x.code == n.as_str()) {
            return Err(ApiError::not_found("node"));
        }
    }
    let year = q
        .year
        .unwrap_or_else(|| chrono::Datelike::year(&s.ledger.clock().today()));
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::not_found("year"));
    }
    let node = q.node.unwrap_or(s.ledger.identity().code);
    let categories = u.visible_categories(&s.ledger).await?;
    Ok(Json(
        s.ledger.self_evaluation(node, year, categories).await?,
    ))
}

/// Refuses `u` acting on allocation `id` of a category outside their
/// scope; an unknown allocation is the ledger's to refuse.
async fn allocation_in_scope(s: &AppState, u: &User, id: EntryId) -> ApiResult<()> {
    if let Some(a) = s.ledger.allocation(id).await? {
        category_in_scope(s, u, &a.category).await?;
    }
    Ok(())
}

pub(super) async fn explain(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Json(b): Json<CarryOverExplained>,
) -> ApiResult<impl IntoResponse> {
    allocation_in_scope(&s, &u, b.allocation).await?;
    Ok(created(
        s.ledger
            .submit_one(Body::CarryOverExplained(b), &who)
            .await?,
    ))
}

pub(super) async fn recall(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Json(b): Json<FundsRecalled>,
) -> ApiResult<impl IntoResponse> {
    allocation_in_scope(&s, &u, b.allocation).await?;
    Ok(created(
        s.ledger.submit_one(Body::FundsRecalled(b), &who).await?,
    ))
}
