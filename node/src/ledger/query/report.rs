//! The annual self-evaluation report (绩效自评报告, seed 002) of one node,
//! rebuilt from the ledger: 一 the node's own budget (本级预算安排) of the
//! five years up to the report's, 二 every batch the node issued down
//! (资金拨付: the day, the amount, its parts by fund category, the day the
//! funds reached the node and whether they went down within five days), and
//! 四(一) the carry-over (结转结余) on 09-25 of the year, per node, fund
//! source and project with its reasons ([`Ledger::carry_over`]).
//!
//! A budget year's batches are the issues dated from the December before
//! it (提前下达: the centre and the region announce next year's funds in
//! advance) through November: seed 002's 2020 funds went down on
//! 2019-12-06 and 2019-12-30.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::NodeCode;
use rust_decimal::Decimal;
use serde::Serialize;

use super::carryover::{CarryOverFilter, CarryOverReport};
use crate::ledger::{Ledger, LedgerError};

/// Days within which funds received go down (seed 002 二: 5 日内).
pub const ISSUE_DAYS_MAX: i64 = 5;

/// 一: the node's own budget of one year.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OwnBudgetYear {
    pub year: i32,
    pub amount: Decimal,
    /// How many own-budget entries make it (0: none in the ledger).
    pub entries: usize,
}

/// One fund category's part of a batch.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BatchPart {
    pub category: String,
    pub fund_origin: String,
    pub amount: Decimal,
}

/// 二: what the node issued down on one day.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReportBatch {
    pub issued_on: NaiveDate,
    pub amount: Decimal,
    pub parts: Vec<BatchPart>,
    /// The documents it went down under.
    pub docs: Vec<String>,
    /// The latest day the funds it was carved from reached the node.
    pub received_on: Option<NaiveDate>,
    /// Days from `received_on` to `issued_on`.
    pub days: Option<i64>,
    /// Went down within [`ISSUE_DAYS_MAX`] days of arriving.
    pub within_five_days: bool,
    /// How many children it went to.
    pub children: usize,
}

/// The report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SelfEvaluation {
    pub node: String,
    pub node_name: String,
    pub year: i32,
    /// 一: the five years up to `year`, oldest first.
    pub own_budget: Vec<OwnBudgetYear>,
    pub own_budget_total: Decimal,
    /// 二: the year's batches, by day.
    pub batches: Vec<ReportBatch>,
    pub batches_total: Decimal,
    /// Every batch went down within five days.
    pub all_within_five_days: bool,
    /// 四(一): the day the carry-over is taken (09-25 of the year).
    pub carry_over_on: NaiveDate,
    pub carry_over: CarryOverReport,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    kind: String,
    doc_no: String,
    category: String,
    fund_origin: String,
    amount_fen: i64,
    from_node: Option<String>,
    holder: String,
    source_id: Option<String>,
    dated: String,
}

fn date(s: &str) -> Option<NaiveDate> {
    s.parse().ok()
}

fn sum(mut it: impl Iterator<Item = i64>) -> Result<i64, LedgerError> {
    it.try_fold(0i64, |a, x| a.checked_add(x))
        .ok_or(LedgerError::Overflow)
}

impl Ledger {
    /// The self-evaluation report of `node` for `year`, counting only the
    /// fund categories in `categories` (the reader's scope; `None`: all).
    pub async fn self_evaluation(
        &self,
        node: NodeCode,
        year: i32,
        categories: Option<Vec<String>>,
    ) -> Result<SelfEvaluation, LedgerError> {
        let seen = |c: &str| {
            categories
                .as_ref()
                .is_none_or(|cs| cs.iter().any(|x| x == c))
        };
        let code = node.to_string();
        let node_name = self
            .nodes()
            .await?
            .into_iter()
            .find(|n| n.code == code)
            .map(|n| n.name)
            .unwrap_or_default();
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, doc_no, category, fund_origin, amount_fen, from_node, holder, \
             source_id, dated FROM allocations WHERE holder = $1 OR from_node = $1",
        )
        .bind(&code)
        .fetch_all(self.db().read())
        .await?;
        let rows: Vec<Row> = rows.into_iter().filter(|r| seen(&r.category)).collect();

        // 一.
        let mut own_budget = Vec::new();
        for y in year.saturating_sub(4)..=year {
            let mine: Vec<&Row> = rows
                .iter()
                .filter(|r| {
                    r.kind == "own_budget"
                        && r.holder == code
                        && date(&r.dated).is_some_and(|d| d.year() == y)
                })
                .collect();
            own_budget.push(OwnBudgetYear {
                year: y,
                amount: fen_to_yuan(sum(mine.iter().map(|r| r.amount_fen))?),
                entries: mine.len(),
            });
        }
        let own_budget_total = own_budget
            .iter()
            .try_fold(Decimal::ZERO, |a, y| a.checked_add(y.amount))
            .ok_or(LedgerError::Overflow)?;

        // 二.
        let from = NaiveDate::from_ymd_opt(year.saturating_sub(1), 12, 1);
        let to = NaiveDate::from_ymd_opt(year, 11, 30);
        let (Some(from), Some(to)) = (from, to) else {
            return Err(LedgerError::Overflow);
        };
        let held: HashMap<&str, &Row> = rows
            .iter()
            .filter(|r| r.holder == code)
            .map(|r| (r.id.as_str(), r))
            .collect();
        let mut by_day: BTreeMap<NaiveDate, Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            if r.from_node.as_deref() != Some(code.as_str()) || r.kind != "issued" {
                continue;
            }
            if let Some(d) = date(&r.dated).filter(|d| (from..=to).contains(d)) {
                by_day.entry(d).or_default().push(r);
            }
        }
        let mut batches = Vec::new();
        for (issued_on, list) in by_day {
            let mut parts: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
            for r in &list {
                let p = parts.entry(&r.category).or_insert((0, &r.fund_origin));
                p.0 = p.0.checked_add(r.amount_fen).ok_or(LedgerError::Overflow)?;
            }
            let received_on = list
                .iter()
                .filter_map(|r| held.get(r.source_id.as_deref()?))
                .filter_map(|s| date(&s.dated))
                .max();
            let days = received_on.map(|d| (issued_on - d).num_days());
            let mut docs: Vec<String> = list.iter().map(|r| r.doc_no.clone()).collect();
            docs.sort();
            docs.dedup();
            let mut children: Vec<&str> = list.iter().map(|r| r.holder.as_str()).collect();
            children.sort_unstable();
            children.dedup();
            batches.push(ReportBatch {
                issued_on,
                amount: fen_to_yuan(sum(list.iter().map(|r| r.amount_fen))?),
                parts: parts
                    .into_iter()
                    .map(|(c, (fen, o))| BatchPart {
                        category: c.to_owned(),
                        fund_origin: o.to_owned(),
                        amount: fen_to_yuan(fen),
                    })
                    .collect(),
                docs,
                received_on,
                days,
                within_five_days: days.is_some_and(|d| (0..=ISSUE_DAYS_MAX).contains(&d)),
                children: children.len(),
            });
        }
        let batches_total = batches
            .iter()
            .try_fold(Decimal::ZERO, |a, b| a.checked_add(b.amount))
            .ok_or(LedgerError::Overflow)?;
        let all_within_five_days = batches.iter().all(|b| b.within_five_days);

        // 四(一).
        let carry_over_on = NaiveDate::from_ymd_opt(year, 9, 25).ok_or(LedgerError::Overflow)?;
        let carry_over = self
            .carry_over(
                carry_over_on,
                &CarryOverFilter {
                    under: Some(node),
                    categories,
                },
            )
            .await?;
        Ok(SelfEvaluation {
            node: code,
            node_name,
            year,
            own_budget,
            own_budget_total,
            batches,
            batches_total,
            all_within_five_days,
            carry_over_on,
            carry_over,
        })
    }
}
