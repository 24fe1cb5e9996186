//! `child_revoked`: a node revokes one of its children (the
//! `revocations` table, read on every sync request).

use fundsync_protocol::body::ChildRevoked;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &ChildRevoked,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    if !w.is_child(b.code).await? {
        return Err(LedgerError::NotAChild {
            to: b.code,
            me: w.me.code,
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &ChildRevoked,
) -> Result<(), LedgerError> {
    r.expect_child(w, b.code, "a node revokes only its own children")
        .await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: ChildRevoked,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO revocations (code, at_ms, entry_id) VALUES ($1, $2, $3) \
         ON CONFLICT (code) DO UPDATE SET at_ms = excluded.at_ms, entry_id = excluded.entry_id",
    )
    .bind(b.code.as_str())
    .bind(e.at_ms)
    .bind(e.id().to_string())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
