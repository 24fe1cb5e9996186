//! `warning_resolved`: a node resolves a warning it raised, once (the
//! `warnings` table, which only the ledger writes).

use fundsync_protocol::body::WarningResolved;
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &WarningResolved,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    // Whether this node raised the warning: not at all, open, or
    // resolved by some entry. Resolving a resolved warning again is a
    // retry.
    let row = sqlx::query("SELECT resolved_by FROM warnings WHERE id = $1 AND origin = $2")
        .bind(b.warning.to_string())
        .bind(w.me.code.as_str())
        .fetch_optional(w.conn().await?)
        .await?;
    let Some(r) = row else {
        return Err(LedgerError::UnknownWarning(b.warning));
    };
    let by: Option<String> = r.try_get(0)?;
    by.as_deref().map(parse_id).transpose()
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &WarningResolved,
) -> Result<(), LedgerError> {
    Ok(())
}

/// Only a warning of the same origin, and only once.
pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: WarningResolved,
) -> Result<(), LedgerError> {
    let id = e.id();
    sqlx::query(
        "UPDATE warnings SET resolved_by = $1, resolved_ms = $2, resolved_as_of = $3, resolution = $4 \
         WHERE id = $5 AND origin = $6 AND resolved_by IS NULL",
    )
    .bind(id.to_string())
    .bind(e.at_ms)
    .bind(b.as_of.to_string())
    .bind(&b.reason)
    .bind(b.warning.to_string())
    .bind(id.origin.as_str())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
