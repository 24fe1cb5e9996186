//! The state of this node's link to its parent, as its loops see it: written
//! by `sync::client`, read by `sync::health` (reports and the tree), the
//! API, the pages and the metrics. It sits below all of them, `http` and
//! `sync` included, so that none of them imports another for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use fundsync_protocol::NodeCode;
use serde::Serialize;

/// What the loops report about the link, for operators.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStatus {
    pub parent: Option<NodeCode>,
    /// Last successful exchange in each direction (ms since the epoch).
    pub last_up_ms: Option<i64>,
    pub last_down_ms: Option<i64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
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
    pub(super) fn update(&self, f: impl FnOnce(&mut LinkStatus)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// The state of a link, for colours and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Ok,
    Lagging,
    Silent,
    Broken,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Ok => "ok",
            LinkState::Lagging => "lagging",
            LinkState::Silent => "silent",
            LinkState::Broken => "broken",
        }
    }
}
