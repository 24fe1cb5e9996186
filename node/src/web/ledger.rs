//! `/ledger`: the master ledger (扶贫资金总台账) as of a date, grouped by node,
//! fund source or fund category, with a bar chart of funds in place against
//! payments per county and fund source.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::ledger::query::{GroupBy, NodeView, Summary, SummaryRow};

use maud::{display, html, Markup};

use super::form::{field, filter_form, hidden, submit, Field, InputKind};
use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::overview::time_progress;
use super::text::{percent, scale_to, wan, wan2, wan_aligned, yuan, Lang};

/// The groupings the form offers, as `group_by` values.
pub const GROUPINGS: &[&str] = &[
    "node",
    "node,fund_origin",
    "node,fund_category",
    "fund_origin",
    "fund_category",
];

/// Parses `node,fund_origin` into groupings.
pub fn parse_group_by(s: &str) -> Option<Vec<GroupBy>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let g = match part {
            "node" => GroupBy::Node,
            "fund_category" => GroupBy::FundCategory,
            "fund_origin" => GroupBy::FundOrigin,
            _ => return None,
        };
        if !out.contains(&g) {
            out.push(g);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn group_by_text(g: &[GroupBy]) -> String {
    g.iter()
        .map(|g| match g {
            GroupBy::Node => "node",
            GroupBy::FundCategory => "fund_category",
            GroupBy::FundOrigin => "fund_origin",
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn grouping_label(l: Lang, v: &str) -> &'static str {
    match v {
        "node" => l.t("按节点", "By node"),
        "node,fund_origin" => l.t("按节点 × 资金来源", "By node × fund source"),
        "node,fund_category" => l.t("按节点 × 资金类别", "By node × fund category"),
        "fund_origin" => l.t("按资金来源", "By fund source"),
        "fund_category" => l.t("按资金类别", "By fund category"),
        _ => "?",
    }
}

/// Everything the ledger page shows.
#[derive(Debug)]
pub struct LedgerPage {
    pub as_of: NaiveDate,
    pub today: NaiveDate,
    /// `?node=`: whose subtree, if not this node's.
    pub under: Option<String>,
    pub summary: Summary,
    /// The same date grouped by node and fund source, for the chart.
    pub chart: Summary,
    pub nodes: Vec<NodeView>,
    /// Fund category code → name.
    pub categories: HashMap<String, String>,
}

/// A money cell: 万元 with two decimals shown (padded to `decimals` places,
/// for a caller that wants more), exact yuan on hover and in exports.
pub fn money_td(l: Lang, v: Decimal, decimals: usize) -> Markup {
    let shown = if decimals <= 2 {
        wan2(v)
    } else {
        wan_aligned(v, decimals)
    };
    html! {
        td class="num" title={ (yuan(v)) " " (l.t("元", "yuan")) } { (shown) }
    }
}

/// The decimals of each column of figures, for [`money_td`]: two, as the
/// pages show 万元 (exact yuan on hover).
pub fn column_decimals<const N: usize>(rows: impl IntoIterator<Item = [Decimal; N]>) -> [usize; N] {
    let _ = rows.into_iter().count();
    [2; N]
}

fn columns(r: &SummaryRow) -> [Decimal; 5] {
    [r.received, r.own_budget, r.issued_down, r.paid, r.balance]
}

fn add(a: Decimal, b: Decimal) -> Decimal {
    // Ledger sums fit i64 fen (checked there); a Decimal holds far more.
    a.checked_add(b).unwrap_or(Decimal::MAX)
}

pub fn render(c: &Chrome, p: &LedgerPage) -> Markup {
    let l = c.lang;
    let names: HashMap<&str, &NodeView> = p.nodes.iter().map(|n| (n.code.as_str(), n)).collect();
    let gb = group_by_text(&p.summary.group_by);
    let as_of = p.as_of.to_string();
    let mut options: Vec<(&str, &str)> = GROUPINGS
        .iter()
        .map(|g| (*g, grouping_label(l, g)))
        .collect();
    // A value the form does not offer (e.g. `fund_origin,node`) stays selected.
    if !GROUPINGS.contains(&gb.as_str()) {
        options.push((&gb, &gb));
    }
    let quick = |d: String| {
        let mut q = vec![("as_of", d), ("group_by", gb.clone())];
        if let Some(u) = &p.under {
            q.push(("node", u.clone()));
        }
        url("/ledger", &q)
    };
    let root = p.summary.node.as_str();
    let root_name = names.get(root).map(|n| n.name.as_str()).unwrap_or("");

    let body = html! {
        div class="card" {
            (filter_form("/ledger", html! {
                (field(l, &Field::input("as_of", l.t("截至日期", "As of"), InputKind::Date).value(&as_of)))
                (field(l, &Field::select("group_by", l.t("分组", "Group by"), &options).value(&gb)))
                @if let Some(u) = &p.under {
                    (hidden("node", u))
                }
                (hidden("lang", l.code()))
                (submit(l.t("查询", "Show")))
                div class="quick" {
                    span class="k" { (l.t("快捷：", "Quick:")) } " "
                    a href=(quick(p.today.to_string())) {
                        (l.t("今天", "today")) " (" (display(p.today)) ")"
                    }
                    @for (d, zh, en) in quick_days(p.as_of) {
                        a href=(quick(d.to_string())) {
                            (display(d)) " " (l.t(zh, en))
                        }
                    }
                }
            }))
        }
        p class="sub" {
            (l.t("范围：", "Scope:")) " " (root_name) " (" (root) ") · "
            (l.t("截至", "as of")) " " (as_of) " · "
            (l.t("单位：万元（悬停显示元）", "Figures in 万元 (10,000 yuan); hover for yuan"))
            " · "
            a href=(quick_carryover(&as_of, p.under.as_deref())) { (l.t("结转结余及原因", "Carry-over and its reasons")) }
            @if p.under.is_some() {
                " · "
                a href=(url("/ledger", &[("as_of", as_of.clone()), ("group_by", gb.clone())])) {
                    (l.t("返回本节点全辖区", "back to this node's whole tree"))
                }
            }
        }
        (table(l, p, &names))
        (super::layout::export_links(c, "/ledger"))
        h2 {
            (l.t(
                "各县资金到位与支付（按资金来源）",
                "Funds in place and paid, per county and fund source"
            ))
        }
        (chart(l, p, &names))
    };

    let title = match &p.under {
        Some(_) => format!("{} · {}", l.t("扶贫资金总台账", "Master ledger"), root_name),
        None => l.t("扶贫资金总台账", "Master ledger").to_owned(),
    };
    page(c, Nav::Ledger, &title, body)
}

/// The summary's rows in display order: fund sources in their natural order
/// (central first), not by name.
pub(super) fn sorted_rows(p: &LedgerPage) -> Vec<&SummaryRow> {
    let gb = &p.summary.group_by;
    let mut rows: Vec<&SummaryRow> = p.summary.rows.iter().collect();
    rows.sort_by_cached_key(|r| {
        gb.iter()
            .map(|g| match g {
                GroupBy::Node => r.group.get("node").cloned().unwrap_or_default(),
                GroupBy::FundCategory => r.group.get("fund_category").cloned().unwrap_or_default(),
                GroupBy::FundOrigin => {
                    origin_index(r.group.get("fund_origin").map(String::as_str).unwrap_or(""))
                        .to_string()
                }
            })
            .collect::<Vec<_>>()
    });
    rows
}

/// Per-level subtotals (region, prefecture, county), when rows are whole
/// nodes and there is more than one level.
fn level_subtotals<'a>(
    p: &LedgerPage,
    names: &HashMap<&str, &'a NodeView>,
) -> Vec<(&'a str, SummaryRow)> {
    if p.summary.group_by.as_slice() != [GroupBy::Node] {
        return Vec::new();
    }
    let mut levels: BTreeMap<u8, (&str, SummaryRow)> = BTreeMap::new();
    for r in &p.summary.rows {
        let code = r.group.get("node").map(String::as_str).unwrap_or("");
        let level = names.get(code).map(|n| n.level.as_str()).unwrap_or("");
        let order = match level {
            "region" => 0,
            "prefecture" => 1,
            _ => 2,
        };
        let e = levels
            .entry(order)
            .or_insert((level, SummaryRow::default()));
        e.1.received = add(e.1.received, r.received);
        e.1.own_budget = add(e.1.own_budget, r.own_budget);
        e.1.issued_down = add(e.1.issued_down, r.issued_down);
        e.1.paid = add(e.1.paid, r.paid);
        e.1.balance = add(e.1.balance, r.balance);
    }
    if levels.len() > 1 {
        levels.into_values().collect()
    } else {
        Vec::new()
    }
}

fn table(l: Lang, p: &LedgerPage, names: &HashMap<&str, &NodeView>) -> Markup {
    let gb = &p.summary.group_by;
    let by_node = gb.contains(&GroupBy::Node);
    let group_cols = gb.len() + usize::from(by_node);
    let w = column_decimals(
        p.summary
            .rows
            .iter()
            .chain(std::iter::once(&p.summary.total))
            .map(columns),
    );
    let rows = sorted_rows(p);
    // A node's name once, on the first of its rows, which opens a group.
    let mut previous_node: Option<&str> = None;
    let rows: Vec<(&SummaryRow, bool, bool)> = rows
        .into_iter()
        .map(|r| {
            let node_code = r.group.get("node").map(String::as_str);
            let repeat = node_code.is_some() && node_code == previous_node;
            let opens_group =
                gb.len() > 1 && node_code.is_some() && !repeat && previous_node.is_some();
            previous_node = node_code;
            (r, repeat, opens_group)
        })
        .collect();
    html! {
        div class="scroll" {
            table {
                thead {
                    tr {
                        @for g in gb {
                            @match g {
                                GroupBy::Node => {
                                    th { (l.t("节点", "Node")) }
                                    th { (l.t("层级", "Level")) }
                                }
                                GroupBy::FundOrigin => { th { (l.t("资金来源", "Fund source")) } }
                                GroupBy::FundCategory => { th { (l.t("资金类别", "Fund category")) } }
                            }
                        }
                        th class="num" { (l.t("上级下达", "Received")) }
                        th class="num" { (l.t("本级安排", "Own budget")) }
                        th class="num" { (l.t("下达下级", "Issued down")) }
                        th class="num" { (l.t("已支付", "Paid")) }
                        th class="num" { (l.t("结余", "Balance")) }
                        th class="num" title=(l.t(
                            "已支付 ÷（上级下达 + 本级安排 − 下达下级）",
                            "paid ÷ (received + own budget − issued down)"
                        )) { (l.t("支出进度", "Spent")) }
                        th class="num" title=(l.t(
                            "截至日期在全年中已过的天数占比",
                            "share of the year elapsed on the as-of day"
                        )) { (l.t("序时进度", "Time elapsed")) }
                        @if by_node {
                            th { (l.t("明细", "Details")) }
                        }
                    }
                }
                tbody {
                    @for (r, repeat, opens_group) in &rows {
                        tr class=[opens_group.then_some("group")] {
                            @for g in gb {
                                @match g {
                                    GroupBy::Node if *repeat => { td {} td {} }
                                    GroupBy::Node => { (node_cells(l, p, r, names)) }
                                    GroupBy::FundOrigin => {
                                        td { (l.fund_origin(r.group.get("fund_origin").map(String::as_str).unwrap_or(""))) }
                                    }
                                    GroupBy::FundCategory => {
                                        @let code = r.group.get("fund_category").map(String::as_str).unwrap_or("");
                                        td {
                                            (p.categories.get(code).map(String::as_str).unwrap_or(""))
                                            " " span class="muted" { (code) }
                                        }
                                    }
                                }
                            }
                            (figures(l, r, &w, p.as_of))
                            @if by_node {
                                (drill_links(l, r))
                            }
                        }
                    }
                    @for (level, row) in &level_subtotals(p, names) {
                        tr class="subtotal" {
                            td colspan=(group_cols) {
                                (l.level_str(level)) (l.t("级合计", " level subtotal"))
                            }
                            (figures(l, row, &w, p.as_of))
                            td {}
                        }
                    }
                    tr class="total" {
                        td colspan=(group_cols) { (l.t("合计", "Total")) }
                        (figures(l, &p.summary.total, &w, p.as_of))
                        @if by_node {
                            td {}
                        }
                    }
                }
            }
        }
        p class="sub" {
            (l.t(
                "合计中，辖区内上下级之间的下达既计入下达下级也计入上级下达，结余合计即本辖区持有的资金。",
                "In the total, money passed between two nodes of the tree counts both as issued down and as received, so the total balance is what the tree holds."
            ))
        }
    }
}

/// A node's name (a link to its own ledger, indented by level) and level.
fn node_cells(l: Lang, p: &LedgerPage, r: &SummaryRow, names: &HashMap<&str, &NodeView>) -> Markup {
    let code = r.group.get("node").map(String::as_str).unwrap_or("");
    let name = r.group.get("node_name").map(String::as_str).unwrap_or("");
    let level = names.get(code).map(|n| n.level.as_str()).unwrap_or("");
    let indent = match level {
        "region" => "",
        "prefecture" => "padding-left:22px",
        _ => "padding-left:44px",
    };
    let href = url(
        "/ledger",
        &[
            ("node", code.to_owned()),
            ("as_of", p.as_of.to_string()),
            ("group_by", group_by_text(&p.summary.group_by)),
        ],
    );
    html! {
        td style=(indent) {
            a href=(href) { (name) } " " span class="muted" { (code) }
        }
        td { (l.level_str(level)) }
    }
}

/// The allocations and payments behind a row.
fn drill_links(l: Lang, r: &SummaryRow) -> Markup {
    let code = r.group.get("node").cloned().unwrap_or_default();
    let mut drill = vec![("holder", code.clone())];
    if let Some(o) = r.group.get("fund_origin") {
        drill.push(("fund_origin", o.clone()));
    }
    if let Some(c) = r.group.get("fund_category") {
        drill.push(("category", c.clone()));
    }
    html! {
        td class="nowrap" {
            a href=(url("/allocations", &drill)) { (l.t("指标", "Allocations")) }
            " · "
            a href=(url("/payments", &[("origin", code)])) { (l.t("支付", "Payments")) }
        }
    }
}

/// The carry-over report (`/carryover`) of the same day and subtree.
fn quick_carryover(as_of: &str, under: Option<&str>) -> String {
    let mut q = vec![("as_of", as_of.to_owned())];
    if let Some(u) = under {
        q.push(("node", u.to_owned()));
    }
    url("/carryover", &q)
}

/// The quick dates beside the as-of field: the carry-over report day (09-25,
/// when the year's unspent funds are counted) and the end of the as-of
/// day's year, and the end of the year before.
fn quick_days(as_of: NaiveDate) -> Vec<(NaiveDate, &'static str, &'static str)> {
    let y = as_of.year();
    [
        (
            NaiveDate::from_ymd_opt(y, 9, 25),
            "（结转统计日）",
            "(carry-over report)",
        ),
        (NaiveDate::from_ymd_opt(y, 12, 31), "（年末）", "(year end)"),
        (
            NaiveDate::from_ymd_opt(y - 1, 12, 31),
            "（上年末）",
            "(last year end)",
        ),
    ]
    .into_iter()
    .filter_map(|(d, zh, en)| Some((d?, zh, en)))
    .collect()
}

fn figures(l: Lang, r: &SummaryRow, w: &[usize; 5], as_of: NaiveDate) -> Markup {
    let kept = r
        .received
        .checked_add(r.own_budget)
        .and_then(|x| x.checked_sub(r.issued_down))
        .unwrap_or(Decimal::ZERO);
    html! {
        @for (v, d) in columns(r).into_iter().zip(w) {
            (money_td(l, v, *d))
        }
        @match percent(r.paid, kept) {
            Some(pc) => { td class="num" { (pc) } }
            None => { td class="num muted" { "—" } }
        }
        td class="num" { (time_progress(as_of)) }
    }
}

/// Fund sources in the order the chart stacks them, with their colours.
const ORIGINS: &[(&str, &str)] = &[
    ("central", "#2f6db5"),
    ("region", "#2e9461"),
    ("prefecture", "#e0a526"),
    ("county", "#8a5cb8"),
    ("bond", "#c4623a"),
    ("unknown", "#9aa3ad"),
];

/// One county's bars: funds in place and paid, each split by fund source.
#[derive(Debug, Default)]
struct Bars {
    code: String,
    name: String,
    funds: BTreeMap<usize, Decimal>,
    paid: BTreeMap<usize, Decimal>,
}

fn origin_index(o: &str) -> usize {
    ORIGINS
        .iter()
        .position(|(k, _)| *k == o)
        .unwrap_or(ORIGINS.len() - 1)
}

/// The chart's rows: the counties of the scope (or, if it has none, every
/// node below its top), from the node × fund source summary.
fn bars(p: &LedgerPage, names: &HashMap<&str, &NodeView>) -> Vec<Bars> {
    let root = p.chart.node.as_str();
    let has_counties = p
        .chart
        .rows
        .iter()
        .filter_map(|r| r.group.get("node"))
        .any(|c| names.get(c.as_str()).is_some_and(|n| n.level == "county"));
    let mut by_node: BTreeMap<String, Bars> = BTreeMap::new();
    for r in &p.chart.rows {
        let Some(code) = r.group.get("node") else {
            continue;
        };
        let level = names.get(code.as_str()).map(|n| n.level.as_str());
        let wanted = if has_counties {
            level == Some("county")
        } else {
            code != root
        };
        if !wanted {
            continue;
        }
        let e = by_node.entry(code.clone()).or_insert_with(|| Bars {
            code: code.clone(),
            name: r.group.get("node_name").cloned().unwrap_or_default(),
            ..Bars::default()
        });
        let i = origin_index(r.group.get("fund_origin").map(String::as_str).unwrap_or(""));
        let f = e.funds.entry(i).or_default();
        *f = add(*f, add(r.received, r.own_budget));
        let pd = e.paid.entry(i).or_default();
        *pd = add(*pd, r.paid);
    }
    by_node.into_values().collect()
}

/// A server-drawn SVG: no script, no library, readable when printed.
fn chart(l: Lang, p: &LedgerPage, names: &HashMap<&str, &NodeView>) -> Markup {
    // Layout in SVG units; the drawing scales to the card's width.
    const LABEL_W: i64 = 150;
    const KIND_W: i64 = 44;
    const BAR_W: i64 = 860;
    const VALUE_W: i64 = 130;
    const BAR_H: i64 = 16;
    const GAP: i64 = 4;
    const BLOCK: i64 = 2 * BAR_H + GAP + 16;

    let rows = bars(p, names);
    if rows.is_empty() {
        return html! { p class="muted" { (l.t("暂无数据。", "Nothing yet.")) } };
    }
    let total = |m: &BTreeMap<usize, Decimal>| m.values().fold(Decimal::ZERO, |a, v| add(a, *v));
    let max = rows
        .iter()
        .flat_map(|r| [total(&r.funds), total(&r.paid)])
        .max()
        .unwrap_or(Decimal::ZERO);
    let used: Vec<usize> = (0..ORIGINS.len())
        .filter(|i| {
            rows.iter()
                .any(|r| r.funds.contains_key(i) || r.paid.contains_key(i))
        })
        .collect();
    let width = LABEL_W + KIND_W + BAR_W + VALUE_W;
    let count = i64::try_from(rows.len()).unwrap_or(0);
    let height = count * BLOCK + 8;
    let x0 = LABEL_W + KIND_W;

    html! {
        div class="card" {
            div class="legend" {
                @for i in &used {
                    @let (o, colour) = ORIGINS[*i];
                    span { i style={ "background:" (colour) } {} (l.fund_origin(o)) }
                }
                span class="muted" {
                    (l.t(
                        "每县上行为资金到位（上级下达 + 本级安排），下行为已支付；单位：万元",
                        "Per county: upper bar funds in place (received + own budget), lower bar paid; 万元"
                    ))
                }
            }
            svg role="img" viewBox={ "0 0 " (width) " " (height) } width="100%"
                style={ "max-width:" (width) "px" }
                aria-label=(l.t("各县资金到位与支付", "Funds in place and paid per county"))
                font-size="13" {
                @for (row_i, r) in rows.iter().enumerate() {
                    @let top = i64::try_from(row_i).unwrap_or(0) * BLOCK + 4;
                    text x="0" y=(top + 13) font-weight="600" fill="#1f2733" { (r.name) }
                    text x="0" y=(top + BAR_H + GAP + 12) font-size="11" fill="#5d6b7a" { (r.code) }
                    @for (k, (series, label, opacity)) in [
                        (&r.funds, l.t("到位", "In"), "1"),
                        (&r.paid, l.t("支付", "Paid"), "0.55"),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        @let y = top + i64::try_from(k).unwrap_or(0) * (BAR_H + GAP);
                        text x=(LABEL_W) y=(y + 12) font-size="11" fill="#5d6b7a" { (label) }
                        @let drawn = bar(series, max, BAR_W);
                        @for sg in &drawn.segments {
                            @let (o, colour) = ORIGINS[sg.origin];
                            rect x=(x0 + sg.x) y=(y) width=(sg.width) height=(BAR_H)
                                fill=(colour) fill-opacity=(opacity) {
                                title {
                                    (r.name) " · " (label) " · " (l.fund_origin(o)) "："
                                    (wan(sg.value)) " 万元（" (yuan(sg.value)) " 元）"
                                }
                            }
                        }
                        text x=(x0 + drawn.end + 6) y=(y + 13) fill="#1f2733"
                            font-variant-numeric="tabular-nums" { (wan(drawn.sum)) }
                    }
                    line x1="0" x2=(width) y1=(top + BLOCK - 6) y2=(top + BLOCK - 6)
                        stroke="#e3e7ec" {}
                }
            }
        }
    }
}

/// A piece of a bar: one fund source's part, in SVG units.
#[derive(Debug)]
struct Segment {
    origin: usize,
    x: i64,
    width: i64,
    value: Decimal,
}

/// One bar: its segments, where it ends, and its sum.
#[derive(Debug)]
struct Bar {
    segments: Vec<Segment>,
    end: i64,
    sum: Decimal,
}

/// A series drawn as a bar `width` long at `max`. Segments end where their
/// running sum ends, so rounding never opens gaps between them; a segment
/// too thin to draw is left out.
fn bar(series: &BTreeMap<usize, Decimal>, max: Decimal, width: i64) -> Bar {
    let mut segments = Vec::new();
    let mut sum = Decimal::ZERO;
    let mut x_prev = 0;
    for (i, v) in series {
        sum = add(sum, *v);
        let x_end = scale_to(sum, max, width);
        if x_end > x_prev {
            segments.push(Segment {
                origin: *i,
                x: x_prev,
                width: x_end - x_prev,
                value: *v,
            });
        }
        x_prev = x_end;
    }
    Bar {
        segments,
        end: x_prev,
        sum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn row(pairs: &[(&'static str, &str)], received: &str, issued: &str, paid: &str) -> SummaryRow {
        SummaryRow {
            group: pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            received: d(received),
            own_budget: Decimal::ZERO,
            issued_down: d(issued),
            paid: d(paid),
            balance: d(received) - d(issued) - d(paid),
        }
    }

    fn nv(code: &str, name: &str, level: &str, parent: Option<&str>) -> NodeView {
        NodeView {
            code: code.into(),
            name: name.into(),
            level: level.into(),
            parent: parent.map(Into::into),
        }
    }

    fn sample(group_by: Vec<GroupBy>, rows: Vec<SummaryRow>) -> LedgerPage {
        let date = NaiveDate::from_ymd_opt(2020, 12, 31).expect("date");
        let total = row(&[], "1079410000", "1079410000", "0");
        let chart_rows = vec![
            row(
                &[
                    ("node", "652822"),
                    ("node_name", "轮台县"),
                    ("fund_origin", "central"),
                ],
                "50890000",
                "0",
                "1000000",
            ),
            row(
                &[
                    ("node", "652822"),
                    ("node_name", "轮台县"),
                    ("fund_origin", "bond"),
                ],
                "62000000",
                "0",
                "61000000.5",
            ),
            row(
                &[
                    ("node", "652801"),
                    ("node_name", "<b>库尔勒市</b>"),
                    ("fund_origin", "central"),
                ],
                "15810000",
                "0",
                "0",
            ),
        ];
        LedgerPage {
            as_of: date,
            today: date,
            under: None,
            summary: Summary {
                node: "652800".into(),
                as_of: date,
                group_by: group_by.clone(),
                rows,
                total: total.clone(),
            },
            chart: Summary {
                node: "652800".into(),
                as_of: date,
                group_by: vec![GroupBy::Node, GroupBy::FundOrigin],
                rows: chart_rows,
                total,
            },
            nodes: vec![
                nv("652800", "巴音郭楞蒙古自治州", "prefecture", Some("650000")),
                nv("652801", "<b>库尔勒市</b>", "county", Some("652800")),
                nv("652822", "轮台县", "county", Some("652800")),
            ],
            categories: HashMap::from([("X-01".to_owned(), "扶贫发展".to_owned())]),
        }
    }

    #[test]
    fn amounts_are_wan_with_yuan_on_hover() {
        let p = sample(
            vec![GroupBy::Node],
            vec![row(
                &[("node", "652800"), ("node_name", "巴音郭楞蒙古自治州")],
                "1079410000",
                "1079410000",
                "0",
            )],
        );
        let s = render(&chrome(Lang::Zh), &p).into_string();
        assert!(
            s.contains("<td class=\"num\" title=\"1,079,410,000.00 元\">107,941.00</td>"),
            "{s}"
        );
        assert!(s.contains("/allocations?holder=652800"));
        assert!(s.contains("/payments?origin=652800"));
        assert!(s.contains("as_of=2020-09-25"));
        // The chart: a bar per county and series, labelled, names escaped.
        assert!(s.contains("<svg"));
        assert!(s.contains(">11,289.00</text>"), "轮台 funds in place label");
        assert!(s.contains(">6,200.00005</text>"), "轮台 paid label, exact");
        assert!(!s.contains("<b>库尔勒市"));
        assert!(s.contains("&lt;b&gt;库尔勒市"));
    }

    #[test]
    fn english_headings_and_categories() {
        let p = sample(
            vec![GroupBy::FundCategory],
            vec![row(&[("fund_category", "X-01")], "10", "0", "5")],
        );
        let s = render(&chrome(Lang::En), &p).into_string();
        assert!(s.contains("<html lang=\"en\">"));
        assert!(s.contains("Master ledger") && s.contains("Fund category"));
        assert!(s.contains("扶贫发展 <span class=\"muted\">X-01</span>"));
        assert!(s.contains("50.0%"));
    }

    #[test]
    fn group_by_values() {
        assert_eq!(
            parse_group_by("node,fund_origin"),
            Some(vec![GroupBy::Node, GroupBy::FundOrigin])
        );
        assert_eq!(parse_group_by("node,node"), Some(vec![GroupBy::Node]));
        assert_eq!(parse_group_by("payee"), None);
        assert_eq!(parse_group_by(""), None);
    }
}
