//! `target_actual_recorded`: a node records the value reached for one of
//! its performance targets (the `targets` row keeps the latest, the
//! `target_actuals` table every one with its note and, since protocol
//! version 6, its evidence reference).

use fundsync_protocol::body::TargetActualRecorded;
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{parse_id, seq_i64};

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
        Some(r) if r.try_get::<String, _>(0)? == me.as_str() => {}
        _ => return Err(LedgerError::UnknownTarget(b.target)),
    }
    // The same figure, date, note and evidence again is a retry (a form
    // sent twice), not a second report.
    let same = sqlx::query(
        "SELECT id FROM target_actuals WHERE target = $1 AND recorded_on = $2 AND origin = $3 \
         AND actual = $4 AND note = $5 AND evidence = $6",
    )
    .bind(b.target.to_string())
    .bind(b.recorded_on.to_string())
    .bind(me.as_str())
    .bind(b.actual.to_string())
    .bind(&b.note)
    .bind(&b.evidence)
    .fetch_optional(w.conn().await?)
    .await?;
    match same {
        Some(r) => Ok(Some(parse_id(&r.try_get::<String, _>(0)?)?)),
        None => Ok(None),
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
    e: &Entry,
    b: TargetActualRecorded,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO target_actuals (id, origin, seq, target, actual, recorded_on, note, \
         evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.id().to_string())
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(b.target.to_string())
    .bind(b.actual.to_string())
    .bind(b.recorded_on.to_string())
    .bind(&b.note)
    .bind(&b.evidence)
    .execute(w.conn().await?)
    .await?;
    sqlx::query("UPDATE targets SET actual = $1, actual_on = $2 WHERE id = $3")
        .bind(b.actual.to_string())
        .bind(b.recorded_on.to_string())
        .bind(b.target.to_string())
        .execute(w.conn().await?)
        .await?;
    Ok(())
}
