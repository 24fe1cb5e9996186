//! `targets_reviewed`: the finance bureau reviews (审核) submitted targets
//! of one of its node's projects: necessity, relevance and fit to the
//! money (seed 003 第八条). Passed, the submissions may be approved;
//! returned, the department revises them (`target_adjusted`).

use fundsync_protocol::body::TargetsReviewed;
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

/// A target submission as the review and approval rules read it.
pub(in crate::ledger) struct Submission {
    pub(in crate::ledger) origin: String,
    pub(in crate::ledger) project: String,
    pub(in crate::ledger) target: String,
    pub(in crate::ledger) op: String,
    pub(in crate::ledger) value: String,
    pub(in crate::ledger) state: String,
    pub(in crate::ledger) review: Option<EntryId>,
    pub(in crate::ledger) approval: Option<EntryId>,
    pub(in crate::ledger) doc_no: Option<String>,
}

pub(in crate::ledger) async fn submission(
    w: &mut Work<'_>,
    id: EntryId,
) -> Result<Option<Submission>, LedgerError> {
    let row = sqlx::query(
        "SELECT origin, project, target, op, value, state, review, approval, doc_no \
         FROM target_submissions WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(w.conn().await?)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let opt_id = |s: Option<String>| s.map(|s| parse_id(&s)).transpose();
    Ok(Some(Submission {
        origin: r.try_get(0)?,
        project: r.try_get(1)?,
        target: r.try_get(2)?,
        op: r.try_get(3)?,
        value: r.try_get(4)?,
        state: r.try_get(5)?,
        review: opt_id(r.try_get(6)?)?,
        approval: opt_id(r.try_get(7)?)?,
        doc_no: r.try_get(8)?,
    }))
}

/// The submissions `ids` of `project`, each this node's own (local rules).
pub(in crate::ledger) async fn own_submissions(
    w: &mut Work<'_>,
    project: &str,
    ids: &[EntryId],
) -> Result<Vec<(EntryId, Submission)>, LedgerError> {
    let me = w.me.code;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let s = submission(w, id)
            .await?
            .ok_or(LedgerError::UnknownSubmission(id))?;
        // Another node's (a descendant's, held here as it rolled up) is
        // decided by that node's own bureau, never here.
        if s.origin != me.as_str() {
            return Err(LedgerError::NotOwnTarget(id));
        }
        out.push((id, s));
    }
    w.project(me, project)
        .await?
        .ok_or_else(|| LedgerError::UnknownProject(project.to_owned()))?;
    for (id, s) in &out {
        let id = *id;
        if s.project != project {
            return Err(LedgerError::SubmissionProject {
                submission: id,
                project: s.project.clone(),
                named: project.to_owned(),
            });
        }
    }
    Ok(out)
}

/// An honest origin decides only its own project's submissions, which it
/// wrote before (in its own chain, so they are here).
pub(in crate::ledger) async fn origin_submissions(
    w: &mut Work<'_>,
    r: &Received<'_>,
    project: &str,
    ids: &[EntryId],
) -> Result<(), LedgerError> {
    let o = r.entry.origin;
    for &id in ids {
        match submission(w, id).await? {
            Some(s) if s.origin == o.as_str() && s.project == project => {}
            _ => {
                return r.refuse(format!(
                    "{id} is not a target submission of {o}'s project {project:?}"
                ))
            }
        }
    }
    Ok(())
}

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &TargetsReviewed,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let subs = own_submissions(w, &b.project, &b.submissions).await?;
    // The same review again (a form sent twice) is a retry.
    if let Some(first) = subs.first().and_then(|(_, s)| s.review) {
        if subs.iter().all(|(_, s)| s.review == Some(first)) && w.same_body(first, encoded).await? {
            return Ok(Some(first));
        }
    }
    for (id, s) in subs {
        if s.state != "submitted" {
            return Err(LedgerError::TargetNotPending {
                submission: id,
                state: s.state,
            });
        }
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &TargetsReviewed,
) -> Result<(), LedgerError> {
    origin_submissions(w, r, &b.project, &b.submissions).await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: TargetsReviewed,
) -> Result<(), LedgerError> {
    let state = if b.passed() { "reviewed" } else { "returned" };
    for id in &b.submissions {
        sqlx::query(
            "UPDATE target_submissions SET state = $1, review = $2, reviewed_on = $3, \
             necessity = $4, relevance = $5, fit = $6, reasons = $7 WHERE id = $8",
        )
        .bind(state)
        .bind(e.id().to_string())
        .bind(b.reviewed_on.to_string())
        .bind(i64::from(b.necessity))
        .bind(i64::from(b.relevance))
        .bind(i64::from(b.fit))
        .bind(&b.reasons)
        .bind(id.to_string())
        .execute(w.conn().await?)
        .await?;
        // A target not approved yet stands where its submission does; an
        // approved one stays approved while its adjustment is decided.
        sqlx::query(
            "UPDATE targets SET approval = $1 WHERE approval <> 'approved' \
             AND id = (SELECT target FROM target_submissions WHERE id = $2)",
        )
        .bind(state)
        .bind(id.to_string())
        .execute(w.conn().await?)
        .await?;
    }
    Ok(())
}
