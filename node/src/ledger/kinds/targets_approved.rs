//! `targets_approved`: the finance bureau approves (批复) reviewed targets
//! of one of its node's projects under a document number (seed 003 第九条).
//! The target takes the submission's value (an adjustment's old value stays
//! in its submission row); a project pays and starts only with every target
//! approved (when the node's rules ask for it). Rolled up like payments, so
//! every ancestor holds the approved targets (备案).

use fundsync_protocol::body::TargetsApproved;
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::targets_reviewed::{origin_submissions, own_submissions, submission};
use super::{Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &TargetsApproved,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let subs = own_submissions(w, &b.project, &b.submissions).await?;
    // The same approval again (a form sent twice) is a retry; approving
    // what is approved already, under another 文号, is refused.
    if let Some(first) = subs.first().and_then(|(_, s)| s.approval) {
        if subs.iter().all(|(_, s)| s.approval == Some(first))
            && w.same_body(first, encoded).await?
        {
            return Ok(Some(first));
        }
    }
    for (id, s) in subs {
        match s.state.as_str() {
            "reviewed" => {}
            "approved" => {
                return Err(LedgerError::AlreadyApproved {
                    submission: id,
                    doc_no: s.doc_no.unwrap_or_default(),
                })
            }
            _ => {
                return Err(LedgerError::TargetNotReviewed {
                    submission: id,
                    state: s.state,
                })
            }
        }
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &TargetsApproved,
) -> Result<(), LedgerError> {
    origin_submissions(w, r, &b.project, &b.submissions).await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: TargetsApproved,
) -> Result<(), LedgerError> {
    let o = e.origin;
    let mut newly = 0i64;
    for id in &b.submissions {
        let Some(s) = submission(w, *id).await? else {
            return Err(LedgerError::UnknownSubmission(*id));
        };
        sqlx::query(
            "UPDATE target_submissions SET state = 'approved', approval = $1, doc_no = $2, \
             approved_on = $3 WHERE id = $4",
        )
        .bind(e.id().to_string())
        .bind(&b.doc_no)
        .bind(b.approved_on.to_string())
        .bind(id.to_string())
        .execute(w.conn().await?)
        .await?;
        let was: Option<String> = sqlx::query("SELECT approval FROM targets WHERE id = $1")
            .bind(&s.target)
            .fetch_optional(w.conn().await?)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if was.as_deref() != Some("approved") {
            newly += 1;
        }
        sqlx::query(
            "UPDATE targets SET approval = 'approved', op = $1, value = $2, approved_doc = $3, \
             approved_on = $4 WHERE id = $5",
        )
        .bind(&s.op)
        .bind(&s.value)
        .bind(&b.doc_no)
        .bind(b.approved_on.to_string())
        .bind(&s.target)
        .execute(w.conn().await?)
        .await?;
    }
    if let Some(p) = w.project(o, &b.project).await? {
        p.unapproved = p
            .unapproved
            .checked_sub(newly)
            .ok_or(LedgerError::Overflow)?;
        p.dirty = true;
    }
    Ok(())
}
