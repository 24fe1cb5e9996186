//! `project_registered`: a node registers a project it pays into (the
//! `projects` table; its running totals are kept by the transaction's
//! cache). A new project has no targets, so where the node's rules ask for
//! approved targets it enters as planned (or cancelled), never as 实施 or
//! completed: it starts by a status change once its targets are approved.

use fundsync_protocol::body::{ProjectRegistered, ProjectStatus};
use fundsync_protocol::{Entry, EntryId};
use sqlx::Row;

use super::{existing, Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &ProjectRegistered,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let row = sqlx::query("SELECT id FROM projects WHERE origin = $1 AND code = $2")
        .bind(w.me.code.as_str())
        .bind(&b.code)
        .fetch_optional(w.conn().await?)
        .await?;
    if let Some(r) = row {
        let id = parse_id(&r.try_get::<String, _>(0)?)?;
        let same = w.same_body(id, encoded).await?;
        return existing("project", &b.code, (id, same));
    }
    let started = matches!(
        b.status,
        ProjectStatus::InProgress | ProjectStatus::Completed
    );
    if w.rules.target_approval_required && started {
        return Err(LedgerError::TargetsNotApproved {
            project: b.code.clone(),
            unapproved: 0,
            total: 0,
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &ProjectRegistered,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: ProjectRegistered,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO projects (id, origin, code, name, township, village, department, starts_on, ends_on, \
         budget_fen, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.id().to_string())
    .bind(e.origin.as_str())
    .bind(&b.code)
    .bind(&b.name)
    .bind(&b.township)
    .bind(&b.village)
    .bind(&b.department)
    .bind(b.starts_on.to_string())
    .bind(b.ends_on.to_string())
    .bind(b.budget.fen())
    .bind(b.status.as_str())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
