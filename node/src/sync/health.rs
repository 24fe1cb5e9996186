//! Replication health: what a node measures about the link to its parent,
//! sent to the parent at every report interval (`POST /sync/v1/health`, a
//! heartbeat, not a journal entry) together with the reports it holds of
//! its subtree, and the tree an ancestor builds from the reports of its
//! whole subtree (the `link_health` table).
//!
//! Telemetry is not ledger: reports are not signed into the journal and do
//! not grow it. Old `link_reported` entries, from an earlier release or an
//! older child, still verify and land in the same table through that kind's
//! projection.
//!
//! Every duration is measured on one clock, the reporting node's own: "how
//! long since this link was last caught up", never "now minus a timestamp
//! written by another node", so the figures hold when clocks disagree. Only
//! a report's age (is the node silent?) compares the reader's clock with the
//! reporter's, and its threshold is in tens of minutes.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use fundsync_protocol::body::{LinkDirection, LinkReported};
use fundsync_protocol::wire::{HealthReports, LinkReport};
use fundsync_protocol::{Body, ErrorCode, NodeCode};
use serde::Serialize;
use tokio::sync::watch;

use crate::ledger::query::NodeView;
use crate::ledger::{Ledger, LedgerError};
use crate::link::{LinkHealth, LinkState, LinkStatus};

/// A link this far behind (seconds) is lagging, by default
/// (`link_lag_ms`).
pub const LAG_SECONDS: u64 = 60;
/// This many failures in a row and a link is broken.
pub const BROKEN_FAILURES: u32 = 3;
/// A node whose last report is older than this many report intervals is
/// silent (30 minutes at the default interval of a minute). Reports are sent
/// at every interval and relayed at the relaying node's next one, so this
/// leaves room for a few lost ones at each level.
pub const SILENT_INTERVALS: u64 = 30;

/// How a node judges the reports it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judging {
    /// How often nodes report (`health_report_ms`): a report older than
    /// [`SILENT_INTERVALS`] of these is silent.
    pub report_every_ms: u64,
    /// A link further behind than this is lagging (`link_lag_ms`): entries
    /// its parent has not held for that long, withheld or stuck.
    pub lag_ms: u64,
}

impl Judging {
    /// At the default lag, [`LAG_SECONDS`].
    pub fn every(report_every_ms: u64) -> Judging {
        Judging {
            report_every_ms,
            lag_ms: LAG_SECONDS * 1000,
        }
    }
}

/// The state a report describes, before its age is considered: broken
/// after [`BROKEN_FAILURES`] failures in a row, lagging when either
/// direction has been behind for more than `lag_seconds`.
pub fn classify(r: &LinkReported, lag_seconds: u64) -> LinkState {
    if r.consecutive_failures >= BROKEN_FAILURES {
        LinkState::Broken
    } else if r.up.seconds_behind > lag_seconds || r.down.seconds_behind > lag_seconds {
        LinkState::Lagging
    } else {
        LinkState::Ok
    }
}

fn secs_since(now_ms: i64, then_ms: Option<i64>) -> u64 {
    then_ms.map_or(0, |t| {
        u64::try_from(now_ms.saturating_sub(t)).unwrap_or(0) / 1000
    })
}

/// Measures this node's link to its parent from the link's status and the
/// ledger.
pub async fn measure(
    ledger: &Ledger,
    status: &LinkStatus,
    cert_expires_ms: Option<i64>,
) -> Result<Option<LinkReported>, LedgerError> {
    let Some(parent) = ledger.identity().parent else {
        return Ok(None);
    };
    let now = ledger.clock().now_ms();
    let mut up = LinkDirection {
        last_contact_ms: status.last_up_ms,
        ..LinkDirection::default()
    };
    for h in ledger.heads().await? {
        let theirs = status.remote_heads.get(&h.origin).copied().unwrap_or(0);
        if h.seq <= theirs {
            continue;
        }
        up.entries_behind = up.entries_behind.saturating_add(h.seq - theirs);
        let bytes = ledger.body_bytes_after(h.origin, theirs).await?;
        up.backlog_bytes = up.backlog_bytes.saturating_add(bytes);
    }
    // Behind since the parent last held everything (or since the link
    // started): not since the last exchange, which a relay that sends
    // everything but one run keeps fresh.
    if up.entries_behind > 0 {
        up.seconds_behind = secs_since(now, status.up_caught_up_ms.or(status.started_ms));
    }
    let mut down = LinkDirection {
        last_contact_ms: status.last_down_ms,
        ..LinkDirection::default()
    };
    if let (Some(head), Some(held)) = (status.down_head, status.down_held) {
        down.entries_behind = head.saturating_sub(held);
    }
    if down.entries_behind > 0 || status.last_down_ms.is_none() {
        down.seconds_behind = secs_since(now, status.down_caught_up_ms);
    }
    Ok(Some(LinkReported {
        parent,
        up,
        down,
        consecutive_failures: status.consecutive_failures,
        last_error: status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(fundsync_protocol::body::TEXT_CHARS_MAX)
            .filter(|c| !c.is_control())
            .collect(),
        cert_expires_ms,
        peer_version: status.peer_version,
    }))
}

/// Sends this node's link report to its parent at every report interval, as
/// a heartbeat, with the latest report it holds of each node below it.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub every_ms: u64,
    /// Delay of the first report after start, if shorter than `every_ms`.
    pub first_ms: u64,
    pub cert_expires_ms: Option<i64>,
}

impl Reporter {
    /// Measures and hands the reports to `send` (the link's request to the
    /// parent, which logs its own failures) until `stop` turns true.
    pub async fn run<F, Fut>(
        self,
        ledger: Ledger,
        health: LinkHealth,
        mut stop: watch::Receiver<bool>,
        mut send: F,
    ) where
        F: FnMut(HealthReports) -> Fut,
        Fut: Future<Output = ()>,
    {
        let every = Duration::from_millis(self.every_ms.max(1));
        // The first report soon after start, so a new or restarted node does
        // not look silent for a whole interval.
        let mut wait = every.min(Duration::from_millis(self.first_ms));
        while !*stop.borrow() {
            tokio::select! {
                _ = stop.changed() => continue,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = every;
            match reports(&ledger, &health.get(), self.cert_expires_ms).await {
                Ok(Some(r)) => send(r).await,
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "cannot measure the link"),
            }
        }
    }
}

/// What this node sends its parent: its own report, measured now, then the
/// latest report it holds of each node below it, unchanged. None at the top.
pub async fn reports(
    ledger: &Ledger,
    status: &LinkStatus,
    cert_expires_ms: Option<i64>,
) -> Result<Option<HealthReports>, LedgerError> {
    let Some(own) = measure(ledger, status, cert_expires_ms).await? else {
        return Ok(None);
    };
    let me = ledger.identity().code;
    let mut reports = vec![LinkReport {
        node: me,
        reported_ms: ledger.clock().now_ms(),
        report: own,
    }];
    for r in ledger.link_reports().await? {
        let (Ok(node), Ok(report)) = (
            r.node.parse::<NodeCode>(),
            serde_json::from_slice::<LinkReported>(&r.report),
        ) else {
            continue;
        };
        if node != me {
            reports.push(LinkReport {
                node,
                reported_ms: r.reported_ms,
                report,
            });
        }
    }
    Ok(Some(HealthReports { reports }))
}

/// Why a child's health reports were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRefused {
    pub code: ErrorCode,
    pub message: String,
}

/// Checks the reports `sender` (a direct child) sent against this node's
/// subtree (`nodes`, with their parents, as [`Ledger::nodes`] gives them)
/// and returns the ones to keep. A report about a node of that subtree that
/// is neither the sender nor below it, or that names another parent than
/// the node's registered one, or whose text does not validate, refuses the
/// whole request. A report about a node not in the subtree here is left
/// out, not stored: its registration may not have arrived yet.
pub fn check_reports(
    sender: NodeCode,
    nodes: &[NodeView],
    reports: HealthReports,
) -> Result<Vec<LinkReport>, ReportRefused> {
    let parent_of: HashMap<&str, Option<&str>> = nodes
        .iter()
        .map(|n| (n.code.as_str(), n.parent.as_deref()))
        .collect();
    let mut keep = Vec::with_capacity(reports.reports.len());
    for r in reports.reports {
        let node = r.node.as_str();
        let Some(&registered_parent) = parent_of.get(node) else {
            continue;
        };
        // Up from the node, at most the tree's depth, until the sender.
        let mut at = Some(node);
        let mut inside = false;
        for _ in 0..=nodes.len() {
            match at {
                Some(code) if code == sender.as_str() => {
                    inside = true;
                    break;
                }
                Some(code) => at = parent_of.get(code).copied().flatten(),
                None => break,
            }
        }
        if !inside {
            return Err(ReportRefused {
                code: ErrorCode::OriginNotAllowed,
                message: format!(
                    "{sender} may report the health of itself and of the nodes below it                      only, not of {node}"
                ),
            });
        }
        if registered_parent != Some(r.report.parent.as_str()) {
            return Err(ReportRefused {
                code: ErrorCode::InvalidInput,
                message: format!(
                    "the report of {node} names {} as its parent, but its parent is {}",
                    r.report.parent,
                    registered_parent.unwrap_or("none")
                ),
            });
        }
        let body = Body::LinkReported(r.report);
        body.validate().map_err(|e| ReportRefused {
            code: ErrorCode::InvalidInput,
            message: format!("the report of {node}: {e}"),
        })?;
        let Body::LinkReported(report) = body else {
            unreachable!("built above")
        };
        keep.push(LinkReport {
            node: r.node,
            reported_ms: r.reported_ms,
            report,
        });
    }
    Ok(keep)
}

/// One node's link to its parent, as this node knows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LinkView {
    pub node: String,
    pub name: String,
    pub parent: Option<String>,
    pub state: LinkState,
    /// When the node last reported (its clock), and how long ago (ours).
    pub reported_ms: Option<i64>,
    pub report_age_seconds: Option<u64>,
    pub report: Option<LinkReported>,
}

/// The health of every link in this node's subtree.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HealthTree {
    pub node: String,
    pub now_ms: i64,
    /// This node's own link upward, live (none at the top).
    pub own: Option<LinkStatus>,
    /// Every node below this one, with its last report.
    pub links: Vec<LinkView>,
}

/// Builds the tree from the reports this node holds. A revoked node is
/// [`LinkState::Revoked`] at once, whatever its last report said (it is
/// refused at every request from the moment the revocation is held here),
/// until a report it made after the revocation arrives: it was enrolled
/// again, with a certificate issued since.
pub async fn tree(
    ledger: &Ledger,
    own: Option<LinkStatus>,
    judging: Judging,
) -> Result<HealthTree, LedgerError> {
    let me = ledger.identity().code;
    let now = ledger.clock().now_ms();
    let silent_ms =
        i64::try_from(judging.report_every_ms.saturating_mul(SILENT_INTERVALS)).unwrap_or(i64::MAX);
    let lag_seconds = judging.lag_ms / 1000;
    let revoked: HashMap<String, i64> = ledger
        .revocations()
        .await?
        .into_iter()
        .map(|(code, at)| (code.to_string(), at))
        .collect();
    let mut reports = std::collections::HashMap::new();
    for r in ledger.link_reports().await? {
        if let Ok(rep) = serde_json::from_slice::<LinkReported>(&r.report) {
            reports.insert(r.node, (r.reported_ms, rep));
        }
    }
    let nodes = ledger.nodes().await?;
    let mut links = Vec::new();
    for n in nodes.iter().filter(|n| n.code != me.as_str()) {
        let (state, reported_ms, age, report) = match reports.remove(&n.code) {
            Some((at, rep)) => {
                let age_ms = now.saturating_sub(at);
                let state = if revoked.get(&n.code).is_some_and(|r| at <= *r) {
                    LinkState::Revoked
                } else if age_ms > silent_ms {
                    LinkState::Silent
                } else {
                    classify(&rep, lag_seconds)
                };
                (
                    state,
                    Some(at),
                    Some(u64::try_from(age_ms).unwrap_or(0) / 1000),
                    Some(rep),
                )
            }
            None if revoked.contains_key(&n.code) => (LinkState::Revoked, None, None, None),
            None => (LinkState::Silent, None, None, None),
        };
        links.push(LinkView {
            node: n.code.clone(),
            name: n.name.clone(),
            parent: n.parent.clone(),
            state,
            reported_ms,
            report_age_seconds: age,
            report,
        });
    }
    Ok(HealthTree {
        node: me.to_string(),
        now_ms: now,
        own,
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(failures: u32, up_s: u64, down_s: u64) -> LinkReported {
        LinkReported {
            parent: "652800".parse().expect("code"),
            up: LinkDirection {
                seconds_behind: up_s,
                ..LinkDirection::default()
            },
            down: LinkDirection {
                seconds_behind: down_s,
                ..LinkDirection::default()
            },
            consecutive_failures: failures,
            last_error: String::new(),
            cert_expires_ms: None,
            peer_version: Some(1),
        }
    }

    #[test]
    fn states_from_reports() {
        let lag = LAG_SECONDS;
        assert_eq!(classify(&report(0, 0, 0), lag), LinkState::Ok);
        assert_eq!(classify(&report(0, LAG_SECONDS, 0), lag), LinkState::Ok);
        assert_eq!(
            classify(&report(0, LAG_SECONDS + 1, 0), lag),
            LinkState::Lagging
        );
        assert_eq!(
            classify(&report(0, 0, LAG_SECONDS + 1), lag),
            LinkState::Lagging
        );
        assert_eq!(
            classify(&report(BROKEN_FAILURES - 1, 0, 0), lag),
            LinkState::Ok
        );
        assert_eq!(
            classify(&report(BROKEN_FAILURES, 999, 0), lag),
            LinkState::Broken
        );
        // A shorter threshold, as a node configured so judges.
        assert_eq!(classify(&report(0, 2, 0), 1), LinkState::Lagging);
    }

    #[test]
    fn a_child_reports_for_its_subtree_only() {
        let n = |code: &str, parent: Option<&str>| NodeView {
            code: code.into(),
            name: String::new(),
            level: String::new(),
            parent: parent.map(Into::into),
        };
        // As the region sees its subtree.
        let nodes = [
            n("650000", None),
            n("652800", Some("650000")),
            n("652822", Some("652800")),
            n("653100", Some("650000")),
        ];
        let about = |node: &str, parent: &str| LinkReport {
            node: node.parse().expect("code"),
            reported_ms: 1,
            report: LinkReported {
                parent: parent.parse().expect("code"),
                ..report(0, 0, 0)
            },
        };
        let sender: NodeCode = "652800".parse().expect("code");
        let sent = |r: Vec<LinkReport>| HealthReports { reports: r };
        // Itself and below it kept; a node not known here left out.
        let kept = check_reports(
            sender,
            &nodes,
            sent(vec![
                about("652800", "650000"),
                about("652822", "652800"),
                about("652823", "652800"),
            ]),
        )
        .expect("kept");
        assert_eq!(kept.len(), 2);
        // A sibling, or the parent itself: the whole request refused.
        for other in [about("653100", "650000"), about("650000", "650000")] {
            let e = check_reports(sender, &nodes, sent(vec![about("652800", "650000"), other]))
                .expect_err("refused");
            assert_eq!(e.code, ErrorCode::OriginNotAllowed, "{}", e.message);
        }
        // A report naming another parent than the registered one.
        let e = check_reports(sender, &nodes, sent(vec![about("652822", "650000")]))
            .expect_err("refused");
        assert_eq!(e.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn durations_use_one_clock() {
        assert_eq!(secs_since(10_000, Some(4_000)), 6);
        assert_eq!(secs_since(10_000, None), 0);
        // A timestamp from the future (a clock ahead) is not negative lag.
        assert_eq!(secs_since(10_000, Some(20_000)), 0);
    }
}

/// [`HealthTree`] as read back from the API.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HealthTreeOwned {
    pub node: String,
    pub now_ms: i64,
    pub links: Vec<LinkViewOwned>,
}

/// [`LinkView`] as read back from the API.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LinkViewOwned {
    pub node: String,
    pub name: String,
    pub parent: Option<String>,
    pub state: String,
    pub report_age_seconds: Option<u64>,
    pub report: Option<LinkReported>,
}

/// The tree as text, one node a line, coloured by state when `colour`.
pub fn render_tree(t: &HealthTreeOwned, colour: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{} (this node)", t.node);
    let paint = |state: &str| -> String {
        let code = match state {
            "ok" => "32",
            "lagging" => "33",
            "broken" | "revoked" => "31",
            _ => "35",
        };
        if colour {
            format!("\x1b[{code}m{state:<8}\x1b[0m")
        } else {
            format!("{state:<8}")
        }
    };
    fn walk(
        t: &HealthTreeOwned,
        parent: &str,
        prefix: &str,
        out: &mut String,
        paint: &dyn Fn(&str) -> String,
    ) {
        let kids: Vec<&LinkViewOwned> = t
            .links
            .iter()
            .filter(|l| l.parent.as_deref() == Some(parent))
            .collect();
        for (i, l) in kids.iter().enumerate() {
            let last = i + 1 == kids.len();
            let detail = match (&l.report, l.report_age_seconds) {
                (Some(r), Some(age)) => format!(
                    "up {} behind ({} s, {} B) · down {} behind ({} s) · failures {}{} · reported {age} s ago",
                    r.up.entries_behind,
                    r.up.seconds_behind,
                    r.up.backlog_bytes,
                    r.down.entries_behind,
                    r.down.seconds_behind,
                    r.consecutive_failures,
                    if r.last_error.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", r.last_error.chars().take(60).collect::<String>())
                    },
                ),
                _ => "never reported".to_owned(),
            };
            let _ = writeln!(
                out,
                "{prefix}{} {} {} {}  {detail}",
                if last { "└─" } else { "├─" },
                l.node,
                paint(&l.state),
                l.name,
            );
            let next = format!("{prefix}{}", if last { "   " } else { "│  " });
            walk(t, &l.node, &next, out, paint);
        }
    }
    walk(t, &t.node, "", &mut out, &paint);
    out
}
