//! Reads of the derived `warnings` table: the list and one warning for the
//! API and pages, open counts for badges and metrics, and what a node
//! raised for the evaluator's diff.

use std::collections::BTreeMap;

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
}

/// A warning as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WarningView {
    /// The entry that raised it.
    pub id: String,
    /// The node that raised it.
    pub origin: String,
    pub rule: String,
    pub subject: String,
    /// The node it is about.
    pub node: String,
    pub message: String,
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
}

const COLS: &str =
    "SELECT id, origin, rule, subject, node, message, amount_fen, as_of, raised_ms, \
     resolved_by, resolved_ms, resolved_as_of, resolution FROM warnings";

#[derive(sqlx::FromRow)]
struct WarningRow {
    id: String,
    origin: String,
    rule: String,
    subject: String,
    node: String,
    message: String,
    amount_fen: Option<i64>,
    as_of: String,
    raised_ms: i64,
    resolved_by: Option<String>,
    resolved_ms: Option<i64>,
    resolved_as_of: Option<String>,
    resolution: Option<String>,
}

impl From<WarningRow> for WarningView {
    fn from(r: WarningRow) -> Self {
        WarningView {
            id: r.id,
            origin: r.origin,
            rule: r.rule,
            subject: r.subject,
            node: r.node,
            message: r.message,
            amount: r.amount_fen.map(fen_to_yuan),
            as_of: r.as_of,
            raised_ms: r.raised_ms,
            open: r.resolved_by.is_none(),
            resolved_by: r.resolved_by,
            resolved_ms: r.resolved_ms,
            resolved_as_of: r.resolved_as_of,
            resolution: r.resolution,
        }
    }
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
        let mut sql = Sql::new(COLS);
        sql.filter_eq("node", f.node.map(|c| c.to_string()))
            .filter_eq("origin", f.origin.map(|c| c.to_string()))
            .filter_eq("rule", f.rule.clone());
        match f.open {
            Some(true) => {
                sql.and_where().push("resolved_by IS NULL");
            }
            Some(false) => {
                sql.and_where().push("resolved_by IS NOT NULL");
            }
            None => {}
        }
        sql.push(" ORDER BY as_of DESC, origin, seq DESC");
        let (rows, more) = fetch_page::<WarningRow>(self, sql, page).await?;
        Ok(paged(
            rows.into_iter().map(WarningView::from).collect(),
            page,
            more,
        ))
    }

    /// One warning by the entry that raised it.
    pub async fn warning(&self, id: EntryId) -> Result<Option<WarningView>, LedgerError> {
        let row: Option<WarningRow> = sqlx::query_as(&format!("{COLS} WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.db().read())
            .await?;
        Ok(row.map(WarningView::from))
    }

    /// Open warnings by rule, over everything this node holds (its subtree).
    pub async fn open_warning_counts(&self) -> Result<BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<RuleCount> = sqlx::query_as(
            "SELECT rule, CAST(COUNT(*) AS BIGINT) AS n FROM warnings WHERE resolved_by IS NULL \
             GROUP BY rule ORDER BY rule",
        )
        .fetch_all(self.db().read())
        .await?;
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
