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
use crate::ledger::Ledger;

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
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let (event, actor) = match job {
                    Job::Record(e, a) => (e, a),
                    Job::Flush(done) => {
                        let _ = done.send(());
                        continue;
                    }
                };
                let (kind, subject, detail) = describe(&event);
                if let Err(e) = ledger
                    .record_security(kind, &subject, &detail, &actor)
                    .await
                {
                    tracing::error!(target: "security", error = %e, event = event.kind(),
                        "could not record a security event in the journal");
                }
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
