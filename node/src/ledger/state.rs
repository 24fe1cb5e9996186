//! The state of one write transaction ([`Work`]) and the rows it keeps in
//! memory: the hot derived rows it caches (allocations, projects,
//! vouchers, daily sums) and the journal and payment rows it buffers for
//! the next flush. Only types live here; what a `Work` does is in the
//! files beside it (`work.rs` records and dispatches, `tx.rs` flushes and
//! commits, `cache.rs` reads through the caches, `kinds/` checks and
//! projects each entry kind), which all import this file and none of which
//! imports another's `Work` methods, so the ledger's files form no ring.

// The transaction's caches are probed for every row of an import (a
// million look-ups by voucher number): std's SipHash was a fifth of the
// checking thread's time. foldhash is seeded per process, like std's.
use foldhash::HashMap;

use chrono::NaiveDate;
use fundsync_protocol::body::PaymentRecorded;
use fundsync_protocol::{DownState, Entry, EntryId, Hash, NodeCode};
use sqlx::{Any, Transaction};

use super::error::LedgerError;
use super::relay::OwnCache;
use super::rules::LedgerRules;
use super::Identity;
use crate::store::Db;

/// Per-origin head of the journal: the protocol's notion, shared with sync.
pub use fundsync_protocol::batch::Head;

/// A flush of buffered rows running in the background: hands the
/// transaction back when it succeeds, rolls it back (drops it) when not.
pub(super) type Flush = tokio::task::JoinHandle<Result<Transaction<'static, Any>, LedgerError>>;

/// The state of one write transaction. Its fields are the ledger's own:
/// the files beside this one (`tx`, `cache`, `down`, `own`, `kinds/*`)
/// read and write them.
pub struct Work<'l> {
    /// `None` while a flush holds it (`pending`), or after a flush failed.
    pub(super) tx: Option<Transaction<'static, Any>>,
    pub(super) pending: Option<Flush>,
    pub(super) db: Db,
    pub(super) me: &'l Identity,
    /// The node's own rules for what it records ([`LedgerRules`]); checked
    /// on local entries only.
    pub(super) rules: LedgerRules,
    /// Set while the ledger is restored behind its acknowledgement mark:
    /// nothing is appended to the own chain ([`super::restored`]).
    pub(super) restored: Option<super::restored::Restored>,
    pub(super) bind_max: usize,
    pub(super) dialect: &'static dyn crate::store::Dialect,
    pub(super) now_ms: i64,
    pub(super) heads: HashMap<NodeCode, Head>,
    pub(super) heads_dirty: Vec<NodeCode>,
    pub(super) allocs: HashMap<EntryId, Alloc>,
    /// Per origin, by code: nested so a look-up by `&str` allocates nothing.
    pub(super) projects: HashMap<NodeCode, HashMap<String, Proj>>,
    /// Per origin, by voucher number (`None`: looked up, not recorded).
    /// A number above `voucher_max` is absent without an entry here.
    pub(super) vouchers: HashMap<NodeCode, HashMap<String, Option<Voucher>>>,
    /// Per origin, the largest voucher number stored or recorded in this
    /// transaction (`None`: there is none), where the engine orders text
    /// bytewise. Only this transaction writes while it runs, so every
    /// voucher number above it is new without a look-up: treasury exports
    /// number vouchers in ascending order, so an import looks up almost
    /// nothing.
    pub(super) voucher_max: HashMap<NodeCode, Option<String>>,
    pub(super) journal: Vec<JournalRow>,
    pub(super) payments: Vec<PaymentRow>,
    pub(super) daily: HashMap<(EntryId, NaiveDate), Daily>,
    /// Per origin, by project code: the fund categories its payments drew
    /// on in this transaction, added to `project_categories` at commit.
    pub(super) drawn: HashMap<NodeCode, HashMap<String, Vec<String>>>,
    /// Payments inserted so far, until statistics have been refreshed.
    pub(super) flushed_payments: Option<usize>,
    /// Down streams to children appended to in this transaction.
    pub(super) down: HashMap<NodeCode, DownState>,
    /// Where copies of the own entries recorded here go once they commit,
    /// and the copies (the first `OWN_CACHE_ENTRIES_MAX` of
    /// them).
    pub(super) own_cache: Option<(OwnCache, Vec<Entry>)>,
}

impl std::fmt::Debug for Work<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("me", &self.me.code)
            .field("buffered_entries", &self.journal.len())
            .finish_non_exhaustive()
    }
}

/// Rows buffered before a flush; bounds memory on million-row imports.
pub(super) const FLUSH_ROWS: usize = 4096;

/// A journal row buffered for the next flush.
pub(super) struct JournalRow {
    pub(super) entry: Entry,
    pub(super) hash: Hash,
}

/// A payment row buffered for the next flush.
pub(super) struct PaymentRow {
    pub(super) id: EntryId,
    pub(super) p: PaymentRecorded,
}

#[derive(Debug, Clone)]
pub(super) struct Alloc {
    pub(super) holder: NodeCode,
    pub(super) category: String,
    pub(super) amount_fen: i64,
    pub(super) issued_fen: i64,
    pub(super) paid_fen: i64,
    /// Returned to its issuer (`funds_recalled`).
    pub(super) recalled_fen: i64,
    /// Its business date (received, budgeted or issued on): what is
    /// carved from it or paid from it may not be dated before.
    pub(super) dated: NaiveDate,
    pub(super) dirty: bool,
}

impl Alloc {
    pub(super) fn available_fen(&self) -> Result<i64, LedgerError> {
        self.amount_fen
            .checked_sub(self.issued_fen)
            .and_then(|v| v.checked_sub(self.paid_fen))
            .and_then(|v| v.checked_sub(self.recalled_fen))
            .ok_or(LedgerError::Overflow)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Proj {
    pub(super) status: String,
    pub(super) target_count: i64,
    /// How many of its targets are not approved (批复).
    pub(super) unapproved: i64,
    pub(super) paid_fen: i64,
    pub(super) dirty: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Voucher {
    pub(super) id: EntryId,
    pub(super) amount_fen: i64,
    pub(super) allocation: EntryId,
    pub(super) project: String,
    pub(super) paid_on: NaiveDate,
    pub(super) reversed: bool,
}

#[derive(Default)]
pub(super) struct Daily {
    pub(super) holder: Option<NodeCode>,
    pub(super) paid_fen: i64,
    pub(super) payments: i64,
}
