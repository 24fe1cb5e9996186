//! The project library (项目库): projects by status, fund category,
//! department and place, narrowed to the reader's scope; a project's
//! actuals with their notes, the allocations that fund it and the warnings
//! about it and its payments.
//!
//! A project names no fund category; it is funded by what its payments
//! draw on. So a project is classified (涉密) when any payment of it draws
//! on an allocation of a classified category, and a reader without the
//! grant does not see it; a department officer sees their department's
//! projects (the project's `department`).
//!
//! Neither reads the payments: a project's paid total is the running sum
//! `projects.paid_fen` (kept by the write transaction, reversals
//! subtracting), and the categories its payments draw on are the rows of
//! `project_categories` (migration 0021, kept likewise), so the list costs
//! the same at ten million payments as at ten.

use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Actor, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{fetch_page, paged, AllocationView, Page, Paged, ProjectView, WarningView};
use crate::access::Scope;
use crate::ledger::rows::parse_id;
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

/// Filters for the project list (all optional) and the reader's scope.
#[derive(Debug, Clone)]
pub struct ProjectFilter {
    pub origin: Option<NodeCode>,
    pub status: Option<String>,
    /// Projects paid from allocations of this fund category.
    pub category: Option<String>,
    pub department: Option<String>,
    /// Text in the township or the village.
    pub place: Option<String>,
    /// Whom the list is for; never read from a query string.
    pub scope: Scope,
}

impl Default for ProjectFilter {
    fn default() -> Self {
        ProjectFilter {
            origin: None,
            status: None,
            category: None,
            department: None,
            place: None,
            scope: Scope::all(),
        }
    }
}

/// One actual recorded against a target, with its note and evidence.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ActualView {
    /// The entry that recorded it.
    pub id: String,
    pub target: String,
    pub actual: String,
    pub recorded_on: String,
    pub note: String,
    /// The evidence reference (佐证材料: a document number or file
    /// reference; empty if none, as before protocol version 6).
    pub evidence: String,
    /// Who recorded it, from the entry's signed bytes.
    pub actor: Option<Actor>,
}

/// The latest actual of one target of a project running in a year, with
/// its note and evidence reference: what a self-evaluation draws on.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct LatestActual {
    pub project: String,
    /// The entry that set the target.
    pub target: String,
    pub indicator: String,
    pub unit: String,
    pub actual: String,
    pub recorded_on: String,
    pub note: String,
    /// 佐证材料 (empty before protocol version 6, or when none is named).
    pub evidence: String,
}

/// An allocation a project's payments draw on, with what they drew.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Funding {
    pub allocation: AllocationView,
    /// Paid to this project from it (reversed payments left out).
    pub paid: Decimal,
    pub payments: i64,
}

const COLS: &str = "SELECT id, origin, code, name, township, village, department, starts_on, \
     ends_on, budget_fen, status, paid_fen, target_count FROM projects";

#[derive(sqlx::FromRow)]
struct ListRow {
    id: String,
    origin: String,
    code: String,
    name: String,
    township: String,
    village: String,
    department: String,
    starts_on: String,
    ends_on: String,
    budget_fen: i64,
    status: String,
    paid_fen: i64,
    target_count: i64,
}

impl From<ListRow> for ProjectView {
    fn from(r: ListRow) -> Self {
        ProjectView {
            id: r.id,
            origin: r.origin,
            code: r.code,
            name: r.name,
            township: r.township,
            village: r.village,
            department: r.department,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            budget: fen_to_yuan(r.budget_fen),
            status: r.status,
            paid: fen_to_yuan(r.paid_fen),
            target_count: r.target_count,
            targets: None,
            actor: None,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ActualRow {
    id: String,
    target: String,
    actual: String,
    recorded_on: String,
    note: String,
    evidence: String,
}

#[derive(sqlx::FromRow)]
struct FundingRow {
    allocation_id: String,
    paid_fen: i64,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: String,
}

#[derive(sqlx::FromRow)]
struct TargetOwner {
    origin: String,
    project: String,
}

/// `LIKE` pattern for text anywhere, its wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Ledger {
    /// The codes of the categories `scope` hides for being classified.
    pub(super) async fn hidden_classified(
        &self,
        scope: &Scope,
    ) -> Result<Vec<String>, LedgerError> {
        if scope.classified {
            return Ok(Vec::new());
        }
        Ok(self
            .categories()
            .await?
            .into_iter()
            .filter(|c| c.classified)
            .map(|c| c.code)
            .collect())
    }

    /// Adds the scope's conditions on `projects` (aliased as itself).
    pub(super) fn scope_conditions(sql: &mut Sql<'_>, scope: &Scope, hidden: Vec<String>) {
        match scope.department.as_deref() {
            // A bound officer with no department sees no department's.
            Some("") => {
                sql.and_where().push("1 = 0");
            }
            Some(d) => {
                sql.and_where().push("department = ").bind(d.to_owned());
            }
            None => {}
        }
        if !hidden.is_empty() {
            sql.and_where()
                .push(
                    "NOT EXISTS (SELECT 1 FROM project_categories pc \
                     WHERE pc.origin = projects.origin AND pc.project = projects.code AND ",
                )
                .in_list("pc.category", hidden)
                .push(")");
        }
    }

    /// The project library, narrowed to `f.scope`, by origin and code.
    pub async fn project_list(
        &self,
        f: ProjectFilter,
        page: Page,
    ) -> Result<Paged<ProjectView>, LedgerError> {
        let hidden = self.hidden_classified(&f.scope).await?;
        let mut sql = Sql::new(COLS);
        sql.filter_eq("origin", f.origin.map(|c| c.to_string()))
            .filter_eq("status", f.status)
            .filter_eq("department", f.department);
        if let Some(place) = f.place {
            let p = contains_pattern(&place);
            sql.and_where()
                .push("(township LIKE ")
                .bind(p.clone())
                .push(" ESCAPE '\\' OR village LIKE ")
                .bind(p)
                .push(" ESCAPE '\\')");
        }
        if let Some(c) = f.category {
            sql.and_where()
                .push(
                    "EXISTS (SELECT 1 FROM project_categories pc \
                     WHERE pc.origin = projects.origin AND pc.project = projects.code AND pc.category = ",
                )
                .bind(c)
                .push(")");
        }
        Self::scope_conditions(&mut sql, &f.scope, hidden);
        sql.push(" ORDER BY origin, code");
        let (rows, more) = fetch_page::<ListRow>(self, sql, page).await?;
        let mut items: Vec<ProjectView> = rows.into_iter().map(ProjectView::from).collect();
        // Who registered each project (录入人), as the other lists show.
        self.fill_actors(&mut items, |p| &p.id, |p| &mut p.actor)
            .await?;
        Ok(paged(items, page, more))
    }

    /// Whether the project `origin`/`code` exists and `scope` sees it.
    pub async fn project_visible(
        &self,
        origin: NodeCode,
        code: &str,
        scope: &Scope,
    ) -> Result<bool, LedgerError> {
        let hidden = self.hidden_classified(scope).await?;
        let mut sql = Sql::new("SELECT id FROM projects");
        sql.filter_eq("origin", Some(origin.to_string()))
            .filter_eq("code", Some(code.to_owned()));
        Self::scope_conditions(&mut sql, scope, hidden);
        let row: Option<IdRow> = sql.query_as()?.fetch_optional(self.db().read()).await?;
        Ok(row.is_some())
    }

    /// Every actual recorded against the targets of a project, oldest
    /// first, with who recorded it.
    pub async fn project_actuals(
        &self,
        origin: NodeCode,
        code: &str,
    ) -> Result<Vec<ActualView>, LedgerError> {
        let rows: Vec<ActualRow> = sqlx::query_as(
            "SELECT a.id AS id, a.target AS target, a.actual AS actual, \
             a.recorded_on AS recorded_on, a.note AS note, a.evidence AS evidence \
             FROM target_actuals a JOIN targets t ON t.id = a.target \
             WHERE t.origin = $1 AND t.project = $2 ORDER BY a.recorded_on, a.origin, a.seq",
        )
        .bind(origin.as_str())
        .bind(code)
        .fetch_all(self.db().read())
        .await?;
        let ids: Vec<EntryId> = rows.iter().filter_map(|r| r.id.parse().ok()).collect();
        let mut actors = self.actors_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ActualView {
                actor: r.id.parse().ok().and_then(|id| actors.remove(&id)),
                id: r.id,
                target: r.target,
                actual: r.actual,
                recorded_on: r.recorded_on,
                note: r.note,
                evidence: r.evidence,
            })
            .collect())
    }

    /// The latest actual of each target of `origin`'s projects running at
    /// some time in `year` (as [`Ledger::evaluation_year`] counts them), by
    /// project and target.
    ///
    /// [`Ledger::evaluation_year`]: crate::ledger::Ledger::evaluation_year
    pub async fn latest_actuals(
        &self,
        origin: NodeCode,
        year: i32,
    ) -> Result<Vec<LatestActual>, LedgerError> {
        let (from, to) = (format!("{year:04}-01-01"), format!("{year:04}-12-31"));
        Ok(sqlx::query_as(
            "SELECT t.project AS project, t.id AS target, t.indicator AS indicator, \
             t.unit AS unit, a.actual AS actual, a.recorded_on AS recorded_on, \
             a.note AS note, a.evidence AS evidence \
             FROM targets t JOIN projects p ON p.origin = t.origin AND p.code = t.project \
             JOIN target_actuals a ON a.target = t.id \
             WHERE t.origin = $1 AND p.starts_on <= $2 AND p.ends_on >= $3 \
             AND a.seq = (SELECT MAX(b.seq) FROM target_actuals b WHERE b.target = t.id) \
             ORDER BY t.project, t.id",
        )
        .bind(origin.as_str())
        .bind(to)
        .bind(from)
        .fetch_all(self.db().read())
        .await?)
    }

    /// The allocations a project's payments draw on, with what each paid
    /// to it (reversed payments left out), by allocation id.
    pub async fn project_funding(
        &self,
        origin: NodeCode,
        code: &str,
    ) -> Result<Vec<Funding>, LedgerError> {
        let rows: Vec<FundingRow> = sqlx::query_as(
            "SELECT p.allocation_id AS allocation_id, \
             CAST(SUM(CASE WHEN r.payment_seq IS NULL THEN p.amount_fen ELSE 0 END) AS BIGINT) AS paid_fen, \
             CAST(COUNT(*) AS BIGINT) AS n \
             FROM payments p LEFT JOIN payment_reversals r \
             ON r.origin = p.origin AND r.payment_seq = p.seq \
             WHERE p.origin = $1 AND p.project = $2 GROUP BY p.allocation_id ORDER BY p.allocation_id",
        )
        .bind(origin.as_str())
        .bind(code)
        .fetch_all(self.db().read())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(allocation) = self.allocation(parse_id(&r.allocation_id)?).await? else {
                continue;
            };
            out.push(Funding {
                allocation,
                paid: fen_to_yuan(r.paid_fen),
                payments: r.n,
            });
        }
        Ok(out)
    }

    /// Warnings about a project or one of its payments, newest first (at
    /// most `limit`).
    pub async fn project_warnings(
        &self,
        origin: NodeCode,
        code: &str,
        limit: u32,
    ) -> Result<Vec<WarningView>, LedgerError> {
        let rows: Vec<IdRow> = sqlx::query_as(
            "SELECT id FROM warnings WHERE node = $1 AND (subject = $2 OR subject IN \
             (SELECT 'payment:' || origin || '-' || CAST(seq AS TEXT) FROM payments \
             WHERE origin = $3 AND project = $4) OR subject IN \
             (SELECT 'target:' || id FROM targets WHERE origin = $5 AND project = $6)) \
             ORDER BY as_of DESC, origin, seq DESC LIMIT $7",
        )
        .bind(origin.as_str())
        .bind(format!("project:{code}"))
        .bind(origin.as_str())
        .bind(code)
        .bind(origin.as_str())
        .bind(code)
        .bind(i64::from(limit))
        .fetch_all(self.db().read())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            // The project's own scope was checked by the caller.
            if let Some(w) = self.warning(parse_id(&r.id)?, None).await? {
                out.push(w);
            }
        }
        Ok(out)
    }

    /// The project a target belongs to: its origin and code.
    pub async fn target_owner(
        &self,
        target: EntryId,
    ) -> Result<Option<(String, String)>, LedgerError> {
        let row: Option<TargetOwner> =
            sqlx::query_as("SELECT origin, project FROM targets WHERE id = $1")
                .bind(target.to_string())
                .fetch_optional(self.db().read())
                .await?;
        Ok(row.map(|r| (r.origin, r.project)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_text_is_matched_literally() {
        assert_eq!(contains_pattern("轮台"), "%轮台%");
        assert_eq!(contains_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
