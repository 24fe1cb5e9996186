//! One write transaction over the ledger: rules, entries and derived tables.
//!
//! Architecture invariant: balances change only here, through [`Work::apply`],
//! for local and replicated entries alike, inside the transaction that
//! appends the entry to the journal. A `Work` that is dropped without
//! [`Work::commit`] rolls back, leaving the ledger as it was.
//!
//! Hot-path state (allocation balances, project totals, vouchers, payment and
//! journal rows, daily sums) is kept in memory and flushed in multi-row
//! statements; everything rare is written at once with single statements, so
//! reads later in the same transaction see it.

// The transaction's caches are probed for every row of an import (a
// million look-ups by voucher number): std's SipHash was a fifth of the
// checking thread's time. foldhash is seeded per process, like std's.
use foldhash::HashMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use fundsync_protocol::body::*;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Body, DownState, Entry, EntryId, FundOrigin, Hash, Level, NodeCode};
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::error::LedgerError;
use super::relay::{OwnCache, OWN_CACHE_ENTRIES_MAX};
use super::Identity;
use crate::store::{insert_values_sql, Db, StoreError};

/// Rows buffered before a flush; bounds memory on million-row imports.
const FLUSH_ROWS: usize = 4096;
/// Payments a transaction inserts before it refreshes planner statistics
/// (once); see [`crate::store::Dialect::refresh_stats`].
const STATS_REFRESH_ROWS: usize = 4 * FLUSH_ROWS;

/// What a local submission resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new entry was appended.
    Created(EntryId),
    /// The same thing was already recorded (an idempotent retry).
    Existing(EntryId),
}

impl Outcome {
    pub fn id(self) -> EntryId {
        match self {
            Outcome::Created(id) | Outcome::Existing(id) => id,
        }
    }
}

#[derive(Debug, Clone)]
struct Alloc {
    holder: NodeCode,
    category: String,
    amount_fen: i64,
    issued_fen: i64,
    paid_fen: i64,
    dirty: bool,
}

impl Alloc {
    fn available_fen(&self) -> Result<i64, LedgerError> {
        self.amount_fen
            .checked_sub(self.issued_fen)
            .and_then(|v| v.checked_sub(self.paid_fen))
            .ok_or(LedgerError::Overflow)
    }
}

#[derive(Debug, Clone)]
struct Proj {
    status: String,
    target_count: i64,
    paid_fen: i64,
    dirty: bool,
}

#[derive(Debug, Clone)]
struct Voucher {
    id: EntryId,
    amount_fen: i64,
    allocation: EntryId,
    project: String,
    paid_on: NaiveDate,
    reversed: bool,
}

struct JournalRow {
    entry: Entry,
    hash: Hash,
}

struct PaymentRow {
    id: EntryId,
    p: PaymentRecorded,
}

#[derive(Default)]
struct Daily {
    holder: Option<NodeCode>,
    paid_fen: i64,
    payments: i64,
}

/// A body that passed its stateless validation, with its encoding: the
/// exact bytes that will be stored and hashed. Made only by [`Prepared::new`],
/// so every body recorded has been validated exactly once.
#[derive(Debug, Clone)]
pub struct Prepared {
    body: Body,
    encoded: Vec<u8>,
    /// The entry's hash, if worked out ahead for the chain position it was
    /// worked out at ([`Prepared::hash_at`]).
    hashed: Option<(ChainPos, Hash)>,
}

/// Where an entry of a chain goes: what its hash depends on besides its
/// own kind and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPos {
    pub origin: NodeCode,
    pub seq: u64,
    pub at_ms: i64,
    pub prev_hash: Hash,
}

impl Prepared {
    pub fn new(body: Body) -> Result<Prepared, BodyError> {
        body.validate()?;
        let encoded = body.encode();
        Ok(Prepared {
            body,
            encoded,
            hashed: None,
        })
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Hashes the entry this body would be at `pos`, and returns the
    /// position after it (`None` past the last seq). An import does this
    /// on its parser thread, guessing that every row becomes the next
    /// entry; [`Work::record_prepared`] uses the hash only if the entry
    /// really lands at `pos`, and hashes it itself otherwise.
    pub fn hash_at(&mut self, pos: ChainPos) -> Option<ChainPos> {
        let hash = fundsync_protocol::entry::entry_hash(
            pos.origin,
            pos.seq,
            pos.at_ms,
            &pos.prev_hash,
            self.body.kind(),
            &self.encoded,
        );
        self.hashed = Some((pos, hash));
        Some(ChainPos {
            seq: pos.seq.checked_add(1)?,
            prev_hash: hash,
            ..pos
        })
    }
}

/// Per-origin head of the journal: the protocol's notion, shared with sync.
pub use fundsync_protocol::batch::Head;

/// A flush of buffered rows running in the background: hands the
/// transaction back when it succeeds, rolls it back (drops it) when not.
type Flush = tokio::task::JoinHandle<Result<Transaction<'static, Any>, LedgerError>>;

pub struct Work<'l> {
    /// `None` while a flush holds it (`pending`), or after a flush failed.
    tx: Option<Transaction<'static, Any>>,
    pending: Option<Flush>,
    db: Db,
    me: &'l Identity,
    bind_max: usize,
    dialect: &'static dyn crate::store::Dialect,
    now_ms: i64,
    heads: HashMap<NodeCode, Head>,
    heads_dirty: Vec<NodeCode>,
    allocs: HashMap<EntryId, Alloc>,
    /// Per origin, by code: nested so a look-up by `&str` allocates nothing.
    projects: HashMap<NodeCode, HashMap<String, Proj>>,
    /// Per origin, by voucher number (`None`: looked up, not recorded).
    /// A number above `voucher_max` is absent without an entry here.
    vouchers: HashMap<NodeCode, HashMap<String, Option<Voucher>>>,
    /// Per origin, the largest voucher number stored or recorded in this
    /// transaction (`None`: there is none), where the engine orders text
    /// bytewise. Only this transaction writes while it runs, so every
    /// voucher number above it is new without a look-up: treasury exports
    /// number vouchers in ascending order, so an import looks up almost
    /// nothing.
    voucher_max: HashMap<NodeCode, Option<String>>,
    journal: Vec<JournalRow>,
    payments: Vec<PaymentRow>,
    daily: HashMap<(EntryId, NaiveDate), Daily>,
    /// Payments inserted so far, until statistics have been refreshed.
    flushed_payments: Option<usize>,
    /// Down streams to children appended to in this transaction.
    down: HashMap<NodeCode, DownState>,
    /// Where copies of the own entries recorded here go once they commit,
    /// and the copies (the first [`OWN_CACHE_ENTRIES_MAX`] of them).
    own_cache: Option<(OwnCache, Vec<Entry>)>,
}

fn parse_id(s: &str) -> Result<EntryId, LedgerError> {
    s.parse()
        .map_err(|_| LedgerError::Store(crate::store::StoreError::Corrupt(format!("bad id {s:?}"))))
}

fn parse_code(s: &str) -> Result<NodeCode, LedgerError> {
    s.parse().map_err(|_| {
        LedgerError::Store(crate::store::StoreError::Corrupt(format!(
            "bad node code {s:?}"
        )))
    })
}

fn seq_i64(seq: u64) -> Result<i64, LedgerError> {
    i64::try_from(seq).map_err(|_| LedgerError::Overflow)
}

impl std::fmt::Debug for Work<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("me", &self.me.code)
            .field("buffered_entries", &self.journal.len())
            .finish_non_exhaustive()
    }
}

impl<'l> Work<'l> {
    pub async fn begin(db: &Db, me: &'l Identity, now_ms: i64) -> Result<Work<'l>, LedgerError> {
        Ok(Work {
            tx: Some(db.begin_write().await?),
            db: db.clone(),
            pending: None,
            me,
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
            flushed_payments: Some(0),
            down: HashMap::default(),
            own_cache: None,
        })
    }

    /// Hands copies of the own entries this transaction records to `cache`
    /// when it commits, so the pusher need not read them back.
    pub(crate) fn keep_own_in(&mut self, cache: OwnCache) {
        self.own_cache = Some((cache, Vec::new()));
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

    /// Where this node's next entry would go in this transaction.
    pub async fn own_chain_pos(&mut self) -> Result<ChainPos, LedgerError> {
        let head = self.head(self.me.code).await?;
        Ok(ChainPos {
            origin: self.me.code,
            seq: head.seq.checked_add(1).ok_or(LedgerError::Overflow)?,
            at_ms: self.now_ms,
            prev_hash: head.hash,
        })
    }

    // ---- reads (through the in-memory overlay) ----

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

    async fn alloc(&mut self, id: EntryId) -> Result<Option<&mut Alloc>, LedgerError> {
        if !self.allocs.contains_key(&id) {
            let row = sqlx::query(
                "SELECT holder, category, amount_fen, issued_fen, paid_fen FROM allocations WHERE id = $1",
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
                dirty: false,
            };
            self.allocs.insert(id, a);
        }
        Ok(self.allocs.get_mut(&id))
    }

    async fn project(
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
                "SELECT status, target_count, paid_fen FROM projects WHERE origin = $1 AND code = $2",
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

    async fn voucher(
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

    async fn category(
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

    async fn node(
        &mut self,
        code: NodeCode,
    ) -> Result<Option<(String, Level, Option<NodeCode>, Option<EntryId>)>, LedgerError> {
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

    /// An existing allocation with the same natural key, and whether its
    /// fields match.
    async fn same_allocation(
        &mut self,
        kind: &str,
        holder: NodeCode,
        doc_no: &str,
        key: &str,
        amount_fen: i64,
        dated: NaiveDate,
    ) -> Result<Option<(EntryId, bool)>, LedgerError> {
        let row = sqlx::query(
            "SELECT id, amount_fen, dated FROM allocations \
             WHERE holder = $1 AND doc_no = $2 AND kind = $3 AND (category = $4 OR source_id = $4)",
        )
        .bind(holder.as_str())
        .bind(doc_no)
        .bind(kind)
        .bind(key)
        .fetch_optional(self.conn().await?)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let same = r.try_get::<i64, _>(1)? == amount_fen
            && r.try_get::<String, _>(2)? == dated.to_string();
        Ok(Some((parse_id(&r.try_get::<String, _>(0)?)?, same)))
    }

    // ---- local rules ----

    /// Checks a body this node wants to record against the ledger. `Ok(Some)`
    /// means the same thing is already recorded and nothing needs appending.
    async fn check_local(
        &mut self,
        body: &Body,
        encoded: &[u8],
    ) -> Result<Option<EntryId>, LedgerError> {
        // `body` is valid: a `Prepared` is made only through `Prepared::new`.
        let me = self.me.code;
        match body {
            Body::ChildRegistered(b) => {
                if self.me.level.child().is_none() {
                    return Err(LedgerError::NoChildren);
                }
                if !me.contains(self.me.level, &b.code) {
                    return Err(LedgerError::OutsideDivision { code: b.code, me });
                }
                if let Some((name, _, parent, entry)) = self.node(b.code).await? {
                    return match entry {
                        Some(id) if name == b.name && parent == Some(me) => Ok(Some(id)),
                        _ => Err(LedgerError::NodeExists(b.code)),
                    };
                }
            }
            Body::CategoryDefined(b) => {
                if let Some((_, existing)) = self.category(&b.code).await? {
                    // The same definition again is a retry; the shipped
                    // catalog's rows have no entry and cannot be redefined.
                    let entry: Option<String> =
                        sqlx::query_scalar("SELECT entry_id FROM fund_categories WHERE code = $1")
                            .bind(&b.code)
                            .fetch_one(self.conn().await?)
                            .await?;
                    return match entry {
                        Some(id) if &existing == b => Ok(Some(parse_id(&id)?)),
                        _ => Err(LedgerError::CategoryExists(b.code.clone())),
                    };
                }
                let own = self.me.level.own_origin();
                if self.me.level != Level::Region && b.origin != own {
                    return Err(LedgerError::CategoryOrigin {
                        category: b.code.clone(),
                        origin: b.origin,
                        expected: own.to_string(),
                    });
                }
            }
            Body::FundsReceived(b) => {
                if self.me.parent.is_some() {
                    return Err(LedgerError::NotTopNode);
                }
                self.expect_category(&b.category, &[FundOrigin::Central])
                    .await?;
                if let Some(found) = self
                    .same_allocation(
                        "received",
                        me,
                        &b.doc_no,
                        &b.category,
                        b.amount.fen(),
                        b.received_on,
                    )
                    .await?
                {
                    return existing("received funds", &b.doc_no, found);
                }
            }
            Body::OwnBudgetAdded(b) => {
                let mut allowed = vec![self.me.level.own_origin()];
                if self.me.level == Level::Region {
                    allowed.push(FundOrigin::Bond);
                }
                self.expect_category(&b.category, &allowed).await?;
                if let Some(found) = self
                    .same_allocation(
                        "own_budget",
                        me,
                        &b.doc_no,
                        &b.category,
                        b.amount.fen(),
                        b.budgeted_on,
                    )
                    .await?
                {
                    return existing("own budget", &b.doc_no, found);
                }
            }
            Body::AllocationIssued(b) => {
                match self.node(b.to).await? {
                    Some((_, _, Some(parent), _)) if parent == me => {}
                    _ => return Err(LedgerError::NotAChild { to: b.to, me }),
                }
                if let Some(found) = self
                    .same_allocation(
                        "issued",
                        b.to,
                        &b.doc_no,
                        &b.source.to_string(),
                        b.amount.fen(),
                        b.issued_on,
                    )
                    .await?
                {
                    return existing("allocation", &b.doc_no, found);
                }
                let src = self
                    .alloc(b.source)
                    .await?
                    .ok_or(LedgerError::UnknownAllocation(b.source))?;
                if src.holder != me {
                    return Err(LedgerError::NotHolder {
                        allocation: b.source,
                        holder: src.holder,
                        me,
                    });
                }
                if src.category != b.category {
                    return Err(LedgerError::CategoryMismatch {
                        source_id: b.source,
                        source_category: src.category.clone(),
                        given: b.category.clone(),
                    });
                }
                let available = src.available_fen()?;
                if b.amount.fen() > available {
                    return Err(LedgerError::OverAllocation {
                        source_id: b.source,
                        available: fen_to_yuan(available),
                        requested: b.amount.yuan(),
                    });
                }
            }
            Body::ProjectRegistered(b) => {
                let row = sqlx::query("SELECT id FROM projects WHERE origin = $1 AND code = $2")
                    .bind(me.as_str())
                    .bind(&b.code)
                    .fetch_optional(self.conn().await?)
                    .await?;
                if let Some(r) = row {
                    let id = parse_id(&r.try_get::<String, _>(0)?)?;
                    let same = self.stored_body(id).await? == encoded;
                    return existing("project", &b.code, (id, same));
                }
            }
            Body::ProjectStatusChanged(b) => {
                self.project(me, &b.project)
                    .await?
                    .ok_or_else(|| LedgerError::UnknownProject(b.project.clone()))?;
            }
            Body::TargetSet(b) => {
                self.project(me, &b.project)
                    .await?
                    .ok_or_else(|| LedgerError::UnknownProject(b.project.clone()))?;
            }
            Body::TargetActualRecorded(b) => {
                let row = sqlx::query("SELECT origin FROM targets WHERE id = $1")
                    .bind(b.target.to_string())
                    .fetch_optional(self.conn().await?)
                    .await?;
                match row {
                    Some(r) if r.try_get::<String, _>(0)? == me.as_str() => {}
                    _ => return Err(LedgerError::UnknownTarget(b.target)),
                }
            }
            Body::PaymentRecorded(b) => {
                if let Some(v) = self.voucher(me, &b.voucher_no).await? {
                    return if self.stored_body(v.id).await? == encoded {
                        Ok(Some(v.id))
                    } else {
                        Err(LedgerError::DuplicateVoucher(b.voucher_no.clone()))
                    };
                }
                let project = self
                    .project(me, &b.project)
                    .await?
                    .ok_or_else(|| LedgerError::UnknownProject(b.project.clone()))?;
                if project.target_count == 0 {
                    return Err(LedgerError::NoTarget(b.project.clone()));
                }
                if project.status == ProjectStatus::Cancelled.as_str() {
                    return Err(LedgerError::ProjectCancelled(b.project.clone()));
                }
                let a = self
                    .alloc(b.allocation)
                    .await?
                    .ok_or(LedgerError::UnknownAllocation(b.allocation))?;
                if a.holder != me {
                    return Err(LedgerError::NotHolder {
                        allocation: b.allocation,
                        holder: a.holder,
                        me,
                    });
                }
                let available = a.available_fen()?;
                if b.amount.fen() > available {
                    return Err(LedgerError::OverBalance {
                        allocation: b.allocation,
                        available: fen_to_yuan(available),
                        requested: b.amount.yuan(),
                    });
                }
            }
            Body::PaymentReversed(b) => {
                let v = self
                    .voucher(me, &b.voucher_no)
                    .await?
                    .ok_or_else(|| LedgerError::UnknownVoucher(b.voucher_no.clone()))?;
                if v.reversed {
                    return Err(LedgerError::AlreadyReversed(b.voucher_no.clone()));
                }
            }
            Body::KeyRegistered(b) => {
                // A child's key is vouched for by its parent. A node's own
                // key: by itself at the top, and otherwise only as a
                // rotation, vouched for by its current (registered) key.
                let own = b.node == me && (self.me.parent.is_none() || self.has_key(me).await?);
                if !own && !self.is_child(b.node).await? {
                    return Err(LedgerError::NotAChild { to: b.node, me });
                }
                let row =
                    sqlx::query("SELECT entry_id FROM node_keys WHERE origin = $1 AND key_id = $2")
                        .bind(b.node.as_str())
                        .bind(b.key_id.to_hex())
                        .fetch_optional(self.conn().await?)
                        .await?;
                if let Some(r) = row {
                    if let Some(id) = r.try_get::<Option<String>, _>(0)? {
                        return Ok(Some(parse_id(&id)?));
                    }
                }
            }
            Body::ChildRevoked(b) => {
                if !self.is_child(b.code).await? {
                    return Err(LedgerError::NotAChild { to: b.code, me });
                }
            }
            Body::LinkReported(b) => {
                if self.me.parent != Some(b.parent) {
                    return Err(LedgerError::NotTopNode);
                }
            }
            Body::WarningRaised(b) => {
                if b.node != me && !self.is_child(b.node).await? {
                    return Err(LedgerError::WarningNode { node: b.node, me });
                }
                // The same warning still open: a retry, not a second warning.
                let open = crate::warnings::store::open_warning(
                    self.conn().await?,
                    me,
                    &b.rule,
                    &b.subject,
                )
                .await?;
                if let Some(id) = open {
                    return Ok(Some(id));
                }
            }
            Body::WarningResolved(b) => {
                // Resolving a resolved warning again is a retry.
                match crate::warnings::store::resolution(self.conn().await?, me, b.warning).await? {
                    None => return Err(LedgerError::UnknownWarning(b.warning)),
                    Some(Some(by)) => return Ok(Some(by)),
                    Some(None) => {}
                }
            }
        }
        Ok(None)
    }

    /// Checks what a replicated entry says against the tree, before it is
    /// applied. The origin's signature vouches that the origin wrote it and
    /// the origin enforced the money rules when it did; this refuses what no
    /// honest origin in its place could have written: money or keys moving
    /// up or sideways, funds "from the centre" registered below the top.
    ///
    /// It also refuses, for now, an entry that draws on an allocation this
    /// node does not hold yet: applied, it would leave that allocation's
    /// running sums without it when the allocation arrives. In a healthy tree
    /// the allocation always comes first (a node pushes its own chain before
    /// its children's, and holds what it issued); it can be missing only at a
    /// node behind its own parent, such as one restored from an old backup,
    /// which takes the entry again once it has caught up.
    pub(crate) async fn check_replicated(
        &mut self,
        entry: &Entry,
        body: &Body,
    ) -> Result<(), LedgerError> {
        let o = entry.origin;
        let refuse = |why: String| {
            Err(LedgerError::Misdirected {
                entry: entry.id(),
                kind: body.kind(),
                why,
            })
        };
        let parent_of =
            |n: Option<(String, Level, Option<NodeCode>, Option<EntryId>)>| n.and_then(|n| n.2);
        // Entries that name a child of their origin: money issued to it, its
        // key, its revocation.
        let child = match body {
            Body::AllocationIssued(b) => {
                Some((b.to, "an allocation goes down to a child of its issuer"))
            }
            Body::KeyRegistered(b) => Some((b.node, "a key is registered by the node's parent")),
            Body::ChildRevoked(b) => Some((b.code, "a node revokes only its own children")),
            Body::WarningRaised(b) if b.node != o => {
                Some((b.node, "a node warns only about itself or its own children"))
            }
            _ => None,
        };
        if let Some((child, rule)) = child {
            // A node registering its own next key (a rotation) is vouched
            // for by the checkpoint, signed with its current key, that
            // covers the entry.
            let rotation = matches!(body, Body::KeyRegistered(_)) && child == o;
            if !rotation && parent_of(self.node(child).await?) != Some(o) {
                return refuse(format!("{rule}; {child} is not a child of {o}"));
            }
        }
        let drawn = match body {
            Body::PaymentRecorded(b) => Some(b.allocation),
            Body::AllocationIssued(b) => Some(b.source),
            _ => None,
        };
        if let Some(allocation) = drawn {
            if self.alloc(allocation).await?.is_none() {
                return Err(LedgerError::NotYetHeld {
                    entry: entry.id(),
                    allocation,
                });
            }
        }
        match body {
            Body::FundsReceived(_) => {
                refuse("funds from the centre are registered only by the top node".into())
            }
            Body::ChildRegistered(b) => {
                let level = self.node(o).await?.map(|n| n.1);
                let inside = level.is_some_and(|l| l.child().is_some() && o.contains(l, &b.code));
                if inside {
                    Ok(())
                } else {
                    refuse(format!("{} is not inside the division of {o}", b.code))
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether `code` has a registered signing key.
    async fn has_key(&mut self, code: NodeCode) -> Result<bool, LedgerError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM node_keys WHERE origin = $1")
            .bind(code.as_str())
            .fetch_one(self.conn().await?)
            .await?;
        Ok(n > 0)
    }

    /// Whether `code` is a registered direct child of this node.
    async fn is_child(&mut self, code: NodeCode) -> Result<bool, LedgerError> {
        Ok(matches!(self.node(code).await?, Some((_, _, Some(p), _)) if p == self.me.code))
    }

    async fn expect_category(
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

    async fn stored_body(&mut self, id: EntryId) -> Result<Vec<u8>, LedgerError> {
        if let Some(j) = self.journal.iter().find(|j| j.entry.id() == id) {
            return Ok(j.entry.body.clone());
        }
        let r = sqlx::query("SELECT body FROM journal WHERE origin = $1 AND seq = $2")
            .bind(id.origin.as_str())
            .bind(seq_i64(id.seq)?)
            .fetch_one(self.conn().await?)
            .await?;
        Ok(r.try_get(0)?)
    }

    /// Checks a body against the rules and, unless it is already recorded,
    /// appends it to this node's journal and applies it.
    pub async fn record(&mut self, body: Body) -> Result<Outcome, LedgerError> {
        self.record_prepared(Prepared::new(body)?).await
    }

    /// [`Work::record`] for a body validated and encoded beforehand (the
    /// import does that on its parser thread, beside the transaction).
    pub async fn record_prepared(&mut self, prepared: Prepared) -> Result<Outcome, LedgerError> {
        let Prepared {
            body,
            encoded,
            hashed,
        } = prepared;
        if let Some(id) = self.check_local(&body, &encoded).await? {
            return Ok(Outcome::Existing(id));
        }
        let me = self.me.code;
        let head = self.head(me).await?;
        let entry = Entry {
            origin: me,
            seq: head.seq.checked_add(1).ok_or(LedgerError::Overflow)?,
            at_ms: self.now_ms,
            prev_hash: head.hash,
            kind: body.kind().to_owned(),
            body: encoded,
        };
        let at = ChainPos {
            origin: entry.origin,
            seq: entry.seq,
            at_ms: entry.at_ms,
            prev_hash: entry.prev_hash,
        };
        // The kind and body are this `Prepared`'s own; the rest must match.
        let hash = match hashed {
            Some((pos, hash)) if pos == at => hash,
            _ => entry.hash(),
        };
        let id = entry.id();
        let copy = match &self.own_cache {
            Some((_, copies)) if copies.len() < OWN_CACHE_ENTRIES_MAX => Some(entry.clone()),
            _ => None,
        };
        self.apply(entry, hash, body).await?;
        if let (Some(copy), Some((_, copies))) = (copy, &mut self.own_cache) {
            copies.push(copy);
        }
        Ok(Outcome::Created(id))
    }

    // ---- effects (local and replicated entries) ----

    /// Applies an entry whose chain position has been checked: updates the
    /// head, the derived tables and buffers the journal row.
    pub async fn apply(&mut self, entry: Entry, hash: Hash, body: Body) -> Result<(), LedgerError> {
        self.apply_entry(entry, hash, body, true).await
    }

    /// Applies an entry of the parent's down stream: a sparse subset of the
    /// parent's journal, so it is stored and applied but is not the head of
    /// a chain this node holds (`journal_heads` names dense chains only).
    pub async fn apply_down(
        &mut self,
        entry: Entry,
        hash: Hash,
        body: Body,
    ) -> Result<(), LedgerError> {
        self.apply_entry(entry, hash, body, false).await
    }

    async fn apply_entry(
        &mut self,
        entry: Entry,
        hash: Hash,
        body: Body,
        chained: bool,
    ) -> Result<(), LedgerError> {
        let id = entry.id();
        let o = entry.origin;
        if o == self.me.code {
            if let Some(child) = body.down_to(o) {
                self.append_down(child, entry.seq, hash).await?;
            }
        }
        match body {
            Body::ChildRegistered(b) => {
                let level = if o == self.me.code {
                    Some(self.me.level)
                } else {
                    self.node(o).await?.map(|n| n.1)
                };
                let child_level = level.and_then(Level::child).unwrap_or(Level::County);
                sqlx::query(
                    "INSERT INTO nodes (code, name, level, parent, entry_id) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
                     entry_id = excluded.entry_id",
                )
                .bind(b.code.as_str())
                .bind(&b.name)
                .bind(child_level.as_str())
                .bind(o.as_str())
                .bind(id.to_string())
                .execute(self.conn().await?)
                .await?;
            }
            Body::CategoryDefined(b) => {
                sqlx::query(
                    "INSERT INTO fund_categories (code, name, origin, department, classified, defined_by, entry_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING",
                )
                .bind(&b.code)
                .bind(&b.name)
                .bind(b.origin.as_str())
                .bind(&b.department)
                .bind(i64::from(b.classified))
                .bind(o.as_str())
                .bind(id.to_string())
                .execute(self.conn().await?)
                .await?;
            }
            Body::FundsReceived(b) => {
                self.insert_allocation(
                    id,
                    "received",
                    &b.doc_no,
                    &b.category,
                    b.amount.fen(),
                    None,
                    o,
                    None,
                    b.received_on,
                    &b.title,
                )
                .await?;
            }
            Body::OwnBudgetAdded(b) => {
                self.insert_allocation(
                    id,
                    "own_budget",
                    &b.doc_no,
                    &b.category,
                    b.amount.fen(),
                    None,
                    o,
                    None,
                    b.budgeted_on,
                    &b.title,
                )
                .await?;
            }
            Body::AllocationIssued(b) => {
                self.insert_allocation(
                    id,
                    "issued",
                    &b.doc_no,
                    &b.category,
                    b.amount.fen(),
                    Some(o),
                    b.to,
                    Some(b.source),
                    b.issued_on,
                    &b.title,
                )
                .await?;
                if let Some(src) = self.alloc(b.source).await? {
                    src.issued_fen = src
                        .issued_fen
                        .checked_add(b.amount.fen())
                        .ok_or(LedgerError::Overflow)?;
                    src.dirty = true;
                }
            }
            Body::ProjectRegistered(b) => {
                sqlx::query(
                    "INSERT INTO projects (id, origin, code, name, township, village, department, starts_on, ends_on, \
                     budget_fen, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(id.to_string())
                .bind(o.as_str())
                .bind(&b.code)
                .bind(&b.name)
                .bind(&b.township)
                .bind(&b.village)
                .bind(&b.department)
                .bind(b.starts_on.to_string())
                .bind(b.ends_on.to_string())
                .bind(b.budget.fen())
                .bind(b.status.as_str())
                .execute(self.conn().await?)
                .await?;
            }
            Body::ProjectStatusChanged(b) => {
                sqlx::query("UPDATE projects SET status = $1 WHERE origin = $2 AND code = $3")
                    .bind(b.status.as_str())
                    .bind(o.as_str())
                    .bind(&b.project)
                    .execute(self.conn().await?)
                    .await?;
                if let Some(p) = self
                    .projects
                    .get_mut(&o)
                    .and_then(|m| m.get_mut(&b.project))
                {
                    p.status = b.status.as_str().to_owned();
                }
            }
            Body::TargetSet(b) => {
                sqlx::query(
                    "INSERT INTO targets (id, origin, project, level1, level2, indicator, op, value, unit) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id.to_string())
                .bind(o.as_str())
                .bind(&b.project)
                .bind(enum_str(&b.level1))
                .bind(enum_str(&b.level2))
                .bind(&b.indicator)
                .bind(b.op.as_str())
                .bind(b.value.to_string())
                .bind(&b.unit)
                .execute(self.conn().await?)
                .await?;
                if let Some(p) = self.project(o, &b.project).await? {
                    p.target_count += 1;
                    p.dirty = true;
                }
            }
            Body::TargetActualRecorded(b) => {
                sqlx::query("UPDATE targets SET actual = $1, actual_on = $2 WHERE id = $3")
                    .bind(b.actual.to_string())
                    .bind(b.recorded_on.to_string())
                    .bind(b.target.to_string())
                    .execute(self.conn().await?)
                    .await?;
            }
            Body::PaymentRecorded(b) => {
                let amount = b.amount.fen();
                if let Some(a) = self.alloc(b.allocation).await? {
                    a.paid_fen = a
                        .paid_fen
                        .checked_add(amount)
                        .ok_or(LedgerError::Overflow)?;
                    a.dirty = true;
                }
                if let Some(p) = self.project(o, &b.project).await? {
                    p.paid_fen = p
                        .paid_fen
                        .checked_add(amount)
                        .ok_or(LedgerError::Overflow)?;
                    p.dirty = true;
                }
                self.add_daily(b.allocation, b.paid_on, o, amount, 1)?;
                let v = Voucher {
                    id,
                    amount_fen: amount,
                    allocation: b.allocation,
                    project: b.project.clone(),
                    paid_on: b.paid_on,
                    reversed: false,
                };
                if let Some(max) = self.voucher_max.get_mut(&o) {
                    match max {
                        Some(m) if m.as_str() >= b.voucher_no.as_str() => {}
                        Some(m) => {
                            m.clear();
                            m.push_str(&b.voucher_no);
                        }
                        None => *max = Some(b.voucher_no.clone()),
                    }
                }
                // Looked up (as absent) just before, unless it is above
                // the largest voucher number: then its key is new here.
                let known = self.vouchers.entry(o).or_default();
                match known.get_mut(&b.voucher_no) {
                    Some(slot) => *slot = Some(v),
                    None => {
                        known.insert(b.voucher_no.clone(), Some(v));
                    }
                }
                self.payments.push(PaymentRow { id, p: b });
            }
            Body::PaymentReversed(b) => {
                // Flush first: the reversal row refers to the payment row.
                self.flush_rows().await?;
                if let Some(v) = self.voucher(o, &b.voucher_no).await? {
                    sqlx::query(
                        "INSERT INTO payment_reversals (id, origin, payment_seq, reversed_on, amount_fen, reason) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(id.to_string())
                    .bind(o.as_str())
                    .bind(seq_i64(v.id.seq)?)
                    .bind(b.reversed_on.to_string())
                    .bind(v.amount_fen)
                    .bind(&b.reason)
                    .execute(self.conn().await?)
                    .await?;
                    if let Some(a) = self.alloc(v.allocation).await? {
                        a.paid_fen = a
                            .paid_fen
                            .checked_sub(v.amount_fen)
                            .ok_or(LedgerError::Overflow)?;
                        a.dirty = true;
                    }
                    if let Some(p) = self.project(o, &v.project).await? {
                        p.paid_fen = p
                            .paid_fen
                            .checked_sub(v.amount_fen)
                            .ok_or(LedgerError::Overflow)?;
                        p.dirty = true;
                    }
                    let negative = v.amount_fen.checked_neg().ok_or(LedgerError::Overflow)?;
                    // A reversal counts on its own date, so "as of" figures
                    // before it still show the payment.
                    self.add_daily(v.allocation, b.reversed_on.max(v.paid_on), o, negative, -1)?;
                    if let Some(Some(v)) = self
                        .vouchers
                        .get_mut(&o)
                        .and_then(|m| m.get_mut(&b.voucher_no))
                    {
                        v.reversed = true;
                    }
                }
            }
            Body::KeyRegistered(b) => {
                let key = b.verifying_key()?;
                sqlx::query(
                    "INSERT INTO node_keys (origin, key_id, public_key, entry_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (origin, key_id) DO NOTHING",
                )
                .bind(b.node.as_str())
                .bind(b.key_id.to_hex())
                .bind(key.as_bytes().to_vec())
                .bind(id.to_string())
                .execute(self.conn().await?)
                .await?;
            }
            Body::LinkReported(b) => {
                sqlx::query(
                    "INSERT INTO link_health (node, parent, reported_ms, entry_id, report) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node) DO UPDATE SET \
                     parent = excluded.parent, reported_ms = excluded.reported_ms, \
                     entry_id = excluded.entry_id, report = excluded.report",
                )
                .bind(o.as_str())
                .bind(b.parent.as_str())
                .bind(entry.at_ms)
                .bind(id.to_string())
                .bind(entry.body.clone())
                .execute(self.conn().await?)
                .await?;
            }
            Body::ChildRevoked(b) => {
                sqlx::query(
                    "INSERT INTO revocations (code, at_ms, entry_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (code) DO UPDATE SET at_ms = excluded.at_ms, entry_id = excluded.entry_id",
                )
                .bind(b.code.as_str())
                .bind(entry.at_ms)
                .bind(id.to_string())
                .execute(self.conn().await?)
                .await?;
            }
            Body::WarningRaised(b) => {
                crate::warnings::store::insert(self.conn().await?, id, entry.at_ms, &b).await?;
            }
            Body::WarningResolved(b) => {
                crate::warnings::store::resolve(self.conn().await?, id, entry.at_ms, &b).await?;
            }
        }
        let seq = entry.seq;
        self.journal.push(JournalRow { entry, hash });
        if chained {
            self.heads.insert(o, Head { seq, hash });
            if !self.heads_dirty.contains(&o) {
                self.heads_dirty.push(o);
            }
        }
        if self.journal.len() >= FLUSH_ROWS || self.payments.len() >= FLUSH_ROWS {
            self.flush_rows().await?;
        }
        Ok(())
    }

    /// Puts this node's entry `seq` at the next position of its down stream
    /// to `child`, chaining the stream's digest.
    async fn append_down(
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

    fn add_daily(
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

    #[allow(clippy::too_many_arguments)]
    async fn insert_allocation(
        &mut self,
        id: EntryId,
        kind: &str,
        doc_no: &str,
        category: &str,
        amount_fen: i64,
        from: Option<NodeCode>,
        holder: NodeCode,
        source: Option<EntryId>,
        dated: NaiveDate,
        title: &str,
    ) -> Result<(), LedgerError> {
        let fund_origin = match self.category(category).await? {
            Some((o, _)) => o.as_str(),
            None => "unknown",
        };
        sqlx::query(
            "INSERT INTO allocations (id, origin, kind, doc_no, category, fund_origin, amount_fen, from_node, \
             holder, source_id, dated, title) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.to_string())
        .bind(id.origin.as_str())
        .bind(kind)
        .bind(doc_no)
        .bind(category)
        .bind(fund_origin)
        .bind(amount_fen)
        .bind(from.map(|f| f.as_str().to_owned()))
        .bind(holder.as_str())
        .bind(source.map(|s| s.to_string()))
        .bind(dated.to_string())
        .bind(title)
        .execute(self.conn().await?)
        .await?;
        self.allocs.insert(
            id,
            Alloc {
                holder,
                category: category.to_owned(),
                amount_fen,
                issued_fen: 0,
                paid_fen: 0,
                dirty: false,
            },
        );
        Ok(())
    }

    /// Hands buffered payment and journal rows to a background task that
    /// writes them, so the next rows are checked and encoded while the
    /// database works. At most one flush runs; everything that touches the
    /// transaction first waits for it ([`Work::conn`]).
    async fn flush_rows(&mut self) -> Result<(), LedgerError> {
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
            sqlx::query("UPDATE allocations SET issued_fen = $1, paid_fen = $2 WHERE id = $3")
                .bind(a.issued_fen)
                .bind(a.paid_fen)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let mut dirty = Vec::new();
        for (origin, m) in &self.projects {
            for (code, p) in m {
                if p.dirty {
                    dirty.push((*origin, code.as_str(), p.target_count, p.paid_fen));
                }
            }
        }
        for (origin, code, target_count, paid_fen) in dirty {
            sqlx::query("UPDATE projects SET target_count = $1, paid_fen = $2 WHERE origin = $3 AND code = $4")
                .bind(target_count)
                .bind(paid_fen)
                .bind(origin.as_str())
                .bind(code)
                .execute(&mut *tx)
                .await?;
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
        if let Some((cache, copies)) = self.own_cache.take() {
            cache.keep(copies);
        }
        self.db.committed();
        Ok(())
    }
}

const PAYMENTS_INTO: &str =
    "payments (origin, seq, voucher_no, paid_on, amount_fen, allocation_id, project)";
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

/// Whether voucher number `no` is above an origin's largest one (`max`, as
/// in `Work::voucher_max`), so certainly not held.
fn above(max: Option<&Option<String>>, no: &str) -> bool {
    match max {
        Some(Some(m)) => no > m.as_str(),
        Some(None) => true,
        None => false,
    }
}

fn existing(
    what: &'static str,
    key: &str,
    found: (EntryId, bool),
) -> Result<Option<EntryId>, LedgerError> {
    match found {
        (id, true) => Ok(Some(id)),
        (_, false) => Err(LedgerError::Conflict {
            what,
            key: key.to_owned(),
        }),
    }
}

/// The serde name of a unit enum variant ("output", "quantity").
pub(crate) fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
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
