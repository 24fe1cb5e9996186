//! `allocation_issued`: a node issues part of an allocation it holds to
//! a direct child; the child then holds the new allocation.

use fundsync_protocol::body::AllocationIssued;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Entry, EntryId};

use super::{existing, Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &AllocationIssued,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    match w.node(b.to).await? {
        Some((_, _, Some(parent), _)) if parent == me => {}
        _ => return Err(LedgerError::NotAChild { to: b.to, me }),
    }
    if let Some(found) = w
        .same_allocation(
            "issued",
            b.to,
            &b.doc_no,
            &b.source.to_string(),
            b.amount.fen(),
            b.issued_on,
        )
        .await?
    {
        return existing("allocation", &b.doc_no, found);
    }
    let src = w
        .alloc(b.source)
        .await?
        .ok_or(LedgerError::UnknownAllocation(b.source))?;
    if src.holder != me {
        return Err(LedgerError::NotHolder {
            allocation: b.source,
            holder: src.holder,
            me,
        });
    }
    if src.category != b.category {
        return Err(LedgerError::CategoryMismatch {
            source_id: b.source,
            source_category: src.category.clone(),
            given: b.category.clone(),
        });
    }
    // Local only (see `payment_recorded`).
    if b.issued_on < src.dated {
        return Err(LedgerError::IssuedBeforeSource {
            doc_no: b.doc_no.clone(),
            issued_on: b.issued_on,
            source_id: b.source,
            dated: src.dated,
        });
    }
    let available = src.available_fen()?;
    if b.amount.fen() > available {
        return Err(LedgerError::OverAllocation {
            source_id: b.source,
            available: fen_to_yuan(available),
            requested: b.amount.yuan(),
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &AllocationIssued,
) -> Result<(), LedgerError> {
    r.expect_child(w, b.to, "an allocation goes down to a child of its issuer")
        .await?;
    r.expect_held(w, b.source).await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: AllocationIssued,
) -> Result<(), LedgerError> {
    let o = e.origin;
    w.insert_allocation(
        e.id(),
        "issued",
        &b.doc_no,
        &b.category,
        b.amount.fen(),
        Some(o),
        b.to,
        Some(b.source),
        b.issued_on,
        &b.title,
    )
    .await?;
    if let Some(src) = w.alloc(b.source).await? {
        src.issued_fen = src
            .issued_fen
            .checked_add(b.amount.fen())
            .ok_or(LedgerError::Overflow)?;
        src.dirty = true;
    }
    Ok(())
}
