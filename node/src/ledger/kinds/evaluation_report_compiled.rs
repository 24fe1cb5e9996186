//! `evaluation_report_compiled`: a department's or the node's
//! self-evaluation report for a year (绩效自评报告, seed 003 §14), naming the
//! evaluations it covers and the reports it builds on, with its figures
//! (tables `evaluation_reports`, `evaluation_report_items`). Where it is
//! compiled the ledger checks what it names and that its figures are the
//! ledger's; where it arrives the figures are copied as the entry states
//! them (the evaluations below may arrive after it: a node pushes its own
//! chain first). Compiling again for the same year, scope and department
//! adds a newer version; the same fields again are a retry. Rolled up like
//! payments; never sent down.

use std::collections::BTreeSet;

use fundsync_protocol::body::{EvaluationReportCompiled, ReportScope};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Entry, EntryId};
use rust_decimal::Decimal;
use sqlx::Row;

use super::self_evaluation_recorded::{eval_row, in_subtree};
use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{parse_code, parse_id, seq_i64};

fn not_includable(item: EntryId, why: String) -> LedgerError {
    LedgerError::NotIncludable { item, why }
}

/// Yuan as fen, exactly (the body's `funds` has at most two decimals once
/// it passed the check).
fn fen_of(yuan: Decimal) -> Result<i64, LedgerError> {
    let f = yuan
        .checked_mul(Decimal::from(100))
        .ok_or(LedgerError::Overflow)?;
    if !f.fract().is_zero() {
        return Err(LedgerError::ReportFigures(format!(
            "funds {yuan} has more than two decimals"
        )));
    }
    i64::try_from(f).map_err(|_| LedgerError::Overflow)
}

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &EvaluationReportCompiled,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    // A retry of the current version.
    let latest: Option<String> = sqlx::query_scalar(
        "SELECT id FROM evaluation_reports WHERE origin = $1 AND year = $2 AND scope = $3 \
         AND department = $4 ORDER BY seq DESC LIMIT 1",
    )
    .bind(me.as_str())
    .bind(i64::from(b.year))
    .bind(b.scope.as_str())
    .bind(&b.department)
    .fetch_optional(w.conn().await?)
    .await?;
    if let Some(id) = latest {
        let id = parse_id(&id)?;
        if w.same_body(id, encoded).await? {
            return Ok(Some(id));
        }
    }
    let (mut indicators, mut met, mut fen) = (0i64, 0i64, 0i64);
    let listed: BTreeSet<EntryId> = b.evaluations.iter().copied().collect();
    for &id in &b.evaluations {
        let Some(e) = eval_row(w.conn().await?, id).await? else {
            return Err(LedgerError::UnknownEvaluation(id));
        };
        if e.year != i64::from(b.year) {
            return Err(not_includable(
                id,
                format!("it evaluates {}, the report is of {}", e.year, b.year),
            ));
        }
        if b.scope == ReportScope::Department {
            if e.origin != me.as_str() {
                return Err(not_includable(
                    id,
                    format!(
                        "it is of {}; a department's report covers this node's own projects",
                        e.origin
                    ),
                ));
            }
            if e.department != b.department {
                return Err(not_includable(
                    id,
                    format!(
                        "its project is of the department {:?}, the report of {:?}",
                        e.department, b.department
                    ),
                ));
            }
        }
        // Held here means of this node's subtree: an ancestor's or a
        // sibling's entries never arrive.
        indicators = indicators
            .checked_add(e.indicators)
            .ok_or(LedgerError::Overflow)?;
        met = met.checked_add(e.met).ok_or(LedgerError::Overflow)?;
        fen = fen.checked_add(e.budget_fen).ok_or(LedgerError::Overflow)?;
    }
    for &id in &b.reports {
        let r = sqlx::query("SELECT origin, year, scope FROM evaluation_reports WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(w.conn().await?)
            .await?;
        let Some(r) = r else {
            return Err(not_includable(id, "no compiled report held here".into()));
        };
        let (origin, year, scope): (String, i64, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if year != i64::from(b.year) {
            return Err(not_includable(
                id,
                format!("it is the report of {year}, this one of {}", b.year),
            ));
        }
        let origin = parse_code(&origin)?;
        let fits = match b.scope {
            ReportScope::Department => false,
            ReportScope::Node if origin == me => scope == ReportScope::Department.as_str(),
            ReportScope::Node => {
                scope == ReportScope::Node.as_str()
                    && w.node(origin).await?.and_then(|n| n.2) == Some(me)
            }
        };
        if !fits {
            return Err(not_includable(
                id,
                "a department's report compiles evaluations only; a node's, its own \
                 departments' reports and its children's node reports"
                    .into(),
            ));
        }
        // What it covers, this one covers too.
        let items: Vec<String> = sqlx::query_scalar(
            "SELECT item FROM evaluation_report_items WHERE report = $1 AND kind = 'evaluation'",
        )
        .bind(id.to_string())
        .fetch_all(w.conn().await?)
        .await?;
        for item in items {
            let item = parse_id(&item)?;
            if !listed.contains(&item) {
                return Err(LedgerError::ReportFigures(format!(
                    "report {id} covers evaluation {item}, which this report leaves out"
                )));
            }
        }
    }
    let counted = (i64::from(b.indicators), i64::from(b.met), fen_of(b.funds)?);
    if counted != (indicators, met, fen) {
        return Err(LedgerError::ReportFigures(format!(
            "it states {} indicators, {} met, {} yuan; the evaluations named hold {indicators}, \
             {met}, {} yuan",
            b.indicators,
            b.met,
            b.funds,
            fen_to_yuan(fen)
        )));
    }
    Ok(None)
}

/// No honest node names evaluations or reports from outside its subtree.
pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &EvaluationReportCompiled,
) -> Result<(), LedgerError> {
    let origin = r.entry.origin;
    for id in b.evaluations.iter().chain(&b.reports) {
        if !in_subtree(w, origin, id.origin).await? {
            return r.refuse(format!(
                "a report names {id}, of {}, outside {origin}'s subtree",
                id.origin
            ));
        }
    }
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: EvaluationReportCompiled,
) -> Result<(), LedgerError> {
    let id = e.id().to_string();
    let n = |v: usize| i64::try_from(v).map_err(|_| LedgerError::Overflow);
    sqlx::query(
        "INSERT INTO evaluation_reports (id, origin, seq, year, scope, department, evaluations, \
         reports, indicators, met, funds_fen, summary, compiled_on, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&id)
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(i64::from(b.year))
    .bind(b.scope.as_str())
    .bind(&b.department)
    .bind(n(b.evaluations.len())?)
    .bind(n(b.reports.len())?)
    .bind(i64::from(b.indicators))
    .bind(i64::from(b.met))
    .bind(fen_of(b.funds)?)
    .bind(&b.summary)
    .bind(b.compiled_on.to_string())
    .bind(e.at_ms)
    .execute(w.conn().await?)
    .await?;
    for (kind, items) in [("evaluation", &b.evaluations), ("report", &b.reports)] {
        for item in items {
            sqlx::query(
                "INSERT INTO evaluation_report_items (report, item, kind) VALUES ($1, $2, $3)",
            )
            .bind(&id)
            .bind(item.to_string())
            .bind(kind)
            .execute(w.conn().await?)
            .await?;
        }
    }
    Ok(())
}
