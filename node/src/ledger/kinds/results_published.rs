//! `results_published`: a node makes results public (公告公示): the
//! allocations it issued, or projects of its library with their funds and
//! progress (the `publications`, `published_allocations` and
//! `published_projects` tables, migration 0011: the 公示台账 and what the
//! public pages show). Rolled up like payments, so every ancestor holds its
//! subtree's publications; never sent down.
//!
//! What a record shows publicly is copied when the entry is applied: an
//! allocation's fields (which never change) and a project's funds, paid and
//! status as they stand at that point of the origin's chain. Every node that
//! holds the chain applies the entry after the same entries of that origin
//! (a project is paid only by its own node), so each copy is the origin's,
//! and what was public from which notice is fixed by the journal. Publishing
//! a project again shows its newer figures; the public lists show each
//! record as its latest notice left it (`latest`).

use fundsync_protocol::body::{PublicationScope, ResultsPublished};
use fundsync_protocol::{Entry, EntryId, NodeCode};
use sqlx::Row;

use super::{existing, Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::{parse_date, parse_id, seq_i64};
use crate::store::Sql;

fn refuse(record: EntryId, why: impl Into<String>) -> LedgerError {
    LedgerError::NotPublishable {
        record,
        why: why.into(),
    }
}

/// The same notice (origin, 文号) again is a retry; each record is this
/// node's own, of the scope's kind, not classified, and dated no later than
/// the notice.
pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &ResultsPublished,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM publications WHERE origin = $1 AND doc_no = $2")
            .bind(me.as_str())
            .bind(&b.doc_no)
            .fetch_optional(w.conn().await?)
            .await?;
    if let Some(id) = found {
        let id = parse_id(&id)?;
        let same = w.same_body(id, encoded).await?;
        return existing("publication", &b.doc_no, (id, same));
    }
    if let Some(r) = b.records.iter().find(|r| r.origin != me) {
        return Err(refuse(
            *r,
            format!(
                "it is {}'s record; a node publishes only its own results",
                r.origin
            ),
        ));
    }
    match b.scope {
        PublicationScope::Allocations => {
            for r in &b.records {
                let row =
                    sqlx::query("SELECT kind, category, dated FROM allocations WHERE id = $1")
                        .bind(r.to_string())
                        .fetch_optional(w.conn().await?)
                        .await?;
                let Some(row) = row else {
                    return Err(refuse(*r, "no allocation issued by this node has this id"));
                };
                if row.try_get::<String, _>("kind")? != "issued" {
                    return Err(refuse(
                        *r,
                        "it is funds received or an own budget, not an allocation issued to a child",
                    ));
                }
                let category: String = row.try_get("category")?;
                if w.category(&category)
                    .await?
                    .is_some_and(|(_, c)| c.classified)
                {
                    return Err(refuse(
                        *r,
                        format!("it is of the classified (涉密) fund category {category}"),
                    ));
                }
                let dated = parse_date(&row.try_get::<String, _>("dated")?)?;
                if b.published_on < dated {
                    return Err(refuse(
                        *r,
                        format!(
                            "it is dated {dated}, after the publication ({})",
                            b.published_on
                        ),
                    ));
                }
            }
        }
        PublicationScope::Projects => {
            let mut codes = Vec::with_capacity(b.records.len());
            for r in &b.records {
                let code: Option<String> =
                    sqlx::query_scalar("SELECT code FROM projects WHERE id = $1")
                        .bind(r.to_string())
                        .fetch_optional(w.conn().await?)
                        .await?;
                let Some(code) = code else {
                    return Err(refuse(*r, "no project of this node's library has this id"));
                };
                codes.push((*r, code));
            }
            let classified = classified_projects(w, me).await?;
            if let Some((r, code)) = codes.iter().find(|(_, c)| classified.contains(c)) {
                return Err(refuse(
                    *r,
                    format!("project {code} is paid from a classified (涉密) fund category"),
                ));
            }
        }
    }
    Ok(None)
}

/// The codes of `origin`'s projects that a payment draws on an allocation
/// of a classified category for (the project library's rule: such a
/// project is classified). Reads the classified allocations first, so a
/// ledger without any reads no payment.
async fn classified_projects(
    w: &mut Work<'_>,
    origin: NodeCode,
) -> Result<Vec<String>, LedgerError> {
    let allocations: Vec<String> = sqlx::query_scalar(
        "SELECT a.id FROM allocations a JOIN fund_categories c ON c.code = a.category \
         WHERE c.classified <> 0",
    )
    .fetch_all(w.conn().await?)
    .await?;
    if allocations.is_empty() {
        return Ok(Vec::new());
    }
    // Payments buffered by this transaction land first.
    w.flush_rows().await?;
    let mut sql = Sql::new("SELECT DISTINCT project FROM payments WHERE origin = ");
    sql.bind(origin.to_string())
        .push(" AND ")
        .in_list("allocation_id", allocations);
    Ok(sql.query_scalar()?.fetch_all(w.conn().await?).await?)
}

/// A publication names only records of its own origin that the origin
/// holds: no honest node publishes another's, or one it does not have.
pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &ResultsPublished,
) -> Result<(), LedgerError> {
    let origin = r.entry.origin;
    if let Some(other) = b.records.iter().find(|x| x.origin != origin) {
        return r.refuse(format!(
            "a node publishes only its own results; {other} is {}'s",
            other.origin
        ));
    }
    let table = match b.scope {
        PublicationScope::Allocations => {
            "SELECT id FROM allocations WHERE kind = 'issued' AND id = $1"
        }
        PublicationScope::Projects => "SELECT id FROM projects WHERE id = $1",
    };
    for x in &b.records {
        let found: Option<String> = sqlx::query_scalar(table)
            .bind(x.to_string())
            .fetch_optional(w.conn().await?)
            .await?;
        if found.is_none() {
            return r.refuse(format!(
                "it publishes {x}, which is no {} of {origin}",
                match b.scope {
                    PublicationScope::Allocations => "allocation issued",
                    PublicationScope::Projects => "project",
                }
            ));
        }
    }
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: ResultsPublished,
) -> Result<(), LedgerError> {
    let id = e.id().to_string();
    let on = b.published_on.to_string();
    let records = i64::try_from(b.records.len()).map_err(|_| LedgerError::Overflow)?;
    sqlx::query(
        "INSERT INTO publications (id, origin, seq, doc_no, title, scope, published_on, records, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(&b.doc_no)
    .bind(&b.title)
    .bind(b.scope.as_str())
    .bind(&on)
    .bind(records)
    .bind(e.at_ms)
    .execute(w.conn().await?)
    .await?;
    match b.scope {
        PublicationScope::Allocations => {
            for r in &b.records {
                let record = r.to_string();
                sqlx::query("UPDATE published_allocations SET latest = 0 WHERE allocation = $1")
                    .bind(&record)
                    .execute(w.conn().await?)
                    .await?;
                sqlx::query(
                    "INSERT INTO published_allocations (publication, allocation, origin, doc_no, \
                     dated, category, recipient, amount_fen, purpose, published_on, latest) \
                     SELECT $1, id, origin, doc_no, dated, category, holder, amount_fen, title, $2, 1 \
                     FROM allocations WHERE id = $3",
                )
                .bind(&id)
                .bind(&on)
                .bind(&record)
                .execute(w.conn().await?)
                .await?;
            }
        }
        PublicationScope::Projects => {
            let classified = classified_projects(w, e.origin).await?;
            for r in &b.records {
                let record = r.to_string();
                let code: Option<String> =
                    sqlx::query_scalar("SELECT code FROM projects WHERE id = $1")
                        .bind(&record)
                        .fetch_optional(w.conn().await?)
                        .await?;
                let Some(code) = code else { continue };
                // Funds paid and status as this transaction holds them.
                let (paid_fen, status) = match w.project(e.origin, &code).await? {
                    Some(p) => (p.paid_fen, p.status.clone()),
                    None => continue,
                };
                sqlx::query("UPDATE published_projects SET latest = 0 WHERE project = $1")
                    .bind(&record)
                    .execute(w.conn().await?)
                    .await?;
                sqlx::query(
                    "INSERT INTO published_projects (publication, project, origin, code, name, \
                     township, village, starts_on, ends_on, budget_fen, paid_fen, status, \
                     classified, published_on, latest) \
                     SELECT $1, id, origin, code, name, township, village, starts_on, ends_on, \
                     budget_fen, $2, $3, $4, $5, 1 FROM projects WHERE id = $6",
                )
                .bind(&id)
                .bind(paid_fen)
                .bind(status)
                .bind(i64::from(classified.contains(&code)))
                .bind(&on)
                .bind(&record)
                .execute(w.conn().await?)
                .await?;
            }
        }
    }
    Ok(())
}
