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
//! big-endian) and its encoded bytes. Import applies the batches in order,
//! each in its own transaction, with exactly the checks of the network path
//! (signatures, chains, tree, direction); the sender named in an upward
//! batch must be a registered child, and the origins' signatures, not the
//! file, vouch for the entries.

use std::collections::HashMap;
use std::io::{Read, Write};

use fundsync_protocol::{Batch, DownBatch, NodeCode, NodeKey};

use super::SyncLimits;
use crate::ledger::replica::ReplicaError;
use crate::ledger::{Ledger, LedgerError};

const MAGIC: &[u8] = b"FSBUNDLE1\n";

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

/// Writes the up bundle of this node: every chain it holds. Returns the
/// number of batches.
pub async fn export_up(
    ledger: &Ledger,
    key: &NodeKey,
    limits: &SyncLimits,
    out: &mut impl Write,
) -> Result<usize, BundleError> {
    if ledger.identity().parent.is_none() {
        return Err(BundleError::NoParent);
    }
    out.write_all(MAGIC)?;
    let mut remote: HashMap<NodeCode, u64> = HashMap::new();
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

/// Writes this node's down stream to `child` from its start. Returns the
/// number of batches.
pub async fn export_down(
    ledger: &Ledger,
    key: &NodeKey,
    child: NodeCode,
    limits: &SyncLimits,
    out: &mut impl Write,
) -> Result<usize, BundleError> {
    out.write_all(MAGIC)?;
    let mut after = 0;
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

/// Imports a bundle into this node, batch by batch.
pub async fn import(
    ledger: &Ledger,
    own_key: fundsync_protocol::KeyId,
    limits: &SyncLimits,
    input: &mut impl Read,
) -> Result<Imported, BundleError> {
    let mut magic = [0u8; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|_| BundleError::BadMagic)?;
    if magic != MAGIC {
        return Err(BundleError::BadMagic);
    }
    let me = ledger.identity().clone();
    let children: Vec<String> = ledger
        .nodes()
        .await?
        .into_iter()
        .filter(|n| n.parent.as_deref() == Some(me.code.as_str()))
        .map(|n| n.code)
        .collect();
    let mut done = Imported::default();
    loop {
        let index = done.batches;
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(done),
            Err(e) => return Err(e.into()),
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
            if Some(batch.from) != me.parent {
                return Err(BundleError::NotFromParent {
                    index,
                    from: batch.from,
                    parent: me.parent,
                });
            }
            let r = ledger
                .receive_down(&batch, own_key)
                .await
                .map_err(batch_err)?;
            done.applied += r.applied;
            done.duplicates += r.duplicates;
        } else {
            let batch = Batch::decode(&bytes, &limits.batch()).map_err(|e| batch_err(e.into()))?;
            if !children.iter().any(|c| c == batch.from.as_str()) {
                return Err(BundleError::NotAChild {
                    index,
                    from: batch.from,
                });
            }
            let r = ledger
                .receive_up(batch.from, &batch)
                .await
                .map_err(batch_err)?;
            done.applied += r.applied;
            done.duplicates += r.duplicates;
        }
        done.batches += 1;
    }
}
