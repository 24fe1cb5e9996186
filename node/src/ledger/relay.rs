//! Entries this node has just committed, kept in memory so that sending
//! them to its own parent does not read them back from the journal: the
//! descendants' entries it received ([`RelayCache`]) and its own
//! ([`OwnCache`]).
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

/// Most own entries held at once: two batches of the default size, so the
/// pusher finds the transaction it is about to send even while the next
/// one commits. A transaction that records more (a large import) leaves
/// only its first entries here; the pusher reads the rest.
pub const OWN_CACHE_ENTRIES_MAX: usize = 10_000;

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

/// This node's own entries, as committed, that its pusher has not taken
/// yet: one dense run of its chain. A county records a transaction and its
/// pusher signs and sends the same entries a moment later; reading them
/// back cost as much as the relay did. Like [`RelayCache`] it is a
/// shortcut: only committed entries enter, the run is always dense (a
/// commit that does not continue it replaces it), and a lookup it cannot
/// answer falls back to the journal. A committed entry never changes, so
/// whatever dense run it holds is the journal's.
#[derive(Debug, Default, Clone)]
pub struct OwnCache {
    inner: Arc<Mutex<VecDeque<Entry>>>,
}

impl OwnCache {
    /// Appends the own entries of a transaction that committed, in chain
    /// order; they replace the held run unless they continue it.
    pub fn keep(&self, entries: Vec<Entry>) {
        let Some(first) = entries.first() else {
            return;
        };
        let dense = entries
            .windows(2)
            .all(|w| w[1].origin == w[0].origin && w[0].seq.checked_add(1) == Some(w[1].seq));
        if !dense {
            return;
        }
        let Ok(mut held) = self.inner.lock() else {
            return;
        };
        let continues = held.back().is_some_and(|last| {
            last.origin == first.origin && last.seq.checked_add(1) == Some(first.seq)
        });
        if !continues {
            held.clear();
        }
        held.extend(entries);
        while held.len() > OWN_CACHE_ENTRIES_MAX {
            held.pop_front();
        }
    }

    /// Takes the held entries of `origin` from `after + 1` up to `upto`
    /// (fewer if fewer are held), if the run holds `after + 1`. Entries up
    /// to `after` are dropped: the parent holds them already.
    pub fn take(&self, origin: NodeCode, after: u64, upto: u64) -> Option<Vec<Entry>> {
        let mut held = self.inner.lock().ok()?;
        while held.front().is_some_and(|e| e.seq <= after) {
            held.pop_front();
        }
        let first = held.front()?;
        if first.origin != origin || Some(first.seq) != after.checked_add(1) {
            return None;
        }
        let n = held.iter().take_while(|e| e.seq <= upto).count();
        if n == 0 {
            return None;
        }
        Some(held.drain(..n).collect())
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |h| h.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundsync_protocol::sign::Checkpoint;
    use fundsync_protocol::{Hash, KeyId};

    fn entries(origin: &str, after: u64, n: u64) -> Vec<Entry> {
        let origin: NodeCode = origin.parse().expect("code");
        (after + 1..=after + n)
            .map(|seq| Entry {
                origin,
                seq,
                at_ms: 0,
                prev_hash: Hash([0; 32]),
                kind: "payment_recorded".into(),
                body: b"{}".to_vec(),
            })
            .collect()
    }

    fn seqs(v: &[Entry]) -> (u64, u64) {
        (v[0].seq, v[v.len() - 1].seq)
    }

    #[test]
    fn own_entries_are_taken_from_where_the_parent_stands() {
        let c = OwnCache::default();
        let county: NodeCode = "652822".parse().expect("code");
        c.keep(entries("652822", 0, 10));
        c.keep(entries("652822", 10, 10));
        assert_eq!(c.take(county, 0, 5).as_deref().map(seqs), Some((1, 5)));
        // The parent already holds 6..=12 (it took them from the journal).
        assert_eq!(c.take(county, 12, 30).as_deref().map(seqs), Some((13, 20)));
        assert!(c.is_empty());
        c.keep(entries("652822", 20, 10));
        assert_eq!(c.take(county, 25, 100).as_deref().map(seqs), Some((26, 30)));
        assert!(c.take(county, 30, 100).is_none(), "taken once");
        c.keep(entries("652822", 40, 10));
        assert!(c.take(county, 30, 100).is_none(), "31 is not held");
        assert_eq!(c.len(), 10, "a miss drops nothing the parent lacks");
    }

    #[test]
    fn own_runs_stay_dense_and_bounded() {
        let c = OwnCache::default();
        let county: NodeCode = "652822".parse().expect("code");
        c.keep(entries("652822", 0, 10));
        // Another process wrote 11..=20 (a CLI import): this run replaces.
        c.keep(entries("652822", 20, 5));
        assert!(c.take(county, 10, 100).is_none(), "11 is not held");
        assert_eq!(c.len(), 5);
        let mut gap = entries("652822", 25, 3);
        gap.remove(1);
        c.keep(gap);
        assert_eq!(c.len(), 5, "a run with a gap is not kept");
        assert!(c.take("652823".parse().expect("code"), 20, 100).is_none());
        for i in 0..5u64 {
            c.keep(entries("652822", 25 + i * 5000, 5000));
        }
        assert_eq!(c.len(), OWN_CACHE_ENTRIES_MAX);
        assert!(
            c.take(county, 25, 5000).is_none(),
            "the oldest were dropped"
        );
        assert_eq!(
            c.take(county, 15_025, 20_025).as_deref().map(seqs),
            Some((15_026, 20_025))
        );
    }

    fn run(origin: &str, after: u64, n: u64) -> Relayed {
        let entries = entries(origin, after, n);
        let origin: NodeCode = origin.parse().expect("code");
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
