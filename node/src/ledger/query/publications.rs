//! 公告公示: the 公示台账 (every notice this node and, rolled up, its subtree
//! published, with who published it), the public lists (what the notices
//! made public: allocation results, and projects by township and village
//! with their funds and progress), and what a node may publish next.
//!
//! The public reads are the only reads of the ledger made for people who
//! are not signed in, so they read only what a notice copied
//! (`published_allocations`, `published_projects`) and the names of nodes
//! and fund categories: never a payment, a payee, an account or an actor,
//! and never a record of a classified (涉密) category, which is refused when
//! published and left out here again (a category this node holds as
//! classified, a project it found paid from one). They read no payment, so
//! they cost the same at a region holding ten million.

use fundsync_protocol::body::PublicationScope;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Actor, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{fetch_page, paged, Page, Paged};
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

/// A notice as the public sees it: what, when, by which node; not who.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PublicNotice {
    /// The entry that published it.
    pub id: String,
    /// The publishing node.
    pub origin: String,
    pub doc_no: String,
    pub title: String,
    /// `allocations` or `projects`.
    pub scope: String,
    pub published_on: String,
    /// How many records it made public.
    pub records: i64,
}

/// A notice in the 公示台账: the notice, when it was recorded and by whom.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublicationView {
    #[serde(flatten)]
    pub notice: PublicNotice,
    /// When the entry was made (ms since the epoch, the origin's clock).
    pub recorded_ms: i64,
    /// Who published it, from the entry's signed bytes.
    pub actor: Option<Actor>,
}

#[derive(sqlx::FromRow)]
struct PublicationRow {
    id: String,
    origin: String,
    doc_no: String,
    title: String,
    scope: String,
    published_on: String,
    records: i64,
    at_ms: i64,
}

impl From<PublicationRow> for PublicationView {
    fn from(r: PublicationRow) -> Self {
        PublicationView {
            notice: PublicNotice {
                id: r.id,
                origin: r.origin,
                doc_no: r.doc_no,
                title: r.title,
                scope: r.scope,
                published_on: r.published_on,
                records: r.records,
            },
            recorded_ms: r.at_ms,
            actor: None,
        }
    }
}

/// Filters of the 公示台账 and of the public list of notices.
#[derive(Debug, Default, Clone)]
pub struct PublicationFilter {
    /// The publishing node.
    pub origin: Option<NodeCode>,
    pub scope: Option<PublicationScope>,
}

/// An allocation result as published (资金分配结果).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublicAllocation {
    /// The allocation (its entry).
    pub allocation: String,
    /// The node that issued and published it.
    pub publisher: String,
    pub publisher_name: String,
    /// The allocation's 文号.
    pub doc_no: String,
    pub dated: String,
    pub category: String,
    pub category_name: String,
    pub recipient: String,
    pub recipient_name: String,
    pub amount: Decimal,
    /// 用途: the allocation's title.
    pub purpose: String,
    /// The notice that made it public (its latest one in the public list).
    pub notice: String,
    pub notice_doc_no: String,
    pub published_on: String,
}

#[derive(sqlx::FromRow)]
struct PublicAllocationRow {
    allocation: String,
    publisher: String,
    publisher_name: Option<String>,
    doc_no: String,
    dated: String,
    category: String,
    category_name: String,
    recipient: String,
    recipient_name: Option<String>,
    amount_fen: i64,
    purpose: String,
    notice: String,
    notice_doc_no: String,
    published_on: String,
}

impl From<PublicAllocationRow> for PublicAllocation {
    fn from(r: PublicAllocationRow) -> Self {
        PublicAllocation {
            allocation: r.allocation,
            publisher: r.publisher,
            publisher_name: r.publisher_name.unwrap_or_default(),
            doc_no: r.doc_no,
            dated: r.dated,
            category: r.category,
            category_name: r.category_name,
            recipient: r.recipient,
            recipient_name: r.recipient_name.unwrap_or_default(),
            amount: fen_to_yuan(r.amount_fen),
            purpose: r.purpose,
            notice: r.notice,
            notice_doc_no: r.notice_doc_no,
            published_on: r.published_on,
        }
    }
}

/// A project as published (项目安排和资金使用), by township and village.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublicProject {
    /// The project (the entry that registered it).
    pub project: String,
    /// The node whose library holds it, which published it.
    pub node: String,
    pub node_name: String,
    pub code: String,
    pub name: String,
    pub township: String,
    pub village: String,
    pub starts_on: String,
    pub ends_on: String,
    /// 项目资金.
    pub budget: Decimal,
    /// Paid, as of the notice (payments net of reversals).
    pub paid: Decimal,
    /// The status as of the notice.
    pub status: String,
    pub notice: String,
    pub notice_doc_no: String,
    pub published_on: String,
}

#[derive(sqlx::FromRow)]
struct PublicProjectRow {
    project: String,
    node: String,
    node_name: Option<String>,
    code: String,
    name: String,
    township: String,
    village: String,
    starts_on: String,
    ends_on: String,
    budget_fen: i64,
    paid_fen: i64,
    status: String,
    notice: String,
    notice_doc_no: String,
    published_on: String,
}

impl From<PublicProjectRow> for PublicProject {
    fn from(r: PublicProjectRow) -> Self {
        PublicProject {
            project: r.project,
            node: r.node,
            node_name: r.node_name.unwrap_or_default(),
            code: r.code,
            name: r.name,
            township: r.township,
            village: r.village,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            budget: fen_to_yuan(r.budget_fen),
            paid: fen_to_yuan(r.paid_fen),
            status: r.status,
            notice: r.notice,
            notice_doc_no: r.notice_doc_no,
            published_on: r.published_on,
        }
    }
}

/// Filters of the public allocation results (all optional).
#[derive(Debug, Default, Clone)]
pub struct PublicAllocationFilter {
    /// The publishing (issuing) node.
    pub node: Option<NodeCode>,
    pub recipient: Option<NodeCode>,
    /// A fund category; one that is classified, or that this node does not
    /// know, lists nothing (the caller answers 404 before asking).
    pub category: Option<String>,
    /// The records of this notice (every one, not only the latest).
    pub publication: Option<EntryId>,
}

/// Filters of the public projects (all optional).
#[derive(Debug, Default, Clone)]
pub struct PublicProjectFilter {
    /// The node whose projects.
    pub node: Option<NodeCode>,
    pub township: Option<String>,
    pub village: Option<String>,
    /// The records of this notice (every one, not only the latest).
    pub publication: Option<EntryId>,
}

/// What the public index counts: published allocation results and
/// projects (their latest notices), and their money.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct PublicTotals {
    pub allocations: i64,
    pub allocated: Decimal,
    pub projects: i64,
    pub project_funds: Decimal,
}

#[derive(sqlx::FromRow)]
struct CountSum {
    n: i64,
    fen: i64,
}

/// A record the node may publish next, for the publish form: an
/// allocation it issued or a project of its library, not classified.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublishCandidate {
    /// The record's entry.
    pub id: String,
    /// 文号 (allocations) or project code.
    pub key: String,
    /// The allocation's title or the project's name.
    pub label: String,
    /// Allocation: its date; project: its township and village.
    pub detail: String,
    /// Allocation: the category's name; project: its status.
    pub category: String,
    /// Allocation: the recipient's code; project: empty.
    pub recipient: String,
    /// The allocation's amount or the project's funds.
    pub amount: Decimal,
    /// Already in a notice.
    pub published: bool,
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: String,
    key: String,
    label: String,
    detail: String,
    category: String,
    recipient: String,
    amount_fen: i64,
    published: i64,
}

impl From<CandidateRow> for PublishCandidate {
    fn from(r: CandidateRow) -> Self {
        PublishCandidate {
            id: r.id,
            key: r.key,
            label: r.label,
            detail: r.detail,
            category: r.category,
            recipient: r.recipient,
            amount: fen_to_yuan(r.amount_fen),
            published: r.published != 0,
        }
    }
}

/// Which records the publish form offers.
#[derive(Debug, Clone)]
pub struct CandidateFilter {
    pub scope: PublicationScope,
    /// Allocations dated from, to (inclusive).
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    /// Projects of this township.
    pub township: Option<String>,
    /// Leave out what a notice has published already.
    pub unpublished: bool,
}

const PUBLICATION_COLS: &str = "SELECT id, origin, doc_no, title, scope, published_on, records, \
     at_ms FROM publications";

const PUBLIC_ALLOCATION_COLS: &str = "SELECT pa.allocation AS allocation, pa.origin AS publisher, \
     np.name AS publisher_name, pa.doc_no AS doc_no, pa.dated AS dated, \
     pa.category AS category, c.name AS category_name, pa.recipient AS recipient, \
     nr.name AS recipient_name, pa.amount_fen AS amount_fen, pa.purpose AS purpose, \
     pa.publication AS notice, p.doc_no AS notice_doc_no, pa.published_on AS published_on \
     FROM published_allocations pa \
     JOIN fund_categories c ON c.code = pa.category AND c.classified = 0 \
     JOIN publications p ON p.id = pa.publication \
     LEFT JOIN nodes np ON np.code = pa.origin \
     LEFT JOIN nodes nr ON nr.code = pa.recipient";

const PUBLIC_PROJECT_COLS: &str = "SELECT pp.project AS project, pp.origin AS node, \
     n.name AS node_name, pp.code AS code, pp.name AS name, pp.township AS township, \
     pp.village AS village, pp.starts_on AS starts_on, pp.ends_on AS ends_on, \
     pp.budget_fen AS budget_fen, pp.paid_fen AS paid_fen, pp.status AS status, \
     pp.publication AS notice, p.doc_no AS notice_doc_no, pp.published_on AS published_on \
     FROM published_projects pp \
     JOIN publications p ON p.id = pp.publication \
     LEFT JOIN nodes n ON n.code = pp.origin";

fn public_allocations_sql<'a>(f: PublicAllocationFilter) -> Sql<'a> {
    let mut sql = Sql::new(PUBLIC_ALLOCATION_COLS);
    match f.publication {
        Some(p) => sql.filter_eq("pa.publication", Some(p.to_string())),
        None => sql.and_where().push("pa.latest = 1"),
    };
    sql.filter_eq("pa.origin", f.node.map(|c| c.to_string()))
        .filter_eq("pa.recipient", f.recipient.map(|c| c.to_string()))
        .filter_eq("pa.category", f.category);
    sql
}

fn public_projects_sql<'a>(f: PublicProjectFilter) -> Sql<'a> {
    let mut sql = Sql::new(PUBLIC_PROJECT_COLS);
    match f.publication {
        Some(p) => sql.filter_eq("pp.publication", Some(p.to_string())),
        None => sql.and_where().push("pp.latest = 1"),
    };
    sql.and_where().push("pp.classified = 0");
    sql.filter_eq("pp.origin", f.node.map(|c| c.to_string()))
        .filter_eq("pp.township", f.township)
        .filter_eq("pp.village", f.village);
    sql
}

impl Ledger {
    /// The 公示台账: notices newest first, with who published each.
    pub async fn publications(
        &self,
        f: PublicationFilter,
        page: Page,
    ) -> Result<Paged<PublicationView>, LedgerError> {
        let mut sql = Sql::new(PUBLICATION_COLS);
        sql.filter_eq("origin", f.origin.map(|c| c.to_string()))
            .filter_eq("scope", f.scope.map(|s| s.as_str().to_owned()))
            .push(" ORDER BY published_on DESC, origin, seq DESC");
        let (rows, more) = fetch_page::<PublicationRow>(self, sql, page).await?;
        let mut items: Vec<PublicationView> = rows.into_iter().map(Into::into).collect();
        self.fill_actors(&mut items, |p| &p.notice.id, |p| &mut p.actor)
            .await?;
        Ok(paged(items, page, more))
    }

    /// One notice of the 公示台账.
    pub async fn publication(&self, id: EntryId) -> Result<Option<PublicationView>, LedgerError> {
        let row: Option<PublicationRow> =
            sqlx::query_as(&format!("{PUBLICATION_COLS} WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(self.db().read())
                .await?;
        let mut found: Vec<PublicationView> = row.into_iter().map(Into::into).collect();
        self.fill_actors(&mut found, |p| &p.notice.id, |p| &mut p.actor)
            .await?;
        Ok(found.pop())
    }

    /// The notices, as the public sees them (no actor), newest first.
    pub async fn public_notices(
        &self,
        f: PublicationFilter,
        page: Page,
    ) -> Result<Paged<PublicNotice>, LedgerError> {
        let mut sql = Sql::new(
            "SELECT id, origin, doc_no, title, scope, published_on, records FROM publications",
        );
        sql.filter_eq("origin", f.origin.map(|c| c.to_string()))
            .filter_eq("scope", f.scope.map(|s| s.as_str().to_owned()))
            .push(" ORDER BY published_on DESC, origin, seq DESC");
        let (rows, more) = fetch_page::<PublicNotice>(self, sql, page).await?;
        Ok(paged(rows, page, more))
    }

    /// The allocation results made public, newest first; each allocation
    /// once, as its latest notice published it (or every record of one
    /// notice). Never one of a category this node holds as classified.
    pub async fn public_allocations(
        &self,
        f: PublicAllocationFilter,
        page: Page,
    ) -> Result<Paged<PublicAllocation>, LedgerError> {
        let mut sql = public_allocations_sql(f);
        sql.push(" ORDER BY pa.dated DESC, pa.origin, pa.doc_no, pa.allocation");
        let (rows, more) = fetch_page::<PublicAllocationRow>(self, sql, page).await?;
        Ok(paged(
            rows.into_iter().map(Into::into).collect(),
            page,
            more,
        ))
    }

    /// The projects made public, by township, village, node and code; each
    /// once, as its latest notice published it (or every record of one
    /// notice). Never one this node found paid from a classified category.
    pub async fn public_projects(
        &self,
        f: PublicProjectFilter,
        page: Page,
    ) -> Result<Paged<PublicProject>, LedgerError> {
        let mut sql = public_projects_sql(f);
        sql.push(" ORDER BY pp.township, pp.village, pp.origin, pp.code");
        let (rows, more) = fetch_page::<PublicProjectRow>(self, sql, page).await?;
        Ok(paged(
            rows.into_iter().map(Into::into).collect(),
            page,
            more,
        ))
    }

    /// The townships (and their villages) of the projects made public, for
    /// the public page's filters.
    pub async fn public_places(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT township, village FROM published_projects \
             WHERE latest = 1 AND classified = 0 ORDER BY township, village",
        )
        .fetch_all(self.db().read())
        .await?;
        Ok(rows)
    }

    /// What the public index counts.
    pub async fn public_totals(&self) -> Result<PublicTotals, LedgerError> {
        let a: CountSum = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(pa.amount_fen), 0) AS BIGINT) AS fen \
             FROM published_allocations pa \
             JOIN fund_categories c ON c.code = pa.category AND c.classified = 0 \
             WHERE pa.latest = 1",
        )
        .fetch_one(self.db().read())
        .await?;
        let p: CountSum = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(budget_fen), 0) AS BIGINT) AS fen \
             FROM published_projects WHERE latest = 1 AND classified = 0",
        )
        .fetch_one(self.db().read())
        .await?;
        Ok(PublicTotals {
            allocations: a.n,
            allocated: fen_to_yuan(a.fen),
            projects: p.n,
            project_funds: fen_to_yuan(p.fen),
        })
    }

    /// Whether the public may ask for `category`: this node knows it and
    /// it is not classified. The public pages answer 404 otherwise, the
    /// same for both, so a classified category's existence is not told.
    pub async fn publicly_listed_category(&self, category: &str) -> Result<bool, LedgerError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM fund_categories WHERE code = $1 AND classified = 0",
        )
        .bind(category)
        .fetch_one(self.db().read())
        .await?;
        Ok(n > 0)
    }

    /// The fund categories the public lists may be filtered by: those of
    /// the published allocation results, none classified.
    pub async fn public_categories(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT c.code, c.name FROM published_allocations pa \
             JOIN fund_categories c ON c.code = pa.category AND c.classified = 0 \
             WHERE pa.latest = 1 ORDER BY c.code",
        )
        .fetch_all(self.db().read())
        .await?;
        Ok(rows)
    }

    /// What this node may publish: its allocations issued, or its
    /// projects, none classified, at most `limit` (and whether there are
    /// more).
    pub async fn publish_candidates(
        &self,
        f: CandidateFilter,
        limit: u32,
    ) -> Result<(Vec<PublishCandidate>, bool), LedgerError> {
        let me = self.identity().code.to_string();
        let mut sql = match f.scope {
            PublicationScope::Allocations => {
                let mut sql = Sql::new(
                    "SELECT a.id AS id, a.doc_no AS key, a.title AS label, a.dated AS detail, \
                     c.name AS category, a.holder AS recipient, a.amount_fen AS amount_fen, \
                     CAST(CASE WHEN EXISTS (SELECT 1 FROM published_allocations pa \
                     WHERE pa.allocation = a.id) THEN 1 ELSE 0 END AS BIGINT) AS published \
                     FROM allocations a JOIN fund_categories c ON c.code = a.category \
                     AND c.classified = 0",
                );
                sql.filter_eq("a.origin", Some(me))
                    .filter_eq("a.kind", Some("issued".to_owned()));
                if let Some(from) = f.from {
                    sql.and_where().push("a.dated >= ").bind(from.to_string());
                }
                sql.filter_le("a.dated", f.to.map(|d| d.to_string()));
                if f.unpublished {
                    sql.and_where().push(
                        "NOT EXISTS (SELECT 1 FROM published_allocations pa WHERE pa.allocation = a.id)",
                    );
                }
                sql.push(" ORDER BY a.dated, a.id");
                sql
            }
            PublicationScope::Projects => {
                let hidden = self.classified_project_codes(self.identity().code).await?;
                let mut sql = Sql::new(
                    "SELECT pr.id AS id, pr.code AS key, pr.name AS label, \
                     pr.township || ' ' || pr.village AS detail, pr.status AS category, \
                     '' AS recipient, pr.budget_fen AS amount_fen, \
                     CAST(CASE WHEN EXISTS (SELECT 1 FROM published_projects pp \
                     WHERE pp.project = pr.id) THEN 1 ELSE 0 END AS BIGINT) AS published \
                     FROM projects pr",
                );
                sql.filter_eq("pr.origin", Some(me))
                    .filter_eq("pr.township", f.township);
                if !hidden.is_empty() {
                    sql.and_where().push("NOT ").in_list("pr.code", hidden);
                }
                if f.unpublished {
                    sql.and_where().push(
                        "NOT EXISTS (SELECT 1 FROM published_projects pp WHERE pp.project = pr.id)",
                    );
                }
                sql.push(" ORDER BY pr.township, pr.village, pr.code");
                sql
            }
        };
        sql.push(" LIMIT ").bind(i64::from(limit) + 1);
        let mut rows: Vec<CandidateRow> = sql.query_as()?.fetch_all(self.db().read()).await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows.into_iter().map(Into::into).collect(), more))
    }

    /// The codes of `origin`'s projects that a payment draws on a
    /// classified category for (the project library's rule), reading the
    /// classified allocations first so a ledger without any reads no payment.
    async fn classified_project_codes(&self, origin: NodeCode) -> Result<Vec<String>, LedgerError> {
        let allocations: Vec<String> = sqlx::query_scalar(
            "SELECT a.id FROM allocations a JOIN fund_categories c ON c.code = a.category \
             WHERE c.classified <> 0",
        )
        .fetch_all(self.db().read())
        .await?;
        if allocations.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("SELECT DISTINCT project FROM payments WHERE origin = ");
        sql.bind(origin.to_string())
            .push(" AND ")
            .in_list("allocation_id", allocations);
        Ok(sql.query_scalar()?.fetch_all(self.db().read()).await?)
    }
}
