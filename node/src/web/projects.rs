//! The project library (项目库): `/projects`, the list with status and
//! spending progress (支出进度: paid ÷ the project's funds) and its filters;
//! `/projects/{origin}/{code}`, a project with its three-level performance
//! targets, every actual recorded with its note, the allocations its
//! payments draw on, the payments and the warnings, each linked to its trace;
//! and the forms of the department desks (项目与绩效目标): register a project
//! with its targets (`/projects/new`), change its status, record an actual,
//! add a target (新增绩效目标, recorded once by its form key).
//!
//! What a reader sees is narrowed to their scope (`access::Scope`): a
//! department officer their department's projects, classified (涉密) ones
//! only with the grant (see `ledger::query::ProjectFilter`). A form that is
//! refused shows why in Chinese next to the field and records nothing; a
//! form sent twice records once, by natural keys: the project's code (the
//! same project again shows the one registered), an actual's target, date,
//! figure and note.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use chrono::NaiveDate;
use fundsync_protocol::body::{
    ProjectRegistered, ProjectStatus, ProjectStatusChanged, TargetActualRecorded, TargetLevel1,
    TargetLevel2, TargetOp, TargetSet, CODE_CHARS_MAX, EVIDENCE_CHARS_MAX, TEXT_CHARS_MAX,
};
use fundsync_protocol::{Actor, Amount, Body, EntryId, ErrorCode, NodeCode};
use maud::{html, Markup};
use rust_decimal::Decimal;

use super::desk::{key_fresh, new_key, KEY_FIELD};
use super::form::{field, hidden, post_form, submit, Field, FieldError, InputKind};
use super::html::{url, url_encode};
use super::layout::{page, Chrome, Nav};
use super::lists::actor;
use super::text::{percent, scale_to, wan2, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::{Permission, Scope};
use crate::accounts::User;
use crate::http::auth::see_other;
use crate::http::{Acting, ApiError, AppState, Routes};
use crate::ledger::query::{
    ActualView, Funding, Page, PaymentFilter, PaymentView, ProjectFilter, ProjectView, WarningView,
};
use crate::ledger::{FormKey, LedgerError, Outcome};

type S = State<Arc<AppState>>;

/// Target rows a registration form holds at most.
pub const TARGET_ROWS_MAX: usize = 30;
/// Payments a project's page lists (the rest through the payment list).
const DETAIL_PAYMENTS_MAX: u32 = 50;
/// Warnings a project's page lists.
const DETAIL_WARNINGS_MAX: u32 = 50;

/// The project library's pages and forms, added to the other pages.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/projects", P::ReadLedger, list_page)
        .get("/projects/new", P::ManageProjects, new_page)
        .post("/projects/new", P::ManageProjects, new_submit)
        .get("/projects/{origin}/{code}", P::ReadLedger, detail_page)
        .post(
            "/projects/{origin}/{code}/status",
            P::ManageProjects,
            status_submit,
        )
        .post(
            "/projects/{origin}/{code}/actual",
            P::ManageProjects,
            actual_submit,
        )
        .post(
            "/projects/{origin}/{code}/targets",
            P::ManageProjects,
            target_submit,
        )
}

// ---------------------------------------------------------------- labels

/// Where a target or one of its submissions stands in the review and
/// approval cycle (`web/targets.rs`), as the bureaus say it.
pub fn approval_label(l: Lang, state: &str) -> &'static str {
    match state {
        "submitted" => l.t("待审核", "Awaiting review"),
        "returned" => l.t("审核退回", "Returned"),
        "reviewed" => l.t("审核通过，待批复", "Reviewed, awaiting approval"),
        "approved" => l.t("已批复", "Approved"),
        _ => "?",
    }
}

/// The CSS class of a cycle state's badge.
pub fn approval_class(state: &str) -> &'static str {
    match state {
        "approved" => "ok",
        "returned" => "silent",
        _ => "muted",
    }
}

/// A status as the bureaus say it.
pub fn status_label(l: Lang, status: &str) -> &'static str {
    match status {
        "planned" => l.t("计划", "Planned"),
        "in_progress" => l.t("实施中", "In progress"),
        "completed" => l.t("已完工", "Completed"),
        "cancelled" => l.t("已取消", "Cancelled"),
        _ => "?",
    }
}

const STATUSES: [&str; 4] = ["planned", "in_progress", "completed", "cancelled"];

/// 一级指标 (seed 003 §9).
pub(super) const LEVEL1: [(&str, &str, &str); 3] = [
    ("output", "产出指标", "Output"),
    ("effect", "效益指标", "Effect"),
    ("satisfaction", "满意度指标", "Satisfaction"),
];

/// 二级指标 (seed 003 §9), each under its 一级.
pub(super) const LEVEL2: [(&str, &str, &str); 9] = [
    ("quantity", "数量指标", "Quantity"),
    ("quality", "质量指标", "Quality"),
    ("timeliness", "时效指标", "Timeliness"),
    ("cost", "成本指标", "Cost"),
    ("economic", "经济效益指标", "Economic effect"),
    ("social", "社会效益指标", "Social effect"),
    ("ecological", "生态效益指标", "Ecological effect"),
    ("sustainable", "可持续影响指标", "Sustainable impact"),
    (
        "beneficiary",
        "服务对象满意度指标",
        "Beneficiary satisfaction",
    ),
];

/// The comparisons a target may make.
pub(super) const OPS: [(&str, &str); 5] =
    [(">=", "≥"), ("<=", "≤"), ("=", "="), (">", ">"), ("<", "<")];

pub(super) fn label_of(
    l: Lang,
    table: &[(&'static str, &'static str, &'static str)],
    v: &str,
) -> String {
    table
        .iter()
        .find(|(k, _, _)| *k == v)
        .map_or_else(|| v.to_owned(), |(_, zh, en)| l.t(zh, en).to_owned())
}

pub(super) fn op_sign(op: &str) -> &str {
    OPS.iter().find(|(k, _)| *k == op).map_or(op, |(_, s)| s)
}

/// A unit enum from its serde name ("output", "quantity", ">=").
pub(super) fn parse_serde<T: serde::de::DeserializeOwned>(v: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(v.to_owned())).ok()
}

fn options(
    l: Lang,
    table: &[(&'static str, &'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    table.iter().map(|(k, zh, en)| (*k, l.t(zh, en))).collect()
}

// ---------------------------------------------------------------- list

/// The list page's data.
#[derive(Debug, Default)]
pub struct ListPage {
    pub items: Vec<ProjectView>,
    pub page: u32,
    pub page_size: u32,
    pub has_more: bool,
    /// The filters given, as query pairs (kept by the pager).
    pub filters: Vec<(String, String)>,
    /// The categories the reader may filter by: code, name.
    pub categories: Vec<(String, String)>,
    /// Node code → name.
    pub names: HashMap<String, String>,
    /// The reader may register projects.
    pub may_register: bool,
}

fn param<'a>(filters: &'a [(String, String)], key: &str) -> &'a str {
    filters
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// 支出进度: paid ÷ the project's funds, as text and a bar.
fn progress(l: Lang, paid: Decimal, funds: Decimal) -> Markup {
    match percent(paid, funds) {
        Some(p) => {
            let w = scale_to(paid, funds, 100);
            html! {
                span class="progress" title={ (yuan(paid)) " / " (yuan(funds)) " " (l.t("元", "yuan")) } {
                    span class="bar" { i style={ "width:" (w) "%" } {} }
                    " " (p)
                }
            }
        }
        None => html! { span class="muted" { "—" } },
    }
}

/// The project's page.
pub fn detail_href(origin: &str, code: &str) -> String {
    format!("/projects/{}/{}", url_encode(origin), url_encode(code))
}

/// `/projects`.
pub fn list_render(c: &Chrome, p: &ListPage) -> Markup {
    let l = c.lang;
    let statuses: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(STATUSES.iter().map(|s| (*s, status_label(l, s))))
        .collect();
    let cats: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(p.categories.iter().map(|(k, n)| (k.as_str(), n.as_str())))
        .collect();
    let link = |page: u32| {
        let mut q: Vec<(&str, String)> = p
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.push(("page", page.to_string()));
        q.push(("page_size", p.page_size.to_string()));
        url("/projects", &q)
    };
    let body = html! {
        @if p.may_register {
            p { a class="button" href="/projects/new" { (l.t("登记项目", "Register a project")) } }
        }
        p class="sub" { a href="/evaluation" { (l.t("年度绩效自评、自评报告与抽查", "Year-end self-evaluation, reports and spot checks")) } }
        div class="card" {
            (super::form::filter_form("/projects", html! {
                (field(l, &Field::select("status", l.t("状态", "Status"), &statuses).value(param(&p.filters, "status"))))
                (field(l, &Field::select("category", l.t("资金类别", "Fund category"), &cats).value(param(&p.filters, "category"))))
                (field(l, &Field::input("department", l.t("主管科室", "Department"), InputKind::Text).value(param(&p.filters, "department"))))
                (field(l, &Field::input("place", l.t("乡镇/村", "Township/village"), InputKind::Text).value(param(&p.filters, "place"))))
                div { (submit(l.t("筛选", "Filter"))) " " a href="/projects" { (l.t("清除筛选", "clear")) } }
            }))
        }
        p class="sub" {
            (l.t("金额单位：万元（悬停显示元）。支出进度 = 已支付 ÷ 项目资金。",
                 "Amounts in 万元 (hover for yuan). Spending progress = paid ÷ the project's funds."))
        }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("项目编码", "Code")) }
                    th { (l.t("项目名称", "Name")) }
                    th { (l.t("单位", "Node")) }
                    th { (l.t("乡镇/村", "Township/village")) }
                    th { (l.t("主管科室", "Department")) }
                    th class="num" { (l.t("项目资金", "Funds")) }
                    th class="num" { (l.t("已支付", "Paid")) }
                    th { (l.t("支出进度", "Spending progress")) }
                    th { (l.t("绩效目标", "Targets")) }
                    th { (l.t("状态", "Status")) }
                } }
                tbody {
                    @for pr in &p.items {
                        tr {
                            td class="nowrap" { a href=(detail_href(&pr.origin, &pr.code)) { (pr.code) } }
                            td { a href=(detail_href(&pr.origin, &pr.code)) { (pr.name) } }
                            td class="nowrap" { (p.names.get(&pr.origin).map_or(pr.origin.as_str(), String::as_str)) }
                            td { (pr.township) @if !pr.village.is_empty() { " " (pr.village) } }
                            td { (pr.department) }
                            td class="num" title={ (yuan(pr.budget)) " 元" } { (wan2(pr.budget)) }
                            td class="num" title={ (yuan(pr.paid)) " 元" } { (wan2(pr.paid)) }
                            td class="nowrap" { (progress(l, pr.paid, pr.budget)) }
                            td class="num" { (pr.target_count) }
                            td { span class={ "st " (status_class(&pr.status)) } { (status_label(l, &pr.status)) } }
                        }
                    }
                    @if p.items.is_empty() {
                        tr { td colspan="10" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        div class="pager" {
            @if p.page > 1 {
                a href=(link(p.page - 1)) { "← " (l.t("上一页", "Previous")) }
            }
            span class="muted" {
                (l.t("第", "Page")) " " (p.page) " " (l.t("页", "")) " · "
                (p.items.len()) " " (l.t("条", "rows"))
            }
            @if p.has_more {
                a href=(link(p.page + 1)) { (l.t("下一页", "Next")) " →" }
            }
        }
    };
    page(c, Nav::Projects, l.t("项目库", "Project library"), body)
}

pub(super) fn status_class(status: &str) -> &'static str {
    match status {
        "in_progress" => "self",
        "completed" => "ok",
        "cancelled" => "none",
        _ => "lagging",
    }
}

/// The reader's scope (nobody: nothing).
pub(super) fn scope_of(user: Option<&User>) -> Scope {
    match user {
        Some(u) => u.scope(),
        None => Scope {
            department: Some(String::new()),
            classified: false,
        },
    }
}

async fn list_page(ctx: Ctx, State(s): S) -> Response {
    let r = list_data(&ctx, &s)
        .await
        .map(|p| list_render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn list_data(ctx: &Ctx, s: &AppState) -> Result<ListPage, WebError> {
    let status = match ctx.param("status") {
        Some(v) if STATUSES.contains(&v) => Some(v.to_owned()),
        Some(v) => return Err(WebError::bad_param("status", v)),
        None => None,
    };
    let scope = scope_of(ctx.user.as_ref());
    let filter = ProjectFilter {
        origin: ctx.parsed("origin")?,
        status,
        category: ctx.param("category").map(str::to_owned),
        department: ctx.param("department").map(str::to_owned),
        place: ctx.param("place").map(str::to_owned),
        scope: scope.clone(),
    };
    let page = ctx.page()?;
    let got = s.ledger.project_list(filter, page).await?;
    let categories = s
        .ledger
        .categories()
        .await?
        .into_iter()
        .filter(|c| scope.covers(&c.department, c.classified))
        .map(|c| {
            let label = format!("{} {}", c.code, c.name);
            (c.code, label)
        })
        .collect();
    Ok(ListPage {
        items: got.items,
        page: got.page,
        page_size: got.page_size,
        has_more: got.has_more,
        filters: ctx.filters(&["origin", "status", "category", "department", "place"]),
        categories,
        names: super::node_names(&s.ledger).await?,
        may_register: ctx
            .chrome
            .who
            .as_ref()
            .is_some_and(|w| w.may(Permission::ManageProjects)),
    })
}

// ---------------------------------------------------------------- detail

/// The status form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct StatusForm {
    pub status: String,
    pub error: Option<FieldError>,
}

/// The actual form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct ActualForm {
    pub target: String,
    pub actual: String,
    pub recorded_on: String,
    pub note: String,
    /// 佐证材料: a document number or file reference (protocol version 6).
    pub evidence: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The 新增绩效目标 form as sent (one target row, its fields named
/// without a prefix), its idempotency key, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct TargetForm {
    pub row: TargetRow,
    /// The form's key (`web/desk.rs`): sent twice, it records once.
    pub key: String,
    pub errors: HashMap<String, FieldError>,
}

/// A project's page.
#[derive(Debug)]
pub struct DetailPage {
    pub project: ProjectView,
    pub node_name: String,
    pub actuals: Vec<ActualView>,
    pub funding: Vec<Funding>,
    pub payments: Vec<PaymentView>,
    pub payments_more: bool,
    pub warnings: Vec<WarningView>,
    /// Fund category code → name.
    pub categories: HashMap<String, String>,
    /// The reader may change it: their roles, their scope, and the project
    /// is this node's own (a node changes only its own chain).
    pub editable: bool,
    pub status_form: StatusForm,
    pub actual_form: ActualForm,
    pub target_form: TargetForm,
    /// What was just done (after a form's redirect).
    pub done: Option<(&'static str, &'static str)>,
}

fn target_label(l: Lang, t: &crate::ledger::query::TargetView) -> String {
    format!(
        "{} · {} {} {}{}",
        label_of(l, &LEVEL2, &t.level2),
        t.indicator,
        op_sign(&t.op),
        t.value,
        t.unit
    )
}

/// Whether `actual` meets the target.
fn met(t: &crate::ledger::query::TargetView, actual: &str) -> Option<bool> {
    let op: TargetOp = parse_serde(&t.op)?;
    let a = Decimal::from_str(actual).ok()?;
    let v = Decimal::from_str(&t.value).ok()?;
    Some(op.met(a, v))
}

fn warning_rule(l: Lang, rule: &str) -> String {
    match rule.parse::<crate::warnings::Rule>() {
        Ok(r) => {
            let (zh, en) = r.label();
            l.t(zh, en).to_owned()
        }
        Err(_) => rule.to_owned(),
    }
}

/// `/projects/{origin}/{code}`.
pub fn detail_render(c: &Chrome, d: &DetailPage) -> Markup {
    let l = c.lang;
    let p = &d.project;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let targets = p.targets.as_deref().unwrap_or(&[]);
    let base = detail_href(&p.origin, &p.code);
    let latest: HashMap<&str, &ActualView> =
        d.actuals.iter().map(|a| (a.target.as_str(), a)).collect();
    let target_names: HashMap<&str, String> = targets
        .iter()
        .map(|t| (t.id.as_str(), target_label(l, t)))
        .collect();
    let status_options: Vec<(&str, &str)> =
        STATUSES.iter().map(|s| (*s, status_label(l, s))).collect();
    let target_options: Vec<(String, String)> = targets
        .iter()
        .map(|t| (t.id.clone(), target_label(l, t)))
        .collect();
    let target_options: Vec<(&str, &str)> = std::iter::once(("", l.t("请选择", "Choose")))
        .chain(target_options.iter().map(|(a, b)| (a.as_str(), b.as_str())))
        .collect();
    let af = &d.actual_form;
    let body = html! {
        @if let Some((zh, en)) = d.done {
            div class="note" { (l.t(zh, en)) }
        }
        div class="card" {
            dl class="grid" {
                dt { (l.t("项目编码", "Code")) } dd { (p.code) }
                dt { (l.t("单位", "Node")) } dd { (d.node_name) " (" (p.origin) ")" }
                dt { (l.t("乡镇", "Township")) } dd { (p.township) }
                dt { (l.t("村", "Village")) } dd { (p.village) }
                dt { (l.t("主管科室", "Department")) } dd { (p.department) }
                dt { (l.t("起止日期", "Runs")) } dd { (p.starts_on) " — " (p.ends_on) }
                dt { (l.t("项目资金（元）", "Funds (yuan)")) } dd class="amount" { (yuan(p.budget)) }
                dt { (l.t("已支付（元）", "Paid (yuan)")) } dd class="amount" { (yuan(p.paid)) }
                dt { (l.t("支出进度", "Spending progress")) } dd { (progress(l, p.paid, p.budget)) }
                dt { (l.t("状态", "Status")) }
                dd { span class={ "st " (status_class(&p.status)) } { (status_label(l, &p.status)) } }
                dt { (l.t("录入人", "Registered by")) } dd { (actor(l, p.actor.as_ref())) }
                dt { (l.t("支付明细", "Payments")) }
                dd { a href=(url("/payments", &[("origin", p.origin.clone()), ("project", p.code.clone())])) { (l.t("全部支付", "All payments")) } }
            }
        }
        @if d.editable {
            div class="card" {
                (post_form(&format!("{base}/status"), csrf, html! {
                    div class="inline" {
                        (field(l, &Field::select("status", l.t("变更状态", "Change status"), &status_options)
                            .value(if d.status_form.status.is_empty() { &p.status } else { &d.status_form.status })
                            .error(d.status_form.error.as_ref())))
                        (submit(l.t("保存状态", "Save status")))
                    }
                }))
            }
        }
        h2 { (l.t("绩效目标", "Performance targets")) }
        p { a href={ (base) "/targets" } { (l.t("审核、批复、调整与备案记录 →", "Review, approval, adjustment and filing →")) } }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("一级指标", "Level 1")) }
                    th { (l.t("二级指标", "Level 2")) }
                    th { (l.t("三级指标", "Level 3 indicator")) }
                    th class="num" { (l.t("目标值", "Target")) }
                    th class="num" { (l.t("实际值", "Actual")) }
                    th { (l.t("日期", "On")) }
                    th { (l.t("完成情况", "Met")) }
                    th { (l.t("批复", "Approval")) }
                } }
                tbody {
                    @for t in targets {
                        @let a = latest.get(t.id.as_str());
                        tr {
                            td { (label_of(l, &LEVEL1, &t.level1)) }
                            td { (label_of(l, &LEVEL2, &t.level2)) }
                            td { (t.indicator) }
                            td class="num nowrap" { (op_sign(&t.op)) " " (t.value) (t.unit) }
                            @match a {
                                Some(a) => {
                                    td class="num nowrap" { (a.actual) (t.unit) }
                                    td class="nowrap" { (a.recorded_on) }
                                    td { @match met(t, &a.actual) {
                                        Some(true) => span class="st ok" { (l.t("达标", "Met")) },
                                        Some(false) => span class="st silent" { (l.t("未达标", "Not met")) },
                                        None => span class="muted" { "—" },
                                    } }
                                }
                                None => {
                                    td class="num muted" { "—" }
                                    td {}
                                    td class="muted" { (l.t("未填报", "Not reported")) }
                                }
                            }
                            td { span class={ "st " (approval_class(&t.approval)) } { (approval_label(l, &t.approval)) } }
                        }
                    }
                    @if targets.is_empty() {
                        tr { td colspan="8" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        @if d.editable {
            (target_form_render(l, csrf, &base, &d.target_form))
        }
        h2 { (l.t("实际值填报记录", "Actuals reported")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("日期", "On")) }
                    th { (l.t("指标", "Indicator")) }
                    th class="num" { (l.t("实际值", "Actual")) }
                    th { (l.t("说明", "Note")) }
                    th { (l.t("佐证材料", "Evidence")) }
                    th { (l.t("录入人", "Recorded by")) }
                } }
                tbody {
                    @for a in &d.actuals {
                        tr {
                            td class="nowrap" { (a.recorded_on) }
                            td { (target_names.get(a.target.as_str()).map_or(a.target.as_str(), String::as_str)) }
                            td class="num" { (a.actual) }
                            td { (a.note) }
                            td { (a.evidence) }
                            td class="nowrap" { (actor(l, a.actor.as_ref())) }
                        }
                    }
                    @if d.actuals.is_empty() {
                        tr { td colspan="6" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        @if d.editable && !targets.is_empty() {
            div class="card" {
                h2 { (l.t("填报实际值", "Record an actual")) }
                (post_form(&format!("{base}/actual"), csrf, html! {
                    div class="stack" {
                        (field(l, &Field::select("target", l.t("绩效指标", "Indicator"), &target_options)
                            .value(&af.target).required().error(af.errors.get("target"))))
                        (field(l, &Field::input("actual", l.t("实际值", "Actual value"), InputKind::Text)
                            .value(&af.actual).required().error(af.errors.get("actual"))))
                        (field(l, &Field::input("recorded_on", l.t("填报日期", "Date"), InputKind::Date)
                            .value(&af.recorded_on).required().error(af.errors.get("recorded_on"))))
                        (field(l, &Field::input("note", l.t("说明（佐证材料、偏差原因）", "Note (supporting material, reasons)"), InputKind::Text)
                            .value(&af.note).error(af.errors.get("note"))))
                        (field(l, &Field::input("evidence", l.t("佐证材料（文号或文件名）", "Evidence (document number or file)"), InputKind::Text)
                            .value(&af.evidence).error(af.errors.get("evidence"))))
                        div { (submit(l.t("填报", "Record"))) }
                    }
                }))
            }
        }
        h2 { (l.t("资金来源（指标）", "Funded by (allocations)")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("指标文号", "Document")) }
                    th { (l.t("资金类别", "Fund category")) }
                    th { (l.t("资金来源", "Fund source")) }
                    th class="num" { (l.t("指标金额（元）", "Allocation (yuan)")) }
                    th class="num" { (l.t("支付本项目（元）", "Paid to this project (yuan)")) }
                    th class="num" { (l.t("笔数", "Payments")) }
                } }
                tbody {
                    @for f in &d.funding {
                        @let a = &f.allocation;
                        tr {
                            td { a href=(url("/payments", &[("allocation", a.id.clone()), ("project", p.code.clone())])) { (a.doc_no) } }
                            td { (d.categories.get(&a.category).map_or(a.category.as_str(), String::as_str)) }
                            td { (l.fund_origin(&a.fund_origin)) }
                            td class="num" { (yuan(a.amount)) }
                            td class="num" { (yuan(f.paid)) }
                            td class="num" { (f.payments) }
                        }
                    }
                    @if d.funding.is_empty() {
                        tr { td colspan="6" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        h2 { (l.t("支付", "Payments")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("支付日期", "Paid on")) }
                    th { (l.t("凭证号", "Voucher")) }
                    th { (l.t("收款人", "Payee")) }
                    th class="num" { (l.t("金额（元）", "Amount (yuan)")) }
                    th { (l.t("用途", "Purpose")) }
                    th { (l.t("状态", "Status")) }
                } }
                tbody {
                    @for pay in &d.payments {
                        tr class=[pay.reversed_on.is_some().then_some("rev")] {
                            td class="nowrap" { (pay.paid_on) }
                            td class="keep nowrap" { a href={ "/trace/" (url_encode(&pay.id)) } { (pay.voucher_no) } }
                            td { (pay.payee_name) }
                            td class="num" { (yuan(pay.amount)) }
                            td { (pay.purpose) }
                            td class="keep" {
                                @if pay.reversed_on.is_some() {
                                    span class="st silent" { (l.t("已冲销", "Reversed")) }
                                } @else {
                                    span class="st ok" { (l.t("有效", "Valid")) }
                                }
                            }
                        }
                    }
                    @if d.payments.is_empty() {
                        tr { td colspan="6" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
        @if d.payments_more {
            p { a href=(url("/payments", &[("origin", p.origin.clone()), ("project", p.code.clone())])) { (l.t("更多支付 →", "More payments →")) } }
        }
        h2 { (l.t("预警", "Warnings")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("规则", "Rule")) }
                    th { (l.t("说明", "What")) }
                    th { (l.t("截至", "As of")) }
                    th { (l.t("状态", "State")) }
                } }
                tbody {
                    @for w in &d.warnings {
                        tr {
                            td class="nowrap" { a href=(url("/warnings", &[("rule", w.rule.clone()), ("node", w.node.clone())])) { (warning_rule(l, &w.rule)) } }
                            td {
                                ({
                                    let shown = crate::warnings::store::WarningShown::of(w.clone());
                                    match l { Lang::Zh => shown.text, Lang::En => shown.text_en }
                                })
                                " " a href={ "/warnings/" (url_encode(&w.id)) } { (l.t("整改", "follow-up")) }
                                @if let Some(pay) = w.subject.strip_prefix("payment:") {
                                    " " a href={ "/trace/" (url_encode(pay)) } { (l.t("追溯", "trace")) }
                                }
                            }
                            td class="nowrap" { (w.as_of) }
                            td { @if w.open { span class="st silent" { (l.t("未处理", "Open")) } } @else { span class="st ok" { (l.t("已解除", "Resolved")) } } }
                        }
                    }
                    @if d.warnings.is_empty() {
                        tr { td colspan="4" class="muted" { (l.t("暂无", "None")) } }
                    }
                }
            }
        }
    };
    page(c, Nav::Projects, &p.name, body)
}

fn not_found(what: &str) -> WebError {
    WebError::not_found("本节点没有这个项目", "No such project at this node", what)
}

/// The project, if it exists and the reader's scope sees it (else 404, so
/// that what is out of scope is not told apart from what does not exist).
pub(super) async fn visible_project(
    s: &AppState,
    user: Option<&User>,
    origin: &str,
    code: &str,
) -> Result<(NodeCode, ProjectView), WebError> {
    let what = format!("{origin}/{code}");
    let Ok(origin) = origin.parse::<NodeCode>() else {
        return Err(not_found(&what));
    };
    if !s
        .ledger
        .project_visible(origin, code, &scope_of(user))
        .await?
    {
        return Err(not_found(&what));
    }
    let p = s
        .ledger
        .project(origin, code)
        .await?
        .ok_or_else(|| not_found(&what))?;
    Ok((origin, p))
}

async fn detail_data(
    ctx: &Ctx,
    s: &AppState,
    origin: &str,
    code: &str,
) -> Result<DetailPage, WebError> {
    let (origin, project) = visible_project(s, ctx.user.as_ref(), origin, code).await?;
    let payments = s
        .ledger
        .payments(
            PaymentFilter {
                origin: Some(origin),
                project: Some(code.to_owned()),
                ..PaymentFilter::default()
            },
            Page {
                page: 1,
                page_size: DETAIL_PAYMENTS_MAX,
            },
        )
        .await?;
    let names = super::node_names(&s.ledger).await?;
    let editable = ctx
        .chrome
        .who
        .as_ref()
        .is_some_and(|w| w.may(Permission::ManageProjects))
        && origin == s.ledger.identity().code
        && ctx
            .user
            .as_ref()
            .is_some_and(|u| acts_for(u, &project.department));
    let done = match ctx.param("done") {
        Some("registered") => Some(("项目已登记。", "The project is registered.")),
        Some("existing") => Some((
            "该项目此前已登记，未重复记录。",
            "This project was registered before; nothing was recorded again.",
        )),
        Some("status") => Some(("状态已保存。", "The status is saved.")),
        Some("actual") => Some(("实际值已填报。", "The actual is recorded.")),
        Some("target") => Some((
            "绩效目标已新增，待审核。",
            "The target is added; it awaits review.",
        )),
        _ => None,
    };
    Ok(DetailPage {
        node_name: names.get(origin.as_str()).cloned().unwrap_or_default(),
        actuals: s.ledger.project_actuals(origin, code).await?,
        funding: s.ledger.project_funding(origin, code).await?,
        payments: payments.items,
        payments_more: payments.has_more,
        warnings: s
            .ledger
            .project_warnings(origin, code, DETAIL_WARNINGS_MAX)
            .await?,
        categories: super::categories(&s.ledger).await?,
        editable,
        status_form: StatusForm::default(),
        actual_form: ActualForm {
            recorded_on: s.ledger.clock().today().to_string(),
            ..ActualForm::default()
        },
        target_form: TargetForm {
            row: TargetRow::blank(),
            key: new_key(s.ledger.clock().now_ms()),
            errors: HashMap::new(),
        },
        done,
        project,
    })
}

async fn detail_page(
    ctx: Ctx,
    State(s): S,
    Path((origin, code)): Path<(String, String)>,
) -> Response {
    let r = detail_data(&ctx, &s, &origin, &code)
        .await
        .map(|d| detail_render(&ctx.chrome, &d));
    ctx.respond(r)
}

/// Whether `u` acts for a project of `department`: a department officer
/// only for their own department's.
fn acts_for(u: &User, department: &str) -> bool {
    match u.scope().department {
        Some(d) => !d.is_empty() && d == department,
        None => true,
    }
}

fn forbidden(zh: &'static str, en: &'static str, what: String) -> WebError {
    WebError {
        error: ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, what),
        zh,
        en,
    }
}

/// The project a form acts on: this node's own, seen by the reader, of
/// their department.
pub(super) async fn own_project(
    s: &AppState,
    user: &User,
    origin: &str,
    code: &str,
) -> Result<ProjectView, WebError> {
    let (origin, p) = visible_project(s, Some(user), origin, code).await?;
    if origin != s.ledger.identity().code {
        return Err(forbidden(
            "只能修改本节点登记的项目",
            "Only this node's own projects can be changed here",
            format!("the project is {origin}'s"),
        ));
    }
    if !acts_for(user, &p.department) {
        return Err(forbidden(
            "该项目属于其他科室，您只能办理本科室的项目",
            "The project belongs to another department; you act only for your own",
            format!("the project belongs to the department {:?}", p.department),
        ));
    }
    Ok(p)
}

/// The form's fields, the last value of each name.
pub(super) fn form_map(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    pairs.into_iter().collect()
}

pub(super) fn get<'a>(m: &'a HashMap<String, String>, k: &str) -> &'a str {
    m.get(k).map_or("", |v| v.as_str())
}

/// A refused form: its page again with the errors, 422.
pub(super) fn unprocessable(mut r: Response) -> Response {
    if r.status() == StatusCode::OK {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

async fn status_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let p = match own_project(&s, &u, &origin, &code).await {
        Ok(p) => p,
        Err(e) => return ctx.respond(Err(e)),
    };
    let f = form_map(f);
    let wanted = get(&f, "status").to_owned();
    let base = detail_href(&p.origin, &p.code);
    let Some(status) = parse_serde::<ProjectStatus>(&wanted) else {
        let form = StatusForm {
            status: wanted,
            error: Some(FieldError::new("请选择项目状态", "Choose a status")),
        };
        return refused_detail(ctx, &s, &origin, &code, Some(form), None, None).await;
    };
    // The status it already has: nothing to record (a form sent twice).
    if status.as_str() != p.status {
        let body = Body::ProjectStatusChanged(ProjectStatusChanged {
            project: p.code.clone(),
            status,
        });
        if let Err(e) = s.ledger.submit_one(body, &who).await {
            let form = StatusForm {
                status: wanted,
                error: Some(ledger_field_error(&e)),
            };
            return refused_detail(ctx, &s, &origin, &code, Some(form), None, None).await;
        }
    }
    see_other(&format!("{base}?done=status"))
}

/// The project's page again, with a refused form's values and errors.
async fn refused_detail(
    ctx: Ctx,
    s: &AppState,
    origin: &str,
    code: &str,
    status: Option<StatusForm>,
    actual: Option<ActualForm>,
    target: Option<TargetForm>,
) -> Response {
    let r = detail_data(&ctx, s, origin, code).await.map(|mut d| {
        if let Some(f) = status {
            d.status_form = f;
        }
        if let Some(f) = actual {
            d.actual_form = f;
        }
        if let Some(f) = target {
            d.target_form = f;
        }
        detail_render(&ctx.chrome, &d)
    });
    unprocessable(ctx.respond(r))
}

/// What the ledger refused, said in Chinese for the field it concerns.
fn ledger_field_error(e: &LedgerError) -> FieldError {
    let en = match e.code() {
        ErrorCode::Internal => "internal error".to_owned(),
        _ => e.to_string(),
    };
    if e.code() == ErrorCode::Internal {
        tracing::error!(error = %e, "a project form could not be recorded");
    }
    let zh = match e.code() {
        ErrorCode::DateOutOfRange => "日期超出本节点允许的范围",
        ErrorCode::UnknownProject => "本节点没有这个项目",
        ErrorCode::UnknownTarget => "本节点没有这个绩效指标",
        ErrorCode::TargetsNotApproved => {
            "该项目的绩效目标尚未全部批复，不能进入实施；新项目请先登记为“计划”，目标批复后再变更状态"
        }
        ErrorCode::Conflict => "项目编码已存在，且内容与本次填写不同",
        ErrorCode::Internal => "内部错误，请查看节点日志",
        ErrorCode::LedgerRestored => crate::ledger::restored::RESTORED_ZH,
        _ => "无法登记，请检查填写内容",
    };
    FieldError::new(zh, en)
}

async fn actual_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let p = match own_project(&s, &u, &origin, &code).await {
        Ok(p) => p,
        Err(e) => return ctx.respond(Err(e)),
    };
    let f = form_map(f);
    let mut form = ActualForm {
        target: get(&f, "target").trim().to_owned(),
        actual: get(&f, "actual").trim().to_owned(),
        recorded_on: get(&f, "recorded_on").trim().to_owned(),
        note: get(&f, "note").trim().to_owned(),
        evidence: get(&f, "evidence").trim().to_owned(),
        errors: HashMap::new(),
    };
    let targets = p.targets.as_deref().unwrap_or(&[]);
    let target = targets
        .iter()
        .find(|t| t.id == form.target)
        .and_then(|t| t.id.parse::<EntryId>().ok());
    if target.is_none() {
        form.errors.insert(
            "target",
            FieldError::new(
                "请选择本项目的绩效指标",
                "Choose one of this project's indicators",
            ),
        );
    }
    let actual = parse_decimal(&form.actual);
    if actual.is_none() {
        form.errors.insert(
            "actual",
            FieldError::new(
                "请填写数值，如 98 或 475.5",
                "Enter a number, such as 98 or 475.5",
            ),
        );
    }
    let on = parse_date(&form.recorded_on);
    if on.is_none() {
        form.errors.insert("recorded_on", date_error());
    }
    if form.note.chars().count() > TEXT_CHARS_MAX || form.note.chars().any(char::is_control) {
        form.errors.insert("note", too_long(TEXT_CHARS_MAX));
    }
    if form.evidence.chars().count() > EVIDENCE_CHARS_MAX
        || form.evidence.chars().any(char::is_control)
    {
        form.errors.insert("evidence", too_long(EVIDENCE_CHARS_MAX));
    }
    let (Some(target), Some(actual), Some(on), true) = (target, actual, on, form.errors.is_empty())
    else {
        return refused_detail(ctx, &s, &origin, &code, None, Some(form), None).await;
    };
    let body = Body::TargetActualRecorded(TargetActualRecorded {
        target,
        actual,
        recorded_on: on,
        note: form.note.clone(),
        evidence: form.evidence.clone(),
    });
    if let Err(e) = s.ledger.submit_one(body, &who).await {
        let key = match e {
            LedgerError::UnknownTarget(_) => "target",
            _ => "recorded_on",
        };
        form.errors.insert(key, ledger_field_error(&e));
        return refused_detail(ctx, &s, &origin, &code, None, Some(form), None).await;
    }
    see_other(&format!("{}?done=actual", detail_href(&p.origin, &p.code)))
}

/// The project page's 新增绩效目标 form: one target row, as on
/// `/projects/new`.
fn target_form_render(l: Lang, csrf: &str, base: &str, f: &TargetForm) -> Markup {
    let l1 = options(l, &LEVEL1);
    let l2 = options(l, &LEVEL2);
    let ops: Vec<(&str, &str)> = OPS.to_vec();
    let r = &f.row;
    let e = |k: &str| f.errors.get(k);
    html! {
        div class="card" {
            h2 { (l.t("新增绩效目标", "Add a performance target")) }
            p class="sub" { (l.t("新增的目标须经审核、批复后生效。", "A new target takes effect once reviewed and approved.")) }
            @if let Some(e) = e("form") {
                p class="field-error" { (e.text(l)) }
            }
            (post_form(&format!("{base}/targets"), csrf, html! {
                (hidden(KEY_FIELD, &f.key))
                div class="grid-form" {
                    (field(l, &Field::select("level1", l.t("一级指标", "Level 1"), &l1).value(&r.level1).required().error(e("level1"))))
                    (field(l, &Field::select("level2", l.t("二级指标", "Level 2"), &l2).value(&r.level2).required().error(e("level2"))))
                    (field(l, &Field::input("indicator", l.t("三级指标", "Indicator"), InputKind::Text).value(&r.indicator).required().error(e("indicator"))))
                    (field(l, &Field::select("op", l.t("比较", "Comparison"), &ops).value(&r.op).required().error(e("op"))))
                    (field(l, &Field::input("value", l.t("目标值", "Value"), InputKind::Text).value(&r.value).required().error(e("value"))))
                    (field(l, &Field::input("unit", l.t("单位", "Unit"), InputKind::Text).value(&r.unit).error(e("unit"))))
                }
                div { (submit(l.t("新增目标", "Add the target"))) }
            }))
        }
    }
}

/// `POST /projects/{origin}/{code}/targets`: one more target for the
/// project, the same `TargetSet` the API's `add_target` records; it awaits
/// review (待审核) like every new target. Recorded under the form's key, so
/// a form sent twice records once.
async fn target_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path((origin, code)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let p = match own_project(&s, &u, &origin, &code).await {
        Ok(p) => p,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let v = |k: &str| get(&m, k).trim().to_owned();
    let mut form = TargetForm {
        row: TargetRow {
            level1: v("level1"),
            level2: v("level2"),
            indicator: v("indicator"),
            op: v("op"),
            value: v("value"),
            unit: v("unit"),
        },
        key: v(KEY_FIELD),
        errors: HashMap::new(),
    };
    let target = check_row(&form.row, &p.code, "", &mut form.errors);
    let key = get(&m, KEY_FIELD).trim();
    if !key_fresh(key, s.ledger.clock().now_ms()) {
        form.key = new_key(s.ledger.clock().now_ms());
        refuse_in(
            &mut form.errors,
            "form".into(),
            "表单已过期，请刷新页面后重新填写",
            "The form is stale; reload the page and fill it in again",
        );
    }
    let (Some(target), true) = (target, form.errors.is_empty()) else {
        return refused_detail(ctx, &s, &origin, &code, None, None, Some(form)).await;
    };
    let fk = FormKey {
        login: &u.login,
        key,
        form: "projects/targets",
    };
    if let Err(e) = s
        .ledger
        .submit_keyed(&fk, &[Body::TargetSet(target)], &who)
        .await
    {
        let fe = ledger_field_error(&e);
        refuse_in(&mut form.errors, "form".into(), fe.zh, fe.en);
        return refused_detail(ctx, &s, &origin, &code, None, None, Some(form)).await;
    }
    see_other(&format!("{}?done=target", detail_href(&p.origin, &p.code)))
}

pub(super) fn parse_decimal(v: &str) -> Option<Decimal> {
    let v: String = v.chars().filter(|c| *c != ',' && *c != '，').collect();
    Decimal::from_str(v.trim()).ok()
}

pub(super) fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok()
}

pub(super) fn date_error() -> FieldError {
    FieldError::new("请填写日期，格式为 年-月-日", "Enter a date as YYYY-MM-DD")
}

pub(super) fn too_long(max: usize) -> FieldError {
    FieldError::new(
        format!("最多 {max} 个字，且不能含控制字符"),
        format!("At most {max} characters, no control characters"),
    )
}

// ---------------------------------------------------------------- register

/// One 三级 row of the registration form, as typed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub level1: String,
    pub level2: String,
    pub indicator: String,
    pub op: String,
    pub value: String,
    pub unit: String,
}

/// The registration form as typed, and why it was refused (by field name;
/// a row's fields are `t{i}_{name}`).
#[derive(Debug, Default, Clone)]
pub struct ProjectForm {
    pub code: String,
    pub name: String,
    pub township: String,
    pub village: String,
    pub department: String,
    pub starts_on: String,
    pub ends_on: String,
    pub budget: String,
    pub status: String,
    pub rows: Vec<TargetRow>,
    pub errors: HashMap<String, FieldError>,
    /// The department is the officer's own and cannot be changed.
    pub department_fixed: bool,
}

impl ProjectForm {
    fn blank(department: Option<&str>) -> ProjectForm {
        ProjectForm {
            department: department.unwrap_or_default().to_owned(),
            department_fixed: department.is_some(),
            status: "planned".into(),
            rows: vec![TargetRow::blank()],
            ..ProjectForm::default()
        }
    }

    fn error(&self, k: &str) -> Option<&FieldError> {
        self.errors.get(k)
    }

    fn refuse(&mut self, k: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) {
        self.errors
            .entry(k.into())
            .or_insert_with(|| FieldError::new(zh, en));
    }
}

impl TargetRow {
    fn blank() -> TargetRow {
        TargetRow {
            level1: "output".into(),
            level2: "quantity".into(),
            op: ">=".into(),
            ..TargetRow::default()
        }
    }

    fn is_blank(&self) -> bool {
        self.indicator.trim().is_empty()
            && self.value.trim().is_empty()
            && self.unit.trim().is_empty()
    }
}

/// `/projects/new`.
pub fn new_render(c: &Chrome, f: &ProjectForm) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let statuses: Vec<(&str, &str)> = STATUSES.iter().map(|s| (*s, status_label(l, s))).collect();
    let l1 = options(l, &LEVEL1);
    let l2 = options(l, &LEVEL2);
    let ops: Vec<(&str, &str)> = OPS.to_vec();
    let names: Vec<[String; 6]> = (0..f.rows.len())
        .map(|i| {
            ["level1", "level2", "indicator", "op", "value", "unit"].map(|n| format!("t{i}_{n}"))
        })
        .collect();
    let body = html! {
        @if let Some(e) = f.error("form") {
            div class="note bad" { (e.text(l)) }
        }
        (post_form("/projects/new", csrf, html! {
            (hidden("rows", &f.rows.len().to_string()))
            div class="card" {
                h2 { (l.t("项目信息", "The project")) }
                div class="grid-form" {
                    (field(l, &Field::input("code", l.t("项目编码", "Code"), InputKind::Text).value(&f.code).required().error(f.error("code"))))
                    (field(l, &Field::input("name", l.t("项目名称", "Name"), InputKind::Text).value(&f.name).required().error(f.error("name"))))
                    (field(l, &Field::input("township", l.t("乡镇", "Township"), InputKind::Text).value(&f.township).error(f.error("township"))))
                    (field(l, &Field::input("village", l.t("村", "Village"), InputKind::Text).value(&f.village).error(f.error("village"))))
                    @if f.department_fixed {
                        (hidden("department", &f.department))
                        label { (l.t("主管科室", "Department")) input type="text" value=(f.department) disabled; }
                    } @else {
                        (field(l, &Field::input("department", l.t("主管科室", "Department"), InputKind::Text).value(&f.department).error(f.error("department"))))
                    }
                    (field(l, &Field::input("starts_on", l.t("开工日期", "Starts on"), InputKind::Date).value(&f.starts_on).required().error(f.error("starts_on"))))
                    (field(l, &Field::input("ends_on", l.t("完工日期", "Ends on"), InputKind::Date).value(&f.ends_on).required().error(f.error("ends_on"))))
                    (field(l, &Field::input("budget", l.t("项目资金（元）", "Funds (yuan)"), InputKind::Text).value(&f.budget).required().error(f.error("budget"))))
                    (field(l, &Field::select("status", l.t("状态", "Status"), &statuses).value(&f.status).error(f.error("status"))))
                }
            }
            div class="card" {
                h2 { (l.t("绩效目标（三级指标）", "Performance targets (level 3)")) }
                p class="sub" { (l.t("项目入库须设定绩效目标：每行一个三级指标，选择其一级、二级指标。",
                                     "A project enters the library with its performance targets: one level-3 indicator a row, under its level 1 and level 2.")) }
                @if let Some(e) = f.error("rows") {
                    p class="field-error" { (e.text(l)) }
                }
                table class="form-rows" {
                    thead { tr {
                        th { "#" }
                        th { (l.t("一级指标", "Level 1")) }
                        th { (l.t("二级指标", "Level 2")) }
                        th { (l.t("三级指标", "Level 3 indicator")) }
                        th { (l.t("比较", "Comparison")) }
                        th { (l.t("目标值", "Target value")) }
                        th { (l.t("单位", "Unit")) }
                        th {}
                    } }
                    tbody {
                        @for (i, (r, n)) in f.rows.iter().zip(&names).enumerate() {
                            tr {
                                td { (i + 1) }
                                td { (field(l, &Field::select(&n[0], l.t("一级指标", "Level 1"), &l1).value(&r.level1).error(f.error(&n[0])))) }
                                td { (field(l, &Field::select(&n[1], l.t("二级指标", "Level 2"), &l2).value(&r.level2).error(f.error(&n[1])))) }
                                td { (field(l, &Field::input(&n[2], l.t("三级指标", "Indicator"), InputKind::Text).value(&r.indicator).error(f.error(&n[2])))) }
                                td { (field(l, &Field::select(&n[3], l.t("比较", "Comparison"), &ops).value(&r.op).error(f.error(&n[3])))) }
                                td { (field(l, &Field::input(&n[4], l.t("目标值", "Value"), InputKind::Text).value(&r.value).error(f.error(&n[4])))) }
                                td { (field(l, &Field::input(&n[5], l.t("单位", "Unit"), InputKind::Text).value(&r.unit).error(f.error(&n[5])))) }
                                td {
                                    button type="submit" class="minor" name="action" value={ "remove:" (i) } formnovalidate {
                                        (l.t("删除此行", "Remove row"))
                                    }
                                }
                            }
                        }
                    }
                }
                @if f.rows.len() < TARGET_ROWS_MAX {
                    p { button type="submit" class="minor" name="action" value="add" formnovalidate { (l.t("增加一行", "Add a row")) } }
                }
            }
            div { button type="submit" name="action" value="save" { (l.t("登记项目", "Register the project")) } }
        }))
    };
    page(
        c,
        Nav::Projects,
        l.t("登记项目", "Register a project"),
        body,
    )
}

async fn new_page(ctx: Ctx, Extension(u): Extension<User>) -> Response {
    let department = fixed_department(&u);
    let f = ProjectForm::blank(department.as_deref());
    let r = Ok(new_render(&ctx.chrome, &f));
    ctx.respond(r)
}

/// The department a bound officer registers projects for.
fn fixed_department(u: &User) -> Option<String> {
    u.scope().department
}

/// Reads the registration form; `rows` says how many target rows it holds.
fn read_form(m: &HashMap<String, String>, department: Option<&str>) -> ProjectForm {
    let n = get(m, "rows")
        .parse::<usize>()
        .unwrap_or(1)
        .clamp(0, TARGET_ROWS_MAX);
    let rows = (0..n)
        .map(|i| {
            let v = |k: &str| get(m, &format!("t{i}_{k}")).trim().to_owned();
            TargetRow {
                level1: v("level1"),
                level2: v("level2"),
                indicator: v("indicator"),
                op: v("op"),
                value: v("value"),
                unit: v("unit"),
            }
        })
        .collect();
    let t = |k: &str| get(m, k).trim().to_owned();
    ProjectForm {
        code: t("code"),
        name: t("name"),
        township: t("township"),
        village: t("village"),
        department: department.map_or_else(|| t("department"), str::to_owned),
        department_fixed: department.is_some(),
        starts_on: t("starts_on"),
        ends_on: t("ends_on"),
        budget: t("budget"),
        status: t("status"),
        rows,
        errors: HashMap::new(),
    }
}

fn check_text(f: &mut ProjectForm, key: &str, max: usize, required: bool) {
    let v = match key {
        "code" => f.code.clone(),
        "name" => f.name.clone(),
        "township" => f.township.clone(),
        "village" => f.village.clone(),
        "department" => f.department.clone(),
        _ => String::new(),
    };
    if required && v.is_empty() {
        f.refuse(key, "此项必填", "Required");
    } else if v.chars().count() > max || v.chars().any(char::is_control) {
        let e = too_long(max);
        f.refuse(key, e.zh, e.en);
    }
}

/// Refuses field `k` with the first reason given for it.
fn refuse_in(
    errors: &mut HashMap<String, FieldError>,
    k: String,
    zh: impl Into<String>,
    en: impl Into<String>,
) {
    errors.entry(k).or_insert_with(|| FieldError::new(zh, en));
}

/// Checks one target row (its fields named `{prefix}level1` …), as the
/// registration form and the project page's 新增绩效目标 form both send
/// it; the target to record when nothing is refused.
fn check_row(
    r: &TargetRow,
    project: &str,
    prefix: &str,
    errors: &mut HashMap<String, FieldError>,
) -> Option<TargetSet> {
    let k = |n: &str| format!("{prefix}{n}");
    let level1 = parse_serde::<TargetLevel1>(&r.level1);
    if level1.is_none() {
        refuse_in(
            errors,
            k("level1"),
            "请选择一级指标",
            "Choose a level-1 indicator",
        );
    }
    let level2 = parse_serde::<TargetLevel2>(&r.level2);
    match (level1, level2) {
        (_, None) => refuse_in(
            errors,
            k("level2"),
            "请选择二级指标",
            "Choose a level-2 indicator",
        ),
        (Some(a), Some(b)) if b.level1() != a => refuse_in(
            errors,
            k("level2"),
            format!(
                "二级指标“{}”不属于一级指标“{}”",
                label_of(Lang::Zh, &LEVEL2, &r.level2),
                label_of(Lang::Zh, &LEVEL1, &r.level1)
            ),
            format!(
                "{} is not under {}",
                label_of(Lang::En, &LEVEL2, &r.level2),
                label_of(Lang::En, &LEVEL1, &r.level1)
            ),
        ),
        _ => {}
    }
    if r.indicator.is_empty() {
        refuse_in(
            errors,
            k("indicator"),
            "请填写三级指标",
            "Enter the indicator",
        );
    } else if r.indicator.chars().count() > TEXT_CHARS_MAX
        || r.indicator.chars().any(char::is_control)
    {
        let e = too_long(TEXT_CHARS_MAX);
        refuse_in(errors, k("indicator"), e.zh, e.en);
    }
    let op = parse_serde::<TargetOp>(&r.op);
    if op.is_none() {
        refuse_in(errors, k("op"), "请选择比较方式", "Choose a comparison");
    }
    let value = parse_decimal(&r.value);
    if value.is_none() {
        refuse_in(
            errors,
            k("value"),
            "请填写数值，如 98 或 475",
            "Enter a number, such as 98 or 475",
        );
    }
    if r.unit.chars().count() > CODE_CHARS_MAX || r.unit.chars().any(char::is_control) {
        let e = too_long(CODE_CHARS_MAX);
        refuse_in(errors, k("unit"), e.zh, e.en);
    }
    Some(TargetSet {
        project: project.to_owned(),
        level1: level1?,
        level2: level2?,
        indicator: r.indicator.clone(),
        op: op?,
        value: value?,
        unit: r.unit.clone(),
    })
}

/// Checks the form; the bodies to record when nothing is refused.
pub fn validate(f: &mut ProjectForm) -> Option<(ProjectRegistered, Vec<TargetSet>)> {
    check_text(f, "code", CODE_CHARS_MAX, true);
    check_text(f, "name", TEXT_CHARS_MAX, true);
    check_text(f, "township", TEXT_CHARS_MAX, false);
    check_text(f, "village", TEXT_CHARS_MAX, false);
    check_text(f, "department", TEXT_CHARS_MAX, false);
    let starts = parse_date(&f.starts_on);
    if starts.is_none() {
        let e = date_error();
        f.refuse("starts_on", e.zh, e.en);
    }
    let ends = parse_date(&f.ends_on);
    if ends.is_none() {
        let e = date_error();
        f.refuse("ends_on", e.zh, e.en);
    }
    if let (Some(s), Some(e)) = (starts, ends) {
        if e < s {
            f.refuse(
                "ends_on",
                "完工日期不能早于开工日期",
                "The project cannot end before it starts",
            );
        }
    }
    let budget = parse_decimal(&f.budget).and_then(|d| Amount::new(d).ok());
    if budget.is_none() {
        f.refuse(
            "budget",
            "请填写大于零的金额（元，最多两位小数）",
            "Enter an amount above zero (yuan, at most 2 decimals)",
        );
    }
    let status = parse_serde::<ProjectStatus>(&f.status);
    if status.is_none() {
        f.refuse("status", "请选择项目状态", "Choose a status");
    }
    let mut targets = Vec::new();
    let rows = f.rows.clone();
    for (i, r) in rows.iter().enumerate() {
        // A row left empty is dropped, not refused.
        if r.is_blank() {
            continue;
        }
        let prefix = format!("t{i}_");
        if let Some(t) = check_row(r, &f.code, &prefix, &mut f.errors) {
            targets.push(t);
        }
    }
    if rows.iter().all(TargetRow::is_blank) {
        f.refuse(
            "rows",
            "至少填写一个三级指标：项目须有绩效目标才能入库",
            "Enter at least one level-3 indicator: a project enters the library with its targets",
        );
    }
    if !f.errors.is_empty() {
        return None;
    }
    let project = ProjectRegistered {
        code: f.code.clone(),
        name: f.name.clone(),
        township: f.township.clone(),
        village: f.village.clone(),
        department: f.department.clone(),
        starts_on: starts?,
        ends_on: ends?,
        budget: budget?,
        status: status?,
    };
    Some((project, targets))
}

/// Records the project and its targets in one transaction, or, if this
/// very project (same code and fields) is registered already, nothing:
/// a form sent twice registers once.
async fn register(
    s: &AppState,
    project: ProjectRegistered,
    targets: Vec<TargetSet>,
    who: &Actor,
) -> Result<Outcome, LedgerError> {
    let mut work = s.ledger.begin().await?;
    let o = work.record(Body::ProjectRegistered(project), who).await?;
    if let Outcome::Existing(_) = o {
        // Dropped: the transaction rolls back, nothing was written.
        return Ok(o);
    }
    for t in targets {
        work.record(Body::TargetSet(t), who).await?;
    }
    work.commit().await?;
    Ok(o)
}

async fn new_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let m = form_map(pairs);
    let department = fixed_department(&u);
    let mut f = read_form(&m, department.as_deref());
    match get(&m, "action") {
        "add" => {
            if f.rows.len() < TARGET_ROWS_MAX {
                f.rows.push(TargetRow::blank());
            }
            let r = Ok(new_render(&ctx.chrome, &f));
            return ctx.respond(r);
        }
        a if a.starts_with("remove:") => {
            if let Ok(i) = a["remove:".len()..].parse::<usize>() {
                if i < f.rows.len() {
                    f.rows.remove(i);
                }
            }
            if f.rows.is_empty() {
                f.rows.push(TargetRow::blank());
            }
            let r = Ok(new_render(&ctx.chrome, &f));
            return ctx.respond(r);
        }
        _ => {}
    }
    if department.as_deref() == Some("") {
        f.refuse(
            "department",
            "您的账户没有所属科室，不能登记项目，请联系管理员",
            "Your account has no department, so it may register no project; ask an administrator",
        );
    }
    let Some((project, targets)) = validate(&mut f) else {
        return {
            let m = new_render(&ctx.chrome, &f);
            unprocessable(ctx.respond(Ok(m)))
        };
    };
    let me = s.ledger.identity().code.to_string();
    let href = detail_href(&me, &project.code);
    match register(&s, project, targets, &who).await {
        Ok(Outcome::Created(_)) => see_other(&format!("{href}?done=registered")),
        Ok(Outcome::Existing(_)) => see_other(&format!("{href}?done=existing")),
        Err(e) => {
            let key = match &e {
                LedgerError::Conflict { .. } => "code",
                LedgerError::TargetsNotApproved { .. } => "status",
                e if e.code() == ErrorCode::DateOutOfRange => "starts_on",
                _ => "form",
            };
            let fe = ledger_field_error(&e);
            f.refuse(key, fe.zh, fe.en);
            if matches!(e, LedgerError::Conflict { .. }) {
                f.errors.insert(
                    "code".into(),
                    FieldError::new(
                        "项目编码已存在（内容不同）；请换一个编码，或打开已登记的项目",
                        "A project with this code exists with other fields; use another code",
                    ),
                );
            }
            {
                let m = new_render(&ctx.chrome, &f);
                unprocessable(ctx.respond(Ok(m)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome;

    fn project(code: &str, status: &str, paid: &str) -> ProjectView {
        ProjectView {
            id: "652822-5".into(),
            origin: "652822".into(),
            code: code.into(),
            name: "托万克库勒村道路硬化".into(),
            township: "轮台镇".into(),
            village: "托万克库勒村".into(),
            department: "农财所".into(),
            starts_on: "2020-03-01".into(),
            ends_on: "2020-10-31".into(),
            budget: Decimal::from(2_000_000),
            status: status.into(),
            paid: paid.parse().expect("decimal"),
            target_count: 2,
            targets: None,
            actor: None,
        }
    }

    #[test]
    fn the_list_shows_status_progress_and_links_and_says_when_empty() {
        let c = test_chrome(Lang::Zh);
        let p = ListPage {
            items: vec![project("LT2020-001", "in_progress", "500000")],
            page: 1,
            page_size: 50,
            may_register: true,
            ..ListPage::default()
        };
        let s = list_render(&c, &p).into_string();
        assert!(s.contains(">项目库</a>"), "the menu has it: {s}");
        assert!(s.contains("href=\"/projects/652822/LT2020-001\""), "{s}");
        assert!(s.contains("实施中") && s.contains("25.0%"), "{s}");
        assert!(s.contains(">200.00</td>") && s.contains("href=\"/projects/new\""));
        let empty = list_render(&c, &ListPage::default()).into_string();
        assert!(empty.contains(">暂无</td>") && !empty.contains("/projects/new\""));
        let en = list_render(&test_chrome(Lang::En), &p).into_string();
        assert!(en.contains("In progress") && en.contains("Project library"));
    }

    #[test]
    fn a_code_is_encoded_in_links() {
        assert_eq!(
            detail_href("652822", "轮台/1"),
            "/projects/652822/%E8%BD%AE%E5%8F%B0%2F1"
        );
    }

    fn filled() -> ProjectForm {
        ProjectForm {
            code: "LT2020-009".into(),
            name: "村道硬化".into(),
            department: "农财所".into(),
            starts_on: "2020-03-01".into(),
            ends_on: "2020-10-31".into(),
            budget: "1,200,000.00".into(),
            status: "planned".into(),
            rows: vec![
                TargetRow {
                    level1: "output".into(),
                    level2: "quantity".into(),
                    indicator: "硬化道路里程".into(),
                    op: ">=".into(),
                    value: "12.5".into(),
                    unit: "公里".into(),
                },
                TargetRow {
                    level1: "satisfaction".into(),
                    level2: "beneficiary".into(),
                    indicator: "群众满意度".into(),
                    op: ">=".into(),
                    value: "95".into(),
                    unit: "%".into(),
                },
            ],
            ..ProjectForm::default()
        }
    }

    #[test]
    fn a_filled_form_gives_the_project_and_its_targets() {
        let mut f = filled();
        let (p, t) = validate(&mut f).expect("valid");
        assert!(f.errors.is_empty());
        assert_eq!(p.budget.fen(), 120_000_000);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].level2, TargetLevel2::Beneficiary);
        assert!(t.iter().all(|t| t.project == "LT2020-009"));
    }

    #[test]
    fn refusals_are_in_chinese_next_to_their_fields() {
        let mut f = filled();
        f.rows[0].level1 = "effect".into();
        f.rows[1].value = "九十五".into();
        f.ends_on = "2020-01-01".into();
        f.budget = "0".into();
        assert!(validate(&mut f).is_none());
        assert_eq!(
            f.errors["t0_level2"].zh,
            "二级指标“数量指标”不属于一级指标“效益指标”"
        );
        assert!(f.errors["t1_value"].zh.starts_with("请填写数值"));
        assert_eq!(f.errors["ends_on"].zh, "完工日期不能早于开工日期");
        assert!(f.errors.contains_key("budget"));
        let s = new_render(&test_chrome(Lang::Zh), &f).into_string();
        assert!(
            s.contains("aria-describedby=\"f-t0_level2-error\"") && s.contains("不属于一级指标"),
            "{s}"
        );
        assert!(s.contains("name=\"csrf_token\" value=\"t\""));
        // No target at all.
        let mut f = filled();
        f.rows = vec![TargetRow::blank()];
        assert!(validate(&mut f).is_none());
        assert!(f.errors["rows"].zh.contains("至少填写一个三级指标"));
    }

    #[test]
    fn the_form_offers_seed_003_s_indicators_and_row_buttons() {
        let f = ProjectForm::blank(Some("农财所"));
        let s = new_render(&test_chrome(Lang::Zh), &f).into_string();
        for want in [
            "产出指标",
            "效益指标",
            "满意度指标",
            "数量指标",
            "质量指标",
            "时效指标",
            "成本指标",
            "经济效益指标",
            "社会效益指标",
            "生态效益指标",
            "可持续影响指标",
            "服务对象满意度指标",
            "value=\"add\"",
            "value=\"remove:0\"",
            "name=\"rows\" value=\"1\"",
            "disabled",
        ] {
            assert!(s.contains(want), "{want}: {s}");
        }
    }

    #[test]
    fn the_detail_shows_targets_actuals_funding_payments_and_warnings() {
        let mut p = project("LT2020-001", "in_progress", "500000");
        p.targets = Some(vec![crate::ledger::query::TargetView {
            id: "652822-6".into(),
            level1: "output".into(),
            level2: "quantity".into(),
            indicator: "硬化道路里程".into(),
            op: ">=".into(),
            value: "12".into(),
            unit: "公里".into(),
            actual: Some("12.5".into()),
            actual_on: Some("2020-09-25".into()),
            actual_evidence: Some("轮台交验〔2020〕3号".into()),
            approval: "approved".into(),
            approved_doc: None,
        }]);
        let d = DetailPage {
            project: p,
            node_name: "轮台县".into(),
            actuals: vec![ActualView {
                id: "652822-7".into(),
                target: "652822-6".into(),
                actual: "12.5".into(),
                recorded_on: "2020-09-25".into(),
                note: "竣工验收报告".into(),
                evidence: "轮台交验〔2020〕3号".into(),
                actor: None,
            }],
            funding: vec![],
            payments: vec![],
            payments_more: false,
            warnings: vec![],
            categories: HashMap::new(),
            editable: true,
            status_form: StatusForm::default(),
            actual_form: ActualForm::default(),
            target_form: TargetForm::default(),
            done: Some(("项目已登记。", "")),
        };
        let s = detail_render(&test_chrome(Lang::Zh), &d).into_string();
        for want in [
            "产出指标",
            "数量指标",
            "硬化道路里程",
            "≥ 12公里",
            "12.5公里",
            "达标",
            "竣工验收报告",
            "佐证材料",
            "轮台交验〔2020〕3号",
            "项目已登记。",
            "action=\"/projects/652822/LT2020-001/status\"",
            "action=\"/projects/652822/LT2020-001/actual\"",
            "action=\"/projects/652822/LT2020-001/targets\"",
            "新增绩效目标",
            "资金来源（指标）",
            ">暂无</td>",
            "/payments?origin=652822&amp;project=LT2020-001",
        ] {
            assert!(s.contains(want), "{want}: {s}");
        }
        let ro = DetailPage {
            editable: false,
            ..d
        };
        let s = detail_render(&test_chrome(Lang::Zh), &ro).into_string();
        assert!(
            !s.contains("/status\"") && !s.contains("填报实际值") && !s.contains("新增绩效目标")
        );
    }
}
