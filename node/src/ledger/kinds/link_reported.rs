//! `link_reported`: a node reports the health of its link to its parent
//! (the `link_health` table, one row per node, the latest report).

use fundsync_protocol::body::LinkReported;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &LinkReported,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    if w.me.parent != Some(b.parent) {
        return Err(LedgerError::NotTopNode);
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &LinkReported,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: LinkReported,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO link_health (node, parent, reported_ms, entry_id, report) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node) DO UPDATE SET \
         parent = excluded.parent, reported_ms = excluded.reported_ms, \
         entry_id = excluded.entry_id, report = excluded.report",
    )
    .bind(e.origin.as_str())
    .bind(b.parent.as_str())
    .bind(e.at_ms)
    .bind(e.id().to_string())
    .bind(e.body.clone())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
