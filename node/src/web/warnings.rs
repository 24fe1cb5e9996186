//! `/warnings`: the early warnings (预警) this node holds, its own and its
//! subtree's, open by default, with counts by rule.

use std::collections::{BTreeMap, HashMap};

use maud::{html, Markup};

use super::html::url;
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
pub fn warnings_body(c: &Chrome, p: &WarningsPage) -> Markup {
    let l = c.lang;
    html! {
        div class="card" {
            p {
                @if p.open_by_rule.is_empty() {
                    b { (l.t("暂无未处理的预警。", "No open warnings.")) }
                } @else {
                    b { (l.t("未处理预警：", "Open warnings:")) } " "
                    @for (i, (rule, n)) in p.open_by_rule.iter().enumerate() {
                        @if i > 0 { " · " }
                        a href=(url("/warnings", &[("rule", rule.clone())])) {
                            (rule_label(c, rule)) " " (n)
                        }
                    }
                }
            }
            p class="sub" {
                a href="/warnings" { (l.t("未处理", "open")) }
                " · "
                a href="/warnings?open=false" { (l.t("已解除", "resolved")) }
            }
            (super::export::links(c, "/warnings"))
        }
        @if p.items.is_empty() {
            // Unless the card above already says there are none.
            @if !(p.open && p.open_by_rule.is_empty()) {
                p class="muted" { (l.t("暂无符合条件的预警。", "No warnings match.")) }
            }
        } @else {
            table {
                thead {
                    tr {
                        th { (l.t("规则", "Rule")) }
                        th { (l.t("单位", "Node")) }
                        th { (l.t("说明", "What")) }
                        th class="num" { (l.t("金额（万元）", "Amount (万元)")) }
                        th { (l.t("截至", "As of")) }
                        th { (l.t("状态", "State")) }
                    }
                }
                tbody {
                    @for w in &p.items {
                        tr {
                            td { (rule_label(c, &w.rule)) }
                            td {
                                (p.names.get(&w.node).map(String::as_str).unwrap_or_default())
                                " " span class="muted" { (w.node) }
                            }
                            td { (w.message) }
                            @match w.amount {
                                Some(a) => { td class="num" { (wan(a)) } }
                                None => { td class="num muted" { "—" } }
                            }
                            td { (w.as_of) }
                            @if w.open {
                                td { b { (l.t("未处理", "open")) } }
                            } @else {
                                td class="muted" {
                                    (l.t("已解除", "resolved")) " "
                                    (w.resolved_as_of.as_deref().unwrap_or_default())
                                }
                            }
                        }
                    }
                }
            }
            @if p.has_more {
                p class="sub" { (l.t("仅显示前 200 条。", "The first 200 are shown.")) }
            }
        }
    }
}

pub fn render(c: &Chrome, p: &WarningsPage) -> Markup {
    page(
        c,
        Nav::Warnings,
        c.lang.t("预警", "Warnings"),
        warnings_body(c, p),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;
    use crate::web::text::Lang;

    #[test]
    fn counts_are_separated_without_a_trailing_dot_and_no_match_says_so() {
        let p = WarningsPage {
            open_by_rule: BTreeMap::from([("idle_funds".to_owned(), 3), ("x<y".to_owned(), 1)]),
            open: true,
            ..WarningsPage::default()
        };
        let s = warnings_body(&chrome(Lang::Zh), &p).into_string();
        assert!(
            s.contains(">资金闲置 3</a> · <a href=\"/warnings?rule=x%3Cy\">x&lt;y 1</a></p>"),
            "{s}"
        );
        assert!(s.contains("暂无符合条件的预警"), "{s}");
        let none = warnings_body(
            &chrome(Lang::Zh),
            &WarningsPage {
                open: true,
                ..WarningsPage::default()
            },
        )
        .into_string();
        assert!(none.contains("暂无未处理的预警") && !none.contains("暂无符合条件"));
    }
}
