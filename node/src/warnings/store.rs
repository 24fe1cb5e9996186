//! Reads of the `warnings` table, for the evaluator, the API and the pages.
//! The table is written only by the ledger's apply (`ledger/kinds/
//! warning_raised.rs` and `warning_resolved.rs`).

use std::collections::BTreeMap;

use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use crate::ledger::query::{Page, Paged, PAGE_SIZE_MAX};
use crate::ledger::{Ledger, LedgerError};
use crate::store::StoreError;

fn corrupt(what: String) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt(what))
}

fn parse_id(s: &str) -> Result<EntryId, LedgerError> {
    s.parse()
        .map_err(|_| corrupt(format!("bad warning id {s:?}")))
}

// ---- reads ----

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

fn view(r: &sqlx::any::AnyRow) -> Result<WarningView, LedgerError> {
    let resolved_by: Option<String> = r.try_get(9)?;
    Ok(WarningView {
        id: r.try_get(0)?,
        origin: r.try_get(1)?,
        rule: r.try_get(2)?,
        subject: r.try_get(3)?,
        node: r.try_get(4)?,
        message: r.try_get(5)?,
        amount: r.try_get::<Option<i64>, _>(6)?.map(fen_to_yuan),
        as_of: r.try_get(7)?,
        raised_ms: r.try_get(8)?,
        open: resolved_by.is_none(),
        resolved_by,
        resolved_ms: r.try_get(10)?,
        resolved_as_of: r.try_get(11)?,
        resolution: r.try_get(12)?,
    })
}

impl Ledger {
    /// Warnings this node holds (its own and its subtree's), newest
    /// business date first.
    pub async fn warnings(
        &self,
        f: &WarningFilter,
        page: Page,
    ) -> Result<Paged<WarningView>, LedgerError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        let mut eq = |col: &str, v: Option<String>| {
            if let Some(v) = v {
                args.push(v);
                clauses.push(format!("{col} = ${}", args.len()));
            }
        };
        eq("node", f.node.map(|c| c.to_string()));
        eq("origin", f.origin.map(|c| c.to_string()));
        eq("rule", f.rule.clone());
        match f.open {
            Some(true) => clauses.push("resolved_by IS NULL".into()),
            Some(false) => clauses.push("resolved_by IS NOT NULL".into()),
            None => {}
        }
        let size = page.page_size.clamp(1, PAGE_SIZE_MAX);
        let number = page.page.max(1);
        let offset = i64::from(number - 1) * i64::from(size);
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "{COLS}{filter} ORDER BY as_of DESC, origin, seq DESC LIMIT ${} OFFSET ${}",
            args.len() + 1,
            args.len() + 2
        );
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        let mut rows = q
            .bind(i64::from(size) + 1)
            .bind(offset)
            .fetch_all(self.db().read())
            .await?;
        let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
        let has_more = rows.len() > size_usize;
        rows.truncate(size_usize);
        Ok(Paged {
            items: rows.iter().map(view).collect::<Result<_, _>>()?,
            page: number,
            page_size: size,
            has_more,
        })
    }

    /// One warning by the entry that raised it.
    pub async fn warning(&self, id: EntryId) -> Result<Option<WarningView>, LedgerError> {
        let row = sqlx::query(&format!("{COLS} WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.db().read())
            .await?;
        row.as_ref().map(view).transpose()
    }
}

/// Open warnings by rule, over everything this node holds (its subtree):
/// for the pages' badges and for metrics.
pub async fn open_counts(ledger: &Ledger) -> Result<BTreeMap<String, i64>, LedgerError> {
    let rows = sqlx::query(
        "SELECT rule, CAST(COUNT(*) AS BIGINT) FROM warnings WHERE resolved_by IS NULL \
         GROUP BY rule ORDER BY rule",
    )
    .fetch_all(ledger.db().read())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect()
}

/// A warning this node raised, for the evaluator's diff.
pub(crate) async fn known(
    ledger: &Ledger,
    origin: NodeCode,
) -> Result<Vec<super::rules::Known>, LedgerError> {
    let rows = sqlx::query("SELECT id, rule, subject, resolved_by FROM warnings WHERE origin = $1")
        .bind(origin.as_str())
        .fetch_all(ledger.db().read())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(super::rules::Known {
                id: parse_id(&r.try_get::<String, _>(0)?)?,
                rule: r.try_get(1)?,
                subject: r.try_get(2)?,
                open: r.try_get::<Option<String>, _>(3)?.is_none(),
            })
        })
        .collect()
}
