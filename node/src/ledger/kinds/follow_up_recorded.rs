//! `follow_up_recorded`: the assignee of a warning's follow-up records what
//! was verified (核实情况), what was done (整改措施) and the status (the
//! `follow_ups` and `follow_up_steps` tables). Rolled up like payments;
//! never sent down.

use fundsync_protocol::body::{actor_of, FollowUpRecorded};
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::seq_i64;

/// Only a follow-up this node assigned: the warning is its own, assigned.
/// (Who may answer, the assignee or their desk, is the caller's check: the
/// ledger knows no people.)
pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &FollowUpRecorded,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    if b.warning.origin != w.me.code {
        return Err(LedgerError::UnknownWarning(b.warning));
    }
    let assigned: Option<String> =
        sqlx::query_scalar("SELECT assignee FROM follow_ups WHERE warning = $1")
            .bind(b.warning.to_string())
            .fetch_optional(w.conn().await?)
            .await?;
    match assigned {
        None => Err(LedgerError::NotAssigned(b.warning)),
        Some(_) => Ok(None),
    }
}

/// A follow-up entry is of its warning's own chain: no honest node writes
/// one about another node's warning.
pub(in crate::ledger) fn same_origin(
    r: &Received<'_>,
    warning: EntryId,
) -> Result<(), LedgerError> {
    if warning.origin == r.entry.origin {
        return Ok(());
    }
    r.refuse(format!(
        "a node follows up only the warnings it raised; {warning} is {}'s",
        warning.origin
    ))
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    r: &Received<'_>,
    b: &FollowUpRecorded,
) -> Result<(), LedgerError> {
    same_origin(r, b.warning)
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: FollowUpRecorded,
) -> Result<(), LedgerError> {
    let actor = actor_of(&e.body).unwrap_or_else(fundsync_protocol::Actor::system);
    let warning = b.warning.to_string();
    sqlx::query(
        "UPDATE follow_ups SET status = $1, verification = $2, rectification = $3, \
         updated_on = $4, updated_ms = $5 WHERE warning = $6",
    )
    .bind(b.status.as_str())
    .bind(&b.verification)
    .bind(&b.rectification)
    .bind(b.recorded_on.to_string())
    .bind(e.at_ms)
    .bind(&warning)
    .execute(w.conn().await?)
    .await?;
    sqlx::query(
        "INSERT INTO follow_up_steps (origin, seq, warning, kind, at_ms, dated, actor_login, \
         actor_name, assignee, assignee_name, deadline, status, verification, rectification, note) \
         VALUES ($1, $2, $3, 'recorded', $4, $5, $6, $7, '', '', NULL, $8, $9, $10, '') \
         ON CONFLICT (origin, seq) DO NOTHING",
    )
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(&warning)
    .bind(e.at_ms)
    .bind(b.recorded_on.to_string())
    .bind(&actor.login)
    .bind(&actor.name)
    .bind(b.status.as_str())
    .bind(&b.verification)
    .bind(&b.rectification)
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
