//! 结转结余: what is left unspent on the allocations of a subtree at the end
//! of a day, per node, per fund source (资金来源) and per allocation, with
//! the reasons recorded for it (`carry_over_explained`: 质量保证金, 工程尾款,
//! 收款账号错误, other), the project each is kept for and when it is to be
//! paid (seed 002 四).
//!
//! An allocation's balance on a day is the master ledger's, allocation by
//! allocation: its amount (if dated by then) less what was issued from it,
//! net of what came back (收回 / 统筹), paid from it, net of reversals, and
//! returned from it, each by then. Summed over a node's allocations it is
//! the master ledger's balance of that node on that day.
//!
//! The reasons shown for an allocation are those recorded for the latest
//! day on or before the report's (`explained_as_of`): reasons given for
//! 2020-09-25 still show on 2020-09-30, dated. Where they add up to more
//! than what is left by the report's day (part of it was paid since), the
//! unexplained part is nil, never negative.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Actor, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;

use super::records::subtree;
use crate::ledger::rows::parse_id;
use crate::ledger::{Ledger, LedgerError};

/// What the report covers.
#[derive(Debug, Clone, Default)]
pub struct CarryOverFilter {
    /// The subtree of this node; `None`: this node's own subtree.
    pub under: Option<NodeCode>,
    /// Only allocations of these fund categories (the reader's scope:
    /// department, 涉密); `None`: all.
    pub categories: Option<Vec<String>>,
}

/// Balance, explained and unexplained, in yuan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CarryOverFigures {
    /// 结转结余: what is left on the allocations at the end of the day.
    pub balance: Decimal,
    /// What the reasons recorded for it explain (at most the balance).
    pub explained: Decimal,
    /// balance − explained.
    pub unexplained: Decimal,
}

/// One reason recorded for part of an allocation's balance.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CarryOverReasonView {
    /// The entry that recorded it (the latest for its allocation, day,
    /// reason and project).
    pub id: String,
    pub allocation: String,
    pub holder: String,
    /// The day the reason was given for.
    pub as_of: String,
    /// `quality_guarantee`, `final_payment`, `wrong_account` or `other`.
    pub reason: String,
    pub amount: Decimal,
    /// 计划支付日期.
    pub planned_on: String,
    /// The project's code; empty: none named.
    pub project: String,
    pub project_name: String,
    pub note: String,
    /// Who recorded it.
    pub actor: Option<Actor>,
}

/// An allocation with a balance (or reasons) on the day.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CarryOverAllocation {
    pub id: String,
    pub holder: String,
    pub holder_name: String,
    pub doc_no: String,
    pub title: String,
    pub category: String,
    pub fund_origin: String,
    /// `received`, `own_budget` or `issued`.
    pub kind: String,
    #[serde(flatten)]
    pub figures: CarryOverFigures,
    /// The day of the reasons shown, if any.
    pub explained_as_of: Option<String>,
    pub reasons: Vec<CarryOverReasonView>,
}

/// A node's carry-over, or a node's of one fund source.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CarryOverLine {
    pub node: String,
    pub node_name: String,
    /// Set in the lines by fund source.
    pub fund_origin: Option<String>,
    #[serde(flatten)]
    pub figures: CarryOverFigures,
}

/// What the reasons say, by node, project and reason.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CarryOverProject {
    pub node: String,
    pub node_name: String,
    /// Empty: reasons that name no project.
    pub project: String,
    pub project_name: String,
    pub reason: String,
    pub amount: Decimal,
    /// The latest planned payment date among them.
    pub planned_on: String,
}

/// The carry-over report (结转结余) of a subtree on a day.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CarryOverReport {
    /// The root of the subtree.
    pub node: String,
    pub as_of: NaiveDate,
    pub total: CarryOverFigures,
    /// Every node of the subtree holding an allocation by the day.
    pub by_node: Vec<CarryOverLine>,
    /// Per node and fund source, where there is a balance.
    pub by_source: Vec<CarryOverLine>,
    /// Per node, project and reason.
    pub by_project: Vec<CarryOverProject>,
    /// Per reason, over the subtree.
    pub by_reason: BTreeMap<String, Decimal>,
    /// Every allocation with a balance or reasons, by node and document.
    pub allocations: Vec<CarryOverAllocation>,
}

#[derive(sqlx::FromRow)]
struct AllocRow {
    id: String,
    kind: String,
    doc_no: String,
    title: String,
    category: String,
    fund_origin: String,
    amount_fen: i64,
    holder: String,
    source_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RecallRow {
    allocation_id: String,
    source_id: String,
    amount_fen: i64,
}

#[derive(sqlx::FromRow)]
struct PaidRow {
    allocation_id: String,
    paid_fen: i64,
}

#[derive(sqlx::FromRow)]
struct ReasonRow {
    id: String,
    allocation_id: String,
    as_of: String,
    reason: String,
    project: String,
    origin: String,
    amount_fen: i64,
    planned_on: String,
    note: String,
}

/// Fen figures of one line: balance and explained.
#[derive(Debug, Clone, Copy, Default)]
struct Fen {
    balance: i64,
    explained: i64,
}

impl Fen {
    fn add(&mut self, other: Fen) -> Result<(), LedgerError> {
        self.balance = self
            .balance
            .checked_add(other.balance)
            .ok_or(LedgerError::Overflow)?;
        self.explained = self
            .explained
            .checked_add(other.explained)
            .ok_or(LedgerError::Overflow)?;
        Ok(())
    }

    fn figures(self) -> Result<CarryOverFigures, LedgerError> {
        let unexplained = self
            .balance
            .checked_sub(self.explained)
            .ok_or(LedgerError::Overflow)?;
        Ok(CarryOverFigures {
            balance: fen_to_yuan(self.balance),
            explained: fen_to_yuan(self.explained),
            unexplained: fen_to_yuan(unexplained),
        })
    }
}

fn add_to(map: &mut HashMap<String, i64>, key: &str, fen: i64) -> Result<(), LedgerError> {
    let slot = map.entry(key.to_owned()).or_default();
    *slot = slot.checked_add(fen).ok_or(LedgerError::Overflow)?;
    Ok(())
}

impl Ledger {
    /// The carry-over (结转结余) of this node's subtree, or of `under`'s, at
    /// the end of `as_of`.
    pub async fn carry_over(
        &self,
        as_of: NaiveDate,
        f: &CarryOverFilter,
    ) -> Result<CarryOverReport, LedgerError> {
        let seen = |c: &str| {
            f.categories
                .as_ref()
                .is_none_or(|cs| cs.iter().any(|x| x == c))
        };
        let nodes = self.nodes().await?;
        let root = f.under.unwrap_or(self.identity().code).to_string();
        let inside = subtree(&nodes, &root);
        let names: HashMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.code.as_str(), n.name.as_str()))
            .collect();
        let day = as_of.to_string();
        let read = self.db().read();

        let allocs: Vec<AllocRow> = sqlx::query_as(
            "SELECT id, kind, doc_no, title, category, fund_origin, amount_fen, holder, source_id \
             FROM allocations WHERE dated <= $1",
        )
        .bind(&day)
        .fetch_all(read)
        .await?;
        // Outflows by allocation, by the day: issued down (net of what came
        // back), paid (net of reversals), returned.
        let mut out: HashMap<String, i64> = HashMap::new();
        for a in &allocs {
            if let Some(s) = &a.source_id {
                add_to(&mut out, s, a.amount_fen)?;
            }
        }
        let recalls: Vec<RecallRow> = sqlx::query_as(
            "SELECT allocation_id, source_id, amount_fen FROM recalls WHERE recalled_on <= $1",
        )
        .bind(&day)
        .fetch_all(read)
        .await?;
        for r in &recalls {
            let back = r.amount_fen.checked_neg().ok_or(LedgerError::Overflow)?;
            add_to(&mut out, &r.source_id, back)?;
            add_to(&mut out, &r.allocation_id, r.amount_fen)?;
        }
        let paid: Vec<PaidRow> = sqlx::query_as(
            "SELECT allocation_id, CAST(SUM(paid_fen) AS BIGINT) AS paid_fen FROM payment_daily \
             WHERE day <= $1 GROUP BY allocation_id",
        )
        .bind(&day)
        .fetch_all(read)
        .await?;
        for p in &paid {
            add_to(&mut out, &p.allocation_id, p.paid_fen)?;
        }

        // The reasons of the latest day on or before the report's, per
        // allocation.
        let rows: Vec<ReasonRow> = sqlx::query_as(
            "SELECT id, allocation_id, as_of, reason, project, origin, amount_fen, planned_on, note \
             FROM carry_over_reasons WHERE as_of <= $1 ORDER BY allocation_id, as_of, reason, project",
        )
        .bind(&day)
        .fetch_all(read)
        .await?;
        let mut reasons: HashMap<String, Vec<ReasonRow>> = HashMap::new();
        for r in rows {
            let list = reasons.entry(r.allocation_id.clone()).or_default();
            if list.first().is_some_and(|x| x.as_of < r.as_of) {
                list.clear();
            }
            list.push(r);
        }
        let ids: Vec<EntryId> = reasons
            .values()
            .flatten()
            .map(|r| parse_id(&r.id))
            .collect::<Result<_, _>>()?;
        let actors = self.actors_of(&ids).await?;
        // The names of the projects the reasons name, by origin: the nodes
        // that gave reasons, not every project of the subtree.
        let mut projects: HashMap<(String, String), String> = HashMap::new();
        let origins: std::collections::BTreeSet<&str> = reasons
            .values()
            .flatten()
            .filter(|r| !r.project.is_empty())
            .map(|r| r.origin.as_str())
            .collect();
        for o in origins {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT code, name FROM projects WHERE origin = $1")
                    .bind(o)
                    .fetch_all(read)
                    .await?;
            projects.extend(rows.into_iter().map(|(c, n)| ((o.to_owned(), c), n)));
        }

        let name = |code: &str| names.get(code).copied().unwrap_or("").to_owned();
        let mut total = Fen::default();
        let mut by_node: BTreeMap<String, Fen> = BTreeMap::new();
        let mut by_source: BTreeMap<(String, String), Fen> = BTreeMap::new();
        let mut by_project: BTreeMap<(String, String, String), (i64, String)> = BTreeMap::new();
        let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
        let mut listed = Vec::new();
        for a in allocs
            .iter()
            .filter(|a| inside.contains(&a.holder) && seen(&a.category))
        {
            let outflow = out.get(&a.id).copied().unwrap_or(0);
            let balance = a
                .amount_fen
                .checked_sub(outflow)
                .ok_or(LedgerError::Overflow)?;
            let given = reasons.get(&a.id).map_or(&[][..], Vec::as_slice);
            let mut stated = 0i64;
            for r in given {
                stated = stated
                    .checked_add(r.amount_fen)
                    .ok_or(LedgerError::Overflow)?;
            }
            let fen = Fen {
                balance,
                explained: stated.min(balance.max(0)),
            };
            by_node.entry(a.holder.clone()).or_default().add(fen)?;
            if balance == 0 && given.is_empty() {
                continue;
            }
            total.add(fen)?;
            by_source
                .entry((a.holder.clone(), a.fund_origin.clone()))
                .or_default()
                .add(fen)?;
            let mut views = Vec::with_capacity(given.len());
            for r in given {
                let project_name = projects
                    .get(&(r.origin.clone(), r.project.clone()))
                    .cloned()
                    .unwrap_or_default();
                let slot = by_project
                    .entry((a.holder.clone(), r.project.clone(), r.reason.clone()))
                    .or_insert((0, String::new()));
                slot.0 = slot
                    .0
                    .checked_add(r.amount_fen)
                    .ok_or(LedgerError::Overflow)?;
                if slot.1 < r.planned_on {
                    slot.1.clone_from(&r.planned_on);
                }
                let reason = by_reason.entry(r.reason.clone()).or_default();
                *reason = reason
                    .checked_add(r.amount_fen)
                    .ok_or(LedgerError::Overflow)?;
                views.push(CarryOverReasonView {
                    actor: parse_id(&r.id).ok().and_then(|id| actors.get(&id).cloned()),
                    id: r.id.clone(),
                    allocation: a.id.clone(),
                    holder: a.holder.clone(),
                    as_of: r.as_of.clone(),
                    reason: r.reason.clone(),
                    amount: fen_to_yuan(r.amount_fen),
                    planned_on: r.planned_on.clone(),
                    project: r.project.clone(),
                    project_name,
                    note: r.note.clone(),
                });
            }
            listed.push(CarryOverAllocation {
                id: a.id.clone(),
                holder: a.holder.clone(),
                holder_name: name(&a.holder),
                doc_no: a.doc_no.clone(),
                title: a.title.clone(),
                category: a.category.clone(),
                fund_origin: a.fund_origin.clone(),
                kind: a.kind.clone(),
                figures: fen.figures()?,
                explained_as_of: given.first().map(|r| r.as_of.clone()),
                reasons: views,
            });
        }
        // Nodes in code order (the root first: a parent's code sorts before
        // its children's), then documents.
        listed.sort_by(|x, y| (&x.holder, &x.doc_no, &x.id).cmp(&(&y.holder, &y.doc_no, &y.id)));
        let projects_named = |holder: &str, code: &str| {
            projects
                .get(&(holder.to_owned(), code.to_owned()))
                .cloned()
                .unwrap_or_default()
        };
        Ok(CarryOverReport {
            node: root,
            as_of,
            total: total.figures()?,
            by_node: by_node
                .into_iter()
                .map(|(n, fen)| {
                    Ok(CarryOverLine {
                        node_name: name(&n),
                        node: n,
                        fund_origin: None,
                        figures: fen.figures()?,
                    })
                })
                .collect::<Result<_, LedgerError>>()?,
            by_source: by_source
                .into_iter()
                .map(|((n, o), fen)| {
                    Ok(CarryOverLine {
                        node_name: name(&n),
                        node: n,
                        fund_origin: Some(o),
                        figures: fen.figures()?,
                    })
                })
                .collect::<Result<_, LedgerError>>()?,
            by_project: by_project
                .into_iter()
                .map(|((n, p, r), (fen, planned_on))| CarryOverProject {
                    node_name: name(&n),
                    project_name: projects_named(&n, &p),
                    node: n,
                    project: p,
                    reason: r,
                    amount: fen_to_yuan(fen),
                    planned_on,
                })
                .collect(),
            by_reason: by_reason
                .into_iter()
                .map(|(r, fen)| (r, fen_to_yuan(fen)))
                .collect(),
            allocations: listed,
        })
    }
}
