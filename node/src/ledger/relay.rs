//! Descendants' entries this node has just received, kept in memory so that
//! relaying them to its own parent does not read them back from the journal.
//!
//! A prefecture applies a county's batch and, a moment later, its pusher
//! sends the same entries on under the county's own checkpoint. Reading them
//! back (a row per entry, six columns, through sqlx's `Any` driver) was an
//! eighth of all CPU in a million-entry relay. The cache holds only batches
//! whose transaction committed, is bounded in entries, and is a shortcut,
//! never a source of truth: whatever is not in it is read from the journal
//! as before, and a lookup that misses changes nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use fundsync_protocol::{Entry, NodeCode, SignedCheckpoint};

/// Most entries held at once: a few batches of the default size.
pub const RELAY_CACHE_ENTRIES_MAX: usize = 20_000;

/// One origin's entries `after+1 ..= checkpoint.seq`, as received and verified.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub origin: NodeCode,
    pub after: u64,
    pub entries: Arc<Vec<Entry>>,
    pub checkpoint: SignedCheckpoint,
}

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub struct RelayCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    runs: VecDeque<Relayed>,
    entries: usize,
}

impl RelayCache {
    /// Keeps a committed run, if it is dense and ends at its checkpoint;
    /// drops the oldest runs past the bound.
    pub fn keep(&self, run: Relayed) {
        let dense = run
            .entries
            .iter()
            .zip(1u64..)
            .all(|(e, i)| e.origin == run.origin && Some(e.seq) == run.after.checked_add(i));
        let ends_at_checkpoint = run.entries.last().map(|e| e.seq)
            == Some(run.checkpoint.checkpoint.seq)
            && run.checkpoint.checkpoint.origin == run.origin;
        if !dense || !ends_at_checkpoint || run.entries.len() > RELAY_CACHE_ENTRIES_MAX {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.entries = inner.entries.saturating_add(run.entries.len());
        inner.runs.push_back(run);
        while inner.entries > RELAY_CACHE_ENTRIES_MAX {
            match inner.runs.pop_front() {
                Some(old) => inner.entries = inner.entries.saturating_sub(old.entries.len()),
                None => inner.entries = 0,
            }
        }
    }

    /// Takes the run of `origin` that starts right after `after`, if held
    /// and at most `max` entries long. Runs of `origin` that end at or
    /// before `after` are dropped: the parent holds them already.
    pub fn take(&self, origin: NodeCode, after: u64, max: usize) -> Option<Relayed> {
        let mut inner = self.inner.lock().ok()?;
        let mut found = None;
        let mut freed = 0usize;
        inner.runs.retain(|r| {
            if r.origin != origin {
                return true;
            }
            if r.after == after && found.is_none() && r.entries.len() <= max {
                freed = freed.saturating_add(r.entries.len());
                found = Some(r.clone());
                return false;
            }
            if r.checkpoint.checkpoint.seq <= after {
                freed = freed.saturating_add(r.entries.len());
                return false;
            }
            true
        });
        inner.entries = inner.entries.saturating_sub(freed);
        found
    }

    /// Forgets everything (a failed exchange, a restart of the link).
    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.runs.clear();
            inner.entries = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundsync_protocol::sign::Checkpoint;
    use fundsync_protocol::{Hash, KeyId};

    fn run(origin: &str, after: u64, n: u64) -> Relayed {
        let origin: NodeCode = origin.parse().expect("code");
        let entries = (after + 1..=after + n)
            .map(|seq| Entry {
                origin,
                seq,
                at_ms: 0,
                prev_hash: Hash([0; 32]),
                kind: "payment_recorded".into(),
                body: b"{}".to_vec(),
            })
            .collect();
        Relayed {
            origin,
            after,
            entries: Arc::new(entries),
            checkpoint: SignedCheckpoint {
                checkpoint: Checkpoint {
                    origin,
                    seq: after + n,
                    head: Hash([0; 32]),
                    key_id: KeyId([0; 8]),
                    at_ms: 0,
                },
                signature: [0; 64],
            },
        }
    }

    #[test]
    fn takes_only_the_run_that_starts_where_the_parent_stands() {
        let c = RelayCache::default();
        let county: NodeCode = "652822".parse().expect("code");
        c.keep(run("652822", 0, 10));
        c.keep(run("652822", 10, 10));
        assert!(c.take(county, 5, 100).is_none(), "no run starts at 5");
        let r = c.take(county, 10, 100).expect("the second run");
        assert_eq!((r.after, r.entries.len()), (10, 10));
        // The first run ends before 10: dropped by that lookup.
        assert!(c.take(county, 0, 100).is_none());
        assert!(c.take(county, 10, 100).is_none(), "taken once");
    }

    #[test]
    fn refuses_runs_that_are_not_dense_or_too_long_and_stays_bounded() {
        let c = RelayCache::default();
        let county: NodeCode = "652822".parse().expect("code");
        let mut gap = run("652822", 0, 3);
        Arc::make_mut(&mut gap.entries).remove(1);
        c.keep(gap);
        assert!(
            c.take(county, 0, 100).is_none(),
            "a run with a gap is not kept"
        );
        c.keep(run("652822", 0, 10));
        assert!(
            c.take(county, 0, 5).is_none(),
            "longer than the batch limit"
        );
        for i in 0..10 {
            c.keep(run("652822", i * 5000, 5000));
        }
        assert!(c.inner.lock().expect("lock").entries <= RELAY_CACHE_ENTRIES_MAX);
        assert!(c.take(county, 0, 5000).is_none(), "the oldest were dropped");
        assert!(c.take(county, 45_000, 5000).is_some(), "the newest is held");
    }
}
