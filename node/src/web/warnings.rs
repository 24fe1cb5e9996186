//! `/warnings`: a placeholder until the warnings engine lands.

use super::html::{html, Html};
use super::layout::{page, Chrome, Nav};

/// WARNINGS ENGINE: fill in here. Replace this body with the engine's
/// warnings (issue deadline, idle funds, slow spending, overspend, unmatched
/// payments, suspicious payees, missing targets, replication), rendered as a
/// table; the handler in `web/mod.rs` gathers the data and passes it in.
pub fn warnings_body(c: &Chrome) -> Html {
    let l = c.lang;
    let mut b = Html::new();
    html!(
        b,
        "<div class=\"card\"><p><b>{}</b></p><p class=\"sub\">{}</p></div>",
        l.t("预警功能即将上线。", "Warnings are coming."),
        l.t(
            "将监控：超时滞留、资金闲置、支出进度慢于序时进度、超支、无指标或无项目的支付、可疑收款人、缺少绩效目标、节点失联。",
            "They will watch for: funds held beyond the deadline, idle funds, spending behind time-elapsed progress, overspending, payments with no allocation or project, suspicious payees, missing performance targets, and silent nodes."
        )
    );
    b
}

pub fn render(c: &Chrome) -> Html {
    page(
        c,
        Nav::Warnings,
        c.lang.t("预警", "Warnings"),
        &warnings_body(c),
    )
}
