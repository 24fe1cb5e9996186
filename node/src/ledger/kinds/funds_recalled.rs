//! `funds_recalled`: the holder of an allocation its parent issued returns
//! unspent funds of it (收回, or 统筹 to be arranged anew). Recorded by the
//! holder, the only node that pays from the allocation, so the check of its
//! unspent balance cannot race a payment still on its way up; rolled up
//! like payments, never sent down. Wherever it is applied, the allocation's
//! `recalled_fen` grows and its source's `issued_fen` shrinks by exactly
//! the amount (the source is held by the issuer and its ancestors, not by
//! the holder), so money is conserved at every level (the `recalls` table
//! keeps each one, for figures as of a date).

use fundsync_protocol::body::FundsRecalled;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Entry, EntryId};

use super::{existing, Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

/// Where an allocation came from: its kind, source and issuer.
async fn lineage(
    w: &mut Work<'_>,
    allocation: EntryId,
) -> Result<Option<(String, Option<EntryId>, Option<String>)>, LedgerError> {
    let row: Option<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT kind, source_id, from_node FROM allocations WHERE id = $1")
            .bind(allocation.to_string())
            .fetch_optional(w.conn().await?)
            .await?;
    row.map(|(kind, source, from)| Ok((kind, source.map(|s| parse_id(&s)).transpose()?, from)))
        .transpose()
}

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &FundsRecalled,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let a = w
        .alloc(b.allocation)
        .await?
        .ok_or(LedgerError::UnknownAllocation(b.allocation))?
        .clone();
    if a.holder != me {
        return Err(LedgerError::NotHolder {
            allocation: b.allocation,
            holder: a.holder,
            me,
        });
    }
    match lineage(w, b.allocation).await? {
        Some((kind, Some(_), Some(_))) if kind == "issued" => {}
        _ => return Err(LedgerError::NotRecallable(b.allocation)),
    }
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM recalls WHERE allocation_id = $1 AND doc_no = $2")
            .bind(b.allocation.to_string())
            .bind(&b.doc_no)
            .fetch_optional(w.conn().await?)
            .await?;
    if let Some(id) = found {
        let id = parse_id(&id)?;
        let same = w.same_body(id, encoded).await?;
        return existing("recall", &b.doc_no, (id, same));
    }
    // Local only, like every date rule.
    if b.recalled_on < a.dated {
        return Err(LedgerError::RecalledBeforeAllocation {
            doc_no: b.doc_no.clone(),
            recalled_on: b.recalled_on,
            allocation: b.allocation,
            dated: a.dated,
        });
    }
    let available = a.available_fen()?;
    if b.amount.fen() > available {
        return Err(LedgerError::OverRecall {
            allocation: b.allocation,
            available: fen_to_yuan(available),
            requested: b.amount.yuan(),
        });
    }
    Ok(None)
}

/// An honest node returns only allocations its parent issued to it.
pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &FundsRecalled,
) -> Result<(), LedgerError> {
    r.expect_held(w, b.allocation).await?;
    super::carry_over_explained::held_by_origin(w, r, b.allocation).await?;
    match lineage(w, b.allocation).await? {
        Some((kind, Some(_), Some(_))) if kind == "issued" => Ok(()),
        _ => r.refuse(format!(
            "{} was not issued by a parent, so it cannot be returned to one",
            b.allocation
        )),
    }
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: FundsRecalled,
) -> Result<(), LedgerError> {
    let Some((_, Some(source), Some(from))) = lineage(w, b.allocation).await? else {
        // Checked before: held, and issued by a parent.
        return Err(LedgerError::NotRecallable(b.allocation));
    };
    let amount = b.amount.fen();
    sqlx::query(
        "INSERT INTO recalls (id, origin, allocation_id, source_id, from_node, doc_no, amount_fen, \
         recalled_on, purpose, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.id().to_string())
    .bind(e.origin.as_str())
    .bind(b.allocation.to_string())
    .bind(source.to_string())
    .bind(&from)
    .bind(&b.doc_no)
    .bind(amount)
    .bind(b.recalled_on.to_string())
    .bind(b.purpose.as_str())
    .bind(&b.reason)
    .execute(w.conn().await?)
    .await?;
    if let Some(a) = w.alloc(b.allocation).await? {
        a.recalled_fen = a
            .recalled_fen
            .checked_add(amount)
            .ok_or(LedgerError::Overflow)?;
        a.dirty = true;
    }
    // The issuer's source, where it is held (not at the holder itself).
    if let Some(src) = w.alloc(source).await? {
        src.issued_fen = src
            .issued_fen
            .checked_sub(amount)
            .ok_or(LedgerError::Overflow)?;
        src.dirty = true;
    }
    Ok(())
}
