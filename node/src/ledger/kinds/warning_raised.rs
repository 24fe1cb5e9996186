//! `warning_raised`: a node raises an early warning (预警) about itself or
//! one of its children (the `warnings` table, which only the ledger
//! writes; `warnings::store` reads it).

use fundsync_protocol::body::WarningRaised;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{parse_id, seq_i64};

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &WarningRaised,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    if b.node != me && !w.is_child(b.node).await? {
        return Err(LedgerError::WarningNode { node: b.node, me });
    }
    // The same warning still open: a retry, not a second warning.
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM warnings WHERE origin = $1 AND rule = $2 AND subject = $3 \
         AND resolved_by IS NULL ORDER BY seq LIMIT 1",
    )
    .bind(me.as_str())
    .bind(&b.rule)
    .bind(&b.subject)
    .fetch_optional(w.conn().await?)
    .await?;
    id.as_deref().map(parse_id).transpose()
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &WarningRaised,
) -> Result<(), LedgerError> {
    if b.node == r.entry.origin {
        return Ok(());
    }
    r.expect_child(
        w,
        b.node,
        "a node warns only about itself or its own children",
    )
    .await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: WarningRaised,
) -> Result<(), LedgerError> {
    let id = e.id();
    let (category, department) = about(w, e, &b.subject).await?;
    sqlx::query(
        "INSERT INTO warnings (id, origin, seq, rule, subject, node, message, amount_fen, as_of, \
         raised_ms, params, category, department) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO NOTHING",
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
    .bind(e.at_ms)
    .bind(
        b.params
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok()),
    )
    .bind(category)
    .bind(department)
    .execute(w.conn().await?)
    .await?;
    Ok(())
}

/// The fund category (of an allocation or a payment's allocation) or the
/// department (of a project) a warning is about, for the readers' scope.
/// What it names is of the warning's origin or above it, so it is held
/// here whenever the warning is; anything else is about neither.
async fn about(
    w: &mut Work<'_>,
    e: &Entry,
    subject: &str,
) -> Result<(Option<String>, Option<String>), LedgerError> {
    let conn = w.conn().await?;
    if let Some(id) = subject.strip_prefix("allocation:") {
        let c: Option<String> =
            sqlx::query_scalar("SELECT category FROM allocations WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        return Ok((c, None));
    }
    if let Some(id) = subject
        .strip_prefix("payment:")
        .and_then(|s| s.parse::<EntryId>().ok())
    {
        let c: Option<String> = sqlx::query_scalar(
            "SELECT a.category FROM payments p JOIN allocations a ON a.id = p.allocation_id \
             WHERE p.origin = $1 AND p.seq = $2",
        )
        .bind(id.origin.as_str())
        .bind(seq_i64(id.seq)?)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok((c, None));
    }
    if let Some(id) = subject.strip_prefix("target:") {
        let d: Option<String> = sqlx::query_scalar(
            "SELECT p.department FROM targets t JOIN projects p \
             ON p.origin = t.origin AND p.code = t.project WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok((None, d));
    }
    if let Some(code) = subject.strip_prefix("project:") {
        let d: Option<String> =
            sqlx::query_scalar("SELECT department FROM projects WHERE origin = $1 AND code = $2")
                .bind(e.origin.as_str())
                .bind(code)
                .fetch_optional(&mut *conn)
                .await?;
        return Ok((None, d));
    }
    Ok((None, None))
}
