//! `key_registered`: a node's signing key, vouched for by its parent at
//! enrolment or by the node itself at the top and when it rotates (the
//! `node_keys` table).

use ed25519_dalek::VerifyingKey;
use fundsync_protocol::body::KeyRegistered;
use fundsync_protocol::sign::KeyId;
use fundsync_protocol::{Entry, EntryId, NodeCode};
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &KeyRegistered,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    // A child's key is vouched for by its parent. A node's own
    // key: by itself at the top, and otherwise only as a
    // rotation, vouched for by its current (registered) key.
    let own = b.node == me && (w.me.parent.is_none() || w.has_key(me).await?);
    if !own && !w.is_child(b.node).await? {
        return Err(LedgerError::NotAChild { to: b.node, me });
    }
    let row = sqlx::query("SELECT entry_id FROM node_keys WHERE origin = $1 AND key_id = $2")
        .bind(b.node.as_str())
        .bind(b.key_id.to_hex())
        .fetch_optional(w.conn().await?)
        .await?;
    if let Some(r) = row {
        if let Some(id) = r.try_get::<Option<String>, _>(0)? {
            return Ok(Some(parse_id(&id)?));
        }
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &KeyRegistered,
) -> Result<(), LedgerError> {
    // A node registering its own next key (a rotation) is vouched
    // for by the checkpoint, signed with its current key, that
    // covers the entry.
    if b.node == r.entry.origin {
        return Ok(());
    }
    r.expect_child(w, b.node, "a key is registered by the node's parent")
        .await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: KeyRegistered,
) -> Result<(), LedgerError> {
    let key = b.verifying_key()?;
    sqlx::query(
        "INSERT INTO node_keys (origin, key_id, public_key, entry_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (origin, key_id) DO NOTHING",
    )
    .bind(b.node.as_str())
    .bind(b.key_id.to_hex())
    .bind(key.as_bytes().to_vec())
    .bind(e.id().to_string())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}

impl Work<'_> {
    /// Registers a key of this node's parent learnt over the authenticated
    /// connection to it (no entry carries it), so its down checkpoints can
    /// be verified.
    pub(crate) async fn trust_parent_key(
        &mut self,
        parent: NodeCode,
        key: &VerifyingKey,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO node_keys (origin, key_id, public_key) VALUES ($1, $2, $3) \
             ON CONFLICT (origin, key_id) DO NOTHING",
        )
        .bind(parent.as_str())
        .bind(KeyId::of(key).to_hex())
        .bind(key.as_bytes().to_vec())
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }
}
