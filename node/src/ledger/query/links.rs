//! Reads about how far replication has got: when each origin last wrote,
//! how much of a chain a peer still lacks, and the stored link reports
//! (with their one write: the reports a child sends, which are not entries).

use std::collections::HashMap;

use fundsync_protocol::wire::LinkReport;
use fundsync_protocol::NodeCode;

use crate::ledger::rows::{corrupt, seq_i64};
use crate::ledger::{Ledger, LedgerError};

/// A node's latest link report as stored (`report` is its JSON).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkReportRow {
    pub node: String,
    pub reported_ms: i64,
    pub report: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct OriginTime {
    origin: String,
    at_ms: i64,
}

impl Ledger {
    /// When each origin's newest entry held here was made. The head entry
    /// is the newest (an origin stamps its entries in order), so this reads
    /// one row per origin by primary key rather than `MAX(at_ms)` over the
    /// whole journal.
    pub async fn newest_entry_times(&self) -> Result<HashMap<String, i64>, LedgerError> {
        let rows: Vec<OriginTime> = sqlx::query_as(
            "SELECT h.origin AS origin, j.at_ms AS at_ms FROM journal_heads h \
             JOIN journal j ON j.origin = h.origin AND j.seq = h.seq",
        )
        .fetch_all(self.db().read())
        .await?;
        Ok(rows.into_iter().map(|r| (r.origin, r.at_ms)).collect())
    }

    /// The bytes of `origin`'s entry bodies after seq `after`.
    pub async fn body_bytes_after(&self, origin: NodeCode, after: u64) -> Result<u64, LedgerError> {
        let bytes: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(LENGTH(body)) AS BIGINT) FROM journal WHERE origin = $1 AND seq > $2",
        )
        .bind(origin.as_str())
        .bind(seq_i64(after)?)
        .fetch_one(self.db().read())
        .await?;
        Ok(u64::try_from(bytes.unwrap_or(0)).unwrap_or(0))
    }

    /// Keeps `reports` in `link_health`, each only if it is newer
    /// (`reported_ms`) than the one held for its node, in one transaction;
    /// returns how many were kept. No entry is written: link health is
    /// telemetry, not ledger. Who may report about whom is the caller's
    /// check (`sync::health::check_reports`).
    pub async fn store_link_reports(&self, reports: &[LinkReport]) -> Result<usize, LedgerError> {
        if reports.is_empty() {
            return Ok(0);
        }
        let mut work = self.begin().await?;
        let mut stored = 0;
        for r in reports {
            let json = serde_json::to_vec(&r.report)
                .map_err(|e| corrupt(format!("link report of {}: {e}", r.node)))?;
            let done = sqlx::query(
                "INSERT INTO link_health (node, parent, reported_ms, entry_id, report) \
                 VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (node) DO UPDATE SET \
                 parent = excluded.parent, reported_ms = excluded.reported_ms, \
                 entry_id = NULL, report = excluded.report \
                 WHERE excluded.reported_ms > link_health.reported_ms",
            )
            .bind(r.node.as_str())
            .bind(r.report.parent.as_str())
            .bind(r.reported_ms)
            .bind(json)
            .execute(work.conn().await?)
            .await?;
            stored += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        work.commit().await?;
        Ok(stored)
    }

    /// The latest link report of every node that sent one.
    pub async fn link_reports(&self) -> Result<Vec<LinkReportRow>, LedgerError> {
        Ok(
            sqlx::query_as("SELECT node, reported_ms, report FROM link_health")
                .fetch_all(self.db().read())
                .await?,
        )
    }
}
