//! `/report/self-evaluation?year=2020&node=652800`: the annual
//! self-evaluation report (绩效自评报告, seed 002) of a node of this node's
//! tree, its figures rebuilt from the ledger ([`Ledger::self_evaluation`]):
//! 一 the own budget of five years, 二 every batch issued down with its
//! parts and whether it went down within five days of arriving, 四(一) the
//! carry-over on 09-25 per county, fund source and project with its reason.
//! `?print=1` is the same report without the site's chrome, for printing;
//! `/report/self-evaluation.xlsx` the workbook (web/export).
//!
//! [`Ledger::self_evaluation`]: crate::ledger::Ledger::self_evaluation

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::Datelike;
use fundsync_protocol::NodeCode;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::carryover::reason_label;
use super::html::url;
use super::layout::{page, Nav};
use super::ledger::money_td;
use super::text::{wan2, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::http::{AppState, Routes};
use crate::ledger::query::{SelfEvaluation, ISSUE_DAYS_MAX};

type S = State<Arc<AppState>>;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/report/self-evaluation",
        Permission::ReadLedger,
        self_evaluation_page,
    )
}

/// The year and node from the query (the page and its workbook): the year
/// defaults to this one, the node to this node; a node outside this
/// node's tree is not found.
pub(crate) async fn report_query(ctx: &Ctx, s: &AppState) -> Result<SelfEvaluation, WebError> {
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
            n
        }
        None => s.ledger.identity().code,
    };
    let categories = super::visible_categories(ctx, s).await?;
    Ok(s.ledger.self_evaluation(node, year, categories).await?)
}

fn wan(l: Lang, d: rust_decimal::Decimal) -> Markup {
    html! { span title={ (yuan(d)) " 元" } { (wan2(d)) } (l.t(" 万元", " 万元")) }
}

/// The report's sections.
pub fn sections(l: Lang, r: &SelfEvaluation, category: &dyn Fn(&str) -> String) -> Markup {
    let c = &r.carry_over;
    html! {
        h2 { (l.t("一、资金投入：本级财政预算安排", "1. Funding: own budget")) }
        p {
            (r.year - 4) "–" (r.year) (l.t(" 年共安排专项资金 ", ": in all ")) b { (wan(l, r.own_budget_total)) } "。"
            (l.t("其中：", "Of which: "))
            @for y in &r.own_budget {
                (y.year) (l.t(" 年 ", ": ")) (wan(l, y.amount))
                @if y.entries == 0 { span class="muted" { (l.t("（账本无记录）", " (none in the ledger)")) } }
                "；"
            }
        }
        div class="scroll" { table {
            thead { tr { th { (l.t("年度", "Year")) } th class="num" { (l.t("本级安排", "Own budget")) } th class="num" { (l.t("笔数", "Entries")) } } }
            tbody {
                @for y in &r.own_budget {
                    tr { td { (y.year) } (money_td(l, y.amount, 2)) td class="num" { (y.entries) } }
                }
                tr class="subtotal" { td { b { (l.t("合计", "Total")) } } (money_td(l, r.own_budget_total, 2)) td {} }
            }
        } }
        h2 { (l.t("二、资金拨付", "2. Funds issued down")) }
        p {
            (r.year) (l.t(" 年共拨付下达各县市 ", ": issued down in all ")) b { (wan(l, r.batches_total)) } "，"
            (r.batches.len()) (l.t(" 批", " batches"))
            "；"
            @if r.all_within_five_days {
                (l.t("均在收到资金 5 日内拨付下达。", "each within 5 days of the funds arriving."))
            } @else {
                b class="bad" { (l.t("部分批次超过 5 日。", "Some batches took longer than 5 days.")) }
            }
        }
        div class="scroll" { table {
            thead { tr {
                th { (l.t("拨付日期", "Issued on")) }
                th class="num" { (l.t("金额", "Amount")) }
                th { (l.t("资金构成", "Fund parts")) }
                th { (l.t("资金到位日期", "Arrived on")) }
                th class="num" { (l.t("用时（天）", "Days")) }
                th { (l.t("5 日内下达", "Within 5 days")) }
                th { (l.t("文号", "Documents")) }
            } }
            tbody {
                @for b in &r.batches {
                    tr {
                        td class="nowrap" { (b.issued_on) }
                        (money_td(l, b.amount, 2))
                        td { @for p in &b.parts { (category(&p.category)) " " (wan(l, p.amount)) br; } }
                        td class="nowrap" { @if let Some(d) = b.received_on { (d) } }
                        td class="num" { @if let Some(d) = b.days { (d) } }
                        td { @if b.within_five_days { (l.t("是", "yes")) } @else { b class="bad" { (l.t("否", "no")) } } }
                        td { @for d in &b.docs { (d) br; } }
                    }
                }
                tr class="subtotal" { td { b { (l.t("合计", "Total")) } } (money_td(l, r.batches_total, 2)) td colspan="5" {} }
            }
        } }
        p class="sub" { (l.t("规则：收到资金指标后 ", "Rule: funds go down within ")) (ISSUE_DAYS_MAX) (l.t(" 日内拨付下达各县市。", " days of arriving.")) }
        h2 { (l.t("四、（一）年度资金结转结余情况", "4.(1) Carry-over")) }
        p {
            (l.t("截至 ", "As of ")) (r.carry_over_on) (l.t("，全辖结转财政专项扶贫资金 ", ", carried over in all ")) b { (wan(l, c.total.balance)) }
            "（" (l.t("已说明原因 ", "explained ")) (wan(l, c.total.explained)) "）。"
        }
        div class="scroll" { table {
            thead { tr { th { (l.t("单位", "Node")) } th class="num" { (l.t("结转结余", "Carried over")) } th class="num" { (l.t("已说明", "Explained")) } } }
            tbody {
                @for n in c.by_node.iter().filter(|n| !n.figures.balance.is_zero()) {
                    tr { td { (n.node_name) } (money_td(l, n.figures.balance, 2)) (money_td(l, n.figures.explained, 2)) }
                }
                tr class="subtotal" { td { b { (l.t("合计", "Total")) } } (money_td(l, c.total.balance, 2)) (money_td(l, c.total.explained, 2)) }
            }
        } }
        h3 { (l.t("按资金来源", "By fund source")) }
        div class="scroll" { table {
            thead { tr { th { (l.t("单位", "Node")) } th { (l.t("资金来源", "Fund source")) } th class="num" { (l.t("结转结余", "Carried over")) } } }
            tbody {
                @for n in c.by_source.iter().filter(|n| !n.figures.balance.is_zero()) {
                    tr { td { (n.node_name) } td { (l.fund_origin(n.fund_origin.as_deref().unwrap_or(""))) } (money_td(l, n.figures.balance, 2)) }
                }
            }
        } }
        h3 { (l.t("按项目及原因", "By project, with the reason")) }
        div class="scroll" { table {
            thead { tr {
                th { (l.t("单位", "Node")) } th { (l.t("项目", "Project")) } th { (l.t("原因", "Reason")) }
                th class="num" { (l.t("金额", "Amount")) } th { (l.t("计划支付日期", "Planned payment")) }
            } }
            tbody {
                @for x in &c.by_project {
                    tr {
                        td { (x.node_name) }
                        td { (x.project) " " (x.project_name) }
                        td { (reason_label(l, &x.reason)) }
                        (money_td(l, x.amount, 2))
                        td class="nowrap" { (x.planned_on) }
                    }
                }
            }
        } }
        @if !c.by_reason.is_empty() {
            p class="sub" {
                (l.t("按原因：", "By reason:")) " "
                @for (k, v) in &c.by_reason { (reason_label(l, k)) " " (wan(l, *v)) "　" }
            }
        }
    }
}

const PRINT_CSS: &str = "body{font-family:serif;margin:2em;color:#000}table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #000;padding:2px 4px;font-size:11px;vertical-align:top}.num{text-align:right}.muted{color:#555}@page{size:A4;margin:15mm}h1{text-align:center;font-size:18px}h2{font-size:14px}h3{font-size:12px}";

async fn self_evaluation_page(ctx: Ctx, State(s): S) -> Response {
    let r = async {
        let r = report_query(&ctx, &s).await?;
        let names = super::categories(&s.ledger).await?;
        let category = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
        let c = &ctx.chrome;
        let l = c.lang;
        let title = format!("{} {}{}", r.node_name, r.year, l.t(" 年度财政专项扶贫资金绩效自评报告", " self-evaluation report"));
        let body = sections(l, &r, &category);
        if ctx.param("print").is_some() {
            return Ok::<_, WebError>(html! {
                (DOCTYPE) "\n"
                html lang=(l.html_lang()) {
                    head { meta charset="utf-8"; title { (title) } style { (PreEscaped(PRINT_CSS)) } }
                    body { h1 { (title) } p class="muted" { (l.t("数据来源：账本（单位：万元）", "From the ledger (万元)")) } (body) }
                }
            });
        }
        let mut q: Vec<(&str, String)> = vec![("year", r.year.to_string()), ("node", r.node.clone())];
        if l == Lang::En {
            q.push(("lang", "en".to_owned()));
        }
        let mut print = q.clone();
        print.push(("print", "1".to_owned()));
        Ok(page(c, Nav::Ledger, &title, html! {
            p class="sub" {
                (r.node_name) " (" (r.node) ") · " (r.year) " · "
                (l.t("各项数字均由账本计算；单位：万元（悬停显示元）。", "Every figure is computed from the ledger; 万元 (hover for yuan)."))
            }
            p class="sub export" {
                a href=(url("/report/self-evaluation.xlsx", &q)) download { (l.t("导出 Excel", "Export Excel")) }
                " · "
                a href=(url("/report/self-evaluation", &print)) { (l.t("打印视图", "Print view")) }
            }
            (body)
        }))
    }
    .await;
    ctx.respond(r)
}
