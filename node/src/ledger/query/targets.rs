//! The performance-target cycle (seed 003 第七–九条): a project's target
//! submissions with their review and approval (its history, old values
//! kept), and the 备案 list: every approved submission this node holds,
//! its own and its descendants' (they roll up), narrowed to the reader's
//! scope as the project list is.

use fundsync_protocol::{Actor, EntryId, NodeCode};
use serde::Serialize;

use super::{fetch_page, paged, Page, Paged};
use crate::access::Scope;
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

/// One submission of a target (its first, `set`, or an adjustment or
/// revision, `adjust`) and where it stands, with its project and indicator.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SubmissionView {
    /// The submitting entry.
    pub id: String,
    pub origin: String,
    pub project: String,
    pub project_name: String,
    pub department: String,
    /// The target (its `target_set` entry).
    pub target: String,
    pub level1: String,
    pub level2: String,
    pub indicator: String,
    pub unit: String,
    /// `set` or `adjust`.
    pub kind: String,
    pub op: String,
    pub value: String,
    /// What an adjustment replaces (in force or proposed when submitted).
    pub old_op: Option<String>,
    pub old_value: Option<String>,
    pub reason: String,
    pub submitted_on: Option<String>,
    /// submitted, returned, reviewed or approved.
    pub state: String,
    /// The review (`targets_reviewed` entry), its day, criteria and reasons.
    pub review: Option<String>,
    pub reviewed_on: Option<String>,
    pub necessity: Option<i64>,
    pub relevance: Option<i64>,
    pub fit: Option<i64>,
    pub reasons: Option<String>,
    /// The approval (`targets_approved` entry), its 文号 and day.
    pub approval: Option<String>,
    pub doc_no: Option<String>,
    pub approved_on: Option<String>,
    /// Who submitted, reviewed and approved, from the entries' signed bytes.
    #[sqlx(skip)]
    pub submitted_by: Option<Actor>,
    #[sqlx(skip)]
    pub reviewed_by: Option<Actor>,
    #[sqlx(skip)]
    pub approved_by: Option<Actor>,
}

const COLS: &str = "SELECT s.id AS id, s.origin AS origin, s.project AS project, \
     projects.name AS project_name, projects.department AS department, s.target AS target, \
     t.level1 AS level1, t.level2 AS level2, t.indicator AS indicator, t.unit AS unit, \
     s.kind AS kind, s.op AS op, s.value AS value, s.old_op AS old_op, s.old_value AS old_value, \
     s.reason AS reason, s.submitted_on AS submitted_on, s.state AS state, s.review AS review, \
     s.reviewed_on AS reviewed_on, s.necessity AS necessity, s.relevance AS relevance, \
     s.fit AS fit, s.reasons AS reasons, s.approval AS approval, s.doc_no AS doc_no, \
     s.approved_on AS approved_on \
     FROM target_submissions s JOIN targets t ON t.id = s.target \
     JOIN projects ON projects.origin = s.origin AND projects.code = s.project";

/// Filters for the 备案 list and the reader's scope.
#[derive(Debug, Clone)]
pub struct FilingFilter {
    /// Approved submissions of this node's projects only.
    pub origin: Option<NodeCode>,
    pub project: Option<String>,
    /// Whom the list is for; never read from a query string.
    pub scope: Scope,
}

impl Ledger {
    async fn fill_cycle_actors(&self, items: &mut [SubmissionView]) -> Result<(), LedgerError> {
        let mut ids: Vec<EntryId> = Vec::new();
        for s in items.iter() {
            for id in [Some(&s.id), s.review.as_ref(), s.approval.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Ok(id) = id.parse() {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        ids.dedup();
        let found = self.actors_of(&ids).await?;
        let get = |id: Option<&String>| {
            id.and_then(|i| i.parse::<EntryId>().ok())
                .and_then(|i| found.get(&i).cloned())
        };
        for s in items.iter_mut() {
            s.submitted_by = get(Some(&s.id));
            s.reviewed_by = get(s.review.as_ref());
            s.approved_by = get(s.approval.as_ref());
        }
        Ok(())
    }

    /// Every target submission of a project, oldest first: the history of
    /// its targets, each value proposed, reviewed and approved.
    pub async fn target_submissions(
        &self,
        origin: NodeCode,
        code: &str,
    ) -> Result<Vec<SubmissionView>, LedgerError> {
        let mut sql = Sql::new(COLS);
        sql.filter_eq("s.origin", Some(origin.to_string()))
            .filter_eq("s.project", Some(code.to_owned()));
        sql.push(" ORDER BY s.seq");
        let mut items: Vec<SubmissionView> = sql.query_as()?.fetch_all(self.db().read()).await?;
        self.fill_cycle_actors(&mut items).await?;
        Ok(items)
    }

    /// This node's own project's submissions standing at `state`
    /// (`submitted`: awaiting review; `reviewed`: awaiting approval), oldest
    /// first: what a review or approval that names none decides.
    pub async fn submissions_standing(
        &self,
        code: &str,
        state: &str,
    ) -> Result<Vec<EntryId>, LedgerError> {
        Ok(self
            .target_submissions(self.identity().code, code)
            .await?
            .into_iter()
            .filter(|s| s.state == state)
            .filter_map(|s| s.id.parse().ok())
            .collect())
    }

    /// The 备案 list: approved target submissions, newest approval first,
    /// narrowed to `f.scope` as the project list is.
    pub async fn target_filings(
        &self,
        f: FilingFilter,
        page: Page,
    ) -> Result<Paged<SubmissionView>, LedgerError> {
        let hidden = self.hidden_classified(&f.scope).await?;
        let mut sql = Sql::new(COLS);
        sql.filter_eq("s.state", Some("approved".to_owned()))
            .filter_eq("s.origin", f.origin.map(|c| c.to_string()))
            .filter_eq("s.project", f.project);
        Self::scope_conditions(&mut sql, &f.scope, hidden);
        sql.push(" ORDER BY s.approved_on DESC, s.origin, s.seq");
        let (mut rows, more) = fetch_page::<SubmissionView>(self, sql, page).await?;
        self.fill_cycle_actors(&mut rows).await?;
        Ok(paged(rows, page, more))
    }
}
