//! `follow_up_assigned`: a node assigns a warning it raised to a person
//! with a deadline (整改, the `follow_ups` and `follow_up_steps` tables).
//! Rolled up like payments, so every ancestor sees its subtree's
//! follow-ups; never sent down. Assigning again replaces the assignee and
//! the deadline and keeps what was recorded.

use fundsync_protocol::body::{actor_of, FindingVerdict, FollowUpAssigned, FollowUpStatus};
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::seq_i64;

/// Only a warning this node raised, still open, or a 不符合 finding of a
/// spot check it made: its follow-up entries are of the warning's (the
/// finding's) own chain, so no two nodes answer for one.
pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &FollowUpAssigned,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    if b.warning.origin != w.me.code {
        return Err(LedgerError::UnknownWarning(b.warning));
    }
    let open: Option<Option<String>> =
        sqlx::query_scalar("SELECT resolved_by FROM warnings WHERE id = $1")
            .bind(b.warning.to_string())
            .fetch_optional(w.conn().await?)
            .await?;
    match open {
        None => finding(w, b.warning).await,
        Some(Some(_)) => Err(LedgerError::WarningResolved(b.warning)),
        Some(None) => Ok(None),
    }
}

/// Since protocol version 5 a follow-up may name a spot check's 不符合
/// finding instead of a warning (its rectification, 整改): one this node
/// recorded. The field keeps its name, and every earlier entry its bytes.
async fn finding(w: &mut Work<'_>, id: EntryId) -> Result<Option<EntryId>, LedgerError> {
    let verdict: Option<String> =
        sqlx::query_scalar("SELECT verdict FROM spot_check_findings WHERE id = $1 AND origin = $2")
            .bind(id.to_string())
            .bind(w.me.code.as_str())
            .fetch_optional(w.conn().await?)
            .await?;
    match verdict.as_deref() {
        None => Err(LedgerError::UnknownWarning(id)),
        Some(v) if v == FindingVerdict::NonConforming.as_str() => Ok(None),
        Some(_) => Err(LedgerError::ConformingFinding(id)),
    }
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    r: &Received<'_>,
    b: &FollowUpAssigned,
) -> Result<(), LedgerError> {
    super::follow_up_recorded::same_origin(r, b.warning)
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: FollowUpAssigned,
) -> Result<(), LedgerError> {
    let actor = actor_of(&e.body).unwrap_or_else(fundsync_protocol::Actor::system);
    let warning = b.warning.to_string();
    sqlx::query(
        "INSERT INTO follow_ups (warning, origin, assignee, assignee_name, desk, deadline, \
         status, verification, rectification, updated_on, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', $8, $9) \
         ON CONFLICT (warning) DO UPDATE SET assignee = $3, assignee_name = $4, desk = $5, \
         deadline = $6, updated_on = $8, updated_ms = $9",
    )
    .bind(&warning)
    .bind(e.origin.as_str())
    .bind(&b.assignee)
    .bind(&b.assignee_name)
    .bind(&b.desk)
    .bind(b.deadline.to_string())
    .bind(FollowUpStatus::Pending.as_str())
    .bind(b.assigned_on.to_string())
    .bind(e.at_ms)
    .execute(w.conn().await?)
    .await?;
    sqlx::query(
        "INSERT INTO follow_up_steps (origin, seq, warning, kind, at_ms, dated, actor_login, \
         actor_name, assignee, assignee_name, deadline, status, verification, rectification, note) \
         VALUES ($1, $2, $3, 'assigned', $4, $5, $6, $7, $8, $9, $10, NULL, '', '', $11) \
         ON CONFLICT (origin, seq) DO NOTHING",
    )
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(&warning)
    .bind(e.at_ms)
    .bind(b.assigned_on.to_string())
    .bind(&actor.login)
    .bind(&actor.name)
    .bind(&b.assignee)
    .bind(&b.assignee_name)
    .bind(b.deadline.to_string())
    .bind(&b.note)
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
