//! Offline bundles: the same signed batches as the network protocol, on a
//! file, for counties with no link (carried on a USB stick, say).
//!
//! - Up (`fundsync bundle export FILE` at a child): every chain the child
//!   holds (its own and its descendants'), from the start, in batches with
//!   their origins' checkpoints. The parent imports it; what it holds
//!   already is skipped as duplicates.
//! - Down (`fundsync bundle export FILE --child CODE` at a parent): the down
//!   stream to that child. The child imports it; positions it holds are
//!   skipped.
//!
//! A bundle is `FSBUNDLE1\n` and then, per batch, its length (u32,
//! big-endian) and its encoded bytes. Import is all or nothing: it reads
//! and decodes the whole file, then applies the batches in order in one
//! transaction, with exactly the checks of the network path (signatures,
//! chains, tree, direction); the sender named in an upward batch must be a
//! registered child, and the origins' signatures, not the file, vouch for
//! the entries.
//!
//! Export is incremental when the receiver's position is known
//! (`fundsync bundle heads` at the receiver, carried to the sender, then
//! `bundle export --since FILE`): up, only the entries after the heads the
//! receiver holds; down, only the stream after the receiver's position.

use std::collections::HashMap;
use std::io::{Read, Write};

use fundsync_protocol::wire::HeadView;
use fundsync_protocol::{Batch, DownBatch, NodeCode, NodeKey};
use serde::{Deserialize, Serialize};

use super::SyncLimits;
use crate::ledger::replica::{Incoming, ReplicaError};
use crate::ledger::{Ledger, LedgerError};

/// The first bytes of every bundle file.
pub const MAGIC: &[u8] = b"FSBUNDLE1\n";

/// Why a bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a fundsync bundle (bad magic)")]
    BadMagic,
    #[error("the bundle ends inside batch {0}")]
    Truncated(usize),
    #[error("batch {index} of the bundle: {source}")]
    Batch { index: usize, source: ReplicaError },
    #[error("batch {index} is from {from}, which is not a registered child of this node")]
    NotAChild { index: usize, from: NodeCode },
    #[error("batch {index} is a down batch from {from}, but this node's parent is {parent:?}")]
    NotFromParent {
        index: usize,
        from: NodeCode,
        parent: Option<NodeCode>,
    },
    #[error("this node has no parent to export to")]
    NoParent,
    #[error("the receiver's position file: {0}")]
    BadPosition(String),
    #[error("bundle file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub batches: usize,
    pub applied: usize,
    pub duplicates: usize,
}

fn write_record(out: &mut impl Write, bytes: &[u8]) -> Result<(), BundleError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| std::io::Error::other("a batch larger than 4 GiB"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

/// Where a receiver stands, for an incremental export: the chains it
/// holds and how far it has applied its parent's down stream. Written by
/// `fundsync bundle heads` at the receiver and read by `bundle export
/// --since` at the sender; it is only a hint (the receiver verifies what
/// it is sent, and refuses a gap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub node: NodeCode,
    pub heads: Vec<HeadView>,
    /// Entries of its parent's down stream applied.
    pub down_seq: u64,
}

impl Position {
    /// This node's position.
    pub async fn of(ledger: &Ledger) -> Result<Position, BundleError> {
        Ok(Position {
            node: ledger.identity().code,
            heads: ledger.heads().await?,
            down_seq: ledger.down_state().await?.down_seq,
        })
    }

    /// Reads a position file: this JSON, or the heads array that `GET
    /// /api/v1/sync/heads` answers (then `node` is `expect`).
    pub fn parse(text: &str, expect: NodeCode) -> Result<Position, BundleError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum File {
            Position(Position),
            Heads(Vec<HeadView>),
        }
        let p = match serde_json::from_str::<File>(text)
            .map_err(|e| BundleError::BadPosition(e.to_string()))?
        {
            File::Position(p) => p,
            File::Heads(heads) => Position {
                node: expect,
                heads,
                down_seq: 0,
            },
        };
        if p.node != expect {
            return Err(BundleError::BadPosition(format!(
                "the file is the position of {}, but the bundle is for {expect}",
                p.node
            )));
        }
        Ok(p)
    }
}

/// Writes the up bundle of this node: every chain it holds, after what
/// the parent holds according to `since` (everything without it). Returns
/// the number of batches.
pub async fn export_up(
    ledger: &Ledger,
    key: &NodeKey,
    limits: &SyncLimits,
    since: Option<&Position>,
    out: &mut impl Write,
) -> Result<usize, BundleError> {
    if ledger.identity().parent.is_none() {
        return Err(BundleError::NoParent);
    }
    out.write_all(MAGIC)?;
    let mut remote: HashMap<NodeCode, u64> = since
        .map(|p| p.heads.iter().map(|h| (h.origin, h.seq)).collect())
        .unwrap_or_default();
    let mut n = 0;
    while let Some(batch) =
        super::client::next_up_batch(ledger, key, &remote, limits.batch_entries_max).await?
    {
        for e in &batch.entries {
            remote.insert(e.origin, e.seq);
        }
        write_record(out, &batch.encode())?;
        n += 1;
    }
    Ok(n)
}

/// Writes this node's down stream to `child`, after the child's position
/// `since` (from its start without it). Returns the number of batches.
pub async fn export_down(
    ledger: &Ledger,
    key: &NodeKey,
    child: NodeCode,
    limits: &SyncLimits,
    since: Option<&Position>,
    out: &mut impl Write,
) -> Result<usize, BundleError> {
    out.write_all(MAGIC)?;
    let mut after = since.map_or(0, |p| p.down_seq);
    let mut n = 0;
    loop {
        let batch = ledger
            .down_batch(key, child, after, limits.batch_entries_max)
            .await
            .map_err(|source| BundleError::Batch { index: n, source })?;
        let empty = batch.entries.is_empty();
        if !empty || n == 0 {
            write_record(out, &batch.encode())?;
            n += 1;
        }
        if empty {
            return Ok(n);
        }
        after = batch.last_down_seq().unwrap_or(after);
    }
}

/// Imports a bundle into this node, all or nothing: the whole file is read
/// and every batch decoded and its sender checked first ([`read`]), then
/// every batch is verified and applied in order in one transaction (the
/// bundle is held in memory meanwhile: export incrementally, `--since`, to
/// keep it small). A refusal anywhere keeps nothing of the bundle.
pub async fn import(
    ledger: &Ledger,
    own_key: fundsync_protocol::KeyId,
    limits: &SyncLimits,
    input: &mut impl Read,
) -> Result<Imported, BundleError> {
    let me = ledger.identity().clone();
    let children: Vec<NodeCode> = ledger
        .nodes()
        .await?
        .into_iter()
        .filter(|n| n.parent.as_deref() == Some(me.code.as_str()))
        .filter_map(|n| n.code.parse().ok())
        .collect();
    let batches = read(input, limits, me.parent, &children)?;
    let r = ledger
        .receive_bundle(&batches, own_key)
        .await
        .map_err(|(index, source)| BundleError::Batch { index, source })?;
    Ok(Imported {
        batches: r.batches,
        applied: r.applied,
        duplicates: r.duplicates,
    })
}

/// Reads a whole bundle: the magic, then every batch, each decoded within
/// `limits` (never panics, whatever the bytes), a down batch only from
/// `parent` and an up batch only from one of `children`. Verifies nothing
/// else: signatures and chains are the ledger's to check. The fuzz target
/// `bundle` runs every file through this.
pub fn read(
    input: &mut impl Read,
    limits: &SyncLimits,
    parent: Option<NodeCode>,
    children: &[NodeCode],
) -> Result<Vec<Incoming>, BundleError> {
    let mut magic = [0u8; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|_| BundleError::BadMagic)?;
    if magic != MAGIC {
        return Err(BundleError::BadMagic);
    }
    let mut batches = Vec::new();
    loop {
        let index = batches.len();
        // The file ends between records, or it was cut: a file that ends
        // inside a length is as truncated as one that ends inside a batch.
        let mut len = [0u8; 4];
        match read_up_to(input, &mut len)? {
            0 => break,
            4 => {}
            _ => return Err(BundleError::Truncated(index)),
        }
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        if len > limits.batch_bytes_max {
            return Err(BundleError::Batch {
                index,
                source: fundsync_protocol::BatchError::TooLarge {
                    bytes: len,
                    max: limits.batch_bytes_max,
                }
                .into(),
            });
        }
        let mut bytes = vec![0u8; len];
        input
            .read_exact(&mut bytes)
            .map_err(|_| BundleError::Truncated(index))?;
        let batch_err = |source: ReplicaError| BundleError::Batch { index, source };
        if bytes.starts_with(fundsync_protocol::down::MAGIC) {
            let batch =
                DownBatch::decode(&bytes, &limits.batch()).map_err(|e| batch_err(e.into()))?;
            if Some(batch.from) != parent {
                return Err(BundleError::NotFromParent {
                    index,
                    from: batch.from,
                    parent,
                });
            }
            batches.push(Incoming::Down(batch));
        } else {
            let batch = Batch::decode(&bytes, &limits.batch()).map_err(|e| batch_err(e.into()))?;
            if !children.contains(&batch.from) {
                return Err(BundleError::NotAChild {
                    index,
                    from: batch.from,
                });
            }
            batches.push(Incoming::Up(batch));
        }
    }
    Ok(batches)
}

/// Fills `buf` from `input` as far as it goes: the bytes read, fewer than
/// `buf` holds only at the end of the input.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SyncLimits {
        SyncLimits {
            batch_entries_max: 100,
            batch_bytes_max: 1 << 20,
            pull_wait_ms: 0,
            retry_base_ms: 0,
            retry_max_ms: 0,
            enroll_token_ms: 0,
            health_report_ms: 0,
            connections_max: 0,
            handshake_timeout_ms: 0,
            accept_retry_ms: 0,
            pull_wait_max_ms: 0,
            pull_poll_ms: 0,
            pull_answer_slack_ms: 0,
            push_poll_ms: 0,
            connect_timeout_ms: 0,
            request_timeout_ms: 0,
            idle_close_ms: 0,
        }
    }

    fn read_bytes(bytes: &[u8]) -> Result<Vec<Incoming>, BundleError> {
        let child: NodeCode = "652822".parse().expect("code");
        read(&mut &bytes[..], &limits(), None, &[child])
    }

    /// A batch of no entries from the child 652822 to 652800, framed.
    fn record() -> Vec<u8> {
        let batch = Batch::new(
            "652822".parse().expect("code"),
            "652800".parse().expect("code"),
            Vec::new(),
            Vec::new(),
        )
        .encode();
        let mut out = Vec::new();
        write_record(&mut out, &batch).expect("to memory");
        out
    }

    #[test]
    fn a_bundle_reads_to_its_last_record() {
        assert!(read_bytes(MAGIC).expect("empty").is_empty());
        let mut file = MAGIC.to_vec();
        file.extend(record());
        file.extend(record());
        assert_eq!(read_bytes(&file).expect("two batches").len(), 2);
    }

    /// Found by the fuzz target `bundle`: a file cut one to three bytes
    /// into a record's length read as complete, the cut-off tail ignored.
    #[test]
    fn a_file_that_ends_inside_a_length_is_truncated() {
        for tail in 1..4 {
            let mut file = MAGIC.to_vec();
            file.extend(record());
            let next = record();
            file.extend(&next[..tail]);
            let e = read_bytes(&file).expect_err("cut inside a length");
            assert!(matches!(e, BundleError::Truncated(1)), "{tail}: {e}");
        }
        let e = read_bytes(b"FSBUNDLE1\n\x00").expect_err("cut inside the first length");
        assert!(matches!(e, BundleError::Truncated(0)), "{e}");
        let mut cut = MAGIC.to_vec();
        cut.extend(&record()[..9]);
        let e = read_bytes(&cut).expect_err("cut inside a batch");
        assert!(matches!(e, BundleError::Truncated(0)), "{e}");
    }

    #[test]
    fn a_file_that_is_no_bundle_is_refused() {
        for bytes in [&b""[..], b"FSBUNDLE", b"FSBUNDLE2\n"] {
            let e = read_bytes(bytes).expect_err("no bundle");
            assert!(matches!(e, BundleError::BadMagic), "{e}");
        }
    }
}
