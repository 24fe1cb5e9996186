//! The security log (安全日志) as the 登录日志 and 操作日志 pages read it,
//! and the one way to add to it, [`Ledger::record_security`].

use fundsync_protocol::body::{SecurityEvent, SecurityEventKind};
use fundsync_protocol::{Actor, Body, NodeCode};
use serde::Serialize;

use super::PAGE_SIZE_MAX;
use crate::ledger::work::Outcome;
use crate::ledger::{Ledger, LedgerError};
use crate::store::Sql;

/// Which rows of the security log (every field optional).
#[derive(Debug, Default, Clone)]
pub struct SecurityFilter {
    /// Events recorded at this node only.
    pub origin: Option<NodeCode>,
    /// Any of these events (empty: all).
    pub events: Vec<SecurityEventKind>,
    /// Events caused by, or about, this login.
    pub login: Option<String>,
    /// From this time on (ms since the epoch, inclusive).
    pub from_ms: Option<i64>,
    /// Before this time (ms since the epoch, exclusive).
    pub to_ms: Option<i64>,
    pub limit: u32,
    pub offset: u32,
}

/// One event of the security log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SecurityRow {
    pub origin: String,
    pub seq: i64,
    pub at_ms: i64,
    pub event: String,
    pub actor_login: String,
    pub actor_name: String,
    pub actor_role: String,
    pub actor_addr: String,
    pub subject: String,
    pub detail: String,
}

impl Ledger {
    /// Records a security event at this node, attributed to `actor`. The
    /// caller says what happened; it must never put a secret in `detail`.
    pub async fn record_security(
        &self,
        event: SecurityEventKind,
        subject: &str,
        detail: &str,
        actor: &Actor,
    ) -> Result<Outcome, LedgerError> {
        let body = Body::SecurityEvent(SecurityEvent {
            event,
            subject: subject.to_owned(),
            detail: detail.to_owned(),
        });
        self.submit_one(body, actor).await
    }

    /// The security log, newest first, filtered.
    pub async fn security_log(&self, f: &SecurityFilter) -> Result<Vec<SecurityRow>, LedgerError> {
        let mut sql = Sql::new(
            "SELECT origin, seq, at_ms, event, actor_login, actor_name, actor_role, actor_addr, \
             subject, detail FROM security_log",
        );
        sql.filter_eq("origin", f.origin.map(|c| c.to_string()));
        if !f.events.is_empty() {
            sql.and_where().push("event IN (");
            for (i, e) in f.events.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(e.as_str());
            }
            sql.push(")");
        }
        if let Some(login) = &f.login {
            sql.and_where()
                .push("(actor_login = ")
                .bind(login.clone())
                .push(" OR subject = ")
                .bind(login.clone())
                .push(")");
        }
        if let Some(from) = f.from_ms {
            sql.and_where().push("at_ms >= ").bind(from);
        }
        if let Some(to) = f.to_ms {
            sql.and_where().push("at_ms < ").bind(to);
        }
        sql.push(" ORDER BY at_ms DESC, origin, seq DESC LIMIT ")
            .bind(i64::from(f.limit.clamp(1, PAGE_SIZE_MAX.saturating_add(1))))
            .push(" OFFSET ")
            .bind(i64::from(f.offset));
        Ok(sql.query_as()?.fetch_all(self.db().read()).await?)
    }
}
