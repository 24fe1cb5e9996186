//! `category_defined`: a node defines a fund category of its own
//! (the `fund_categories` table, which also holds the shipped catalog).

use fundsync_protocol::body::CategoryDefined;
use fundsync_protocol::{Entry, EntryId, Level};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &CategoryDefined,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    if let Some((_, existing)) = w.category(&b.code).await? {
        // The same definition again is a retry; the shipped
        // catalog's rows have no entry and cannot be redefined.
        let entry: Option<String> =
            sqlx::query_scalar("SELECT entry_id FROM fund_categories WHERE code = $1")
                .bind(&b.code)
                .fetch_one(w.conn().await?)
                .await?;
        return match entry {
            Some(id) if &existing == b => Ok(Some(parse_id(&id)?)),
            _ => Err(LedgerError::CategoryExists(b.code.clone())),
        };
    }
    let own = w.me.level.own_origin();
    if w.me.level != Level::Region && b.origin != own {
        return Err(LedgerError::CategoryOrigin {
            category: b.code.clone(),
            origin: b.origin,
            expected: own.to_string(),
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &CategoryDefined,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: CategoryDefined,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO fund_categories (code, name, origin, department, classified, defined_by, entry_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING",
    )
    .bind(&b.code)
    .bind(&b.name)
    .bind(b.origin.as_str())
    .bind(&b.department)
    .bind(i64::from(b.classified))
    .bind(e.origin.as_str())
    .bind(e.id().to_string())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}

/// A category of the shipped catalog, written by `Ledger::init` (no entry
/// made it, so it cannot be redefined).
pub(in crate::ledger) async fn insert_shipped(
    conn: &mut sqlx::AnyConnection,
    c: &CategoryDefined,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO fund_categories (code, name, origin, department, classified) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&c.code)
    .bind(&c.name)
    .bind(c.origin.as_str())
    .bind(&c.department)
    .bind(i64::from(c.classified))
    .execute(conn)
    .await?;
    Ok(())
}
