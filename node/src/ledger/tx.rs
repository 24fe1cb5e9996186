//! The write transaction itself: how a [`Work`] begins, how buffered rows
//! are flushed beside the checking (one background flush at a time), and
//! the commit that writes the running sums and heads kept in memory.

use std::fmt::Write as _;

use foldhash::HashMap;

use sqlx::AnyConnection;

use super::error::LedgerError;
use super::rows::seq_i64;
use super::rules::LedgerRules;
use super::state::{JournalRow, PaymentRow, Work, FLUSH_ROWS};
use super::Identity;
use crate::store::{insert_values_sql, Db, StoreError};

/// Payments a transaction inserts before it refreshes planner statistics
/// (once); see [`crate::store::Dialect::refresh_stats`].
const STATS_REFRESH_ROWS: usize = 4 * FLUSH_ROWS;

impl<'l> Work<'l> {
    pub async fn begin(db: &Db, me: &'l Identity, now_ms: i64) -> Result<Work<'l>, LedgerError> {
        Ok(Work {
            tx: Some(db.begin_write().await?),
            db: db.clone(),
            pending: None,
            me,
            rules: LedgerRules::default(),
            restored: None,
            bind_max: db.dialect().bind_params_max(),
            dialect: db.dialect(),
            now_ms,
            heads: HashMap::default(),
            heads_dirty: Vec::new(),
            allocs: HashMap::default(),
            projects: HashMap::default(),
            vouchers: HashMap::default(),
            voucher_max: HashMap::default(),
            journal: Vec::new(),
            payments: Vec::new(),
            daily: HashMap::default(),
            drawn: HashMap::default(),
            flushed_payments: Some(0),
            down: HashMap::default(),
            own_cache: None,
        })
    }

    /// Waits for a background flush, so the database holds every row
    /// buffered before it.
    async fn settle(&mut self) -> Result<(), LedgerError> {
        if let Some(flush) = self.pending.take() {
            let tx = flush
                .await
                .map_err(|e| StoreError::TransactionLost(e.to_string()))??;
            self.tx = Some(tx);
        }
        Ok(())
    }

    /// The transaction's connection, once earlier writes have landed.
    pub(crate) async fn conn(&mut self) -> Result<&mut AnyConnection, LedgerError> {
        self.settle().await?;
        match self.tx.as_deref_mut() {
            Some(c) => Ok(c),
            None => Err(StoreError::TransactionLost("an earlier write failed".into()).into()),
        }
    }

    /// Hands buffered payment and journal rows to a background task that
    /// writes them, so the next rows are checked and encoded while the
    /// database works. At most one flush runs; everything that touches the
    /// transaction first waits for it ([`Work::conn`]).
    pub(super) async fn flush_rows(&mut self) -> Result<(), LedgerError> {
        if self.payments.is_empty() && self.journal.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let Some(mut tx) = self.tx.take() else {
            return Err(StoreError::TransactionLost("an earlier write failed".into()).into());
        };
        let payments = std::mem::take(&mut self.payments);
        let journal = std::mem::take(&mut self.journal);
        let refresh_stats = match self.flushed_payments {
            Some(n) if n.saturating_add(payments.len()) >= STATS_REFRESH_ROWS => {
                self.flushed_payments = None;
                true
            }
            Some(n) => {
                self.flushed_payments = Some(n.saturating_add(payments.len()));
                false
            }
            None => false,
        };
        let (dialect, bind_max) = (self.dialect, self.bind_max);
        self.pending = Some(tokio::spawn(async move {
            write_rows(
                &mut tx,
                dialect,
                bind_max,
                &payments,
                &journal,
                refresh_stats,
            )
            .await?;
            Ok(tx)
        }));
        Ok(())
    }

    /// Flushes everything and commits.
    pub async fn commit(mut self) -> Result<(), LedgerError> {
        self.flush_rows().await?;
        self.settle().await?;
        let Some(mut tx) = self.tx.take() else {
            return Err(StoreError::TransactionLost("an earlier write failed".into()).into());
        };
        for (id, a) in self.allocs.iter().filter(|(_, a)| a.dirty) {
            sqlx::query(
                "UPDATE allocations SET issued_fen = $1, paid_fen = $2, recalled_fen = $3 WHERE id = $4",
            )
            .bind(a.issued_fen)
            .bind(a.paid_fen)
            .bind(a.recalled_fen)
            .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let mut dirty = Vec::new();
        for (origin, m) in &self.projects {
            for (code, p) in m {
                if p.dirty {
                    dirty.push((
                        *origin,
                        code.as_str(),
                        p.target_count,
                        p.paid_fen,
                        p.unapproved,
                    ));
                }
            }
        }
        for (origin, code, target_count, paid_fen, unapproved) in dirty {
            sqlx::query(
                "UPDATE projects SET target_count = $1, paid_fen = $2, targets_unapproved = $3 \
                 WHERE origin = $4 AND code = $5",
            )
            .bind(target_count)
            .bind(paid_fen)
            .bind(unapproved)
            .bind(origin.as_str())
            .bind(code)
            .execute(&mut *tx)
            .await?;
        }
        for (origin, m) in &self.drawn {
            for (project, categories) in m {
                for category in categories {
                    sqlx::query(
                        "INSERT INTO project_categories (origin, project, category) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(origin.as_str())
                    .bind(project.as_str())
                    .bind(category.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for ((alloc, day), d) in &self.daily {
            sqlx::query(
                "INSERT INTO payment_daily (allocation_id, day, holder, paid_fen, payments) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (allocation_id, day) DO UPDATE SET paid_fen = payment_daily.paid_fen + excluded.paid_fen, \
                 payments = payment_daily.payments + excluded.payments",
            )
            .bind(alloc.to_string())
            .bind(day.to_string())
            .bind(d.holder.map(|h| h.as_str().to_owned()).unwrap_or_default())
            .bind(d.paid_fen)
            .bind(d.payments)
            .execute(&mut *tx)
            .await?;
        }
        for o in &self.heads_dirty {
            let h = self.heads[o];
            sqlx::query(
                "INSERT INTO journal_heads (origin, seq, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )
            .bind(o.as_str())
            .bind(seq_i64(h.seq)?)
            .bind(h.hash.0.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.hand_own_copies();
        self.db.committed();
        Ok(())
    }
}

const PAYMENTS_INTO: &str =
    "payments (origin, seq, voucher_no, paid_on, amount_fen, allocation_id, project)";
const PAYMENT_TEXTS_INTO: &str = "payment_texts (origin, seq, voucher_no, payee, purpose)";
const JOURNAL_INTO: &str = "journal (origin, seq, at_ms, prev_hash, hash, kind, body)";

/// Writes payment rows, then their journal rows, in multi-row INSERTs.
async fn write_rows(
    conn: &mut AnyConnection,
    dialect: &'static dyn crate::store::Dialect,
    bind_max: usize,
    payments: &[PaymentRow],
    journal: &[JournalRow],
    refresh_stats: bool,
) -> Result<(), LedgerError> {
    let (before, after) = dialect.bulk_insert_around();
    for s in before {
        sqlx::query(s).execute(&mut *conn).await?;
    }
    const PAY_COLS: usize = 7;
    let per = (bind_max / PAY_COLS).max(1);
    for chunk in payments.chunks(per) {
        let sql = insert_values_sql(dialect, PAYMENTS_INTO, PAY_COLS, chunk.len());
        // Dates and ids are formatted into one buffer and bound as slices of
        // it; strings already held are bound by reference (the driver copies
        // each value once more anyway).
        let mut text = String::with_capacity(chunk.len() * 24);
        let mut ends = Vec::with_capacity(chunk.len() * 2);
        for r in chunk {
            // Writing to a String cannot fail.
            let _ = write!(text, "{}", r.p.paid_on);
            ends.push(text.len());
            let _ = write!(text, "{}", r.p.allocation);
            ends.push(text.len());
        }
        let mut q = sqlx::query(&sql);
        let mut start = 0;
        for (r, e) in chunk.iter().zip(ends.chunks_exact(2)) {
            let p = &r.p;
            let (paid_on, allocation) = (&text[start..e[0]], &text[e[0]..e[1]]);
            start = e[1];
            q = q
                .bind(r.id.origin.as_str())
                .bind(seq_i64(r.id.seq)?)
                .bind(p.voucher_no.as_str())
                .bind(paid_on)
                .bind(p.amount.fen())
                .bind(allocation)
                .bind(p.project.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    // Their searched text beside them (the substring index, migration 0021).
    const TEXT_COLS: usize = 5;
    let per = (bind_max / TEXT_COLS).max(1);
    for chunk in payments.chunks(per) {
        let sql = insert_values_sql(dialect, PAYMENT_TEXTS_INTO, TEXT_COLS, chunk.len());
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.id.origin.as_str())
                .bind(seq_i64(r.id.seq)?)
                .bind(r.p.voucher_no.as_str())
                .bind(r.p.payee_name.as_str())
                .bind(r.p.purpose.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    if refresh_stats {
        for s in dialect.refresh_stats() {
            sqlx::query(s).execute(&mut *conn).await?;
        }
    }
    const J_COLS: usize = 7;
    let per = (bind_max / J_COLS).max(1);
    for chunk in journal.chunks(per) {
        let sql = insert_values_sql(dialect, JOURNAL_INTO, J_COLS, chunk.len());
        let mut q = sqlx::query(&sql);
        for j in chunk {
            let e = &j.entry;
            q = q
                .bind(e.origin.as_str())
                .bind(seq_i64(e.seq)?)
                .bind(e.at_ms)
                .bind(&e.prev_hash.0[..])
                .bind(&j.hash.0[..])
                .bind(e.kind.as_str())
                .bind(e.body.as_slice());
        }
        q.execute(&mut *conn).await?;
    }
    for s in after {
        sqlx::query(s).execute(&mut *conn).await?;
    }
    Ok(())
}
