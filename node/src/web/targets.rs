//! The performance-target cycle (绩效目标 审核 → 批复 → 备案, seed 003
//! 第七–九条): `/projects/{origin}/{code}/targets`, a project's targets with
//! where each stands and every submission of them (the old value kept,
//! each review's three criteria and reasons, each approval's 文号), with
//! three forms for this node's own projects:
//!
//! - review (审核, `ReviewTargets`): necessity (必要性), relevance (相关性)
//!   and fit to the money (匹配性), each passed or not, with the reasons;
//!   it decides every submission awaiting review;
//! - approval (批复, `ApproveTargets`): the 文号 and date; it approves every
//!   reviewed submission;
//! - adjustment (调整, `ManageProjects`, the project's department): a target
//!   submitted again with a new value and the reason; it goes through the
//!   same two steps, the approved value staying in force until then.
//!
//! `/targets/filings` is the 备案 list: every approved target this node
//! holds, its own and its descendants' (they roll up), narrowed to the
//! reader's scope as the project list is. Its JSON twins are
//! `api/targets.rs`.
//!
//! Each form carries a random key (`form_key`) and records through
//! `Ledger::submit_keyed`, as the desk's forms do, so a refresh or a double
//! click records once; a refusal is shown in Chinese next to its field and
//! records nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Form};
use fundsync_protocol::body::{
    TargetAdjusted, TargetOp, TargetsApproved, TargetsReviewed, CODE_CHARS_MAX, TEXT_CHARS_MAX,
};
use fundsync_protocol::{Actor, Body, EntryId, NodeCode};
use maud::{html, Markup};
use rust_decimal::Decimal;

use super::desk::{key_fresh, new_key, KEY_FIELD};
use super::form::{field, hidden, post_form, submit, Field, FieldError, InputKind};
use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::lists::actor;
use super::projects::{
    approval_class, approval_label, date_error, detail_href, form_map, get, label_of, op_sign,
    own_project, parse_date, parse_decimal, parse_serde, scope_of, too_long, unprocessable,
    visible_project, LEVEL2, OPS,
};
use super::text::Lang;
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::accounts::User;
use crate::http::auth::see_other;
use crate::http::{Acting, AppState, Routes};
use crate::ledger::query::{FilingFilter, Page, ProjectView, SubmissionView, PAGE_SIZE_MAX};
use crate::ledger::{FormKey, LedgerError};

type S = State<Arc<AppState>>;

/// The cycle's pages and forms, each with its permission.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/targets/filings", P::ReadLedger, filings_page)
        .get(
            "/projects/{origin}/{code}/targets",
            P::ReadLedger,
            cycle_page,
        )
        .post(
            "/projects/{origin}/{code}/targets/review",
            P::ReviewTargets,
            review_submit,
        )
        .post(
            "/projects/{origin}/{code}/targets/approval",
            P::ApproveTargets,
            approval_submit,
        )
        .post(
            "/projects/{origin}/{code}/targets/adjustment",
            P::ManageProjects,
            adjustment_submit,
        )
}

fn verdict(l: Lang, v: Option<i64>) -> &'static str {
    match v {
        Some(1) => l.t("通过", "Passed"),
        Some(_) => l.t("不通过", "Failed"),
        None => "—",
    }
}

/// The review form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct ReviewForm {
    pub necessity: String,
    pub relevance: String,
    pub fit: String,
    pub reasons: String,
    pub reviewed_on: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The approval form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct ApprovalForm {
    pub doc_no: String,
    pub approved_on: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The adjustment form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct AdjustmentForm {
    pub target: String,
    pub op: String,
    pub value: String,
    pub reason: String,
    pub adjusted_on: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// A project's target cycle page.
#[derive(Debug)]
pub struct CyclePage {
    pub project: ProjectView,
    pub submissions: Vec<SubmissionView>,
    /// The reader may review, approve, adjust (their roles; the project is
    /// this node's own; adjusting: of their department).
    pub may_review: bool,
    pub may_approve: bool,
    pub may_adjust: bool,
    /// The forms' key (one per page shown).
    pub key: String,
    pub review: ReviewForm,
    pub approval: ApprovalForm,
    pub adjustment: AdjustmentForm,
    pub done: Option<(&'static str, &'static str)>,
}

fn cycle_href(origin: &str, code: &str) -> String {
    format!("{}/targets", detail_href(origin, code))
}

/// `/projects/{origin}/{code}/targets`.
pub fn cycle_render(c: &Chrome, d: &CyclePage) -> Markup {
    let l = c.lang;
    let p = &d.project;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let base = cycle_href(&p.origin, &p.code);
    let targets = p.targets.as_deref().unwrap_or(&[]);
    let awaiting_review = d
        .submissions
        .iter()
        .filter(|s| s.state == "submitted")
        .count();
    let awaiting_approval = d
        .submissions
        .iter()
        .filter(|s| s.state == "reviewed")
        .count();
    let pass_options: [(&str, &str); 3] = [
        ("", l.t("请选择", "Choose")),
        ("pass", l.t("通过", "Passed")),
        ("fail", l.t("不通过", "Failed")),
    ];
    let op_options: Vec<(&str, &str)> = OPS.to_vec();
    let target_options: Vec<(String, String)> = targets
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                format!(
                    "{} · {} {} {}{}",
                    label_of(l, &LEVEL2, &t.level2),
                    t.indicator,
                    op_sign(&t.op),
                    t.value,
                    t.unit
                ),
            )
        })
        .collect();
    let target_options: Vec<(&str, &str)> = std::iter::once(("", l.t("请选择", "Choose")))
        .chain(target_options.iter().map(|(a, b)| (a.as_str(), b.as_str())))
        .collect();
    let (rf, af, jf) = (&d.review, &d.approval, &d.adjustment);
    let body = html! {
        @if let Some((zh, en)) = d.done {
            div class="note" { (l.t(zh, en)) }
        }
        p {
            a href=(detail_href(&p.origin, &p.code)) { (l.t("← 返回项目", "← Back to the project")) }
            " · "
            a href="/targets/filings" { (l.t("绩效目标备案", "Filed targets")) }
        }
        h2 { (l.t("绩效目标", "Performance targets")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("二级指标", "Level 2")) }
                    th { (l.t("三级指标", "Level 3 indicator")) }
                    th class="num" { (l.t("目标值（现行）", "Target (in force)")) }
                    th { (l.t("状态", "State")) }
                    th { (l.t("批复文号", "Approval")) }
                } }
                tbody {
                    @for t in targets {
                        tr {
                            td { (label_of(l, &LEVEL2, &t.level2)) }
                            td { (t.indicator) }
                            td class="num nowrap" { (op_sign(&t.op)) " " (t.value) (t.unit) }
                            td { span class={ "st " (approval_class(&t.approval)) } { (approval_label(l, &t.approval)) } }
                            td { (t.approved_doc.as_deref().unwrap_or("—")) }
                        }
                    }
                    @if targets.is_empty() {
                        tr { td colspan="5" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        h2 { (l.t("申报、审核与批复记录", "Submissions, reviews and approvals")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("申报", "Submission")) }
                    th { (l.t("指标", "Indicator")) }
                    th class="num" { (l.t("原值", "Old value")) }
                    th class="num" { (l.t("申报值", "Value")) }
                    th { (l.t("理由", "Reason")) }
                    th { (l.t("必要性", "Necessity")) }
                    th { (l.t("相关性", "Relevance")) }
                    th { (l.t("匹配性", "Fit")) }
                    th { (l.t("审核意见", "Review")) }
                    th { (l.t("批复", "Approval")) }
                    th { (l.t("状态", "State")) }
                } }
                tbody {
                    @for s in &d.submissions {
                        tr {
                            td class="nowrap" {
                                (if s.kind == "adjust" { l.t("调整", "Adjustment") } else { l.t("首次申报", "First") })
                                br; span class="muted" { (s.submitted_on.as_deref().unwrap_or("")) " " (actor(l, s.submitted_by.as_ref())) }
                            }
                            td { (s.indicator) }
                            td class="num nowrap" {
                                @match (&s.old_op, &s.old_value) {
                                    (Some(op), Some(v)) => { (op_sign(op)) " " (v) (s.unit) }
                                    _ => { "—" }
                                }
                            }
                            td class="num nowrap" { (op_sign(&s.op)) " " (s.value) (s.unit) }
                            td { (s.reason) }
                            td { (verdict(l, s.necessity)) }
                            td { (verdict(l, s.relevance)) }
                            td { (verdict(l, s.fit)) }
                            td {
                                (s.reasons.as_deref().unwrap_or(""))
                                @if let Some(on) = &s.reviewed_on {
                                    br; span class="muted nowrap" { (on) " " (actor(l, s.reviewed_by.as_ref())) }
                                }
                            }
                            td class="nowrap" {
                                (s.doc_no.as_deref().unwrap_or("—"))
                                @if let Some(on) = &s.approved_on {
                                    br; span class="muted" { (on) " " (actor(l, s.approved_by.as_ref())) }
                                }
                            }
                            td { span class={ "st " (approval_class(&s.state)) } { (approval_label(l, &s.state)) } }
                        }
                    }
                    @if d.submissions.is_empty() {
                        tr { td colspan="11" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        @if d.may_review {
            div class="card" {
                h2 { (l.t("审核", "Review")) " (" (awaiting_review) " " (l.t("项待审核", "awaiting")) ")" }
                @if awaiting_review == 0 {
                    p class="muted" { (l.t("没有待审核的绩效目标", "No target awaits review")) }
                    @if let Some(e) = rf.errors.get("form") { p class="error" { (e.text(l)) } }
                } @else {
                    (post_form(&format!("{base}/review"), csrf, html! {
                        (hidden(KEY_FIELD, &d.key))
                        div class="stack" {
                            (field(l, &Field::select("necessity", l.t("必要性", "Necessity"), &pass_options)
                                .value(&rf.necessity).required().error(rf.errors.get("necessity"))))
                            (field(l, &Field::select("relevance", l.t("相关性", "Relevance"), &pass_options)
                                .value(&rf.relevance).required().error(rf.errors.get("relevance"))))
                            (field(l, &Field::select("fit", l.t("与资金的匹配性", "Fit to the money"), &pass_options)
                                .value(&rf.fit).required().error(rf.errors.get("fit"))))
                            (field(l, &Field::input("reasons", l.t("审核意见（退回时必填）", "Reasons (required when returned)"), InputKind::Text)
                                .value(&rf.reasons).error(rf.errors.get("reasons"))))
                            (field(l, &Field::input("reviewed_on", l.t("审核日期", "Reviewed on"), InputKind::Date)
                                .value(&rf.reviewed_on).required().error(rf.errors.get("reviewed_on"))))
                            @if let Some(e) = rf.errors.get("form") { p class="error" { (e.text(l)) } }
                            div { (submit(l.t("提交审核意见", "Record the review"))) }
                        }
                    }))
                }
            }
        }
        @if d.may_approve {
            div class="card" {
                h2 { (l.t("批复", "Approval")) " (" (awaiting_approval) " " (l.t("项待批复", "awaiting")) ")" }
                @if awaiting_approval == 0 {
                    p class="muted" { (l.t("没有审核通过待批复的绩效目标", "No reviewed target awaits approval")) }
                    @if let Some(e) = af.errors.get("form") { p class="error" { (e.text(l)) } }
                } @else {
                    (post_form(&format!("{base}/approval"), csrf, html! {
                        (hidden(KEY_FIELD, &d.key))
                        div class="stack" {
                            (field(l, &Field::input("doc_no", l.t("批复文号", "Document number"), InputKind::Text)
                                .value(&af.doc_no).required().error(af.errors.get("doc_no"))))
                            (field(l, &Field::input("approved_on", l.t("批复日期", "Approved on"), InputKind::Date)
                                .value(&af.approved_on).required().error(af.errors.get("approved_on"))))
                            @if let Some(e) = af.errors.get("form") { p class="error" { (e.text(l)) } }
                            div { (submit(l.t("批复", "Approve"))) }
                        }
                    }))
                }
            }
        }
        @if d.may_adjust && !targets.is_empty() {
            div class="card" {
                h2 { (l.t("调整绩效目标", "Adjust a target")) }
                p class="muted" { (l.t("调整须重新审核、批复；批复前仍执行原目标值。审核退回的目标也在此修改后重新申报。",
                    "An adjustment is reviewed and approved again; the old value stays in force until then. A returned target is revised and submitted again here.")) }
                (post_form(&format!("{base}/adjustment"), csrf, html! {
                    (hidden(KEY_FIELD, &d.key))
                    div class="stack" {
                        (field(l, &Field::select("target", l.t("绩效指标", "Indicator"), &target_options)
                            .value(&jf.target).required().error(jf.errors.get("target"))))
                        (field(l, &Field::select("op", l.t("比较", "Comparison"), &op_options)
                            .value(&jf.op).required().error(jf.errors.get("op"))))
                        (field(l, &Field::input("value", l.t("新目标值", "New value"), InputKind::Text)
                            .value(&jf.value).required().error(jf.errors.get("value"))))
                        (field(l, &Field::input("reason", l.t("调整理由", "Reason"), InputKind::Text)
                            .value(&jf.reason).required().error(jf.errors.get("reason"))))
                        (field(l, &Field::input("adjusted_on", l.t("申报日期", "Submitted on"), InputKind::Date)
                            .value(&jf.adjusted_on).required().error(jf.errors.get("adjusted_on"))))
                        @if let Some(e) = jf.errors.get("form") { p class="error" { (e.text(l)) } }
                        div { (submit(l.t("提交调整", "Submit the adjustment"))) }
                    }
                }))
            }
        }
    };
    let title = format!(
        "{} · {}",
        p.name,
        l.t("绩效目标审核与批复", "Target review and approval")
    );
    page(c, Nav::Projects, &title, body)
}

async fn cycle_data(
    ctx: &Ctx,
    s: &AppState,
    origin: &str,
    code: &str,
) -> Result<CyclePage, WebError> {
    let (origin, project) = visible_project(s, ctx.user.as_ref(), origin, code).await?;
    let own = origin == s.ledger.identity().code;
    let may = |p: Permission| own && ctx.chrome.who.as_ref().is_some_and(|w| w.may(p));
    let department_ok = ctx
        .user
        .as_ref()
        .is_some_and(|u| match u.scope().department {
            Some(d) => !d.is_empty() && d == project.department,
            None => true,
        });
    let today = s.ledger.clock().today().to_string();
    let done = match ctx.param("done") {
        Some("review") => Some(("审核意见已记录。", "The review is recorded.")),
        Some("approval") => Some((
            "批复已记录，目标已备案上报。",
            "The approval is recorded and filed upward.",
        )),
        Some("adjustment") => Some((
            "调整已申报，待审核。",
            "The adjustment is submitted for review.",
        )),
        _ => None,
    };
    Ok(CyclePage {
        submissions: s.ledger.target_submissions(origin, code).await?,
        may_review: may(Permission::ReviewTargets),
        may_approve: may(Permission::ApproveTargets),
        may_adjust: may(Permission::ManageProjects) && department_ok,
        key: new_key(s.ledger.clock().now_ms()),
        review: ReviewForm {
            reviewed_on: today.clone(),
            ..ReviewForm::default()
        },
        approval: ApprovalForm {
            approved_on: today.clone(),
            ..ApprovalForm::default()
        },
        adjustment: AdjustmentForm {
            adjusted_on: today,
            op: ">=".into(),
            ..AdjustmentForm::default()
        },
        done,
        project,
    })
}

async fn cycle_page(
    ctx: Ctx,
    State(s): S,
    Path((origin, code)): Path<(String, String)>,
) -> Response {
    let r = cycle_data(&ctx, &s, &origin, &code)
        .await
        .map(|d| cycle_render(&ctx.chrome, &d));
    ctx.respond(r)
}

/// Which refused form to show again.
enum Refused {
    Review(ReviewForm),
    Approval(ApprovalForm),
    Adjustment(AdjustmentForm),
}

async fn refused(ctx: Ctx, s: &AppState, origin: &str, code: &str, form: Refused) -> Response {
    let r = cycle_data(&ctx, s, origin, code).await.map(|mut d| {
        match form {
            Refused::Review(f) => d.review = f,
            Refused::Approval(f) => d.approval = f,
            Refused::Adjustment(f) => d.adjustment = f,
        }
        cycle_render(&ctx.chrome, &d)
    });
    unprocessable(ctx.respond(r))
}

/// The project a review or approval acts on: this node's own, seen by
/// the reader (the finance bureau's desks are not bound to a department).
async fn own_for_decision(
    s: &AppState,
    u: &User,
    origin: &str,
    code: &str,
) -> Result<ProjectView, WebError> {
    own_project(s, u, origin, code).await
}

/// The form's key, if this node could have issued it lately.
fn form_key(s: &AppState, m: &HashMap<String, String>) -> Option<String> {
    let key = get(m, KEY_FIELD).trim().to_owned();
    key_fresh(&key, s.ledger.clock().now_ms()).then_some(key)
}

fn stale_key() -> FieldError {
    FieldError::new(
        "表单已过期，请刷新页面后重新填写",
        "The form is stale; reload the page and fill it in again",
    )
}

/// What the ledger refused, in Chinese, and the field it concerns.
fn ledger_field(e: &LedgerError, date_field: &'static str) -> (&'static str, FieldError) {
    let en = e.to_string();
    let (key, zh): (&'static str, String) = match e {
        LedgerError::TargetNotPending { state, .. } => (
            "form",
            format!(
                "该目标当前为“{}”，不在待审核状态（已有未办结的申报，或已审核）",
                approval_label(Lang::Zh, state)
            ),
        ),
        LedgerError::TargetNotReviewed { state, .. } => (
            "form",
            format!(
                "该目标当前为“{}”，未经审核通过，不能批复",
                approval_label(Lang::Zh, state)
            ),
        ),
        LedgerError::AlreadyApproved { doc_no, .. } => {
            ("doc_no", format!("该目标已按 {doc_no} 批复，不能重复批复"))
        }
        LedgerError::NotOwnTarget(_) => (
            "form",
            "这是其他节点的绩效目标；只能审核、批复本节点项目的目标".into(),
        ),
        LedgerError::UnknownTarget(_) => ("target", "本项目没有这个绩效指标".into()),
        LedgerError::UnknownSubmission(_) | LedgerError::SubmissionProject { .. } => {
            ("form", "申报记录不属于本项目，请刷新页面".into())
        }
        LedgerError::UnknownProject(_) => ("form", "本节点没有这个项目".into()),
        LedgerError::DateOutOfRange { from, to, .. } => {
            (date_field, format!("日期须在 {from} 至 {to} 之间"))
        }
        LedgerError::Body(_) => ("form", "填写内容不完整或过长，请检查".into()),
        LedgerError::Restored(r) => ("form", r.zh()),
        _ => {
            if e.code() == fundsync_protocol::ErrorCode::Internal {
                tracing::error!(error = %e, "a target form could not be recorded");
                return (
                    "form",
                    FieldError::new("内部错误，请查看节点日志", "internal error"),
                );
            }
            ("form", "无法登记，请检查填写内容".into())
        }
    };
    (key, FieldError::new(zh, en))
}

/// Records `body` under the form's key: once however often it is sent.
async fn record(
    s: &AppState,
    u: &User,
    key: &str,
    form: &str,
    body: Body,
    who: &Actor,
) -> Result<(), LedgerError> {
    let fk = FormKey {
        login: &u.login,
        key,
        form,
    };
    s.ledger.submit_keyed(&fk, &[body], who).await.map(|_| ())
}

fn pass(v: &str) -> Option<bool> {
    match v {
        "pass" => Some(true),
        "fail" => Some(false),
        _ => None,
    }
}

fn text_error(v: &str, max: usize, required: bool) -> Option<FieldError> {
    if required && v.trim().is_empty() {
        return Some(FieldError::new("此项必填", "Required"));
    }
    (v.chars().count() > max || v.chars().any(char::is_control)).then(|| too_long(max))
}

async fn review_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let p = match own_for_decision(&s, &u, &origin, &code).await {
        Ok(p) => p,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let mut form = ReviewForm {
        necessity: get(&m, "necessity").to_owned(),
        relevance: get(&m, "relevance").to_owned(),
        fit: get(&m, "fit").to_owned(),
        reasons: get(&m, "reasons").trim().to_owned(),
        reviewed_on: get(&m, "reviewed_on").trim().to_owned(),
        errors: HashMap::new(),
    };
    let choose = || FieldError::new("请选择通过或不通过", "Choose passed or failed");
    let necessity = pass(&form.necessity);
    let relevance = pass(&form.relevance);
    let fit = pass(&form.fit);
    for (k, v) in [
        ("necessity", necessity),
        ("relevance", relevance),
        ("fit", fit),
    ] {
        if v.is_none() {
            form.errors.insert(k, choose());
        }
    }
    let passed = necessity == Some(true) && relevance == Some(true) && fit == Some(true);
    let all_chosen = necessity.is_some() && relevance.is_some() && fit.is_some();
    if all_chosen && !passed && form.reasons.is_empty() {
        form.errors.insert(
            "reasons",
            FieldError::new(
                "审核不通过时须填写退回理由",
                "Give the reasons when the review does not pass",
            ),
        );
    } else if let Some(e) = text_error(&form.reasons, TEXT_CHARS_MAX, false) {
        form.errors.insert("reasons", e);
    }
    let on = parse_date(&form.reviewed_on);
    if on.is_none() {
        form.errors.insert("reviewed_on", date_error());
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some(necessity), Some(relevance), Some(fit), Some(on), Some(key), true) =
        (necessity, relevance, fit, on, key, form.errors.is_empty())
    else {
        return refused(ctx, &s, &origin, &code, Refused::Review(form)).await;
    };
    let submissions = match s.ledger.submissions_standing(&p.code, "submitted").await {
        Ok(v) => v,
        Err(e) => return ctx.respond(Err(e.into())),
    };
    let body = Body::TargetsReviewed(TargetsReviewed {
        project: p.code.clone(),
        submissions,
        reviewed_on: on,
        necessity,
        relevance,
        fit,
        reasons: form.reasons.clone(),
    });
    if let Err(e) = record(&s, &u, &key, "targets/review", body, &who).await {
        let (k, err) = ledger_field(&e, "reviewed_on");
        form.errors.insert(k, err);
        return refused(ctx, &s, &origin, &code, Refused::Review(form)).await;
    }
    see_other(&url(
        &cycle_href(&p.origin, &p.code),
        &[("done", "review".into())],
    ))
}

async fn approval_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let p = match own_for_decision(&s, &u, &origin, &code).await {
        Ok(p) => p,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let mut form = ApprovalForm {
        doc_no: get(&m, "doc_no").trim().to_owned(),
        approved_on: get(&m, "approved_on").trim().to_owned(),
        errors: HashMap::new(),
    };
    if let Some(e) = text_error(&form.doc_no, CODE_CHARS_MAX, true) {
        form.errors.insert("doc_no", e);
    }
    let on = parse_date(&form.approved_on);
    if on.is_none() {
        form.errors.insert("approved_on", date_error());
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some(on), Some(key), true) = (on, key, form.errors.is_empty()) else {
        return refused(ctx, &s, &origin, &code, Refused::Approval(form)).await;
    };
    let submissions = match s.ledger.submissions_standing(&p.code, "reviewed").await {
        Ok(v) => v,
        Err(e) => return ctx.respond(Err(e.into())),
    };
    if submissions.is_empty() {
        form.errors.insert(
            "form",
            FieldError::new(
                "没有审核通过待批复的绩效目标；须先审核",
                "No target has passed review; review them first",
            ),
        );
        return refused(ctx, &s, &origin, &code, Refused::Approval(form)).await;
    }
    let body = Body::TargetsApproved(TargetsApproved {
        project: p.code.clone(),
        submissions,
        doc_no: form.doc_no.clone(),
        approved_on: on,
    });
    if let Err(e) = record(&s, &u, &key, "targets/approval", body, &who).await {
        let (k, err) = ledger_field(&e, "approved_on");
        form.errors.insert(k, err);
        return refused(ctx, &s, &origin, &code, Refused::Approval(form)).await;
    }
    see_other(&url(
        &cycle_href(&p.origin, &p.code),
        &[("done", "approval".into())],
    ))
}

async fn adjustment_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    // Of the reader's own department, as the project's other forms.
    let p = match own_project(&s, &u, &origin, &code).await {
        Ok(p) => p,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let mut form = AdjustmentForm {
        target: get(&m, "target").trim().to_owned(),
        op: get(&m, "op").trim().to_owned(),
        value: get(&m, "value").trim().to_owned(),
        reason: get(&m, "reason").trim().to_owned(),
        adjusted_on: get(&m, "adjusted_on").trim().to_owned(),
        errors: HashMap::new(),
    };
    let target = p
        .targets
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|t| t.id == form.target)
        .and_then(|t| EntryId::from_str(&t.id).ok());
    if target.is_none() {
        form.errors.insert(
            "target",
            FieldError::new(
                "请选择本项目的绩效指标",
                "Choose one of this project's indicators",
            ),
        );
    }
    let op = parse_serde::<TargetOp>(&form.op);
    if op.is_none() {
        form.errors.insert(
            "op",
            FieldError::new("请选择比较方式", "Choose a comparison"),
        );
    }
    let value: Option<Decimal> = parse_decimal(&form.value);
    if value.is_none() {
        form.errors.insert(
            "value",
            FieldError::new(
                "请填写数值，如 98 或 475.5",
                "Enter a number, such as 98 or 475.5",
            ),
        );
    }
    if let Some(e) = text_error(&form.reason, TEXT_CHARS_MAX, true) {
        form.errors.insert("reason", e);
    }
    let on = parse_date(&form.adjusted_on);
    if on.is_none() {
        form.errors.insert("adjusted_on", date_error());
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some(target), Some(op), Some(value), Some(on), Some(key), true) =
        (target, op, value, on, key, form.errors.is_empty())
    else {
        return refused(ctx, &s, &origin, &code, Refused::Adjustment(form)).await;
    };
    let body = Body::TargetAdjusted(TargetAdjusted {
        target,
        op,
        value,
        reason: form.reason.clone(),
        adjusted_on: on,
    });
    if let Err(e) = record(&s, &u, &key, "targets/adjustment", body, &who).await {
        let (k, err) = match &e {
            LedgerError::TargetNotPending { state, .. } => (
                "target",
                FieldError::new(
                    format!(
                        "该目标已有一次申报尚未办结（{}），办结后才能再次调整",
                        approval_label(Lang::Zh, state)
                    ),
                    e.to_string(),
                ),
            ),
            _ => ledger_field(&e, "adjusted_on"),
        };
        form.errors.insert(k, err);
        return refused(ctx, &s, &origin, &code, Refused::Adjustment(form)).await;
    }
    see_other(&url(
        &cycle_href(&p.origin, &p.code),
        &[("done", "adjustment".into())],
    ))
}

// ---------------------------------------------------------------- filings

/// The 备案 list page.
#[derive(Debug)]
pub struct FilingsPage {
    pub items: Vec<SubmissionView>,
    pub page: u32,
    pub has_more: bool,
    pub origin: Option<String>,
    /// Node code → name.
    pub names: HashMap<String, String>,
}

/// `/targets/filings`.
pub fn filings_render(c: &Chrome, d: &FilingsPage) -> Markup {
    let l = c.lang;
    let body = html! {
        p class="muted" { (l.t(
            "经审核、批复的绩效目标逐级报送备案（本级及所辖各级），按批复日期排列。",
            "Targets reviewed and approved, filed upward (this node's and its subtree's), newest approval first.")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("批复日期", "Approved on")) }
                    th { (l.t("批复文号", "Document")) }
                    th { (l.t("单位", "Node")) }
                    th { (l.t("项目", "Project")) }
                    th { (l.t("主管科室", "Department")) }
                    th { (l.t("三级指标", "Indicator")) }
                    th class="num" { (l.t("目标值", "Target")) }
                    th class="num" { (l.t("调整前", "Before")) }
                    th { (l.t("批复人", "Approved by")) }
                } }
                tbody {
                    @for s in &d.items {
                        tr {
                            td class="nowrap" { (s.approved_on.as_deref().unwrap_or("")) }
                            td class="nowrap" { (s.doc_no.as_deref().unwrap_or("")) }
                            td { (d.names.get(&s.origin).map_or(s.origin.as_str(), String::as_str)) }
                            td { a href=(cycle_href(&s.origin, &s.project)) { (s.project_name) } }
                            td { (s.department) }
                            td { (s.indicator) }
                            td class="num nowrap" { (op_sign(&s.op)) " " (s.value) (s.unit) }
                            td class="num nowrap" {
                                @match (&s.old_op, &s.old_value) {
                                    (Some(op), Some(v)) => { (op_sign(op)) " " (v) (s.unit) }
                                    _ => { "—" }
                                }
                            }
                            td class="nowrap" { (actor(l, s.approved_by.as_ref())) }
                        }
                    }
                    @if d.items.is_empty() {
                        tr { td colspan="9" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        @if d.has_more || d.page > 1 {
            p {
                @if d.page > 1 {
                    a href=(url("/targets/filings", &filing_query(d, d.page - 1))) { (l.t("← 上一页", "← Previous")) } " "
                }
                @if d.has_more {
                    a href=(url("/targets/filings", &filing_query(d, d.page + 1))) { (l.t("下一页 →", "Next →")) }
                }
            }
        }
    };
    page(
        c,
        Nav::Projects,
        l.t("绩效目标备案", "Filed performance targets"),
        body,
    )
}

fn filing_query(d: &FilingsPage, page: u32) -> Vec<(&'static str, String)> {
    let mut q = vec![("page", page.to_string())];
    if let Some(o) = &d.origin {
        q.push(("origin", o.clone()));
    }
    q
}

async fn filings_data(ctx: &Ctx, s: &AppState) -> Result<FilingsPage, WebError> {
    let origin = match ctx.param("origin").filter(|v| !v.is_empty()) {
        Some(v) => Some(
            v.parse::<NodeCode>()
                .map_err(|_| WebError::bad_param("origin", v))?,
        ),
        None => None,
    };
    let page = match ctx.param("page") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| WebError::bad_param("page", v))?,
        None => 1,
    };
    let r = s
        .ledger
        .target_filings(
            FilingFilter {
                origin,
                project: None,
                scope: scope_of(ctx.user.as_ref()),
            },
            Page {
                page,
                page_size: super::PAGE_SIZE_DEFAULT.min(PAGE_SIZE_MAX),
            },
        )
        .await?;
    Ok(FilingsPage {
        items: r.items,
        page: r.page,
        has_more: r.has_more,
        origin: origin.map(|o| o.to_string()),
        names: super::node_names(&s.ledger).await?,
    })
}

async fn filings_page(ctx: Ctx, State(s): S) -> Response {
    let r = filings_data(&ctx, &s)
        .await
        .map(|d| filings_render(&ctx.chrome, &d));
    ctx.respond(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_approval_state_has_a_label_in_both_languages() {
        for s in ["submitted", "returned", "reviewed", "approved"] {
            assert_ne!(approval_label(Lang::Zh, s), "?");
            assert_ne!(approval_label(Lang::En, s), "?");
        }
        assert_eq!(approval_label(Lang::Zh, "approved"), "已批复");
    }

    #[test]
    fn refusals_land_on_their_field_in_chinese() {
        let id: EntryId = "652822-3".parse().expect("id");
        let (k, e) = ledger_field(
            &LedgerError::AlreadyApproved {
                submission: id,
                doc_no: "轮财绩〔2020〕1号".into(),
            },
            "approved_on",
        );
        assert_eq!(k, "doc_no");
        assert!(e.zh.contains("不能重复批复"), "{e:?}");
        let (k, e) = ledger_field(
            &LedgerError::TargetNotReviewed {
                submission: id,
                state: "submitted".into(),
            },
            "approved_on",
        );
        assert_eq!(k, "form");
        assert!(e.zh.contains("未经审核"), "{e:?}");
    }
}
