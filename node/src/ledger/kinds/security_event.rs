//! `security_event`: a login, a refusal, an account or a role changed at
//! a node (the `security_log` table, read by the 登录日志 and 操作日志
//! pages). Replicated upward like payments, so every ancestor holds its
//! subtree's log with the actor who caused each event; never sent down.

use fundsync_protocol::body::{actor_of, SecurityEvent};
use fundsync_protocol::{Entry, EntryId};

use super::{Received, Work};
use crate::ledger::error::LedgerError;
use crate::ledger::rows::seq_i64;

/// Every event is a new row: two failed logins are two events.
pub(in crate::ledger) async fn check(
    _w: &mut Work<'_>,
    _b: &SecurityEvent,
    _encoded: &[u8],
) -> Result<Option<EntryId>, LedgerError> {
    Ok(None)
}

/// Nothing to check: the batch's verification keeps an origin's events to
/// the subtree of the node that sends them, and the down stream refuses
/// everything not addressed down (`Body::down_to`).
pub(in crate::ledger) async fn check_replicated(
    _w: &mut Work<'_>,
    _r: &Received<'_>,
    _b: &SecurityEvent,
) -> Result<(), LedgerError> {
    Ok(())
}

pub(in crate::ledger) async fn apply(
    w: &mut Work<'_>,
    e: &Entry,
    b: SecurityEvent,
) -> Result<(), LedgerError> {
    // Rare rows: the actor is parsed again from the bytes rather than
    // carried through every kind's apply.
    let a = actor_of(&e.body).unwrap_or_else(|| fundsync_protocol::Actor {
        login: String::new(),
        name: String::new(),
        role: String::new(),
        addr: String::new(),
    });
    sqlx::query(
        "INSERT INTO security_log (origin, seq, at_ms, event, actor_login, actor_name, \
         actor_role, actor_addr, subject, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (origin, seq) DO NOTHING",
    )
    .bind(e.origin.as_str())
    .bind(seq_i64(e.seq)?)
    .bind(e.at_ms)
    .bind(b.event.as_str())
    .bind(&a.login)
    .bind(&a.name)
    .bind(&a.role)
    .bind(&a.addr)
    .bind(&b.subject)
    .bind(&b.detail)
    .execute(w.conn().await?)
    .await?;
    Ok(())
}
