//! `payment_recorded`: a node pays from an allocation it holds into one of
//! its projects, under a treasury voucher number. The hot path of an
//! import: the payment and journal rows are buffered and flushed in bulk,
//! the running sums kept in the transaction's caches.

use fundsync_protocol::body::{PaymentRecorded, ProjectStatus};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::state::PaymentRow;
use crate::ledger::state::Voucher;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &PaymentRecorded,
    encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    if let Some(v) = w.voucher(me, &b.voucher_no).await? {
        return if w.same_body(v.id, encoded).await? {
            Ok(Some(v.id))
        } else {
            Err(LedgerError::DuplicateVoucher(b.voucher_no.clone()))
        };
    }
    let approval_required = w.rules.target_approval_required;
    let project = w
        .project(me, &b.project)
        .await?
        .ok_or_else(|| LedgerError::UnknownProject(b.project.clone()))?;
    if project.target_count == 0 {
        return Err(LedgerError::NoTarget(b.project.clone()));
    }
    // Local only (`LedgerRules`): payments replicated, or replayed from a
    // journal written before the target cycle, are never judged by it.
    if approval_required && project.unapproved > 0 {
        return Err(LedgerError::TargetsNotApproved {
            project: b.project.clone(),
            unapproved: project.unapproved,
            total: project.target_count,
        });
    }
    if project.status == ProjectStatus::Cancelled.as_str() {
        return Err(LedgerError::ProjectCancelled(b.project.clone()));
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
    // Local only, like every date rule: journals recorded before it keep
    // replaying, and other nodes' entries are never refused for it.
    if b.paid_on < a.dated {
        return Err(LedgerError::PaidBeforeAllocation {
            voucher: b.voucher_no.clone(),
            paid_on: b.paid_on,
            allocation: b.allocation,
            dated: a.dated,
        });
    }
    let available = a.available_fen()?;
    if b.amount.fen() > available {
        return Err(LedgerError::OverBalance {
            allocation: b.allocation,
            available: fen_to_yuan(available),
            requested: b.amount.yuan(),
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    w: &mut Work<'_>,
    r: &Received<'_>,
    b: &PaymentRecorded,
) -> Result<(), LedgerError> {
    r.expect_held(w, b.allocation).await
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: PaymentRecorded,
) -> Result<(), LedgerError> {
    let id = e.id();
    let o = e.origin;
    let amount = b.amount.fen();
    let mut category = None;
    if let Some(a) = w.alloc(b.allocation).await? {
        a.paid_fen = a
            .paid_fen
            .checked_add(amount)
            .ok_or(LedgerError::Overflow)?;
        a.dirty = true;
        category = Some(a.category.clone());
    }
    if let Some(c) = category {
        // The project's classified check and category filter
        // (`project_categories`, written at commit).
        let per = w.drawn.entry(o).or_default();
        match per.get_mut(b.project.as_str()) {
            Some(cats) => {
                if !cats.contains(&c) {
                    cats.push(c);
                }
            }
            None => {
                per.insert(b.project.clone(), vec![c]);
            }
        }
    }
    if let Some(p) = w.project(o, &b.project).await? {
        p.paid_fen = p
            .paid_fen
            .checked_add(amount)
            .ok_or(LedgerError::Overflow)?;
        p.dirty = true;
    }
    w.add_daily(b.allocation, b.paid_on, o, amount, 1)?;
    let v = Voucher {
        id,
        amount_fen: amount,
        allocation: b.allocation,
        project: b.project.clone(),
        paid_on: b.paid_on,
        reversed: false,
    };
    if let Some(max) = w.voucher_max.get_mut(&o) {
        match max {
            Some(m) if m.as_str() >= b.voucher_no.as_str() => {}
            Some(m) => {
                m.clear();
                m.push_str(&b.voucher_no);
            }
            None => *max = Some(b.voucher_no.clone()),
        }
    }
    // Looked up (as absent) just before, unless it is above
    // the largest voucher number: then its key is new here.
    let known = w.vouchers.entry(o).or_default();
    match known.get_mut(&b.voucher_no) {
        Some(slot) => *slot = Some(v),
        None => {
            known.insert(b.voucher_no.clone(), Some(v));
        }
    }
    w.payments.push(PaymentRow { id, p: b });
    Ok(())
}
