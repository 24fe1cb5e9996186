//! Why the ledger refused a row, in Chinese, for the officer who has to fix
//! the file: the row errors of an import name fields by their column names
//! and amounts in yuan.

use fundsync_protocol::body::BodyError;

use crate::ledger::LedgerError;

/// A body field's column name.
fn field(name: &str) -> &str {
    match name {
        "voucher_no" => "凭证号",
        "paid_on" => "支付日期",
        "payer" => "付款人",
        "payee_name" => "收款人",
        "payee_account" => "收款人账号",
        "payee_bank" => "收款人开户行",
        "function_class" => "功能分类",
        "project" => "项目编码",
        "purpose" => "用途",
        "doc_no" => "指标文号",
        "category" => "资金类别",
        "title" => "标题",
        "issued_on" => "下达日期",
        "received_on" => "来款日期",
        "budgeted_on" => "预算日期",
        "reversed_on" => "退回日期",
        "starts_on" => "开工日期",
        "ends_on" => "完工日期",
        "recorded_on" => "记录日期",
        "amount" => "金额",
        "planned_on" => "计划支付日期",
        "as_of" => "结余日期",
        "recalled_on" => "收回日期",
        "note" => "说明",
        "reason" => "原因",
        "shortfall" => "未完成原因",
        "measures" => "改进措施",
        "summary" => "报告摘要",
        "notes" => "抽查意见",
        "evaluated_on" => "自评日期",
        "compiled_on" => "报告日期",
        "checked_on" => "抽查日期",
        "found_on" => "检查日期",
        "year" => "年度",
        other => other,
    }
}

fn what(w: &str) -> &str {
    match w {
        "allocation" => "指标",
        "own budget" => "本级预算",
        "received funds" => "来款",
        "project" => "项目",
        "voucher" | "payment" => "凭证",
        "target" => "绩效目标",
        "recall" => "收回文号",
        "self-evaluation" => "绩效自评",
        "finding" => "抽查结果",
        other => other,
    }
}

/// The reason a row was refused, in Chinese.
pub fn reason(e: &LedgerError) -> String {
    use LedgerError as E;
    match e {
        E::Body(BodyError::Empty { field: f }) => format!("{}不能为空", field(f)),
        E::Body(BodyError::TooLong { field: f, max }) => {
            format!("{}超过 {max} 个字符", field(f))
        }
        E::Body(BodyError::Control { field: f }) => format!("{}含有控制字符", field(f)),
        E::Body(b) => format!("内容不合规：{b}"),
        E::UnknownCategory(c) => format!("资金类别 “{c}” 不存在"),
        E::CategoryOrigin { category, .. } => format!("资金类别 “{category}” 的资金来源不符"),
        E::CategoryExists(c) => format!("资金类别 “{c}” 已登记且内容不同"),
        E::UnknownAllocation(id) => format!("指标 {id} 不存在"),
        E::NotHolder {
            allocation, holder, ..
        } => format!("指标 {allocation} 由 {holder} 持有，不是本节点的指标"),
        E::CategoryMismatch {
            source_id,
            source_category,
            given,
        } => format!("资金类别 “{given}” 与来源指标 {source_id} 的类别 “{source_category}” 不符"),
        E::OverAllocation {
            source_id,
            available,
            requested,
        } => format!("超额下达：来源指标 {source_id} 可用 {available} 元，本行 {requested} 元"),
        E::NotAChild { to, .. } => format!("{to} 不是本节点的直接下级"),
        E::NotTopNode => "只有自治区节点登记中央来款".to_owned(),
        E::NoChildren => "县级节点没有下级".to_owned(),
        E::OutsideDivision { code, .. } => format!("{code} 不在本节点辖区内"),
        E::NodeExists(c) => format!("节点 {c} 已以其他名称登记"),
        E::Conflict { what: w, key } => format!("{} “{key}” 已登记且内容不同", what(w)),
        E::UnknownProject(p) => format!("项目 “{p}” 不在项目库中"),
        E::NoTarget(p) => format!("项目 “{p}” 没有绩效目标，不能拨付资金"),
        E::TargetsNotApproved {
            project,
            unapproved,
            total,
        } => format!(
            "项目 “{project}” 有 {unapproved} 项绩效目标尚未批复（共 {total} 项），不能拨付资金"
        ),
        E::ProjectCancelled(p) => format!("项目 “{p}” 已撤销，不能拨付资金"),
        E::UnknownTarget(t) => format!("绩效目标 {t} 不存在"),
        E::DuplicateVoucher(v) => format!("凭证号 “{v}” 已登记且内容不同"),
        E::UnknownVoucher(v) => format!("凭证号 “{v}” 不存在"),
        E::AlreadyReversed(v) => format!("凭证号 “{v}” 已退回"),
        E::OverBalance {
            allocation,
            available,
            requested,
        } => format!("支付 {requested} 元超过指标 {allocation} 的余额 {available} 元"),
        E::DateOutOfRange {
            field: f,
            date,
            from,
            to,
        } => format!(
            "{} {date} 不在本节点接受的日期范围内（{from} 至 {to}）",
            field(f)
        ),
        E::PaidBeforeAllocation {
            paid_on,
            allocation,
            dated,
            ..
        } => format!("支付日期 {paid_on} 早于所用指标 {allocation} 的日期 {dated}"),
        E::ReversedBeforePayment {
            reversed_on,
            paid_on,
            ..
        } => format!("退回日期 {reversed_on} 早于支付日期 {paid_on}"),
        E::IssuedBeforeSource {
            issued_on,
            source_id,
            dated,
            ..
        } => format!("下达日期 {issued_on} 早于来源指标 {source_id} 的日期 {dated}"),
        E::Overflow => "金额合计溢出".to_owned(),
        E::NoBalance {
            allocation, as_of, ..
        } => format!("指标 {allocation} 截至 {as_of} 没有尚未说明的结余"),
        E::OverCarryOver {
            allocation,
            as_of,
            balance,
            explained,
            requested,
        } => format!(
            "说明金额 {requested} 元超过指标 {allocation} 截至 {as_of} 的结余 {balance} 元（已说明 {explained} 元）"
        ),
        E::PlannedBeforeAsOf { planned_on, as_of } => {
            format!("计划支付日期 {planned_on} 早于结余日期 {as_of}")
        }
        E::NotRecallable(id) => format!("指标 {id} 不是上级下达的，无从收回"),
        E::OverRecall {
            allocation,
            available,
            requested,
        } => format!("收回 {requested} 元超过指标 {allocation} 未支出的余额 {available} 元"),
        E::RecalledBeforeAllocation {
            recalled_on,
            allocation,
            dated,
            ..
        } => format!("收回日期 {recalled_on} 早于指标 {allocation} 的日期 {dated}"),
        E::UnknownEvaluation(id) => format!("本节点没有绩效自评 {id}"),
        E::NotIncludable { item, why } => format!("{item} 不能纳入：{why}"),
        E::NotInSample {
            evaluation,
            spot_check,
        } => format!("绩效自评 {evaluation} 不在抽查 {spot_check} 的样本中"),
        E::UnknownSpotCheck(id) => format!("本节点没有抽查 {id}"),
        E::ReportFigures(why) => format!("报告数字与台账不符：{why}"),
        E::NotProjectTarget { target, project } => {
            format!("绩效目标 {target} 不是项目 “{project}” 的目标")
        }
        E::ShortfallUnexplained => "有指标未完成，须填写未完成原因".to_owned(),
        E::ConformingFinding(id) => format!("抽查结果 {id} 为“符合”，无需整改"),
        E::Restored(r) => r.zh(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn the_usual_refusals_read_in_chinese() {
        let id = "652822-2".parse().expect("id");
        let e = LedgerError::OverBalance {
            allocation: id,
            available: Decimal::new(1050, 2),
            requested: Decimal::new(100_000, 0),
        };
        assert_eq!(
            reason(&e),
            "支付 100000 元超过指标 652822-2 的余额 10.50 元"
        );
        let e = LedgerError::Body(BodyError::Empty {
            field: "payee_name",
        });
        assert_eq!(reason(&e), "收款人不能为空");
        assert!(reason(&LedgerError::DuplicateVoucher("V1".into())).contains("V1"));
    }
}
