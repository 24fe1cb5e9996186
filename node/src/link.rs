//! The state of this node's link to its parent, as its loops see it: written
//! by `sync::client`, read by `sync::health` (reports and the tree), the
//! API, the pages and the metrics. It sits below all of them, `http` and
//! `sync` included, so that none of them imports another for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use fundsync_protocol::NodeCode;
use serde::Serialize;

/// What the loops report about the link, for operators.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct LinkStatus {
    pub parent: Option<NodeCode>,
    /// Last successful exchange in each direction (ms since the epoch).
    pub last_up_ms: Option<i64>,
    pub last_down_ms: Option<i64>,
    /// The larger of `push_failures` and `pull_failures`: what the link
    /// report to the parent carries.
    pub consecutive_failures: u32,
    /// The push error if there is one, else the pull error: what the link
    /// report to the parent carries.
    pub last_error: Option<String>,
    /// Failed pushes in a row and the last one's error, cleared only by a
    /// push that succeeds: a pull that works says nothing about entries
    /// going up.
    pub push_failures: u32,
    pub push_error: Option<String>,
    /// Failed pulls in a row and the last one's error, cleared only by a
    /// pull that succeeds.
    pub pull_failures: u32,
    pub pull_error: Option<String>,
    /// When the link started (ms since the epoch): how long it has been
    /// behind when it has never caught up.
    pub started_ms: Option<i64>,
    pub entries_sent: u64,
    pub entries_received: u64,
    /// What the parent holds of each chain this node sends up, as of the
    /// last exchange.
    #[serde(skip)]
    pub remote_heads: HashMap<NodeCode, u64>,
    /// The parent's down stream to this node: its length, and when this
    /// node last held all of it.
    pub down_head: Option<u64>,
    pub down_held: Option<u64>,
    pub down_caught_up_ms: Option<i64>,
    /// The protocol version the parent last answered with.
    pub peer_version: Option<u16>,
    /// When the parent last held everything this node sends up.
    pub up_caught_up_ms: Option<i64>,
    /// Whether, since start, this node's own chain has been found to be one
    /// with the parent's copy of it (after taking back what only the parent
    /// still had). Until then the node records no entries of its own accord
    /// (warnings): they would reuse sequence numbers the parent may already
    /// hold.
    pub own_chain_checked: bool,
    /// Own entries taken back from the parent since start (after a restore).
    pub entries_recovered: u64,
    /// The seq at which this node's journal and the parent's copy differ, if
    /// they do; nothing is pushed meanwhile.
    pub diverged_at: Option<u64>,
    /// Which copy is wrong, when they differ: this node's (it signed
    /// another history: restored from an old backup and written to since),
    /// or the parent's (its copy does not match what this node signed).
    pub divergence: Option<Divergence>,
    /// Origins whose chains the parent refused lately (a bad chain stops
    /// its own origin only): the pusher leaves each out for its own backoff
    /// and sends the others meanwhile.
    pub held_back: Vec<HeldOrigin>,
}

/// Which copy of this node's own chain is wrong, as far as this node can
/// tell from its signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Divergence {
    /// The parent holds another history signed by this node (restored from
    /// an old backup and written to since), or it cannot be told.
    Diverged,
    /// The parent's copy does not match what this node signed, and this
    /// node's journal does: the parent (or a relay) altered it.
    ParentCopyWrong,
}

/// An origin the parent refused, as the link shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HeldOrigin {
    pub origin: NodeCode,
    /// The parent's code (`bad_checkpoint`, `broken_chain`, …).
    pub error: String,
    pub message: String,
    /// When the first refusal in a row came (ms since the epoch).
    pub since_ms: i64,
    /// Refusals in a row.
    pub refusals: u32,
}

/// A shared, updatable [`LinkStatus`].
#[derive(Debug, Clone, Default)]
pub struct LinkHealth(Arc<Mutex<LinkStatus>>);

impl LinkHealth {
    pub fn get(&self) -> LinkStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    /// Changes the status; the combined failure count and error follow
    /// the push's and the pull's own.
    pub(super) fn update(&self, f: impl FnOnce(&mut LinkStatus)) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut s);
        s.consecutive_failures = s.push_failures.max(s.pull_failures);
        s.last_error = s.push_error.clone().or_else(|| s.pull_error.clone());
    }
}

/// The state of a link, for colours and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Ok,
    Lagging,
    Silent,
    Broken,
    /// Cut off by its parent (`child_revoked`): refused at every request,
    /// whatever its last report said.
    Revoked,
}

impl LinkState {
    /// Every state, for gauges that give each a series.
    pub const ALL: [LinkState; 5] = [
        LinkState::Ok,
        LinkState::Lagging,
        LinkState::Silent,
        LinkState::Broken,
        LinkState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Ok => "ok",
            LinkState::Lagging => "lagging",
            LinkState::Silent => "silent",
            LinkState::Broken => "broken",
            LinkState::Revoked => "revoked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pull that works clears the pull's failures only: the push's error
    /// stays in view, and in the combined figures the report carries.
    #[test]
    fn push_and_pull_failures_are_kept_apart() {
        let h = LinkHealth::default();
        h.update(|s| {
            s.push_failures = 4;
            s.push_error = Some("the parent refused (409, fork)".into());
            s.pull_failures = 1;
            s.pull_error = Some("cannot reach the parent".into());
        });
        let s = h.get();
        assert_eq!(s.consecutive_failures, 4);
        assert_eq!(
            s.last_error.as_deref(),
            Some("the parent refused (409, fork)")
        );
        h.update(|s| {
            s.pull_failures = 0;
            s.pull_error = None;
        });
        let s = h.get();
        assert_eq!((s.push_failures, s.consecutive_failures), (4, 4));
        assert!(s.last_error.is_some_and(|e| e.contains("fork")));
        h.update(|s| {
            s.push_failures = 0;
            s.push_error = None;
            s.pull_failures = 2;
            s.pull_error = Some("timed out".into());
        });
        let s = h.get();
        assert_eq!(
            (s.consecutive_failures, s.last_error.as_deref()),
            (2, Some("timed out"))
        );
    }
}
