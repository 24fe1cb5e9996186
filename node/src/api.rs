//! The local HTTP API, `/api/v1`: JSON in, JSON out, amounts as decimal
//! strings in yuan. Every error is `{"error": code, "message": text}` with
//! a status that says whose fault it is; internal details are logged, never
//! sent.
//!
//! Every route declares the [`Permission`] it needs ([`Routes`]); the
//! people's own endpoints (who am I, tokens, users) are [`people`]'s.

mod carryover;
pub(crate) mod evaluation;
mod people;
mod publications;
mod search;
mod targets;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use chrono::NaiveDate;
use fundsync_protocol::body::*;
use fundsync_protocol::{Amount, Body, EntryId, ErrorBody, ErrorCode, NodeCode};
use serde::{Deserialize, Serialize};

use crate::access::{Permission, Scope};
use crate::accounts::User;
use crate::http::{body_limit, Acting, ApiError, ApiResult, AppState, Json, Media, Query, Routes};
use crate::import::{self, ImportError};
use crate::ledger::query::{self as q, AllocationFilter, GroupBy, Page, Paged, PaymentFilter};
use crate::ledger::{LedgerError, Outcome};

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Created {
    id: String,
    created: bool,
}

fn created(o: Outcome) -> (StatusCode, Json<Created>) {
    match o {
        Outcome::Created(id) => (
            StatusCode::CREATED,
            Json(Created {
                id: id.to_string(),
                created: true,
            }),
        ),
        Outcome::Existing(id) => (
            StatusCode::OK,
            Json(Created {
                id: id.to_string(),
                created: false,
            }),
        ),
    }
}

/// The API's routes (`/api/v1/…`, `/metrics`, `/healthz`, `/readyz`), each
/// with the permission it needs; `crate::server` merges them with the pages
/// and adds the state, the body limit and the fallback. A CSV import may be
/// up to `import_bytes_max`.
pub fn router(import_bytes_max: usize) -> Routes {
    use crate::warnings::http as w;
    use Permission as P;
    let text = || Some(Media::raw("text/plain"));
    let api = Routes::api("/api/v1")
        .get("/node", P::SignedIn, node)
        .answers::<crate::ledger::Identity>()
        .get("/nodes", P::SignedIn, nodes)
        .answers::<Vec<q::NodeView>>()
        .post("/nodes", P::ManageNodes, add_child)
        .json::<ChildRegistered, Created>()
        .get("/catalog", P::SignedIn, catalog)
        .answers::<Vec<q::CategoryView>>()
        .post("/catalog", P::ManageNodes, add_category)
        .json::<CategoryDefined, Created>()
        .post("/funds-received", P::RecordFunds, funds_received)
        .json::<FundsReceived, Created>()
        .get("/own-budgets", P::ReadLedger, own_budgets)
        .answers::<Paged<q::AllocationView>>()
        .post("/own-budgets", P::RecordFunds, add_own_budget)
        .json::<OwnBudgetAdded, Created>()
        .get("/allocations", P::ReadLedger, allocations)
        .answers::<Paged<q::AllocationView>>()
        .post("/allocations", P::Allocate, add_allocation)
        .json::<NewAllocation, Created>()
        .get("/allocations/{id}", P::ReadLedger, allocation)
        .answers::<q::AllocationView>()
        .get("/projects", P::ReadLedger, projects)
        .answers::<Paged<q::ProjectView>>()
        .post("/projects", P::ManageProjects, add_project)
        .json::<ProjectRegistered, Created>()
        .get("/projects/{origin}/{code}", P::ReadLedger, project)
        .answers::<q::ProjectView>()
        .post("/projects/{code}/targets", P::ManageProjects, add_target)
        .json::<NewTarget, Created>()
        .post("/projects/{code}/status", P::ManageProjects, set_status)
        .json::<NewStatus, Created>()
        .post("/targets/{id}/actual", P::ManageProjects, record_actual)
        .json::<NewActual, Created>()
        .get("/payments", P::ReadLedger, payments)
        .answers::<Paged<q::PaymentView>>()
        .post("/payments", P::Pay, add_payment)
        .json::<PaymentRecorded, Created>()
        .get("/payments/{id}", P::ReadLedger, payment)
        .answers::<q::PaymentView>()
        .get("/trace/payments/{id}", P::ReadLedger, trace_payment)
        .answers::<q::Trace>()
        .post("/payments/{voucher_no}/reversal", P::Pay, reverse_payment)
        .json::<NewReversal, Created>()
        .method(
            Method::POST,
            "/payments/import",
            P::Pay,
            post(import_csv).layer(body_limit(import_bytes_max)),
        )
        .bodies(
            Some(Media::raw("text/csv")),
            Some(Media::json::<import::ImportReport>()),
        )
        .get("/ledger/summary", P::ReadLedger, summary)
        .answers::<q::Summary>()
        .get("/journal", P::ReadLedger, journal)
        .answers::<Vec<q::JournalView>>()
        .get("/search", P::ReadLedger, search::search)
        .answers::<Paged<q::SearchHit>>()
        .get("/warnings", P::ReadLedger, w::list)
        .answers::<Paged<crate::warnings::store::WarningShown>>()
        .get("/warnings/{id}", P::ReadLedger, w::detail)
        .answers::<w::WarningDetail>()
        .post("/warnings/{id}/assign", P::ManageWarnings, w::assign)
        .json::<w::AssignRequest, w::Recorded>()
        .post("/warnings/{id}/follow-up", P::FollowUp, w::record)
        .json::<w::FollowUpRequest, w::Recorded>()
        .get("/sync/heads", P::ReadHealth, sync_heads)
        .answers::<Vec<fundsync_protocol::wire::HeadView>>()
        .get("/sync/link", P::ReadHealth, sync_link)
        .answers::<LinkAnswer>()
        .get("/sync/health", P::ReadHealth, sync_health)
        .answers::<crate::sync::health::HealthTree>()
        .get("/carryover", P::ReadLedger, carryover::report)
        .answers::<q::CarryOverReport>()
        .post("/carryover", P::Allocate, carryover::explain)
        .json::<CarryOverExplained, Created>()
        .post("/recalls", P::Allocate, carryover::recall)
        .json::<FundsRecalled, Created>()
        .get("/sync/alarms", P::ReadHealth, sync_alarms)
        .answers::<Paged<q::SyncAlarm>>()
        .get(
            "/report/self-evaluation",
            P::ReadLedger,
            carryover::self_evaluation,
        )
        .answers::<q::SelfEvaluation>();
    let api = people::routes(api);
    let api = publications::routes(api);
    let api = targets::routes(api);
    let api = evaluation::routes(api);
    Routes::api("")
        .get("/metrics", P::ReadHealth, metrics)
        .bodies(None, Some(Media::raw("text/plain; version=0.0.4")))
        .get("/healthz", P::Public, || async { "ok" })
        .bodies(None, text())
        .get("/readyz", P::Public, readyz)
        .bodies(None, text())
        .merge(api)
}

/// Refused by scope (403): the caller's roles allow the action, their
/// department or 涉密 grant does not cover this category or project.
fn out_of_scope(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
}

/// Whether `u` acts only for their own department's categories: a
/// department officer without a role that spans departments.
fn department_bound(u: &User) -> bool {
    Scope::department_bound(&u.roles)
}

/// The department a bound officer acts for; refused without one.
fn own_department(u: &User) -> ApiResult<Option<&str>> {
    if !department_bound(u) {
        return Ok(None);
    }
    u.department.as_deref().map(Some).ok_or_else(|| {
        out_of_scope(
            "your account has no department (归口科室), so it may act for no category; ask an administrator"
                .into(),
        )
    })
}

/// Refuses `u` acting on (or reading the detail of) `category` unless its
/// department and 涉密 grant cover it. An unknown category passes: the
/// ledger refuses it with its own error.
pub(crate) async fn category_in_scope(s: &AppState, u: &User, category: &str) -> ApiResult<()> {
    let cats = s.ledger.categories().await?;
    let Some(c) = cats.iter().find(|c| c.code == category) else {
        return Ok(());
    };
    if c.classified && !u.classified {
        return Err(out_of_scope(format!(
            "the category {} ({}) is classified (涉密) and your account is not granted classified categories",
            c.code, c.name
        )));
    }
    if let Some(d) = own_department(u)? {
        if c.department != d {
            return Err(out_of_scope(format!(
                "the category {} ({}) belongs to the department {}; you act only for {d}",
                c.code, c.name, c.department
            )));
        }
    }
    Ok(())
}

/// Refuses a department officer acting on a project of another department.
fn project_in_scope(u: &User, department: &str) -> ApiResult<()> {
    if let Some(d) = own_department(u)? {
        if department != d {
            return Err(out_of_scope(format!(
                "the project belongs to the department {department:?}; you act only for {d}"
            )));
        }
    }
    Ok(())
}

/// The department of this node's project `code`, if it exists.
async fn project_department(s: &AppState, code: &str) -> ApiResult<Option<String>> {
    Ok(s.ledger
        .project(s.ledger.identity().code, code)
        .await?
        .map(|p| p.department))
}

/// The answer to a request no route takes.
pub async fn no_such_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint",
    )
}

type S = State<Arc<AppState>>;

async fn readyz(State(s): S) -> ApiResult<&'static str> {
    s.ledger.db().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::NotReady,
            "database unavailable",
        )
    })?;
    Ok("ready")
}

async fn node(State(s): S) -> impl IntoResponse {
    Json(s.ledger.identity().clone())
}

async fn nodes(State(s): S) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.ledger.nodes().await?))
}

async fn add_child(
    State(s): S,
    Acting(who): Acting,
    Json(b): Json<ChildRegistered>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(
        s.ledger.submit_one(Body::ChildRegistered(b), &who).await?,
    ))
}

/// The categories offered to this node: the shipped lists of its province
/// and every category a node defined (`catalog::offered`).
async fn catalog(State(s): S) -> ApiResult<impl IntoResponse> {
    let me = s.ledger.identity().code;
    let mut cats = s.ledger.categories().await?;
    cats.retain(|c| crate::catalog::offered(&me, &c.code, c.defined_by.as_deref()));
    Ok(Json(cats))
}

async fn add_category(
    State(s): S,
    Acting(who): Acting,
    Json(b): Json<CategoryDefined>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(
        s.ledger.submit_one(Body::CategoryDefined(b), &who).await?,
    ))
}

async fn funds_received(
    State(s): S,
    Acting(who): Acting,
    Json(b): Json<FundsReceived>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(
        s.ledger.submit_one(Body::FundsReceived(b), &who).await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    page_size: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> Page {
        let d = Page::default();
        Page {
            page: self.page.unwrap_or(d.page),
            page_size: self.page_size.unwrap_or(d.page_size),
        }
    }
}

async fn own_budgets(
    State(s): S,
    Extension(u): Extension<User>,
    Query(p): Query<PageQuery>,
) -> ApiResult<impl IntoResponse> {
    let f = AllocationFilter {
        kind: Some("own_budget".into()),
        categories: u.visible_categories(&s.ledger).await?,
        ..Default::default()
    };
    Ok(Json(s.ledger.allocations(f, p.page()).await?))
}

async fn add_own_budget(
    State(s): S,
    Acting(who): Acting,
    Json(b): Json<OwnBudgetAdded>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(
        s.ledger.submit_one(Body::OwnBudgetAdded(b), &who).await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AllocationQuery {
    #[serde(flatten)]
    filter: AllocationFilterQuery,
    page: Option<u32>,
    page_size: Option<u32>,
}

// `flatten` and `deny_unknown_fields` do not mix in serde; list the fields.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AllocationFilterQuery {
    holder: Option<NodeCode>,
    from_node: Option<NodeCode>,
    kind: Option<String>,
    category: Option<String>,
    fund_origin: Option<String>,
    source: Option<EntryId>,
    as_of: Option<NaiveDate>,
}

async fn allocations(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<AllocationQuery>,
) -> ApiResult<impl IntoResponse> {
    let f = q.filter;
    let filter = AllocationFilter {
        holder: f.holder,
        from_node: f.from_node,
        kind: f.kind,
        category: f.category,
        fund_origin: f.fund_origin,
        source: f.source,
        as_of: f.as_of,
        categories: u.visible_categories(&s.ledger).await?,
    };
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .page();
    Ok(Json(s.ledger.allocations(filter, page).await?))
}

/// A new allocation; the category may be left out (it is the source's).
/// The allocation form (`web::desk`) asks with one too.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAllocation {
    pub(crate) doc_no: String,
    pub(crate) source: EntryId,
    pub(crate) to: NodeCode,
    pub(crate) amount: Amount,
    pub(crate) issued_on: NaiveDate,
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) title: String,
}

impl NewAllocation {
    /// The entry asked for: the category is the source's unless given, and
    /// must be in `u`'s scope (department, 涉密).
    pub(crate) async fn body(self, s: &AppState, u: &User) -> ApiResult<Body> {
        let category = match self.category {
            Some(c) => c,
            None => {
                s.ledger
                    .allocation(self.source)
                    .await?
                    .ok_or(LedgerError::UnknownAllocation(self.source))?
                    .category
            }
        };
        category_in_scope(s, u, &category).await?;
        Ok(Body::AllocationIssued(AllocationIssued {
            doc_no: self.doc_no,
            source: self.source,
            category,
            to: self.to,
            amount: self.amount,
            issued_on: self.issued_on,
            title: self.title,
        }))
    }
}

async fn add_allocation(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Json(a): Json<NewAllocation>,
) -> ApiResult<impl IntoResponse> {
    let body = a.body(&s, &u).await?;
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

fn entry_id(s: &str) -> ApiResult<EntryId> {
    s.parse().map_err(|e: fundsync_protocol::ids::IdError| {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidId, e.to_string())
    })
}

async fn allocation(
    State(s): S,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let a = s
        .ledger
        .allocation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("allocation"))?;
    readable(&s, &u, Some(&a.category)).await?;
    Ok(Json(a))
}

/// Refuses a record of fund category `category` to a reader whose scope
/// (department, 涉密) does not cover it, as the lists leave it out. A record
/// whose category this node cannot tell (`None`) is for readers who see
/// everything.
pub(crate) async fn readable(s: &AppState, u: &User, category: Option<&str>) -> ApiResult<()> {
    let Some(seen) = u.visible_categories(&s.ledger).await? else {
        return Ok(());
    };
    match category {
        Some(c) if seen.iter().any(|x| x == c) => Ok(()),
        Some(c) => Err(out_of_scope(format!(
            "the record is of fund category {c}, outside your account's scope (department {}, 涉密 {})",
            u.department.as_deref().unwrap_or("-"),
            if u.classified { "yes" } else { "no" }
        ))),
        None => Err(out_of_scope(
            "the record's fund category is not held at this node, and your account's scope is limited".into(),
        )),
    }
}

/// The fund category a payment is paid from (its allocation's), if held here.
pub(crate) async fn payment_category(s: &AppState, allocation: &str) -> ApiResult<Option<String>> {
    let Ok(id) = allocation.parse::<EntryId>() else {
        return Ok(None);
    };
    Ok(s.ledger.allocation(id).await?.map(|a| a.category))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProjectQuery {
    origin: Option<NodeCode>,
    status: Option<String>,
    category: Option<String>,
    department: Option<String>,
    /// Text in the township or the village.
    place: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// The project library, narrowed to the caller's scope (department, 涉密).
async fn projects(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<ProjectQuery>,
) -> ApiResult<impl IntoResponse> {
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .page();
    let f = crate::ledger::query::ProjectFilter {
        origin: q.origin,
        status: q.status,
        category: q.category,
        department: q.department,
        place: q.place,
        scope: u.scope(),
    };
    Ok(Json(s.ledger.project_list(f, page).await?))
}

async fn add_project(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Json(b): Json<ProjectRegistered>,
) -> ApiResult<impl IntoResponse> {
    project_in_scope(&u, &b.department)?;
    Ok(created(
        s.ledger
            .submit_one(Body::ProjectRegistered(b), &who)
            .await?,
    ))
}

async fn project(
    State(s): S,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let origin: NodeCode = origin
        .parse()
        .map_err(|e: fundsync_protocol::ids::IdError| {
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidId, e.to_string())
        })?;
    // Out of the caller's scope reads as absent, as in the lists.
    if !s.ledger.project_visible(origin, &code, &u.scope()).await? {
        return Err(ApiError::not_found("project"));
    }
    let p = s
        .ledger
        .project(origin, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    Ok(Json(p))
}

/// A target for the project named in the path.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewTarget {
    level1: TargetLevel1,
    level2: TargetLevel2,
    indicator: String,
    op: TargetOp,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "rust_decimal::Decimal")]
    value: rust_decimal::Decimal,
    #[serde(default)]
    unit: String,
}

async fn add_target(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(code): Path<String>,
    Json(t): Json<NewTarget>,
) -> ApiResult<impl IntoResponse> {
    if let Some(d) = project_department(&s, &code).await? {
        project_in_scope(&u, &d)?;
    }
    let body = Body::TargetSet(TargetSet {
        project: code,
        level1: t.level1,
        level2: t.level2,
        indicator: t.indicator,
        op: t.op,
        value: t.value,
        unit: t.unit,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    status: ProjectStatus,
}

async fn set_status(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(code): Path<String>,
    Json(b): Json<NewStatus>,
) -> ApiResult<impl IntoResponse> {
    if let Some(d) = project_department(&s, &code).await? {
        project_in_scope(&u, &d)?;
    }
    let body = Body::ProjectStatusChanged(ProjectStatusChanged {
        project: code,
        status: b.status,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewActual {
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "rust_decimal::Decimal")]
    actual: rust_decimal::Decimal,
    recorded_on: NaiveDate,
    #[serde(default)]
    note: String,
    /// 佐证材料: the document number or file reference the figure rests on
    /// (at most 200 characters, no control characters; protocol version 6).
    #[serde(default)]
    evidence: String,
}

/// Refuses a person acting on a target whose project (of this node) is
/// outside their department; the project decides, as for its targets and
/// status. An unknown target or another node's is the ledger's to refuse.
async fn target_in_scope(s: &AppState, u: &User, target: EntryId) -> ApiResult<()> {
    if let Some((origin, project)) = s.ledger.target_owner(target).await? {
        if origin == s.ledger.identity().code.as_str() {
            if let Some(d) = project_department(s, &project).await? {
                project_in_scope(u, &d)?;
            }
        }
    }
    Ok(())
}

async fn record_actual(
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
    Json(b): Json<NewActual>,
) -> ApiResult<impl IntoResponse> {
    let target = entry_id(&id)?;
    target_in_scope(&s, &u, target).await?;
    let body = Body::TargetActualRecorded(TargetActualRecorded {
        target,
        actual: b.actual,
        recorded_on: b.recorded_on,
        note: b.note,
        evidence: b.evidence,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PaymentQuery {
    origin: Option<NodeCode>,
    allocation: Option<EntryId>,
    project: Option<String>,
    voucher_no: Option<String>,
    as_of: Option<NaiveDate>,
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn payments(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<PaymentQuery>,
) -> ApiResult<impl IntoResponse> {
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .page();
    let f = PaymentFilter {
        origin: q.origin,
        allocation: q.allocation,
        project: q.project,
        voucher_no: q.voucher_no,
        as_of: q.as_of,
        categories: u.visible_categories(&s.ledger).await?,
    };
    Ok(Json(s.ledger.payments(f, page).await?))
}

async fn add_payment(
    State(s): S,
    Acting(who): Acting,
    Json(b): Json<PaymentRecorded>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(
        s.ledger.submit_one(Body::PaymentRecorded(b), &who).await?,
    ))
}

async fn payment(
    State(s): S,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let p = s
        .ledger
        .payment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let category = payment_category(&s, &p.allocation).await?;
    readable(&s, &u, category.as_deref()).await?;
    Ok(Json(p))
}

async fn trace_payment(
    State(s): S,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let t = s
        .ledger
        .trace_payment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let category = t.allocations.first().map(|a| a.allocation.category.clone());
    readable(&s, &u, category.as_deref()).await?;
    Ok(Json(t))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewReversal {
    reversed_on: NaiveDate,
    reason: String,
}

async fn reverse_payment(
    State(s): S,
    Acting(who): Acting,
    Path(voucher_no): Path<String>,
    Json(b): Json<NewReversal>,
) -> ApiResult<impl IntoResponse> {
    let body = Body::PaymentReversed(PaymentReversed {
        voucher_no,
        reversed_on: b.reversed_on,
        reason: b.reason,
    });
    Ok(created(s.ledger.submit_one(body, &who).await?))
}

/// A refused import: the error body and every refused row.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct RowsRefused {
    #[serde(flatten)]
    body: ErrorBody,
    rows: Vec<import::RowError>,
}

async fn import_csv(
    State(s): S,
    Acting(who): Acting,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let workbook = ct.starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml")
        || ct.starts_with("application/vnd.ms-excel");
    if !ct.starts_with("text/csv") && !workbook {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the vouchers as CSV (Content-Type: text/csv; UTF-8 or GBK) or as an Excel workbook",
        ));
    }
    match import::import_payments(&s.ledger, std::io::Cursor::new(body), &who).await {
        Ok(report) => Ok((StatusCode::OK, Json(report)).into_response()),
        Err(ImportError::Rows(rows)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(RowsRefused {
                body: ErrorBody {
                    error: ErrorCode::InvalidRows,
                    message: format!("{} row(s) rejected; nothing was imported", rows.len()),
                },
                rows,
            }),
        )
            .into_response()),
        Err(ImportError::Empty) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::Empty,
            "the file has no rows",
        )),
        Err(ImportError::Ledger(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    as_of: Option<NaiveDate>,
    /// Comma-separated: node, fund_category, fund_origin.
    group_by: Option<String>,
    /// Restrict to the subtree of this node.
    node: Option<NodeCode>,
}

async fn summary(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<SummaryQuery>,
) -> ApiResult<impl IntoResponse> {
    let as_of = q.as_of.unwrap_or_else(|| s.ledger.clock().today());
    let mut group_by = Vec::new();
    for g in q.group_by.as_deref().unwrap_or("node").split(',') {
        let g: GroupBy = serde_json::from_value(serde_json::Value::String(g.trim().to_owned()))
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    format!("group_by {g:?}: expected node, fund_category or fund_origin"),
                )
            })?;
        if !group_by.contains(&g) {
            group_by.push(g);
        }
    }
    let seen = u.visible_categories(&s.ledger).await?;
    Ok(Json(
        s.ledger
            .summary_in(as_of, &group_by, q.node, seen.as_deref())
            .await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct JournalQuery {
    origin: Option<NodeCode>,
    after: Option<u64>,
    limit: Option<u32>,
}

/// The raw journal holds every category, so only a reader whose scope is
/// everything (no department limit, the 涉密 grant) may page through it;
/// others read the lists, which are narrowed to their scope.
async fn journal(
    State(s): S,
    Extension(u): Extension<User>,
    Query(q): Query<JournalQuery>,
) -> ApiResult<impl IntoResponse> {
    if u.scope() != Scope::all() {
        return Err(out_of_scope(
            "the journal holds every fund category, including classified (涉密) ones and other \
             departments'; your account is limited to some, so read the lists instead"
                .into(),
        ));
    }
    let origin = q.origin.unwrap_or(s.ledger.identity().code);
    let entries = s
        .ledger
        .journal(origin, q.after.unwrap_or(0), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(entries))
}

/// Per-origin heads of every chain this node holds: compare an ancestor's
/// with a descendant's to check that they have converged.
async fn sync_heads(State(s): S) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.ledger.heads().await?))
}

/// Prometheus metrics; see [`crate::telemetry`]. The state gauges are
/// computed now, from what `/api/v1/sync/health` shows.
async fn metrics(State(s): S) -> ApiResult<impl IntoResponse> {
    use crate::sync::{health, LinkState};
    let handle = crate::telemetry::handle();
    let me = s.ledger.identity().code.to_string();
    if let Some(link) = &s.link {
        let status = link.get();
        if let Some(r) = health::measure(&s.ledger, &status, None).await? {
            for (dir, d) in [("up", r.up), ("down", r.down)] {
                metrics::gauge!("fundsync_link_entries_behind", "node" => me.clone(), "direction" => dir)
                    .set(u32::try_from(d.entries_behind).map_or(f64::MAX, f64::from));
                metrics::gauge!("fundsync_link_seconds_behind", "node" => me.clone(), "direction" => dir)
                    .set(u32::try_from(d.seconds_behind).map_or(f64::MAX, f64::from));
                metrics::gauge!("fundsync_link_backlog_bytes", "node" => me.clone(), "direction" => dir)
                    .set(u32::try_from(d.backlog_bytes).map_or(f64::MAX, f64::from));
            }
            metrics::gauge!("fundsync_link_consecutive_failures", "node" => me.clone())
                .set(f64::from(r.consecutive_failures));
        }
    }
    let tree = health::tree(&s.ledger, s.link.as_ref().map(|l| l.get()), judging(&s)).await?;
    for l in &tree.links {
        for state in LinkState::ALL {
            metrics::gauge!(
                "fundsync_tree_link_state",
                "node" => me.clone(), "link" => l.node.clone(), "state" => state.as_str()
            )
            .set(if l.state == state { 1.0 } else { 0.0 });
        }
        if let Some(r) = &l.report {
            metrics::gauge!("fundsync_tree_link_seconds_behind", "node" => me.clone(), "link" => l.node.clone())
                .set(u32::try_from(r.up.seconds_behind.max(r.down.seconds_behind)).map_or(f64::MAX, f64::from));
            if let Some(exp) = r.cert_expires_ms {
                metrics::gauge!("fundsync_tree_cert_expiry_timestamp_seconds", "node" => me.clone(), "link" => l.node.clone())
                    .set(u32::try_from(exp / 1000).map_or(f64::MAX, f64::from));
            }
        }
        if let Some(age) = l.report_age_seconds {
            metrics::gauge!("fundsync_tree_report_age_seconds", "node" => me.clone(), "link" => l.node.clone())
                .set(u32::try_from(age).map_or(f64::MAX, f64::from));
        }
    }
    for (rule, n) in crate::warnings::store::open_gauges(&s.ledger).await? {
        metrics::gauge!("fundsync_warnings_open", "node" => me.clone(), "rule" => rule)
            .set(u32::try_from(n).map_or(f64::MAX, f64::from));
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    ))
}

/// How this node judges link reports, from its settings.
pub fn judging(s: &AppState) -> crate::sync::health::Judging {
    crate::sync::health::Judging {
        report_every_ms: s.health_report_ms,
        lag_ms: s.link_lag_ms,
    }
}

/// The replication health of every link in this node's subtree.
async fn sync_health(State(s): S) -> ApiResult<impl IntoResponse> {
    let own = s.link.as_ref().map(|l| l.get());
    Ok(Json(
        crate::sync::health::tree(&s.ledger, own, judging(&s)).await?,
    ))
}

/// The sync alarms, newest first: who sent what was refused (the relay
/// caught lying, when the refusal proves it) and whose chain it was about.
async fn sync_alarms(State(s): S, Query(p): Query<PageQuery>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.ledger.sync_alarms(p.page()).await?))
}

/// The state of this node's link to its parent.
/// This node, its parent and its link upward (none at the top).
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct LinkAnswer {
    node: NodeCode,
    parent: Option<NodeCode>,
    link: Option<crate::link::LinkStatus>,
    /// Restored from a backup behind what was acknowledged of the own
    /// chain: local writes are refused until it is taken back.
    restored: Option<crate::ledger::restored::Restored>,
    /// The highest seq of the own chain a holder has acknowledged.
    acknowledged_own_seq: Option<u64>,
}

async fn sync_link(State(s): S) -> ApiResult<impl IntoResponse> {
    Ok(Json(LinkAnswer {
        node: s.ledger.identity().code,
        parent: s.ledger.identity().parent,
        link: s.link.as_ref().map(|l| l.get()),
        restored: s.ledger.restored(),
        acknowledged_own_seq: s.ledger.ack_mark().acknowledged().map(|(seq, _)| seq),
    }))
}
