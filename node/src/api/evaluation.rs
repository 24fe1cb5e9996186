//! 绩效自评 as JSON, the twins of the `/evaluation` page (seed 003 §13–14):
//!
//! - `GET /api/v1/evaluation?year=&node=`: the year at a node and its
//!   subtree (`Ledger::evaluation_year`): projects with and without a
//!   self-evaluation, compiled reports, spot checks with their findings and
//!   rectifications; a department officer sees their department's.
//! - `GET /api/v1/evaluation/{id}`: one self-evaluation, indicator by
//!   indicator.
//! - `POST /api/v1/evaluation` (`Evaluate`): a project's self-evaluation,
//!   by the department officer of its department; indicators left out are
//!   filled in from the ledger (every target, its latest actual, the
//!   completion it makes).
//! - `POST /api/v1/evaluation/reports` (`CompileEvaluations`): a
//!   department's report (its officer) or the node's (a role spanning
//!   departments), what it names and states drawn up by the ledger
//!   (`Ledger::report_draft`) unless the caller names the evaluations.
//! - `POST /api/v1/evaluation/spot-checks` and `/findings` (`SpotCheck`):
//!   a sample of the subtree's evaluations (random from a seed, or chosen)
//!   and a finding per sampled evaluation.
//! - `POST /api/v1/evaluation/findings/{id}/assign` (`SpotCheck`) and
//!   `/follow-up` (`FollowUp`): a 不符合 finding's rectification (整改),
//!   through the warnings' follow-up (`warnings::follow_up`).

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Extension;
use chrono::{Datelike, NaiveDate};
use fundsync_protocol::body::{
    EvaluationReportCompiled, FindingVerdict, FollowUpStatus, IndicatorEvaluation, ReportScope,
    SampleMethod, SelfEvaluationRecorded, SpotCheckFinding, SpotCheckRecorded, TargetOp,
};
use fundsync_protocol::{Body, EntryId, ErrorCode, NodeCode};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use super::{created, out_of_scope, own_department, Created, Permission, Routes};
use crate::accounts::User;
use crate::http::{Acting, ApiError, ApiResult, AppState, Json, Query};
use crate::ledger::query::{draw, EvaluationView, EvaluationYear};
use crate::warnings::follow_up;

type S = State<Arc<AppState>>;

pub(super) fn routes(api: Routes) -> Routes {
    use Permission as P;
    api.get("/evaluation", P::ReadLedger, year)
        .answers::<EvaluationYear>()
        .post("/evaluation", P::Evaluate, evaluate)
        .json::<EvaluateRequest, Created>()
        .get("/evaluation/{id}", P::ReadLedger, detail)
        .answers::<EvaluationView>()
        .post("/evaluation/reports", P::CompileEvaluations, compile)
        .json::<CompileRequest, Created>()
        .post("/evaluation/spot-checks", P::SpotCheck, spot_check)
        .json::<SpotCheckRequest, Created>()
        .post("/evaluation/findings", P::SpotCheck, finding)
        .json::<FindingRequest, Created>()
        .post("/evaluation/findings/{id}/assign", P::SpotCheck, assign)
        .json::<AssignRequest, Created>()
        .post("/evaluation/findings/{id}/follow-up", P::FollowUp, follow)
        .json::<FollowRequest, Created>()
}

/// The year asked for, this year when none, refused outside 2000–2100.
pub(crate) fn year_or_this(s: &AppState, year: Option<i32>) -> ApiResult<i32> {
    let y = year.unwrap_or_else(|| s.ledger.clock().today().year());
    if !(2000..=2100).contains(&y) {
        return Err(ApiError::not_found("year"));
    }
    Ok(y)
}

fn entry_id(s: &str) -> ApiResult<EntryId> {
    EntryId::from_str(s).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidId,
            format!("{s:?} is not an entry id (origin-seq)"),
        )
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct YearQuery {
    year: Option<i32>,
    /// The subtree of this node; absent: this node's.
    node: Option<NodeCode>,
}

async fn year(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<YearQuery>,
) -> ApiResult<impl IntoResponse> {
    if let Some(n) = q.node {
        let nodes = s.ledger.nodes().await?;
        if !nodes.iter().any(|x| x.code == n.as_str()) {
            return Err(ApiError::not_found("node"));
        }
    }
    let y = year_or_this(&s, q.year)?;
    let department = u.scope().department;
    Ok(Json(
        s.ledger
            .evaluation_year(q.node, y, department.as_deref())
            .await?,
    ))
}

async fn detail(
    State(s): S,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let e = s
        .ledger
        .evaluation(id)
        .await?
        .filter(|e| u.scope().department.is_none_or(|d| d == e.department))
        .ok_or_else(|| ApiError::not_found("self-evaluation"))?;
    Ok(Json(e))
}

/// One indicator as the caller gives it; what is left out comes from the
/// ledger.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IndicatorRequest {
    target: EntryId,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schemars(with = "Option<rust_decimal::Decimal>")]
    actual: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schemars(with = "Option<rust_decimal::Decimal>")]
    completion: Option<Decimal>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluateRequest {
    pub(crate) project: String,
    pub(crate) year: i32,
    /// Absent: every target of the project, with its latest actual.
    #[serde(default)]
    pub(crate) indicators: Option<Vec<IndicatorRequest>>,
    #[serde(default)]
    pub(crate) shortfall: String,
    #[serde(default)]
    pub(crate) measures: String,
}

/// 完成率: actual against target in percent, two decimals, 0–1000: for a
/// ceiling (≤, <) the target over the actual; 100 when both are nil.
fn completion(op: TargetOp, actual: Decimal, value: Decimal) -> Decimal {
    let (num, den) = match op {
        TargetOp::AtMost | TargetOp::Below => (value, actual),
        _ => (actual, value),
    };
    let pct = if den.is_zero() {
        if num.is_zero() || op.met(actual, value) {
            Decimal::ONE_HUNDRED
        } else {
            Decimal::ZERO
        }
    } else {
        num.checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|n| n.checked_div(den))
            .unwrap_or(Decimal::ZERO)
    };
    pct.clamp(Decimal::ZERO, Decimal::from(1000))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The self-evaluation `r` asks for, the ledger filling in what it left
/// out; refused (403) for a project of another department than a bound
/// officer's, 404 for an unknown project.
pub(crate) async fn evaluation_body(
    s: &AppState,
    u: &User,
    r: EvaluateRequest,
) -> ApiResult<SelfEvaluationRecorded> {
    let me = s.ledger.identity().code;
    let Some(p) = s.ledger.project(me, &r.project).await? else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownProject,
            format!("unknown project {:?} of this node", r.project),
        ));
    };
    if let Some(d) = own_department(u)? {
        if p.department != d {
            return Err(out_of_scope(format!(
                "the project belongs to the department {:?}; you evaluate only {d}'s",
                p.department
            )));
        }
    }
    let targets = p.targets.unwrap_or_default();
    let asked: Vec<IndicatorRequest> = match r.indicators {
        Some(i) => i,
        None => targets
            .iter()
            .filter_map(|t| t.id.parse().ok())
            .map(|target| IndicatorRequest {
                target,
                actual: None,
                completion: None,
            })
            .collect(),
    };
    let mut indicators = Vec::new();
    for i in asked {
        let t = targets.iter().find(|t| t.id == i.target.to_string());
        let held_actual = t
            .and_then(|t| t.actual.as_deref())
            .and_then(|a| a.parse().ok());
        let Some(actual) = i.actual.or(held_actual) else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidInput,
                format!("target {} has no actual recorded; give one", i.target),
            ));
        };
        let op_value = t.and_then(|t| {
            let op: TargetOp =
                serde_json::from_value(serde_json::Value::String(t.op.clone())).ok()?;
            Some((op, Decimal::from_str(&t.value).ok()?))
        });
        let completion = match (i.completion, op_value) {
            (Some(c), _) => c,
            (None, Some((op, value))) => completion(op, actual, value),
            (None, None) => Decimal::ZERO,
        };
        indicators.push(IndicatorEvaluation {
            target: i.target,
            actual,
            completion,
        });
    }
    Ok(SelfEvaluationRecorded {
        project: r.project,
        year: r.year,
        indicators,
        shortfall: r.shortfall.trim().to_owned(),
        measures: r.measures.trim().to_owned(),
        evaluated_on: s.ledger.clock().today(),
    })
}

async fn evaluate(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Json(r): Json<EvaluateRequest>,
) -> ApiResult<impl IntoResponse> {
    let b = evaluation_body(&s, &u, r).await?;
    Ok(created(
        s.ledger
            .submit_one(Body::SelfEvaluationRecorded(b), &who)
            .await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompileRequest {
    pub(crate) year: i32,
    pub(crate) scope: ReportScope,
    #[serde(default)]
    pub(crate) department: String,
    pub(crate) summary: String,
    /// Absent: what the ledger draws up.
    #[serde(default)]
    pub(crate) evaluations: Option<Vec<EntryId>>,
    #[serde(default)]
    pub(crate) reports: Option<Vec<EntryId>>,
}

/// The report `r` asks for: a bound department officer compiles only their
/// department's (403 otherwise); the node's needs a role spanning
/// departments.
pub(crate) async fn report_body(
    s: &AppState,
    u: &User,
    r: CompileRequest,
) -> ApiResult<EvaluationReportCompiled> {
    let department = match (r.scope, own_department(u)?) {
        (ReportScope::Node, Some(_)) => {
            return Err(out_of_scope(
                "a node's report spans departments: the lead office (牵头科室) compiles it".into(),
            ))
        }
        (ReportScope::Node, None) => String::new(),
        (ReportScope::Department, Some(d)) if !r.department.is_empty() && r.department != d => {
            return Err(out_of_scope(format!(
                "you compile the report of {d} only, not of {:?}",
                r.department
            )))
        }
        (ReportScope::Department, Some(d)) => d.to_owned(),
        (ReportScope::Department, None) => r.department.trim().to_owned(),
    };
    let draft = s.ledger.report_draft(r.year, r.scope, &department).await?;
    let given = r.evaluations.is_some() || r.reports.is_some();
    let evaluations = r.evaluations.unwrap_or(draft.evaluations);
    let reports = r.reports.unwrap_or(draft.reports);
    let (indicators, met, funds) = if given {
        s.ledger.evaluation_figures(&evaluations).await?
    } else {
        (draft.indicators, draft.met, draft.funds)
    };
    Ok(EvaluationReportCompiled {
        year: r.year,
        scope: r.scope,
        department,
        evaluations,
        reports,
        indicators,
        met,
        funds,
        summary: r.summary.trim().to_owned(),
        compiled_on: s.ledger.clock().today(),
    })
}

async fn compile(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Json(r): Json<CompileRequest>,
) -> ApiResult<impl IntoResponse> {
    let b = report_body(&s, &u, r).await?;
    Ok(created(
        s.ledger
            .submit_one(Body::EvaluationReportCompiled(b), &who)
            .await?,
    ))
}

/// Most evaluations one spot check samples at random.
pub const SAMPLE_MAX: usize = 200;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpotCheckRequest {
    pub(crate) year: i32,
    pub(crate) title: String,
    /// A random sample of `size` from this seed…
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    #[serde(default)]
    pub(crate) size: Option<usize>,
    /// …or these evaluations, chosen.
    #[serde(default)]
    pub(crate) sample: Option<Vec<EntryId>>,
}

pub(crate) async fn spot_check_body(
    s: &AppState,
    r: SpotCheckRequest,
) -> ApiResult<SpotCheckRecorded> {
    let invalid = |m: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidInput,
            m.to_owned(),
        )
    };
    let (method, seed, sample) = match (r.seed, r.sample) {
        (Some(seed), None) => {
            let size = r.size.unwrap_or(1);
            if size == 0 || size > SAMPLE_MAX {
                return Err(invalid("size: from 1 to 200"));
            }
            let candidates = s.ledger.spot_check_candidates(r.year).await?;
            if candidates.is_empty() {
                return Err(invalid(
                    "no self-evaluation of that year below this node to sample",
                ));
            }
            (
                SampleMethod::Random,
                Some(seed),
                draw(&candidates, seed, size),
            )
        }
        (None, Some(sample)) => (SampleMethod::Chosen, None, sample),
        _ => return Err(invalid("give either a seed (and size) or the sample")),
    };
    Ok(SpotCheckRecorded {
        year: r.year,
        title: r.title.trim().to_owned(),
        method,
        seed,
        sample,
        checked_on: s.ledger.clock().today(),
    })
}

async fn spot_check(
    State(s): S,
    Acting(who): Acting,
    Json(r): Json<SpotCheckRequest>,
) -> ApiResult<impl IntoResponse> {
    let b = spot_check_body(&s, r).await?;
    Ok(created(
        s.ledger
            .submit_one(Body::SpotCheckRecorded(b), &who)
            .await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindingRequest {
    pub(crate) spot_check: EntryId,
    pub(crate) evaluation: EntryId,
    pub(crate) verdict: FindingVerdict,
    #[serde(default)]
    pub(crate) notes: String,
}

impl FindingRequest {
    pub(crate) fn body(self, today: NaiveDate) -> SpotCheckFinding {
        SpotCheckFinding {
            spot_check: self.spot_check,
            evaluation: self.evaluation,
            verdict: self.verdict,
            notes: self.notes.trim().to_owned(),
            found_on: today,
        }
    }
}

async fn finding(
    State(s): S,
    Acting(who): Acting,
    Json(r): Json<FindingRequest>,
) -> ApiResult<impl IntoResponse> {
    let b = r.body(s.ledger.clock().today());
    Ok(created(
        s.ledger.submit_one(Body::SpotCheckFinding(b), &who).await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignRequest {
    assignee: String,
    deadline: NaiveDate,
    #[serde(default)]
    note: String,
}

async fn assign(
    State(s): S,
    Acting(who): Acting,
    Path(id): Path<String>,
    Json(b): Json<AssignRequest>,
) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let o = follow_up::assign_rectification(
        &s.ledger,
        &s.accounts,
        &who,
        id,
        &b.assignee,
        b.deadline,
        &b.note,
    )
    .await?;
    Ok(created(o))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FollowRequest {
    status: FollowUpStatus,
    #[serde(default)]
    verification: String,
    #[serde(default)]
    rectification: String,
}

async fn follow(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
    Json(b): Json<FollowRequest>,
) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let o = follow_up::record_rectification(
        &s.ledger,
        &u,
        &who,
        id,
        b.status,
        &b.verification,
        &b.rectification,
    )
    .await?;
    Ok(created(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_is_a_percentage_both_ways() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal");
        assert_eq!(completion(TargetOp::AtLeast, d("9"), d("12")), d("75.00"));
        assert_eq!(completion(TargetOp::AtLeast, d("13"), d("12")), d("108.33"));
        assert_eq!(completion(TargetOp::AtMost, d("110"), d("100")), d("90.91"));
        assert_eq!(completion(TargetOp::AtLeast, d("0"), d("0")), d("100"));
        assert_eq!(
            completion(TargetOp::AtLeast, d("999999"), d("1")),
            d("1000")
        );
    }
}
