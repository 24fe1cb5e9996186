//! `spot_check_recorded`: an ancestor's spot check (抽查, seed 003 §14) of
//! its subtree's self-evaluations for a year: the sample drawn, at random
//! from a seed or chosen (tables `spot_checks`, `spot_check_samples`). The
//! same year and title again is a retry, other fields a conflict. The
//! random draw is the caller's (the API's, from the seed over the
//! evaluations held then); the ledger checks what was drawn. Rolled up like
//! payments; never sent down.

use fundsync_protocol::body::SpotCheckRecorded;
use fundsync_protocol::{Entry, EntryId};

use super::self_evaluation_recorded::{eval_row, in_subtree};
use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{parse_id, seq_i64};

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &SpotCheckRecorded,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM spot_checks WHERE origin = $1 AND year = $2 AND title = $3",
    )
    .bind(me.as_str())
    .bind(i64::from(b.year))
    .bind(&b.title)
    .fetch_optional(w.conn().await?)
    .await?;
    if let Some(id) = existing {
        let id = parse_id(&id)?;
        if w.same_body(id, encoded).await? {
            return Ok(Some(id));
        }
        return Err(LedgerError::Conflict {
            what: "spot check",
            key: format!("{} {}", b.year, b.title),
        });
    }
    for &id in &b.sample {
        let Some(e) = eval_row(w.conn().await?, id).await? else {
            return Err(LedgerError::UnknownEvaluation(id));
        };
        if e.year != i64::from(b.year) {
            return Err(LedgerError::NotIncludable {
                item: id,
                why: format!("it evaluates {}, the spot check is of {}", e.year, b.year),
            });
        }
        if e.origin == me.as_str() {
            return Err(LedgerError::NotIncludable {
                item: id,
                why: "it is this node's own; a spot check samples the subtree below".into(),
            });
        }
    }
    Ok(None)
}

/// No honest node samples evaluations from outside the subtree below it.
pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &SpotCheckRecorded,
) -> Result<(), LedgerError> {
    let origin = r.entry.origin;
    for id in &b.sample {
        if id.origin == origin || !in_subtree(w, origin, id.origin).await? {
            return r.refuse(format!(
                "a spot check samples {id}, of {}, outside the subtree below {origin}",
                id.origin
            ));
        }
    }
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: SpotCheckRecorded,
) -> Result<(), LedgerError> {
    let id = e.id().to_string();
    sqlx::query(
        "INSERT INTO spot_checks (id, origin, seq, year, title, method, seed, checked_on, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(i64::from(b.year))
    .bind(&b.title)
    .bind(b.method.as_str())
    .bind(b.seed.map(|s| s.to_string()))
    .bind(b.checked_on.to_string())
    .bind(e.at_ms)
    .execute(w.conn().await?)
    .await?;
    for s in &b.sample {
        sqlx::query("INSERT INTO spot_check_samples (spot_check, evaluation) VALUES ($1, $2)")
            .bind(&id)
            .bind(s.to_string())
            .execute(w.conn().await?)
            .await?;
    }
    Ok(())
}
