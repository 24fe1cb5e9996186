//! `self_evaluation_recorded`: a project's year-end self-evaluation (绩效自评,
//! seed 003 §13), recorded by the node owning the project: per indicator
//! the actual and the officer's completion, whether the target is met (the
//! target as the ledger holds it), the reasons for shortfalls and the
//! measures to come (tables `self_evaluations`,
//! `self_evaluation_indicators`). One per project and year: the same again
//! is a retry, other fields a conflict. Rolled up like payments; never
//! sent down.

use std::str::FromStr;

use fundsync_protocol::body::{SelfEvaluationRecorded, TargetOp};
use fundsync_protocol::{Entry, EntryId, NodeCode};
use rust_decimal::Decimal;
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{corrupt, parse_id, seq_i64};

/// A target of a project as the ledger holds it.
struct HeldTarget {
    indicator: String,
    op: String,
    value: String,
    unit: String,
}

async fn held_target(
    w: &mut Work<'_>,
    origin: NodeCode,
    project: &str,
    target: EntryId,
) -> Result<Option<HeldTarget>, LedgerError> {
    let r = sqlx::query(
        "SELECT indicator, op, value, unit FROM targets \
         WHERE id = $1 AND origin = $2 AND project = $3",
    )
    .bind(target.to_string())
    .bind(origin.as_str())
    .bind(project)
    .fetch_optional(w.conn().await?)
    .await?;
    let Some(r) = r else { return Ok(None) };
    Ok(Some(HeldTarget {
        indicator: r.try_get(0)?,
        op: r.try_get(1)?,
        value: r.try_get(2)?,
        unit: r.try_get(3)?,
    }))
}

/// Whether `actual` meets the target.
fn met(t: &HeldTarget, actual: Decimal) -> Result<bool, LedgerError> {
    let op: TargetOp = serde_json::from_value(serde_json::Value::String(t.op.clone()))
        .map_err(|_| corrupt("target op"))?;
    let value = Decimal::from_str(&t.value).map_err(|_| corrupt("target value"))?;
    Ok(op.met(actual, value))
}

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &SelfEvaluationRecorded,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    if w.project(me, &b.project).await?.is_none() {
        return Err(LedgerError::UnknownProject(b.project.clone()));
    }
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM self_evaluations WHERE origin = $1 AND project = $2 AND year = $3",
    )
    .bind(me.as_str())
    .bind(&b.project)
    .bind(i64::from(b.year))
    .fetch_optional(w.conn().await?)
    .await?;
    if let Some(id) = existing {
        let id = parse_id(&id)?;
        if w.same_body(id, encoded).await? {
            return Ok(Some(id));
        }
        return Err(LedgerError::Conflict {
            what: "self-evaluation",
            key: format!("{} {}", b.project, b.year),
        });
    }
    // Every indicator a target of this project; a shortfall explained.
    let mut short = false;
    for i in &b.indicators {
        let Some(t) = held_target(w, me, &b.project, i.target).await? else {
            return Err(LedgerError::NotProjectTarget {
                target: i.target,
                project: b.project.clone(),
            });
        };
        short |= !met(&t, i.actual)?;
    }
    if short && b.shortfall.trim().is_empty() {
        return Err(LedgerError::ShortfallUnexplained);
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &SelfEvaluationRecorded,
) -> Result<(), LedgerError> {
    // The project and its targets are the origin's own, of the same chain.
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: SelfEvaluationRecorded,
) -> Result<(), LedgerError> {
    let id = e.id().to_string();
    let project =
        sqlx::query("SELECT department, budget_fen FROM projects WHERE origin = $1 AND code = $2")
            .bind(e.origin.as_str())
            .bind(&b.project)
            .fetch_optional(w.conn().await?)
            .await?;
    let (department, budget_fen): (String, i64) = match project {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (String::new(), 0),
    };
    let mut met_n = 0i64;
    for i in &b.indicators {
        let t = held_target(w, e.origin, &b.project, i.target)
            .await?
            .unwrap_or(HeldTarget {
                indicator: String::new(),
                op: String::new(),
                value: String::new(),
                unit: String::new(),
            });
        let ok = !t.op.is_empty() && met(&t, i.actual)?;
        met_n += i64::from(ok);
        sqlx::query(
            "INSERT INTO self_evaluation_indicators (evaluation, target, indicator, op, value, \
             unit, actual, completion, met) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(i.target.to_string())
        .bind(&t.indicator)
        .bind(&t.op)
        .bind(&t.value)
        .bind(&t.unit)
        .bind(i.actual.to_string())
        .bind(i.completion.to_string())
        .bind(i64::from(ok))
        .execute(w.conn().await?)
        .await?;
    }
    let n = i64::try_from(b.indicators.len()).map_err(|_| LedgerError::Overflow)?;
    sqlx::query(
        "INSERT INTO self_evaluations (id, origin, seq, project, year, department, budget_fen, \
         indicators, met, shortfall, measures, evaluated_on, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(&b.project)
    .bind(i64::from(b.year))
    .bind(&department)
    .bind(budget_fen)
    .bind(n)
    .bind(met_n)
    .bind(&b.shortfall)
    .bind(&b.measures)
    .bind(b.evaluated_on.to_string())
    .bind(e.at_ms)
    .execute(w.conn().await?)
    .await?;
    Ok(())
}

/// A self-evaluation as the reports and spot checks read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(in crate::ledger) struct EvalRow {
    pub(in crate::ledger) origin: String,
    pub(in crate::ledger) year: i64,
    pub(in crate::ledger) department: String,
    pub(in crate::ledger) budget_fen: i64,
    pub(in crate::ledger) indicators: i64,
    pub(in crate::ledger) met: i64,
}

pub(in crate::ledger) const EVAL_ROW_COLS: &str =
    "SELECT origin, year, department, budget_fen, indicators, met FROM self_evaluations";

/// The self-evaluation `id`, if this node holds one.
pub(in crate::ledger) async fn eval_row(
    conn: &mut sqlx::AnyConnection,
    id: EntryId,
) -> Result<Option<EvalRow>, LedgerError> {
    Ok(
        sqlx::query_as::<_, EvalRow>(&format!("{EVAL_ROW_COLS} WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?,
    )
}

/// Whether `code` is `root` or below it, by the parents this node knows.
pub(in crate::ledger) async fn in_subtree(
    w: &mut Work<'_>,
    root: NodeCode,
    code: NodeCode,
) -> Result<bool, LedgerError> {
    let mut at = Some(code);
    // The tree is three levels deep; a few more steps bound a corrupt loop.
    for _ in 0..8 {
        match at {
            Some(c) if c == root => return Ok(true),
            Some(c) => at = w.node(c).await?.and_then(|n| n.2),
            None => return Ok(false),
        }
    }
    Ok(false)
}
