//! What the early-warning rules read: a node's allocations with what was
//! issued and paid from each by date, its projects, its payment entries,
//! and when each child was last heard from. Typed here; the rules
//! (`warnings/`) turn them into their own facts.

use chrono::NaiveDate;
use fundsync_protocol::{EntryId, NodeCode};
use rust_decimal::Decimal;

use crate::ledger::rows::{corrupt, parse_code, parse_date, parse_id, seq_i64, seq_u64};
use crate::ledger::{Ledger, LedgerError};

/// An allocation a node holds.
#[derive(Debug, Clone)]
pub struct HeldAllocation {
    pub id: EntryId,
    /// `received`, `own_budget` or `issued`.
    pub kind: String,
    pub doc_no: String,
    pub category: String,
    pub dated: NaiveDate,
    pub amount_fen: i64,
    pub issued_fen: i64,
    pub paid_fen: i64,
}

#[derive(sqlx::FromRow)]
struct HeldAllocationRow {
    id: String,
    kind: String,
    doc_no: String,
    category: String,
    dated: String,
    amount_fen: i64,
    issued_fen: i64,
    paid_fen: i64,
}

/// An allocation a node issued down, by the allocation it was carved from.
#[derive(Debug, Clone)]
pub struct IssuedFrom {
    pub source: EntryId,
    pub dated: NaiveDate,
    pub amount_fen: i64,
}

#[derive(sqlx::FromRow)]
struct IssuedFromRow {
    source_id: Option<String>,
    dated: String,
    amount_fen: i64,
}

/// What a holder paid from one allocation on one day.
#[derive(Debug, Clone)]
pub struct PaidDay {
    pub allocation: EntryId,
    pub day: NaiveDate,
    pub paid_fen: i64,
}

#[derive(sqlx::FromRow)]
struct PaidDayRow {
    allocation_id: String,
    day: String,
    paid_fen: i64,
}

/// A project as the rules see it.
#[derive(Debug, Clone)]
pub struct ProjectRecord {
    pub id: EntryId,
    pub code: String,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub budget_fen: i64,
    pub paid_fen: i64,
    pub status: String,
    pub target_count: i64,
}

/// A performance target as the warning rules read it.
#[derive(Debug, Clone)]
pub struct TargetRecord {
    pub id: EntryId,
    pub project: String,
    pub project_name: String,
    pub status: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub indicator: String,
    /// As written (`>=`, `<=`, …).
    pub op: String,
    pub value: Decimal,
    pub unit: String,
    pub actual: Option<Decimal>,
}

#[derive(sqlx::FromRow)]
struct TargetRecordRow {
    id: String,
    project: String,
    project_name: String,
    status: String,
    starts_on: String,
    ends_on: String,
    indicator: String,
    op: String,
    value: String,
    unit: String,
    actual: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ProjectRecordRow {
    id: String,
    code: String,
    name: String,
    starts_on: String,
    ends_on: String,
    budget_fen: i64,
    paid_fen: i64,
    status: String,
    target_count: i64,
}

/// A `payment_recorded` entry's seq and body (JSON).
#[derive(Debug, Clone)]
pub struct PaymentBody {
    pub seq: u64,
    pub body: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct PaymentBodyRow {
    seq: i64,
    body: Vec<u8>,
}

/// A direct child and when it was last heard from.
#[derive(Debug, Clone)]
pub struct ChildHeard {
    pub code: NodeCode,
    pub name: String,
    /// When its latest entry was written, or, if none has arrived, when
    /// this node registered it.
    pub last_heard_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ChildRow {
    code: String,
    name: String,
    entry_id: Option<String>,
}

impl Ledger {
    /// The latest business date anything held is dated (allocations,
    /// payment days, target actuals), if any.
    pub async fn latest_business_date(&self) -> Result<Option<NaiveDate>, LedgerError> {
        let latest: Option<String> = sqlx::query_scalar(
            "SELECT MAX(d) FROM (SELECT MAX(dated) AS d FROM allocations \
             UNION ALL SELECT MAX(day) AS d FROM payment_daily \
             UNION ALL SELECT MAX(actual_on) AS d FROM targets) latest",
        )
        .fetch_one(self.db().read())
        .await?;
        latest.as_deref().map(parse_date).transpose()
    }

    /// Allocations `holder` holds, by id.
    pub async fn held_allocations(
        &self,
        holder: NodeCode,
    ) -> Result<Vec<HeldAllocation>, LedgerError> {
        let rows: Vec<HeldAllocationRow> = sqlx::query_as(
            "SELECT id, kind, doc_no, category, dated, amount_fen - recalled_fen AS amount_fen, \
             issued_fen, paid_fen FROM allocations WHERE holder = $1 ORDER BY id",
        )
        .bind(holder.as_str())
        .fetch_all(self.db().read())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(HeldAllocation {
                    id: parse_id(&r.id)?,
                    kind: r.kind,
                    doc_no: r.doc_no,
                    category: r.category,
                    dated: parse_date(&r.dated)?,
                    amount_fen: r.amount_fen,
                    issued_fen: r.issued_fen,
                    paid_fen: r.paid_fen,
                })
            })
            .collect()
    }

    /// Allocations `from` issued down that were carved from one of its own.
    pub async fn issued_from(&self, from: NodeCode) -> Result<Vec<IssuedFrom>, LedgerError> {
        let rows: Vec<IssuedFromRow> = sqlx::query_as(
            "SELECT source_id, dated, amount_fen - recalled_fen AS amount_fen FROM allocations \
             WHERE from_node = $1 AND kind = 'issued'",
        )
        .bind(from.as_str())
        .fetch_all(self.db().read())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(source) = r.source_id else { continue };
            out.push(IssuedFrom {
                source: parse_id(&source)?,
                dated: parse_date(&r.dated)?,
                amount_fen: r.amount_fen,
            });
        }
        Ok(out)
    }

    /// What `holder` paid, by allocation and day.
    pub async fn paid_days(&self, holder: NodeCode) -> Result<Vec<PaidDay>, LedgerError> {
        let rows: Vec<PaidDayRow> = sqlx::query_as(
            "SELECT allocation_id, day, paid_fen FROM payment_daily WHERE holder = $1",
        )
        .bind(holder.as_str())
        .fetch_all(self.db().read())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(PaidDay {
                    allocation: parse_id(&r.allocation_id)?,
                    day: parse_date(&r.day)?,
                    paid_fen: r.paid_fen,
                })
            })
            .collect()
    }

    /// The performance targets of `origin`'s projects, with their project's
    /// name, status and run and the latest actual, by id.
    pub async fn target_records(&self, origin: NodeCode) -> Result<Vec<TargetRecord>, LedgerError> {
        let rows: Vec<TargetRecordRow> = sqlx::query_as(
            "SELECT t.id AS id, t.project AS project, p.name AS project_name, p.status AS status, \
             p.starts_on AS starts_on, p.ends_on AS ends_on, t.indicator AS indicator, t.op AS op, \
             t.value AS value, t.unit AS unit, t.actual AS actual FROM targets t \
             JOIN projects p ON p.origin = t.origin AND p.code = t.project \
             WHERE t.origin = $1 ORDER BY t.id",
        )
        .bind(origin.as_str())
        .fetch_all(self.db().read())
        .await?;
        rows.into_iter()
            .map(|r| {
                let dec = |v: &str| {
                    v.parse::<Decimal>()
                        .map_err(|e| corrupt(format!("target {}: {v:?}: {e}", r.id)))
                };
                Ok(TargetRecord {
                    id: parse_id(&r.id)?,
                    value: dec(&r.value)?,
                    actual: r.actual.as_deref().map(dec).transpose()?,
                    starts_on: parse_date(&r.starts_on)?,
                    ends_on: parse_date(&r.ends_on)?,
                    project: r.project,
                    project_name: r.project_name,
                    status: r.status,
                    indicator: r.indicator,
                    op: r.op,
                    unit: r.unit,
                })
            })
            .collect()
    }

    /// The projects `origin` registered, by code.
    pub async fn project_records(
        &self,
        origin: NodeCode,
    ) -> Result<Vec<ProjectRecord>, LedgerError> {
        let rows: Vec<ProjectRecordRow> = sqlx::query_as(
            "SELECT id, code, name, starts_on, ends_on, budget_fen, paid_fen, status, target_count \
             FROM projects WHERE origin = $1 ORDER BY code",
        )
        .bind(origin.as_str())
        .fetch_all(self.db().read())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ProjectRecord {
                    id: parse_id(&r.id)?,
                    code: r.code,
                    name: r.name,
                    starts_on: parse_date(&r.starts_on)?,
                    ends_on: parse_date(&r.ends_on)?,
                    budget_fen: r.budget_fen,
                    paid_fen: r.paid_fen,
                    status: r.status,
                    target_count: r.target_count,
                })
            })
            .collect()
    }

    /// Up to `limit` of `origin`'s `payment_recorded` entries after seq
    /// `after`, ascending.
    pub async fn payment_bodies(
        &self,
        origin: NodeCode,
        after: u64,
        limit: i64,
    ) -> Result<Vec<PaymentBody>, LedgerError> {
        let rows: Vec<PaymentBodyRow> = sqlx::query_as(
            "SELECT seq, body FROM journal WHERE origin = $1 AND seq > $2 \
             AND kind = 'payment_recorded' ORDER BY seq LIMIT $3",
        )
        .bind(origin.as_str())
        .bind(seq_i64(after)?)
        .bind(limit)
        .fetch_all(self.db().read())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(PaymentBody {
                    seq: seq_u64(r.seq)?,
                    body: r.body,
                })
            })
            .collect()
    }

    /// Seqs of `origin`'s payments that were reversed.
    pub async fn reversed_payments(&self, origin: NodeCode) -> Result<Vec<i64>, LedgerError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT payment_seq FROM payment_reversals WHERE origin = $1",
        )
        .bind(origin.as_str())
        .fetch_all(self.db().read())
        .await?)
    }

    /// The codes of every node cut off, whether or not they parse.
    pub async fn revoked_codes(&self) -> Result<Vec<String>, LedgerError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT code FROM revocations")
                .fetch_all(self.db().read())
                .await?,
        )
    }

    /// `parent`'s direct children, by code, and when each was last heard
    /// from.
    pub async fn children_heard(&self, parent: NodeCode) -> Result<Vec<ChildHeard>, LedgerError> {
        let read = self.db().read();
        let rows: Vec<ChildRow> = sqlx::query_as(
            "SELECT code, name, entry_id FROM nodes WHERE parent = $1 ORDER BY code",
        )
        .bind(parent.as_str())
        .fetch_all(read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let head_ms: Option<i64> = sqlx::query_scalar(
                "SELECT j.at_ms FROM journal_heads h JOIN journal j ON j.origin = h.origin AND j.seq = h.seq \
                 WHERE h.origin = $1",
            )
            .bind(&r.code)
            .fetch_optional(read)
            .await?;
            let last_heard_ms = match (head_ms, r.entry_id) {
                (Some(ms), _) => Some(ms),
                (None, Some(entry)) => {
                    let e = parse_id(&entry)?;
                    sqlx::query_scalar("SELECT at_ms FROM journal WHERE origin = $1 AND seq = $2")
                        .bind(e.origin.as_str())
                        .bind(seq_i64(e.seq)?)
                        .fetch_optional(read)
                        .await?
                }
                (None, None) => None,
            };
            out.push(ChildHeard {
                code: parse_code(&r.code)?,
                name: r.name,
                last_heard_ms,
            });
        }
        Ok(out)
    }
}
