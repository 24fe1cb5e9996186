//! `own_budget_added`: a node adds money from its own budget, an
//! allocation it holds.

use fundsync_protocol::body::OwnBudgetAdded;
use fundsync_protocol::{Entry, EntryId, FundOrigin, Level};

use super::{existing, Received, Work};
use crate::ledger::error::LedgerError;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &OwnBudgetAdded,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let mut allowed = vec![w.me.level.own_origin()];
    if w.me.level == Level::Region {
        allowed.push(FundOrigin::Bond);
    }
    w.expect_category(&b.category, &allowed).await?;
    let me = w.me.code;
    if let Some(found) = w
        .same_allocation(
            "own_budget",
            me,
            &b.doc_no,
            &b.category,
            b.amount.fen(),
            b.budgeted_on,
        )
        .await?
    {
        return existing("own budget", &b.doc_no, found);
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &OwnBudgetAdded,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: OwnBudgetAdded,
) -> Result<(), LedgerError> {
    w.insert_allocation(
        e.id(),
        "own_budget",
        &b.doc_no,
        &b.category,
        b.amount.fen(),
        None,
        e.origin,
        None,
        b.budgeted_on,
        &b.title,
    )
    .await
}
