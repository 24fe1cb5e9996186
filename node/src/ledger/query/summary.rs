//! The master ledger (总台账): received, own budget, issued down and paid,
//! grouped by node, fund category and fund origin, as of a date.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::NodeCode;
use rust_decimal::Decimal;
use serde::Serialize;

use super::records::subtree;
use crate::ledger::{Ledger, LedgerError};

/// How the master ledger groups its rows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Node,
    FundCategory,
    FundOrigin,
}

/// One row of the master ledger. Figures are yuan.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct SummaryRow {
    pub group: BTreeMap<&'static str, String>,
    /// Budget authority received from the parent (or, at the top, from the
    /// centre), net of what was returned to it (收回 / 统筹) by the date.
    pub received: Decimal,
    pub own_budget: Decimal,
    /// Issued down to children, net of what they returned by the date.
    pub issued_down: Decimal,
    pub paid: Decimal,
    /// received + own_budget − issued_down − paid.
    pub balance: Decimal,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub node: String,
    pub as_of: NaiveDate,
    pub group_by: Vec<GroupBy>,
    pub rows: Vec<SummaryRow>,
    /// Sums of the rows. Money passed between two nodes of the subtree is
    /// counted both as issued by one and received by the other, so the total
    /// balance is what the subtree holds.
    pub total: SummaryRow,
}

#[derive(sqlx::FromRow)]
struct AllocSums {
    kind: String,
    category: String,
    fund_origin: String,
    amount_fen: i64,
    from_node: Option<String>,
    holder: String,
}

/// A recall (收回 / 统筹) as the master ledger nets it.
#[derive(sqlx::FromRow)]
struct RecallSums {
    holder: String,
    from_node: String,
    category: String,
    fund_origin: String,
    amount_fen: i64,
}

#[derive(sqlx::FromRow)]
struct PaidSums {
    holder: String,
    paid_fen: i64,
    category: Option<String>,
    fund_origin: Option<String>,
}

impl Ledger {
    /// The master ledger (总台账) for this node's subtree, or for the subtree
    /// of `under`, as of a date.
    pub async fn summary(
        &self,
        as_of: NaiveDate,
        group_by: &[GroupBy],
        under: Option<NodeCode>,
    ) -> Result<Summary, LedgerError> {
        self.summary_in(as_of, group_by, under, None).await
    }

    /// [`Ledger::summary`] of only the fund categories in `categories` (a
    /// reader's scope: department, 涉密); `None`: all of them.
    pub async fn summary_in(
        &self,
        as_of: NaiveDate,
        group_by: &[GroupBy],
        under: Option<NodeCode>,
        categories: Option<&[String]>,
    ) -> Result<Summary, LedgerError> {
        let seen = |c: &str| categories.is_none_or(|cs| cs.iter().any(|x| x == c));
        let nodes = self.nodes().await?;
        let root = under.unwrap_or(self.identity().code).to_string();
        let inside = subtree(&nodes, &root);
        let names: HashMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.code.as_str(), n.name.as_str()))
            .collect();
        let day = as_of.to_string();

        let allocs: Vec<AllocSums> = sqlx::query_as(
            "SELECT kind, category, fund_origin, amount_fen, from_node, holder FROM allocations WHERE dated <= $1",
        )
        .bind(&day)
        .fetch_all(self.db().read())
        .await?;
        let mut rows: BTreeMap<Vec<String>, [i64; 4]> = BTreeMap::new();
        let key = |node: &str, category: &str, origin: &str| -> Vec<String> {
            group_by
                .iter()
                .map(|g| match g {
                    GroupBy::Node => node.to_owned(),
                    GroupBy::FundCategory => category.to_owned(),
                    GroupBy::FundOrigin => origin.to_owned(),
                })
                .collect()
        };
        let mut add = |k: Vec<String>, i: usize, fen: i64| -> Result<(), LedgerError> {
            let slot = rows.entry(k).or_default();
            slot[i] = slot[i].checked_add(fen).ok_or(LedgerError::Overflow)?;
            Ok(())
        };
        for r in allocs.iter().filter(|r| seen(&r.category)) {
            if inside.contains(&r.holder) {
                let col = if r.kind == "own_budget" { 1 } else { 0 };
                add(
                    key(&r.holder, &r.category, &r.fund_origin),
                    col,
                    r.amount_fen,
                )?;
            }
            if let Some(from) = r.from_node.as_ref().filter(|f| inside.contains(*f)) {
                add(key(from, &r.category, &r.fund_origin), 2, r.amount_fen)?;
            }
        }
        // Funds returned by then (funds_recalled) are netted: the holder
        // received that much less, the issuer issued that much less.
        let recalls: Vec<RecallSums> = sqlx::query_as(
            "SELECT r.origin AS holder, r.from_node AS from_node, a.category AS category, \
             a.fund_origin AS fund_origin, r.amount_fen AS amount_fen \
             FROM recalls r JOIN allocations a ON a.id = r.allocation_id WHERE r.recalled_on <= $1",
        )
        .bind(&day)
        .fetch_all(self.db().read())
        .await?;
        for r in recalls.iter().filter(|r| seen(&r.category)) {
            let back = r.amount_fen.checked_neg().ok_or(LedgerError::Overflow)?;
            if inside.contains(&r.holder) {
                add(key(&r.holder, &r.category, &r.fund_origin), 0, back)?;
            }
            if inside.contains(&r.from_node) {
                add(key(&r.from_node, &r.category, &r.fund_origin), 2, back)?;
            }
        }
        // Payments dated after an allocation's "as of" cut-off still belong to
        // it; look the allocation up without the date filter.
        let paid: Vec<PaidSums> = sqlx::query_as(
            "SELECT d.holder AS holder, CAST(SUM(d.paid_fen) AS BIGINT) AS paid_fen, \
             a.category AS category, a.fund_origin AS fund_origin \
             FROM payment_daily d LEFT JOIN allocations a ON a.id = d.allocation_id \
             WHERE d.day <= $1 GROUP BY d.allocation_id, d.holder, a.category, a.fund_origin",
        )
        .bind(&day)
        .fetch_all(self.db().read())
        .await?;
        for r in paid {
            if !inside.contains(&r.holder) {
                continue;
            }
            let category = r.category.unwrap_or_else(|| "unknown".into());
            if !seen(&category) {
                continue;
            }
            let origin = r.fund_origin.unwrap_or_else(|| "unknown".into());
            add(key(&r.holder, &category, &origin), 3, r.paid_fen)?;
        }

        let mut total = [0i64; 4];
        let mut out = Vec::with_capacity(rows.len());
        for (k, v) in rows {
            for i in 0..4 {
                total[i] = total[i].checked_add(v[i]).ok_or(LedgerError::Overflow)?;
            }
            let mut group = BTreeMap::new();
            for (g, val) in group_by.iter().zip(k) {
                match g {
                    GroupBy::Node => {
                        group.insert(
                            "node_name",
                            names.get(val.as_str()).copied().unwrap_or("").to_owned(),
                        );
                        group.insert("node", val);
                    }
                    GroupBy::FundCategory => {
                        group.insert("fund_category", val);
                    }
                    GroupBy::FundOrigin => {
                        group.insert("fund_origin", val);
                    }
                }
            }
            out.push(summary_row(group, v)?);
        }
        Ok(Summary {
            node: root,
            as_of,
            group_by: group_by.to_vec(),
            rows: out,
            total: summary_row(BTreeMap::new(), total)?,
        })
    }
}

fn summary_row(
    group: BTreeMap<&'static str, String>,
    v: [i64; 4],
) -> Result<SummaryRow, LedgerError> {
    let balance = v[0]
        .checked_add(v[1])
        .and_then(|x| x.checked_sub(v[2]))
        .and_then(|x| x.checked_sub(v[3]))
        .ok_or(LedgerError::Overflow)?;
    Ok(SummaryRow {
        group,
        received: fen_to_yuan(v[0]),
        own_budget: fen_to_yuan(v[1]),
        issued_down: fen_to_yuan(v[2]),
        paid: fen_to_yuan(v[3]),
        balance: fen_to_yuan(balance),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_sums_that_overflow_are_refused() {
        // received + own_budget past i64 fen.
        let r = summary_row(BTreeMap::new(), [i64::MAX, 1, 0, 0]);
        assert!(matches!(r, Err(LedgerError::Overflow)));
        // balance below i64::MIN.
        let r = summary_row(BTreeMap::new(), [0, 0, i64::MAX, i64::MAX]);
        assert!(matches!(r, Err(LedgerError::Overflow)));
        let ok = summary_row(BTreeMap::new(), [1000, 500, 300, 200]).expect("fits");
        assert_eq!(ok.balance, Decimal::new(1000, 2));
    }
}
