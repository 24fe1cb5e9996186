//! `fundsync verify`: an auditor's check of a node's books.
//!
//! Replays the journal and compares what it says with everything derived
//! from it, without trusting any derived table: every entry's hash and body,
//! every chain's links and head, every stored checkpoint's signature against
//! the origin's registered key and against the entry it names, and the
//! money tables (`allocations` with their running sums, `payments`,
//! `payment_reversals`, `recalls`, `projects.paid_fen`, `payment_daily`,
//! the compiled self-evaluation reports' funds in `evaluation_reports`) recomputed
//! from the entries' bodies, and the target cycle's standing, which decides
//! whether a project may be paid (`target_submissions.state`,
//! `projects.targets_unapproved`). One read transaction, so a node that keeps
//! working while it is verified is seen at one instant.
//!
//! The journal is read a page at a time per origin and the `payments` rows
//! of the same seq range beside it, so memory grows with allocations,
//! projects and days, never with payments.

use std::collections::{BTreeMap, HashMap};

use fundsync_protocol::body::{AllocationIssued, FundsReceived, OwnBudgetAdded, PaymentRecorded};
use fundsync_protocol::{Body, Entry, Hash, KeyId, NodeCode, SignedCheckpoint};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::rows::{seq_i64, seq_u64};
use super::{Ledger, LedgerError};

/// Journal rows read per query.
const PAGE: i64 = 5_000;
/// Problems listed in a report; beyond it they are only counted.
const LISTED_MAX: usize = 1_000;

/// What a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// An entry's stored hash is not the hash of its fields.
    Hash,
    /// A chain has a gap or an entry does not link to its predecessor.
    Chain,
    /// `journal_heads` does not name a chain's last entry.
    Head,
    /// A body does not decode as its kind.
    Body,
    /// A stored checkpoint's signature does not verify, or its key is unknown.
    Signature,
    /// A stored checkpoint names a hash other than the entry's.
    Checkpoint,
    /// An allocation row differs from its entry, or its sums from the entries.
    Allocation,
    /// A payment row differs from its entry, or is missing or extra.
    Payment,
    /// A reversal row differs from its entry, or is missing or extra.
    Reversal,
    /// A recall row differs from its entry, or is missing or extra.
    Recall,
    /// A project's paid sum differs from its payments.
    Project,
    /// A day's payment sum differs from the payments of that day.
    Daily,
    /// A target submission's standing, or a project's count of targets not
    /// approved, differs from the reviews and approvals in the journal.
    Target,
    /// A compiled self-evaluation report's row (its funds and counts)
    /// differs from its entry, or is missing or extra.
    Evaluation,
}

/// One difference between the journal and what is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub check: Check,
    /// The entry, row or key it is about (`652800-17`, an allocation id …).
    pub subject: String,
    pub detail: String,
}

/// What `verify` looked at and what it found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub node: String,
    pub entries: u64,
    /// Origins whose whole chain this node holds (its own, its descendants').
    pub chains: u64,
    /// Stored checkpoints, each verified against its origin's key.
    pub checkpoints: u64,
    /// Entries of other origins' chains covered by a verified checkpoint.
    pub signed_entries: u64,
    pub allocations: u64,
    pub payments: u64,
    pub reversals: u64,
    /// Every problem found; only the first `LISTED_MAX` are in `problems`.
    pub problems_total: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems_total == 0
    }

    fn problem(&mut self, check: Check, subject: impl Into<String>, detail: impl Into<String>) {
        self.problems_total += 1;
        if self.problems.len() < LISTED_MAX {
            self.problems.push(Problem {
                check,
                subject: subject.into(),
                detail: detail.into(),
            });
        }
    }
}

/// An allocation as its entry says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllocRow {
    kind: String,
    doc_no: String,
    category: String,
    amount_fen: i64,
    from_node: Option<String>,
    holder: String,
    source_id: Option<String>,
    dated: String,
    title: String,
}

/// A payment as its entry says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PayRow {
    voucher_no: String,
    paid_on: String,
    amount_fen: i64,
    allocation_id: String,
    project: String,
}

/// A reversal as its entry says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReversalRow {
    origin: String,
    payment_seq: i64,
    reversed_on: String,
    amount_fen: i64,
    reason: String,
}

/// Running sums recomputed from the journal.
#[derive(Default)]
struct Expected {
    allocs: HashMap<String, AllocRow>,
    /// Sum of allocations issued from each source id.
    issued: HashMap<String, i64>,
    /// Net payments per allocation id.
    paid: HashMap<String, i64>,
    /// Net payments per (origin, project code).
    project_paid: HashMap<(String, String), i64>,
    /// (allocation id, day) -> (holder, net fen, net count).
    daily: BTreeMap<(String, String), (String, i64, i64)>,
    reversals: HashMap<String, ReversalRow>,
    /// Recalls in journal order, resolved against the allocations once
    /// every origin is read (the allocation may be another origin's).
    recalls: Vec<(String, RecallRow)>,
    /// Returned per allocation id.
    recalled: HashMap<String, i64>,
    /// Target submission id -> (target id, state), in journal order.
    submissions: HashMap<String, (String, &'static str)>,
    /// Target id -> (origin, project code).
    targets: HashMap<String, (String, String)>,
    /// Compiled reports' (funds fen, indicators, met) by entry id.
    reports: HashMap<String, (i64, i64, i64)>,
}

/// A recall as its entry says it is (`source_id` and `from_node` from the
/// allocation it returns).
#[derive(Debug, Clone, PartialEq, Eq)]
struct RecallRow {
    origin: String,
    allocation_id: String,
    source_id: String,
    from_node: String,
    doc_no: String,
    amount_fen: i64,
    recalled_on: String,
    purpose: String,
    reason: String,
}

fn add(map_value: &mut i64, fen: i64, r: &mut VerifyReport, subject: &str) {
    match map_value.checked_add(fen) {
        Some(v) => *map_value = v,
        None => r.problem(Check::Allocation, subject, "sum overflows"),
    }
}

impl Ledger {
    /// Checks this node's books against its journal; see the module docs.
    /// Fails only when the database cannot be read; what it finds wrong is
    /// in the report.
    pub async fn verify(&self) -> Result<VerifyReport, LedgerError> {
        let mut tx = self.db().read().begin().await?;
        if self.db().dialect().name() == "postgres" {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let mut r = VerifyReport {
            node: self.identity().code.to_string(),
            ..VerifyReport::default()
        };
        let mut x = Expected::default();

        let heads: HashMap<String, (i64, Vec<u8>)> =
            sqlx::query("SELECT origin, seq, hash FROM journal_heads")
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
                .collect::<Result<_, sqlx::Error>>()?;
        let origins: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT origin FROM journal ORDER BY origin")
                .fetch_all(&mut *tx)
                .await?;
        r.chains = u64::try_from(heads.len()).unwrap_or(u64::MAX);
        for h in heads.keys() {
            if !origins.contains(h) {
                r.problem(
                    Check::Head,
                    h.as_str(),
                    "a head is stored for an origin with no entries",
                );
            }
        }
        // Checked checkpoints: origin -> the highest seq a valid one covers.
        let signed = checkpoints(&mut tx, &mut r).await?;
        for origin in &origins {
            let head = heads.get(origin);
            journal_of(&mut tx, origin, head, &signed, &mut r, &mut x).await?;
        }
        resolve_recalls(&mut r, &mut x);
        compare_allocations(&mut tx, &mut r, &x).await?;
        compare_recalls(&mut tx, &mut r, &x).await?;
        compare_reversals(&mut tx, &mut r, &x).await?;
        compare_projects(&mut tx, &mut r, &x).await?;
        compare_daily(&mut tx, &mut r, &x).await?;
        compare_targets(&mut tx, &mut r, &x).await?;
        compare_reports(&mut tx, &mut r, &x).await?;
        tx.rollback().await?;
        Ok(r)
    }
}

/// Verifies every stored checkpoint; returns, per origin, the highest seq
/// covered by one that verified and names the journal's own hash there
/// (compared later, as the journal is read).
async fn checkpoints(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
) -> Result<HashMap<String, Vec<(i64, Hash)>>, LedgerError> {
    let keys: HashMap<(String, String), Vec<u8>> =
        sqlx::query("SELECT origin, key_id, public_key FROM node_keys")
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|row| Ok(((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let rows = sqlx::query(
        "SELECT origin, seq, head, key_id, at_ms, signature FROM checkpoints ORDER BY origin, seq",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut out: HashMap<String, Vec<(i64, Hash)>> = HashMap::new();
    for row in rows {
        let origin: String = row.try_get(0)?;
        let seq: i64 = row.try_get(1)?;
        let head: Vec<u8> = row.try_get(2)?;
        let key_id: String = row.try_get(3)?;
        let at_ms: i64 = row.try_get(4)?;
        let signature: Vec<u8> = row.try_get(5)?;
        r.checkpoints += 1;
        let subject = format!("checkpoint {origin}-{seq}");
        let parsed = (|| {
            let c = fundsync_protocol::Checkpoint {
                origin: origin.parse::<NodeCode>().ok()?,
                seq: seq_u64(seq).ok()?,
                head: Hash::from_slice(&head)?,
                key_id: key_id.parse::<KeyId>().ok()?,
                at_ms,
            };
            Some(SignedCheckpoint {
                checkpoint: c,
                signature: signature.as_slice().try_into().ok()?,
            })
        })();
        let Some(sc) = parsed else {
            r.problem(
                Check::Signature,
                subject,
                "the stored checkpoint is malformed",
            );
            continue;
        };
        let key = keys
            .get(&(origin.clone(), key_id.clone()))
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
        let Some(key) = key else {
            r.problem(
                Check::Signature,
                subject,
                format!("no registered key {key_id} of {origin}"),
            );
            continue;
        };
        if let Err(e) = sc.verify(&key) {
            r.problem(Check::Signature, subject, e.to_string());
            continue;
        }
        out.entry(origin)
            .or_default()
            .push((seq, sc.checkpoint.head));
    }
    Ok(out)
}

/// Reads one origin's entries a page at a time, checking hashes, links and
/// bodies, and the payments rows of each page against its entries.
async fn journal_of(
    tx: &mut Transaction<'static, Any>,
    origin: &str,
    head: Option<&(i64, Vec<u8>)>,
    signed: &HashMap<String, Vec<(i64, Hash)>>,
    r: &mut VerifyReport,
    x: &mut Expected,
) -> Result<(), LedgerError> {
    let code: NodeCode = match origin.parse() {
        Ok(c) => c,
        Err(_) => {
            r.problem(
                Check::Body,
                origin,
                "the journal holds an invalid origin code",
            );
            return Ok(());
        }
    };
    let chain = head.is_some();
    let cps = signed.get(origin).map(Vec::as_slice).unwrap_or(&[]);
    let mut cp_at = 0;
    let signed_upto = cps.last().map_or(0, |c| c.0);
    let mut last: Option<(i64, Hash)> = None;
    loop {
        let after = last.map_or(0, |l| l.0);
        let rows = sqlx::query(
            "SELECT seq, at_ms, prev_hash, hash, kind, body FROM journal \
             WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(origin)
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut **tx)
        .await?;
        let Some(page_end) = rows
            .last()
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()?
        else {
            break;
        };
        let mut payments: BTreeMap<i64, PayRow> = BTreeMap::new();
        for row in rows {
            let seq: i64 = row.try_get(0)?;
            let id = format!("{origin}-{seq}");
            let prev: Vec<u8> = row.try_get(2)?;
            let stored: Vec<u8> = row.try_get(3)?;
            let e = Entry {
                origin: code,
                seq: seq_u64(seq)?,
                at_ms: row.try_get(1)?,
                prev_hash: Hash::from_slice(&prev).unwrap_or(Hash::ZERO),
                kind: row.try_get(4)?,
                body: row.try_get(5)?,
            };
            r.entries += 1;
            let hash = e.hash();
            if stored.as_slice() != hash.0 {
                r.problem(Check::Hash, &id, "the stored hash is not the entry's hash");
            }
            if chain {
                let (want_seq, want_prev) = last.map_or((1, Hash::ZERO), |(s, h)| (s + 1, h));
                if seq != want_seq {
                    r.problem(Check::Chain, &id, format!("expected seq {want_seq} here"));
                } else if prev.as_slice() != want_prev.0 {
                    r.problem(
                        Check::Chain,
                        &id,
                        "does not link to the hash of its predecessor",
                    );
                }
            }
            while cp_at < cps.len() && cps[cp_at].0 < seq {
                r.problem(
                    Check::Checkpoint,
                    format!("checkpoint {origin}-{}", cps[cp_at].0),
                    "names an entry this node does not hold",
                );
                cp_at += 1;
            }
            if cp_at < cps.len() && cps[cp_at].0 == seq {
                if cps[cp_at].1 != hash {
                    r.problem(
                        Check::Checkpoint,
                        format!("checkpoint {origin}-{seq}"),
                        "the origin signed another hash for this entry",
                    );
                }
                cp_at += 1;
            }
            if seq <= signed_upto {
                r.signed_entries += 1;
            }
            last = Some((seq, hash));
            match e.decode_body() {
                Ok(body) => expect(&e, &id, body, &mut payments, tx, r, x).await?,
                Err(err) => r.problem(Check::Body, &id, err.to_string()),
            }
        }
        compare_payments(tx, origin, after, page_end, &payments, r).await?;
    }
    if let Some((hseq, hhash)) = head {
        match last {
            Some((s, h)) if s == *hseq && h.0.as_slice() == hhash.as_slice() => {}
            Some((s, _)) => r.problem(
                Check::Head,
                origin,
                format!("the stored head is seq {hseq}; the chain ends at {s}"),
            ),
            None => {}
        }
    }
    Ok(())
}

/// Adds what one entry derives to the expected tables.
async fn expect(
    e: &Entry,
    id: &str,
    body: Body,
    payments: &mut BTreeMap<i64, PayRow>,
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &mut Expected,
) -> Result<(), LedgerError> {
    let o = e.origin.to_string();
    let alloc = |kind: &str,
                 doc_no: &str,
                 category: &str,
                 amount_fen: i64,
                 from_node: Option<String>,
                 holder: String,
                 source_id: Option<String>,
                 dated: String,
                 title: &str| AllocRow {
        kind: kind.to_owned(),
        doc_no: doc_no.to_owned(),
        category: category.to_owned(),
        amount_fen,
        from_node,
        holder,
        source_id,
        dated,
        title: title.to_owned(),
    };
    match body {
        Body::FundsReceived(FundsReceived {
            doc_no,
            category,
            amount,
            received_on,
            title,
            ..
        }) => {
            x.allocs.insert(
                id.to_owned(),
                alloc(
                    "received",
                    &doc_no,
                    &category,
                    amount.fen(),
                    None,
                    o,
                    None,
                    received_on.to_string(),
                    &title,
                ),
            );
        }
        Body::OwnBudgetAdded(OwnBudgetAdded {
            doc_no,
            category,
            amount,
            budgeted_on,
            title,
            ..
        }) => {
            x.allocs.insert(
                id.to_owned(),
                alloc(
                    "own_budget",
                    &doc_no,
                    &category,
                    amount.fen(),
                    None,
                    o,
                    None,
                    budgeted_on.to_string(),
                    &title,
                ),
            );
        }
        Body::AllocationIssued(AllocationIssued {
            doc_no,
            category,
            amount,
            to,
            source,
            issued_on,
            title,
            ..
        }) => {
            let src = source.to_string();
            add(
                x.issued.entry(src.clone()).or_default(),
                amount.fen(),
                r,
                &src,
            );
            x.allocs.insert(
                id.to_owned(),
                alloc(
                    "issued",
                    &doc_no,
                    &category,
                    amount.fen(),
                    Some(o),
                    to.to_string(),
                    Some(src),
                    issued_on.to_string(),
                    &title,
                ),
            );
        }
        Body::PaymentRecorded(PaymentRecorded {
            voucher_no,
            paid_on,
            amount,
            allocation,
            project,
            ..
        }) => {
            r.payments += 1;
            let fen = amount.fen();
            let a = allocation.to_string();
            add(x.paid.entry(a.clone()).or_default(), fen, r, &a);
            add(
                x.project_paid
                    .entry((o.clone(), project.clone()))
                    .or_default(),
                fen,
                r,
                &project,
            );
            daily(x, &a, &paid_on.to_string(), &o, fen, 1, r);
            payments.insert(
                seq_i64(e.seq)?,
                PayRow {
                    voucher_no,
                    paid_on: paid_on.to_string(),
                    amount_fen: fen,
                    allocation_id: a,
                    project,
                },
            );
        }
        Body::PaymentReversed(b) => {
            r.reversals += 1;
            // The payment it reverses, found through the payments row and
            // confirmed against that payment's own entry.
            let seq: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM payments WHERE origin = $1 AND voucher_no = $2",
            )
            .bind(&o)
            .bind(&b.voucher_no)
            .fetch_optional(&mut **tx)
            .await?;
            let paid = match seq {
                Some(seq) => payment_entry(tx, e.origin, seq, &b.voucher_no).await?,
                None => None,
            };
            let Some((pseq, p)) = paid else {
                r.problem(
                    Check::Reversal,
                    id,
                    format!(
                        "reverses voucher {} of which no payment is held",
                        b.voucher_no
                    ),
                );
                return Ok(());
            };
            let fen = p.amount.fen();
            let a = p.allocation.to_string();
            add(x.paid.entry(a.clone()).or_default(), -fen, r, &a);
            add(
                x.project_paid
                    .entry((o.clone(), p.project.clone()))
                    .or_default(),
                -fen,
                r,
                &p.project,
            );
            let day = b.reversed_on.max(p.paid_on).to_string();
            daily(x, &a, &day, &o, -fen, -1, r);
            x.reversals.insert(
                id.to_owned(),
                ReversalRow {
                    origin: o,
                    payment_seq: pseq,
                    reversed_on: b.reversed_on.to_string(),
                    amount_fen: fen,
                    reason: b.reason,
                },
            );
        }
        Body::TargetSet(b) => {
            x.targets.insert(id.to_owned(), (o, b.project));
            x.submissions
                .insert(id.to_owned(), (id.to_owned(), "submitted"));
        }
        Body::TargetAdjusted(b) => {
            x.submissions
                .insert(id.to_owned(), (b.target.to_string(), "submitted"));
        }
        Body::TargetsReviewed(b) => {
            let state = if b.passed() { "reviewed" } else { "returned" };
            for sid in b.submissions {
                if let Some(sub) = x.submissions.get_mut(&sid.to_string()) {
                    sub.1 = state;
                }
            }
        }
        Body::TargetsApproved(b) => {
            for sid in b.submissions {
                if let Some(sub) = x.submissions.get_mut(&sid.to_string()) {
                    sub.1 = "approved";
                }
            }
        }
        Body::EvaluationReportCompiled(b) => {
            let fen = b
                .funds
                .checked_mul(rust_decimal::Decimal::from(100))
                .and_then(|f| i64::try_from(f).ok());
            match fen {
                Some(fen) => {
                    x.reports.insert(
                        id.to_owned(),
                        (fen, i64::from(b.indicators), i64::from(b.met)),
                    );
                }
                None => r.problem(Check::Evaluation, id, "its funds are not a sum of fen"),
            }
        }
        Body::FundsRecalled(b) => {
            x.recalls.push((
                id.to_owned(),
                RecallRow {
                    origin: o,
                    allocation_id: b.allocation.to_string(),
                    source_id: String::new(),
                    from_node: String::new(),
                    doc_no: b.doc_no,
                    amount_fen: b.amount.fen(),
                    recalled_on: b.recalled_on.to_string(),
                    purpose: b.purpose.as_str().to_owned(),
                    reason: b.reason,
                },
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Each recall returns its amount from the allocation to the allocation's
/// source: the allocation's `recalled_fen` grows, the source's `issued_fen`
/// shrinks.
fn resolve_recalls(r: &mut VerifyReport, x: &mut Expected) {
    for (id, row) in &mut x.recalls {
        let Some(a) = x.allocs.get(&row.allocation_id) else {
            r.problem(
                Check::Recall,
                id.as_str(),
                "returns an allocation with no entry here",
            );
            continue;
        };
        let (Some(src), Some(from)) = (a.source_id.clone(), a.from_node.clone()) else {
            r.problem(
                Check::Recall,
                id.as_str(),
                "returns an allocation no parent issued",
            );
            continue;
        };
        row.source_id = src.clone();
        row.from_node = from;
        let fen = row.amount_fen;
        add(
            x.recalled.entry(row.allocation_id.clone()).or_default(),
            fen,
            r,
            id,
        );
        add(x.issued.entry(src).or_default(), -fen, r, id);
    }
}

async fn compare_recalls(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows = sqlx::query(
        "SELECT id, origin, allocation_id, source_id, from_node, doc_no, amount_fen, recalled_on, \
         purpose, reason FROM recalls",
    )
    .fetch_all(&mut **tx)
    .await?;
    let want: HashMap<&str, &RecallRow> = x
        .recalls
        .iter()
        .map(|(id, row)| (id.as_str(), row))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let got = RecallRow {
            origin: row.try_get(1)?,
            allocation_id: row.try_get(2)?,
            source_id: row.try_get(3)?,
            from_node: row.try_get(4)?,
            doc_no: row.try_get(5)?,
            amount_fen: row.try_get(6)?,
            recalled_on: row.try_get(7)?,
            purpose: row.try_get(8)?,
            reason: row.try_get(9)?,
        };
        match want.get(id.as_str()) {
            Some(w) if **w != got => r.problem(Check::Recall, &id, differs(*w, &got)),
            Some(_) => {}
            None => r.problem(Check::Recall, &id, "a recall row with no recall entry"),
        }
        seen.insert(id);
    }
    for id in want.keys() {
        if !seen.contains(*id) {
            r.problem(Check::Recall, *id, "a recall entry with no row");
        }
    }
    Ok(())
}

fn daily(
    x: &mut Expected,
    alloc: &str,
    day: &str,
    holder: &str,
    fen: i64,
    n: i64,
    r: &mut VerifyReport,
) {
    let slot = x
        .daily
        .entry((alloc.to_owned(), day.to_owned()))
        .or_insert_with(|| (holder.to_owned(), 0, 0));
    match (slot.1.checked_add(fen), slot.2.checked_add(n)) {
        (Some(f), Some(c)) => {
            slot.1 = f;
            slot.2 = c;
        }
        _ => r.problem(Check::Daily, format!("{alloc} {day}"), "sum overflows"),
    }
}

/// The payment entry at `origin`-`seq`, if it is a payment with that voucher.
async fn payment_entry(
    tx: &mut Transaction<'static, Any>,
    origin: NodeCode,
    seq: i64,
    voucher_no: &str,
) -> Result<Option<(i64, PaymentRecorded)>, LedgerError> {
    let row = sqlx::query(
        "SELECT at_ms, prev_hash, kind, body FROM journal WHERE origin = $1 AND seq = $2",
    )
    .bind(origin.as_str())
    .bind(seq)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let prev: Vec<u8> = row.try_get(1)?;
    let e = Entry {
        origin,
        seq: seq_u64(seq)?,
        at_ms: row.try_get(0)?,
        prev_hash: Hash::from_slice(&prev).unwrap_or(Hash::ZERO),
        kind: row.try_get(2)?,
        body: row.try_get(3)?,
    };
    Ok(match e.decode_body() {
        Ok(Body::PaymentRecorded(p)) if p.voucher_no == voucher_no => Some((seq, p)),
        _ => None,
    })
}

/// The payments rows of `origin` with `after < seq <= upto` against the
/// payments that page of the journal holds.
async fn compare_payments(
    tx: &mut Transaction<'static, Any>,
    origin: &str,
    after: i64,
    upto: i64,
    expected: &BTreeMap<i64, PayRow>,
    r: &mut VerifyReport,
) -> Result<(), LedgerError> {
    let rows = sqlx::query(
        "SELECT seq, voucher_no, paid_on, amount_fen, allocation_id, project FROM payments \
         WHERE origin = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
    )
    .bind(origin)
    .bind(after)
    .bind(upto)
    .fetch_all(&mut **tx)
    .await?;
    let mut seen = 0;
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        let got = PayRow {
            voucher_no: row.try_get(1)?,
            paid_on: row.try_get(2)?,
            amount_fen: row.try_get(3)?,
            allocation_id: row.try_get(4)?,
            project: row.try_get(5)?,
        };
        let id = format!("{origin}-{seq}");
        match expected.get(&seq) {
            Some(want) => {
                seen += 1;
                if *want != got {
                    r.problem(Check::Payment, id, differs(want, &got));
                }
            }
            None => r.problem(Check::Payment, id, "a payment row with no payment entry"),
        }
    }
    if seen < expected.len() {
        for seq in expected.keys() {
            let held: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM payments WHERE origin = $1 AND seq = $2")
                    .bind(origin)
                    .bind(*seq)
                    .fetch_optional(&mut **tx)
                    .await?;
            if held.is_none() {
                r.problem(
                    Check::Payment,
                    format!("{origin}-{seq}"),
                    "a payment entry with no payment row",
                );
            }
        }
    }
    Ok(())
}

fn differs<T: std::fmt::Debug>(want: &T, got: &T) -> String {
    format!("stored {got:?}, the entry says {want:?}")
}

async fn compare_allocations(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows = sqlx::query(
        "SELECT id, kind, doc_no, category, amount_fen, from_node, holder, source_id, dated, title, \
         issued_fen, paid_fen, recalled_fen FROM allocations",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        r.allocations += 1;
        let id: String = row.try_get(0)?;
        let got = AllocRow {
            kind: row.try_get(1)?,
            doc_no: row.try_get(2)?,
            category: row.try_get(3)?,
            amount_fen: row.try_get(4)?,
            from_node: row.try_get(5)?,
            holder: row.try_get(6)?,
            source_id: row.try_get(7)?,
            dated: row.try_get(8)?,
            title: row.try_get(9)?,
        };
        let issued: i64 = row.try_get(10)?;
        let paid: i64 = row.try_get(11)?;
        let recalled: i64 = row.try_get(12)?;
        let Some(want) = x.allocs.get(&id) else {
            r.problem(Check::Allocation, id, "an allocation row with no entry");
            continue;
        };
        if *want != got {
            r.problem(Check::Allocation, &id, differs(want, &got));
        }
        let want_issued = x.issued.get(&id).copied().unwrap_or(0);
        if issued != want_issued {
            r.problem(
                Check::Allocation,
                &id,
                format!("issued {issued} fen stored, the entries issue {want_issued}"),
            );
        }
        let want_recalled = x.recalled.get(&id).copied().unwrap_or(0);
        if recalled != want_recalled {
            r.problem(
                Check::Allocation,
                &id,
                format!("recalled {recalled} fen stored, the recalls add up to {want_recalled}"),
            );
        }
        let want_paid = x.paid.get(&id).copied().unwrap_or(0);
        if paid != want_paid {
            r.problem(
                Check::Allocation,
                &id,
                format!("paid {paid} fen stored, the payments add up to {want_paid}"),
            );
        }
        seen.insert(id);
    }
    for id in x.allocs.keys() {
        if !seen.contains(id) {
            r.problem(Check::Allocation, id, "an allocation entry with no row");
        }
    }
    Ok(())
}

async fn compare_reversals(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows = sqlx::query(
        "SELECT id, origin, payment_seq, reversed_on, amount_fen, reason FROM payment_reversals",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let got = ReversalRow {
            origin: row.try_get(1)?,
            payment_seq: row.try_get(2)?,
            reversed_on: row.try_get(3)?,
            amount_fen: row.try_get(4)?,
            reason: row.try_get(5)?,
        };
        match x.reversals.get(&id) {
            Some(want) if *want != got => r.problem(Check::Reversal, &id, differs(want, &got)),
            Some(_) => {}
            None => r.problem(
                Check::Reversal,
                &id,
                "a reversal row with no reversal entry",
            ),
        }
        seen.insert(id);
    }
    for id in x.reversals.keys() {
        if !seen.contains(id) {
            r.problem(Check::Reversal, id, "a reversal entry with no row");
        }
    }
    Ok(())
}

async fn compare_projects(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows = sqlx::query("SELECT origin, code, paid_fen FROM projects")
        .fetch_all(&mut **tx)
        .await?;
    for row in rows {
        let origin: String = row.try_get(0)?;
        let code: String = row.try_get(1)?;
        let paid: i64 = row.try_get(2)?;
        let want = x
            .project_paid
            .get(&(origin.clone(), code.clone()))
            .copied()
            .unwrap_or(0);
        if paid != want {
            r.problem(
                Check::Project,
                format!("{origin} {code}"),
                format!("paid {paid} fen stored, the payments add up to {want}"),
            );
        }
    }
    Ok(())
}

/// Each submission's standing as its reviews and approvals say; a target
/// is approved once any submission of it is; a project's count of targets
/// not approved, which decides whether it may be paid.
async fn compare_targets(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows = sqlx::query("SELECT id, state FROM target_submissions")
        .fetch_all(&mut **tx)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        match x.submissions.get(&id) {
            None => r.problem(Check::Target, &id, "a target submission with no entry"),
            Some((_, want)) if *want != state => r.problem(
                Check::Target,
                &id,
                format!("{state} stored, the journal says {want}"),
            ),
            Some(_) => {}
        }
        seen.insert(id);
    }
    for id in x.submissions.keys().filter(|id| !seen.contains(*id)) {
        r.problem(Check::Target, id, "a target submission entry with no row");
    }
    let approved: std::collections::HashSet<&str> = x
        .submissions
        .values()
        .filter(|(_, s)| *s == "approved")
        .map(|(t, _)| t.as_str())
        .collect();
    let mut unapproved: HashMap<(String, String), i64> = HashMap::new();
    for (t, key) in &x.targets {
        if !approved.contains(t.as_str()) {
            *unapproved.entry(key.clone()).or_default() += 1;
        }
    }
    let rows = sqlx::query("SELECT origin, code, targets_unapproved FROM projects")
        .fetch_all(&mut **tx)
        .await?;
    for row in rows {
        let origin: String = row.try_get(0)?;
        let code: String = row.try_get(1)?;
        let stored: i64 = row.try_get(2)?;
        let want = unapproved
            .get(&(origin.clone(), code.clone()))
            .copied()
            .unwrap_or(0);
        if stored != want {
            r.problem(
                Check::Target,
                format!("{origin} {code}"),
                format!("{stored} targets not approved stored, the journal says {want}"),
            );
        }
    }
    Ok(())
}

/// The compiled reports' money (and counts) against their entries.
async fn compare_reports(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows = sqlx::query("SELECT id, funds_fen, indicators, met FROM evaluation_reports")
        .fetch_all(&mut **tx)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let got: (i64, i64, i64) = (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        match x.reports.get(&id) {
            None => r.problem(Check::Evaluation, id.as_str(), "a report row with no entry"),
            Some(want) if *want != got => r.problem(
                Check::Evaluation,
                id.as_str(),
                format!("stored (funds fen, indicators, met) {got:?}, the entry says {want:?}"),
            ),
            Some(_) => {}
        }
        seen.insert(id);
    }
    for id in x.reports.keys().filter(|id| !seen.contains(*id)) {
        r.problem(Check::Evaluation, id.as_str(), "a report entry with no row");
    }
    Ok(())
}

async fn compare_daily(
    tx: &mut Transaction<'static, Any>,
    r: &mut VerifyReport,
    x: &Expected,
) -> Result<(), LedgerError> {
    let rows =
        sqlx::query("SELECT allocation_id, day, holder, paid_fen, payments FROM payment_daily")
            .fetch_all(&mut **tx)
            .await?;
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let key: (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let got: (String, i64, i64) = (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
        let subject = format!("{} {}", key.0, key.1);
        match x.daily.get(&key) {
            Some(want) if *want != got => r.problem(Check::Daily, subject, differs(want, &got)),
            Some(_) => {}
            // A day whose payments were all reversed may keep a zero row.
            None if got.1 == 0 && got.2 == 0 => {}
            None => r.problem(Check::Daily, subject, "a day's sum with no payments"),
        }
        seen.insert(key);
    }
    for (key, want) in &x.daily {
        if !seen.contains(key) && (want.1 != 0 || want.2 != 0) {
            r.problem(
                Check::Daily,
                format!("{} {}", key.0, key.1),
                "payments of a day with no stored sum",
            );
        }
    }
    Ok(())
}

/// The background check (`verify_every_ms`): verifies the books every
/// `every_ms` until `stop` turns true; logs what it found, publishes it as
/// `fundsync_verify_problems`, and raises an alarm (the node's own, shown
/// with its sync alarms) when anything differs.
pub async fn run_every(
    ledger: Ledger,
    every_ms: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let me = ledger.identity().code;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(every_ms)) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let started = std::time::Instant::now();
        match ledger.verify().await {
            Ok(r) => {
                crate::telemetry::verified(me.as_str(), r.problems_total);
                if r.ok() {
                    tracing::info!(
                        entries = r.entries,
                        took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "books verified against the journal"
                    );
                } else {
                    let first = r
                        .problems
                        .first()
                        .map(|p| format!("{:?} {}: {}", p.check, p.subject, p.detail))
                        .unwrap_or_default();
                    ledger
                        .alarm(
                            me,
                            None,
                            "verify",
                            &format!(
                                "{} difference(s) between the books and the journal; first: {first}; run `fundsync verify` for all",
                                r.problems_total
                            ),
                        )
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not verify the books"),
        }
    }
}
