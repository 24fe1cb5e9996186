//! `/carryover`: 结转结余, what is left unspent at the end of a day in this
//! node's subtree (or a child's, `?node=`), per node, per fund source
//! (资金来源), per allocation and per project, with the reasons recorded
//! (质量保证金, 工程尾款, 收款账号错误, other) and their planned payment dates
//! (seed 002 四); exported as a workbook or CSV (`/carryover.xlsx`,
//! `/carryover.csv`). Its JSON twin is `GET /api/v1/carryover`.
//!
//! Two forms, for the allocation and department desks (`Allocate`, as the
//! API's `POST /api/v1/carryover` and `POST /api/v1/recalls`): a reason
//! for part of a balance of this node's, and a recall (收回 / 统筹) of
//! unspent funds of an allocation the parent issued, which goes back to
//! the parent as the entry rolls up. Both record once however often they
//! are sent: the same reason again (allocation, day, reason, project and
//! figures) is a retry, as is the same recall document. A refusal is shown
//! in Chinese next to its field and records nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use chrono::{Datelike, NaiveDate};
use fundsync_protocol::body::{
    CarryOverExplained, CarryOverReason, FundsRecalled, RecallPurpose, CODE_CHARS_MAX,
    TEXT_CHARS_MAX,
};
use fundsync_protocol::{Amount, Body, EntryId, ErrorCode, NodeCode};
use maud::{html, Markup};
use rust_decimal::Decimal;

use super::form::{field, filter_form, hidden, post_form, submit, Field, FieldError, InputKind};
use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::ledger::money_td;
use super::lists::actor;
use super::text::Lang;
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::accounts::User;
use crate::http::auth::see_other;
use crate::http::{Acting, AppState, Routes};
use crate::ledger::query::{
    AllocationFilter, AllocationView, CarryOverFigures, CarryOverFilter, CarryOverReport, NodeView,
    Page, PAGE_SIZE_MAX,
};
use crate::ledger::LedgerError;

type S = State<Arc<AppState>>;

/// The report, its forms, each with its permission.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/carryover", P::ReadLedger, report_page)
        .post("/carryover", P::Allocate, explain_submit)
        .post("/carryover/recall", P::Allocate, recall_submit)
}

/// A reason as the bureaus say it.
pub fn reason_label(l: Lang, reason: &str) -> &'static str {
    match reason.parse::<CarryOverReason>() {
        Ok(r) => l.t(
            r.zh(),
            match r {
                CarryOverReason::QualityGuarantee => "Quality guarantee",
                CarryOverReason::FinalPayment => "Final payment",
                CarryOverReason::WrongAccount => "Wrong payee account",
                CarryOverReason::Other => "Other",
            },
        ),
        Err(_) => "?",
    }
}

fn purpose_label(l: Lang, p: RecallPurpose) -> &'static str {
    l.t(
        p.zh(),
        match p {
            RecallPurpose::Recall => "Recall",
            RecallPurpose::Pooling => "Pooling",
        },
    )
}

/// The reason form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct ReasonForm {
    pub allocation: String,
    pub as_of: String,
    pub reason: String,
    pub amount: String,
    pub planned_on: String,
    pub project: String,
    pub note: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The recall form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct RecallForm {
    pub allocation: String,
    pub doc_no: String,
    pub amount: String,
    pub recalled_on: String,
    pub purpose: String,
    pub reason: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// Everything the page shows.
#[derive(Debug)]
pub struct CarryOverPage {
    pub report: CarryOverReport,
    /// `?node=`: whose subtree, if not this node's.
    pub under: Option<String>,
    pub nodes: Vec<NodeView>,
    /// Fund category code → name.
    pub categories: HashMap<String, String>,
    /// The reader may record reasons and recalls (`Allocate`).
    pub may_record: bool,
    /// This node's allocations in the reader's scope with money left now:
    /// what the recall form offers (and the reason form, when none had a
    /// balance on the report's day).
    pub own: Vec<AllocationView>,
    /// This node has a parent to return funds to.
    pub has_parent: bool,
    pub reason_form: ReasonForm,
    pub recall_form: RecallForm,
    /// What was just done (after a form's redirect).
    pub done: Option<(&'static str, &'static str)>,
}

fn figures(l: Lang, f: &CarryOverFigures) -> Markup {
    html! {
        (money_td(l, f.balance, 2))
        (money_td(l, f.explained, 2))
        (money_td(l, f.unexplained, 2))
    }
}

fn figure_heads(l: Lang) -> Markup {
    html! {
        th class="num" { (l.t("结转结余", "Carried over")) }
        th class="num" { (l.t("已说明", "Explained")) }
        th class="num" { (l.t("未说明", "Unexplained")) }
    }
}

/// The day's quick choices: the carry-over report day of seed 002 (09-25)
/// and the year's end.
fn quick_days(as_of: NaiveDate) -> Vec<(NaiveDate, &'static str, &'static str)> {
    let y = as_of.year();
    [
        (
            NaiveDate::from_ymd_opt(y, 9, 25),
            "（结转统计日）",
            "(carry-over report)",
        ),
        (NaiveDate::from_ymd_opt(y, 12, 31), "（年末）", "(year end)"),
    ]
    .into_iter()
    .filter_map(|(d, zh, en)| Some((d?, zh, en)))
    .collect()
}

/// `/carryover`.
pub fn render(c: &Chrome, p: &CarryOverPage) -> Markup {
    let l = c.lang;
    let r = &p.report;
    let as_of = r.as_of.to_string();
    let names: HashMap<&str, &str> = p
        .nodes
        .iter()
        .map(|n| (n.code.as_str(), n.name.as_str()))
        .collect();
    let name = |code: &str| names.get(code).copied().unwrap_or("").to_owned();
    let category = |code: &str| {
        p.categories
            .get(code)
            .map_or_else(|| code.to_owned(), |n| format!("{n} ({code})"))
    };
    let node_options: Vec<(String, String)> = std::iter::once((
        String::new(),
        l.t("本节点全辖区", "This node's whole tree").to_owned(),
    ))
    .chain(
        p.nodes
            .iter()
            .map(|n| (n.code.clone(), format!("{} ({})", n.name, n.code))),
    )
    .collect();
    let node_options: Vec<(&str, &str)> = node_options
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let quick = |d: String| {
        let mut q = vec![("as_of", d)];
        if let Some(u) = &p.under {
            q.push(("node", u.clone()));
        }
        url("/carryover", &q)
    };
    let body = html! {
        @if let Some((zh, en)) = p.done {
            div class="note" { (l.t(zh, en)) }
        }
        div class="card" {
            (filter_form("/carryover", html! {
                (field(l, &Field::input("as_of", l.t("截至日期", "As of"), InputKind::Date).value(&as_of)))
                (field(l, &Field::select("node", l.t("范围", "Scope"), &node_options)
                    .value(p.under.as_deref().unwrap_or(""))))
                (hidden("lang", l.code()))
                (submit(l.t("查询", "Show")))
                div class="quick" {
                    span class="k" { (l.t("快捷：", "Quick:")) } " "
                    @for (d, zh, en) in quick_days(r.as_of) {
                        a href=(quick(d.to_string())) { (d) " " (l.t(zh, en)) }
                    }
                }
            }))
        }
        p class="sub" {
            (l.t("范围：", "Scope:")) " " (name(&r.node)) " (" (r.node) ") · "
            (l.t("截至", "as of")) " " (as_of) " · "
            (l.t("单位：万元（悬停显示元）。结转结余 = 指标金额 − 下达下级（扣除收回）− 已支付 − 已收回。",
                 "Figures in 万元 (hover for yuan). Carried over = allocated − issued down (net of recalls) − paid − recalled."))
        }
        h2 { (l.t("按单位", "By node")) }
        div class="scroll" {
            table {
                thead { tr { th { (l.t("单位", "Node")) } (figure_heads(l)) } }
                tbody {
                    @for n in &r.by_node {
                        tr {
                            td { a href=(url("/carryover", &[("as_of", as_of.clone()), ("node", n.node.clone())])) { (n.node_name) } " " span class="muted" { (n.node) } }
                            (figures(l, &n.figures))
                        }
                    }
                    tr class="subtotal" { td { b { (l.t("合计", "Total")) } } (figures(l, &r.total)) }
                }
            }
        }
        h2 { (l.t("按资金来源", "By fund source")) }
        div class="scroll" {
            table {
                thead { tr { th { (l.t("单位", "Node")) } th { (l.t("资金来源", "Fund source")) } (figure_heads(l)) } }
                tbody {
                    @for n in &r.by_source {
                        tr {
                            td { (n.node_name) }
                            td { (l.fund_origin(n.fund_origin.as_deref().unwrap_or(""))) }
                            (figures(l, &n.figures))
                        }
                    }
                    @if r.by_source.is_empty() {
                        tr { td colspan="5" class="muted" { (l.t("无结转结余", "Nothing carried over")) } }
                    }
                }
            }
        }
        h2 { (l.t("按指标（结转原因）", "By allocation, with the reasons")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("单位", "Node")) }
                    th { (l.t("指标文号", "Document")) }
                    th { (l.t("资金类别", "Fund category")) }
                    th { (l.t("资金来源", "Source")) }
                    (figure_heads(l))
                    th { (l.t("原因 · 项目 · 金额（万元）· 计划支付日期", "Reason · project · amount (万元) · planned payment")) }
                } }
                tbody {
                    @for a in &r.allocations {
                        tr {
                            td class="nowrap" { (a.holder_name) }
                            td { (a.doc_no) br; span class="muted" { (a.id) } }
                            td { (category(&a.category)) }
                            td class="nowrap" { (l.fund_origin(&a.fund_origin)) }
                            (figures(l, &a.figures))
                            td {
                                @if a.reasons.is_empty() {
                                    span class="muted" { (l.t("未说明", "None given")) }
                                } @else {
                                    ul class="reasons" {
                                        @for x in &a.reasons {
                                            li {
                                                b { (reason_label(l, &x.reason)) }
                                                @if !x.project.is_empty() {
                                                    " · " (x.project) @if !x.project_name.is_empty() { " " (x.project_name) }
                                                }
                                                " · " span title={ (super::text::yuan(x.amount)) " 元" } { (super::text::wan2(x.amount)) }
                                                " · " (l.t("计划", "planned")) " " (x.planned_on)
                                                @if !x.note.is_empty() { " · " (x.note) }
                                                " " span class="muted" { "(" (l.t("截至", "as of")) " " (x.as_of) " · " (actor(l, x.actor.as_ref())) ")" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if r.allocations.is_empty() {
                        tr { td colspan="8" class="muted" { (l.t("无结转结余", "Nothing carried over")) } }
                    }
                }
            }
        }
        h2 { (l.t("按项目", "By project")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("单位", "Node")) }
                    th { (l.t("项目", "Project")) }
                    th { (l.t("原因", "Reason")) }
                    th class="num" { (l.t("金额", "Amount")) }
                    th { (l.t("计划支付日期", "Planned payment")) }
                } }
                tbody {
                    @for x in &r.by_project {
                        tr {
                            td { (x.node_name) }
                            td {
                                @if x.project.is_empty() { span class="muted" { (l.t("未指明项目", "No project named")) } }
                                @else { (x.project) " " (x.project_name) }
                            }
                            td { (reason_label(l, &x.reason)) }
                            (money_td(l, x.amount, 2))
                            td class="nowrap" { (x.planned_on) }
                        }
                    }
                    @if r.by_project.is_empty() {
                        tr { td colspan="5" class="muted" { (l.t("尚无说明", "No reasons given")) } }
                    }
                }
            }
        }
        @if !r.by_reason.is_empty() {
            p class="sub" {
                (l.t("按原因：", "By reason:")) " "
                @for (k, v) in &r.by_reason {
                    (reason_label(l, k)) " " span title={ (super::text::yuan(*v)) " 元" } { (super::text::wan2(*v)) } "　"
                }
            }
        }
        (super::layout::export_links(c, "/carryover"))
        @if p.may_record {
            (reason_form(c, p))
            @if p.has_parent {
                (recall_form(c, p))
            }
        }
    };
    let title = match &p.under {
        Some(_) => format!("{} · {}", l.t("结转结余", "Carry-over"), name(&r.node)),
        None => l.t("结转结余", "Carry-over").to_owned(),
    };
    page(c, Nav::Ledger, &title, body)
}

/// The allocations a form offers: document, category, money left now.
fn allocation_options(l: Lang, own: &[AllocationView], recallable: bool) -> Vec<(String, String)> {
    std::iter::once((String::new(), l.t("请选择", "Choose").to_owned()))
        .chain(
            own.iter()
                .filter(|a| !recallable || a.kind == "issued")
                .map(|a| {
                    (
                        a.id.clone(),
                        format!(
                            "{} · {} · {} {} {}",
                            a.doc_no,
                            a.category,
                            l.t("可用", "available"),
                            super::text::wan2(a.available),
                            l.t("万元", "万元")
                        ),
                    )
                }),
        )
        .collect()
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// What the reason form offers: this node's allocations with a balance on
/// the report's day (one paid off since may still need its reason for
/// that day), else those with money left now.
fn reason_options(l: Lang, c: &Chrome, p: &CarryOverPage) -> Vec<(String, String)> {
    let on_the_day: Vec<(String, String)> = p
        .report
        .allocations
        .iter()
        .filter(|a| a.holder == c.node_code && a.figures.balance > Decimal::ZERO)
        .map(|a| {
            (
                a.id.clone(),
                format!(
                    "{} · {} · {} {} {} {} {}",
                    a.doc_no,
                    a.category,
                    l.t("截至", "as of"),
                    p.report.as_of,
                    l.t("结余", "balance"),
                    super::text::wan2(a.figures.balance),
                    l.t("万元", "万元")
                ),
            )
        })
        .collect();
    if on_the_day.is_empty() {
        return allocation_options(l, &p.own, false);
    }
    std::iter::once((String::new(), l.t("请选择", "Choose").to_owned()))
        .chain(on_the_day)
        .collect()
}

fn reason_form(c: &Chrome, p: &CarryOverPage) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let f = &p.reason_form;
    let allocs = reason_options(l, c, p);
    let allocs = pairs(&allocs);
    let reasons: Vec<(&str, &str)> = std::iter::once(("", l.t("请选择", "Choose")))
        .chain(
            CarryOverReason::ALL
                .iter()
                .map(|r| (r.as_str(), reason_label(l, r.as_str()))),
        )
        .collect();
    let as_of = if f.as_of.is_empty() {
        p.report.as_of.to_string()
    } else {
        f.as_of.clone()
    };
    html! {
        h2 { (l.t("说明结转原因", "Give a reason for a carry-over")) }
        div class="card" {
            p class="sub" {
                (l.t("本节点指标在截至日期的结余中，说明一部分为何结转、用于哪个项目、计划何时支付。同一指标、日期、原因和项目再次填写即为更正。",
                     "Say why part of the balance of one of this node's allocations on the day is carried over, for which project, and when it is to be paid. The same allocation, day, reason and project again corrects it."))
            }
            (post_form("/carryover", csrf, html! {
                div class="grid-form" {
                    (field(l, &Field::select("allocation", l.t("指标", "Allocation"), &allocs).value(&f.allocation).required().error(f.errors.get("allocation"))))
                    (field(l, &Field::input("as_of", l.t("结余截至日期", "Balance as of"), InputKind::Date).value(&as_of).required().error(f.errors.get("as_of"))))
                    (field(l, &Field::select("reason", l.t("结转原因", "Reason"), &reasons).value(&f.reason).required().error(f.errors.get("reason"))))
                    (field(l, &Field::input("amount", l.t("金额（元）", "Amount (yuan)"), InputKind::Text).value(&f.amount).required().error(f.errors.get("amount"))))
                    (field(l, &Field::input("planned_on", l.t("计划支付日期", "Planned payment date"), InputKind::Date).value(&f.planned_on).required().error(f.errors.get("planned_on"))))
                    (field(l, &Field::input("project", l.t("项目编码（可空）", "Project code (optional)"), InputKind::Text).value(&f.project).error(f.errors.get("project"))))
                    (field(l, &Field::input("note", l.t("说明（原因为“其他”时必填）", "Note (required for “other”)"), InputKind::Text).value(&f.note).error(f.errors.get("note"))))
                }
                @if let Some(e) = f.errors.get("") {
                    div class="note bad" { (e.text(l)) }
                }
                (submit(l.t("登记结转原因", "Record the reason")))
            }))
        }
    }
}

fn recall_form(c: &Chrome, p: &CarryOverPage) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let f = &p.recall_form;
    let allocs = allocation_options(l, &p.own, true);
    let allocs = pairs(&allocs);
    let purposes: Vec<(&str, &str)> = RecallPurpose::ALL
        .iter()
        .map(|r| (r.as_str(), purpose_label(l, *r)))
        .collect();
    html! {
        h2 { (l.t("收回 / 统筹", "Recall or pool")) }
        div class="card" {
            p class="sub" {
                (l.t("将上级下达指标中尚未支出的资金退回上级（收回，或由上级统筹重新安排）。本节点登记，随同步上报后，上级来源指标的可用资金相应增加。",
                     "Return unspent funds of an allocation the parent issued (a recall, or pooling to be arranged anew). Recorded here; once it reaches the parent, its source allocation has that much more available."))
            }
            (post_form("/carryover/recall", csrf, html! {
                div class="grid-form" {
                    (field(l, &Field::select("allocation", l.t("指标", "Allocation"), &allocs).value(&f.allocation).required().error(f.errors.get("allocation"))))
                    (field(l, &Field::input("doc_no", l.t("收回文号", "Recall document no."), InputKind::Text).value(&f.doc_no).required().error(f.errors.get("doc_no"))))
                    (field(l, &Field::input("amount", l.t("金额（元）", "Amount (yuan)"), InputKind::Text).value(&f.amount).required().error(f.errors.get("amount"))))
                    (field(l, &Field::input("recalled_on", l.t("收回日期", "Recalled on"), InputKind::Date).value(&f.recalled_on).required().error(f.errors.get("recalled_on"))))
                    (field(l, &Field::select("purpose", l.t("类型", "Purpose"), &purposes).value(&f.purpose).error(f.errors.get("purpose"))))
                    (field(l, &Field::input("reason", l.t("原因", "Reason"), InputKind::Text).value(&f.reason).error(f.errors.get("reason"))))
                }
                @if let Some(e) = f.errors.get("") {
                    div class="note bad" { (e.text(l)) }
                }
                (submit(l.t("登记收回", "Record the recall")))
            }))
        }
    }
}

/// The report's day and scope from the query (the page and its exports).
pub(crate) async fn report_query(
    ctx: &Ctx,
    s: &AppState,
) -> Result<(NaiveDate, CarryOverFilter), WebError> {
    let as_of = ctx
        .parsed::<NaiveDate>("as_of")?
        .unwrap_or_else(|| s.ledger.clock().today());
    let under = ctx.parsed::<NodeCode>("node")?;
    if let Some(u) = under {
        let nodes = s.ledger.nodes().await?;
        if !nodes.iter().any(|n| n.code == u.as_str()) {
            return Err(WebError::not_found(
                "该节点不在本辖区",
                "That node is not in this node's tree",
                u.as_str(),
            ));
        }
    }
    Ok((
        as_of,
        CarryOverFilter {
            under,
            categories: super::visible_categories(ctx, s).await?,
        },
    ))
}

async fn page_data(
    ctx: &Ctx,
    s: &AppState,
    as_of: NaiveDate,
    f: CarryOverFilter,
) -> Result<CarryOverPage, WebError> {
    let me = s.ledger.identity();
    let report = s.ledger.carry_over(as_of, &f).await?;
    let may_record = ctx
        .chrome
        .who
        .as_ref()
        .is_some_and(|w| w.may(Permission::Allocate));
    let own = if may_record {
        let got = s
            .ledger
            .allocations(
                AllocationFilter {
                    holder: Some(me.code),
                    categories: f.categories.clone(),
                    ..AllocationFilter::default()
                },
                Page {
                    page: 1,
                    page_size: PAGE_SIZE_MAX,
                },
            )
            .await?;
        got.items
            .into_iter()
            .filter(|a| a.available > Decimal::ZERO)
            .collect()
    } else {
        Vec::new()
    };
    let done = match ctx.param("done") {
        Some("reason") => Some(("结转原因已登记", "The reason is recorded")),
        Some("recall") => Some((
            "收回已登记，将随同步上报上级",
            "The recall is recorded; it goes up to the parent with the next sync",
        )),
        _ => None,
    };
    Ok(CarryOverPage {
        report,
        under: f.under.map(|u| u.to_string()),
        nodes: s.ledger.nodes().await?,
        categories: super::categories(&s.ledger).await?,
        may_record,
        own,
        has_parent: me.parent.is_some(),
        reason_form: ReasonForm::default(),
        recall_form: RecallForm::default(),
        done,
    })
}

async fn report_page(ctx: Ctx, State(s): S) -> Response {
    let r = async {
        let (as_of, f) = report_query(&ctx, &s).await?;
        page_data(&ctx, &s, as_of, f).await
    }
    .await
    .map(|p| render(&ctx.chrome, &p));
    ctx.respond(r)
}

/// The page again with a refused form, 422.
async fn refused(
    ctx: Ctx,
    s: &AppState,
    as_of: NaiveDate,
    reason: Option<ReasonForm>,
    recall: Option<RecallForm>,
) -> Response {
    let r = async {
        let f = CarryOverFilter {
            under: None,
            categories: super::visible_categories(&ctx, s).await?,
        };
        let mut p = page_data(&ctx, s, as_of, f).await?;
        if let Some(f) = reason {
            p.reason_form = f;
        }
        if let Some(f) = recall {
            p.recall_form = f;
        }
        Ok::<_, WebError>(render(&ctx.chrome, &p))
    }
    .await;
    let mut res = ctx.respond(r);
    if res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

fn form_map(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    pairs.into_iter().collect()
}

fn get(m: &HashMap<String, String>, k: &str) -> String {
    m.get(k).map_or("", |v| v.as_str()).trim().to_owned()
}

fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok()
}

fn date_error() -> FieldError {
    FieldError::new("请填写日期，格式为 年-月-日", "Enter a date as YYYY-MM-DD")
}

/// An amount of yuan as typed: `30,000.00`, `30000`, `￥30000.5`.
fn parse_amount(v: &str) -> Result<Amount, FieldError> {
    let v: String = v
        .chars()
        .filter(|c| !matches!(c, ',' | '，' | '￥' | '¥' | ' '))
        .collect();
    v.parse::<Amount>().map_err(|_| {
        FieldError::new(
            "请填写大于零、最多两位小数的金额（元）",
            "Enter an amount of yuan above zero, at most two decimals",
        )
    })
}

fn text_error(v: &str, max: usize, required: bool) -> Option<FieldError> {
    if required && v.is_empty() {
        return Some(FieldError::new("必填", "Required"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Some(FieldError::new(
            format!("最多 {max} 个字，且不能含控制字符"),
            format!("At most {max} characters, no control characters"),
        ));
    }
    None
}

/// Which field a refusal of the ledger is about, and what it says, in
/// Chinese first.
fn ledger_field(e: &LedgerError) -> (&'static str, FieldError) {
    use fundsync_protocol::body::BodyError;
    use LedgerError as E;
    let en = e.to_string();
    if e.code() == ErrorCode::Internal {
        tracing::error!(error = %e, "a carry-over form could not be recorded");
        return (
            "",
            FieldError::new("内部错误，请查看节点日志", "internal error"),
        );
    }
    let key = match e {
        E::UnknownAllocation(_) | E::NotHolder { .. } | E::NoBalance { .. } => "allocation",
        E::NotRecallable(_) => "allocation",
        E::OverCarryOver { .. } | E::OverRecall { .. } | E::Overflow => "amount",
        E::PlannedBeforeAsOf { .. } => "planned_on",
        E::RecalledBeforeAllocation { .. } => "recalled_on",
        E::UnknownProject(_) => "project",
        E::Conflict { .. } => "doc_no",
        E::DateOutOfRange { field, .. } => *field,
        E::Body(BodyError::Empty { field } | BodyError::TooLong { field, .. }) => *field,
        E::Body(BodyError::Control { field }) => *field,
        _ => "",
    };
    (key, FieldError::new(crate::import::zh::reason(e), en))
}

/// Refuses `u` acting on allocation `id` outside their scope (department,
/// 涉密), as the API does.
async fn allocation_in_scope(s: &AppState, u: &User, id: EntryId) -> Option<FieldError> {
    let a = s.ledger.allocation(id).await.ok().flatten()?;
    match crate::api::category_in_scope(s, u, &a.category).await {
        Ok(()) => None,
        Err(e) => Some(FieldError::new(
            "无权办理此资金类别：不属于您的归口科室，或您未获涉密资金授权",
            e.message().to_owned(),
        )),
    }
}

async fn explain_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let m = form_map(f);
    let mut form = ReasonForm {
        allocation: get(&m, "allocation"),
        as_of: get(&m, "as_of"),
        reason: get(&m, "reason"),
        amount: get(&m, "amount"),
        planned_on: get(&m, "planned_on"),
        project: get(&m, "project"),
        note: get(&m, "note"),
        errors: HashMap::new(),
    };
    let today = s.ledger.clock().today();
    let allocation = form.allocation.parse::<EntryId>().ok();
    if allocation.is_none() {
        form.errors.insert(
            "allocation",
            FieldError::new(
                "请选择本节点的指标",
                "Choose one of this node's allocations",
            ),
        );
    }
    let as_of = parse_date(&form.as_of);
    if as_of.is_none() {
        form.errors.insert("as_of", date_error());
    }
    let reason = form.reason.parse::<CarryOverReason>().ok();
    if reason.is_none() {
        form.errors.insert(
            "reason",
            FieldError::new("请选择结转原因", "Choose a reason"),
        );
    }
    let amount = parse_amount(&form.amount)
        .map_err(|e| form.errors.insert("amount", e))
        .ok();
    let planned_on = parse_date(&form.planned_on);
    if planned_on.is_none() {
        form.errors.insert("planned_on", date_error());
    }
    if let Some(e) = text_error(&form.project, CODE_CHARS_MAX, false) {
        form.errors.insert("project", e);
    }
    let other = reason == Some(CarryOverReason::Other);
    if let Some(e) = text_error(&form.note, TEXT_CHARS_MAX, other) {
        form.errors.insert("note", e);
    }
    if let Some(id) = allocation {
        if let Some(e) = allocation_in_scope(&s, &u, id).await {
            form.errors.insert("allocation", e);
        }
    }
    let (Some(allocation), Some(as_of), Some(reason), Some(amount), Some(planned_on), true) = (
        allocation,
        as_of,
        reason,
        amount,
        planned_on,
        form.errors.is_empty(),
    ) else {
        let on = as_of.unwrap_or(today);
        return refused(ctx, &s, on, Some(form), None).await;
    };
    let body = Body::CarryOverExplained(CarryOverExplained {
        allocation,
        as_of,
        reason,
        amount,
        planned_on,
        project: form.project.clone(),
        note: form.note.clone(),
    });
    if let Err(e) = s.ledger.submit_one(body, &who).await {
        let (key, err) = ledger_field(&e);
        form.errors.insert(key, err);
        return refused(ctx, &s, as_of, Some(form), None).await;
    }
    see_other(&url(
        "/carryover",
        &[("as_of", as_of.to_string()), ("done", "reason".to_owned())],
    ))
}

async fn recall_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let m = form_map(f);
    let mut form = RecallForm {
        allocation: get(&m, "allocation"),
        doc_no: get(&m, "doc_no"),
        amount: get(&m, "amount"),
        recalled_on: get(&m, "recalled_on"),
        purpose: get(&m, "purpose"),
        reason: get(&m, "reason"),
        errors: HashMap::new(),
    };
    let today = s.ledger.clock().today();
    let allocation = form.allocation.parse::<EntryId>().ok();
    if allocation.is_none() {
        form.errors.insert(
            "allocation",
            FieldError::new(
                "请选择上级下达给本节点的指标",
                "Choose an allocation the parent issued to this node",
            ),
        );
    }
    if let Some(e) = text_error(&form.doc_no, CODE_CHARS_MAX, true) {
        form.errors.insert("doc_no", e);
    }
    let amount = parse_amount(&form.amount)
        .map_err(|e| form.errors.insert("amount", e))
        .ok();
    let recalled_on = parse_date(&form.recalled_on);
    if recalled_on.is_none() {
        form.errors.insert("recalled_on", date_error());
    }
    let purpose = if form.purpose.is_empty() {
        Some(RecallPurpose::Recall)
    } else {
        form.purpose.parse::<RecallPurpose>().ok()
    };
    if purpose.is_none() {
        form.errors.insert(
            "purpose",
            FieldError::new("请选择收回或统筹", "Choose recall or pooling"),
        );
    }
    if let Some(e) = text_error(&form.reason, TEXT_CHARS_MAX, false) {
        form.errors.insert("reason", e);
    }
    if let Some(id) = allocation {
        if let Some(e) = allocation_in_scope(&s, &u, id).await {
            form.errors.insert("allocation", e);
        }
    }
    let (Some(allocation), Some(amount), Some(recalled_on), Some(purpose), true) = (
        allocation,
        amount,
        recalled_on,
        purpose,
        form.errors.is_empty(),
    ) else {
        return refused(ctx, &s, today, None, Some(form)).await;
    };
    let body = Body::FundsRecalled(FundsRecalled {
        allocation,
        doc_no: form.doc_no.clone(),
        amount,
        recalled_on,
        purpose,
        reason: form.reason.clone(),
    });
    if let Err(e) = s.ledger.submit_one(body, &who).await {
        let (key, err) = ledger_field(&e);
        form.errors.insert(key, err);
        return refused(ctx, &s, today, None, Some(form)).await;
    }
    see_other(&url(
        "/carryover",
        &[
            ("as_of", recalled_on.to_string()),
            ("done", "recall".to_owned()),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_typed_and_refused_in_chinese() {
        assert_eq!(parse_amount("30,000.50").map(|a| a.fen()), Ok(3_000_050));
        assert_eq!(parse_amount("￥15800").map(|a| a.fen()), Ok(1_580_000));
        for bad in ["", "0", "-1", "1.001", "abc"] {
            let e = parse_amount(bad).expect_err(bad);
            assert!(e.zh.contains("金额"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn every_reason_has_a_label_in_both_languages() {
        for r in CarryOverReason::ALL {
            assert_ne!(reason_label(Lang::Zh, r.as_str()), "?");
            assert_ne!(reason_label(Lang::En, r.as_str()), "?");
        }
        assert_eq!(reason_label(Lang::Zh, "quality_guarantee"), "质量保证金");
        assert_eq!(reason_label(Lang::Zh, "x"), "?");
    }

    #[test]
    fn refusals_land_on_their_field() {
        let id: EntryId = "652800-3".parse().expect("id");
        let (k, e) = ledger_field(&LedgerError::PlannedBeforeAsOf {
            planned_on: NaiveDate::from_ymd_opt(2020, 9, 1).expect("date"),
            as_of: NaiveDate::from_ymd_opt(2020, 9, 25).expect("date"),
        });
        assert_eq!(k, "planned_on");
        assert!(e.zh.contains("早于"), "{e:?}");
        let (k, _) = ledger_field(&LedgerError::NotRecallable(id));
        assert_eq!(k, "allocation");
    }
    fn sample() -> CarryOverPage {
        use crate::ledger::query::{CarryOverAllocation, CarryOverLine, CarryOverReasonView};
        let f = |b: i64, e: i64| CarryOverFigures {
            balance: Decimal::new(b, 2),
            explained: Decimal::new(e, 2),
            unexplained: Decimal::new(b - e, 2),
        };
        let reason = CarryOverReasonView {
            id: "652822-40".into(),
            allocation: "652800-9".into(),
            holder: "652822".into(),
            as_of: "2020-09-25".into(),
            reason: "quality_guarantee".into(),
            amount: Decimal::new(1_580_000, 2),
            planned_on: "2020-09-30".into(),
            project: "LT-07".into(),
            project_name: "<月堂村>温室大棚".into(),
            note: String::new(),
            actor: None,
        };
        let report = CarryOverReport {
            node: "652800".into(),
            as_of: NaiveDate::from_ymd_opt(2020, 9, 25).expect("date"),
            total: f(4_000_000, 1_580_000),
            by_node: vec![CarryOverLine {
                node: "652822".into(),
                node_name: "轮台县".into(),
                fund_origin: None,
                figures: f(4_000_000, 1_580_000),
            }],
            by_source: vec![CarryOverLine {
                node: "652822".into(),
                node_name: "轮台县".into(),
                fund_origin: Some("central".into()),
                figures: f(4_000_000, 1_580_000),
            }],
            by_project: Vec::new(),
            by_reason: [("quality_guarantee".to_owned(), Decimal::new(1_580_000, 2))].into(),
            allocations: vec![CarryOverAllocation {
                id: "652800-9".into(),
                holder: "652822".into(),
                holder_name: "轮台县".into(),
                doc_no: "巴财农〔2020〕1号".into(),
                title: String::new(),
                category: "X-01".into(),
                fund_origin: "central".into(),
                kind: "issued".into(),
                figures: f(4_000_000, 1_580_000),
                explained_as_of: Some("2020-09-25".into()),
                reasons: vec![reason],
            }],
        };
        CarryOverPage {
            report,
            under: None,
            nodes: Vec::new(),
            categories: HashMap::new(),
            may_record: true,
            own: Vec::new(),
            has_parent: true,
            reason_form: ReasonForm::default(),
            recall_form: RecallForm::default(),
            done: None,
        }
    }

    #[test]
    fn the_page_speaks_chinese_first_and_escapes_what_it_shows() {
        use super::super::layout::test_chrome;
        let zh = render(&test_chrome(Lang::Zh), &sample()).into_string();
        for want in [
            "结转结余",
            "质量保证金",
            "1.58",
            "计划 2020-09-30",
            "中央",
            "说明结转原因",
            "收回 / 统筹",
            "/carryover.xlsx",
        ] {
            assert!(zh.contains(want), "{want} missing");
        }
        assert!(zh.contains("&lt;月堂村&gt;") && !zh.contains("<月堂村>"));
        let en = render(&test_chrome(Lang::En), &sample()).into_string();
        assert!(en.contains("Quality guarantee") && en.contains("Give a reason"));
        // A reader without Allocate sees the report, not the forms.
        let mut p = sample();
        p.may_record = false;
        let read = render(&test_chrome(Lang::Zh), &p).into_string();
        assert!(!read.contains("说明结转原因") && !read.contains("/carryover/recall"));
    }
}
