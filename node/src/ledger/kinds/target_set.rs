//! `target_set`: a node sets a performance target of one of its projects;
//! a project without one cannot receive funds (seed 003 §7). The entry is
//! also the target's first submission (`target_submissions`), awaiting
//! review (`targets_reviewed`) and approval (`targets_approved`).

use fundsync_protocol::body::TargetSet;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::seq_i64;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &TargetSet,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    w.project(me, &b.project)
        .await?
        .ok_or_else(|| LedgerError::UnknownProject(b.project.clone()))?;
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &TargetSet,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: TargetSet,
) -> Result<(), LedgerError> {
    let o = e.origin;
    sqlx::query(
        "INSERT INTO targets (id, origin, project, level1, level2, indicator, op, value, unit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.id().to_string())
    .bind(o.as_str())
    .bind(&b.project)
    .bind(enum_str(&b.level1))
    .bind(enum_str(&b.level2))
    .bind(&b.indicator)
    .bind(b.op.as_str())
    .bind(b.value.to_string())
    .bind(&b.unit)
    .execute(w.conn().await?)
    .await?;
    sqlx::query(
        "INSERT INTO target_submissions (id, origin, seq, project, target, kind, op, value, \
         reason, state) VALUES ($1, $2, $3, $4, $5, 'set', $6, $7, '', 'submitted')",
    )
    .bind(e.id().to_string())
    .bind(o.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(&b.project)
    .bind(e.id().to_string())
    .bind(b.op.as_str())
    .bind(b.value.to_string())
    .execute(w.conn().await?)
    .await?;
    if let Some(p) = w.project(o, &b.project).await? {
        p.target_count += 1;
        p.unapproved = p.unapproved.checked_add(1).ok_or(LedgerError::Overflow)?;
        p.dirty = true;
    }
    Ok(())
}

/// The serde name of a unit enum variant ("output", "quantity").
fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
