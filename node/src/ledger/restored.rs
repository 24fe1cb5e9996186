//! Whether this node's database was restored from a backup behind what
//! others already hold of its own chain, and the mark that tells.
//!
//! A node restored from an old backup holds less of its own chain than its
//! parent (or, at the region, its children) acknowledged. Were it to record
//! anything then, its next entries would take sequence numbers those
//! holders already hold with other entries, signed earlier by this very
//! node: a fork, refused up the tree, and its whole subtree would stop.
//!
//! The database cannot tell this by itself (the backup is the database), so
//! the node keeps an **acknowledgement mark** outside it: a small file in the
//! data directory ([`ACK_FILE`]) with the highest own seq (and its hash) a
//! holder acknowledged. It is written atomically (temporary file, fsync,
//! rename) once per acknowledged push, never per entry, and only forward.
//! Backups copy the database, not this file (deploy/backup).
//!
//! When the ledger is opened with the mark ([`Ledger::attach_ack_mark`]) and
//! its own head is below it, the ledger refuses to append to its own chain
//! ([`LedgerError::Restored`], in [`Work::record_prepared`], the one place
//! own entries are made) until it holds its chain up to the mark again (the
//! sync client takes it back from the parent, [`Ledger::receive_own`]); then
//! it records again with no operator action. Own head at or above the mark
//! (an ordinary restart, an offline county) changes nothing. No mark file
//! (a new node, or a whole machine restored) is the old behaviour: the
//! parent's fork check refuses what would fork.
//!
//! [`Work::record_prepared`]: super::Work::record_prepared

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fundsync_protocol::{Hash, NodeCode};
use serde::Serialize;
use tokio::sync::watch;

use super::{Ledger, LedgerError};

/// The mark's file name in the node's data directory.
pub const ACK_FILE: &str = "acked-own-head";

/// A ledger restored behind its acknowledgement mark: its own head and the
/// highest own seq a holder acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Restored {
    pub own_head: u64,
    pub acknowledged: u64,
}

/// What a page says when the figures are not at hand.
pub const RESTORED_ZH: &str =
    "本节点账本已从备份恢复，正在从上级取回本节点已上报的记录，取回完成前不能登记";

impl Restored {
    /// What the pages and the import say, in Chinese.
    pub fn zh(&self) -> String {
        format!(
            "本节点账本已从备份恢复，正在从上级取回本节点已上报的记录（已取回至 {} / 上级持有 {}），取回完成前不能登记",
            self.own_head, self.acknowledged
        )
    }
}

/// The mark and the state it implies, shared by every clone of a ledger.
#[derive(Debug)]
pub struct AckMark {
    inner: Mutex<Inner>,
    state: watch::Sender<Option<Restored>>,
}

#[derive(Debug, Default)]
struct Inner {
    path: Option<PathBuf>,
    acked: Option<(u64, Hash)>,
}

impl Default for AckMark {
    fn default() -> Self {
        AckMark {
            inner: Mutex::default(),
            state: watch::channel(None).0,
        }
    }
}

impl AckMark {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Restored now, or not.
    pub fn restored(&self) -> Option<Restored> {
        *self.state.borrow()
    }

    /// Turns `Some` while the ledger is restored, `None` once it is not.
    pub fn watch(&self) -> watch::Receiver<Option<Restored>> {
        self.state.subscribe()
    }

    /// The highest own seq acknowledged, as the mark says.
    pub fn acknowledged(&self) -> Option<(u64, Hash)> {
        self.lock().acked
    }

    fn set_state(&self, own_head: u64) -> Option<Restored> {
        let acked = self.lock().acked.map(|(s, _)| s);
        let now = match acked {
            Some(m) if own_head < m => Some(Restored {
                own_head,
                acknowledged: m,
            }),
            _ => None,
        };
        self.state.send_if_modified(|v| {
            let changed = *v != now;
            *v = now;
            changed
        });
        now
    }
}

/// The mark's text: `<origin> <seq> <hash hex>` on one line.
fn encode(me: NodeCode, seq: u64, hash: &Hash) -> String {
    format!("{me} {seq} {}\n", hash.to_hex())
}

/// Reads a mark; `None` for no file, or a file that is not this node's mark
/// (said in the log: the old behaviour then stands).
fn read(path: &Path, me: NodeCode) -> Option<(u64, Hash)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e,
                "cannot read the acknowledgement mark; a restore from a backup goes undetected");
            return None;
        }
    };
    let mut parts = text.split_whitespace();
    let parsed = (|| {
        let origin: NodeCode = parts.next()?.parse().ok()?;
        let seq: u64 = parts.next()?.parse().ok()?;
        let hash = Hash::from_hex(parts.next()?)?;
        (origin == me && parts.next().is_none()).then_some((seq, hash))
    })();
    if parsed.is_none() {
        tracing::error!(path = %path.display(),
            "the acknowledgement mark is not this node's; a restore from a backup goes undetected");
    }
    parsed
}

/// Writes `text` to `path` atomically: a temporary file beside it, synced,
/// renamed over it, the directory synced.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // A directory cannot be opened for syncing everywhere; the rename is
    // what matters.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Ledger {
    /// This ledger's own head seq (0 for none).
    pub async fn own_head(&self) -> Result<(u64, Hash), LedgerError> {
        let me = self.identity().code;
        Ok(self
            .heads()
            .await?
            .into_iter()
            .find(|h| h.origin == me)
            .map_or((0, Hash::ZERO), |h| (h.seq, h.hash)))
    }

    /// Keeps the acknowledgement mark in the file `path` (in the data
    /// directory, outside the database) from now on, for this ledger and
    /// every clone of it, and compares the own head with it: `Some` when
    /// this database was restored behind the mark (said in the log).
    pub async fn attach_ack_mark(&self, path: PathBuf) -> Result<Option<Restored>, LedgerError> {
        let me = self.identity().code;
        let read_path = path.clone();
        let acked = tokio::task::spawn_blocking(move || read(&read_path, me))
            .await
            .unwrap_or(None);
        {
            let mut inner = self.mark.lock();
            inner.path = Some(path.clone());
            inner.acked = acked;
        }
        let (head, _) = self.own_head().await?;
        let before = self.mark.restored();
        let restored = self.mark.set_state(head);
        // Said once, not again when the same ledger is attached again.
        if let Some(r) = restored.filter(|_| before != restored) {
            tracing::warn!(
                node = %me,
                own_head = r.own_head,
                acknowledged = r.acknowledged,
                mark = %path.display(),
                "this ledger was restored from a backup: it holds its own chain up to seq {} but \
                 seq {} was acknowledged; it records nothing of its own until it holds its chain \
                 up to the mark again",
                r.own_head,
                r.acknowledged
            );
            if self.identity().parent.is_none() {
                tracing::error!(
                    node = %me,
                    "the top node has no parent to take its chain back from, and its children \
                     hold only what was sent down to them: restore a newer backup that holds \
                     seq {} of this node's chain (see deploy/README.md, \"A restored region\"); \
                     until then nothing is recorded here",
                    r.acknowledged
                );
            }
        }
        Ok(restored)
    }

    /// Restored behind the acknowledgement mark now, or not.
    pub fn restored(&self) -> Option<Restored> {
        self.mark.restored()
    }

    /// The mark, for whoever waits for the refusal to lift.
    pub fn ack_mark(&self) -> &AckMark {
        &self.mark
    }

    /// Refuses with [`LedgerError::Restored`] while restored: for a writer
    /// that wants to say so before it reads a file (an import).
    pub fn refuse_if_restored(&self) -> Result<(), LedgerError> {
        match self.restored() {
            Some(r) => Err(LedgerError::Restored(r)),
            None => Ok(()),
        }
    }

    /// A holder acknowledged this node's own chain up to `seq` (`hash`):
    /// moves the mark forward (never back) and writes it, when it is kept.
    /// A failure to write is logged: the mark is a safety net, the push it
    /// records has happened.
    pub async fn acknowledge_own(&self, seq: u64, hash: Hash) {
        let (path, text) = {
            let mut inner = self.mark.lock();
            let Some(path) = inner.path.clone() else {
                return;
            };
            if inner.acked.is_some_and(|(s, _)| s >= seq) || seq == 0 {
                return;
            }
            inner.acked = Some((seq, hash));
            (path, encode(self.identity().code, seq, &hash))
        };
        let p = path.clone();
        match tokio::task::spawn_blocking(move || write_atomic(&p, &text)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(path = %path.display(), error = %e,
                "cannot write the acknowledgement mark"),
            Err(e) => tracing::error!(error = %e, "the acknowledgement mark's writer failed"),
        }
    }

    /// Compares the own head with the mark again (after own entries were
    /// taken back): the refusal lifts once the head reaches the mark.
    pub async fn recheck_restored(&self) -> Result<Option<Restored>, LedgerError> {
        if self.mark.restored().is_none() {
            return Ok(None);
        }
        let (head, _) = self.own_head().await?;
        let now = self.mark.set_state(head);
        if now.is_none() {
            let me = self.identity().code;
            let acked = self.mark.acknowledged();
            if let Some((seq, hash)) = acked {
                if self.entry_hash(me, seq).await? != Some(hash) {
                    tracing::warn!(node = %me, seq,
                        "the own chain taken back does not hash as acknowledged at the mark");
                }
            }
            tracing::warn!(node = %me, own_head = head,
                "this ledger holds its own chain up to the acknowledgement mark again; it records again");
        }
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_only_as_this_nodes() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("fundsync-mark-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(ACK_FILE);
        let me = NodeCode::from_bytes(*b"652822").expect("a code");
        let other = NodeCode::from_bytes(*b"652823").expect("a code");
        let h = Hash([7u8; 32]);
        assert_eq!(read(&path, me), None);
        write_atomic(&path, &encode(me, 15, &h))?;
        assert_eq!(read(&path, me), Some((15, h)));
        assert_eq!(read(&path, other), None);
        write_atomic(&path, "652822 15\n")?;
        assert_eq!(read(&path, me), None);
        write_atomic(&path, "652822 x 00\n")?;
        assert_eq!(read(&path, me), None);
        std::fs::remove_dir_all(&dir)
    }
}
