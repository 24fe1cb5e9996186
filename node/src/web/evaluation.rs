//! `/evaluation?year=2020&node=652800`: the year-end self-evaluation
//! (绩效自评, seed 003 §13–14) of a node and its subtree
//! ([`Ledger::evaluation_year`]): the projects of the year with and without
//! a self-evaluation, the compiled reports (部门自评报告, 本级自评报告; the
//! current version of each marked), and the spot checks (抽查) with each
//! sampled evaluation's finding (符合 / 不符合) and rectification (整改).
//! `?print=1` is the same without the site's chrome, for printing;
//! `/evaluation.xlsx` the workbook (web/export). The writes are the API's
//! (`api/evaluation.rs`). A department officer sees their department's
//! projects and reports.
//!
//! [`Ledger::evaluation_year`]: crate::ledger::Ledger::evaluation_year

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::Datelike;
use fundsync_protocol::NodeCode;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::html::url;
use super::layout::{page, Nav};
use super::text::{wan2, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::http::{AppState, Routes};
use crate::ledger::query::EvaluationYear;
use crate::warnings::follow_up::status_label;

type S = State<Arc<AppState>>;

pub fn routes(r: Routes) -> Routes {
    r.get("/evaluation", Permission::ReadLedger, evaluation_page)
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

async fn evaluation_page(ctx: Ctx, State(s): S) -> Response {
    let r = async {
        let y = year_query(&ctx, &s).await?;
        let c = &ctx.chrome;
        let l = c.lang;
        let name = s
            .ledger
            .nodes()
            .await?
            .into_iter()
            .find(|n| n.code == y.node)
            .map(|n| n.name)
            .unwrap_or_default();
        let title = format!("{name} {}{}", y.year, l.t(" 年度绩效自评", " self-evaluation"));
        let body = sections(l, &y);
        if ctx.param("print").is_some() {
            return Ok::<_, WebError>(html! {
                (DOCTYPE) "\n"
                html lang=(l.html_lang()) {
                    head { meta charset="utf-8"; title { (title) } style { (PreEscaped(PRINT_CSS)) } }
                    body { h1 { (title) } p class="muted" { (l.t("数据来源：账本（金额单位：万元）", "From the ledger (万元)")) } (body) }
                }
            });
        }
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
        Ok(page(c, Nav::Projects, &title, html! {
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
        }))
    }
    .await;
    ctx.respond(r)
}
