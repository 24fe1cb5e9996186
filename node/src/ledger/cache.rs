//! The transaction's in-memory caches of hot derived rows: allocation
//! balances, project totals, vouchers by number (with the largest number
//! per origin, and the bulk prefetch the import uses), daily payment sums,
//! and journal heads. They are read through on a miss, changed in memory
//! by the kinds' projections, and written back by [`Work::commit`] (or, for
//! vouchers, are the rows flushed already).

use chrono::NaiveDate;
use foldhash::HashMap;
use fundsync_protocol::{EntryId, Hash, NodeCode};
use sqlx::Row;

use super::error::LedgerError;
use super::rows::{parse_code, parse_date, parse_id};
use super::state::{Alloc, Head, Proj, Voucher, Work, FLUSH_ROWS};

impl Work<'_> {
    /// The head of `origin`'s chain, as this transaction leaves it.
    pub async fn head(&mut self, origin: NodeCode) -> Result<Head, LedgerError> {
        if let Some(h) = self.heads.get(&origin) {
            return Ok(*h);
        }
        let row = sqlx::query("SELECT seq, hash FROM journal_heads WHERE origin = $1")
            .bind(origin.as_str())
            .fetch_optional(self.conn().await?)
            .await?;
        let head = match row {
            None => Head::EMPTY,
            Some(r) => Head {
                seq: u64::try_from(r.try_get::<i64, _>(0)?).map_err(|_| LedgerError::Overflow)?,
                hash: Hash::from_slice(&r.try_get::<Vec<u8>, _>(1)?).ok_or_else(|| {
                    LedgerError::Store(crate::store::StoreError::Corrupt("head hash".into()))
                })?,
            },
        };
        self.heads.insert(origin, head);
        Ok(head)
    }

    pub(super) async fn alloc(&mut self, id: EntryId) -> Result<Option<&mut Alloc>, LedgerError> {
        if !self.allocs.contains_key(&id) {
            let row = sqlx::query(
                "SELECT holder, category, amount_fen, issued_fen, paid_fen, dated, recalled_fen \
                 FROM allocations WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(self.conn().await?)
            .await?;
            let Some(r) = row else { return Ok(None) };
            let a = Alloc {
                holder: parse_code(&r.try_get::<String, _>(0)?)?,
                category: r.try_get(1)?,
                amount_fen: r.try_get(2)?,
                issued_fen: r.try_get(3)?,
                paid_fen: r.try_get(4)?,
                dated: parse_date(&r.try_get::<String, _>(5)?)?,
                recalled_fen: r.try_get(6)?,
                dirty: false,
            };
            self.allocs.insert(id, a);
        }
        Ok(self.allocs.get_mut(&id))
    }

    pub(super) async fn project(
        &mut self,
        origin: NodeCode,
        code: &str,
    ) -> Result<Option<&mut Proj>, LedgerError> {
        if !self
            .projects
            .get(&origin)
            .is_some_and(|m| m.contains_key(code))
        {
            let row = sqlx::query(
                "SELECT status, target_count, paid_fen, targets_unapproved FROM projects \
                 WHERE origin = $1 AND code = $2",
            )
            .bind(origin.as_str())
            .bind(code)
            .fetch_optional(self.conn().await?)
            .await?;
            let Some(r) = row else { return Ok(None) };
            let p = Proj {
                status: r.try_get(0)?,
                target_count: r.try_get(1)?,
                paid_fen: r.try_get(2)?,
                unapproved: r.try_get(3)?,
                dirty: false,
            };
            self.projects
                .entry(origin)
                .or_default()
                .insert(code.to_owned(), p);
        }
        Ok(self.projects.get_mut(&origin).and_then(|m| m.get_mut(code)))
    }

    /// Looks up many vouchers of one origin in one query (the import path).
    pub async fn prefetch_vouchers(
        &mut self,
        origin: NodeCode,
        nos: &[&str],
    ) -> Result<(), LedgerError> {
        // Bound memory on big imports: once every recorded voucher is in the
        // table, the cache can be emptied and refilled from it. Each map
        // keeps its room, so refilling it does not grow it step by step
        // again (rehashing was 5-8 % of an import's checking thread).
        if self.vouchers.values().map(HashMap::len).sum::<usize>() > FLUSH_ROWS * 4 {
            self.flush_rows().await?;
            for known in self.vouchers.values_mut() {
                known.clear();
            }
        }
        if self.dialect.text_orders_bytewise() && !self.voucher_max.contains_key(&origin) {
            let max: Option<String> = sqlx::query_scalar(
                "SELECT voucher_no FROM payments WHERE origin = $1 \
                 ORDER BY voucher_no DESC LIMIT 1",
            )
            .bind(origin.as_str())
            .fetch_optional(self.conn().await?)
            .await?;
            self.voucher_max.insert(origin, max);
        }
        let max = self.voucher_max.get(&origin);
        let known = self.vouchers.entry(origin).or_default();
        let wanted: Vec<&str> = nos
            .iter()
            .copied()
            .filter(|n| !above(max, n) && !known.contains_key(*n))
            .collect();
        for chunk in wanted.chunks(self.bind_max.saturating_sub(1).min(2000)) {
            let mut sql = String::from(
                "SELECT p.voucher_no, p.seq, p.amount_fen, p.allocation_id, p.project, p.paid_on, \
                 CAST(CASE WHEN r.id IS NULL THEN 0 ELSE 1 END AS BIGINT) \
                 FROM payments p LEFT JOIN payment_reversals r ON r.origin = p.origin AND r.payment_seq = p.seq \
                 WHERE p.origin = ",
            );
            sql.push_str(if self.dialect.numbered_placeholders() {
                "$1"
            } else {
                "?"
            });
            sql.push_str(" AND p.voucher_no IN (");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                if self.dialect.numbered_placeholders() {
                    sql.push('$');
                    sql.push_str(&(i + 2).to_string());
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
            let mut q = sqlx::query(&sql).bind(origin.as_str());
            for n in chunk {
                q = q.bind(*n);
            }
            let rows = q.fetch_all(self.conn().await?).await?;
            let known = self.vouchers.entry(origin).or_default();
            for n in chunk {
                known.insert((*n).to_owned(), None);
            }
            for r in rows {
                let no: String = r.try_get(0)?;
                let v = Voucher {
                    id: EntryId {
                        origin,
                        seq: u64::try_from(r.try_get::<i64, _>(1)?)
                            .map_err(|_| LedgerError::Overflow)?,
                    },
                    amount_fen: r.try_get(2)?,
                    allocation: parse_id(&r.try_get::<String, _>(3)?)?,
                    project: r.try_get(4)?,
                    paid_on: r.try_get::<String, _>(5)?.parse().map_err(|_| {
                        LedgerError::Store(crate::store::StoreError::Corrupt("paid_on".into()))
                    })?,
                    reversed: r.try_get::<i64, _>(6)? != 0,
                };
                known.insert(no, Some(v));
            }
        }
        Ok(())
    }

    pub(super) async fn voucher(
        &mut self,
        origin: NodeCode,
        no: &str,
    ) -> Result<Option<Voucher>, LedgerError> {
        if let Some(v) = self.vouchers.get(&origin).and_then(|m| m.get(no)) {
            return Ok(v.clone());
        }
        if above(self.voucher_max.get(&origin), no) {
            return Ok(None);
        }
        self.prefetch_vouchers(origin, &[no]).await?;
        Ok(self
            .vouchers
            .get(&origin)
            .and_then(|m| m.get(no))
            .cloned()
            .flatten())
    }

    pub(super) fn add_daily(
        &mut self,
        alloc: EntryId,
        day: NaiveDate,
        holder: NodeCode,
        fen: i64,
        n: i64,
    ) -> Result<(), LedgerError> {
        let d = self.daily.entry((alloc, day)).or_default();
        d.holder = Some(holder);
        d.paid_fen = d.paid_fen.checked_add(fen).ok_or(LedgerError::Overflow)?;
        d.payments += n;
        Ok(())
    }
}

/// Whether voucher number `no` is above an origin's largest one (`max`, as
/// in `Work::voucher_max`), so certainly not held.
fn above(max: Option<&Option<String>>, no: &str) -> bool {
    match max {
        Some(Some(m)) => no > m.as_str(),
        Some(None) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_that_overflow_are_refused() {
        let a = |amount_fen, issued_fen, paid_fen| Alloc {
            holder: "652822".parse().expect("code"),
            category: "X-01".into(),
            amount_fen,
            issued_fen,
            paid_fen,
            recalled_fen: 0,
            dated: NaiveDate::default(),
            dirty: false,
        };
        assert!(matches!(
            a(0, i64::MAX, 2).available_fen(),
            Err(LedgerError::Overflow)
        ));
        assert!(matches!(
            a(i64::MIN, 1, 0).available_fen(),
            Err(LedgerError::Overflow)
        ));
        assert_eq!(a(1000, 300, 200).available_fen().ok(), Some(500));
    }
}
