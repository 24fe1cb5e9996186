//! `/allocations` and `/payments`: paginated lists, the master ledger's
//! drill-down.

use std::collections::HashMap;

use fundsync_protocol::Actor;
use rust_decimal::Decimal;

use crate::access::Role;
use crate::ledger::query::{AllocationView, PaymentView};

use maud::{html, Markup};

use super::html::{url, url_encode};
use super::layout::{page, Chrome, Nav};
use super::ledger::{column_decimals, money_td};
use super::text::{wan, yuan, Lang};

/// Who recorded a record (录入人): the display name, then the login and
/// the role it acted in; "—" for an entry written before actors existed.
pub fn actor(l: Lang, a: Option<&Actor>) -> Markup {
    let Some(a) = a else {
        return html! { span class="muted" title=(l.t("早于录入人记录的条目", "recorded before actors were kept")) { "—" } };
    };
    let role = match a.role.parse::<Role>() {
        Ok(r) => l.t(r.zh(), r.as_str()).to_owned(),
        Err(_) if a.is_system() => l.t("系统", "system").to_owned(),
        Err(_) => a.role.clone(),
    };
    html! {
        span class="actor" title=(a.addr) {
            (a.name) " " span class="muted" { "(" (a.login) " · " (role) ")" }
        }
    }
}

/// A page of a list and how it was asked for.
#[derive(Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub has_more: bool,
    /// The filters given, as query pairs (kept by the pager).
    pub filters: Vec<(String, String)>,
    pub page_size: u32,
    /// Node code → name.
    pub names: HashMap<String, String>,
    /// Fund category code → name.
    pub categories: HashMap<String, String>,
}

impl<T> Listing<T> {
    fn name<'a>(&'a self, code: &'a str) -> &'a str {
        self.names.get(code).map(String::as_str).unwrap_or(code)
    }
}

/// The filters as a line of text: `持有单位：轮台县 (652822)`.
fn filter_line<T>(l: Lang, list: &Listing<T>, base: &str) -> Markup {
    if list.filters.is_empty() {
        return html! {};
    }
    html! {
        p class="sub" {
            (l.t("筛选：", "Filters:")) " "
            @for (i, (k, v)) in list.filters.iter().enumerate() {
                @if i > 0 { " · " }
                (filter_label(l, k)) "：" (filter_value(l, list, k, v))
            }
            " · " a href=(base) { (l.t("清除筛选", "clear")) }
        }
    }
}

/// A filter's value as a reader knows it: a node or a category by name and
/// code, a kind or a fund source by its name, anything else as given.
fn filter_value<T>(l: Lang, list: &Listing<T>, key: &str, v: &str) -> String {
    let named = |name: &str| format!("{name} ({v})");
    match key {
        "kind" => match l.allocation_kind(v) {
            "?" => v.to_owned(),
            k => k.to_owned(),
        },
        "fund_origin" if ORIGINS.contains(&v) => l.fund_origin(v).to_owned(),
        "category" => list
            .categories
            .get(v)
            .map_or_else(|| v.to_owned(), |n| named(n)),
        _ => list.names.get(v).map_or_else(|| v.to_owned(), |n| named(n)),
    }
}

/// The fund sources [`Lang::fund_origin`] names.
const ORIGINS: &[&str] = &["central", "region", "prefecture", "county", "bond"];

pub(super) fn filter_label(l: Lang, key: &str) -> String {
    let t = match key {
        "holder" => l.t("持有单位", "holder"),
        "from_node" => l.t("下达单位", "issued by"),
        "kind" => l.t("类型", "kind"),
        "category" => l.t("资金类别", "category"),
        "fund_origin" => l.t("资金来源", "fund source"),
        "source" => l.t("来源指标", "source allocation"),
        "as_of" => l.t("截至", "as of"),
        "origin" => l.t("支付单位", "paid by"),
        "allocation" => l.t("指标", "allocation"),
        "project" => l.t("项目", "project"),
        "voucher_no" => l.t("凭证号", "voucher"),
        _ => "",
    };
    if t.is_empty() {
        key.to_owned()
    } else {
        t.to_owned()
    }
}

fn pager<T>(l: Lang, list: &Listing<T>, base: &str) -> Markup {
    let link = |page: u32| {
        let mut q: Vec<(&str, String)> = list
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.push(("page", page.to_string()));
        q.push(("page_size", list.page_size.to_string()));
        url(base, &q)
    };
    html! {
        div class="pager" {
            @if list.page > 1 {
                a href=(link(list.page - 1)) { "← " (l.t("上一页", "Previous")) }
            }
            span class="muted" {
                (l.t("第", "Page")) " " (list.page) " " (l.t("页", "")) " · "
                (list.items.len()) " " (l.t("条", "rows"))
            }
            @if list.has_more {
                a href=(link(list.page + 1)) { (l.t("下一页", "Next")) " →" }
            }
        }
    }
}

pub fn allocations(c: &Chrome, list: &Listing<AllocationView>) -> Markup {
    let l = c.lang;
    let w = column_decimals(
        list.items
            .iter()
            .map(|a| [a.amount, a.issued, a.paid, a.available]),
    );
    let mut sums = [Decimal::ZERO; 4];
    for a in &list.items {
        for (s, v) in sums
            .iter_mut()
            .zip([a.amount, a.issued, a.paid, a.available])
        {
            *s = s.checked_add(v).unwrap_or(Decimal::MAX);
        }
    }
    let body = html! {
        (filter_line(l, list, "/allocations"))
        (super::layout::export_links(c, "/allocations"))
        p class="sub" { (l.t("单位：万元（悬停显示元）", "Figures in 万元; hover for yuan")) }
        div class="scroll" {
            table {
                thead {
                    tr {
                        th { (l.t("日期", "Date")) }
                        th { (l.t("指标文号", "Document no.")) }
                        th { (l.t("类型", "Kind")) }
                        th { (l.t("资金类别", "Fund category")) }
                        th { (l.t("资金来源", "Source")) }
                        th { (l.t("下达单位", "From")) }
                        th { (l.t("持有单位", "Holder")) }
                        th class="num" { (l.t("金额", "Amount")) }
                        th class="num" { (l.t("已下达", "Issued")) }
                        th class="num" { (l.t("已支付", "Paid")) }
                        th class="num" { (l.t("可用", "Available")) }
                        th { (l.t("录入人", "Recorded by")) }
                        th { (l.t("明细", "Details")) }
                    }
                }
                tbody {
                    @for a in &list.items {
                        tr {
                            td class="nowrap" { (a.dated) }
                            td class="nowrap" title=(a.title) { (a.doc_no) }
                            td class="nowrap" { (l.allocation_kind(&a.kind)) }
                            td {
                                (list.categories.get(&a.category).map(String::as_str).unwrap_or(""))
                                " " span class="muted" { (a.category) }
                            }
                            td class="nowrap" { (l.fund_origin(&a.fund_origin)) }
                            @match &a.from_node {
                                Some(f) => { td { (list.name(f)) } }
                                None => { td class="muted" { "—" } }
                            }
                            td { (list.name(&a.holder)) }
                            @for (v, d) in [a.amount, a.issued, a.paid, a.available].into_iter().zip(&w) {
                                (money_td(l, v, *d))
                            }
                            td class="nowrap" { (actor(l, a.actor.as_ref())) }
                            td class="nowrap" {
                                a href=(url("/allocations", &[("source", a.id.clone())])) {
                                    (l.t("下级指标", "Sub-allocations"))
                                }
                                " · "
                                a href=(url("/payments", &[("allocation", a.id.clone())])) {
                                    (l.t("支付", "Payments"))
                                }
                            }
                        }
                    }
                    @if list.items.is_empty() {
                        tr {
                            td colspan="13" class="muted" {
                                (l.t("没有符合条件的指标。", "No allocations match."))
                            }
                        }
                    } @else {
                        tr class="total" {
                            td colspan="7" { (l.t("本页合计", "This page")) }
                            @for (v, d) in sums.into_iter().zip(&w) {
                                (money_td(l, v, *d))
                            }
                            td {}
                            td {}
                        }
                    }
                }
            }
        }
        (pager(l, list, "/allocations"))
    };
    page(c, Nav::Allocations, l.t("预算指标", "Allocations"), body)
}

pub fn payments(c: &Chrome, list: &Listing<PaymentView>) -> Markup {
    let l = c.lang;
    let sum = list
        .items
        .iter()
        .filter(|p| p.reversed_on.is_none())
        .fold(Decimal::ZERO, |s, p| {
            s.checked_add(p.amount).unwrap_or(Decimal::MAX)
        });
    let body = html! {
        (filter_line(l, list, "/payments"))
        (super::layout::export_links(c, "/payments"))
        p class="sub" {
            (l.t(
                "单位：元。点击凭证号查看资金追溯。",
                "Amounts in yuan. Follow a voucher number for its trace."
            ))
        }
        div class="scroll" {
            table {
                thead {
                    tr {
                        th { (l.t("支付日期", "Paid on")) }
                        th { (l.t("凭证号", "Voucher")) }
                        th { (l.t("支付单位", "Node")) }
                        th { (l.t("收款人", "Payee")) }
                        th class="num" { (l.t("金额（元）", "Amount (yuan)")) }
                        th { (l.t("项目", "Project")) }
                        th { (l.t("指标", "Allocation")) }
                        th { (l.t("用途", "Purpose")) }
                        th { (l.t("录入人", "Recorded by")) }
                        th { (l.t("状态", "Status")) }
                    }
                }
                tbody {
                    @for p in &list.items {
                        tr class=[p.reversed_on.is_some().then_some("rev")] {
                            td class="nowrap" { (p.paid_on) }
                            td class="keep nowrap" {
                                a href={ "/trace/" (url_encode(&p.id)) } { (p.voucher_no) }
                            }
                            td class="nowrap" { (list.name(&p.origin)) }
                            td { (p.payee_name) }
                            td class="num" title={ (wan(p.amount)) " 万元" } { (yuan(p.amount)) }
                            td class="nowrap" { (p.project) }
                            td class="nowrap" {
                                a href=(url("/payments", &[("allocation", p.allocation.clone())])) {
                                    (p.allocation)
                                }
                            }
                            td { (p.purpose) }
                            td class="nowrap" { (actor(l, p.actor.as_ref())) }
                            @match &p.reversed_on {
                                Some(on) => {
                                    td class="keep" {
                                        span class="st silent" title=(p.reversal_reason.as_deref().unwrap_or("")) {
                                            (l.t("已冲销", "Reversed")) " " (on)
                                        }
                                    }
                                }
                                None => {
                                    td class="keep" { span class="st ok" { (l.t("有效", "Valid")) } }
                                }
                            }
                        }
                    }
                    @if list.items.is_empty() {
                        tr {
                            td colspan="10" class="muted" {
                                (l.t("没有符合条件的支付。", "No payments match."))
                            }
                        }
                    } @else {
                        tr class="total" {
                            td colspan="4" {
                                (l.t("本页合计（不含已冲销）", "This page (reversals excluded)"))
                            }
                            td class="num" title={ (wan(sum)) " 万元" } { (yuan(sum)) }
                            td colspan="5" {}
                        }
                    }
                }
            }
        }
        (pager(l, list, "/payments"))
    };
    page(
        c,
        Nav::Payments,
        l.t("国库集中支付", "Treasury payments"),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;

    fn payment(id: &str, payee: &str) -> PaymentView {
        PaymentView {
            id: id.into(),
            origin: "652822".into(),
            voucher_no: "V<1>".into(),
            paid_on: "2020-05-01".into(),
            payer: String::new(),
            payee_name: payee.into(),
            payee_account: String::new(),
            payee_bank: String::new(),
            amount: Decimal::new(123_456_789, 2),
            function_class: String::new(),
            allocation: "652822-3".into(),
            project: "P1".into(),
            purpose: "修路".into(),
            reversed_on: None,
            reversal_reason: None,
            actor: Some(Actor {
                login: "zhangsan".into(),
                name: "张三<b>".into(),
                role: "treasury".into(),
                addr: "10.0.0.1".into(),
            }),
        }
    }

    #[test]
    fn payments_link_to_their_trace_and_page_on() {
        let list = Listing {
            items: vec![payment("652822-9", "<img src=x onerror=alert(1)>")],
            page: 2,
            has_more: true,
            filters: vec![("origin".into(), "652822".into())],
            page_size: 50,
            names: HashMap::from([("652822".to_owned(), "轮台县".to_owned())]),
            categories: HashMap::new(),
        };
        let s = payments(&chrome(Lang::Zh), &list).into_string();
        assert!(
            s.contains("<a href=\"/trace/652822-9\">V&lt;1&gt;</a>"),
            "{s}"
        );
        assert!(!s.contains("<img"));
        assert!(s.contains("1,234,567.89"));
        assert!(s.contains("href=\"/payments?origin=652822&amp;page=1&amp;page_size=50\""));
        assert!(s.contains("page=3"));
        assert!(s.contains("支付单位：轮台县 (652822)"));
        assert!(!s.contains("class=\"rev\""));
        assert!(
            s.contains("<th>录入人</th>")
                && s.contains("张三&lt;b&gt; <span class=\"muted\">(zhangsan · 国库支付)</span>"),
            "{s}"
        );
    }

    #[test]
    fn reversed_payments_keep_their_style() {
        let mut p = payment("652822-9", "甲");
        p.reversed_on = Some("2020-06-01".into());
        p.reversal_reason = Some("重复支付".into());
        let list = Listing {
            items: vec![p],
            page: 1,
            has_more: false,
            filters: vec![],
            page_size: 50,
            names: HashMap::new(),
            categories: HashMap::new(),
        };
        let s = payments(&chrome(Lang::Zh), &list).into_string();
        assert!(
            s.contains("<tr class=\"rev\"><td class=\"nowrap\">2020-05-01"),
            "{s}"
        );
        assert!(!s.contains("&quot;rev"));
        assert!(s.contains("title=\"重复支付\">已冲销 2020-06-01"));
    }

    #[test]
    fn the_filter_line_names_kinds_sources_and_categories() {
        let list: Listing<AllocationView> = Listing {
            items: vec![],
            page: 1,
            has_more: false,
            filters: vec![
                ("kind".into(), "own_budget".into()),
                ("fund_origin".into(), "central".into()),
                ("category".into(), "X-01".into()),
                ("holder".into(), "652822".into()),
            ],
            page_size: 50,
            names: HashMap::from([("652822".to_owned(), "轮台县".to_owned())]),
            categories: HashMap::from([("X-01".to_owned(), "扶贫发展".to_owned())]),
        };
        let s = allocations(&chrome(Lang::Zh), &list).into_string();
        assert!(
            s.contains("筛选： 类型：本级安排 · 资金来源：中央 · 资金类别：扶贫发展 (X-01) · 持有单位：轮台县 (652822) · "),
            "{s}"
        );
        assert!(s.contains("没有符合条件的指标。"));
        let odd = Listing {
            filters: vec![("kind".into(), "<x>".into())],
            ..list
        };
        let s = allocations(&chrome(Lang::Zh), &odd).into_string();
        assert!(s.contains("类型：&lt;x&gt;"), "{s}");
    }
}
