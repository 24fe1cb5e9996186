//! `/` (总览), the officers' home page: the money of this node's subtree as of
//! a day, per level and per child (received, own budget, issued down, paid,
//! balance, 支出进度 against 序时进度), the open warnings by rule, and one line
//! on replication (the full view is [`super::operations`]).
//!
//! Spending progress (支出进度) is paid ÷ funds, where a subtree's funds are
//! what its top node received plus every own budget inside it (money passed
//! down inside the subtree is not counted twice). Time-elapsed progress
//! (序时进度) is the share of the calendar year up to and including the day.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use maud::{html, Markup};
use rust_decimal::Decimal;

use crate::ledger::query::{NodeView, SummaryRow};

use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::operations::Replication;
use super::text::{percent, wan2, yuan, Lang};

/// Received, own budget, issued down, paid and balance, in yuan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub received: Decimal,
    pub own_budget: Decimal,
    pub issued_down: Decimal,
    pub paid: Decimal,
    pub balance: Decimal,
}

impl Figures {
    fn of(r: &SummaryRow) -> Figures {
        Figures {
            received: r.received,
            own_budget: r.own_budget,
            issued_down: r.issued_down,
            paid: r.paid,
            balance: r.balance,
        }
    }

    /// Adds `o` field by field; `None` on overflow (the ledger's amounts are
    /// bounded far below it).
    fn plus(self, o: &Figures) -> Option<Figures> {
        Some(Figures {
            received: self.received.checked_add(o.received)?,
            own_budget: self.own_budget.checked_add(o.own_budget)?,
            issued_down: self.issued_down.checked_add(o.issued_down)?,
            paid: self.paid.checked_add(o.paid)?,
            balance: self.balance.checked_add(o.balance)?,
        })
    }

    /// The funds spending progress is measured against.
    fn funds(&self) -> Decimal {
        self.received
            .checked_add(self.own_budget)
            .unwrap_or(Decimal::MAX)
    }
}

/// One line of a table: a label, a node to link to, its figures.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    /// The node whose ledger the line links to, if it is one node's subtree.
    pub node: Option<String>,
    pub level: String,
    pub figures: Figures,
    /// Open warnings raised at or about nodes of the line.
    pub warnings: Option<i64>,
    /// Follow-ups (整改) past their deadline at nodes of the line.
    pub overdue: Option<i64>,
}

/// Everything the overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub as_of: NaiveDate,
    /// This node's subtree as one line.
    pub total: Line,
    /// One line per level present in the subtree, top first.
    pub levels: Vec<Line>,
    /// One line per direct child, its whole subtree.
    pub children: Vec<Line>,
    /// Open warnings by rule code (the reader's scope is everything), or
    /// `None` when the reader's scope is narrower and the warnings page
    /// should be asked instead.
    pub warnings_by_rule: Option<BTreeMap<String, i64>>,
    /// Nodes below by replication state, and the names of those not OK.
    pub links: Vec<(Replication, Vec<String>)>,
    /// Whether the reader may open the operations page.
    pub may_operate: bool,
    /// Whether the reader may see money at all (an operator or an
    /// administrator sees only the replication line).
    pub money: bool,
}

/// Time-elapsed progress (序时进度) on `day`: days of its year up to and
/// including it ÷ days in the year, in percent with one decimal.
pub fn time_progress(day: NaiveDate) -> String {
    let days_in_year = if NaiveDate::from_ymd_opt(day.year(), 2, 29).is_some() {
        366
    } else {
        365
    };
    percent(Decimal::from(day.ordinal()), Decimal::from(days_in_year)).unwrap_or_default()
}

/// The overview's lines from the master ledger grouped by node and the
/// tree: the total, one line per level, one per direct child.
pub fn lines<'a>(
    me: &'a str,
    rows: &[SummaryRow],
    nodes: &'a [NodeView],
    warnings_by_node: &HashMap<String, i64>,
    overdue_by_node: &HashMap<String, i64>,
) -> (Line, Vec<Line>, Vec<Line>) {
    let by_node: HashMap<&str, Figures> = rows
        .iter()
        .filter_map(|r| Some((r.group.get("node")?.as_str(), Figures::of(r))))
        .collect();
    let parent: HashMap<&'a str, &'a str> = nodes
        .iter()
        .filter_map(|n| Some((n.code.as_str(), n.parent.as_deref()?)))
        .collect();
    let view: HashMap<&str, &NodeView> = nodes.iter().map(|n| (n.code.as_str(), n)).collect();
    // The child of `me` a node is under, if any (the tree is ≤ 3 deep; the
    // bound only guards against a corrupt cycle).
    let child_of = |mut code: &'a str| -> Option<&'a str> {
        for _ in 0..8 {
            let p = *parent.get(code)?;
            if p == me {
                return Some(code);
            }
            code = p;
        }
        None
    };
    let name = |code: &str| view.get(code).map_or(code.to_owned(), |n| n.name.clone());
    let level = |code: &str| view.get(code).map_or(String::new(), |n| n.level.clone());

    let mut total = Line {
        label: name(me),
        node: Some(me.to_owned()),
        level: level(me),
        figures: by_node.get(me).copied().unwrap_or_default(),
        warnings: Some(warnings_by_node.get(me).copied().unwrap_or(0)),
        overdue: Some(overdue_by_node.get(me).copied().unwrap_or(0)),
    };
    let mut levels: BTreeMap<u8, Line> = BTreeMap::new();
    let mut children: BTreeMap<&str, Line> = BTreeMap::new();
    for n in nodes {
        let code = n.code.as_str();
        let top = child_of(code);
        if code != me && top.is_none() {
            continue; // outside this node's subtree
        }
        let f = by_node.get(code).copied().unwrap_or_default();
        let w = warnings_by_node.get(code).copied().unwrap_or(0);
        let od = overdue_by_node.get(code).copied().unwrap_or(0);
        let rank = match n.level.as_str() {
            "region" => 0,
            "prefecture" => 1,
            _ => 2,
        };
        let lv = levels.entry(rank).or_insert_with(|| Line {
            label: String::new(),
            node: None,
            level: n.level.clone(),
            figures: Figures::default(),
            warnings: Some(0),
            overdue: Some(0),
        });
        lv.figures = lv.figures.plus(&f).unwrap_or(lv.figures);
        lv.warnings = lv.warnings.map(|x| x.saturating_add(w));
        lv.overdue = lv.overdue.map(|x| x.saturating_add(od));
        if code == me {
            continue;
        }
        // A subtree's received and issued-down are its top node's; own
        // budgets, payments and balances add up over the subtree.
        total.figures.own_budget = total.figures.own_budget.saturating_add(f.own_budget);
        total.figures.paid = total.figures.paid.saturating_add(f.paid);
        total.figures.balance = total.figures.balance.saturating_add(f.balance);
        total.warnings = total.warnings.map(|x| x.saturating_add(w));
        total.overdue = total.overdue.map(|x| x.saturating_add(od));
        let Some(top) = top else { continue };
        let line = children.entry(top).or_insert_with(|| Line {
            label: name(top),
            node: Some(top.to_owned()),
            level: level(top),
            figures: Figures::default(),
            warnings: Some(0),
            overdue: Some(0),
        });
        if code == top {
            line.figures.received = f.received;
            line.figures.issued_down = f.issued_down;
        }
        line.figures.own_budget = line.figures.own_budget.saturating_add(f.own_budget);
        line.figures.paid = line.figures.paid.saturating_add(f.paid);
        line.figures.balance = line.figures.balance.saturating_add(f.balance);
        line.warnings = line.warnings.map(|x| x.saturating_add(w));
        line.overdue = line.overdue.map(|x| x.saturating_add(od));
    }
    (
        total,
        levels.into_values().collect(),
        children.into_values().collect(),
    )
}

pub fn render(c: &Chrome, o: &Overview) -> Markup {
    let l = c.lang;
    let tp = time_progress(o.as_of);
    let f = &o.total.figures;
    if !o.money {
        let body = html! {
            p class="sub" { (l.t("您的角色不查看资金台账。", "Your roles do not read the ledger.")) }
            h2 { (l.t("同步链路", "Replication")) }
            (links(l, o))
        };
        return page(c, Nav::Overview, l.t("总览", "Overview"), body);
    }
    let body = html! {
        p class="sub" {
            (l.t("截至", "As of")) " " (o.as_of) " · "
            (l.t("金额单位：万元", "Amounts in 10,000 yuan"))
            " · " a href=(url("/ledger", &[("as_of", o.as_of.to_string())])) { (l.t("查看总台账", "Open the master ledger")) }
        }
        div class="cards" {
            (card(l.t("到位资金", "Received"), &wan2(f.received), &yuan(f.received)))
            (card(l.t("本级预算", "Own budget"), &wan2(f.own_budget), &yuan(f.own_budget)))
            (card(l.t("已支付", "Paid"), &wan2(f.paid), &yuan(f.paid)))
            (card(l.t("结余", "Balance"), &wan2(f.balance), &yuan(f.balance)))
            div class="card" {
                div class="k" { (l.t("支出进度 / 序时进度", "Spending / time elapsed")) }
                div class="v" { (progress(f)) " / " (tp) }
                div class="sub" { (behind_note(l, f, o.as_of)) }
            }
        }
        h2 { (l.t("分级汇总", "By level")) }
        (table(l, o, &o.levels, true))
        @if !o.children.is_empty() {
            h2 { (l.t("下级汇总", "By child")) }
            p class="sub" { (l.t("每一行为该下级及其辖区合计。", "Each line is the child and everything below it.")) }
            (table(l, o, &o.children, false))
        }
        h2 { (l.t("未解除预警", "Open warnings")) }
        (warnings(l, o))
        h2 { (l.t("同步链路", "Replication")) }
        (links(l, o))
    };
    page(c, Nav::Overview, l.t("总览", "Overview"), body)
}

fn card(k: &str, v: &str, exact: &str) -> Markup {
    html! {
        div class="card" {
            div class="k" { (k) }
            div class="v" title={ (exact) " 元" } { (v) }
        }
    }
}

fn progress(f: &Figures) -> String {
    percent(f.paid, f.funds()).unwrap_or_else(|| "—".into())
}

/// Whether spending trails the year, in words.
fn behind_note(l: Lang, f: &Figures, day: NaiveDate) -> &'static str {
    let funds = f.funds();
    if funds <= Decimal::ZERO {
        return l.t("尚无资金", "No funds yet");
    }
    let days = if NaiveDate::from_ymd_opt(day.year(), 2, 29).is_some() {
        366
    } else {
        365
    };
    // paid/funds < ordinal/days  ⇔  paid·days < ordinal·funds
    let behind = f
        .paid
        .checked_mul(Decimal::from(days))
        .zip(funds.checked_mul(Decimal::from(day.ordinal())))
        .is_some_and(|(a, b)| a < b);
    if behind {
        l.t("慢于序时进度", "Behind the year")
    } else {
        l.t("不慢于序时进度", "On pace with the year")
    }
}

fn table(l: Lang, o: &Overview, rows: &[Line], by_level: bool) -> Markup {
    let tp = time_progress(o.as_of);
    html! {
        div class="scroll" {
            table {
                thead {
                    tr {
                        th { @if by_level { (l.t("层级", "Level")) } @else { (l.t("下级", "Child")) } }
                        th class="num" { (l.t("到位资金", "Received")) }
                        th class="num" { (l.t("本级预算", "Own budget")) }
                        th class="num" { (l.t("下达下级", "Issued down")) }
                        th class="num" { (l.t("已支付", "Paid")) }
                        th class="num" { (l.t("结余", "Balance")) }
                        th class="num" { (l.t("支出进度", "Spending")) }
                        th class="num" { (l.t("序时进度", "Time elapsed")) }
                        th class="num" { (l.t("预警", "Warnings")) }
                        th class="num" { (l.t("逾期整改", "Overdue follow-ups")) }
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr { td colspan="10" class="muted" { (l.t("暂无", "None")) } }
                    }
                    @for r in rows {
                        tr {
                            td {
                                @if by_level {
                                    (l.level_str(&r.level))
                                } @else if let Some(code) = &r.node {
                                    a href=(url("/ledger", &[("node", code.clone()), ("as_of", o.as_of.to_string())])) { (r.label) }
                                    " " span class="sub" { (l.level_str(&r.level)) }
                                } @else {
                                    (r.label)
                                }
                            }
                            td class="num" title=(yuan(r.figures.received)) { (wan2(r.figures.received)) }
                            td class="num" title=(yuan(r.figures.own_budget)) { (wan2(r.figures.own_budget)) }
                            td class="num" title=(yuan(r.figures.issued_down)) { (wan2(r.figures.issued_down)) }
                            td class="num" title=(yuan(r.figures.paid)) { (wan2(r.figures.paid)) }
                            td class="num" title=(yuan(r.figures.balance)) { (wan2(r.figures.balance)) }
                            td class="num" { (progress(&r.figures)) }
                            td class="num" { (tp) }
                            td class="num" {
                                @match (r.warnings, &r.node) {
                                    (Some(0), _) => { "0" }
                                    (Some(n), Some(code)) => { a href=(url("/warnings", &[("node", code.clone())])) { (n) } }
                                    (Some(n), None) => { (n) }
                                    (None, _) => { "—" }
                                }
                            }
                            td class="num" {
                                @match (r.overdue, &r.node) {
                                    (Some(0), _) => { "0" }
                                    (Some(n), Some(code)) => {
                                        a class="overdue" href=(url("/warnings", &[("node", code.clone()), ("follow_up", "overdue".to_owned())])) { (n) }
                                    }
                                    (Some(n), None) => { (n) }
                                    (None, _) => { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn warnings(l: Lang, o: &Overview) -> Markup {
    let Some(by_rule) = &o.warnings_by_rule else {
        return html! {
            p { a href="/warnings" { (l.t("查看您职责范围内的预警", "See the warnings in your scope")) } }
        };
    };
    let open: Vec<_> = by_rule.iter().filter(|(_, n)| **n > 0).collect();
    html! {
        @if open.is_empty() {
            p class="muted" { (l.t("暂无", "None")) }
        } @else {
            ul class="counts" {
                @for (rule, n) in open {
                    li {
                        a href=(url("/warnings", &[("rule", rule.clone())])) { (rule_label(l, rule)) }
                        " " strong { (n) }
                    }
                }
            }
        }
    }
}

fn rule_label(l: Lang, rule: &str) -> String {
    match rule.parse::<crate::warnings::Rule>() {
        Ok(r) => {
            let (zh, en) = r.label();
            l.t(zh, en).to_owned()
        }
        Err(_) => rule.to_owned(),
    }
}

/// One line: how many nodes below are in each replication state, the names
/// of those not OK, and the way to the operations page.
fn links(l: Lang, o: &Overview) -> Markup {
    let total: usize = o.links.iter().map(|(_, v)| v.len()).sum();
    html! {
        p {
            @if total == 0 {
                (l.t("本节点无下级。", "No nodes below."))
            } @else {
                @for (i, (st, names)) in o.links.iter().filter(|(_, v)| !v.is_empty()).enumerate() {
                    @if i > 0 { "；" }
                    (st.label(l)) " " (names.len())
                    @if *st != Replication::Ok {
                        "（" (names.join("、")) "）"
                    }
                }
                "。"
            }
            @if o.may_operate {
                " " a href="/operations" { (l.t("运行监控", "Operations")) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;

    fn view(code: &str, name: &str, level: &str, parent: Option<&str>) -> NodeView {
        NodeView {
            code: code.into(),
            name: name.into(),
            level: level.into(),
            parent: parent.map(Into::into),
        }
    }

    fn row(node: &str, received: i64, own: i64, issued: i64, paid: i64) -> SummaryRow {
        let mut r = SummaryRow::default();
        r.group.insert("node", node.into());
        r.received = received.into();
        r.own_budget = own.into();
        r.issued_down = issued.into();
        r.paid = paid.into();
        r.balance = Decimal::from(received + own - issued - paid);
        r
    }

    #[test]
    fn time_progress_counts_the_day_itself() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        assert_eq!(time_progress(d("2020-12-31")), "100.0%");
        assert_eq!(time_progress(d("2020-01-01")), "0.3%");
        // 2020 is a leap year: 269 of 366 days.
        assert_eq!(time_progress(d("2020-09-25")), "73.5%");
        assert_eq!(time_progress(d("2021-07-02")), "50.1%");
    }

    #[test]
    fn a_subtree_counts_its_top_received_once_and_adds_up_below() {
        let nodes = [
            view("650000", "自治区", "region", None),
            view("652800", "巴州", "prefecture", Some("650000")),
            view("652822", "轮台县", "county", Some("652800")),
            view("652829", "博湖县", "county", Some("652800")),
            view("990000", "别处", "county", Some("999999")),
        ];
        let rows = [
            row("650000", 1000, 0, 600, 100),
            row("652800", 600, 50, 500, 20),
            row("652822", 300, 10, 0, 200),
            row("652829", 200, 0, 0, 50),
            row("990000", 77, 0, 0, 7),
        ];
        let w = HashMap::from([("652822".to_owned(), 2), ("650000".to_owned(), 1)]);
        let od = HashMap::from([("652829".to_owned(), 1)]);
        let (total, levels, children) = lines("650000", &rows, &nodes, &w, &od);
        assert_eq!(total.figures.received, Decimal::from(1000));
        assert_eq!(total.figures.own_budget, Decimal::from(60));
        assert_eq!(total.figures.paid, Decimal::from(370));
        // 1000 + 60 − 370: money passed down inside is not lost or doubled.
        assert_eq!(total.figures.balance, Decimal::from(690));
        assert_eq!(total.warnings, Some(3));
        assert_eq!(levels.len(), 3);
        assert_eq!(levels[2].level, "county");
        assert_eq!(levels[2].figures.paid, Decimal::from(250));
        assert_eq!(children.len(), 1);
        let bz = &children[0];
        assert_eq!(bz.figures.received, Decimal::from(600));
        assert_eq!(bz.figures.issued_down, Decimal::from(500));
        assert_eq!(bz.figures.paid, Decimal::from(270));
        assert_eq!(bz.figures.balance, Decimal::from(130 + 110 + 150));
        assert_eq!(bz.warnings, Some(2));
        assert_eq!(bz.overdue, Some(1));
        assert_eq!(total.overdue, Some(1));
    }

    #[test]
    fn the_page_shows_wan_with_two_decimals_and_the_time_progress() {
        let nodes = [
            view("652800", "巴州", "prefecture", None),
            view("652822", "<b>轮台县</b>", "county", Some("652800")),
        ];
        let rows = [
            row("652800", 1_079_410_000, 0, 900_000_000, 0),
            row("652822", 900_000_000, 0, 0, 123_456_789),
        ];
        let (total, levels, children) =
            lines("652800", &rows, &nodes, &HashMap::new(), &HashMap::new());
        let o = Overview {
            as_of: "2020-09-25".parse().expect("date"),
            total,
            levels,
            children,
            warnings_by_rule: Some(BTreeMap::from([("idle_funds".into(), 3)])),
            links: vec![
                (Replication::Ok, vec![]),
                (Replication::Lagging, vec!["轮台县".into()]),
            ],
            may_operate: true,
            money: true,
        };
        let s = render(&chrome(Lang::Zh), &o).into_string();
        assert!(s.contains("107,941.00"), "{s}");
        assert!(s.contains("12,345.68"), "{s}");
        assert!(s.contains("73.5%"));
        assert!(s.contains("13.7%"), "paid ÷ received at the county: {s}");
        assert!(s.contains("&lt;b&gt;轮台县"));
        assert!(s.contains("滞后 1（轮台县）"), "{s}");
        assert!(s.contains("href=\"/operations\""));
        assert!(s.contains("闲置") || s.contains("idle"), "{s}");
    }
}
