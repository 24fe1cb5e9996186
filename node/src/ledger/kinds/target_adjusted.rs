//! `target_adjusted`: a node submits a target of one of its projects
//! again: an adjustment (调整) of an approved target, or the revision of one
//! returned by review (seed 003 第九条). A new row of `target_submissions`
//! that goes through review and approval like the first; until approved,
//! the target keeps its value (an approved one stays in force, and the old
//! value stays in the submission's row once the new one is approved).

use fundsync_protocol::body::TargetAdjusted;
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{parse_id, seq_i64};

/// The target as it stands: origin, project, op, value, approval.
async fn target(
    w: &mut Work<'_>,
    id: EntryId,
) -> Result<Option<(String, String, String, String, String)>, LedgerError> {
    let row = sqlx::query("SELECT origin, project, op, value, approval FROM targets WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(w.conn().await?)
        .await?;
    Ok(match row {
        Some(r) => Some((
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
        )),
        None => None,
    })
}

/// The target's submission still open (awaiting review or approval), if
/// any: its id and state.
pub(in crate::ledger) async fn open_submission(
    w: &mut Work<'_>,
    target: EntryId,
) -> Result<Option<(EntryId, String)>, LedgerError> {
    let row = sqlx::query(
        "SELECT id, state FROM target_submissions WHERE target = $1 \
         AND state IN ('submitted', 'reviewed') ORDER BY seq DESC LIMIT 1",
    )
    .bind(target.to_string())
    .fetch_optional(w.conn().await?)
    .await?;
    Ok(match row {
        Some(r) => Some((parse_id(&r.try_get::<String, _>(0)?)?, r.try_get(1)?)),
        None => None,
    })
}

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &TargetAdjusted,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    match target(w, b.target).await? {
        Some((origin, ..)) if origin == me.as_str() => {}
        _ => return Err(LedgerError::UnknownTarget(b.target)),
    }
    // One submission of a target open at a time; the same adjustment sent
    // again (a form twice) is a retry.
    if let Some((open, state)) = open_submission(w, b.target).await? {
        if open != b.target && w.same_body(open, encoded).await? {
            return Ok(Some(open));
        }
        return Err(LedgerError::TargetNotPending {
            submission: open,
            state,
        });
    }
    Ok(None)
}

/// An honest origin adjusts only its own targets, set before.
pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &TargetAdjusted,
) -> Result<(), LedgerError> {
    match target(w, b.target).await? {
        Some((origin, ..)) if origin == r.entry.origin.as_str() => Ok(()),
        _ => r.refuse(format!(
            "target {} is not a target of {}",
            b.target, r.entry.origin
        )),
    }
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: TargetAdjusted,
) -> Result<(), LedgerError> {
    let Some((_, project, op, value, approval)) = target(w, b.target).await? else {
        return Err(LedgerError::UnknownTarget(b.target));
    };
    sqlx::query(
        "INSERT INTO target_submissions (id, origin, seq, project, target, kind, op, value, \
         old_op, old_value, reason, submitted_on, state) \
         VALUES ($1, $2, $3, $4, $5, 'adjust', $6, $7, $8, $9, $10, $11, 'submitted')",
    )
    .bind(e.id().to_string())
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(&project)
    .bind(b.target.to_string())
    .bind(b.op.as_str())
    .bind(b.value.to_string())
    .bind(&op)
    .bind(&value)
    .bind(&b.reason)
    .bind(b.adjusted_on.to_string())
    .execute(w.conn().await?)
    .await?;
    // A target never approved (returned, say) is submitted again; an
    // approved one stays approved, at its value, until this is approved.
    if approval != "approved" {
        sqlx::query("UPDATE targets SET approval = 'submitted' WHERE id = $1")
            .bind(b.target.to_string())
            .execute(w.conn().await?)
            .await?;
    }
    Ok(())
}
