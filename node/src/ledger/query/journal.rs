//! The journal as auditors read it.

use fundsync_protocol::body::{actor_of, inner_bytes};
use fundsync_protocol::{Actor, NodeCode};
use serde::Serialize;

use super::PAGE_SIZE_MAX;
use crate::ledger::rows::seq_i64;
use crate::ledger::{Ledger, LedgerError};

/// A journal entry as auditors read it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct JournalView {
    pub origin: String,
    pub seq: i64,
    pub at_ms: i64,
    pub prev_hash: String,
    pub hash: String,
    pub kind: String,
    /// What the entry says: the kind's own fields.
    pub body: serde_json::Value,
    /// Who caused it, from the signed bytes; `None` for an entry written
    /// before actors existed.
    pub actor: Option<Actor>,
}

#[derive(sqlx::FromRow)]
struct JournalRow {
    origin: String,
    seq: i64,
    at_ms: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    kind: String,
    body: Vec<u8>,
}

impl Ledger {
    /// An origin's journal entries after `after`, oldest first.
    pub async fn journal(
        &self,
        origin: NodeCode,
        after: u64,
        limit: u32,
    ) -> Result<Vec<JournalView>, LedgerError> {
        let rows: Vec<JournalRow> = sqlx::query_as(
            "SELECT origin, seq, at_ms, prev_hash, hash, kind, body FROM journal \
             WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(origin.as_str())
        .bind(seq_i64(after)?)
        .bind(i64::from(limit.clamp(1, PAGE_SIZE_MAX)))
        .fetch_all(self.db().read())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| JournalView {
                origin: r.origin,
                seq: r.seq,
                at_ms: r.at_ms,
                prev_hash: hex::encode(r.prev_hash),
                hash: hex::encode(r.hash),
                kind: r.kind,
                body: serde_json::from_slice(inner_bytes(&r.body))
                    .unwrap_or(serde_json::Value::Null),
                actor: actor_of(&r.body),
            })
            .collect())
    }
}
