//! Why the ledger refused something. Every variant leaves the ledger
//! unchanged: the transaction that found it is rolled back.

use chrono::NaiveDate;
use fundsync_protocol::body::BodyError;
use fundsync_protocol::wire::ErrorCode;
use fundsync_protocol::{EntryId, FundOrigin, NodeCode};
use rust_decimal::Decimal;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("unknown fund category {0:?}")]
    UnknownCategory(String),
    #[error("fund category {category:?} has origin {origin}; here it must be {expected}")]
    CategoryOrigin {
        category: String,
        origin: FundOrigin,
        expected: String,
    },
    #[error("fund category {0:?} already exists with other fields")]
    CategoryExists(String),
    #[error("unknown allocation {0}")]
    UnknownAllocation(EntryId),
    #[error("allocation {allocation} is held by {holder}, not by this node ({me})")]
    NotHolder {
        allocation: EntryId,
        holder: NodeCode,
        me: NodeCode,
    },
    #[error("allocation {source_id} has category {source_category:?}, not {given:?}")]
    CategoryMismatch {
        source_id: EntryId,
        source_category: String,
        given: String,
    },
    #[error("over-allocation: {source_id} has {available} yuan available, {requested} requested")]
    OverAllocation {
        source_id: EntryId,
        available: Decimal,
        requested: Decimal,
    },
    #[error("{to} is not a child of this node ({me}); allocations go to direct children only")]
    NotAChild { to: NodeCode, me: NodeCode },
    #[error("only the top node (region) registers funds received from the centre")]
    NotTopNode,
    #[error("a county node has no children")]
    NoChildren,
    #[error("{code} is not inside this node's division ({me})")]
    OutsideDivision { code: NodeCode, me: NodeCode },
    #[error("node {0} is already registered with another name")]
    NodeExists(NodeCode),
    #[error("{what} {key:?} is already recorded with different fields")]
    Conflict { what: &'static str, key: String },
    #[error("unknown project {0:?}")]
    UnknownProject(String),
    #[error("project {0:?} has no performance target and cannot receive funds (seed 003 §7)")]
    NoTarget(String),
    #[error("project {0:?} is cancelled and cannot receive funds")]
    ProjectCancelled(String),
    #[error("unknown performance target {0}")]
    UnknownTarget(EntryId),
    #[error("voucher {0:?} is already recorded with different fields")]
    DuplicateVoucher(String),
    #[error("unknown voucher {0:?}")]
    UnknownVoucher(String),
    #[error("voucher {0:?} is already reversed")]
    AlreadyReversed(String),
    #[error(
        "payment of {requested} yuan exceeds the {available} yuan left on allocation {allocation}"
    )]
    OverBalance {
        allocation: EntryId,
        available: Decimal,
        requested: Decimal,
    },
    #[error("{field} {date} is outside the dates this node accepts ({from} to {to})")]
    DateOutOfRange {
        field: &'static str,
        date: NaiveDate,
        from: NaiveDate,
        to: NaiveDate,
    },
    #[error(
        "payment {voucher:?} dated {paid_on} is before allocation {allocation} it draws on, \
         dated {dated}"
    )]
    PaidBeforeAllocation {
        voucher: String,
        paid_on: NaiveDate,
        allocation: EntryId,
        dated: NaiveDate,
    },
    #[error(
        "reversal of {voucher:?} dated {reversed_on} is before the payment it reverses, \
         dated {paid_on}"
    )]
    ReversedBeforePayment {
        voucher: String,
        reversed_on: NaiveDate,
        paid_on: NaiveDate,
    },
    #[error(
        "allocation {doc_no:?} dated {issued_on} is before {source_id} it is carved from, \
         dated {dated}"
    )]
    IssuedBeforeSource {
        doc_no: String,
        issued_on: NaiveDate,
        source_id: EntryId,
        dated: NaiveDate,
    },
    #[error("unknown warning {0} (a node resolves only warnings it raised)")]
    UnknownWarning(EntryId),
    #[error("warning {0} is resolved; a resolved warning is not followed up")]
    WarningResolved(EntryId),
    #[error("warning {0} has no follow-up yet; assign it first")]
    NotAssigned(EntryId),
    #[error(
        "{node} is neither this node ({me}) nor one of its children; a node warns only about those"
    )]
    WarningNode { node: NodeCode, me: NodeCode },
    #[error("replicated entry {entry} ({kind}) refused: {why}")]
    Misdirected {
        entry: EntryId,
        kind: &'static str,
        why: String,
    },
    #[error("a sum of amounts overflows")]
    Overflow,
    #[error("this database belongs to node {stored}, not {configured}")]
    WrongNode { stored: String, configured: String },
    #[error("the database has not been initialised: run `fundsync init`")]
    NotInitialised,
    #[error(
        "entry {entry} refers to allocation {allocation}, which this node does not hold yet \
         (it is behind its own parent?); the entry is taken once this node holds the allocation"
    )]
    NotYetHeld { entry: EntryId, allocation: EntryId },
    #[error("{record} cannot be published: {why}")]
    NotPublishable { record: EntryId, why: String },
    #[error(
        "allocation {allocation} has no balance on {as_of} to carry over \
         ({explained} yuan of it explained already)"
    )]
    NoBalance {
        allocation: EntryId,
        as_of: NaiveDate,
        explained: Decimal,
    },
    #[error(
        "carry-over of {requested} yuan exceeds what is left to explain of allocation \
         {allocation}'s balance on {as_of}: {balance} yuan, {explained} yuan explained already"
    )]
    OverCarryOver {
        allocation: EntryId,
        as_of: NaiveDate,
        balance: Decimal,
        explained: Decimal,
        requested: Decimal,
    },
    #[error(
        "a carry-over to be paid on {planned_on} is planned before the day it is taken ({as_of})"
    )]
    PlannedBeforeAsOf {
        planned_on: NaiveDate,
        as_of: NaiveDate,
    },
    #[error(
        "allocation {0} was not issued by a parent (own budget or funds from the centre): \
         there is no one to return it to"
    )]
    NotRecallable(EntryId),
    #[error(
        "recall of {requested} yuan exceeds the {available} yuan left unspent on allocation \
         {allocation}"
    )]
    OverRecall {
        allocation: EntryId,
        available: Decimal,
        requested: Decimal,
    },
    #[error(
        "recall {doc_no:?} dated {recalled_on} is before allocation {allocation} it returns, \
         dated {dated}"
    )]
    RecalledBeforeAllocation {
        doc_no: String,
        recalled_on: NaiveDate,
        allocation: EntryId,
        dated: NaiveDate,
    },
    #[error(
        "project {project:?} {}; it cannot receive funds or start (实施) (seed 003 §7–9)",
        unapproved_text(.unapproved, .total)
    )]
    TargetsNotApproved {
        project: String,
        unapproved: i64,
        total: i64,
    },
    #[error("unknown target submission {0} (a target_set or target_adjusted entry)")]
    UnknownSubmission(EntryId),
    #[error("target submission {submission} is of project {project:?}, not {named:?}")]
    SubmissionProject {
        submission: EntryId,
        project: String,
        named: String,
    },
    #[error(
        "target submission {0} is another node's: a node reviews and approves only its own \
         projects' targets"
    )]
    NotOwnTarget(EntryId),
    #[error("target submission {submission} is {state}, not awaiting review")]
    TargetNotPending { submission: EntryId, state: String },
    #[error("target submission {submission} is {state}: only a reviewed one is approved")]
    TargetNotReviewed { submission: EntryId, state: String },
    #[error("target submission {submission} is already approved under {doc_no:?}")]
    AlreadyApproved { submission: EntryId, doc_no: String },
    #[error("no self-evaluation {0} held at this node")]
    UnknownEvaluation(EntryId),
    #[error("{item} cannot be included: {why}")]
    NotIncludable { item: EntryId, why: String },
    #[error("evaluation {evaluation} is not in the sample of spot check {spot_check}")]
    NotInSample {
        evaluation: EntryId,
        spot_check: EntryId,
    },
    #[error("no spot check {0} of this node")]
    UnknownSpotCheck(EntryId),
    #[error("the report's figures are not the ledger's: {0}")]
    ReportFigures(String),
    #[error("target {target} is not a target of project {project:?}")]
    NotProjectTarget { target: EntryId, project: String },
    #[error("an indicator falls short of its target, so the reasons (shortfall) are required")]
    ShortfallUnexplained,
    #[error("finding {0} found the evaluation conforming (符合): nothing to rectify")]
    ConformingFinding(EntryId),
    #[error(
        "this node's ledger was restored from a backup: it holds its own chain up to seq \
         {}, but seq {} was acknowledged (its parent, or its children, hold it); nothing is \
         recorded here until it has taken its entries back up to seq {}",
        .0.own_head, .0.acknowledged, .0.acknowledged
    )]
    Restored(super::restored::Restored),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many of a project's targets are not approved, said plainly.
fn unapproved_text(unapproved: &i64, total: &i64) -> String {
    if *total == 0 {
        "has no performance target yet, so none approved (批复)".to_owned()
    } else {
        format!("has {unapproved} of its {total} performance targets not approved (批复)")
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(StoreError::Sqlx(e))
    }
}

impl LedgerError {
    /// A stable, machine-readable code for API clients.
    pub fn code(&self) -> ErrorCode {
        use LedgerError::*;
        match self {
            Body(BodyError::UnknownKind(_)) => ErrorCode::UnknownKind,
            Body(_) => ErrorCode::InvalidInput,
            UnknownCategory(_) => ErrorCode::UnknownCategory,
            CategoryOrigin { .. } => ErrorCode::CategoryOrigin,
            CategoryExists(_) | NodeExists(_) | Conflict { .. } => ErrorCode::Conflict,
            UnknownAllocation(_) => ErrorCode::UnknownAllocation,
            NotHolder { .. } => ErrorCode::NotHolder,
            CategoryMismatch { .. } => ErrorCode::CategoryMismatch,
            OverAllocation { .. } => ErrorCode::OverAllocation,
            NotAChild { .. } => ErrorCode::NotAChild,
            NotTopNode => ErrorCode::NotTopNode,
            NoChildren => ErrorCode::NoChildren,
            OutsideDivision { .. } => ErrorCode::OutsideDivision,
            UnknownProject(_) => ErrorCode::UnknownProject,
            NoTarget(_) => ErrorCode::NoPerformanceTarget,
            ProjectCancelled(_) => ErrorCode::ProjectCancelled,
            UnknownTarget(_) => ErrorCode::UnknownTarget,
            DuplicateVoucher(_) => ErrorCode::DuplicateVoucher,
            UnknownVoucher(_) => ErrorCode::UnknownVoucher,
            AlreadyReversed(_) => ErrorCode::AlreadyReversed,
            OverBalance { .. } => ErrorCode::OverBalance,
            Overflow => ErrorCode::Overflow,
            UnknownWarning(_) => ErrorCode::UnknownWarning,
            WarningResolved(_) => ErrorCode::WarningResolved,
            NotAssigned(_) => ErrorCode::NotAssigned,
            DateOutOfRange { .. } => ErrorCode::DateOutOfRange,
            PaidBeforeAllocation { .. } => ErrorCode::PaymentBeforeAllocation,
            ReversedBeforePayment { .. } => ErrorCode::ReversalBeforePayment,
            IssuedBeforeSource { .. } => ErrorCode::AllocationBeforeSource,
            WarningNode { .. } => ErrorCode::NotAChild,
            Misdirected { .. } => ErrorCode::Misdirected,
            NotYetHeld { .. } => ErrorCode::NotYetHeld,
            NotPublishable { .. } => ErrorCode::NotPublishable,
            WrongNode { .. } | NotInitialised => ErrorCode::Misconfigured,
            NoBalance { .. } => ErrorCode::NoBalance,
            OverCarryOver { .. } | OverRecall { .. } => ErrorCode::OverBalance,
            PlannedBeforeAsOf { .. } => ErrorCode::PlannedBeforeAsOf,
            NotRecallable(_) => ErrorCode::NotRecallable,
            RecalledBeforeAllocation { .. } => ErrorCode::RecallBeforeAllocation,
            TargetsNotApproved { .. } => ErrorCode::TargetsNotApproved,
            UnknownSubmission(_) | SubmissionProject { .. } => ErrorCode::UnknownTarget,
            NotOwnTarget(_) => ErrorCode::NotOwnTarget,
            TargetNotPending { .. } => ErrorCode::TargetNotPending,
            TargetNotReviewed { .. } => ErrorCode::TargetNotReviewed,
            AlreadyApproved { .. } => ErrorCode::AlreadyApproved,
            UnknownEvaluation(_) => ErrorCode::UnknownEvaluation,
            NotIncludable { .. } => ErrorCode::NotIncludable,
            NotInSample { .. } => ErrorCode::NotInSample,
            UnknownSpotCheck(_) => ErrorCode::UnknownSpotCheck,
            ReportFigures(_) => ErrorCode::ReportFigures,
            NotProjectTarget { .. } => ErrorCode::UnknownTarget,
            ShortfallUnexplained | ConformingFinding(_) => ErrorCode::InvalidInput,
            Restored(_) => ErrorCode::LedgerRestored,
            Store(_) => ErrorCode::Internal,
        }
    }
}
