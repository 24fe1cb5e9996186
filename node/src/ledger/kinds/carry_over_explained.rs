//! `carry_over_explained`: a node says why part of the balance of an
//! allocation it holds, as of a day, is carried over (结转结余: 质量保证金,
//! 工程尾款, 收款账号错误, other), for which project and when it is to be
//! paid (the `carry_over_reasons` table). Money does not move: the entry
//! explains a balance, and the reasons of one allocation and day never add
//! up to more than its balance that day. The same allocation, day, reason
//! and project again replaces the figure. Rolled up like payments; never
//! sent down.

use chrono::NaiveDate;
use fundsync_protocol::body::CarryOverExplained;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::parse_id;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &CarryOverExplained,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    // Local only, like every date rule.
    if b.planned_on < b.as_of {
        return Err(LedgerError::PlannedBeforeAsOf {
            planned_on: b.planned_on,
            as_of: b.as_of,
        });
    }
    let a = w
        .alloc(b.allocation)
        .await?
        .ok_or(LedgerError::UnknownAllocation(b.allocation))?;
    if a.holder != me {
        return Err(LedgerError::NotHolder {
            allocation: b.allocation,
            holder: a.holder,
            me,
        });
    }
    if !b.project.is_empty() && w.project(me, &b.project).await?.is_none() {
        return Err(LedgerError::UnknownProject(b.project.clone()));
    }
    // What this allocation's reasons of that day say already, but for the
    // one this replaces (same reason and project).
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, reason, project, amount_fen FROM carry_over_reasons \
         WHERE allocation_id = $1 AND as_of = $2",
    )
    .bind(b.allocation.to_string())
    .bind(b.as_of.to_string())
    .fetch_all(w.conn().await?)
    .await?;
    let mut explained = 0i64;
    for (id, reason, project, fen) in &rows {
        if reason == b.reason.as_str() && *project == b.project {
            let id = parse_id(id)?;
            if w.same_body(id, encoded).await? {
                return Ok(Some(id));
            }
        } else {
            explained = explained.checked_add(*fen).ok_or(LedgerError::Overflow)?;
        }
    }
    let balance = balance_on(w, b.allocation, b.as_of).await?;
    let left = balance
        .checked_sub(explained)
        .ok_or(LedgerError::Overflow)?;
    if left <= 0 {
        return Err(LedgerError::NoBalance {
            allocation: b.allocation,
            as_of: b.as_of,
            explained: fen_to_yuan(explained),
        });
    }
    if b.amount.fen() > left {
        return Err(LedgerError::OverCarryOver {
            allocation: b.allocation,
            as_of: b.as_of,
            balance: fen_to_yuan(balance),
            explained: fen_to_yuan(explained),
            requested: b.amount.yuan(),
        });
    }
    Ok(None)
}

/// The balance of allocation `id` at the end of `day`: its amount (if dated
/// by then) less what was issued from it, net of what came back, paid from
/// it, net of reversals, and returned from it, each by then.
pub(in crate::ledger) async fn balance_on(
    w: &mut Work<'_>,
    id: EntryId,
    day: NaiveDate,
) -> Result<i64, LedgerError> {
    let (sid, d) = (id.to_string(), day.to_string());
    let amount: Option<i64> =
        sqlx::query_scalar("SELECT amount_fen FROM allocations WHERE id = $1 AND dated <= $2")
            .bind(&sid)
            .bind(&d)
            .fetch_optional(w.conn().await?)
            .await?;
    let Some(amount) = amount else {
        return Ok(0);
    };
    let mut figures = [0i64; 4];
    for (i, sql) in [
        "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM allocations \
         WHERE source_id = $1 AND dated <= $2",
        "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM recalls \
         WHERE source_id = $1 AND recalled_on <= $2",
        "SELECT CAST(COALESCE(SUM(paid_fen), 0) AS BIGINT) FROM payment_daily \
         WHERE allocation_id = $1 AND day <= $2",
        "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM recalls \
         WHERE allocation_id = $1 AND recalled_on <= $2",
    ]
    .into_iter()
    .enumerate()
    {
        figures[i] = sqlx::query_scalar(sql)
            .bind(&sid)
            .bind(&d)
            .fetch_one(w.conn().await?)
            .await?;
    }
    let [issued, returned, mut paid, recalled] = figures;
    // Payments of this transaction are summed by day in memory until it
    // commits.
    for ((a, on), daily) in &w.daily {
        if *a == id && *on <= day {
            paid = paid
                .checked_add(daily.paid_fen)
                .ok_or(LedgerError::Overflow)?;
        }
    }
    amount
        .checked_sub(issued)
        .and_then(|v| v.checked_add(returned))
        .and_then(|v| v.checked_sub(paid))
        .and_then(|v| v.checked_sub(recalled))
        .ok_or(LedgerError::Overflow)
}

/// An honest node explains only the balances of allocations it holds.
pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &CarryOverExplained,
) -> Result<(), LedgerError> {
    r.expect_held(w, b.allocation).await?;
    held_by_origin(w, r, b.allocation).await
}

/// Refuses a replicated entry about an allocation its origin does not hold.
pub(in crate::ledger) async fn held_by_origin(
    w: &mut Work<'_>,
    r: &Received<'_>,
    allocation: EntryId,
) -> Result<(), LedgerError> {
    let o = r.entry.origin;
    match w.alloc(allocation).await? {
        Some(a) if a.holder == o => Ok(()),
        Some(a) => {
            let holder = a.holder;
            r.refuse(format!(
                "a node speaks only for the allocations it holds; {allocation} is held by {holder}, not {o}"
            ))
        }
        None => Ok(()),
    }
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: CarryOverExplained,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO carry_over_reasons (allocation_id, as_of, reason, project, origin, id, \
         amount_fen, planned_on, note, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (allocation_id, as_of, reason, project) DO UPDATE SET \
         origin = excluded.origin, id = excluded.id, amount_fen = excluded.amount_fen, \
         planned_on = excluded.planned_on, note = excluded.note, at_ms = excluded.at_ms",
    )
    .bind(b.allocation.to_string())
    .bind(b.as_of.to_string())
    .bind(b.reason.as_str())
    .bind(&b.project)
    .bind(e.origin.as_str())
    .bind(e.id().to_string())
    .bind(b.amount.fen())
    .bind(b.planned_on.to_string())
    .bind(&b.note)
    .bind(e.at_ms)
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
