//! `payment_reversed`: a node reverses one of its payments, by voucher
//! number, once. Money entries are append-only: this is the correction.

use fundsync_protocol::body::PaymentReversed;
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::seq_i64;

pub(in crate::ledger) async fn check(
    w: &mut Work<'_>,
    b: &PaymentReversed,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    let me = w.me.code;
    let v = w
        .voucher(me, &b.voucher_no)
        .await?
        .ok_or_else(|| LedgerError::UnknownVoucher(b.voucher_no.clone()))?;
    if v.reversed {
        return Err(LedgerError::AlreadyReversed(b.voucher_no.clone()));
    }
    // Local only (see `payment_recorded`).
    if b.reversed_on < v.paid_on {
        return Err(LedgerError::ReversedBeforePayment {
            voucher: b.voucher_no.clone(),
            reversed_on: b.reversed_on,
            paid_on: v.paid_on,
        });
    }
    Ok(None)
}

pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &PaymentReversed,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: PaymentReversed,
) -> Result<(), LedgerError> {
    let o = e.origin;
    // Flush first: the reversal row refers to the payment row.
    w.flush_rows().await?;
    if let Some(v) = w.voucher(o, &b.voucher_no).await? {
        sqlx::query(
            "INSERT INTO payment_reversals (id, origin, payment_seq, reversed_on, amount_fen, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(e.id().to_string())
        .bind(o.as_str())
        .bind(seq_i64(v.id.seq)?)
        .bind(b.reversed_on.to_string())
        .bind(v.amount_fen)
        .bind(&b.reason)
        .execute(w.conn().await?)
        .await?;
        if let Some(a) = w.alloc(v.allocation).await? {
            a.paid_fen = a
                .paid_fen
                .checked_sub(v.amount_fen)
                .ok_or(LedgerError::Overflow)?;
            a.dirty = true;
        }
        if let Some(p) = w.project(o, &v.project).await? {
            p.paid_fen = p
                .paid_fen
                .checked_sub(v.amount_fen)
                .ok_or(LedgerError::Overflow)?;
            p.dirty = true;
        }
        let negative = v.amount_fen.checked_neg().ok_or(LedgerError::Overflow)?;
        // A reversal counts on its own date, so "as of" figures
        // before it still show the payment.
        w.add_daily(v.allocation, b.reversed_on.max(v.paid_on), o, negative, -1)?;
        if let Some(Some(v)) = w
            .vouchers
            .get_mut(&o)
            .and_then(|m| m.get_mut(&b.voucher_no))
        {
            v.reversed = true;
        }
    }
    Ok(())
}
