//! The hand-off to the pusher: copies of the own entries a transaction
//! records go to the node's [`OwnCache`] once it commits, so the pusher
//! signs and sends them without reading them back. Only the first
//! [`OWN_CACHE_ENTRIES_MAX`] are copied; anything else is read from the
//! journal.

use fundsync_protocol::Entry;

use super::relay::{OwnCache, OWN_CACHE_ENTRIES_MAX};
use super::state::Work;

impl Work<'_> {
    /// Hands copies of the own entries this transaction records to `cache`
    /// when it commits, so the pusher need not read them back.
    pub(crate) fn keep_own_in(&mut self, cache: OwnCache) {
        self.own_cache = Some((cache, Vec::new()));
    }

    /// A copy of `entry` for the pusher, if this transaction keeps copies
    /// and has room for one more. Taken before the entry is applied (which
    /// consumes it), kept by [`Work::keep_own_copy`] once it applied.
    #[inline]
    pub(super) fn own_copy(&self, entry: &Entry) -> Option<Entry> {
        match &self.own_cache {
            Some((_, copies)) if copies.len() < OWN_CACHE_ENTRIES_MAX => Some(entry.clone()),
            _ => None,
        }
    }

    /// Keeps a copy made by [`Work::own_copy`] of an entry that applied.
    #[inline]
    pub(super) fn keep_own_copy(&mut self, copy: Option<Entry>) {
        if let (Some(copy), Some((_, copies))) = (copy, &mut self.own_cache) {
            copies.push(copy);
        }
    }

    /// After the commit: gives the copies to the pusher's cache.
    pub(super) fn hand_own_copies(&mut self) {
        if let Some((cache, copies)) = self.own_cache.take() {
            cache.keep(copies);
        }
    }
}
