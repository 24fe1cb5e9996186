//! Reads of the derived `warnings` table: the list and one warning for the
//! API and pages, open counts for badges and metrics, and what a node
//! raised for the evaluator's diff.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use fundsync_protocol::body::{FollowUpStatus, WarningParams};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{fetch_page, paged, Page, Paged};
use crate::ledger::rows::parse_id;
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

/// Filters for the warning list (all optional).
#[derive(Debug, Default, Clone)]
pub struct WarningFilter {
    /// The node a warning is about.
    pub node: Option<NodeCode>,
    /// The node that raised it.
    pub origin: Option<NodeCode>,
    pub rule: Option<String>,
    /// Only open (`true`) or only resolved (`false`) warnings.
    pub open: Option<bool>,
    /// Where its follow-up stands.
    pub follow_up: Option<FollowUpFilter>,
    /// The reader's scope; `None`: everything.
    pub scope: Option<WarningScope>,
}

/// Which warnings by their follow-up (整改).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpFilter {
    /// Not assigned to anyone.
    Unassigned,
    /// Assigned, with this status.
    Status(FollowUpStatus),
    /// Open, assigned, not 已整改 or 不属实, past its deadline.
    Overdue,
}

/// What a reader bound to a department or without the 涉密 grant sees:
/// warnings about allocations and payments of these fund categories, about
/// projects of this department (any project when `None`), and about payees
/// and nodes only when not bound to a department.
#[derive(Debug, Default, Clone)]
pub struct WarningScope {
    pub categories: Vec<String>,
    pub department: Option<String>,
}

/// Where a warning's follow-up stands.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FollowUpView {
    /// The assignee's login at the warning's node.
    pub assignee: String,
    pub assignee_name: String,
    /// The assignee's desk (a role name).
    pub desk: String,
    pub deadline: String,
    /// `pending` 待核实, `rectifying` 整改中, `rectified` 已整改,
    /// `unfounded` 不属实.
    pub status: String,
    /// 核实情况.
    pub verification: String,
    /// 整改措施.
    pub rectification: String,
    /// The business day of the latest step.
    pub updated_on: String,
    /// Past its deadline (this node's today), neither 已整改 nor 不属实, and
    /// the warning still open.
    pub overdue: bool,
}

/// One step of a follow-up, for its history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct FollowUpStep {
    /// The entry that recorded it.
    pub origin: String,
    pub seq: i64,
    /// `assigned` or `recorded`.
    pub kind: String,
    pub at_ms: i64,
    /// Its business day.
    pub dated: String,
    pub actor_login: String,
    pub actor_name: String,
    pub assignee: String,
    pub assignee_name: String,
    pub deadline: Option<String>,
    pub status: Option<String>,
    pub verification: String,
    pub rectification: String,
    pub note: String,
}

/// A warning as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WarningView {
    /// The entry that raised it.
    pub id: String,
    /// The node that raised it.
    pub origin: String,
    pub rule: String,
    pub subject: String,
    /// The node it is about.
    pub node: String,
    /// The text stored in the entry (English).
    pub message: String,
    /// The rule's named values as stored (warnings since protocol version
    /// 3); readers parse older ones from `message` (`warnings::render`).
    #[serde(skip)]
    pub stored_params: Option<WarningParams>,
    pub amount: Option<Decimal>,
    /// The business date the rule compared dates with.
    pub as_of: String,
    /// When it was raised (the raising node's clock, ms since the epoch).
    pub raised_ms: i64,
    pub open: bool,
    pub resolved_by: Option<String>,
    pub resolved_ms: Option<i64>,
    pub resolved_as_of: Option<String>,
    pub resolution: Option<String>,
    /// Its follow-up, once assigned.
    pub follow_up: Option<FollowUpView>,
}

const COLS: &str =
    "SELECT w.id, w.origin, w.rule, w.subject, w.node, w.message, w.params, w.amount_fen, \
     w.as_of, w.raised_ms, w.resolved_by, w.resolved_ms, w.resolved_as_of, w.resolution, \
     f.assignee, f.assignee_name, f.desk, f.deadline, f.status, f.verification, \
     f.rectification, f.updated_on \
     FROM warnings w LEFT JOIN follow_ups f ON f.warning = w.id";

#[derive(sqlx::FromRow)]
struct WarningRow {
    id: String,
    origin: String,
    rule: String,
    subject: String,
    node: String,
    message: String,
    params: Option<String>,
    amount_fen: Option<i64>,
    as_of: String,
    raised_ms: i64,
    resolved_by: Option<String>,
    resolved_ms: Option<i64>,
    resolved_as_of: Option<String>,
    resolution: Option<String>,
    assignee: Option<String>,
    assignee_name: Option<String>,
    desk: Option<String>,
    deadline: Option<String>,
    status: Option<String>,
    verification: Option<String>,
    rectification: Option<String>,
    updated_on: Option<String>,
}

impl WarningRow {
    fn view(self, today: &str) -> WarningView {
        let open = self.resolved_by.is_none();
        let follow_up = match (self.assignee, self.deadline, self.status) {
            (Some(assignee), Some(deadline), Some(status)) => Some(FollowUpView {
                overdue: open
                    && deadline.as_str() < today
                    && status
                        .parse::<FollowUpStatus>()
                        .is_ok_and(|s| !s.is_closed()),
                assignee,
                assignee_name: self.assignee_name.unwrap_or_default(),
                desk: self.desk.unwrap_or_default(),
                deadline,
                status,
                verification: self.verification.unwrap_or_default(),
                rectification: self.rectification.unwrap_or_default(),
                updated_on: self.updated_on.unwrap_or_default(),
            }),
            _ => None,
        };
        WarningView {
            id: self.id,
            origin: self.origin,
            rule: self.rule,
            subject: self.subject,
            node: self.node,
            message: self.message,
            // Written by this release's apply from a validated body.
            stored_params: self.params.and_then(|p| serde_json::from_str(&p).ok()),
            amount: self.amount_fen.map(fen_to_yuan),
            as_of: self.as_of,
            raised_ms: self.raised_ms,
            open,
            resolved_by: self.resolved_by,
            resolved_ms: self.resolved_ms,
            resolved_as_of: self.resolved_as_of,
            resolution: self.resolution,
            follow_up,
        }
    }
}

/// The statuses a follow-up is still expected to move from.
const OPEN_STATUSES: &str = "('pending', 'rectifying')";

/// Narrows `sql` to what `scope` lets a reader see.
fn scoped(sql: &mut Sql<'_>, scope: Option<&WarningScope>) {
    let Some(s) = scope else { return };
    sql.and_where().push("(w.category IS NOT NULL AND ");
    sql.in_list("w.category", s.categories.clone());
    sql.push(" OR w.department IS NOT NULL");
    if let Some(d) = &s.department {
        sql.push(" AND w.department = ").bind(d.clone());
    }
    if s.department.is_none() {
        sql.push(" OR (w.category IS NULL AND w.department IS NULL)");
    }
    sql.push(")");
}

/// A warning a node raised, as the evaluator diffs it.
#[derive(Debug, Clone)]
pub struct RaisedWarning {
    pub id: EntryId,
    pub rule: String,
    pub subject: String,
    pub open: bool,
}

#[derive(sqlx::FromRow)]
struct KnownRow {
    id: String,
    rule: String,
    subject: String,
    resolved_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct NodeCount {
    node: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct RuleCount {
    rule: String,
    n: i64,
}

impl Ledger {
    /// Warnings this node holds (its own and its subtree's), newest
    /// business date first.
    pub async fn warnings(
        &self,
        f: &WarningFilter,
        page: Page,
    ) -> Result<Paged<WarningView>, LedgerError> {
        let today = self.clock().today().to_string();
        let mut sql = Sql::new(COLS);
        sql.filter_eq("w.node", f.node.map(|c| c.to_string()))
            .filter_eq("w.origin", f.origin.map(|c| c.to_string()))
            .filter_eq("w.rule", f.rule.clone());
        match f.open {
            Some(true) => {
                sql.and_where().push("w.resolved_by IS NULL");
            }
            Some(false) => {
                sql.and_where().push("w.resolved_by IS NOT NULL");
            }
            None => {}
        }
        match f.follow_up {
            None => {}
            Some(FollowUpFilter::Unassigned) => {
                sql.and_where().push("f.warning IS NULL");
            }
            Some(FollowUpFilter::Status(st)) => {
                sql.and_where()
                    .push("f.status = ")
                    .bind(st.as_str().to_owned());
            }
            Some(FollowUpFilter::Overdue) => {
                sql.and_where()
                    .push("w.resolved_by IS NULL AND f.status IN ")
                    .push(OPEN_STATUSES)
                    .push(" AND f.deadline < ")
                    .bind(today.clone());
            }
        }
        scoped(&mut sql, f.scope.as_ref());
        sql.push(" ORDER BY w.as_of DESC, w.origin, w.seq DESC");
        let (rows, more) = fetch_page::<WarningRow>(self, sql, page).await?;
        Ok(paged(
            rows.into_iter().map(|r| r.view(&today)).collect(),
            page,
            more,
        ))
    }

    /// One warning by the entry that raised it, if the scope lets the
    /// reader see it.
    pub async fn warning(
        &self,
        id: EntryId,
        scope: Option<&WarningScope>,
    ) -> Result<Option<WarningView>, LedgerError> {
        let today = self.clock().today().to_string();
        let mut sql = Sql::new(COLS);
        sql.and_where().push("w.id = ").bind(id.to_string());
        scoped(&mut sql, scope);
        let row: Option<WarningRow> = sql.query_as()?.fetch_optional(self.db().read()).await?;
        Ok(row.map(|r| r.view(&today)))
    }

    /// The steps of a warning's follow-up, oldest first.
    pub async fn follow_up_steps(&self, id: EntryId) -> Result<Vec<FollowUpStep>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT origin, seq, kind, at_ms, dated, actor_login, actor_name, assignee, \
             assignee_name, deadline, status, verification, rectification, note \
             FROM follow_up_steps WHERE warning = $1 ORDER BY origin, seq",
        )
        .bind(id.to_string())
        .fetch_all(self.db().read())
        .await?)
    }

    /// Overdue follow-ups per node the warning is about, over everything
    /// this node holds (its subtree): open warnings whose follow-up is
    /// neither 已整改 nor 不属实 and whose deadline is before `today`. For
    /// the overview and the parents' view of their counties.
    pub async fn overdue_follow_ups_by_node(
        &self,
        today: NaiveDate,
    ) -> Result<BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<NodeCount> = sqlx::query_as(&format!(
            "SELECT w.node, CAST(COUNT(*) AS BIGINT) AS n FROM follow_ups f \
             JOIN warnings w ON w.id = f.warning \
             WHERE w.resolved_by IS NULL AND f.status IN {OPEN_STATUSES} AND f.deadline < $1 \
             GROUP BY w.node ORDER BY w.node"
        ))
        .bind(today.to_string())
        .fetch_all(self.db().read())
        .await?;
        Ok(rows.into_iter().map(|r| (r.node, r.n)).collect())
    }

    /// Open warnings by rule that `scope` lets a reader see (`None`: all),
    /// over everything this node holds: for the overview.
    pub async fn open_warnings_by_rule(
        &self,
        scope: Option<&WarningScope>,
    ) -> Result<BTreeMap<String, i64>, LedgerError> {
        let mut sql = Sql::new("SELECT w.rule, CAST(COUNT(*) AS BIGINT) AS n FROM warnings w");
        sql.and_where().push("w.resolved_by IS NULL");
        scoped(&mut sql, scope);
        sql.push(" GROUP BY w.rule ORDER BY w.rule");
        let rows: Vec<RuleCount> = sql.query_as()?.fetch_all(self.db().read()).await?;
        Ok(rows.into_iter().map(|r| (r.rule, r.n)).collect())
    }

    /// Warnings by rule, over everything this node holds (its subtree):
    /// with `open_only`, the open ones of each rule that has any open;
    /// without, every rule that has had a warning here, with how many are
    /// open now (0 once all of them are resolved).
    pub async fn open_warning_counts(
        &self,
        open_only: bool,
    ) -> Result<BTreeMap<String, i64>, LedgerError> {
        let sql = if open_only {
            "SELECT rule, CAST(COUNT(*) AS BIGINT) AS n FROM warnings WHERE resolved_by IS NULL \
             GROUP BY rule ORDER BY rule"
        } else {
            "SELECT rule, CAST(SUM(CASE WHEN resolved_by IS NULL THEN 1 ELSE 0 END) AS BIGINT) \
             AS n FROM warnings GROUP BY rule ORDER BY rule"
        };
        let rows: Vec<RuleCount> = sqlx::query_as(sql).fetch_all(self.db().read()).await?;
        Ok(rows.into_iter().map(|r| (r.rule, r.n)).collect())
    }

    /// Open warnings by the node they are about and rule, over everything
    /// this node holds (its subtree): the overview's counts.
    pub async fn open_warning_counts_by_node(
        &self,
    ) -> Result<Vec<(String, String, i64)>, LedgerError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT node, rule, CAST(COUNT(*) AS BIGINT) AS n FROM warnings \
             WHERE resolved_by IS NULL GROUP BY node, rule ORDER BY node, rule",
        )
        .fetch_all(self.db().read())
        .await?;
        Ok(rows)
    }

    /// Every warning `origin` raised, open or resolved.
    pub async fn warnings_raised_by(
        &self,
        origin: NodeCode,
    ) -> Result<Vec<RaisedWarning>, LedgerError> {
        let rows: Vec<KnownRow> =
            sqlx::query_as("SELECT id, rule, subject, resolved_by FROM warnings WHERE origin = $1")
                .bind(origin.as_str())
                .fetch_all(self.db().read())
                .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RaisedWarning {
                    id: parse_id(&r.id)?,
                    rule: r.rule,
                    subject: r.subject,
                    open: r.resolved_by.is_none(),
                })
            })
            .collect()
    }
}
