//! Follow-up (整改) of a warning: assigning it to a person with a deadline,
//! and the assignee's answers. What the API and the pages share: who may
//! be assigned and who may answer (the ledger knows no people), the
//! deadline's plausibility on this node's today, and the entries
//! (`follow_up_assigned`, `follow_up_recorded`, checked and applied by the
//! ledger's `kinds/follow_up_*.rs`).
//!
//! - Only the node that raised a warning follows it up (its entries are of
//!   the warning's chain), so a county assigns its own warnings and the
//!   prefecture and region see them as they roll up.
//! - Assigning needs `ManageWarnings` (the lead office); the assignee is an
//!   enabled person of this node holding `FollowUp`, whose first desk
//!   (role) granting it is recorded with the assignment.
//! - Answering needs `FollowUp` and being the assignee or an officer of the
//!   assignee's desk.
//! - A spot check's 不符合 finding (抽查, protocol version 5) is rectified
//!   the same way ([`assign_rectification`], [`record_rectification`]):
//!   the same entries name the finding where they name a warning, the node
//!   that made the spot check follows it up, and assigning needs
//!   `SpotCheck` (the API's route) instead of `ManageWarnings`.

use chrono::{Days, NaiveDate};
use fundsync_protocol::body::{
    FindingVerdict, FollowUpAssigned, FollowUpRecorded, FollowUpStatus, FOLLOW_UP_DAYS_MAX,
};
use fundsync_protocol::{Actor, Body, EntryId, ErrorCode};

use crate::access::{Permission, Role};
use crate::accounts::{Accounts, User};
use crate::ledger::query::{FindingView, WarningView};
use crate::ledger::{Ledger, LedgerError, Outcome};

/// Longest text of a verification, a rectification or a note, in
/// characters (the entry's limit).
pub const FOLLOW_UP_TEXT_MAX: usize = fundsync_protocol::body::TEXT_CHARS_MAX;

/// Why a follow-up step was refused; nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    #[error("no warning {0} that this node raised")]
    UnknownWarning(EntryId),
    #[error("warning {0} is resolved; a resolved warning is not followed up")]
    Resolved(EntryId),
    #[error("warning {0} was raised by {1}; only that node follows it up")]
    NotOurs(EntryId, String),
    #[error("no enabled person {0:?} at this node who may answer a follow-up")]
    UnknownAssignee(String),
    #[error("the deadline {deadline} is before today ({today})")]
    DeadlinePast {
        deadline: NaiveDate,
        today: NaiveDate,
    },
    #[error(
        "the deadline {deadline} is more than {FOLLOW_UP_DAYS_MAX} days after today ({today})"
    )]
    DeadlineTooFar {
        deadline: NaiveDate,
        today: NaiveDate,
    },
    #[error("warning {0} has no follow-up yet; assign it first")]
    NotAssigned(EntryId),
    #[error("only {assignee} or an officer of their desk ({desk}) answers this follow-up")]
    NotYours { assignee: String, desk: String },
    #[error("{field} is required for status {status}")]
    Missing {
        field: &'static str,
        status: &'static str,
    },
    #[error("{field} is longer than {FOLLOW_UP_TEXT_MAX} characters")]
    TooLong { field: &'static str },
    #[error("no spot-check finding {0} that this node recorded")]
    UnknownFinding(EntryId),
    #[error("finding {0} is 符合 (conforming): nothing to rectify")]
    Conforming(EntryId),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot read the accounts: {0}")]
    Accounts(String),
}

impl FollowUpError {
    /// The form field it is about, for the pages.
    pub fn field(&self) -> Option<&'static str> {
        use FollowUpError::*;
        match self {
            UnknownAssignee(_) => Some("assignee"),
            DeadlinePast { .. } | DeadlineTooFar { .. } => Some("deadline"),
            Missing { field, .. } | TooLong { field } => Some(*field),
            NotYours { .. } => Some("status"),
            _ => None,
        }
    }

    /// In Chinese, for the pages.
    pub fn zh(&self) -> String {
        use FollowUpError::*;
        match self {
            UnknownWarning(id) => format!("本单位没有预警 {id}"),
            Resolved(id) => format!("预警 {id} 已解除，无需整改"),
            NotOurs(id, o) => format!("预警 {id} 由 {o} 发出，由该单位整改"),
            UnknownAssignee(l) => format!("本单位没有可负责整改的在用账户“{l}”"),
            DeadlinePast { today, .. } => format!("整改期限不能早于今天（{today}）"),
            DeadlineTooFar { today, .. } => {
                format!("整改期限不能晚于今天（{today}）后 {FOLLOW_UP_DAYS_MAX} 天")
            }
            NotAssigned(_) => "该预警尚未指派整改责任人".to_owned(),
            NotYours { assignee, desk } => {
                let desk = desk.parse::<Role>().map(Role::zh).unwrap_or(desk.as_str());
                format!("只有责任人 {assignee} 或其科室（{desk}）可以填报")
            }
            Missing { field, .. } => match *field {
                "rectification" => "状态为“已整改”时须填写整改措施".to_owned(),
                _ => "状态为“整改中”或“不属实”时须填写核实情况".to_owned(),
            },
            TooLong { .. } => format!("不能超过 {FOLLOW_UP_TEXT_MAX} 个字"),
            UnknownFinding(id) => format!("本单位没有抽查结果 {id}"),
            Conforming(id) => format!("抽查结果 {id} 为“符合”，无需整改"),
            Ledger(LedgerError::Restored(r)) => r.zh(),
            Ledger(_) | Accounts(_) => "无法记录，请查看节点日志".to_owned(),
        }
    }

    /// The API's error code.
    pub fn code(&self) -> ErrorCode {
        use FollowUpError::*;
        match self {
            UnknownWarning(_) | NotOurs(..) => ErrorCode::UnknownWarning,
            UnknownFinding(_) => ErrorCode::NotFound,
            Conforming(_) => ErrorCode::InvalidInput,
            Resolved(_) => ErrorCode::WarningResolved,
            NotAssigned(_) => ErrorCode::NotAssigned,
            NotYours { .. } => ErrorCode::Forbidden,
            UnknownAssignee(_) | DeadlinePast { .. } | DeadlineTooFar { .. } => {
                ErrorCode::InvalidInput
            }
            Missing { .. } | TooLong { .. } => ErrorCode::InvalidInput,
            Ledger(e) => e.code(),
            Accounts(_) => ErrorCode::Internal,
        }
    }
}

/// The desk (role) of `u` that answers follow-ups: the first of their roles
/// granting [`Permission::FollowUp`].
pub fn desk_of(u: &User) -> Option<Role> {
    u.roles
        .iter()
        .copied()
        .find(|r| r.permits(Permission::FollowUp))
}

/// The warning, if this node raised it and it is open.
async fn own_open(ledger: &Ledger, warning: EntryId) -> Result<WarningView, FollowUpError> {
    let me = ledger.identity().code;
    let w = ledger
        .warning(warning, None)
        .await?
        .ok_or(FollowUpError::UnknownWarning(warning))?;
    if warning.origin != me {
        return Err(FollowUpError::NotOurs(warning, w.origin));
    }
    if !w.open {
        return Err(FollowUpError::Resolved(warning));
    }
    Ok(w)
}

fn long(field: &'static str, v: &str) -> Result<(), FollowUpError> {
    if v.chars().count() > FOLLOW_UP_TEXT_MAX {
        return Err(FollowUpError::TooLong { field });
    }
    Ok(())
}

/// Assigns `warning` to `assignee` (a login) until `deadline`, attributed
/// to `actor`.
pub async fn assign(
    ledger: &Ledger,
    accounts: &Accounts,
    actor: &Actor,
    warning: EntryId,
    assignee: &str,
    deadline: NaiveDate,
    note: &str,
) -> Result<Outcome, FollowUpError> {
    own_open(ledger, warning).await?;
    assign_checked(ledger, accounts, actor, warning, assignee, deadline, note).await
}

/// A 不符合 finding of a spot check this node made.
async fn own_finding(ledger: &Ledger, finding: EntryId) -> Result<FindingView, FollowUpError> {
    let me = ledger.identity().code;
    let f = ledger
        .finding(finding)
        .await?
        .ok_or(FollowUpError::UnknownFinding(finding))?;
    if finding.origin != me {
        return Err(FollowUpError::NotOurs(finding, f.origin));
    }
    if f.verdict != FindingVerdict::NonConforming.as_str() {
        return Err(FollowUpError::Conforming(finding));
    }
    Ok(f)
}

/// Assigns the rectification (整改) of `finding`, a 不符合 finding of a
/// spot check this node made, to `assignee` until `deadline`.
pub async fn assign_rectification(
    ledger: &Ledger,
    accounts: &Accounts,
    actor: &Actor,
    finding: EntryId,
    assignee: &str,
    deadline: NaiveDate,
    note: &str,
) -> Result<Outcome, FollowUpError> {
    own_finding(ledger, finding).await?;
    assign_checked(ledger, accounts, actor, finding, assignee, deadline, note).await
}

/// Records the answer of `caller` (the assignee or an officer of their
/// desk) to the rectification of `finding`.
pub async fn record_rectification(
    ledger: &Ledger,
    caller: &User,
    actor: &Actor,
    finding: EntryId,
    status: FollowUpStatus,
    verification: &str,
    rectification: &str,
) -> Result<Outcome, FollowUpError> {
    let f = own_finding(ledger, finding).await?;
    let r = f.rectification.ok_or(FollowUpError::NotAssigned(finding))?;
    record_checked(
        ledger,
        caller,
        actor,
        finding,
        (r.assignee, r.desk),
        status,
        verification,
        rectification,
    )
    .await
}

/// [`assign`] of a subject (warning or finding) found open and this node's.
async fn assign_checked(
    ledger: &Ledger,
    accounts: &Accounts,
    actor: &Actor,
    warning: EntryId,
    assignee: &str,
    deadline: NaiveDate,
    note: &str,
) -> Result<Outcome, FollowUpError> {
    let assignee = assignee.trim();
    let user = accounts
        .user(assignee)
        .await
        .map_err(|e| FollowUpError::Accounts(e.to_string()))?
        .filter(|u| !u.disabled);
    let Some((user, desk)) = user.and_then(|u| desk_of(&u).map(|d| (u, d))) else {
        return Err(FollowUpError::UnknownAssignee(assignee.to_owned()));
    };
    let today = ledger.clock().today();
    if deadline < today {
        return Err(FollowUpError::DeadlinePast { deadline, today });
    }
    if today
        .checked_add_days(Days::new(FOLLOW_UP_DAYS_MAX))
        .is_none_or(|l| deadline > l)
    {
        return Err(FollowUpError::DeadlineTooFar { deadline, today });
    }
    long("note", note)?;
    let body = Body::FollowUpAssigned(FollowUpAssigned {
        warning,
        assignee: user.login.clone(),
        assignee_name: user.name.clone(),
        desk: desk.as_str().to_owned(),
        deadline,
        assigned_on: today,
        note: note.trim().to_owned(),
    });
    Ok(ledger.submit_one(body, actor).await?)
}

/// Records the answer of `caller` (the assignee or an officer of their desk)
/// to `warning`'s follow-up, attributed to `actor`.
pub async fn record(
    ledger: &Ledger,
    caller: &User,
    actor: &Actor,
    warning: EntryId,
    status: FollowUpStatus,
    verification: &str,
    rectification: &str,
) -> Result<Outcome, FollowUpError> {
    let w = own_open(ledger, warning).await?;
    let f = w.follow_up.ok_or(FollowUpError::NotAssigned(warning))?;
    record_checked(
        ledger,
        caller,
        actor,
        warning,
        (f.assignee, f.desk),
        status,
        verification,
        rectification,
    )
    .await
}

/// [`record`] of a subject found open, this node's and assigned to
/// `(assignee, desk)`.
#[allow(clippy::too_many_arguments)]
async fn record_checked(
    ledger: &Ledger,
    caller: &User,
    actor: &Actor,
    warning: EntryId,
    (assignee, desk): (String, String),
    status: FollowUpStatus,
    verification: &str,
    rectification: &str,
) -> Result<Outcome, FollowUpError> {
    let same_desk = desk.parse::<Role>().is_ok_and(|d| caller.has(d));
    if caller.login != assignee && !same_desk {
        return Err(FollowUpError::NotYours { assignee, desk });
    }
    let (verification, rectification) = (verification.trim(), rectification.trim());
    long("verification", verification)?;
    long("rectification", rectification)?;
    match status {
        FollowUpStatus::Rectified if rectification.is_empty() => {
            return Err(FollowUpError::Missing {
                field: "rectification",
                status: status.as_str(),
            })
        }
        FollowUpStatus::Rectifying | FollowUpStatus::Unfounded if verification.is_empty() => {
            return Err(FollowUpError::Missing {
                field: "verification",
                status: status.as_str(),
            })
        }
        _ => {}
    }
    let body = Body::FollowUpRecorded(FollowUpRecorded {
        warning,
        status,
        verification: verification.to_owned(),
        rectification: rectification.to_owned(),
        recorded_on: ledger.clock().today(),
    });
    Ok(ledger.submit_one(body, actor).await?)
}

/// A status's name for people: (Chinese, English).
pub fn status_label(s: &str) -> (&'static str, &'static str) {
    match s.parse::<FollowUpStatus>() {
        Ok(FollowUpStatus::Pending) => ("待核实", "to verify"),
        Ok(FollowUpStatus::Rectifying) => ("整改中", "being rectified"),
        Ok(FollowUpStatus::Rectified) => ("已整改", "rectified"),
        Ok(FollowUpStatus::Unfounded) => ("不属实", "unfounded"),
        Err(_) => ("未知", "unknown"),
    }
}
