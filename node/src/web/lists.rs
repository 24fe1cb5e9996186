//! `/allocations` and `/payments`: paginated lists, the master ledger's
//! drill-down.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::ledger::query::{AllocationView, PaymentView};

use super::html::{html, url, url_encode, Html};
use super::layout::{page, Chrome, Nav};
use super::ledger::{column_decimals, money_td};
use super::text::{wan, yuan, Lang};

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

/// The filters as a line of text: `holder = 轮台县 (652822)`.
fn filter_line<T>(b: &mut Html, l: Lang, list: &Listing<T>, base: &'static str) {
    if list.filters.is_empty() {
        return;
    }
    html!(b, "<p class=\"sub\">{} ", l.t("筛选：", "Filters:"));
    for (i, (k, v)) in list.filters.iter().enumerate() {
        if i > 0 {
            b.lit(" · ");
        }
        let k = filter_label(l, k);
        match list.names.get(v) {
            Some(n) => html!(b, "{}：{} ({})", k, n, v),
            None => html!(b, "{}：{}", k, v),
        }
    }
    html!(
        b,
        " · <a href=\"{}\">{}</a></p>",
        base,
        l.t("清除筛选", "clear")
    );
}

fn filter_label(l: Lang, key: &str) -> String {
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

fn pager<T>(b: &mut Html, l: Lang, list: &Listing<T>, base: &str) {
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
    b.lit("<div class=\"pager\">");
    if list.page > 1 {
        html!(
            b,
            "<a href=\"{}\">← {}</a>",
            link(list.page - 1),
            l.t("上一页", "Previous")
        );
    }
    html!(
        b,
        "<span class=\"muted\">{} {} {} · {} {}</span>",
        l.t("第", "Page"),
        list.page,
        l.t("页", ""),
        list.items.len(),
        l.t("条", "rows")
    );
    if list.has_more {
        html!(
            b,
            "<a href=\"{}\">{} →</a>",
            link(list.page + 1),
            l.t("下一页", "Next")
        );
    }
    b.lit("</div>");
}

pub fn allocations(c: &Chrome, list: &Listing<AllocationView>) -> Html {
    let l = c.lang;
    let mut b = Html::new();
    filter_line(&mut b, l, list, "/allocations");
    html!(
        b,
        "<p class=\"sub\">{}</p>",
        l.t(
            "单位：万元（悬停显示元）",
            "Figures in 万元; hover for yuan"
        )
    );
    b.lit("<div class=\"scroll\"><table><thead><tr>");
    html!(
        b,
        "<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th>{}</th>",
        l.t("日期", "Date"),
        l.t("指标文号", "Document no."),
        l.t("类型", "Kind"),
        l.t("资金类别", "Fund category"),
        l.t("资金来源", "Source"),
        l.t("下达单位", "From"),
        l.t("持有单位", "Holder"),
        l.t("金额", "Amount"),
        l.t("已下达", "Issued"),
        l.t("已支付", "Paid"),
        l.t("可用", "Available"),
        l.t("明细", "Details")
    );
    b.lit("</tr></thead><tbody>");
    let w = column_decimals(
        list.items
            .iter()
            .map(|a| [a.amount, a.issued, a.paid, a.available]),
    );
    for a in &list.items {
        let category = list
            .categories
            .get(&a.category)
            .map(String::as_str)
            .unwrap_or("");
        html!(
            b,
            "<tr><td class=\"nowrap\">{}</td><td class=\"nowrap\" title=\"{}\">{}</td><td class=\"nowrap\">{}</td>\
             <td>{} <span class=\"muted\">{}</span></td><td class=\"nowrap\">{}</td>",
            a.dated,
            a.title,
            a.doc_no,
            l.allocation_kind(&a.kind),
            category,
            a.category,
            l.fund_origin(&a.fund_origin)
        );
        match &a.from_node {
            Some(f) => html!(b, "<td>{}</td>", list.name(f)),
            None => {
                b.lit("<td class=\"muted\">—</td>");
            }
        };
        html!(b, "<td>{}</td>", list.name(&a.holder));
        for (v, d) in [a.amount, a.issued, a.paid, a.available]
            .into_iter()
            .zip(&w)
        {
            money_td(&mut b, l, v, *d);
        }
        html!(
            b,
            "<td class=\"nowrap\"><a href=\"{}\">{}</a> · <a href=\"{}\">{}</a></td></tr>",
            url("/allocations", &[("source", a.id.clone())]),
            l.t("下级指标", "Sub-allocations"),
            url("/payments", &[("allocation", a.id.clone())]),
            l.t("支付", "Payments")
        );
    }
    if list.items.is_empty() {
        html!(
            b,
            "<tr><td colspan=\"12\" class=\"muted\">{}</td></tr>",
            l.t("没有符合条件的指标。", "No allocations match.")
        );
    } else {
        let mut sums = [Decimal::ZERO; 4];
        for a in &list.items {
            for (s, v) in sums
                .iter_mut()
                .zip([a.amount, a.issued, a.paid, a.available])
            {
                *s = s.checked_add(v).unwrap_or(Decimal::MAX);
            }
        }
        html!(
            b,
            "<tr class=\"total\"><td colspan=\"7\">{}</td>",
            l.t("本页合计", "This page")
        );
        for (v, d) in sums.into_iter().zip(&w) {
            money_td(&mut b, l, v, *d);
        }
        b.lit("<td></td></tr>");
    }
    b.lit("</tbody></table></div>");
    pager(&mut b, l, list, "/allocations");
    page(c, Nav::Allocations, l.t("预算指标", "Allocations"), &b)
}

pub fn payments(c: &Chrome, list: &Listing<PaymentView>) -> Html {
    let l = c.lang;
    let mut b = Html::new();
    filter_line(&mut b, l, list, "/payments");
    html!(
        b,
        "<p class=\"sub\">{}</p>",
        l.t(
            "单位：元。点击凭证号查看资金追溯。",
            "Amounts in yuan. Follow a voucher number for its trace."
        )
    );
    b.lit("<div class=\"scroll\"><table><thead><tr>");
    html!(
        b,
        "<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=\"num\">{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>",
        l.t("支付日期", "Paid on"),
        l.t("凭证号", "Voucher"),
        l.t("支付单位", "Node"),
        l.t("收款人", "Payee"),
        l.t("金额（元）", "Amount (yuan)"),
        l.t("项目", "Project"),
        l.t("指标", "Allocation"),
        l.t("用途", "Purpose"),
        l.t("状态", "Status")
    );
    b.lit("</tr></thead><tbody>");
    for p in &list.items {
        let reversed = p.reversed_on.is_some();
        html!(
            b,
            "<tr{}><td class=\"nowrap\">{}</td><td class=\"keep nowrap\"><a href=\"{}\">{}</a></td><td class=\"nowrap\">{}</td><td>{}</td>\
             <td class=\"num\" title=\"{} 万元\">{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\"><a href=\"{}\">{}</a></td><td>{}</td>",
            if reversed { " class=\"rev\"" } else { "" },
            p.paid_on,
            format!("/trace/{}", url_encode(&p.id)),
            p.voucher_no,
            list.name(&p.origin),
            p.payee_name,
            wan(p.amount),
            yuan(p.amount),
            p.project,
            url("/payments", &[("allocation", p.allocation.clone())]),
            p.allocation,
            p.purpose
        );
        match (&p.reversed_on, &p.reversal_reason) {
            (Some(on), reason) => html!(
                b,
                "<td class=\"keep\"><span class=\"st silent\" title=\"{}\">{} {}</span></td></tr>",
                reason.as_deref().unwrap_or(""),
                l.t("已冲销", "Reversed"),
                on
            ),
            (None, _) => html!(
                b,
                "<td class=\"keep\"><span class=\"st ok\">{}</span></td></tr>",
                l.t("有效", "Valid")
            ),
        };
    }
    if list.items.is_empty() {
        html!(
            b,
            "<tr><td colspan=\"9\" class=\"muted\">{}</td></tr>",
            l.t("没有符合条件的支付。", "No payments match.")
        );
    } else {
        let sum = list
            .items
            .iter()
            .filter(|p| p.reversed_on.is_none())
            .fold(Decimal::ZERO, |s, p| {
                s.checked_add(p.amount).unwrap_or(Decimal::MAX)
            });
        html!(
            b,
            "<tr class=\"total\"><td colspan=\"4\">{}</td><td class=\"num\" title=\"{} 万元\">{}</td><td colspan=\"4\"></td></tr>",
            l.t("本页合计（不含已冲销）", "This page (reversals excluded)"),
            wan(sum),
            yuan(sum)
        );
    }
    b.lit("</tbody></table></div>");
    pager(&mut b, l, list, "/payments");
    page(
        c,
        Nav::Payments,
        l.t("国库集中支付", "Treasury payments"),
        &b,
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
    }
}
