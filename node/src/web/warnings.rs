//! `/warnings`: the early warnings (预警) this node holds, its own and its
//! subtree's, open by default, with counts by rule.

use std::collections::{BTreeMap, HashMap};

use super::html::{html, Html};
use super::layout::{page, Chrome, Nav};
use super::text::wan;
use crate::warnings::store::WarningView;
use crate::warnings::Rule;

/// What the page shows.
#[derive(Debug, Default)]
pub struct WarningsPage {
    pub items: Vec<WarningView>,
    /// Open warnings by rule, over everything this node holds.
    pub open_by_rule: BTreeMap<String, i64>,
    /// Node names by code.
    pub names: HashMap<String, String>,
    /// Showing open warnings (true) or resolved ones (false).
    pub open: bool,
    pub has_more: bool,
}

fn rule_label(c: &Chrome, rule: &str) -> String {
    match rule.parse::<Rule>() {
        Ok(r) => {
            let (zh, en) = r.label();
            c.lang.t(zh, en).to_owned()
        }
        Err(_) => rule.to_owned(),
    }
}

/// The page's body: counts by rule, then the warnings as a table.
pub fn warnings_body(c: &Chrome, p: &WarningsPage) -> Html {
    let l = c.lang;
    let mut b = Html::new();
    b.lit("<div class=\"card\"><p>");
    if p.open_by_rule.is_empty() {
        html!(
            b,
            "<b>{}</b>",
            l.t("暂无未处理的预警。", "No open warnings.")
        );
    } else {
        html!(b, "<b>{}</b> ", l.t("未处理预警：", "Open warnings:"));
        for (rule, n) in &p.open_by_rule {
            html!(
                b,
                "<a href=\"/warnings?rule={}\">{} {}</a> · ",
                rule,
                rule_label(c, rule),
                n
            );
        }
    }
    html!(
        b,
        "</p><p class=\"sub\"><a href=\"/warnings\">{}</a> · <a href=\"/warnings?open=false\">{}</a></p></div>",
        l.t("未处理", "open"),
        l.t("已解除", "resolved")
    );
    if p.items.is_empty() {
        return b;
    }
    html!(
        b,
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th class=\"num\">{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        l.t("规则", "Rule"),
        l.t("单位", "Node"),
        l.t("说明", "What"),
        l.t("金额（万元）", "Amount (万元)"),
        l.t("截至", "As of"),
        l.t("状态", "State")
    );
    for w in &p.items {
        let name = p.names.get(&w.node).map(String::as_str).unwrap_or_default();
        html!(
            b,
            "<tr><td>{}</td><td>{} <span class=\"muted\">{}</span></td><td>{}</td>",
            rule_label(c, &w.rule),
            name,
            w.node,
            w.message
        );
        match w.amount {
            Some(a) => html!(b, "<td class=\"num\">{}</td>", wan(a)),
            None => {
                b.lit("<td class=\"num muted\">—</td>");
            }
        }
        html!(b, "<td>{}</td>", w.as_of);
        if w.open {
            html!(b, "<td><b>{}</b></td></tr>", l.t("未处理", "open"));
        } else {
            html!(
                b,
                "<td class=\"muted\">{} {}</td></tr>",
                l.t("已解除", "resolved"),
                w.resolved_as_of.as_deref().unwrap_or_default()
            );
        }
    }
    b.lit("</tbody></table>");
    if p.has_more {
        html!(
            b,
            "<p class=\"sub\">{}</p>",
            l.t("仅显示前 200 条。", "The first 200 are shown.")
        );
    }
    b
}

pub fn render(c: &Chrome, p: &WarningsPage) -> Html {
    page(
        c,
        Nav::Warnings,
        c.lang.t("预警", "Warnings"),
        &warnings_body(c, p),
    )
}
