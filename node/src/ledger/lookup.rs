//! Reads inside the write transaction that are not cached: rare rows
//! (categories, nodes, keys) and stored entry bodies, which several kinds'
//! rules consult. They see everything written earlier in the transaction.

use fundsync_protocol::body::{inner_bytes, CategoryDefined};
use fundsync_protocol::{EntryId, FundOrigin, Level, NodeCode};
use sqlx::Row;

use super::error::LedgerError;
use super::rows::{parse_code, parse_id, seq_i64};
use super::state::Work;

/// A registered node: its name, level, parent and the entry that
/// registered it (`None` for the node itself, recorded at `init`).
pub(super) type NodeRow = (String, Level, Option<NodeCode>, Option<EntryId>);

impl Work<'_> {
    pub(super) async fn category(
        &mut self,
        code: &str,
    ) -> Result<Option<(FundOrigin, CategoryDefined)>, LedgerError> {
        let row = sqlx::query(
            "SELECT name, origin, department, classified FROM fund_categories WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(self.conn().await?)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let origin: FundOrigin = r.try_get::<String, _>(1)?.parse().map_err(|_| {
            LedgerError::Store(crate::store::StoreError::Corrupt("category origin".into()))
        })?;
        Ok(Some((
            origin,
            CategoryDefined {
                code: code.to_owned(),
                name: r.try_get(0)?,
                origin,
                department: r.try_get(2)?,
                classified: r.try_get::<i64, _>(3)? != 0,
            },
        )))
    }

    pub(super) async fn node(&mut self, code: NodeCode) -> Result<Option<NodeRow>, LedgerError> {
        let row = sqlx::query("SELECT name, level, parent, entry_id FROM nodes WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(self.conn().await?)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let level: Level = r.try_get::<String, _>(1)?.parse().map_err(|_| {
            LedgerError::Store(crate::store::StoreError::Corrupt("node level".into()))
        })?;
        let parent = r
            .try_get::<Option<String>, _>(2)?
            .map(|p| parse_code(&p))
            .transpose()?;
        let entry = r
            .try_get::<Option<String>, _>(3)?
            .map(|p| parse_id(&p))
            .transpose()?;
        Ok(Some((r.try_get(0)?, level, parent, entry)))
    }

    /// Whether `code` has a registered signing key.
    pub(super) async fn has_key(&mut self, code: NodeCode) -> Result<bool, LedgerError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM node_keys WHERE origin = $1")
            .bind(code.as_str())
            .fetch_one(self.conn().await?)
            .await?;
        Ok(n > 0)
    }

    /// Whether `code` is a registered direct child of this node.
    pub(super) async fn is_child(&mut self, code: NodeCode) -> Result<bool, LedgerError> {
        Ok(matches!(self.node(code).await?, Some((_, _, Some(p), _)) if p == self.me.code))
    }

    pub(super) async fn expect_category(
        &mut self,
        code: &str,
        allowed: &[FundOrigin],
    ) -> Result<(), LedgerError> {
        let (origin, _) = self
            .category(code)
            .await?
            .ok_or_else(|| LedgerError::UnknownCategory(code.to_owned()))?;
        if !allowed.contains(&origin) {
            return Err(LedgerError::CategoryOrigin {
                category: code.to_owned(),
                origin,
                expected: allowed
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        }
        Ok(())
    }

    /// Whether the stored entry `id` says what `encoded` says, whoever
    /// caused either: the same voucher or project submitted again by
    /// another person, or from another address, is still a retry. Compares
    /// the kind's own bytes (the actor's envelope left out), so an entry
    /// written before actors existed matches its resubmission too.
    pub(super) async fn same_body(
        &mut self,
        id: EntryId,
        encoded: &[u8],
    ) -> Result<bool, LedgerError> {
        if let Some(j) = self.journal.iter().find(|j| j.entry.id() == id) {
            return Ok(inner_bytes(&j.entry.body) == inner_bytes(encoded));
        }
        let r = sqlx::query("SELECT body FROM journal WHERE origin = $1 AND seq = $2")
            .bind(id.origin.as_str())
            .bind(seq_i64(id.seq)?)
            .fetch_one(self.conn().await?)
            .await?;
        let stored: Vec<u8> = r.try_get(0)?;
        Ok(inner_bytes(&stored) == inner_bytes(encoded))
    }
}
