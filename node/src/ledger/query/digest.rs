//! Digests of the money rows each origin's chain derived here
//! (`POST /sync/v1/digest`): an ancestor compares its copy with its
//! child's, origin by origin, when both stand at the same head. The rows:
//! the origin's `payments`, `payment_reversals` and `projects` (budget,
//! status, targets and paid sum), each field length-prefixed, in a fixed
//! order (payments and reversals by seq, projects by code sorted here, not
//! by the database's collation, so SQLite and PostgreSQL agree).

use fundsync_protocol::wire::OriginDigest;
use fundsync_protocol::{Hash, NodeCode};
use sha2::{Digest as _, Sha256};
use sqlx::Row;

use crate::ledger::rows::{hash_of, seq_u64};
use crate::ledger::{Ledger, LedgerError};

/// Payment rows read per query.
const PAGE: i64 = 5_000;

/// A running digest of rows.
struct Rows {
    h: Sha256,
    n: u64,
}

impl Rows {
    fn new() -> Rows {
        let mut h = Sha256::new();
        h.update(b"fundsync money rows v1\n");
        Rows { h, n: 0 }
    }

    /// One row: its table's tag, then each field with its length.
    fn row(&mut self, tag: &[u8], fields: &[&[u8]]) {
        self.h.update(tag);
        for f in fields {
            self.h
                .update(u64::try_from(f.len()).unwrap_or(u64::MAX).to_be_bytes());
            self.h.update(f);
        }
        self.n = self.n.saturating_add(1);
    }

    fn finish(self) -> (u64, Hash) {
        (self.n, Hash(self.h.finalize().into()))
    }
}

impl Ledger {
    /// The digest of the money rows derived from each of `origins`' chains,
    /// with the head they stand at, all read in one read transaction.
    /// Origins whose chain this node does not hold are left out.
    pub async fn money_digests(
        &self,
        origins: &[NodeCode],
    ) -> Result<Vec<OriginDigest>, LedgerError> {
        let mut tx = self.db().read().begin().await?;
        if self.db().dialect().name() == "postgres" {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let mut out = Vec::with_capacity(origins.len());
        for &origin in origins {
            let o = origin.as_str();
            let head = sqlx::query("SELECT seq, hash FROM journal_heads WHERE origin = $1")
                .bind(o)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(head) = head else { continue };
            let seq = seq_u64(head.try_get(0)?)?;
            let hash = hash_of(&head.try_get::<Vec<u8>, _>(1)?, "head hash")?;
            let mut d = Rows::new();
            let mut after = 0i64;
            loop {
                let rows = sqlx::query(
                    "SELECT seq, voucher_no, paid_on, amount_fen, allocation_id, project \
                     FROM payments WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(o)
                .bind(after)
                .bind(PAGE)
                .fetch_all(&mut *tx)
                .await?;
                let Some(last) = rows.last() else { break };
                after = last.try_get(0)?;
                for r in &rows {
                    let seq: i64 = r.try_get(0)?;
                    let voucher: String = r.try_get(1)?;
                    let paid_on: String = r.try_get(2)?;
                    let fen: i64 = r.try_get(3)?;
                    let alloc: String = r.try_get(4)?;
                    let project: String = r.try_get(5)?;
                    d.row(
                        b"p",
                        &[
                            &seq.to_be_bytes(),
                            voucher.as_bytes(),
                            paid_on.as_bytes(),
                            &fen.to_be_bytes(),
                            alloc.as_bytes(),
                            project.as_bytes(),
                        ],
                    );
                }
            }
            let rows = sqlx::query(
                "SELECT payment_seq, reversed_on, amount_fen, reason FROM payment_reversals \
                 WHERE origin = $1 ORDER BY payment_seq",
            )
            .bind(o)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let seq: i64 = r.try_get(0)?;
                let on: String = r.try_get(1)?;
                let fen: i64 = r.try_get(2)?;
                let reason: String = r.try_get(3)?;
                d.row(
                    b"r",
                    &[
                        &seq.to_be_bytes(),
                        on.as_bytes(),
                        &fen.to_be_bytes(),
                        reason.as_bytes(),
                    ],
                );
            }
            let rows = sqlx::query(
                "SELECT code, budget_fen, status, target_count, paid_fen FROM projects \
                 WHERE origin = $1",
            )
            .bind(o)
            .fetch_all(&mut *tx)
            .await?;
            let mut projects = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String, _>(0)?,
                        r.try_get::<i64, _>(1)?,
                        r.try_get::<String, _>(2)?,
                        r.try_get::<i64, _>(3)?,
                        r.try_get::<i64, _>(4)?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            projects.sort();
            for (code, budget, status, targets, paid) in &projects {
                d.row(
                    b"j",
                    &[
                        code.as_bytes(),
                        &budget.to_be_bytes(),
                        status.as_bytes(),
                        &targets.to_be_bytes(),
                        &paid.to_be_bytes(),
                    ],
                );
            }
            let (rows, digest) = d.finish();
            out.push(OriginDigest {
                origin,
                seq,
                hash,
                rows,
                digest,
            });
        }
        tx.commit().await?;
        Ok(out)
    }
}
