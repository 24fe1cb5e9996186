//! `project_status_changed`: a node moves one of its projects through its
//! states (a cancelled project receives no more payments). A project
//! enters the library as 实施 (in progress) only with every target
//! approved (seed 003 §7, when the node's rules ask for approval).

use fundsync_protocol::body::{ProjectStatus, ProjectStatusChanged};
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &ProjectStatusChanged,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let required = w.rules.target_approval_required;
    let p = w
        .project(me, &b.project)
        .await?
        .ok_or_else(|| LedgerError::UnknownProject(b.project.clone()))?;
    let starting = b.status == ProjectStatus::InProgress && p.status != b.status.as_str();
    if required && starting && (p.target_count == 0 || p.unapproved > 0) {
        return Err(LedgerError::TargetsNotApproved {
            project: b.project.clone(),
            unapproved: p.unapproved,
            total: p.target_count,
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &ProjectStatusChanged,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: ProjectStatusChanged,
) -> Result<(), LedgerError> {
    let o = e.origin;
    sqlx::query("UPDATE projects SET status = $1 WHERE origin = $2 AND code = $3")
        .bind(b.status.as_str())
        .bind(o.as_str())
        .bind(&b.project)
        .execute(w.conn().await?)
        .await?;
    if let Some(p) = w.projects.get_mut(&o).and_then(|m| m.get_mut(&b.project)) {
        p.status = b.status.as_str().to_owned();
    }
    Ok(())
}
