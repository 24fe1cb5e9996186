//! The security log in the signed journal: every [`SecurityEvent`] becomes a
//! `security_event` entry at this node, so it rolls up to the ancestors like
//! a payment and no relay can change it (登录日志, 操作日志 at every level).
//!
//! [`SecurityLog::record`] is called synchronously after an account change
//! commits; the entry is written by a task of its own, in order, so a
//! sign-in never waits for the ledger's single writer. [`JournalLog::flush`]
//! waits until every event handed in is written (the command line calls it
//! before it exits).

use fundsync_protocol::body::SecurityEventKind;
use fundsync_protocol::Actor;
use tokio::sync::{mpsc, oneshot};

use super::{SecurityEvent, SecurityLog};
use crate::ledger::{Ledger, LedgerError};

tokio::task_local! {
    /// The person a request acts as, set by the HTTP layer around a
    /// permitted request: an account change it makes is attributed to them.
    pub static ACTING: Actor;
}

/// A [`SecurityLog`] that records each event as a journal entry.
#[derive(Debug, Clone)]
pub struct JournalLog {
    tx: mpsc::UnboundedSender<Job>,
    /// Who an account change is attributed to when neither the event nor the
    /// request ([`ACTING`]) names the person who acted: the console at the
    /// command line, the node itself otherwise.
    by: Actor,
}

/// What the writer task is handed.
#[derive(Debug)]
enum Job {
    Record(SecurityEvent, Actor),
    /// Answered once everything before it is written.
    Flush(oneshot::Sender<()>),
}

impl JournalLog {
    /// Starts the writer task on the current runtime.
    pub fn start(ledger: Ledger, by: Actor) -> JournalLog {
        Self::start_holding_at_most(ledger, by, HELD_EVENTS_MAX)
    }

    /// [`JournalLog::start`] with `held_max` in place of
    /// [`HELD_EVENTS_MAX`]: for the tests of what happens beyond it.
    pub fn start_holding_at_most(ledger: Ledger, by: Actor, held_max: usize) -> JournalLog {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            let mut cap = Cap::new(tokio::time::Instant::now());
            let mut held = Held::new(held_max);
            let mut restored = ledger.ack_mark().watch();
            loop {
                let job = tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                    // The ledger records again: what waited goes in first.
                    Ok(()) = restored.changed(), if !held.events.is_empty() || held.dropped > 0 => {
                        held.write(&ledger).await;
                        continue;
                    }
                };
                let now = tokio::time::Instant::now();
                let (event, actor) = match job {
                    Job::Record(e, a) => (e, a),
                    Job::Flush(done) => {
                        if let Some(n) = cap.close(now) {
                            held.push(
                                &ledger,
                                (
                                    SecurityEventKind::LoginFailed,
                                    "*".to_owned(),
                                    suppressed_detail(n),
                                    by_node(),
                                ),
                            )
                            .await;
                        }
                        held.write(&ledger).await;
                        if !held.events.is_empty() {
                            tracing::warn!(target: "security", waiting = held.events.len(),
                                "security events wait for the ledger's take-back after a restore; \
                                 not in the journal yet (each is a security log line)");
                        }
                        let _ = done.send(());
                        continue;
                    }
                };
                if unsolicited(&event) {
                    if let Some(n) = cap.roll(now) {
                        held.push(
                            &ledger,
                            (
                                SecurityEventKind::LoginFailed,
                                "*".to_owned(),
                                suppressed_detail(n),
                                by_node(),
                            ),
                        )
                        .await;
                    }
                    if !cap.admit() {
                        continue;
                    }
                }
                let (kind, subject, detail) = describe(&event);
                held.push(&ledger, (kind, subject, detail, actor)).await;
            }
        });
        JournalLog { tx, by }
    }

    /// Waits until every event handed in so far is in the journal.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// At most this many failed sign-ins and refusals a minute become entries
/// one by one. Anyone can cause them, and entries roll up to every ancestor,
/// so beyond this a minute's further ones are counted in one entry instead
/// (each one is still a `security` log line).
pub const UNSOLICITED_PER_MINUTE: u32 = 30;

/// Events a caller without an account can cause at will.
fn unsolicited(e: &SecurityEvent) -> bool {
    matches!(
        e,
        SecurityEvent::LoginFailed { .. } | SecurityEvent::PermissionDenied { .. }
    )
}

/// The per-minute budget of [`UNSOLICITED_PER_MINUTE`].
#[derive(Debug)]
struct Cap {
    since: tokio::time::Instant,
    written: u32,
    suppressed: u64,
}

impl Cap {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

    fn new(now: tokio::time::Instant) -> Cap {
        Cap {
            since: now,
            written: 0,
            suppressed: 0,
        }
    }

    /// Starts a new minute if the last one is over; returns how many were
    /// suppressed in it, if any.
    fn roll(&mut self, now: tokio::time::Instant) -> Option<u64> {
        if now.duration_since(self.since) < Self::WINDOW {
            return None;
        }
        self.close(now)
    }

    /// Ends the minute now; returns how many were suppressed in it, if any.
    fn close(&mut self, now: tokio::time::Instant) -> Option<u64> {
        let n = std::mem::take(&mut self.suppressed);
        if n > 0 || now.duration_since(self.since) >= Self::WINDOW {
            self.since = now;
            self.written = 0;
        }
        (n > 0).then_some(n)
    }

    /// Whether one more may be written one by one.
    fn admit(&mut self) -> bool {
        if self.written < UNSOLICITED_PER_MINUTE {
            self.written += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

fn by_node() -> Actor {
    Actor::system()
}

fn suppressed_detail(n: u64) -> String {
    format!(
        "{n} more failed sign-ins or refusals within a minute, beyond {UNSOLICITED_PER_MINUTE}, \
         not recorded one by one (see the node's security log lines)"
    )
}

/// At most this many security events wait, in memory, for a ledger restored
/// from a backup to take its own chain back; beyond it they are logged
/// only (each is a `security` log line anyway), and counted: once the
/// ledger records again, the held ones are written, then one entry that
/// says how many were not ([`dropped_detail`]).
pub const HELD_EVENTS_MAX: usize = 10_000;

fn dropped_detail(n: u64, max: usize) -> String {
    format!(
        "{n} more security events while this node's ledger was restored from a backup, beyond \
         the {max} held for the journal, not recorded one by one (see the node's security log \
         lines)"
    )
}

/// An event as it is recorded.
type Event = (SecurityEventKind, String, String, Actor);

/// Security events that wait, in order, while the ledger is restored behind
/// its acknowledgement mark (written then, they would fork its own chain).
struct Held {
    events: std::collections::VecDeque<Event>,
    /// Events beyond `max`, logged only; said in one entry once written.
    dropped: u64,
    max: usize,
}

impl Held {
    fn new(max: usize) -> Held {
        Held {
            events: std::collections::VecDeque::new(),
            dropped: 0,
            max,
        }
    }

    /// Records `event` after those that wait, or keeps it waiting.
    async fn push(&mut self, ledger: &Ledger, event: Event) {
        self.write(ledger).await;
        if self.events.is_empty() {
            match record(ledger, &event).await {
                Err(LedgerError::Restored(_)) => {}
                _ => return,
            }
        }
        if self.events.len() >= self.max {
            self.dropped = self.dropped.saturating_add(1);
            tracing::error!(target: "security", dropped = self.dropped,
                "too many security events wait for the ledger's take-back; this one is logged only");
            return;
        }
        self.events.push_back(event);
    }

    /// Records what waits, in order, unless the ledger is still restored.
    async fn write(&mut self, ledger: &Ledger) {
        while let Some(event) = self.events.front() {
            if let Err(LedgerError::Restored(_)) = record(ledger, event).await {
                return;
            }
            self.events.pop_front();
        }
        // What could not wait, counted after what did.
        if self.dropped > 0 {
            let note = (
                SecurityEventKind::LoginFailed,
                "*".to_owned(),
                dropped_detail(self.dropped, self.max),
                by_node(),
            );
            if let Err(LedgerError::Restored(_)) = record(ledger, &note).await {
                return;
            }
            self.dropped = 0;
        }
    }
}

/// Records one event; a refusal other than the restore is logged and
/// counts as done.
async fn record(
    ledger: &Ledger,
    (kind, subject, detail, actor): &Event,
) -> Result<(), LedgerError> {
    match ledger.record_security(*kind, subject, detail, actor).await {
        Ok(_) => Ok(()),
        Err(e @ LedgerError::Restored(_)) => Err(e),
        Err(e) => {
            tracing::error!(target: "security", error = %e, event = ?kind,
                "could not record a security event in the journal");
            Ok(())
        }
    }
}

impl SecurityLog for JournalLog {
    fn record(&self, at_ms: i64, event: &SecurityEvent) {
        tracing::info!(target: "security", at_ms, event = event.kind(), detail = ?event);
        let actor = actor_of(event)
            .or_else(|| ACTING.try_with(Actor::clone).ok())
            .unwrap_or_else(|| self.by.clone());
        // A stopped writer (its runtime gone) leaves the log line above.
        let _ = self.tx.send(Job::Record(event.clone(), actor));
    }
}

/// The person an event names as acting: the one signing in or out, or
/// refused.
fn actor_of(e: &SecurityEvent) -> Option<Actor> {
    let (login, addr) = match e {
        SecurityEvent::LoginSucceeded { login, addr }
        | SecurityEvent::LoginFailed { login, addr }
        | SecurityEvent::LoggedOut { login, addr }
        | SecurityEvent::PermissionDenied { login, addr, .. } => (login, addr),
        _ => return None,
    };
    Some(Actor {
        login: if login.is_empty() {
            "anonymous".to_owned()
        } else {
            login.clone()
        },
        name: login.clone(),
        role: String::new(),
        addr: addr.clone(),
    })
}

/// The entry's kind, subject and detail (never a secret).
fn describe(e: &SecurityEvent) -> (SecurityEventKind, String, String) {
    use SecurityEvent as E;
    use SecurityEventKind as K;
    let clip = |s: String| s.chars().take(400).collect::<String>();
    let (k, subject, detail) = match e {
        E::LoginSucceeded { login, .. } => (K::LoginSucceeded, login.clone(), String::new()),
        E::LoginFailed { login, .. } => (K::LoginFailed, login.clone(), String::new()),
        E::AccountLocked { subject, until_ms } => (
            K::AccountLocked,
            subject.clone(),
            format!("locked until {}", utc(*until_ms)),
        ),
        E::LoggedOut { login, .. } => (K::LoggedOut, login.clone(), String::new()),
        E::TokenCreated {
            login,
            token_id,
            name,
            expires_ms,
        } => (
            K::TokenCreated,
            login.clone(),
            format!("token {token_id} \"{name}\" expires {}", utc(*expires_ms)),
        ),
        E::TokenRevoked { login, token_id } => {
            (K::TokenRevoked, login.clone(), format!("token {token_id}"))
        }
        E::UserCreated { login, roles } => (
            K::UserCreated,
            login.clone(),
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        E::UserDisabled { login } => (K::UserDisabled, login.clone(), String::new()),
        E::UserEnabled { login } => (K::UserEnabled, login.clone(), String::new()),
        E::PasswordReset { login } => (K::PasswordReset, login.clone(), String::new()),
        E::PasswordChanged { login } => (K::PasswordChanged, login.clone(), String::new()),
        E::RoleGranted { login, role } => (K::RoleGranted, login.clone(), role.as_str().into()),
        E::RoleRevoked { login, role } => (K::RoleRevoked, login.clone(), role.as_str().into()),
        E::PermissionDenied {
            login,
            permission,
            path,
            ..
        } => (
            K::PermissionDenied,
            login.clone(),
            format!("{permission} {path}"),
        ),
    };
    (k, clip(subject), clip(detail))
}

/// A time for the log's detail, e.g. `2026-12-07 01:40 UTC`.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_admits_the_cap_then_counts_the_rest() {
        let t0 = tokio::time::Instant::now();
        let mut cap = Cap::new(t0);
        for _ in 0..UNSOLICITED_PER_MINUTE {
            assert!(cap.admit());
        }
        assert!(!cap.admit());
        assert!(!cap.admit());
        assert_eq!(cap.roll(t0 + std::time::Duration::from_secs(59)), None);
        assert_eq!(cap.roll(t0 + Cap::WINDOW), Some(2));
        assert!(cap.admit(), "a new minute admits again");
        assert_eq!(cap.close(t0 + Cap::WINDOW), None);
    }
}
