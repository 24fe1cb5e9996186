//! Entry bodies for tests, one builder per kind, shared by every test file.
//!
//! Each builder takes what the tests vary (documents, amounts, dates,
//! addressees) and fills the rest with the same plausible 2020 values, so a
//! scenario reads as the money it moves. A test that needs an unusual field
//! changes it on the returned body.

use chrono::NaiveDate;
use fundsync_protocol::body::*;
use fundsync_protocol::{Actor, Amount, Body, EntryId, FundOrigin};
use rust_decimal::Decimal;

use crate::fixtures::code;

/// The person the tests record as: a treasury clerk at whichever node.
pub fn clerk() -> Actor {
    Actor {
        login: "zhangsan".into(),
        name: "张三".into(),
        role: "treasury".into(),
        addr: "127.0.0.1".into(),
    }
}

/// An amount from its decimal text; panics on text the parser refuses.
pub fn amount(s: &str) -> Amount {
    s.parse().expect("valid amount")
}

/// A date from `YYYY-MM-DD`.
pub fn day(s: &str) -> NaiveDate {
    s.parse().expect("valid date")
}

/// An entry id from `origin-seq`.
pub fn id(s: &str) -> EntryId {
    s.parse().expect("valid entry id")
}

/// `child_registered`: `c` becomes a child of the node.
pub fn child(c: &str, name: &str) -> Body {
    Body::ChildRegistered(ChildRegistered {
        code: code(c),
        name: name.into(),
    })
}

/// `category_defined`: a county's own fund category `LT-01`.
pub fn county_category() -> Body {
    Body::CategoryDefined(CategoryDefined {
        code: "LT-01".into(),
        name: "县级配套".into(),
        origin: FundOrigin::County,
        department: String::new(),
        classified: false,
    })
}

/// `funds_received` from the Ministry of Finance.
pub fn received(doc: &str, category: &str, amt: &str, on: &str) -> Body {
    Body::FundsReceived(FundsReceived {
        doc_no: doc.into(),
        category: category.into(),
        amount: amount(amt),
        received_on: day(on),
        source: "财政部".into(),
        title: String::new(),
    })
}

/// `own_budget_added`: money the node budgets itself.
pub fn own_budget(doc: &str, category: &str, amt: &str, on: &str) -> Body {
    Body::OwnBudgetAdded(OwnBudgetAdded {
        doc_no: doc.into(),
        category: category.into(),
        amount: amount(amt),
        budgeted_on: day(on),
        title: String::new(),
    })
}

/// `allocation_issued`: `amt` of `source` down to the child `to`.
pub fn issue(doc: &str, source: EntryId, category: &str, to: &str, amt: &str, on: &str) -> Body {
    Body::AllocationIssued(AllocationIssued {
        doc_no: doc.into(),
        source,
        category: category.into(),
        to: code(to),
        amount: amount(amt),
        issued_on: day(on),
        title: String::new(),
    })
}

/// `project_registered`: a road project in 轮台镇, March to October 2020.
pub fn project(code: &str, budget: &str) -> Body {
    Body::ProjectRegistered(ProjectRegistered {
        code: code.into(),
        name: "村道硬化".into(),
        township: "轮台镇".into(),
        village: "一村".into(),
        department: "交通局".into(),
        starts_on: day("2020-03-01"),
        ends_on: day("2020-10-31"),
        budget: amount(budget),
        status: ProjectStatus::InProgress,
    })
}

/// `target_set`: at least 12 km of road for `project`.
pub fn target(project: &str) -> Body {
    Body::TargetSet(TargetSet {
        project: project.into(),
        level1: TargetLevel1::Output,
        level2: TargetLevel2::Quantity,
        indicator: "硬化道路里程".into(),
        op: TargetOp::AtLeast,
        value: Decimal::from(12),
        unit: "公里".into(),
    })
}

/// `payment_recorded`: voucher `voucher` pays `amt` from `alloc` for
/// `project` on `on`.
pub fn payment(voucher: &str, alloc: EntryId, project: &str, amt: &str, on: &str) -> Body {
    Body::PaymentRecorded(PaymentRecorded {
        voucher_no: voucher.into(),
        paid_on: day(on),
        payer: "轮台县财政局".into(),
        payee_name: "某某建设公司".into(),
        payee_account: "6222000011112222".into(),
        payee_bank: "农业银行轮台支行".into(),
        amount: amount(amt),
        function_class: "2130505".into(),
        allocation: alloc,
        project: project.into(),
        purpose: "道路硬化".into(),
    })
}

/// `payment_reversed`: voucher `voucher` reversed on `on`.
pub fn reversal(voucher: &str, on: &str) -> Body {
    Body::PaymentReversed(PaymentReversed {
        voucher_no: voucher.into(),
        reversed_on: day(on),
        reason: "核查后冲销".into(),
    })
}
