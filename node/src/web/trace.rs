//! `/trace/{payment_id}`: where a payment's money came from (流程追溯), drawn
//! as a chain from the voucher up to the source document.

use std::collections::HashMap;

use maud::{html, Markup};

use crate::ledger::query::{AllocationView, Trace, TraceStep};

use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::lists::actor;
use super::text::{wan, yuan, Lang};

/// The trace and what names its nodes.
#[derive(Debug)]
pub struct TracePage {
    pub trace: Trace,
    /// Node code → (name, level).
    pub nodes: HashMap<String, (String, String)>,
    /// Fund category code → name.
    pub categories: HashMap<String, String>,
}

fn amount(l: Lang, v: rust_decimal::Decimal) -> Markup {
    html! {
        span class="amount" title={ (yuan(v)) " " (l.t("元", "yuan")) } {
            (wan(v)) " " (l.t("万元", "× 10,000 yuan"))
        }
    }
}

/// What an allocation is on the chain: by the level of its holder, and for
/// the last link, whether it is a source document or an own budget.
fn step_label(l: Lang, a: &AllocationView, level: &str) -> String {
    let holder = match level {
        "county" => l.t("县级指标", "County allocation"),
        "prefecture" => l.t("地州指标", "Prefecture allocation"),
        "region" => l.t("自治区指标", "Region allocation"),
        _ => l.t("指标", "Allocation"),
    };
    match (a.source.is_none(), a.kind.as_str(), a.fund_origin.as_str()) {
        (true, "received", "central") => format!(
            "{} · {}",
            l.t("自治区", "Region"),
            l.t("中央来源文件", "central source document")
        ),
        (true, "received", _) => format!("{holder} · {}", l.t("来源文件", "source document")),
        (true, "own_budget", _) => format!("{holder} · {}", l.t("本级安排", "own budget")),
        _ => holder.to_owned(),
    }
}

pub fn render(c: &Chrome, p: &TracePage) -> Markup {
    let l = c.lang;
    let t = &p.trace;
    let pay = &t.payment;
    let body = html! {
        p class="sub" {
            (l.t(
                "自下而上：支付凭证 → 项目（绩效目标）→ 县级指标 → 地州指标 → 自治区 → 中央来源文件",
                "Bottom up: payment voucher → project (performance targets) → county → prefecture → region → central source document"
            ))
        }
        @if let Some(href) = c.who.as_ref().and_then(|w| {
            super::desk::reversal_link(&w.roles, &c.node_code, &pay.origin, &pay.voucher_no, pay.reversed_on.is_some())
        }) {
            p { a href=(href) id="reverse" { (l.t("冲销此笔支付", "Reverse this payment")) } }
        }
        div class="chain" {
            (voucher_step(l, p))
            (project_step(l, p))
            @for s in &t.allocations {
                (allocation_step(l, p, s))
            }
        }
        @if t.complete {
            p class="note" style="border-left-color:var(--ok);background:#eaf6ef" {
                (l.t(
                    "追溯完整：已到达来源文件。",
                    "Complete: the chain reaches its source document."
                ))
            }
        } @else {
            p class="note" {
                (l.t(
                    "本节点只保存了这条链路的一部分，更上游的指标在上级节点。",
                    "This node holds only part of the chain; the allocations further up are at the parent."
                ))
            }
        }
    };
    let title = format!("{} · {}", l.t("资金追溯", "Trace"), pay.voucher_no);
    page(c, Nav::None, &title, body)
}

impl TracePage {
    fn name(&self, code: &str) -> String {
        self.nodes
            .get(code)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| code.to_owned())
    }

    fn level(&self, code: &str) -> String {
        self.nodes
            .get(code)
            .map(|(_, lv)| lv.clone())
            .unwrap_or_default()
    }
}

/// 1. The voucher.
fn voucher_step(l: Lang, p: &TracePage) -> Markup {
    let pay = &p.trace.payment;
    html! {
        div class="step" {
            div class="card" {
                div class="label" { (l.t("支付凭证", "Payment voucher")) }
                div class="title" {
                    span {
                        (pay.voucher_no)
                        @if let Some(on) = &pay.reversed_on {
                            " " span class="st silent" { (l.t("已冲销", "Reversed")) " " (on) }
                        }
                    }
                    (amount(l, pay.amount))
                }
                dl class="grid" {
                    dt { (l.t("支付单位", "Paid by")) }
                    dd { (p.name(&pay.origin)) " (" (pay.origin) ")" }
                    dt { (l.t("支付日期", "Date")) }
                    dd { (pay.paid_on) }
                    dt { (l.t("收款人", "Payee")) }
                    dd { (pay.payee_name) }
                    dt { (l.t("开户行", "Bank")) }
                    dd { (pay.payee_bank) }
                    dt { (l.t("用途", "Purpose")) }
                    dd { (pay.purpose) }
                    dt { (l.t("功能分类", "Function class")) }
                    dd { (pay.function_class) }
                    dt { (l.t("录入人", "Recorded by")) }
                    dd { (actor(l, pay.actor.as_ref())) }
                }
            }
        }
    }
}

/// 2. The project and its targets.
fn project_step(l: Lang, p: &TracePage) -> Markup {
    let pay = &p.trace.payment;
    html! {
        div class="step" {
            div class="card" {
                div class="label" { (l.t("项目（绩效目标）", "Project (performance targets)")) }
                @match &p.trace.project {
                    Some(pr) => {
                        div class="title" {
                            span { (pr.name) " " span class="muted" { (pr.code) } }
                        }
                        @let place = format!("{} {}", pr.township, pr.village);
                        dl class="grid" {
                            dt { (l.t("项目单位", "Node")) }
                            dd { (p.name(&pr.origin)) " (" (pr.origin) ")" }
                            dt { (l.t("实施期", "Period")) }
                            dd { (pr.starts_on) " – " (pr.ends_on) }
                            @if !place.trim().is_empty() {
                                dt { (l.t("地点", "Place")) }
                                dd { (place.trim()) }
                            }
                            dt { (l.t("主管部门", "Department")) }
                            dd { (pr.department) }
                            dt { (l.t("项目预算", "Budget")) }
                            dd { (amount(l, pr.budget)) }
                            dt { (l.t("已支付", "Paid")) }
                            dd { (amount(l, pr.paid)) }
                            dt { (l.t("录入人", "Recorded by")) }
                            dd { (actor(l, pr.actor.as_ref())) }
                        }
                        @let targets = pr.targets.as_deref().unwrap_or(&[]);
                        @if targets.is_empty() {
                            p class="note bad" {
                                (l.t("该项目没有绩效目标。", "This project has no performance target."))
                            }
                        } @else {
                            table style="margin-top:10px" {
                                thead {
                                    tr {
                                        th { (l.t("一级指标", "Level 1")) }
                                        th { (l.t("二级指标", "Level 2")) }
                                        th { (l.t("三级指标", "Indicator")) }
                                        th class="num" { (l.t("目标值", "Target")) }
                                        th class="num" { (l.t("实际值", "Actual")) }
                                    }
                                }
                                tbody {
                                    @for tg in targets {
                                        tr {
                                            td { (target_level(l, &tg.level1)) }
                                            td { (target_level(l, &tg.level2)) }
                                            td { (tg.indicator) }
                                            td class="num" { (op_text(&tg.op)) " " (tg.value) " " (tg.unit) }
                                            td class="num" {
                                                @match (&tg.actual, &tg.actual_on) {
                                                    (Some(a), Some(on)) => { (a) " " (tg.unit) " (" (on) ")" }
                                                    (Some(a), None) => { (a) " " (tg.unit) }
                                                    _ => { "—" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    None => {
                        div class="title" { (pay.project) }
                        p class="note bad" {
                            (l.t(
                                "项目不在本节点的项目库中。",
                                "The project is not in this node's project library."
                            ))
                        }
                    }
                }
            }
        }
    }
}

/// 3. An allocation, from the one paid from up to the source.
fn allocation_step(l: Lang, p: &TracePage, s: &TraceStep) -> Markup {
    let a = &s.allocation;
    let holder_name = if s.holder_name.is_empty() {
        p.name(&a.holder)
    } else {
        s.holder_name.clone()
    };
    let issued_by = match (&a.from_node, a.kind.as_str(), a.fund_origin.as_str()) {
        (Some(f), _, _) => p.name(f),
        (None, "received", "central") => l.t("中央财政", "Central government").to_owned(),
        _ => "—".to_owned(),
    };
    html! {
        div class="step" {
            div class="card" {
                div class="label" { (step_label(l, a, &p.level(&a.holder))) }
                div class="title" {
                    span { (a.doc_no) }
                    (amount(l, a.amount))
                }
                dl class="grid" {
                    dt { (l.t("持有单位", "Holder")) }
                    dd { (holder_name) " (" (a.holder) ")" }
                    dt { (l.t("日期", "Date")) }
                    dd { (a.dated) }
                    dt { (l.t("下达单位", "Issued by")) }
                    dd { (issued_by) }
                    dt { (l.t("资金", "Funds")) }
                    dd {
                        (l.fund_origin(&a.fund_origin)) " · "
                        (p.categories.get(&a.category).map_or(a.category.as_str(), String::as_str))
                    }
                    dt { (l.t("录入人", "Recorded by")) }
                    dd { (actor(l, a.actor.as_ref())) }
                    @if !a.title.is_empty() {
                        dt { (l.t("文件标题", "Title")) }
                        dd style="grid-column:span 3" { (a.title) }
                    }
                }
                div class="sub" style="margin-top:6px" {
                    a href=(url("/allocations", &[("source", a.id.clone())])) {
                        (l.t("由此下达的指标", "allocations issued from it"))
                    }
                    " · "
                    a href=(url("/payments", &[("allocation", a.id.clone())])) {
                        (l.t("由此支付", "payments from it"))
                    }
                }
            }
        }
    }
}

fn target_level(l: Lang, s: &str) -> String {
    let t = match s {
        "output" => l.t("产出", "Output"),
        "effect" => l.t("效益", "Effect"),
        "satisfaction" => l.t("满意度", "Satisfaction"),
        "quantity" => l.t("数量", "Quantity"),
        "quality" => l.t("质量", "Quality"),
        "timeliness" => l.t("时效", "Timeliness"),
        "cost" => l.t("成本", "Cost"),
        "economic" => l.t("经济效益", "Economic"),
        "social" => l.t("社会效益", "Social"),
        "ecological" => l.t("生态效益", "Ecological"),
        "sustainable" => l.t("可持续影响", "Sustainability"),
        "beneficiary" => l.t("服务对象满意度", "Beneficiaries"),
        _ => "",
    };
    if t.is_empty() {
        s.to_owned()
    } else {
        t.to_owned()
    }
}

fn op_text(op: &str) -> &str {
    match op {
        ">=" => "≥",
        "<=" => "≤",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::query::{PaymentView, ProjectView, TargetView};
    use crate::web::layout::test_chrome as chrome;
    use rust_decimal::Decimal;

    fn alloc(
        id: &str,
        kind: &str,
        doc: &str,
        holder: &str,
        from: Option<&str>,
        source: Option<&str>,
        fen: i64,
    ) -> AllocationView {
        AllocationView {
            id: id.into(),
            kind: kind.into(),
            doc_no: doc.into(),
            category: "X-02".into(),
            fund_origin: "central".into(),
            amount: Decimal::new(fen, 2),
            from_node: from.map(Into::into),
            holder: holder.into(),
            source: source.map(Into::into),
            dated: "2019-12-06".into(),
            title: String::new(),
            issued: Decimal::ZERO,
            paid: Decimal::ZERO,
            recalled: Decimal::ZERO,
            available: Decimal::ZERO,
            actor: None,
        }
    }

    #[test]
    fn the_chain_runs_from_the_voucher_to_the_central_document() {
        let step = |a: AllocationView| TraceStep {
            holder_name: String::new(),
            allocation: a,
        };
        let trace = Trace {
            payment: PaymentView {
                id: "652822-52".into(),
                origin: "652822".into(),
                voucher_no: "ZF2020-652822-0003".into(),
                paid_on: "2020-06-05".into(),
                payer: String::new(),
                payee_name: "<script>x</script>合作社".into(),
                payee_account: String::new(),
                payee_bank: String::new(),
                amount: Decimal::new(308_000_000, 2),
                function_class: "2130505".into(),
                allocation: "652800-30".into(),
                project: "LT2020-005".into(),
                purpose: "工程款".into(),
                reversed_on: None,
                reversal_reason: None,
                actor: Some(fundsync_protocol::Actor {
                    login: "treasury".into(),
                    name: "演示-国库支付".into(),
                    role: "treasury".into(),
                    addr: String::new(),
                }),
            },
            project: Some(ProjectView {
                id: "652822-40".into(),
                origin: "652822".into(),
                code: "LT2020-005".into(),
                name: "野云沟乡特色林果提质增效项目".into(),
                township: String::new(),
                village: String::new(),
                department: "林草局".into(),
                starts_on: "2020-03-18".into(),
                ends_on: "2020-07-31".into(),
                budget: Decimal::new(308_000_000, 2),
                status: "in_progress".into(),
                paid: Decimal::ZERO,
                target_count: 1,
                targets: Some(vec![TargetView {
                    id: "652822-41".into(),
                    level1: "output".into(),
                    level2: "quantity".into(),
                    indicator: "林果提质增效面积".into(),
                    op: ">=".into(),
                    value: "2600".into(),
                    unit: "亩".into(),
                    actual: None,
                    actual_on: None,
                    actual_evidence: None,
                    approval: "approved".into(),
                    approved_doc: None,
                }]),
                actor: None,
            }),
            allocations: vec![
                step(alloc(
                    "652800-30",
                    "issued",
                    "巴财农〔2019〕62号",
                    "652822",
                    Some("652800"),
                    Some("650000-9"),
                    308_000_000,
                )),
                step(alloc(
                    "650000-9",
                    "issued",
                    "新财农〔2019〕118号",
                    "652800",
                    Some("650000"),
                    Some("650000-2"),
                    3_124_000_000,
                )),
                step(alloc(
                    "650000-2",
                    "received",
                    "财农〔2019〕149号",
                    "650000",
                    None,
                    None,
                    3_124_000_000,
                )),
            ],
            complete: true,
        };
        let nodes = [
            ("650000", "新疆维吾尔自治区", "region"),
            ("652800", "巴音郭楞蒙古自治州", "prefecture"),
            ("652822", "轮台县", "county"),
        ]
        .into_iter()
        .map(|(c, n, l)| (c.to_owned(), (n.to_owned(), l.to_owned())))
        .collect();
        let p = TracePage {
            trace,
            nodes,
            categories: HashMap::from([("X-02".to_owned(), "少数民族发展".to_owned())]),
        };
        let s = render(&chrome(Lang::Zh), &p).into_string();
        let pos = |x: &str| s.find(x).unwrap_or_else(|| panic!("{x} missing in {s}"));
        assert!(pos(">支付凭证<") < pos(">项目（绩效目标）<"));
        assert!(pos(">项目（绩效目标）<") < pos(">县级指标<"));
        assert!(pos(">县级指标<") < pos(">地州指标<"));
        assert!(pos(">地州指标<") < pos(">自治区 · 中央来源文件<"));
        assert!(
            pos("<dt>录入人</dt><dd><span class=\"actor\" title=\"\">演示-国库支付 <span class=\"muted\">(treasury · 国库支付)</span>")
                < pos(">项目（绩效目标）<")
        );
        assert!(s.contains("title=\"3,080,000.00 元\">308.00 万元"));
        assert!(s.contains("≥ 2600 亩") && s.contains("中央财政") && s.contains("少数民族发展"));
        assert!(s.contains("&lt;script&gt;x&lt;/script&gt;合作社") && !s.contains("<script>x"));
        assert!(s.contains("追溯完整"));
        assert!(!s.contains("<dt>地点</dt>"), "no empty place");
    }
}
