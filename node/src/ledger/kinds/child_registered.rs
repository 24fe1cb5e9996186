//! `child_registered`: a node registers a child inside its division
//! (the `nodes` table). The node itself is in `nodes` from `init`.

use fundsync_protocol::body::ChildRegistered;
use fundsync_protocol::{Entry, EntryId, Level};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::Identity;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &ChildRegistered,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    if w.me.level.child().is_none() {
        return Err(LedgerError::NoChildren);
    }
    if !me.contains(w.me.level, &b.code) {
        return Err(LedgerError::OutsideDivision { code: b.code, me });
    }
    if let Some((name, _, parent, entry)) = w.node(b.code).await? {
        return match entry {
            Some(id) if name == b.name && parent == Some(me) => Ok(Some(id)),
            _ => Err(LedgerError::NodeExists(b.code)),
        };
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &ChildRegistered,
) -> Result<(), LedgerError> {
    let o = r.entry.origin;
    let level = w.node(o).await?.map(|n| n.1);
    let inside = level.is_some_and(|l| l.child().is_some() && o.contains(l, &b.code));
    if inside {
        Ok(())
    } else {
        r.refuse(format!("{} is not inside the division of {o}", b.code))
    }
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: ChildRegistered,
) -> Result<(), LedgerError> {
    let o = e.origin;
    let level = if o == w.me.code {
        Some(w.me.level)
    } else {
        w.node(o).await?.map(|n| n.1)
    };
    let child_level = level.and_then(Level::child).unwrap_or(Level::County);
    sqlx::query(
        "INSERT INTO nodes (code, name, level, parent, entry_id) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
         entry_id = excluded.entry_id",
    )
    .bind(b.code.as_str())
    .bind(&b.name)
    .bind(child_level.as_str())
    .bind(o.as_str())
    .bind(e.id().to_string())
    .execute(w.conn().await?)
    .await?;
    Ok(())
}

/// The node's own row, written once by `Ledger::init` (no entry made it).
pub(in crate::ledger) async fn insert_self(
    conn: &mut sqlx::AnyConnection,
    id: &Identity,
) -> Result<(), LedgerError> {
    sqlx::query("INSERT INTO nodes (code, name, level, parent) VALUES ($1, $2, $3, $4)")
        .bind(id.code.as_str())
        .bind(&id.name)
        .bind(id.level.as_str())
        .bind(id.parent.map(|p| p.as_str().to_owned()))
        .execute(conn)
        .await?;
    Ok(())
}
