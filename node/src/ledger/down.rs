//! The down streams: this node's entries addressed to a child
//! ([`fundsync_protocol::Body::down_to`]) are appended to that child's
//! stream, with its running digest, in the transaction that records them.

use fundsync_protocol::{DownState, Hash, NodeCode};
use sqlx::Row;

use super::error::LedgerError;
use super::rows::seq_i64;
use super::state::Work;
use crate::store::StoreError;

impl Work<'_> {
    /// Puts this node's entry `seq` at the next position of its down stream
    /// to `child`, chaining the stream's digest.
    pub(super) async fn append_down(
        &mut self,
        child: NodeCode,
        seq: u64,
        hash: Hash,
    ) -> Result<(), LedgerError> {
        let me = self.me.code;
        let before = match self.down.get(&child) {
            Some(s) => *s,
            None => {
                let row = sqlx::query(
                    "SELECT down_seq, digest FROM down_entries WHERE child = $1 ORDER BY down_seq DESC LIMIT 1",
                )
                .bind(child.as_str())
                .fetch_optional(self.conn().await?)
                .await?;
                match row {
                    None => DownState::EMPTY,
                    Some(r) => DownState {
                        down_seq: u64::try_from(r.try_get::<i64, _>(0)?)
                            .map_err(|_| LedgerError::Overflow)?,
                        digest: Hash::from_slice(&r.try_get::<Vec<u8>, _>(1)?).ok_or_else(
                            || LedgerError::Store(StoreError::Corrupt("down stream digest".into())),
                        )?,
                    },
                }
            }
        };
        let after = before.next(me, child, hash).ok_or(LedgerError::Overflow)?;
        sqlx::query(
            "INSERT INTO down_entries (child, down_seq, seq, digest) VALUES ($1, $2, $3, $4)",
        )
        .bind(child.as_str())
        .bind(seq_i64(after.down_seq)?)
        .bind(seq_i64(seq)?)
        .bind(after.digest.0.to_vec())
        .execute(self.conn().await?)
        .await?;
        self.down.insert(child, after);
        Ok(())
    }
}
