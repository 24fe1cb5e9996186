//! The sync alarms (`sync_alarms`): what a refusal proved or an operator
//! must see (a fork, a foreign key, a relay caught altering a chain), newest
//! first, for `GET /api/v1/sync/alarms` and `/operations`. Written by
//! [`Ledger::alarm`] alone; not entries, not replicated.

use serde::Serialize;

use super::{fetch_page, paged, Page, Paged};
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

/// One alarm as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SyncAlarm {
    pub id: i64,
    /// When it was raised (this node's clock, ms since the epoch).
    pub at_ms: i64,
    /// The node that sent what was refused: the one that lied, when the
    /// refusal proves a lie (`bad_checkpoint`, `broken_chain`, …).
    pub peer: String,
    /// The node whose chain it was about, if one (none for alarms raised
    /// before this was kept).
    pub origin: Option<String>,
    /// The refusal's code (`fork`, `bad_checkpoint`, `broken_chain`,
    /// `bad_signature`, `foreign_key`, `digest_mismatch`, …).
    pub kind: String,
    pub message: String,
}

impl Ledger {
    /// The sync alarms, newest first, a page at a time.
    pub async fn sync_alarms(&self, page: Page) -> Result<Paged<SyncAlarm>, LedgerError> {
        let sql = Sql::new(
            "SELECT id, at_ms, peer, origin, kind, message FROM sync_alarms ORDER BY id DESC",
        );
        let (items, more) = fetch_page(self, sql, page).await?;
        Ok(paged(items, page, more))
    }
}
