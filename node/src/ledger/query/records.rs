//! Nodes, fund categories, allocations, projects with their targets,
//! payments, and a payment's trace back to its source document.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use fundsync_protocol::body::actor_of;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Actor, Body, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{fetch_page, paged, Page, Paged};
use crate::ledger::rows::{corrupt, seq_i64};
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

#[derive(Debug, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct NodeView {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CategoryView {
    pub code: String,
    pub name: String,
    pub origin: String,
    pub department: String,
    pub classified: bool,
    pub defined_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CategoryRow {
    code: String,
    name: String,
    origin: String,
    department: String,
    classified: i64,
    defined_by: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// Returned to the issuer (收回 / 统筹, `funds_recalled`).
    pub recalled: Decimal,
    pub available: Decimal,
    /// Who recorded it (录入人), read from the entry's signed bytes; `None`
    /// for an entry written before actors existed.
    pub actor: Option<Actor>,
}

#[derive(Debug, Serialize, sqlx::FromRow, schemars::JsonSchema)]
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
    /// The evidence reference (佐证材料) of that latest actual; empty when it
    /// names none (every actual before protocol version 6), absent when no
    /// actual is recorded.
    pub actual_evidence: Option<String>,
    /// Where the target stands in the cycle: submitted, returned, reviewed
    /// or approved (批复; an open adjustment leaves it approved).
    pub approval: String,
    /// The 文号 of the approval in force.
    pub approved_doc: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// Who registered it (录入人), read from the entry's signed bytes.
    pub actor: Option<Actor>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// Who recorded it (录入人), from the entry's signed bytes; `None` for
    /// an entry written before actors existed.
    pub actor: Option<Actor>,
}

/// One allocation on a payment's trace.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TraceStep {
    pub holder_name: String,
    pub allocation: AllocationView,
}

/// A payment traced back to its source document.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Default, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationFilter {
    pub holder: Option<NodeCode>,
    pub from_node: Option<NodeCode>,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub fund_origin: Option<String>,
    pub source: Option<EntryId>,
    pub as_of: Option<NaiveDate>,
    /// Only these fund categories (the reader's scope: department, 涉密);
    /// `None`: all. Never read from a query string.
    #[serde(skip)]
    pub categories: Option<Vec<String>>,
}

/// Filters for the payment list (all optional).
#[derive(Debug, Default, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilter {
    pub origin: Option<NodeCode>,
    pub allocation: Option<EntryId>,
    pub project: Option<String>,
    pub voucher_no: Option<String>,
    pub as_of: Option<NaiveDate>,
    /// Only payments drawing on allocations of these fund categories (the
    /// reader's scope); `None`: all. Never read from a query string.
    #[serde(skip)]
    pub categories: Option<Vec<String>>,
}

const ALLOC_COLS: &str =
    "SELECT id, kind, doc_no, category, fund_origin, amount_fen, from_node, holder, source_id, \
     dated, title, issued_fen, paid_fen, recalled_fen FROM allocations";

#[derive(sqlx::FromRow)]
struct AllocationRow {
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
    title: String,
    issued_fen: i64,
    paid_fen: i64,
    recalled_fen: i64,
}

impl From<AllocationRow> for AllocationView {
    fn from(r: AllocationRow) -> Self {
        AllocationView {
            id: r.id,
            kind: r.kind,
            doc_no: r.doc_no,
            category: r.category,
            fund_origin: r.fund_origin,
            amount: fen_to_yuan(r.amount_fen),
            from_node: r.from_node,
            holder: r.holder,
            source: r.source_id,
            dated: r.dated,
            title: r.title,
            issued: fen_to_yuan(r.issued_fen),
            paid: fen_to_yuan(r.paid_fen),
            recalled: fen_to_yuan(r.recalled_fen),
            available: fen_to_yuan(
                r.amount_fen
                    .saturating_sub(r.issued_fen)
                    .saturating_sub(r.paid_fen)
                    .saturating_sub(r.recalled_fen),
            ),
            actor: None,
        }
    }
}

const PROJECT_COLS: &str =
    "SELECT id, origin, code, name, township, village, department, starts_on, ends_on, \
     budget_fen, status, paid_fen, target_count FROM projects";

#[derive(sqlx::FromRow)]
struct ProjectRow {
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

impl From<ProjectRow> for ProjectView {
    fn from(r: ProjectRow) -> Self {
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

/// Payments with their journal entry, whose body holds the voucher's
/// details (the `payments` row keeps only what rules and filters need).
const PAYMENT_COLS: &str =
    "SELECT p.seq AS seq, p.origin AS origin, p.voucher_no AS voucher_no, p.paid_on AS paid_on, \
     p.amount_fen AS amount_fen, p.allocation_id AS allocation_id, p.project AS project, \
     j.kind AS kind, j.body AS body, r.reversed_on AS reversed_on, r.reason AS reason \
     FROM payments p JOIN journal j ON j.origin = p.origin AND j.seq = p.seq \
     LEFT JOIN payment_reversals r ON r.origin = p.origin AND r.payment_seq = p.seq";

#[derive(sqlx::FromRow)]
struct PaymentRow {
    seq: i64,
    origin: String,
    voucher_no: String,
    paid_on: String,
    amount_fen: i64,
    allocation_id: String,
    project: String,
    kind: String,
    body: Vec<u8>,
    reversed_on: Option<String>,
    reason: Option<String>,
}

impl TryFrom<PaymentRow> for PaymentView {
    type Error = LedgerError;

    fn try_from(r: PaymentRow) -> Result<Self, LedgerError> {
        let (origin, seq, kind) = (&r.origin, r.seq, &r.kind);
        let why = |why: String| corrupt(format!("payment {origin}-{seq}: {why}"));
        let (Body::PaymentRecorded(b), actor) =
            Body::decode(kind, &r.body).map_err(|e| why(e.to_string()))?
        else {
            return Err(why(format!("recorded by a {kind} entry")));
        };
        Ok(PaymentView {
            id: format!("{}-{}", r.origin, r.seq),
            origin: r.origin,
            voucher_no: r.voucher_no,
            paid_on: r.paid_on,
            payer: b.payer,
            payee_name: b.payee_name,
            payee_account: b.payee_account,
            payee_bank: b.payee_bank,
            amount: fen_to_yuan(r.amount_fen),
            function_class: b.function_class,
            allocation: r.allocation_id,
            project: r.project,
            purpose: b.purpose,
            reversed_on: r.reversed_on,
            reversal_reason: r.reason,
            actor,
        })
    }
}

impl Ledger {
    /// This node and every node below it that it knows of.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, LedgerError> {
        let all: Vec<NodeView> =
            sqlx::query_as("SELECT code, name, level, parent FROM nodes ORDER BY code")
                .fetch_all(self.db().read())
                .await?;
        let inside = subtree(&all, self.identity().code.as_str());
        Ok(all
            .into_iter()
            .filter(|n| inside.contains(&n.code))
            .collect())
    }

    pub async fn categories(&self) -> Result<Vec<CategoryView>, LedgerError> {
        let rows: Vec<CategoryRow> = sqlx::query_as(
            "SELECT code, name, origin, department, classified, defined_by FROM fund_categories ORDER BY code",
        )
        .fetch_all(self.db().read())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CategoryView {
                code: r.code,
                name: r.name,
                origin: r.origin,
                department: r.department,
                classified: r.classified != 0,
                defined_by: r.defined_by,
            })
            .collect())
    }

    pub async fn allocations(
        &self,
        f: AllocationFilter,
        page: Page,
    ) -> Result<Paged<AllocationView>, LedgerError> {
        let mut sql = Sql::new(ALLOC_COLS);
        sql.filter_eq("holder", f.holder.map(|c| c.to_string()))
            .filter_eq("from_node", f.from_node.map(|c| c.to_string()))
            .filter_eq("kind", f.kind)
            .filter_eq("category", f.category)
            .filter_eq("fund_origin", f.fund_origin)
            .filter_eq("source_id", f.source.map(|s| s.to_string()))
            .filter_le("dated", f.as_of.map(|d| d.to_string()))
            .filter_in("category", f.categories)
            .push(" ORDER BY dated, origin, id");
        let (rows, more) = fetch_page::<AllocationRow>(self, sql, page).await?;
        let mut items: Vec<AllocationView> = rows.into_iter().map(AllocationView::from).collect();
        self.fill_actors(&mut items, |a| &a.id, |a| &mut a.actor)
            .await?;
        Ok(paged(items, page, more))
    }

    pub async fn allocation(&self, id: EntryId) -> Result<Option<AllocationView>, LedgerError> {
        let row: Option<AllocationRow> = sqlx::query_as(&format!("{ALLOC_COLS} WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.db().read())
            .await?;
        let mut found: Vec<AllocationView> = row.into_iter().map(AllocationView::from).collect();
        self.fill_actors(&mut found, |a| &a.id, |a| &mut a.actor)
            .await?;
        Ok(found.pop())
    }

    pub async fn projects(
        &self,
        origin: Option<NodeCode>,
        page: Page,
    ) -> Result<Paged<ProjectView>, LedgerError> {
        let mut sql = Sql::new(PROJECT_COLS);
        sql.filter_eq("origin", origin.map(|c| c.to_string()))
            .push(" ORDER BY origin, code");
        let (rows, more) = fetch_page::<ProjectRow>(self, sql, page).await?;
        let mut items: Vec<ProjectView> = rows.into_iter().map(ProjectView::from).collect();
        self.fill_actors(&mut items, |p| &p.id, |p| &mut p.actor)
            .await?;
        Ok(paged(items, page, more))
    }

    /// A project with its performance targets.
    pub async fn project(
        &self,
        origin: NodeCode,
        code: &str,
    ) -> Result<Option<ProjectView>, LedgerError> {
        let row: Option<ProjectRow> =
            sqlx::query_as(&format!("{PROJECT_COLS} WHERE origin = $1 AND code = $2"))
                .bind(origin.as_str())
                .bind(code)
                .fetch_optional(self.db().read())
                .await?;
        let Some(r) = row else { return Ok(None) };
        let mut p = ProjectView::from(r);
        let targets: Vec<TargetView> = sqlx::query_as(
            "SELECT id, level1, level2, indicator, op, value, unit, actual, actual_on, \
             (SELECT a.evidence FROM target_actuals a WHERE a.target = targets.id \
              ORDER BY a.seq DESC LIMIT 1) AS actual_evidence, approval, \
             approved_doc FROM targets \
             WHERE origin = $1 AND project = $2 ORDER BY id",
        )
        .bind(origin.as_str())
        .bind(code)
        .fetch_all(self.db().read())
        .await?;
        p.targets = Some(targets);
        let mut found = vec![p];
        self.fill_actors(&mut found, |p| &p.id, |p| &mut p.actor)
            .await?;
        Ok(found.pop())
    }

    pub async fn payments(
        &self,
        f: PaymentFilter,
        page: Page,
    ) -> Result<Paged<PaymentView>, LedgerError> {
        let mut sql = payments_sql(f);
        sql.push(" ORDER BY p.origin, p.seq");
        let (rows, more) = fetch_page::<PaymentRow>(self, sql, page).await?;
        let items = rows
            .into_iter()
            .map(PaymentView::try_from)
            .collect::<Result<_, _>>()?;
        Ok(paged(items, page, more))
    }

    /// Up to `limit` payments of the list after `after` (by origin and seq,
    /// the list's order): the list read in keyset pages, each as fast as
    /// the first however far in (an export of millions of rows).
    pub async fn payments_after(
        &self,
        f: PaymentFilter,
        after: Option<EntryId>,
        limit: u32,
    ) -> Result<Vec<PaymentView>, LedgerError> {
        let mut sql = payments_sql(f);
        if let Some(a) = after {
            sql.and_where()
                .push("(p.origin > ")
                .bind(a.origin.to_string())
                .push(" OR (p.origin = ")
                .bind(a.origin.to_string())
                .push(" AND p.seq > ")
                .bind(seq_i64(a.seq)?)
                .push("))");
        }
        sql.push(" ORDER BY p.origin, p.seq LIMIT ")
            .bind(i64::from(limit.clamp(1, super::PAGE_SIZE_MAX)));
        let rows: Vec<PaymentRow> = sql.query_as()?.fetch_all(self.db().read()).await?;
        rows.into_iter().map(PaymentView::try_from).collect()
    }

    pub async fn payment(&self, id: EntryId) -> Result<Option<PaymentView>, LedgerError> {
        let row: Option<PaymentRow> = sqlx::query_as(&format!(
            "{PAYMENT_COLS} WHERE p.origin = $1 AND p.seq = $2"
        ))
        .bind(id.origin.as_str())
        .bind(seq_i64(id.seq)?)
        .fetch_optional(self.db().read())
        .await?;
        row.map(PaymentView::try_from).transpose()
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
}

impl Ledger {
    /// Who recorded each of `ids`, read from their entries' bodies with
    /// [`actor_of`] (the actor only; the rest is skipped): one statement
    /// for a page of records, at read time, so the journal's hot path
    /// writes nothing more. Entries written before actors existed are
    /// left out.
    pub(crate) async fn actors_of(
        &self,
        ids: &[EntryId],
    ) -> Result<HashMap<EntryId, Actor>, LedgerError> {
        let mut by_origin: BTreeMap<NodeCode, Vec<u64>> = BTreeMap::new();
        for id in ids {
            by_origin.entry(id.origin).or_default().push(id.seq);
        }
        if by_origin.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = Sql::new("SELECT origin, seq, body FROM journal WHERE ");
        for (i, (origin, seqs)) in by_origin.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(origin = ")
                .bind(origin.to_string())
                .push(" AND seq IN (");
            for (k, seq) in seqs.iter().enumerate() {
                if k > 0 {
                    sql.push(", ");
                }
                sql.bind(seq_i64(*seq)?);
            }
            sql.push("))");
        }
        let rows: Vec<BodyRow> = sql.query_as()?.fetch_all(self.db().read()).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let id = EntryId {
                origin: r.origin.parse().map_err(|_| corrupt("journal origin"))?,
                seq: u64::try_from(r.seq).map_err(|_| corrupt("journal seq"))?,
            };
            if let Some(a) = actor_of(&r.body) {
                out.insert(id, a);
            }
        }
        Ok(out)
    }

    /// Sets each record's actor from its entry (named by its id).
    pub(super) async fn fill_actors<T>(
        &self,
        items: &mut [T],
        id: impl Fn(&T) -> &String,
        actor: impl Fn(&mut T) -> &mut Option<Actor>,
    ) -> Result<(), LedgerError> {
        let ids: Vec<EntryId> = items.iter().filter_map(|t| id(t).parse().ok()).collect();
        let mut found = self.actors_of(&ids).await?;
        for t in items.iter_mut() {
            let key = id(t).parse::<EntryId>().ok();
            *actor(t) = key.and_then(|k| found.remove(&k));
        }
        Ok(())
    }
}

/// The payment list's statement with its filters, before its order.
fn payments_sql<'a>(f: PaymentFilter) -> Sql<'a> {
    let mut sql = Sql::new(PAYMENT_COLS);
    sql.filter_eq("p.origin", f.origin.map(|c| c.to_string()))
        .filter_eq("p.allocation_id", f.allocation.map(|c| c.to_string()))
        .filter_eq("p.project", f.project)
        .filter_eq("p.voucher_no", f.voucher_no)
        .filter_le("p.paid_on", f.as_of.map(|d| d.to_string()));
    if let Some(cats) = f.categories {
        sql.and_where()
            .push("p.allocation_id IN (SELECT id FROM allocations WHERE ")
            .in_list("category", cats)
            .push(")");
    }
    sql
}

#[derive(sqlx::FromRow)]
struct BodyRow {
    origin: String,
    seq: i64,
    body: Vec<u8>,
}

/// Codes of `root` and every node below it.
pub(super) fn subtree(nodes: &[NodeView], root: &str) -> HashSet<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
