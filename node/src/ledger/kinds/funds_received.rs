//! `funds_received`: the top node (region) registers funds received from
//! the centre, an allocation it holds.

use fundsync_protocol::body::FundsReceived;
use fundsync_protocol::{Entry, EntryId, FundOrigin};

use super::{existing, Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &FundsReceived,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    if w.me.parent.is_some() {
        return Err(LedgerError::NotTopNode);
    }
    w.expect_category(&b.category, &[FundOrigin::Central])
        .await?;
    let me = w.me.code;
    if let Some(found) = w
        .same_allocation(
            "received",
            me,
            &b.doc_no,
            &b.category,
            b.amount.fen(),
            b.received_on,
        )
        .await?
    {
        return existing("received funds", &b.doc_no, found);
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    r: &Received<'_>,
    _b: &FundsReceived,
) -> Result<(), LedgerError> {
    r.refuse("funds from the centre are registered only by the top node".into())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: FundsReceived,
) -> Result<(), LedgerError> {
    w.insert_allocation(
        e.id(),
        "received",
        &b.doc_no,
        &b.category,
        b.amount.fen(),
        None,
        e.origin,
        None,
        b.received_on,
        &b.title,
    )
    .await
}
