//! `spot_check_finding`: what a spot check found of one evaluation of its
//! sample (符合 / 不符合, with notes; table `spot_check_findings`). One per
//! spot check and evaluation: the same again is a retry, other fields a
//! conflict. A 不符合 finding is rectified (整改) through the follow-up
//! entries (`follow_up_assigned` / `follow_up_recorded` naming the
//! finding), by the node that found it. Rolled up like payments; never
//! sent down.

use fundsync_protocol::body::SpotCheckFinding;
use fundsync_protocol::{Entry, EntryId};

use super::self_evaluation_recorded::eval_row;
use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &SpotCheckFinding,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let ours: Option<String> =
        sqlx::query_scalar("SELECT id FROM spot_checks WHERE id = $1 AND origin = $2")
            .bind(b.spot_check.to_string())
            .bind(me.as_str())
            .fetch_optional(w.conn().await?)
            .await?;
    if ours.is_none() {
        return Err(LedgerError::UnknownSpotCheck(b.spot_check));
    }
    let sampled: Option<String> = sqlx::query_scalar(
        "SELECT evaluation FROM spot_check_samples WHERE spot_check = $1 AND evaluation = $2",
    )
    .bind(b.spot_check.to_string())
    .bind(b.evaluation.to_string())
    .fetch_optional(w.conn().await?)
    .await?;
    if sampled.is_none() {
        return Err(match eval_row(w.conn().await?, b.evaluation).await? {
            Some(_) => LedgerError::NotInSample {
                evaluation: b.evaluation,
                spot_check: b.spot_check,
            },
            None => LedgerError::UnknownEvaluation(b.evaluation),
        });
    }
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM spot_check_findings WHERE spot_check = $1 AND evaluation = $2",
    )
    .bind(b.spot_check.to_string())
    .bind(b.evaluation.to_string())
    .fetch_optional(w.conn().await?)
    .await?;
    if let Some(id) = existing {
        let id = parse_id(&id)?;
        if w.same_body(id, encoded).await? {
            return Ok(Some(id));
        }
        return Err(LedgerError::Conflict {
            what: "finding",
            key: format!("{} {}", b.spot_check, b.evaluation),
        });
    }
    Ok(None)
}

/// A finding is of its spot check's own chain.
pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    r: &Received<'_>,
    b: &SpotCheckFinding,
) -> Result<(), LedgerError> {
    if b.spot_check.origin == r.entry.origin {
        return Ok(());
    }
    r.refuse(format!(
        "a node records findings of its own spot checks only; {} is {}'s",
        b.spot_check, b.spot_check.origin
    ))
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: SpotCheckFinding,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO spot_check_findings (id, origin, spot_check, evaluation, verdict, notes, \
         found_on) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.id().to_string())
    .bind(e.origin.as_str())
    .bind(b.spot_check.to_string())
    .bind(b.evaluation.to_string())
    .bind(b.verdict.as_str())
    .bind(&b.notes)
    .bind(b.found_on.to_string())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
