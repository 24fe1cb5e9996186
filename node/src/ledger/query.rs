//! Reads: lists, single records and the master ledger summary.
//!
//! All reads use the read pool and the derived tables; none takes the writer.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Body, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Ledger, LedgerError};

/// Largest page a list returns.
pub const PAGE_SIZE_MAX: u32 = 1000;

/// A page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub page_size: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            page: 1,
            page_size: 100,
        }
    }
}

/// One page of results.
#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    pub has_more: bool,
}

/// A WHERE clause built from optional filters, numbered `$1…`.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<String>,
}

impl Where {
    fn eq(&mut self, col: &str, v: Option<String>) {
        if let Some(v) = v {
            self.args.push(v);
            self.clauses.push(format!("{col} = ${}", self.args.len()));
        }
    }
    fn le(&mut self, col: &str, v: Option<String>) {
        if let Some(v) = v {
            self.args.push(v);
            self.clauses.push(format!("{col} <= ${}", self.args.len()));
        }
    }
    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    async fn fetch(
        self,
        ledger: &Ledger,
        select: &str,
        tail: &str,
        page: Page,
    ) -> Result<(Vec<AnyRow>, bool), LedgerError> {
        let size = page.page_size.clamp(1, PAGE_SIZE_MAX);
        let offset = i64::from(page.page.max(1) - 1) * i64::from(size);
        let n = self.args.len();
        let sql = format!(
            "{select}{}{tail} LIMIT ${} OFFSET ${}",
            self.sql(),
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(&sql);
        for a in self.args {
            q = q.bind(a);
        }
        let mut rows = q
            .bind(i64::from(size) + 1)
            .bind(offset)
            .fetch_all(ledger.db().read())
            .await?;
        let more = rows.len() > usize::try_from(size).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        Ok((rows, more))
    }
}

fn paged<T>(items: Vec<T>, page: Page, has_more: bool) -> Paged<T> {
    Paged {
        items,
        page: page.page.max(1),
        page_size: page.page_size.clamp(1, PAGE_SIZE_MAX),
        has_more,
    }
}

fn yuan(r: &AnyRow, i: usize) -> Result<Decimal, LedgerError> {
    Ok(fen_to_yuan(r.try_get::<i64, _>(i)?))
}

#[derive(Debug, Serialize)]
pub struct NodeView {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CategoryView {
    pub code: String,
    pub name: String,
    pub origin: String,
    pub department: String,
    pub classified: bool,
    pub defined_by: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AllocationView {
    pub id: String,
    pub kind: String,
    pub doc_no: String,
    pub category: String,
    pub fund_origin: String,
    pub amount: Decimal,
    pub from_node: Option<String>,
    pub holder: String,
    pub source: Option<String>,
    pub dated: String,
    pub title: String,
    pub issued: Decimal,
    pub paid: Decimal,
    pub available: Decimal,
}

#[derive(Debug, Serialize)]
pub struct TargetView {
    pub id: String,
    pub level1: String,
    pub level2: String,
    pub indicator: String,
    pub op: String,
    pub value: String,
    pub unit: String,
    pub actual: Option<String>,
    pub actual_on: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProjectView {
    pub id: String,
    pub origin: String,
    pub code: String,
    pub name: String,
    pub township: String,
    pub village: String,
    pub department: String,
    pub starts_on: String,
    pub ends_on: String,
    pub budget: Decimal,
    pub status: String,
    pub paid: Decimal,
    pub target_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<TargetView>>,
}

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub id: String,
    pub origin: String,
    pub voucher_no: String,
    pub paid_on: String,
    pub payer: String,
    pub payee_name: String,
    pub payee_account: String,
    pub payee_bank: String,
    pub amount: Decimal,
    pub function_class: String,
    pub allocation: String,
    pub project: String,
    pub purpose: String,
    pub reversed_on: Option<String>,
    pub reversal_reason: Option<String>,
}

/// One allocation on a payment's trace.
#[derive(Debug, Serialize)]
pub struct TraceStep {
    pub holder_name: String,
    pub allocation: AllocationView,
}

/// A payment traced back to its source document.
#[derive(Debug, Serialize)]
pub struct Trace {
    pub payment: PaymentView,
    pub project: Option<ProjectView>,
    /// From the allocation paid from, up to the source document.
    pub allocations: Vec<TraceStep>,
    /// Whether the chain reaches a source with no parent allocation (funds
    /// received from the centre, or an own budget). A county holds only its
    /// own link of the chain; the region holds all of it.
    pub complete: bool,
}

/// Filters for the allocation list (all optional).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationFilter {
    pub holder: Option<NodeCode>,
    pub from_node: Option<NodeCode>,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub fund_origin: Option<String>,
    pub source: Option<EntryId>,
    pub as_of: Option<NaiveDate>,
}

/// Filters for the payment list (all optional).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilter {
    pub origin: Option<NodeCode>,
    pub allocation: Option<EntryId>,
    pub project: Option<String>,
    pub voucher_no: Option<String>,
    pub as_of: Option<NaiveDate>,
}

/// How the master ledger groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Node,
    FundCategory,
    FundOrigin,
}

/// One row of the master ledger. Figures are yuan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SummaryRow {
    pub group: BTreeMap<&'static str, String>,
    /// Budget authority received from the parent (or, at the top, from the centre).
    pub received: Decimal,
    pub own_budget: Decimal,
    /// Issued down to children.
    pub issued_down: Decimal,
    pub paid: Decimal,
    /// received + own_budget − issued_down − paid.
    pub balance: Decimal,
}

#[derive(Debug, Serialize)]
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

const ALLOC_COLS: &str =
    "SELECT id, kind, doc_no, category, fund_origin, amount_fen, from_node, holder, source_id, \
                          dated, title, issued_fen, paid_fen FROM allocations";

fn allocation_view(r: &AnyRow) -> Result<AllocationView, LedgerError> {
    let amount: i64 = r.try_get(5)?;
    let issued: i64 = r.try_get(11)?;
    let paid: i64 = r.try_get(12)?;
    Ok(AllocationView {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        doc_no: r.try_get(2)?,
        category: r.try_get(3)?,
        fund_origin: r.try_get(4)?,
        amount: fen_to_yuan(amount),
        from_node: r.try_get(6)?,
        holder: r.try_get(7)?,
        source: r.try_get(8)?,
        dated: r.try_get(9)?,
        title: r.try_get(10)?,
        issued: fen_to_yuan(issued),
        paid: fen_to_yuan(paid),
        available: fen_to_yuan(amount.saturating_sub(issued).saturating_sub(paid)),
    })
}

const PROJECT_COLS: &str =
    "SELECT id, origin, code, name, township, village, department, starts_on, ends_on, \
                            budget_fen, status, paid_fen, target_count FROM projects";

fn project_view(r: &AnyRow) -> Result<ProjectView, LedgerError> {
    Ok(ProjectView {
        id: r.try_get(0)?,
        origin: r.try_get(1)?,
        code: r.try_get(2)?,
        name: r.try_get(3)?,
        township: r.try_get(4)?,
        village: r.try_get(5)?,
        department: r.try_get(6)?,
        starts_on: r.try_get(7)?,
        ends_on: r.try_get(8)?,
        budget: yuan(r, 9)?,
        status: r.try_get(10)?,
        paid: yuan(r, 11)?,
        target_count: r.try_get(12)?,
        targets: None,
    })
}

/// Payments with their journal entry, whose body holds the voucher's
/// details (the `payments` row keeps only what rules and filters need).
const PAYMENT_COLS: &str =
    "SELECT p.seq, p.origin, p.voucher_no, p.paid_on, p.amount_fen, p.allocation_id, \
    p.project, j.kind, j.body, r.reversed_on, r.reason \
    FROM payments p JOIN journal j ON j.origin = p.origin AND j.seq = p.seq \
    LEFT JOIN payment_reversals r ON r.origin = p.origin AND r.payment_seq = p.seq";

fn payment_view(r: &AnyRow) -> Result<PaymentView, LedgerError> {
    let seq: i64 = r.try_get(0)?;
    let origin: String = r.try_get(1)?;
    let kind: String = r.try_get(7)?;
    let body: Vec<u8> = r.try_get(8)?;
    let corrupt = |why: String| {
        LedgerError::Store(crate::store::StoreError::Corrupt(format!(
            "payment {origin}-{seq}: {why}"
        )))
    };
    let Body::PaymentRecorded(b) =
        Body::decode(&kind, &body).map_err(|e| corrupt(e.to_string()))?
    else {
        return Err(corrupt(format!("recorded by a {kind} entry")));
    };
    Ok(PaymentView {
        id: format!("{origin}-{seq}"),
        origin,
        voucher_no: r.try_get(2)?,
        paid_on: r.try_get(3)?,
        payer: b.payer,
        payee_name: b.payee_name,
        payee_account: b.payee_account,
        payee_bank: b.payee_bank,
        amount: yuan(r, 4)?,
        function_class: b.function_class,
        allocation: r.try_get(5)?,
        project: r.try_get(6)?,
        purpose: b.purpose,
        reversed_on: r.try_get(9)?,
        reversal_reason: r.try_get(10)?,
    })
}

impl Ledger {
    /// This node and every node below it that it knows of.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, LedgerError> {
        let rows = sqlx::query("SELECT code, name, level, parent FROM nodes ORDER BY code")
            .fetch_all(self.db().read())
            .await?;
        let all = rows
            .iter()
            .map(|r| {
                Ok(NodeView {
                    code: r.try_get(0)?,
                    name: r.try_get(1)?,
                    level: r.try_get(2)?,
                    parent: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()?;
        let inside = subtree(&all, self.identity().code.as_str());
        Ok(all
            .into_iter()
            .filter(|n| inside.contains(&n.code))
            .collect())
    }

    pub async fn categories(&self) -> Result<Vec<CategoryView>, LedgerError> {
        let rows = sqlx::query(
            "SELECT code, name, origin, department, classified, defined_by FROM fund_categories ORDER BY code",
        )
        .fetch_all(self.db().read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CategoryView {
                    code: r.try_get(0)?,
                    name: r.try_get(1)?,
                    origin: r.try_get(2)?,
                    department: r.try_get(3)?,
                    classified: r.try_get::<i64, _>(4)? != 0,
                    defined_by: r.try_get(5)?,
                })
            })
            .collect()
    }

    pub async fn allocations(
        &self,
        f: AllocationFilter,
        page: Page,
    ) -> Result<Paged<AllocationView>, LedgerError> {
        let mut w = Where::default();
        w.eq("holder", f.holder.map(|c| c.to_string()));
        w.eq("from_node", f.from_node.map(|c| c.to_string()));
        w.eq("kind", f.kind);
        w.eq("category", f.category);
        w.eq("fund_origin", f.fund_origin);
        w.eq("source_id", f.source.map(|s| s.to_string()));
        w.le("dated", f.as_of.map(|d| d.to_string()));
        let (rows, more) = w
            .fetch(self, ALLOC_COLS, " ORDER BY dated, origin, id", page)
            .await?;
        let items = rows.iter().map(allocation_view).collect::<Result<_, _>>()?;
        Ok(paged(items, page, more))
    }

    pub async fn allocation(&self, id: EntryId) -> Result<Option<AllocationView>, LedgerError> {
        let row = sqlx::query(&format!("{ALLOC_COLS} WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.db().read())
            .await?;
        row.as_ref().map(allocation_view).transpose()
    }

    pub async fn projects(
        &self,
        origin: Option<NodeCode>,
        page: Page,
    ) -> Result<Paged<ProjectView>, LedgerError> {
        let mut w = Where::default();
        w.eq("origin", origin.map(|c| c.to_string()));
        let (rows, more) = w
            .fetch(self, PROJECT_COLS, " ORDER BY origin, code", page)
            .await?;
        let items = rows.iter().map(project_view).collect::<Result<_, _>>()?;
        Ok(paged(items, page, more))
    }

    /// A project with its performance targets.
    pub async fn project(
        &self,
        origin: NodeCode,
        code: &str,
    ) -> Result<Option<ProjectView>, LedgerError> {
        let row = sqlx::query(&format!("{PROJECT_COLS} WHERE origin = $1 AND code = $2"))
            .bind(origin.as_str())
            .bind(code)
            .fetch_optional(self.db().read())
            .await?;
        let Some(r) = row else { return Ok(None) };
        let mut p = project_view(&r)?;
        let rows = sqlx::query(
            "SELECT id, level1, level2, indicator, op, value, unit, actual, actual_on FROM targets \
             WHERE origin = $1 AND project = $2 ORDER BY id",
        )
        .bind(origin.as_str())
        .bind(code)
        .fetch_all(self.db().read())
        .await?;
        p.targets = Some(
            rows.iter()
                .map(|r| {
                    Ok(TargetView {
                        id: r.try_get(0)?,
                        level1: r.try_get(1)?,
                        level2: r.try_get(2)?,
                        indicator: r.try_get(3)?,
                        op: r.try_get(4)?,
                        value: r.try_get(5)?,
                        unit: r.try_get(6)?,
                        actual: r.try_get(7)?,
                        actual_on: r.try_get(8)?,
                    })
                })
                .collect::<Result<_, LedgerError>>()?,
        );
        Ok(Some(p))
    }

    pub async fn payments(
        &self,
        f: PaymentFilter,
        page: Page,
    ) -> Result<Paged<PaymentView>, LedgerError> {
        let mut w = Where::default();
        w.eq("p.origin", f.origin.map(|c| c.to_string()));
        w.eq("p.allocation_id", f.allocation.map(|c| c.to_string()));
        w.eq("p.project", f.project);
        w.eq("p.voucher_no", f.voucher_no);
        w.le("p.paid_on", f.as_of.map(|d| d.to_string()));
        let (rows, more) = w
            .fetch(self, PAYMENT_COLS, " ORDER BY p.origin, p.seq", page)
            .await?;
        let items = rows.iter().map(payment_view).collect::<Result<_, _>>()?;
        Ok(paged(items, page, more))
    }

    pub async fn payment(&self, id: EntryId) -> Result<Option<PaymentView>, LedgerError> {
        let seq = i64::try_from(id.seq).map_err(|_| LedgerError::Overflow)?;
        let row = sqlx::query(&format!(
            "{PAYMENT_COLS} WHERE p.origin = $1 AND p.seq = $2"
        ))
        .bind(id.origin.as_str())
        .bind(seq)
        .fetch_optional(self.db().read())
        .await?;
        row.as_ref().map(payment_view).transpose()
    }

    /// Where a payment's money came from (流程追溯): the payment, its project
    /// with targets, then each allocation it was carved from, up to what
    /// this node holds of the chain (at the region: the funds received from
    /// the centre). `None` if the payment is unknown here.
    pub async fn trace_payment(&self, id: EntryId) -> Result<Option<Trace>, LedgerError> {
        let Some(payment) = self.payment(id).await? else {
            return Ok(None);
        };
        let project = self.project(id.origin, &payment.project).await?;
        let names: HashMap<String, String> = self
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.code, n.name))
            .collect();
        let mut chain = Vec::new();
        let mut next = Some(payment.allocation.clone());
        // Lineage is at most region → prefecture → county, plus the source;
        // the bound only guards against a corrupt cycle.
        while let Some(a) = next.take().filter(|_| chain.len() < 16) {
            let Ok(aid) = a.parse::<EntryId>() else { break };
            let Some(view) = self.allocation(aid).await? else {
                break;
            };
            next = view.source.clone();
            chain.push(TraceStep {
                holder_name: names.get(&view.holder).cloned().unwrap_or_default(),
                allocation: view,
            });
        }
        let complete = chain.last().is_some_and(|s| s.allocation.source.is_none());
        Ok(Some(Trace {
            payment,
            project,
            allocations: chain,
            complete,
        }))
    }

    /// The master ledger (总台账) for this node's subtree, or for the subtree
    /// of `under`, as of a date.
    pub async fn summary(
        &self,
        as_of: NaiveDate,
        group_by: &[GroupBy],
        under: Option<NodeCode>,
    ) -> Result<Summary, LedgerError> {
        let nodes = self.nodes().await?;
        let root = under.unwrap_or(self.identity().code).to_string();
        let inside = subtree(&nodes, &root);
        let names: HashMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.code.as_str(), n.name.as_str()))
            .collect();
        let day = as_of.to_string();

        let allocs = sqlx::query(
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
        for r in &allocs {
            let kind: String = r.try_get(0)?;
            let category: String = r.try_get(1)?;
            let origin: String = r.try_get(2)?;
            let fen: i64 = r.try_get(3)?;
            let from: Option<String> = r.try_get(4)?;
            let holder: String = r.try_get(5)?;
            if inside.contains(&holder) {
                let col = if kind == "own_budget" { 1 } else { 0 };
                add(key(&holder, &category, &origin), col, fen)?;
            }
            if let Some(from) = from.filter(|f| inside.contains(f)) {
                add(key(&from, &category, &origin), 2, fen)?;
            }
        }
        // Payments dated after an allocation's "as of" cut-off still belong to
        // it; look the allocation up without the date filter.
        let paid = sqlx::query(
            "SELECT d.allocation_id, d.holder, CAST(SUM(d.paid_fen) AS BIGINT), a.category, a.fund_origin \
             FROM payment_daily d LEFT JOIN allocations a ON a.id = d.allocation_id \
             WHERE d.day <= $1 GROUP BY d.allocation_id, d.holder, a.category, a.fund_origin",
        )
        .bind(&day)
        .fetch_all(self.db().read())
        .await?;
        for r in &paid {
            let holder: String = r.try_get(1)?;
            if !inside.contains(&holder) {
                continue;
            }
            let fen: i64 = r.try_get(2)?;
            let category: String = r
                .try_get::<Option<String>, _>(3)?
                .unwrap_or_else(|| "unknown".into());
            let origin: String = r
                .try_get::<Option<String>, _>(4)?
                .unwrap_or_else(|| "unknown".into());
            add(key(&holder, &category, &origin), 3, fen)?;
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

/// Codes of `root` and every node below it.
fn subtree(nodes: &[NodeView], root: &str) -> HashSet<String> {
    let mut inside: HashSet<String> = HashSet::from([root.to_owned()]);
    // The tree is at most three levels deep; repeat until nothing changes.
    loop {
        let before = inside.len();
        for n in nodes {
            if n.parent.as_ref().is_some_and(|p| inside.contains(p)) {
                inside.insert(n.code.clone());
            }
        }
        if inside.len() == before {
            return inside;
        }
    }
}

/// A journal entry as auditors read it.
#[derive(Debug, Serialize)]
pub struct JournalView {
    pub origin: String,
    pub seq: i64,
    pub at_ms: i64,
    pub prev_hash: String,
    pub hash: String,
    pub kind: String,
    pub body: serde_json::Value,
}

impl Ledger {
    /// An origin's journal entries after `after`, oldest first.
    pub async fn journal(
        &self,
        origin: NodeCode,
        after: u64,
        limit: u32,
    ) -> Result<Vec<JournalView>, LedgerError> {
        let after = i64::try_from(after).map_err(|_| LedgerError::Overflow)?;
        let rows = sqlx::query(
            "SELECT origin, seq, at_ms, prev_hash, hash, kind, body FROM journal \
             WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(origin.as_str())
        .bind(after)
        .bind(i64::from(limit.clamp(1, PAGE_SIZE_MAX)))
        .fetch_all(self.db().read())
        .await?;
        rows.iter()
            .map(|r| {
                let body: Vec<u8> = r.try_get(6)?;
                Ok(JournalView {
                    origin: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    at_ms: r.try_get(2)?,
                    prev_hash: hex::encode(r.try_get::<Vec<u8>, _>(3)?),
                    hash: hex::encode(r.try_get::<Vec<u8>, _>(4)?),
                    kind: r.try_get(5)?,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
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

    #[test]
    fn subtree_follows_parents() {
        let n = |code: &str, parent: Option<&str>| NodeView {
            code: code.into(),
            name: String::new(),
            level: String::new(),
            parent: parent.map(Into::into),
        };
        let nodes = [
            n("650000", None),
            n("652800", Some("650000")),
            n("652822", Some("652800")),
            n("653100", Some("650000")),
        ];
        let s = subtree(&nodes, "652800");
        assert_eq!(s.len(), 2);
        assert!(s.contains("652822") && !s.contains("653100"));
        assert_eq!(subtree(&nodes, "650000").len(), 4);
    }
}
