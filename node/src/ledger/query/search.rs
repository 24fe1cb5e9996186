//! 检索: one text looked for across allocations (文号, title), projects
//! (code, name, township, village) and payments (voucher, payee, purpose),
//! narrowed by a date range, a fund category, a department and a node (with
//! its subtree), and by the reader's scope.
//!
//! The text matches anywhere in a field (`LIKE '%…%'`), its `%`, `_` and
//! `\` taken literally (escaped, `ESCAPE '\'`), Latin letters in any case
//! (`LOWER` on both sides, so each engine folds both alike).
//!
//! A substring index finds the candidates first (issue 19, migration 0021),
//! one per engine behind [`Dialect::substring_match`]: on SQLite FTS5
//! tables with the trigram tokenizer (`payment_texts`, `allocation_texts`,
//! `project_texts`) asked for the text as one phrase, then the same `LIKE`s
//! checked on each candidate, so the index never changes what is found; on
//! PostgreSQL pg_trgm GIN indexes over the lower-cased fields, which the
//! `LIKE`s use themselves. A text of fewer than
//! [`SUBSTRING_INDEX_CHARS_MIN`] (3) characters has no trigram: it is
//! matched by the `LIKE`s alone, scanning the (narrow) copies. A payment's
//! payee and purpose live in its entry's body; the ledger copies them into
//! `payment_texts` as it applies the payment, so a search never reads the
//! journal.
//!
//! [`Dialect::substring_match`]: crate::store::Dialect::substring_match

use std::collections::HashMap;

use chrono::NaiveDate;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Body, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::records::subtree;
use super::{fetch_page, paged, Page, Paged};
use crate::ledger::rows::{parse_code, seq_i64, seq_u64};
use crate::ledger::{Ledger, LedgerError};
use crate::store::{substring_query, Dialect, Sql, SUBSTRING_INDEX_CHARS_MIN};

/// Longest search text, in characters (each character is compared with
/// every searched field of every row).
pub const SEARCH_TEXT_CHARS_MAX: usize = 100;

/// What a search hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    Allocation,
    Project,
    Payment,
}

impl SearchKind {
    pub const ALL: [SearchKind; 3] = [
        SearchKind::Allocation,
        SearchKind::Project,
        SearchKind::Payment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Allocation => "allocation",
            SearchKind::Project => "project",
            SearchKind::Payment => "payment",
        }
    }

    fn order(self) -> i64 {
        match self {
            SearchKind::Allocation => 1,
            SearchKind::Project => 2,
            SearchKind::Payment => 3,
        }
    }
}

impl std::str::FromStr for SearchKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        SearchKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// A search: the text and the filters, all optional.
#[derive(Debug, Default, Clone)]
pub struct SearchFilter {
    /// Looked for in every searched field; empty: the filters alone.
    pub text: String,
    /// Only these kinds; empty: all.
    pub kinds: Vec<SearchKind>,
    /// Allocations dated, payments paid, projects running on or after it.
    pub from: Option<NaiveDate>,
    /// … on or before it.
    pub to: Option<NaiveDate>,
    /// Allocations of this fund category, payments drawing on one, projects
    /// paid from one.
    pub category: Option<String>,
    /// Categories (projects: the project's department) of this department.
    pub department: Option<String>,
    /// Held (allocations) or recorded (projects, payments) by this node or
    /// a node below it; `None`: anywhere.
    pub node: Option<NodeCode>,
    /// The reader's scope: only these fund categories (`None`: all).
    pub categories: Option<Vec<String>>,
    /// The reader's scope for projects: only this department's (`None`: all).
    pub project_department: Option<String>,
}

/// One thing found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchHit {
    pub kind: SearchKind,
    /// The record's id (the entry that created it).
    pub id: String,
    /// The holder (allocations) or the recording node.
    pub node: String,
    /// Dated, started on, paid on.
    pub date: String,
    /// 文号, project code, voucher number.
    pub code: String,
    /// Title, project name, payee.
    pub title: String,
    /// Project: township and village; payment: purpose.
    pub detail: String,
    /// Amount, project budget, payment amount (yuan).
    pub amount: Decimal,
    /// The fund category (allocations and payments).
    pub category: Option<String>,
}

#[derive(sqlx::FromRow)]
struct HitRow {
    k: i64,
    id: String,
    node: String,
    dated: String,
    code: String,
    title: String,
    detail: String,
    amount_fen: i64,
    category: Option<String>,
}

impl TryFrom<HitRow> for SearchHit {
    type Error = LedgerError;

    fn try_from(r: HitRow) -> Result<Self, LedgerError> {
        let kind = SearchKind::ALL
            .into_iter()
            .find(|k| k.order() == r.k)
            .ok_or_else(|| crate::ledger::rows::corrupt(format!("search kind {}", r.k)))?;
        Ok(SearchHit {
            kind,
            id: r.id,
            node: r.node,
            date: r.dated,
            code: r.code,
            title: r.title,
            detail: r.detail,
            amount: fen_to_yuan(r.amount_fen),
            category: r.category,
        })
    }
}

/// `s` with `LIKE`'s wildcards and its escape character taken literally.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `%text%`, escaped.
fn contains(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

/// ` AND <col> IN (SELECT id FROM <table> WHERE <table> MATCH …)`: the
/// rows the engine's substring index finds, where it must be asked and the
/// text is long enough for it.
fn narrow_by_index(sql: &mut Sql<'_>, dialect: &dyn Dialect, text: &str, col: &str, table: &str) {
    if text.chars().count() < SUBSTRING_INDEX_CHARS_MIN {
        return;
    }
    if let Some(m) = dialect.substring_match(table, table) {
        sql.push(" AND ")
            .push(col)
            .push(" IN (SELECT id FROM ")
            .push(table)
            .push(" WHERE ")
            .push(&m)
            .bind(substring_query(text))
            .push(")");
    }
}

/// ` AND (LOWER(a) LIKE LOWER($n) ESCAPE '\' OR …)` over `exprs`, each with
/// its own pattern.
fn any_like(sql: &mut Sql<'_>, exprs: &[(String, String)]) {
    sql.push(" AND (");
    for (i, (expr, pattern)) in exprs.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("LOWER(")
            .push(expr)
            .push(") LIKE LOWER(")
            .bind(pattern.clone())
            .push(") ESCAPE '\\'");
    }
    sql.push(")");
}

/// ` AND col IN (…)` when given.
fn and_in(sql: &mut Sql<'_>, col: &str, values: &Option<Vec<String>>) {
    if let Some(v) = values {
        sql.push(" AND ").in_list(col, v.clone());
    }
}

impl Ledger {
    /// One page of what the search finds: allocations first, then projects,
    /// then payments, each newest first.
    pub async fn search(
        &self,
        f: &SearchFilter,
        page: Page,
    ) -> Result<Paged<SearchHit>, LedgerError> {
        let kinds: Vec<SearchKind> = if f.kinds.is_empty() {
            SearchKind::ALL.to_vec()
        } else {
            SearchKind::ALL
                .into_iter()
                .filter(|k| f.kinds.contains(k))
                .collect()
        };
        let text = f.text.trim();
        let nodes: Option<Vec<String>> = match f.node {
            Some(n) => Some(
                subtree(&self.nodes().await?, n.as_str())
                    .into_iter()
                    .collect(),
            ),
            None => None,
        };
        let (from, to) = (f.from.map(|d| d.to_string()), f.to.map(|d| d.to_string()));
        let dialect = self.db().dialect();
        let mut sql =
            Sql::new("SELECT k, id, node, dated, code, title, detail, amount_fen, category FROM (");
        for (i, kind) in kinds.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            match kind {
                SearchKind::Allocation => {
                    sql.push(
                        "SELECT 1 AS k, a.id AS id, a.holder AS node, a.dated AS dated, \
                         a.doc_no AS code, a.title AS title, '' AS detail, \
                         a.amount_fen AS amount_fen, a.category AS category \
                         FROM allocations a WHERE 1 = 1",
                    );
                    if !text.is_empty() {
                        narrow_by_index(&mut sql, dialect, text, "a.id", "allocation_texts");
                        let p = contains(text);
                        any_like(
                            &mut sql,
                            &[("a.doc_no".into(), p.clone()), ("a.title".into(), p)],
                        );
                    }
                    if let Some(d) = &from {
                        sql.push(" AND a.dated >= ").bind(d.clone());
                    }
                    if let Some(d) = &to {
                        sql.push(" AND a.dated <= ").bind(d.clone());
                    }
                    if let Some(c) = &f.category {
                        sql.push(" AND a.category = ").bind(c.clone());
                    }
                    if let Some(d) = &f.department {
                        sql.push(
                            " AND a.category IN (SELECT code FROM fund_categories WHERE department = ",
                        )
                        .bind(d.clone())
                        .push(")");
                    }
                    and_in(&mut sql, "a.holder", &nodes);
                    and_in(&mut sql, "a.category", &f.categories);
                }
                SearchKind::Project => {
                    sql.push(
                        "SELECT 2 AS k, pr.id AS id, pr.origin AS node, pr.starts_on AS dated, \
                         pr.code AS code, pr.name AS title, \
                         pr.township || ' ' || pr.village AS detail, \
                         pr.budget_fen AS amount_fen, CAST(NULL AS TEXT) AS category \
                         FROM projects pr WHERE 1 = 1",
                    );
                    if !text.is_empty() {
                        narrow_by_index(&mut sql, dialect, text, "pr.id", "project_texts");
                        let p = contains(text);
                        any_like(
                            &mut sql,
                            &[
                                ("pr.code".into(), p.clone()),
                                ("pr.name".into(), p.clone()),
                                ("pr.township".into(), p.clone()),
                                ("pr.village".into(), p),
                            ],
                        );
                    }
                    // Running at some time within the range.
                    if let Some(d) = &from {
                        sql.push(" AND pr.ends_on >= ").bind(d.clone());
                    }
                    if let Some(d) = &to {
                        sql.push(" AND pr.starts_on <= ").bind(d.clone());
                    }
                    if let Some(c) = &f.category {
                        sql.push(
                            " AND EXISTS (SELECT 1 FROM project_categories pc \
                             WHERE pc.origin = pr.origin AND pc.project = pr.code \
                             AND pc.category = ",
                        )
                        .bind(c.clone())
                        .push(")");
                    }
                    if let Some(d) = &f.department {
                        sql.push(" AND pr.department = ").bind(d.clone());
                    }
                    if let Some(d) = &f.project_department {
                        sql.push(" AND pr.department = ").bind(d.clone());
                    }
                    and_in(&mut sql, "pr.origin", &nodes);
                }
                SearchKind::Payment => {
                    sql.push(
                        "SELECT 3 AS k, p.origin || '-' || CAST(p.seq AS TEXT) AS id, \
                         p.origin AS node, p.paid_on AS dated, p.voucher_no AS code, ",
                    );
                    // Payee and purpose are read from the body by the caller
                    // (only the page's).
                    sql.push(
                        "'' AS title, '' AS detail, p.amount_fen AS amount_fen, \
                         (SELECT category FROM allocations WHERE id = p.allocation_id) AS category \
                         FROM payments p",
                    );
                    if !text.is_empty() {
                        sql.push(" JOIN payment_texts t ON t.origin = p.origin AND t.seq = p.seq");
                    }
                    sql.push(" WHERE 1 = 1");
                    if !text.is_empty() {
                        if text.chars().count() >= SUBSTRING_INDEX_CHARS_MIN {
                            if let Some(m) = dialect.substring_match("t", "payment_texts") {
                                sql.push(" AND ").push(&m).bind(substring_query(text));
                            }
                        }
                        let p = contains(text);
                        any_like(
                            &mut sql,
                            &[
                                ("t.voucher_no".into(), p.clone()),
                                ("t.payee".into(), p.clone()),
                                ("t.purpose".into(), p),
                            ],
                        );
                    }
                    if let Some(d) = &from {
                        sql.push(" AND p.paid_on >= ").bind(d.clone());
                    }
                    if let Some(d) = &to {
                        sql.push(" AND p.paid_on <= ").bind(d.clone());
                    }
                    let via_allocation = |sql: &mut Sql<'_>, cond: &str, v: Option<String>| {
                        sql.push(" AND p.allocation_id IN (SELECT id FROM allocations WHERE ")
                            .push(cond);
                        if let Some(v) = v {
                            sql.bind(v);
                        }
                        sql.push(")");
                    };
                    if let Some(c) = &f.category {
                        via_allocation(&mut sql, "category = ", Some(c.clone()));
                    }
                    if let Some(d) = &f.department {
                        via_allocation(
                            &mut sql,
                            "category IN (SELECT code FROM fund_categories WHERE department = ",
                            Some(d.clone()),
                        );
                        sql.push(")");
                    }
                    and_in(&mut sql, "p.origin", &nodes);
                    if let Some(cats) = &f.categories {
                        sql.push(" AND p.allocation_id IN (SELECT id FROM allocations WHERE ")
                            .in_list("category", cats.clone())
                            .push(")");
                    }
                }
            }
        }
        sql.push(") hits ORDER BY k, dated DESC, id");
        let (rows, more) = fetch_page::<HitRow>(self, sql, page).await?;
        let mut items: Vec<SearchHit> = rows
            .into_iter()
            .map(SearchHit::try_from)
            .collect::<Result<_, _>>()?;
        self.fill_payment_text(&mut items).await?;
        Ok(paged(items, page, more))
    }

    /// Payee and purpose of the page's payments, from their entries.
    async fn fill_payment_text(&self, hits: &mut [SearchHit]) -> Result<(), LedgerError> {
        let ids: Vec<EntryId> = hits
            .iter()
            .filter(|h| h.kind == SearchKind::Payment)
            .filter_map(|h| h.id.parse().ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let bodies = self.payees_and_purposes(&ids).await?;
        for h in hits.iter_mut().filter(|h| h.kind == SearchKind::Payment) {
            if let Some((payee, purpose)) = h.id.parse().ok().and_then(|id| bodies.get(&id)) {
                h.title.clone_from(payee);
                h.detail.clone_from(purpose);
            }
        }
        Ok(())
    }
}

impl Ledger {
    /// Payee and purpose of these payments, read from their entries (one
    /// statement).
    async fn payees_and_purposes(
        &self,
        ids: &[EntryId],
    ) -> Result<HashMap<EntryId, (String, String)>, LedgerError> {
        let mut sql = Sql::new("SELECT origin, seq, kind, body FROM journal WHERE ");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(origin = ")
                .bind(id.origin.to_string())
                .push(" AND seq = ")
                .bind(seq_i64(id.seq)?)
                .push(")");
        }
        let rows: Vec<EntryBody> = sql.query_as()?.fetch_all(self.db().read()).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let id = EntryId {
                origin: parse_code(&r.origin)?,
                seq: seq_u64(r.seq)?,
            };
            if let Ok((Body::PaymentRecorded(b), _)) = Body::decode(&r.kind, &r.body) {
                out.insert(id, (b.payee_name, b.purpose));
            }
        }
        Ok(out)
    }
}

#[derive(sqlx::FromRow)]
struct EntryBody {
    origin: String,
    seq: i64,
    kind: String,
    body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_are_literal() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(contains("x%"), "%x\\%%");
    }

    #[test]
    fn kinds_parse() {
        assert_eq!("payment".parse(), Ok(SearchKind::Payment));
        assert!("x".parse::<SearchKind>().is_err());
    }
}
