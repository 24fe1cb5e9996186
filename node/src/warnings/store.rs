//! The `warnings` table: written only by `Work::apply` (through [`insert`]
//! and [`resolve`]), read by the evaluator, the API and the pages.

use std::collections::BTreeMap;

use fundsync_protocol::body::{WarningRaised, WarningResolved};
use fundsync_protocol::{EntryId, NodeCode};
use sqlx::{AnyConnection, Row};

use crate::ledger::{Ledger, LedgerError};
use crate::store::StoreError;

fn corrupt(what: String) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt(what))
}

fn parse_id(s: &str) -> Result<EntryId, LedgerError> {
    s.parse()
        .map_err(|_| corrupt(format!("bad warning id {s:?}")))
}

fn seq_i64(seq: u64) -> Result<i64, LedgerError> {
    i64::try_from(seq).map_err(|_| LedgerError::Overflow)
}

// ---- inside the write transaction (Work) ----

/// The open warning `origin` raised under `rule` about `subject`, if any.
pub(crate) async fn open_warning(
    conn: &mut AnyConnection,
    origin: NodeCode,
    rule: &str,
    subject: &str,
) -> Result<Option<EntryId>, LedgerError> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM warnings WHERE origin = $1 AND rule = $2 AND subject = $3 \
         AND resolved_by IS NULL ORDER BY seq LIMIT 1",
    )
    .bind(origin.as_str())
    .bind(rule)
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    id.as_deref().map(parse_id).transpose()
}

/// Whether `origin` raised `warning`: `None` if not, `Some(None)` if it is
/// open, `Some(Some(entry))` if `entry` resolved it.
pub(crate) async fn resolution(
    conn: &mut AnyConnection,
    origin: NodeCode,
    warning: EntryId,
) -> Result<Option<Option<EntryId>>, LedgerError> {
    let row = sqlx::query("SELECT resolved_by FROM warnings WHERE id = $1 AND origin = $2")
        .bind(warning.to_string())
        .bind(origin.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let by: Option<String> = r.try_get(0)?;
    Ok(Some(by.as_deref().map(parse_id).transpose()?))
}

/// Applies a `warning_raised` entry.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    id: EntryId,
    at_ms: i64,
    b: &WarningRaised,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO warnings (id, origin, seq, rule, subject, node, message, amount_fen, as_of, raised_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(id.origin.as_str())
    .bind(seq_i64(id.seq)?)
    .bind(&b.rule)
    .bind(&b.subject)
    .bind(b.node.as_str())
    .bind(&b.message)
    .bind(b.amount.map(|a| a.fen()))
    .bind(b.as_of.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies a `warning_resolved` entry: only a warning of the same origin,
/// and only once.
pub(crate) async fn resolve(
    conn: &mut AnyConnection,
    id: EntryId,
    at_ms: i64,
    b: &WarningResolved,
) -> Result<(), LedgerError> {
    sqlx::query(
        "UPDATE warnings SET resolved_by = $1, resolved_ms = $2, resolved_as_of = $3, resolution = $4 \
         WHERE id = $5 AND origin = $6 AND resolved_by IS NULL",
    )
    .bind(id.to_string())
    .bind(at_ms)
    .bind(b.as_of.to_string())
    .bind(&b.reason)
    .bind(b.warning.to_string())
    .bind(id.origin.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- reads ----

pub use crate::ledger::query::{WarningFilter, WarningView};

/// Open warnings by rule, over everything this node holds (its subtree):
/// for the pages' badges and for metrics.
pub async fn open_counts(ledger: &Ledger) -> Result<BTreeMap<String, i64>, LedgerError> {
    ledger.open_warning_counts().await
}

/// A warning this node raised, for the evaluator's diff.
pub(crate) async fn known(
    ledger: &Ledger,
    origin: NodeCode,
) -> Result<Vec<super::rules::Known>, LedgerError> {
    Ok(ledger
        .warnings_raised_by(origin)
        .await?
        .into_iter()
        .map(|w| super::rules::Known {
            id: w.id,
            rule: w.rule,
            subject: w.subject,
            open: w.open,
        })
        .collect())
}
