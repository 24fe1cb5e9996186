//! `target_actual_recorded`: a node records the value reached for one of
//! its performance targets.

use fundsync_protocol::body::TargetActualRecorded;
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &TargetActualRecorded,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let row = sqlx::query("SELECT origin FROM targets WHERE id = $1")
        .bind(b.target.to_string())
        .fetch_optional(w.conn().await?)
        .await?;
    match row {
        Some(r) if r.try_get::<String, _>(0)? == me.as_str() => Ok(None),
        _ => Err(LedgerError::UnknownTarget(b.target)),
    }
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &TargetActualRecorded,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    _e: &Entry,
    b: TargetActualRecorded,
) -> Result<(), LedgerError> {
    sqlx::query("UPDATE targets SET actual = $1, actual_on = $2 WHERE id = $3")
        .bind(b.actual.to_string())
        .bind(b.recorded_on.to_string())
        .bind(b.target.to_string())
        .execute(w.conn().await?)
        .await?;
    Ok(())
}
