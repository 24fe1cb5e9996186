//! `/evaluation?year=2020&node=652800`: the year-end self-evaluation
//! (绩效自评, seed 003 §13–14) of a node and its subtree
//! ([`Ledger::evaluation_year`]): the projects of the year with and without
//! a self-evaluation, the compiled reports (部门自评报告, 本级自评报告; the
//! current version of each marked), and the spot checks (抽查) with each
//! sampled evaluation's finding (符合 / 不符合) and rectification (整改).
//! `?print=1` is the same without the site's chrome, for printing;
//! `/evaluation.xlsx` the workbook (web/export). A department officer sees
//! their department's projects and reports.
//!
//! On this node's own page, the forms, each shown only to a reader holding
//! its permission:
//!
//! - `POST /evaluation/self` (`Evaluate`): a project's self-evaluation, its
//!   indicators drawn from the ledger (each target's latest actual);
//! - `POST /evaluation/reports` (`CompileEvaluations`): a department's or
//!   the node's report, what it covers and states drawn up by the ledger;
//! - `POST /evaluation/spot-checks` and `/evaluation/findings`
//!   (`SpotCheck`): a sample drawn from a seed, and a finding per sampled
//!   evaluation.
//!
//! They draft their entries as the API does (`api/evaluation.rs`, the same
//! functions), carry a random key and record through
//! `Ledger::submit_keyed` as the desk's forms do, so a refresh or a double
//! click records once; a refusal is shown in Chinese next to its field and
//! records nothing. The 整改 of a 不符合 finding stays the API's.
//!
//! [`Ledger::evaluation_year`]: crate::ledger::Ledger::evaluation_year

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use chrono::Datelike;
use fundsync_protocol::body::{FindingVerdict, ReportScope, CODE_CHARS_MAX, TEXT_CHARS_MAX};
use fundsync_protocol::{Actor, Body, EntryId, ErrorCode, NodeCode};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::desk::{key_fresh, new_key, KEY_FIELD};
use super::form::{field, hidden, post_form, submit, Field, FieldError, InputKind};
use super::html::url;
use super::layout::{page, Nav};
use super::projects::{form_map, get, parse_serde, too_long, unprocessable};
use super::text::{wan2, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::accounts::User;
use crate::api::evaluation::{
    evaluation_body, report_body, spot_check_body, CompileRequest, EvaluateRequest, FindingRequest,
    SpotCheckRequest, SAMPLE_MAX,
};
use crate::http::auth::see_other;
use crate::http::{Acting, ApiError, AppState, Routes};
use crate::ledger::query::{EvaluationYear, LatestActual};
use crate::ledger::{FormKey, LedgerError};
use crate::warnings::follow_up::status_label;

type S = State<Arc<AppState>>;

/// The page and its forms, each with its permission.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/evaluation", P::ReadLedger, evaluation_page)
        .post("/evaluation/self", P::Evaluate, evaluate_submit)
        .post("/evaluation/reports", P::CompileEvaluations, compile_submit)
        .post("/evaluation/spot-checks", P::SpotCheck, spot_check_submit)
        .post("/evaluation/findings", P::SpotCheck, finding_submit)
}

/// The year and node from the query (the page and its workbook): the year
/// defaults to this one, the node to this node; a node outside this
/// node's tree is not found. Narrowed to a department officer's department.
pub(crate) async fn year_query(ctx: &Ctx, s: &AppState) -> Result<EvaluationYear, WebError> {
    let year = ctx
        .parsed::<i32>("year")?
        .unwrap_or_else(|| s.ledger.clock().today().year());
    if !(2000..=2100).contains(&year) {
        return Err(WebError::not_found(
            "年度超出范围",
            "No such year",
            &year.to_string(),
        ));
    }
    let node = match ctx.parsed::<NodeCode>("node")? {
        Some(n) => {
            let nodes = s.ledger.nodes().await?;
            if !nodes.iter().any(|x| x.code == n.as_str()) {
                return Err(WebError::not_found(
                    "该节点不在本辖区",
                    "That node is not in this node's tree",
                    n.as_str(),
                ));
            }
            Some(n)
        }
        None => None,
    };
    let department = ctx.user.as_ref().and_then(|u| u.scope().department);
    Ok(s.ledger
        .evaluation_year(node, year, department.as_deref())
        .await?)
}

fn wan(d: rust_decimal::Decimal) -> Markup {
    html! { span class="num" title={ (yuan(d)) " 元" } { (wan2(d)) } }
}

/// 符合 / 不符合.
pub fn verdict_label(l: Lang, v: &str) -> &'static str {
    match v {
        "conforming" => l.t("符合", "conforming"),
        "non_conforming" => l.t("不符合", "non-conforming"),
        _ => l.t("未知", "unknown"),
    }
}

/// 部门自评报告 / 本级自评报告.
pub fn scope_label(l: Lang, v: &str) -> &'static str {
    match v {
        "department" => l.t("部门自评报告", "Department report"),
        "node" => l.t("本级自评报告", "Node report"),
        _ => l.t("未知", "unknown"),
    }
}

/// The page's sections.
pub fn sections(l: Lang, y: &EvaluationYear) -> Markup {
    html! {
        h2 { (l.t("一、项目绩效自评", "1. Projects' self-evaluation")) }
        p {
            (l.t("本年度项目 ", "Projects of the year: ")) b { (y.projects.len()) }
            (l.t(" 个，已自评 ", "; evaluated ")) b { (y.evaluated) }
            (l.t(" 个，未自评 ", "; not evaluated ")) b class=[(y.not_evaluated > 0).then_some("bad")] { (y.not_evaluated) }
            (l.t(" 个。", "."))
        }
        div class="scroll" { table {
            thead { tr {
                th { (l.t("单位", "Node")) }
                th { (l.t("项目", "Project")) }
                th { (l.t("主管科室", "Department")) }
                th class="num" { (l.t("项目资金（万元）", "Funds (万元)")) }
                th { (l.t("自评", "Self-evaluation")) }
                th class="num" { (l.t("指标完成", "Indicators met")) }
                th { (l.t("未完成原因", "Shortfall")) }
                th { (l.t("改进措施", "Measures")) }
            } }
            tbody {
                @for p in &y.projects {
                    tr {
                        td class="nowrap" { (p.node_name) }
                        td { (p.code) " " (p.name) }
                        td { (p.department) }
                        td class="num" { (wan(p.budget)) }
                        @if let Some(e) = &p.evaluation {
                            td class="nowrap" { (l.t("已自评", "evaluated")) " " span class="muted" { (e.id) " · " (e.evaluated_on) } }
                            td class="num" { (e.met) " / " (e.indicators) }
                            td { (e.shortfall) }
                            td { (e.measures) }
                        } @else {
                            td { b class="bad" { (l.t("未自评", "not evaluated")) } }
                            td {} td {} td {}
                        }
                    }
                }
                @if y.projects.is_empty() {
                    tr { td colspan="8" class="muted" { (l.t("暂无", "None")) } }
                }
            }
        } }
        h2 { (l.t("二、绩效自评报告", "2. Self-evaluation reports")) }
        div class="scroll" { table {
            thead { tr {
                th { (l.t("单位", "Node")) }
                th { (l.t("报告", "Report")) }
                th class="num" { (l.t("自评项目", "Evaluations")) }
                th class="num" { (l.t("汇总报告", "Reports compiled")) }
                th class="num" { (l.t("指标完成", "Indicators met")) }
                th class="num" { (l.t("项目资金（万元）", "Funds (万元)")) }
                th { (l.t("报告日期", "Compiled on")) }
                th { (l.t("摘要", "Summary")) }
            } }
            tbody {
                @for r in &y.reports {
                    tr class=[(!r.current).then_some("muted")] {
                        td class="nowrap" { (r.node_name) }
                        td {
                            (scope_label(l, &r.scope))
                            @if !r.department.is_empty() { "（" (r.department) "）" }
                            " " span class="muted" { (r.id) }
                            @if !r.current { " " (l.t("（已被新版取代）", "(superseded)")) }
                        }
                        td class="num" { (r.evaluations) }
                        td class="num" { (r.reports) }
                        td class="num" { (r.met) " / " (r.indicators) }
                        td class="num" { (wan(r.funds)) }
                        td class="nowrap" { (r.compiled_on) }
                        td { (r.summary) }
                    }
                }
                @if y.reports.is_empty() {
                    tr { td colspan="8" class="muted" { (l.t("暂无", "None")) } }
                }
            }
        } }
        h2 { (l.t("三、抽查及整改", "3. Spot checks and rectification")) }
        @if y.spot_checks.is_empty() {
            p class="muted" { (l.t("暂无抽查", "No spot check")) }
        }
        @for c in &y.spot_checks {
            h3 {
                (c.title) " " span class="muted" {
                    (c.id) " · " (c.checked_on) " · "
                    @match c.seed.as_deref() {
                        Some(seed) => { (l.t("随机抽取，种子 ", "random, seed ")) (seed) }
                        None => { (l.t("指定抽取", "chosen")) }
                    }
                }
            }
            div class="scroll" { table {
                thead { tr {
                    th { (l.t("自评", "Evaluation")) }
                    th { (l.t("单位", "Node")) }
                    th { (l.t("项目", "Project")) }
                    th { (l.t("结论", "Verdict")) }
                    th { (l.t("检查意见", "Notes")) }
                    th { (l.t("整改", "Rectification")) }
                } }
                tbody {
                    @for x in &c.sample {
                        tr {
                            td class="nowrap" { (x.evaluation) }
                            td class="nowrap" { (x.origin) }
                            td { (x.project) }
                            @match &x.finding {
                                Some(f) => {
                                    td { span class=[(f.verdict == "non_conforming").then_some("bad")] { (verdict_label(l, &f.verdict)) } }
                                    td { (f.notes) }
                                    td {
                                        @match &f.rectification {
                                            Some(r) => {
                                                @let (zh, en) = status_label(&r.status);
                                                (l.t(zh, en)) " · " (r.assignee_name) " (" (r.assignee) ") · "
                                                (l.t("期限 ", "due ")) (r.deadline)
                                                @if !r.rectification.is_empty() { br; span class="muted" { (r.rectification) } }
                                            }
                                            None if f.verdict == "non_conforming" => { span class="muted" { (l.t("尚未指派", "not assigned yet")) } }
                                            None => {}
                                        }
                                    }
                                }
                                None => { td class="muted" { (l.t("待检查", "to check")) } td {} td {} }
                            }
                        }
                    }
                }
            } }
        }
    }
}

const PRINT_CSS: &str = "body{font-family:serif;margin:2em;color:#000}table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #000;padding:2px 4px;font-size:11px;vertical-align:top}.num{text-align:right}.muted{color:#555}@page{size:A4 landscape;margin:15mm}h1{text-align:center;font-size:18px}h2{font-size:14px}h3{font-size:12px}";

// ---------------------------------------------------------------- forms

/// The self-evaluation form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct EvaluateForm {
    pub project: String,
    pub shortfall: String,
    pub measures: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The report form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct CompileForm {
    pub scope: String,
    pub department: String,
    pub summary: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The spot-check form as sent, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct SpotCheckForm {
    pub title: String,
    pub seed: String,
    pub size: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The finding form as sent, and why it was refused: `item` is
/// `spot-check-id/evaluation-id`, one sampled evaluation of this node's
/// own spot check.
#[derive(Debug, Default, Clone)]
pub struct FindingForm {
    pub item: String,
    pub verdict: String,
    pub notes: String,
    pub errors: HashMap<&'static str, FieldError>,
}

/// The forms of the page, each shown only to a reader holding its
/// permission, and only on this node's own page (the writes are its own).
#[derive(Debug, Default)]
pub struct Forms {
    /// This node's code.
    pub me: String,
    pub may_evaluate: bool,
    pub may_compile: bool,
    pub may_spot_check: bool,
    /// A department officer's department (they evaluate and compile only
    /// its), `None` for a role spanning departments.
    pub department: Option<String>,
    /// The forms' key (one per page shown).
    pub key: String,
    pub evaluate: EvaluateForm,
    pub compile: CompileForm,
    pub spot_check: SpotCheckForm,
    pub finding: FindingForm,
    /// The latest actual of each target of this node's projects of the
    /// year, with its note and evidence (佐证材料): what a self-evaluation
    /// draws on, shown beside its form.
    pub actuals: Vec<LatestActual>,
    pub done: Option<(&'static str, &'static str)>,
}

fn form_error(l: Lang, errors: &HashMap<&'static str, FieldError>) -> Markup {
    html! { @if let Some(e) = errors.get("form") { p class="error" { (e.text(l)) } } }
}

/// The actuals of the projects awaiting their self-evaluation, with the
/// evidence each rests on (佐证材料, protocol version 6).
fn actuals_render(l: Lang, pending: &[(String, String)], actuals: &[LatestActual]) -> Markup {
    let shown: Vec<&LatestActual> = actuals
        .iter()
        .filter(|a| pending.iter().any(|(code, _)| *code == a.project))
        .collect();
    html! {
        @if !shown.is_empty() {
            div class="scroll" { table {
                thead { tr {
                    th { (l.t("项目", "Project")) }
                    th { (l.t("指标", "Indicator")) }
                    th class="num" { (l.t("实际值", "Actual")) }
                    th { (l.t("填报日期", "On")) }
                    th { (l.t("说明", "Note")) }
                    th { (l.t("佐证材料", "Evidence")) }
                } }
                tbody {
                    @for a in &shown {
                        tr {
                            td class="nowrap" { (a.project) }
                            td { (a.indicator) }
                            td class="num nowrap" { (a.actual) (a.unit) }
                            td class="nowrap" { (a.recorded_on) }
                            td { (a.note) }
                            td { @if a.evidence.is_empty() { span class="muted" { "—" } } @else { (a.evidence) } }
                        }
                    }
                }
            } }
        }
    }
}

/// The forms, after the sections.
pub fn forms_render(l: Lang, csrf: &str, y: &EvaluationYear, f: &Forms) -> Markup {
    let q = |path: &str| url(path, &[("year", y.year.to_string())]);
    let choose = ("", l.t("请选择", "Choose"));
    let projects: Vec<(String, String)> = y
        .projects
        .iter()
        .filter(|p| p.node == f.me && p.evaluation.is_none())
        .map(|p| {
            (
                p.code.clone(),
                format!("{} {}（{}）", p.code, p.name, p.department),
            )
        })
        .collect();
    let project_options: Vec<(&str, &str)> = std::iter::once(choose)
        .chain(projects.iter().map(|(a, b)| (a.as_str(), b.as_str())))
        .collect();
    let scope_options: Vec<(&str, &str)> = match f.department {
        Some(_) => vec![("department", scope_label(l, "department"))],
        None => vec![
            choose,
            ("department", scope_label(l, "department")),
            ("node", scope_label(l, "node")),
        ],
    };
    let items: Vec<(String, String)> = y
        .spot_checks
        .iter()
        .filter(|c| c.origin == f.me)
        .flat_map(|c| {
            c.sample.iter().filter(|x| x.finding.is_none()).map(|x| {
                (
                    format!("{}/{}", c.id, x.evaluation),
                    format!(
                        "{} · {} · {} {}",
                        c.title, x.evaluation, x.origin, x.project
                    ),
                )
            })
        })
        .collect();
    let item_options: Vec<(&str, &str)> = std::iter::once(choose)
        .chain(items.iter().map(|(a, b)| (a.as_str(), b.as_str())))
        .collect();
    let verdict_options = [
        choose,
        ("conforming", verdict_label(l, "conforming")),
        ("non_conforming", verdict_label(l, "non_conforming")),
    ];
    let (ef, cf, sf, ff) = (&f.evaluate, &f.compile, &f.spot_check, &f.finding);
    html! {
        @if f.may_evaluate {
            div class="card" id="evaluate" {
                h2 { (l.t("填报项目绩效自评", "Record a project's self-evaluation")) }
                p class="muted" { (l.t(
                    "各项指标的实际完成值取自项目页填报的实际值，完成率按目标值计算；有指标未完成的，须填写未完成原因。",
                    "Each indicator's actual is the latest recorded on the project's page, its completion computed against the target; a shortfall needs its reasons.")) }
                (actuals_render(l, &projects, &f.actuals))
                @if projects.is_empty() && ef.errors.is_empty() {
                    p class="muted" { (l.t("本年度没有待自评的项目", "No project of the year awaits its self-evaluation")) }
                } @else {
                    (post_form(&q("/evaluation/self"), csrf, html! {
                        (hidden(KEY_FIELD, &f.key))
                        div class="stack" {
                            (field(l, &Field::select("project", l.t("项目", "Project"), &project_options)
                                .value(&ef.project).required().error(ef.errors.get("project"))))
                            (field(l, &Field::input("shortfall", l.t("未完成原因（有指标未完成时必填）", "Shortfall reasons (required when short)"), InputKind::Text)
                                .value(&ef.shortfall).error(ef.errors.get("shortfall"))))
                            (field(l, &Field::input("measures", l.t("改进措施", "Improvement measures"), InputKind::Text)
                                .value(&ef.measures).error(ef.errors.get("measures"))))
                            (form_error(l, &ef.errors))
                            div { (submit(l.t("提交自评", "Record the self-evaluation"))) }
                        }
                    }))
                }
            }
        }
        @if f.may_compile {
            div class="card" id="compile" {
                h2 { (l.t("汇总自评报告", "Compile a self-evaluation report")) }
                p class="muted" { (l.t(
                    "部门自评报告汇总本科室项目的自评；本级自评报告汇总各部门报告、下级报告及本级其余自评，逐级报送。汇总数由账本计算。",
                    "A department's report covers its projects' evaluations; the node's covers its departments' reports, its children's reports and its other evaluations. The figures are the ledger's.")) }
                (post_form(&q("/evaluation/reports"), csrf, html! {
                    (hidden(KEY_FIELD, &f.key))
                    div class="stack" {
                        (field(l, &Field::select("scope", l.t("报告类型", "Report"), &scope_options)
                            .value(&cf.scope).required().error(cf.errors.get("scope"))))
                        @match &f.department {
                            Some(d) => {
                                p {
                                    (l.t("主管科室：", "Department: ")) b { (d) }
                                    @if let Some(e) = cf.errors.get("department") {
                                        " " span class="field-error" id="f-department-error" { (e.text(l)) }
                                    }
                                }
                            }
                            None => {
                                (field(l, &Field::input("department", l.t("主管科室（部门报告必填）", "Department (for a department's report)"), InputKind::Text)
                                    .value(&cf.department).error(cf.errors.get("department"))))
                            }
                        }
                        (field(l, &Field::input("summary", l.t("报告摘要", "Summary"), InputKind::Text)
                            .value(&cf.summary).required().error(cf.errors.get("summary"))))
                        (form_error(l, &cf.errors))
                        div { (submit(l.t("汇总并报送", "Compile the report"))) }
                    }
                }))
            }
        }
        @if f.may_spot_check {
            div class="card" id="spot-check" {
                h2 { (l.t("抽查", "Spot check")) }
                p class="muted" { (l.t(
                    "从辖区下级单位本年度的绩效自评中按随机种子抽取样本，抽取结果可复核。",
                    "A sample of the year's self-evaluations below this node, drawn from a seed so the draw can be checked.")) }
                (post_form(&q("/evaluation/spot-checks"), csrf, html! {
                    (hidden(KEY_FIELD, &f.key))
                    div class="stack" {
                        (field(l, &Field::input("title", l.t("抽查名称", "Title"), InputKind::Text)
                            .value(&sf.title).required().error(sf.errors.get("title"))))
                        (field(l, &Field::input("seed", l.t("随机种子", "Seed"), InputKind::Number)
                            .value(&sf.seed).required().error(sf.errors.get("seed"))))
                        (field(l, &Field::input("size", l.t("抽取数量", "Sample size"), InputKind::Number)
                            .value(&sf.size).required().error(sf.errors.get("size"))))
                        (form_error(l, &sf.errors))
                        div { (submit(l.t("抽取样本", "Draw the sample"))) }
                    }
                }))
            }
            div class="card" id="finding" {
                h2 { (l.t("登记抽查结论", "Record a finding")) }
                @if items.is_empty() && ff.errors.is_empty() {
                    p class="muted" { (l.t("没有待检查的抽查样本", "No sampled evaluation awaits its finding")) }
                } @else {
                    (post_form(&q("/evaluation/findings"), csrf, html! {
                        (hidden(KEY_FIELD, &f.key))
                        div class="stack" {
                            (field(l, &Field::select("item", l.t("抽查样本", "Sampled evaluation"), &item_options)
                                .value(&ff.item).required().error(ff.errors.get("item"))))
                            (field(l, &Field::select("verdict", l.t("结论", "Verdict"), &verdict_options)
                                .value(&ff.verdict).required().error(ff.errors.get("verdict"))))
                            (field(l, &Field::input("notes", l.t("检查意见（不符合时必填）", "Notes (required when non-conforming)"), InputKind::Text)
                                .value(&ff.notes).error(ff.errors.get("notes"))))
                            (form_error(l, &ff.errors))
                            div { (submit(l.t("登记结论", "Record the finding"))) }
                        }
                    }))
                }
            }
        }
    }
}

async fn evaluation_page(ctx: Ctx, State(s): S) -> Response {
    let r = render(&ctx, &s, None).await;
    ctx.respond(r)
}

/// Which refused form to show again.
enum Refused {
    Evaluate(EvaluateForm),
    Compile(CompileForm),
    SpotCheck(SpotCheckForm),
    Finding(FindingForm),
}

/// The page; with `refused`, that form as sent with its errors.
async fn render(ctx: &Ctx, s: &AppState, refused: Option<Refused>) -> Result<Markup, WebError> {
    let y = year_query(ctx, s).await?;
    let c = &ctx.chrome;
    let l = c.lang;
    let me = s.ledger.identity().code.to_string();
    let name = s
        .ledger
        .nodes()
        .await?
        .into_iter()
        .find(|n| n.code == y.node)
        .map(|n| n.name)
        .unwrap_or_default();
    let title = format!(
        "{name} {}{}",
        y.year,
        l.t(" 年度绩效自评", " self-evaluation")
    );
    let body = sections(l, &y);
    if ctx.param("print").is_some() {
        return Ok(html! {
            (DOCTYPE) "\n"
            html lang=(l.html_lang()) {
                head { meta charset="utf-8"; title { (title) } style { (PreEscaped(PRINT_CSS)) } }
                body { h1 { (title) } p class="muted" { (l.t("数据来源：账本（金额单位：万元）", "From the ledger (万元)")) } (body) }
            }
        });
    }
    let own = y.node == me;
    let may = |p: Permission| own && c.who.as_ref().is_some_and(|w| w.may(p));
    let mut forms = Forms {
        may_evaluate: may(Permission::Evaluate),
        may_compile: may(Permission::CompileEvaluations),
        may_spot_check: may(Permission::SpotCheck),
        department: ctx.user.as_ref().and_then(|u| u.scope().department),
        key: new_key(s.ledger.clock().now_ms()),
        spot_check: SpotCheckForm {
            seed: rand::random::<u32>().to_string(),
            size: "1".into(),
            ..SpotCheckForm::default()
        },
        compile: CompileForm {
            scope: "department".into(),
            ..CompileForm::default()
        },
        done: match ctx.param("done") {
            Some("self") => Some(("自评已记录。", "The self-evaluation is recorded.")),
            Some("report") => Some((
                "自评报告已汇总，逐级报送。",
                "The report is compiled and goes up.",
            )),
            Some("spot-check") => Some(("抽查样本已抽取。", "The sample is drawn.")),
            Some("finding") => Some(("抽查结论已登记。", "The finding is recorded.")),
            _ => None,
        },
        me,
        ..Forms::default()
    };
    if forms.may_evaluate {
        forms.actuals = s
            .ledger
            .latest_actuals(s.ledger.identity().code, y.year)
            .await?;
    }
    match refused {
        Some(Refused::Evaluate(f)) => forms.evaluate = f,
        Some(Refused::Compile(f)) => forms.compile = f,
        Some(Refused::SpotCheck(f)) => forms.spot_check = f,
        Some(Refused::Finding(f)) => forms.finding = f,
        None => {}
    }
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let mut q: Vec<(&str, String)> = vec![("year", y.year.to_string()), ("node", y.node.clone())];
    if l == Lang::En {
        q.push(("lang", "en".to_owned()));
    }
    let mut print = q.clone();
    print.push(("print", "1".to_owned()));
    let at = |year: i32| {
        let mut v = q.clone();
        v[0].1 = year.to_string();
        url("/evaluation", &v)
    };
    Ok(page(
        c,
        Nav::Projects,
        &title,
        html! {
            @if let Some((zh, en)) = forms.done {
                div class="note" { (l.t(zh, en)) }
            }
            p class="sub" {
                (name) " (" (y.node) ") · "
                a href=(at(y.year - 1)) { "← " (y.year - 1) } " · " b { (y.year) } " · " a href=(at(y.year + 1)) { (y.year + 1) " →" }
                " · " (l.t("依据：扶贫项目资金绩效管理办法第十三、十四条。", "Per seed 003 §13–14."))
            }
            p class="sub export" {
                a href=(url("/evaluation.xlsx", &q)) download { (l.t("导出 Excel", "Export Excel")) }
                " · "
                a href=(url("/evaluation", &print)) { (l.t("打印视图", "Print view")) }
            }
            (body)
            (forms_render(l, csrf, &y, &forms))
        },
    ))
}

/// A refused form: the page again with it, 422.
async fn refused(ctx: Ctx, s: &AppState, form: Refused) -> Response {
    let r = render(&ctx, s, Some(form)).await;
    unprocessable(ctx.respond(r))
}

/// Where a recorded form goes: the page of its year, saying what was done.
fn done(ctx: &Ctx, what: &str) -> Response {
    let year = ctx.param("year").unwrap_or("").to_owned();
    let mut q = vec![("done", what.to_owned())];
    if !year.is_empty() {
        q.insert(0, ("year", year));
    }
    see_other(&url("/evaluation", &q))
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

fn text_error(v: &str, max: usize, required: bool) -> Option<FieldError> {
    if required && v.trim().is_empty() {
        return Some(FieldError::new("此项必填", "Required"));
    }
    (v.chars().count() > max || v.chars().any(char::is_control)).then(|| too_long(max))
}

/// The year of the page the form was sent from.
fn form_year(ctx: &Ctx, s: &AppState) -> Result<i32, WebError> {
    let year = ctx
        .parsed::<i32>("year")?
        .unwrap_or_else(|| s.ledger.clock().today().year());
    if !(2000..=2100).contains(&year) {
        return Err(WebError::not_found(
            "年度超出范围",
            "No such year",
            &year.to_string(),
        ));
    }
    Ok(year)
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

/// What the ledger refused, in Chinese, and the field it concerns.
fn ledger_field(e: &LedgerError, item_field: &'static str) -> (&'static str, FieldError) {
    let en = e.to_string();
    let (key, zh): (&'static str, String) = match e {
        LedgerError::UnknownProject(_) => (item_field, "本节点没有这个项目".into()),
        LedgerError::NotProjectTarget { .. } => (
            item_field,
            "自评的指标不是该项目的绩效目标，请刷新页面".into(),
        ),
        LedgerError::ShortfallUnexplained => {
            ("shortfall", "有绩效指标未完成，须填写未完成原因".into())
        }
        LedgerError::Conflict { what, .. } => (
            item_field,
            match *what {
                "self-evaluation" => "该项目本年度已有不同内容的自评，自评一经记录不能修改".into(),
                "spot check" => "本年度已有同名抽查，请换一个名称".into(),
                "finding" => "该样本已登记过不同的结论，结论一经登记不能修改".into(),
                _ => "与已记录的内容冲突".into(),
            },
        ),
        LedgerError::UnknownEvaluation(_)
        | LedgerError::NotInSample { .. }
        | LedgerError::UnknownSpotCheck(_) => (item_field, "请选择本节点抽查样本中的自评".into()),
        LedgerError::NotIncludable { .. } | LedgerError::ReportFigures(_) => (
            "form",
            "汇总内容与账本不符（可能刚有新的自评或报告），请刷新页面后重试".into(),
        ),
        LedgerError::DateOutOfRange { from, to, .. } => {
            ("form", format!("日期须在 {from} 至 {to} 之间"))
        }
        LedgerError::Body(_) => ("form", "填写内容不完整或过长，请检查".into()),
        _ => {
            if e.code() == ErrorCode::Internal {
                tracing::error!(error = %e, "an evaluation form could not be recorded");
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

/// What the API's shared drafting refused, in Chinese, by its field.
fn api_field(e: &ApiError, item_field: &'static str) -> (&'static str, FieldError) {
    let en = e.message().to_owned();
    let zh = match e.code() {
        ErrorCode::UnknownProject => "本节点没有这个项目",
        ErrorCode::Forbidden => "超出本人职责范围（只能办理本科室的项目和报告）",
        ErrorCode::InvalidInput => "该项目有绩效指标尚未填报实际完成值，请先在项目页填报实际值",
        ErrorCode::Internal => {
            tracing::error!(error = %en, "an evaluation form could not be drafted");
            "内部错误，请查看节点日志"
        }
        _ => "无法登记，请检查填写内容",
    };
    (item_field, FieldError::new(zh, en))
}

async fn evaluate_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let year = match form_year(&ctx, &s) {
        Ok(y) => y,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let mut form = EvaluateForm {
        project: get(&m, "project").trim().to_owned(),
        shortfall: get(&m, "shortfall").trim().to_owned(),
        measures: get(&m, "measures").trim().to_owned(),
        errors: HashMap::new(),
    };
    if form.project.is_empty() {
        form.errors.insert(
            "project",
            FieldError::new("请选择要自评的项目", "Choose the project"),
        );
    }
    for (k, v) in [("shortfall", &form.shortfall), ("measures", &form.measures)] {
        if let Some(e) = text_error(v, TEXT_CHARS_MAX, false) {
            form.errors.insert(k, e);
        }
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some(key), true) = (key, form.errors.is_empty()) else {
        return refused(ctx, &s, Refused::Evaluate(form)).await;
    };
    let request = EvaluateRequest {
        project: form.project.clone(),
        year,
        indicators: None,
        shortfall: form.shortfall.clone(),
        measures: form.measures.clone(),
    };
    let body = match evaluation_body(&s, &u, request).await {
        Ok(b) => b,
        Err(e) => {
            let (k, err) = api_field(&e, "project");
            form.errors.insert(k, err);
            return refused(ctx, &s, Refused::Evaluate(form)).await;
        }
    };
    if body.indicators.is_empty() {
        form.errors.insert(
            "project",
            FieldError::new(
                "该项目没有绩效目标，无法自评",
                "The project has no target to evaluate",
            ),
        );
        return refused(ctx, &s, Refused::Evaluate(form)).await;
    }
    let body = Body::SelfEvaluationRecorded(body);
    if let Err(e) = record(&s, &u, &key, "evaluation/self", body, &who).await {
        let (k, err) = ledger_field(&e, "project");
        form.errors.insert(k, err);
        return refused(ctx, &s, Refused::Evaluate(form)).await;
    }
    done(&ctx, "self")
}

async fn compile_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let year = match form_year(&ctx, &s) {
        Ok(y) => y,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let mut form = CompileForm {
        scope: get(&m, "scope").trim().to_owned(),
        department: get(&m, "department").trim().to_owned(),
        summary: get(&m, "summary").trim().to_owned(),
        errors: HashMap::new(),
    };
    let bound = u.scope().department;
    let scope = parse_serde::<ReportScope>(&form.scope);
    match (scope, &bound) {
        (None, _) => {
            form.errors.insert(
                "scope",
                FieldError::new("请选择报告类型", "Choose the kind of report"),
            );
        }
        (Some(ReportScope::Node), Some(_)) => {
            form.errors.insert(
                "scope",
                FieldError::new(
                    "本级自评报告跨部门汇总，由牵头科室办理；您只能汇总本科室的部门报告",
                    "A node's report spans departments: the lead office compiles it",
                ),
            );
        }
        (Some(ReportScope::Department), Some(d)) if d.is_empty() => {
            form.errors.insert(
                "scope",
                FieldError::new(
                    "您的账号未设置归口科室，不能汇总部门报告；请联系管理员",
                    "Your account has no department; ask an administrator",
                ),
            );
        }
        (Some(ReportScope::Department), Some(d))
            if !form.department.is_empty() && form.department != *d =>
        {
            form.errors.insert(
                "department",
                FieldError::new(
                    format!("您只能汇总{d}的部门报告"),
                    format!("You compile the report of {d} only"),
                ),
            );
        }
        (Some(ReportScope::Department), None) => {
            if let Some(e) = text_error(&form.department, CODE_CHARS_MAX, true) {
                form.errors.insert("department", e);
            }
        }
        _ => {}
    }
    if let Some(e) = text_error(&form.summary, TEXT_CHARS_MAX * 4, true) {
        form.errors.insert("summary", e);
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some(scope), Some(key), true) = (scope, key, form.errors.is_empty()) else {
        return refused(ctx, &s, Refused::Compile(form)).await;
    };
    let request = CompileRequest {
        year,
        scope,
        department: form.department.clone(),
        summary: form.summary.clone(),
        evaluations: None,
        reports: None,
    };
    let body = match report_body(&s, &u, request).await {
        Ok(b) => b,
        Err(e) => {
            let (k, err) = api_field(&e, "scope");
            form.errors.insert(k, err);
            return refused(ctx, &s, Refused::Compile(form)).await;
        }
    };
    if body.evaluations.is_empty() && body.reports.is_empty() {
        form.errors.insert(
            "scope",
            FieldError::new(
                "本年度没有可汇总的自评或报告（部门报告汇总本科室项目的自评）",
                "Nothing of the year to compile: no self-evaluation or report it would cover",
            ),
        );
        return refused(ctx, &s, Refused::Compile(form)).await;
    }
    let body = Body::EvaluationReportCompiled(body);
    if let Err(e) = record(&s, &u, &key, "evaluation/report", body, &who).await {
        let (k, err) = ledger_field(&e, "scope");
        form.errors.insert(k, err);
        return refused(ctx, &s, Refused::Compile(form)).await;
    }
    done(&ctx, "report")
}

async fn spot_check_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let year = match form_year(&ctx, &s) {
        Ok(y) => y,
        Err(e) => return ctx.respond(Err(e)),
    };
    let m = form_map(f);
    let mut form = SpotCheckForm {
        title: get(&m, "title").trim().to_owned(),
        seed: get(&m, "seed").trim().to_owned(),
        size: get(&m, "size").trim().to_owned(),
        errors: HashMap::new(),
    };
    if let Some(e) = text_error(&form.title, TEXT_CHARS_MAX, true) {
        form.errors.insert("title", e);
    }
    let seed = form.seed.parse::<u64>().ok();
    if seed.is_none() {
        form.errors.insert(
            "seed",
            FieldError::new(
                "请填写非负整数作为随机种子",
                "Enter a whole number from 0 as the seed",
            ),
        );
    }
    let size = form
        .size
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=SAMPLE_MAX).contains(n));
    if size.is_none() {
        form.errors.insert(
            "size",
            FieldError::new(
                format!("抽取数量须为 1 至 {SAMPLE_MAX} 的整数"),
                format!("A whole number from 1 to {SAMPLE_MAX}"),
            ),
        );
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some(seed), Some(size), Some(key), true) = (seed, size, key, form.errors.is_empty())
    else {
        return refused(ctx, &s, Refused::SpotCheck(form)).await;
    };
    let request = SpotCheckRequest {
        year,
        title: form.title.clone(),
        seed: Some(seed),
        size: Some(size),
        sample: None,
    };
    let body = match spot_check_body(&s, request).await {
        Ok(b) => b,
        Err(e) => {
            let zh = if e.code() == ErrorCode::InvalidInput {
                "本年度辖区下级单位尚无可抽查的绩效自评"
            } else {
                "无法抽取样本，请稍后重试"
            };
            form.errors
                .insert("form", FieldError::new(zh, e.message().to_owned()));
            return refused(ctx, &s, Refused::SpotCheck(form)).await;
        }
    };
    let body = Body::SpotCheckRecorded(body);
    if let Err(e) = record(&s, &u, &key, "evaluation/spot-check", body, &who).await {
        let (k, err) = ledger_field(&e, "title");
        form.errors.insert(k, err);
        return refused(ctx, &s, Refused::SpotCheck(form)).await;
    }
    done(&ctx, "spot-check")
}

async fn finding_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let m = form_map(f);
    let mut form = FindingForm {
        item: get(&m, "item").trim().to_owned(),
        verdict: get(&m, "verdict").trim().to_owned(),
        notes: get(&m, "notes").trim().to_owned(),
        errors: HashMap::new(),
    };
    let item = form
        .item
        .split_once('/')
        .and_then(|(c, e)| Some((EntryId::from_str(c).ok()?, EntryId::from_str(e).ok()?)));
    if item.is_none() {
        form.errors.insert(
            "item",
            FieldError::new("请选择抽查样本", "Choose a sampled evaluation"),
        );
    }
    let verdict = parse_serde::<FindingVerdict>(&form.verdict);
    match verdict {
        None => {
            form.errors.insert(
                "verdict",
                FieldError::new("请选择符合或不符合", "Choose conforming or not"),
            );
        }
        Some(FindingVerdict::NonConforming) if form.notes.is_empty() => {
            form.errors.insert(
                "notes",
                FieldError::new(
                    "结论为不符合的，须填写检查意见",
                    "A non-conforming finding needs its notes",
                ),
            );
        }
        Some(_) => {
            if let Some(e) = text_error(&form.notes, TEXT_CHARS_MAX, false) {
                form.errors.insert("notes", e);
            }
        }
    }
    let key = form_key(&s, &m);
    if key.is_none() {
        form.errors.insert("form", stale_key());
    }
    let (Some((spot_check, evaluation)), Some(verdict), Some(key), true) =
        (item, verdict, key, form.errors.is_empty())
    else {
        return refused(ctx, &s, Refused::Finding(form)).await;
    };
    let body = Body::SpotCheckFinding(
        FindingRequest {
            spot_check,
            evaluation,
            verdict,
            notes: form.notes.clone(),
        }
        .body(s.ledger.clock().today()),
    );
    if let Err(e) = record(&s, &u, &key, "evaluation/finding", body, &who).await {
        let (k, err) = ledger_field(&e, "item");
        form.errors.insert(k, err);
        return refused(ctx, &s, Refused::Finding(form)).await;
    }
    done(&ctx, "finding")
}
