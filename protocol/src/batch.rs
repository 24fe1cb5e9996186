//! Batches: the unit of replication, and the checks a receiver makes before
//! any of it reaches the ledger.
//!
//! A batch is a run of entries plus the signed checkpoints that cover them. It
//! travels in a compact binary encoding rather than JSON because a million
//! entries have to cross two hops quickly, and because every byte that is
//! hashed or signed must reach the receiver exactly as the origin produced it.
//!
//! Verification is pure: the caller says who may send what, what it already
//! holds and which keys it trusts, and gets back either one clear reason for
//! refusing the whole batch or the new entries with their bodies decoded.
//! Bodies are decoded only after every chain and signature check has passed,
//! so unauthenticated bytes never become domain values.
//!
//! Architecture invariant: a batch is all or nothing. Nothing in a refused
//! batch is returned, so nothing of it can be applied. A receiver that
//! takes a batch origin by origin ([`Batch::by_origin`]) verifies each
//! origin's run as a batch of its own: all or nothing per origin.

use std::collections::hash_map::{Entry as MapEntry, HashMap};

use ed25519_dalek::VerifyingKey;

use crate::body::{Body, BodyError};
use crate::entry::{Entry, Hash, BODY_BYTES_MAX};
use crate::ids::NodeCode;
use crate::sign::{Checkpoint, KeyId, NodeKey, SignError, SignedCheckpoint};
use crate::version::{check_version, VersionError, PROTOCOL_VERSION};

/// The first bytes of every encoded batch.
pub const MAGIC: &[u8; 4] = b"FSB1";

/// magic, version, from, to, entry count, checkpoint count.
const HEADER_BYTES: usize = 4 + 2 + 6 + 6 + 4 + 4;
/// origin, seq, at_ms, prev_hash, kind length, body length: an entry with an
/// empty kind and body.
pub(crate) const ENTRY_MIN_BYTES: usize = 6 + 8 + 8 + 32 + 1 + 4;
const CHECKPOINT_BYTES: usize = Checkpoint::FIELDS_BYTES + 64;

/// Why a batch was refused. Nothing of a refused batch may be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    // Decoding.
    #[error("batch of {bytes} bytes exceeds the limit of {max} bytes")]
    TooLarge { bytes: usize, max: usize },
    #[error("batch carries {count} entries, more than the limit of {max}")]
    TooManyEntries { count: usize, max: usize },
    #[error("batch carries {count} checkpoints, more than the limit of {max}")]
    TooManyCheckpoints { count: usize, max: usize },
    #[error(
        "entry {index} of the batch has a body of {bytes} bytes, more than the limit of {max}"
    )]
    BodyTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    #[error("not a fundsync batch (bad magic bytes)")]
    BadMagic,
    #[error("batch ends early at byte {offset}, reading {field}")]
    Truncated { offset: usize, field: &'static str },
    #[error("batch has {extra} unexpected bytes after its end at byte {offset}")]
    TrailingBytes { offset: usize, extra: usize },
    #[error("malformed batch at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error(transparent)]
    Version(#[from] VersionError),

    // Verification.
    #[error("batch is addressed to {to}, not to this node ({me})")]
    Misaddressed { to: NodeCode, me: NodeCode },
    #[error("{from} may not send entries of {origin} (entry {origin}-{seq}): outside its subtree")]
    OriginNotAllowed {
        from: NodeCode,
        origin: NodeCode,
        seq: u64,
    },
    #[error(
        "entries of {origin} are out of order in the batch: {origin}-{got} follows {origin}-{prev}"
    )]
    OutOfOrder {
        origin: NodeCode,
        prev: u64,
        got: u64,
    },
    #[error("gap in the journal of {origin}: expected seq {expected}, got {got}")]
    Gap {
        origin: NodeCode,
        expected: u64,
        got: u64,
    },
    #[error("fork in the journal of {origin} at seq {seq}: the entry does not extend the chain held here")]
    Fork { origin: NodeCode, seq: u64 },
    #[error("broken chain in the batch: {origin}-{seq} does not link to the entry before it")]
    BrokenChain { origin: NodeCode, seq: u64 },
    #[error(
        "checkpoint {origin}-{seq} names a different head than the batch's entry {origin}-{seq}"
    )]
    CheckpointMismatch { origin: NodeCode, seq: u64 },
    #[error("checkpoint {origin}-{seq} is beyond the entries of {origin} the batch carries (up to seq {carried})")]
    CheckpointAhead {
        origin: NodeCode,
        seq: u64,
        carried: u64,
    },
    #[error("entries of {origin} up to seq {last} are not covered by a checkpoint in the batch")]
    NotCovered { origin: NodeCode, last: u64 },
    #[error(
        "checkpoint {origin}-{seq} is signed with key {key_id}, which is not known for {origin}"
    )]
    UnknownKey {
        origin: NodeCode,
        seq: u64,
        key_id: KeyId,
    },
    #[error(
        "checkpoint {origin}-{seq} names key {claimed}, but the key known for it has id {actual}"
    )]
    KeyMismatch {
        origin: NodeCode,
        seq: u64,
        claimed: KeyId,
        actual: KeyId,
    },
    #[error("bad signature on checkpoint {origin}-{seq} (key {key_id})")]
    BadSignature {
        origin: NodeCode,
        seq: u64,
        key_id: KeyId,
    },
    #[error("entry {origin}-{seq}: {source}")]
    Body {
        origin: NodeCode,
        seq: u64,
        source: BodyError,
    },
}

impl BatchError {
    /// The origin whose entries the refusal is about, when it is about one
    /// (an alarm names it beside the sender: the chain a relay lied about).
    pub fn origin(&self) -> Option<NodeCode> {
        use BatchError::*;
        match self {
            OriginNotAllowed { origin, .. }
            | OutOfOrder { origin, .. }
            | Gap { origin, .. }
            | Fork { origin, .. }
            | BrokenChain { origin, .. }
            | CheckpointMismatch { origin, .. }
            | CheckpointAhead { origin, .. }
            | NotCovered { origin, .. }
            | UnknownKey { origin, .. }
            | KeyMismatch { origin, .. }
            | BadSignature { origin, .. }
            | Body { origin, .. } => Some(*origin),
            TooLarge { .. }
            | TooManyEntries { .. }
            | TooManyCheckpoints { .. }
            | BodyTooLarge { .. }
            | BadMagic
            | Truncated { .. }
            | TrailingBytes { .. }
            | Malformed { .. }
            | Version(_)
            | Misaddressed { .. } => None,
        }
    }
}

impl From<SignError> for BatchError {
    fn from(e: SignError) -> Self {
        match e {
            SignError::KeyMismatch {
                origin,
                seq,
                claimed,
                actual,
            } => BatchError::KeyMismatch {
                origin,
                seq,
                claimed,
                actual,
            },
            SignError::BadSignature {
                origin,
                seq,
                key_id,
            } => BatchError::BadSignature {
                origin,
                seq,
                key_id,
            },
        }
    }
}

/// Bounds on what a receiver will decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most entries in one batch; also bounds its checkpoints.
    pub entries_max: usize,
    /// Most bytes in one encoded batch.
    pub bytes_max: usize,
    /// Most bytes in one entry body.
    pub body_bytes_max: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            entries_max: 10_000,
            bytes_max: 16 * 1024 * 1024,
            body_bytes_max: BODY_BYTES_MAX,
        }
    }
}

/// Entries and the checkpoints covering them, sent by `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub version: u16,
    /// The sender, as it claims. Nothing in the batch vouches for it: the
    /// receiver compares it with the peer its TLS connection authenticated.
    pub from: NodeCode,
    pub to: NodeCode,
    pub entries: Vec<Entry>,
    pub checkpoints: Vec<SignedCheckpoint>,
}

impl Batch {
    /// A batch in this node's protocol version.
    pub fn new(
        from: NodeCode,
        to: NodeCode,
        entries: Vec<Entry>,
        checkpoints: Vec<SignedCheckpoint>,
    ) -> Batch {
        Batch {
            version: PROTOCOL_VERSION,
            from,
            to,
            entries,
            checkpoints,
        }
    }

    /// The wire encoding: the header, then each entry, then each checkpoint,
    /// all integers big-endian and all variable fields length-prefixed. It is
    /// canonical: decoding and re-encoding gives back the same bytes.
    ///
    /// # Panics
    ///
    /// If an entry's kind is longer than 255 bytes, a body longer than
    /// `u32::MAX` bytes, or there are more than `u32::MAX` entries or
    /// checkpoints. Entries made by [`Entry::new`] or accepted by
    /// [`verify_batch`] never are.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_BYTES
                + entries_wire_bytes(&self.entries)
                + CHECKPOINT_BYTES * self.checkpoints.len(),
        );
        write_preamble(&mut out, MAGIC, self.version, self.from, self.to);
        write_count(&mut out, self.entries.len(), "at most u32::MAX entries");
        write_count(
            &mut out,
            self.checkpoints.len(),
            "at most u32::MAX checkpoints",
        );
        write_entries(&mut out, &self.entries);
        for c in &self.checkpoints {
            c.checkpoint.write_fields(&mut out);
            out.extend_from_slice(&c.signature);
        }
        out
    }

    /// Decodes a batch, checking every length against the bytes that remain
    /// and against `limits`. The version is checked before anything after it
    /// is read, so a later version is free to change the rest of the layout.
    pub fn decode(bytes: &[u8], limits: &BatchLimits) -> Result<Batch, BatchError> {
        let (mut r, version) = Reader::open(bytes, limits, MAGIC)?;
        let from = r.node_code("sender")?;
        let to = r.node_code("recipient")?;
        let entry_count = r.count("entry count")?;
        let checkpoint_count = r.count("checkpoint count")?;
        check_entry_count(entry_count, limits)?;
        if checkpoint_count > limits.entries_max {
            return Err(BatchError::TooManyCheckpoints {
                count: checkpoint_count,
                max: limits.entries_max,
            });
        }
        // Refuse impossible counts before allocating room for them.
        let needed = entry_count
            .saturating_mul(ENTRY_MIN_BYTES)
            .saturating_add(checkpoint_count.saturating_mul(CHECKPOINT_BYTES));
        r.expect_at_least(needed, "the entries and checkpoints the header announces")?;

        let entries = r.entries(entry_count, limits)?;
        let mut checkpoints = Vec::with_capacity(checkpoint_count);
        for _ in 0..checkpoint_count {
            checkpoints.push(r.checkpoint()?);
        }
        r.finish()?;
        Ok(Batch {
            version,
            from,
            to,
            entries,
            checkpoints,
        })
    }
}

impl Batch {
    /// The batch cut into one batch per origin, in the order the origins
    /// first appear: each with that origin's entries, in batch order, and
    /// its checkpoints. A checkpoint of an origin with no entries in the
    /// batch comes alone, after the others (verifying it refuses it:
    /// [`BatchError::CheckpointAhead`]). A receiver verifies and applies
    /// each on its own, so one origin's bad chain stops that origin only.
    pub fn by_origin(&self) -> Vec<Batch> {
        let mut runs: Vec<Batch> = Vec::new();
        let mut index_of: HashMap<NodeCode, usize> = HashMap::new();
        let mut slot = |runs: &mut Vec<Batch>, origin: NodeCode| {
            *index_of.entry(origin).or_insert_with(|| {
                runs.push(Batch {
                    version: self.version,
                    from: self.from,
                    to: self.to,
                    entries: Vec::new(),
                    checkpoints: Vec::new(),
                });
                runs.len() - 1
            })
        };
        for e in &self.entries {
            let k = slot(&mut runs, e.origin);
            runs[k].entries.push(e.clone());
        }
        for c in &self.checkpoints {
            let k = slot(&mut runs, c.checkpoint.origin);
            runs[k].checkpoints.push(*c);
        }
        runs
    }

    /// The origin a batch of [`Batch::by_origin`] is about: its entries',
    /// else its checkpoints'.
    pub fn first_origin(&self) -> Option<NodeCode> {
        self.entries
            .first()
            .map(|e| e.origin)
            .or_else(|| self.checkpoints.first().map(|c| c.checkpoint.origin))
    }
}

/// Refuses more entries than `limits` allow.
pub(crate) fn check_entry_count(count: usize, limits: &BatchLimits) -> Result<(), BatchError> {
    if count > limits.entries_max {
        return Err(BatchError::TooManyEntries {
            count,
            max: limits.entries_max,
        });
    }
    Ok(())
}

/// Bytes `entries` take on the wire.
pub(crate) fn entries_wire_bytes(entries: &[Entry]) -> usize {
    entries
        .iter()
        .map(|e| ENTRY_MIN_BYTES + e.kind.len() + e.body.len())
        .sum()
}

/// Appends the magic, the version and the two node codes every batch format
/// starts with.
pub(crate) fn write_preamble(
    out: &mut Vec<u8>,
    magic: &[u8; 4],
    version: u16,
    from: NodeCode,
    to: NodeCode,
) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(to.as_bytes());
}

/// Appends a u32 count.
///
/// # Panics
///
/// If `n` exceeds `u32::MAX`, with `what` as the message.
pub(crate) fn write_count(out: &mut Vec<u8>, n: usize, what: &'static str) {
    let n = u32::try_from(n).expect(what);
    out.extend_from_slice(&n.to_be_bytes());
}

/// Appends each entry in its wire framing (without a count).
///
/// # Panics
///
/// If an entry's kind is longer than 255 bytes or its body longer than
/// `u32::MAX` bytes.
pub(crate) fn write_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    for e in entries {
        out.extend_from_slice(e.origin.as_bytes());
        out.extend_from_slice(&e.seq.to_be_bytes());
        out.extend_from_slice(&e.at_ms.to_be_bytes());
        out.extend_from_slice(&e.prev_hash.0);
        let kind = u8::try_from(e.kind.len()).expect("entry kinds are at most 255 bytes");
        out.push(kind);
        out.extend_from_slice(e.kind.as_bytes());
        write_count(out, e.body.len(), "entry bodies are at most u32::MAX bytes");
        out.extend_from_slice(&e.body);
    }
}

/// A cursor that refuses to read past the end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading a batch format: checks the size limit, the magic and
    /// the version, and reads nothing after the version unless it is
    /// supported, so a later version is free to lay out the rest differently.
    pub(crate) fn open(
        bytes: &'a [u8],
        limits: &BatchLimits,
        magic: &[u8; 4],
    ) -> Result<(Reader<'a>, u16), BatchError> {
        if bytes.len() > limits.bytes_max {
            return Err(BatchError::TooLarge {
                bytes: bytes.len(),
                max: limits.bytes_max,
            });
        }
        let mut r = Reader { bytes, pos: 0 };
        if r.array::<4>("magic")? != *magic {
            return Err(BatchError::BadMagic);
        }
        let version = u16::from_be_bytes(r.array("version")?);
        check_version(version)?;
        Ok((r, version))
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Refuses, before anything is allocated for it, a header announcing more
    /// than the bytes that remain can hold.
    pub(crate) fn expect_at_least(
        &self,
        needed: usize,
        field: &'static str,
    ) -> Result<(), BatchError> {
        if needed > self.remaining() {
            return Err(BatchError::Truncated {
                offset: self.pos,
                field,
            });
        }
        Ok(())
    }

    /// Refuses bytes after the end.
    pub(crate) fn finish(&self) -> Result<(), BatchError> {
        if self.remaining() > 0 {
            return Err(BatchError::TrailingBytes {
                offset: self.pos,
                extra: self.remaining(),
            });
        }
        Ok(())
    }

    /// `count` entries; the caller has checked `count` against the limits.
    pub(crate) fn entries(
        &mut self,
        count: usize,
        limits: &BatchLimits,
    ) -> Result<Vec<Entry>, BatchError> {
        let mut entries = Vec::with_capacity(count);
        for index in 0..count {
            entries.push(self.entry(index, limits)?);
        }
        Ok(entries)
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], BatchError> {
        let truncated = BatchError::Truncated {
            offset: self.pos,
            field,
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let slice = self.bytes.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], BatchError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, BatchError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, BatchError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// A u32 length or count, as a usize.
    pub(crate) fn count(&mut self, field: &'static str) -> Result<usize, BatchError> {
        let offset = self.pos;
        let n = u32::from_be_bytes(self.array(field)?);
        usize::try_from(n).map_err(|_| BatchError::Malformed {
            offset,
            what: "length does not fit this machine's address space",
        })
    }

    pub(crate) fn node_code(&mut self, field: &'static str) -> Result<NodeCode, BatchError> {
        let offset = self.pos;
        NodeCode::from_bytes(self.array(field)?).ok_or(BatchError::Malformed {
            offset,
            what: "node code is not 6 ASCII digits",
        })
    }

    fn entry(&mut self, index: usize, limits: &BatchLimits) -> Result<Entry, BatchError> {
        let origin = self.node_code("entry origin")?;
        let seq_at = self.pos;
        let seq = self.u64("entry seq")?;
        if seq == 0 {
            return Err(BatchError::Malformed {
                offset: seq_at,
                what: "entry seq is 0 (sequences start at 1)",
            });
        }
        let at_ms = self.i64("entry time")?;
        let prev_hash = Hash(self.array("entry prev_hash")?);
        let [kind_len] = self.array("entry kind length")?;
        let kind_at = self.pos;
        let kind = std::str::from_utf8(self.take(usize::from(kind_len), "entry kind")?)
            .map_err(|_| BatchError::Malformed {
                offset: kind_at,
                what: "entry kind is not UTF-8",
            })?
            .to_owned();
        let body_len = self.count("entry body length")?;
        if body_len > limits.body_bytes_max {
            return Err(BatchError::BodyTooLarge {
                index,
                bytes: body_len,
                max: limits.body_bytes_max,
            });
        }
        let body = self.take(body_len, "entry body")?.to_vec();
        Ok(Entry {
            origin,
            seq,
            at_ms,
            prev_hash,
            kind,
            body,
        })
    }

    fn checkpoint(&mut self) -> Result<SignedCheckpoint, BatchError> {
        let checkpoint = Checkpoint {
            origin: self.node_code("checkpoint origin")?,
            seq: self.u64("checkpoint seq")?,
            head: Hash(self.array("checkpoint head")?),
            key_id: KeyId(self.array("checkpoint key id")?),
            at_ms: self.i64("checkpoint time")?,
        };
        let signature = self.array("checkpoint signature")?;
        Ok(SignedCheckpoint {
            checkpoint,
            signature,
        })
    }
}

/// The public keys a receiver trusts, by origin and key id.
pub trait Keys {
    fn key(&self, origin: NodeCode, key_id: KeyId) -> Option<VerifyingKey>;
}

impl Keys for HashMap<(NodeCode, KeyId), VerifyingKey> {
    fn key(&self, origin: NodeCode, key_id: KeyId) -> Option<VerifyingKey> {
        self.get(&(origin, key_id)).copied()
    }
}

/// The last entry a receiver holds for an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

impl Head {
    /// Nothing held yet: the first entry must be seq 1 with a zero `prev_hash`.
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: Hash::ZERO,
    };
}

/// What a batch adds, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries the receiver does not hold yet, in batch order (ascending seq
    /// per origin), each with its hash and decoded body.
    pub new: Vec<(Entry, Hash, Body)>,
    /// Entries skipped as already held.
    pub duplicates: usize,
    /// The verified checkpoints at the head of each origin's new entries,
    /// unchanged, for the receiver to keep and forward.
    pub checkpoints: Vec<SignedCheckpoint>,
}

/// Per-origin progress through a batch.
struct OriginState {
    origin: NodeCode,
    held: Head,
    /// The last seq of this origin seen in the batch, new or not.
    last_seq: u64,
    /// The last new entry: its seq and hash.
    tip: Option<(u64, Hash)>,
    covered: bool,
}

/// Checks a batch received by `me` and returns what it adds.
///
/// - `may_send(origin)` says whether the batch's sender may speak for
///   `origin`: itself or a node of its subtree. The caller knows the tree.
/// - `heads(origin)` is what the receiver already holds for `origin`
///   ([`Head::EMPTY`] if nothing), asked once per origin in the batch.
/// - `keys` are the origins' public keys.
///
/// Entries of one origin must come in ascending, dense seq order. An entry at
/// or below the receiver's head is a replay and is skipped as a duplicate:
/// one at exactly the head must hash to the head, or it is a fork; one below
/// the head is skipped without further checks, since the receiver cannot
/// cheaply hand us its old entries and the chain it holds is already
/// verified. The first new entry must be `head.seq + 1` and link to the head's
/// hash; each later one must link to the one before it. The last new entry of
/// each origin must be named, with its hash, by a checkpoint in the batch
/// signed with a key `keys` knows for that origin; the chain then carries
/// that one signature over all the origin's new entries. Other checkpoints
/// at or below what the batch carries are redundant and dropped; one beyond
/// it is an error.
///
/// Every entry is hashed at most once, and bodies are decoded only after all
/// chain and signature checks have passed.
pub fn verify_batch(
    batch: &Batch,
    me: NodeCode,
    may_send: impl Fn(NodeCode) -> bool,
    heads: impl Fn(NodeCode) -> Head,
    keys: &impl Keys,
) -> Result<Verified, BatchError> {
    check_version(batch.version)?;
    if batch.to != me {
        return Err(BatchError::Misaddressed { to: batch.to, me });
    }

    let mut origins: Vec<OriginState> = Vec::new();
    let mut index_of: HashMap<NodeCode, usize> = HashMap::new();
    // Batch index and hash of each new entry.
    let mut new: Vec<(usize, Hash)> = Vec::new();
    let mut duplicates = 0;

    for (index, e) in batch.entries.iter().enumerate() {
        let o = match index_of.entry(e.origin) {
            MapEntry::Occupied(k) => {
                let o = &mut origins[*k.get()];
                if o.last_seq.checked_add(1) != Some(e.seq) {
                    return Err(BatchError::OutOfOrder {
                        origin: e.origin,
                        prev: o.last_seq,
                        got: e.seq,
                    });
                }
                o
            }
            MapEntry::Vacant(slot) => {
                if !may_send(e.origin) {
                    return Err(BatchError::OriginNotAllowed {
                        from: batch.from,
                        origin: e.origin,
                        seq: e.seq,
                    });
                }
                slot.insert(origins.len());
                origins.push(OriginState {
                    origin: e.origin,
                    held: heads(e.origin),
                    last_seq: e.seq,
                    tip: None,
                    covered: false,
                });
                let k = origins.len() - 1;
                &mut origins[k]
            }
        };
        o.last_seq = e.seq;

        if e.seq < o.held.seq {
            duplicates += 1;
            continue;
        }
        let hash = e.hash();
        if e.seq == o.held.seq {
            if hash != o.held.hash {
                return Err(BatchError::Fork {
                    origin: e.origin,
                    seq: e.seq,
                });
            }
            duplicates += 1;
            continue;
        }
        match o.tip {
            None => {
                let expected = o.held.seq.saturating_add(1);
                if e.seq != expected {
                    return Err(BatchError::Gap {
                        origin: e.origin,
                        expected,
                        got: e.seq,
                    });
                }
                if e.prev_hash != o.held.hash {
                    return Err(BatchError::Fork {
                        origin: e.origin,
                        seq: e.seq,
                    });
                }
            }
            Some((_, tip_hash)) => {
                if e.prev_hash != tip_hash {
                    return Err(BatchError::BrokenChain {
                        origin: e.origin,
                        seq: e.seq,
                    });
                }
            }
        }
        o.tip = Some((e.seq, hash));
        new.push((index, hash));
    }

    // Match checkpoints to chain tips (cheap) before checking any signature.
    let mut covering: Vec<&SignedCheckpoint> = Vec::new();
    for sc in &batch.checkpoints {
        let c = &sc.checkpoint;
        let o = index_of.get(&c.origin).map(|&k| &mut origins[k]);
        let carried = o.as_ref().map_or(0, |o| o.last_seq);
        let Some(o) = o.filter(|_| c.seq <= carried) else {
            return Err(BatchError::CheckpointAhead {
                origin: c.origin,
                seq: c.seq,
                carried,
            });
        };
        match o.tip {
            Some((seq, hash)) if seq == c.seq => {
                if c.head != hash {
                    return Err(BatchError::CheckpointMismatch {
                        origin: c.origin,
                        seq: c.seq,
                    });
                }
                o.covered = true;
                covering.push(sc);
            }
            _ => {}
        }
    }
    for o in &origins {
        if let (Some((last, _)), false) = (o.tip, o.covered) {
            return Err(BatchError::NotCovered {
                origin: o.origin,
                last,
            });
        }
    }
    for sc in &covering {
        let c = &sc.checkpoint;
        let key = keys.key(c.origin, c.key_id).ok_or(BatchError::UnknownKey {
            origin: c.origin,
            seq: c.seq,
            key_id: c.key_id,
        })?;
        sc.verify(&key)?;
    }

    // Authenticated: now, and only now, bodies become domain values.
    let mut verified = Vec::with_capacity(new.len());
    for (index, hash) in new {
        let e = &batch.entries[index];
        let body = e.decode_body().map_err(|source| BatchError::Body {
            origin: e.origin,
            seq: e.seq,
            source,
        })?;
        verified.push((e.clone(), hash, body));
    }
    Ok(Verified {
        new: verified,
        duplicates,
        checkpoints: covering.into_iter().copied().collect(),
    })
}

/// Signs, as their origin, the head of `entries`: a run of one origin's
/// consecutive entries, as the origin puts them in a batch. Only the last
/// entry is signed; the chain covers the rest. `None` if `entries` is empty.
pub fn checkpoint_for(key: &NodeKey, entries: &[Entry], at_ms: i64) -> Option<SignedCheckpoint> {
    let last = entries.last()?;
    Some(key.sign_checkpoint(last.origin, last.seq, last.hash(), at_ms))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::body::ChildRegistered;
    use crate::ids::Level;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000_000;

    fn code(s: &str) -> NodeCode {
        s.parse().expect("valid node code")
    }

    fn region() -> NodeCode {
        code("650000")
    }

    fn prefecture() -> NodeCode {
        code("652800")
    }

    fn county() -> NodeCode {
        code("652801")
    }

    fn county_key() -> NodeKey {
        NodeKey::from_seed(&[1; 32])
    }

    fn prefecture_key() -> NodeKey {
        NodeKey::from_seed(&[2; 32])
    }

    fn body(name: &str) -> Body {
        Body::ChildRegistered(ChildRegistered {
            code: code("652899"),
            name: name.to_owned(),
        })
    }

    /// `n` consecutive entries of `origin` from seq `first`, linked to `prev`.
    fn chain(origin: NodeCode, first: u64, prev: Hash, n: u64) -> Vec<Entry> {
        let mut prev = prev;
        let mut out = vec![];
        for seq in first..first + n {
            let at_ms = T0 + i64::try_from(seq).expect("small seq");
            let e = Entry::new(
                origin,
                seq,
                at_ms,
                prev,
                &body(&format!("单位{seq}")),
                &crate::Actor::system(),
            );
            prev = e.hash();
            out.push(e);
        }
        out
    }

    fn keys(list: &[(NodeCode, &NodeKey)]) -> HashMap<(NodeCode, KeyId), VerifyingKey> {
        list.iter()
            .map(|(origin, key)| ((*origin, key.key_id()), key.verifying_key()))
            .collect()
    }

    /// The county's entries 1..=n, sent to its prefecture, signed at n.
    fn county_batch(n: u64) -> Batch {
        let entries = chain(county(), 1, Hash::ZERO, n);
        let cp = checkpoint_for(&county_key(), &entries, T0).expect("entries");
        Batch::new(county(), prefecture(), entries, vec![cp])
    }

    fn at_prefecture(batch: &Batch, held: Head) -> Result<Verified, BatchError> {
        let key = county_key();
        verify_batch(
            batch,
            prefecture(),
            |o| o == county(),
            |_| held,
            &keys(&[(county(), &key)]),
        )
    }

    fn head_of(e: &Entry) -> Head {
        Head {
            seq: e.seq,
            hash: e.hash(),
        }
    }

    // ---- Encoding ----

    pub(crate) fn arb_code() -> impl Strategy<Value = NodeCode> {
        "[0-9]{6}".prop_map(|s| code(&s))
    }

    pub(crate) fn arb_entry() -> impl Strategy<Value = Entry> {
        (
            arb_code(),
            1..=u64::MAX,
            any::<i64>(),
            any::<[u8; 32]>(),
            "\\PC{0,40}",
            vec(any::<u8>(), 0..200),
        )
            .prop_map(|(origin, seq, at_ms, prev, kind, body)| Entry {
                origin,
                seq,
                at_ms,
                prev_hash: Hash(prev),
                kind,
                body,
            })
    }

    /// 64 arbitrary bytes (proptest has no strategy for arrays this long).
    pub(crate) fn arb_signature() -> impl Strategy<Value = [u8; 64]> {
        (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(s1, s2)| {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&s1);
            signature[32..].copy_from_slice(&s2);
            signature
        })
    }

    fn arb_checkpoint() -> impl Strategy<Value = SignedCheckpoint> {
        (
            arb_code(),
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<[u8; 8]>(),
            any::<i64>(),
            arb_signature(),
        )
            .prop_map(
                |(origin, seq, head, key_id, at_ms, signature)| SignedCheckpoint {
                    checkpoint: Checkpoint {
                        origin,
                        seq,
                        head: Hash(head),
                        key_id: KeyId(key_id),
                        at_ms,
                    },
                    signature,
                },
            )
    }

    fn arb_batch() -> impl Strategy<Value = Batch> {
        (
            arb_code(),
            arb_code(),
            vec(arb_entry(), 0..6),
            vec(arb_checkpoint(), 0..4),
        )
            .prop_map(|(from, to, entries, checkpoints)| Batch::new(from, to, entries, checkpoints))
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(batch in arb_batch()) {
            let bytes = batch.encode();
            let back = Batch::decode(&bytes, &BatchLimits::default()).expect("decodes");
            prop_assert_eq!(&back, &batch);
            prop_assert_eq!(back.encode(), bytes);
        }

        #[test]
        fn decode_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..600)) {
            decode_arbitrary(MAGIC, &bytes, recode);
        }

        #[test]
        fn truncations_and_bit_flips_never_panic(
            batch in arb_batch(),
            at in any::<prop::sample::Index>(),
            bit in 0..8u8,
        ) {
            check_truncations_and_flip(&batch.encode(), recode, at, bit)?;
        }
    }

    fn recode(bytes: &[u8]) -> Option<Vec<u8>> {
        Batch::decode(bytes, &BatchLimits::default())
            .ok()
            .map(|b| b.encode())
    }

    /// Decodes (with `recode`: decode, then encode again) arbitrary bytes,
    /// raw and behind `magic` and this version, where most of the parsing
    /// is; it must return rather than panic.
    pub(crate) fn decode_arbitrary(
        magic: &[u8; 4],
        bytes: &[u8],
        recode: impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) {
        let _ = recode(bytes);
        let mut framed = magic.to_vec();
        framed.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        framed.extend_from_slice(bytes);
        let _ = recode(&framed);
    }

    /// Every strict prefix of `bytes` is refused, and `bytes` with bit `bit`
    /// of byte `at` flipped is refused or decodes to exactly those bytes: the
    /// encoding is canonical.
    pub(crate) fn check_truncations_and_flip(
        bytes: &[u8],
        recode: impl Fn(&[u8]) -> Option<Vec<u8>>,
        at: prop::sample::Index,
        bit: u8,
    ) -> Result<(), TestCaseError> {
        for n in 0..bytes.len() {
            prop_assert!(recode(&bytes[..n]).is_none(), "prefix of {} bytes", n);
        }
        let mut flipped = bytes.to_vec();
        flipped[at.index(bytes.len())] ^= 1 << bit;
        if let Some(again) = recode(&flipped) {
            prop_assert_eq!(again, flipped);
        }
        Ok(())
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_real_batch() {
        let bytes = county_batch(3).encode();
        let limits = BatchLimits::default();
        for n in 0..bytes.len() {
            assert!(
                Batch::decode(&bytes[..n], &limits).is_err(),
                "prefix of {n} bytes"
            );
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[i] ^= 1 << bit;
                if let Ok(b) = Batch::decode(&flipped, &limits) {
                    assert_eq!(b.encode(), flipped);
                    // A flipped bit that still decodes never verifies, except
                    // in the sender, which TLS rather than the batch vouches for.
                    // Nor does the version (4..6): another version this
                    // node accepts (3 → 2) reads the same.
                    if !(4..12).contains(&i) {
                        assert!(
                            at_prefecture(&b, Head::EMPTY).is_err(),
                            "byte {i} bit {bit}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn wire_layout() {
        let batch = county_batch(1);
        let bytes = batch.encode();
        assert_eq!(&bytes[..4], b"FSB1");
        assert_eq!(&bytes[4..6], &[0, 6]);
        assert_eq!(&bytes[6..18], b"652801652800");
        assert_eq!(&bytes[18..26], &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(&bytes[26..32], b"652801");
        let e = &batch.entries[0];
        let entry_bytes = ENTRY_MIN_BYTES + e.kind.len() + e.body.len();
        assert_eq!(bytes.len(), HEADER_BYTES + entry_bytes + CHECKPOINT_BYTES);
    }

    // ---- Malformed bytes ----

    #[test]
    fn truncated_is_rejected() {
        let bytes = county_batch(2).encode();
        let e = Batch::decode(&bytes[..bytes.len() - 1], &BatchLimits::default());
        assert!(
            matches!(
                e,
                Err(BatchError::Truncated {
                    field: "checkpoint signature",
                    ..
                })
            ),
            "{e:?}"
        );
        assert!(matches!(
            Batch::decode(&[], &BatchLimits::default()),
            Err(BatchError::Truncated {
                offset: 0,
                field: "magic"
            })
        ));
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let mut bytes = county_batch(2).encode();
        let end = bytes.len();
        bytes.extend_from_slice(b"junk");
        assert_eq!(
            Batch::decode(&bytes, &BatchLimits::default()),
            Err(BatchError::TrailingBytes {
                offset: end,
                extra: 4
            })
        );
    }

    #[test]
    fn bad_magic_is_rejected() {
        let mut bytes = county_batch(1).encode();
        bytes[0] = b'{';
        assert_eq!(
            Batch::decode(&bytes, &BatchLimits::default()),
            Err(BatchError::BadMagic)
        );
    }

    #[test]
    fn bad_node_codes_are_rejected() {
        // Sender, recipient, entry origin, checkpoint origin.
        let bytes = county_batch(1).encode();
        let checkpoint_at = bytes.len() - CHECKPOINT_BYTES;
        for offset in [6, 12, 26, checkpoint_at] {
            let mut bad = bytes.clone();
            bad[offset + 5] = b'x';
            assert_eq!(
                Batch::decode(&bad, &BatchLimits::default()),
                Err(BatchError::Malformed {
                    offset,
                    what: "node code is not 6 ASCII digits"
                }),
                "at {offset}"
            );
        }
    }

    #[test]
    fn non_utf8_kind_is_rejected() {
        let mut bytes = county_batch(1).encode();
        // Entry: origin 6, seq 8, at_ms 8, prev_hash 32, then the kind length.
        let kind_at = HEADER_BYTES + 6 + 8 + 8 + 32 + 1;
        bytes[kind_at] = 0xFF;
        let e = Batch::decode(&bytes, &BatchLimits::default());
        assert_eq!(
            e,
            Err(BatchError::Malformed {
                offset: kind_at,
                what: "entry kind is not UTF-8"
            })
        );
        assert!(e.expect_err("refused").to_string().contains("not UTF-8"));
    }

    #[test]
    fn zero_seq_is_rejected() {
        let mut batch = county_batch(1);
        batch.entries[0].seq = 0;
        assert!(matches!(
            Batch::decode(&batch.encode(), &BatchLimits::default()),
            Err(BatchError::Malformed {
                what: "entry seq is 0 (sequences start at 1)",
                ..
            })
        ));
    }

    // ---- Limits and versions ----

    #[test]
    fn oversized_batches_are_rejected() {
        let bytes = county_batch(3).encode();
        let limits = BatchLimits::default();
        let few = BatchLimits {
            entries_max: 2,
            ..limits
        };
        assert_eq!(
            Batch::decode(&bytes, &few),
            Err(BatchError::TooManyEntries { count: 3, max: 2 })
        );
        let small = BatchLimits {
            bytes_max: bytes.len() - 1,
            ..limits
        };
        assert_eq!(
            Batch::decode(&bytes, &small),
            Err(BatchError::TooLarge {
                bytes: bytes.len(),
                max: bytes.len() - 1
            })
        );
        let tight = BatchLimits {
            body_bytes_max: 10,
            ..limits
        };
        assert!(matches!(
            Batch::decode(&bytes, &tight),
            Err(BatchError::BodyTooLarge {
                index: 0,
                max: 10,
                ..
            })
        ));
        assert!(Batch::decode(&bytes, &limits).is_ok());
    }

    #[test]
    fn announced_counts_are_checked_before_allocating() {
        let mut bytes = Batch::new(county(), prefecture(), vec![], vec![]).encode();
        bytes[18..22].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Batch::decode(&bytes, &BatchLimits::default()),
            Err(BatchError::TooManyEntries { .. })
        ));
        let unlimited = BatchLimits {
            entries_max: usize::MAX,
            ..BatchLimits::default()
        };
        assert!(matches!(
            Batch::decode(&bytes, &unlimited),
            Err(BatchError::Truncated {
                offset: HEADER_BYTES,
                ..
            })
        ));
        bytes[18..22].copy_from_slice(&0u32.to_be_bytes());
        bytes[22..26].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Batch::decode(&bytes, &BatchLimits::default()),
            Err(BatchError::TooManyCheckpoints { .. })
        ));
    }

    #[test]
    fn unknown_version_is_rejected_before_the_rest_is_read() {
        let mut batch = county_batch(2);
        batch.version = 7;
        let bytes = batch.encode();
        let want = Err(BatchError::Version(VersionError { ours: 6, theirs: 7 }));
        assert_eq!(Batch::decode(&bytes, &BatchLimits::default()), want);
        // A later version may lay out the rest differently: only 6 bytes are read.
        assert_eq!(Batch::decode(&bytes[..6], &BatchLimits::default()), want);
        let e = at_prefecture(&batch, Head::EMPTY);
        assert_eq!(e.clone().map(|_| ()), want.map(|_| ()));
        assert!(e.expect_err("refused").to_string().contains("version 6"));
    }

    // ---- Verification ----

    /// What a version 1 child sends: bodies without an actor, the batch's
    /// version 1. A version 2 parent verifies and decodes it unchanged.
    #[test]
    fn accepts_a_version_1_batch_of_bare_bodies() {
        let mut prev = Hash::ZERO;
        let mut entries = vec![];
        for seq in 1..=3 {
            let Body::ChildRegistered(b) = body(&format!("单位{seq}")) else {
                unreachable!()
            };
            let e = Entry {
                origin: county(),
                seq,
                at_ms: T0,
                prev_hash: prev,
                kind: "child_registered".into(),
                body: serde_json::to_vec(&b).expect("json"),
            };
            prev = e.hash();
            entries.push(e);
        }
        let cp = checkpoint_for(&county_key(), &entries, T0).expect("entries");
        let mut batch = Batch::new(county(), prefecture(), entries, vec![cp]);
        batch.version = 1;
        let bytes = batch.encode();
        let back = Batch::decode(&bytes, &BatchLimits::default()).expect("version 1 decodes");
        let v = at_prefecture(&back, Head::EMPTY).expect("version 1 verifies");
        assert_eq!(v.new.len(), 3);
        for (e, _, b) in &v.new {
            assert_eq!(e.decode_with_actor(), Ok((b.clone(), None)));
        }
    }

    #[test]
    fn accepts_a_signed_batch() {
        let batch = county_batch(3);
        let bytes = batch.encode();
        let decoded = Batch::decode(&bytes, &BatchLimits::default()).expect("decodes");
        let v = at_prefecture(&decoded, Head::EMPTY).expect("verifies");
        assert_eq!(v.duplicates, 0);
        assert_eq!(v.checkpoints, batch.checkpoints);
        assert_eq!(v.new.len(), 3);
        for ((e, hash, b), sent) in v.new.iter().zip(&batch.entries) {
            assert_eq!(e, sent);
            assert_eq!(*hash, sent.hash());
            assert_eq!(*b, body(&format!("单位{}", sent.seq)));
        }
    }

    #[test]
    fn forged_signature_is_rejected() {
        let batch = county_batch(3);
        let last = head_of(&batch.entries[2]);

        // Signed by another key that claims to be the county's.
        let forger = NodeKey::from_seed(&[9; 32]);
        let mut forged = forger.sign_checkpoint(county(), last.seq, last.hash, T0);
        forged.checkpoint.key_id = county_key().key_id();
        let mut b = batch.clone();
        b.checkpoints = vec![forged];
        let e = at_prefecture(&b, Head::EMPTY);
        assert_eq!(
            e,
            Err(BatchError::BadSignature {
                origin: county(),
                seq: 3,
                key_id: county_key().key_id()
            })
        );
        assert!(e.expect_err("refused").to_string().contains("652801-3"));

        // The real checkpoint with one bit of its signature changed.
        let mut b = batch;
        b.checkpoints[0].signature[10] ^= 0x10;
        assert!(matches!(
            at_prefecture(&b, Head::EMPTY),
            Err(BatchError::BadSignature { .. })
        ));
    }

    #[test]
    fn body_altered_by_a_relay_is_rejected() {
        let batch = county_batch(3);

        // A middle entry: the next entry no longer links to it.
        let mut b = batch.clone();
        b.entries[1].body[12] ^= 1;
        assert_eq!(
            at_prefecture(&b, Head::EMPTY),
            Err(BatchError::BrokenChain {
                origin: county(),
                seq: 3
            })
        );

        // The last entry: it no longer matches the signed head.
        let mut b = batch.clone();
        b.entries[2].body[12] ^= 1;
        assert_eq!(
            at_prefecture(&b, Head::EMPTY),
            Err(BatchError::CheckpointMismatch {
                origin: county(),
                seq: 3
            })
        );

        // Re-linking the chain after the change does not help either.
        let mut b = batch;
        b.entries[0].body[12] ^= 1;
        b.entries[1].prev_hash = b.entries[0].hash();
        b.entries[2].prev_hash = b.entries[1].hash();
        assert_eq!(
            at_prefecture(&b, Head::EMPTY),
            Err(BatchError::CheckpointMismatch {
                origin: county(),
                seq: 3
            })
        );
    }

    #[test]
    fn entry_from_outside_the_senders_subtree_is_rejected() {
        // The prefecture relays to the region an entry of another prefecture's county.
        let stranger = code("653101");
        let stranger_key = NodeKey::from_seed(&[3; 32]);
        let entries = chain(stranger, 1, Hash::ZERO, 2);
        let cp = checkpoint_for(&stranger_key, &entries, T0).expect("entries");
        let batch = Batch::new(prefecture(), region(), entries, vec![cp]);
        let e = verify_batch(
            &batch,
            region(),
            |o| o == prefecture() || prefecture().contains(Level::Prefecture, &o),
            |_| Head::EMPTY,
            &keys(&[(stranger, &stranger_key)]),
        );
        assert_eq!(
            e,
            Err(BatchError::OriginNotAllowed {
                from: prefecture(),
                origin: stranger,
                seq: 1
            })
        );
        assert!(e.expect_err("refused").to_string().contains("653101"));
    }

    #[test]
    fn replay_is_harmless_and_counted_once() {
        let batch = county_batch(3);
        let v = at_prefecture(&batch, Head::EMPTY).expect("first time");
        assert_eq!(v.new.len(), 3);

        let held = head_of(&batch.entries[2]);
        let again = at_prefecture(&batch, held).expect("replay");
        assert!(again.new.is_empty());
        assert_eq!(again.duplicates, 3);
        assert!(again.checkpoints.is_empty());

        // A batch overlapping what is held adds only the rest.
        let held = head_of(&batch.entries[1]);
        let partly = at_prefecture(&batch, held).expect("overlap");
        assert_eq!(partly.duplicates, 2);
        assert_eq!(partly.new.len(), 1);
        assert_eq!(partly.new[0].0.seq, 3);
    }

    #[test]
    fn sequence_gap_is_rejected() {
        let mut batch = county_batch(3);
        batch.entries.remove(0);
        assert_eq!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::Gap {
                origin: county(),
                expected: 1,
                got: 2
            })
        );

        // Held up to 1, batch starts at 3.
        let full = county_batch(3);
        let mut batch = full.clone();
        batch.entries.drain(..2);
        let e = at_prefecture(&batch, head_of(&full.entries[0]));
        assert_eq!(
            e,
            Err(BatchError::Gap {
                origin: county(),
                expected: 2,
                got: 3
            })
        );
        assert!(e
            .expect_err("refused")
            .to_string()
            .contains("expected seq 2, got 3"));
    }

    #[test]
    fn fork_is_rejected() {
        let batch = county_batch(3);
        // The receiver holds a different entry 2 of the same origin.
        let other_2 = Entry::new(
            county(),
            2,
            T0,
            batch.entries[0].hash(),
            &body("另一个"),
            &crate::Actor::system(),
        );
        let held = head_of(&other_2);
        assert_eq!(
            at_prefecture(&batch, held),
            Err(BatchError::Fork {
                origin: county(),
                seq: 2
            })
        );
        // The batch continues from its own entry 2, not the one held.
        let mut tail = batch;
        tail.entries.drain(..2);
        assert_eq!(
            at_prefecture(&tail, held),
            Err(BatchError::Fork {
                origin: county(),
                seq: 3
            })
        );
    }

    #[test]
    fn out_of_order_entries_are_rejected() {
        let mut batch = county_batch(3);
        batch.entries.swap(1, 2);
        assert_eq!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::OutOfOrder {
                origin: county(),
                prev: 1,
                got: 3
            })
        );
        let mut batch = county_batch(2);
        let first = batch.entries[0].clone();
        batch.entries.insert(1, first);
        assert!(matches!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::OutOfOrder {
                prev: 1,
                got: 1,
                ..
            })
        ));
    }

    #[test]
    fn batch_addressed_to_another_node_is_rejected() {
        let batch = county_batch(1);
        let key = county_key();
        let e = verify_batch(
            &batch,
            code("652900"),
            |_| true,
            |_| Head::EMPTY,
            &keys(&[(county(), &key)]),
        );
        assert_eq!(
            e,
            Err(BatchError::Misaddressed {
                to: prefecture(),
                me: code("652900")
            })
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let batch = county_batch(2);
        let e = verify_batch(
            &batch,
            prefecture(),
            |o| o == county(),
            |_| Head::EMPTY,
            &keys(&[]),
        );
        assert_eq!(
            e,
            Err(BatchError::UnknownKey {
                origin: county(),
                seq: 2,
                key_id: county_key().key_id()
            })
        );
        // The key is known, but for another origin.
        let key = county_key();
        let e = verify_batch(
            &batch,
            prefecture(),
            |o| o == county(),
            |_| Head::EMPTY,
            &keys(&[(code("652802"), &key)]),
        );
        assert!(matches!(e, Err(BatchError::UnknownKey { .. })));
    }

    #[test]
    fn key_not_matching_its_id_is_rejected() {
        struct Lying;
        impl Keys for Lying {
            fn key(&self, _: NodeCode, _: KeyId) -> Option<VerifyingKey> {
                Some(prefecture_key().verifying_key())
            }
        }
        let batch = county_batch(2);
        let e = verify_batch(
            &batch,
            prefecture(),
            |o| o == county(),
            |_| Head::EMPTY,
            &Lying,
        );
        assert_eq!(
            e,
            Err(BatchError::KeyMismatch {
                origin: county(),
                seq: 2,
                claimed: county_key().key_id(),
                actual: prefecture_key().key_id()
            })
        );
    }

    #[test]
    fn missing_checkpoint_is_rejected() {
        let mut batch = county_batch(3);
        batch.checkpoints.clear();
        assert_eq!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::NotCovered {
                origin: county(),
                last: 3
            })
        );
        // Entries after the last checkpoint are not covered by it.
        let mut batch = county_batch(3);
        batch.checkpoints =
            vec![checkpoint_for(&county_key(), &batch.entries[..2], T0).expect("entries")];
        assert_eq!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::NotCovered {
                origin: county(),
                last: 3
            })
        );
    }

    #[test]
    fn checkpoint_beyond_the_batch_is_rejected() {
        let key = county_key();
        let mut batch = county_batch(2);
        batch.checkpoints = vec![key.sign_checkpoint(county(), 3, Hash([5; 32]), T0)];
        assert_eq!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::CheckpointAhead {
                origin: county(),
                seq: 3,
                carried: 2
            })
        );
        // A checkpoint for an origin the batch carries nothing of.
        let mut batch = county_batch(2);
        batch
            .checkpoints
            .push(key.sign_checkpoint(code("652802"), 1, Hash([5; 32]), T0));
        assert!(matches!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::CheckpointAhead { carried: 0, .. })
        ));
    }

    #[test]
    fn earlier_checkpoints_are_redundant() {
        let mut batch = county_batch(3);
        let earlier = checkpoint_for(&county_key(), &batch.entries[..2], T0).expect("entries");
        let last = batch.checkpoints[0];
        batch.checkpoints.insert(0, earlier);
        let v = at_prefecture(&batch, Head::EMPTY).expect("verifies");
        assert_eq!(v.checkpoints, vec![last]);
    }

    #[test]
    fn bodies_are_decoded_only_after_verification() {
        let mut entries = chain(county(), 1, Hash::ZERO, 1);
        entries.push(Entry {
            origin: county(),
            seq: 2,
            at_ms: T0,
            prev_hash: entries[0].hash(),
            kind: "child_registered".into(),
            body: b"not json".to_vec(),
        });
        let cp = checkpoint_for(&county_key(), &entries, T0).expect("entries");
        let mut batch = Batch::new(county(), prefecture(), entries, vec![cp]);
        assert!(matches!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::Body {
                seq: 2,
                source: BodyError::Malformed { .. },
                ..
            })
        ));
        batch.checkpoints[0].signature[0] ^= 1;
        assert!(matches!(
            at_prefecture(&batch, Head::EMPTY),
            Err(BatchError::BadSignature { .. })
        ));
    }

    #[test]
    fn relay_forwards_the_origins_checkpoint_unchanged() {
        let from_county = at_prefecture(&county_batch(3), Head::EMPTY).expect("county batch");

        // The prefecture adds its own entries and relays everything to the region.
        let own = chain(prefecture(), 1, Hash::ZERO, 2);
        let own_cp = checkpoint_for(&prefecture_key(), &own, T0).expect("entries");
        let mut entries: Vec<Entry> = from_county.new.into_iter().map(|(e, _, _)| e).collect();
        entries.extend(own);
        let mut checkpoints = from_county.checkpoints;
        checkpoints.push(own_cp);
        let relayed = Batch::new(prefecture(), region(), entries, checkpoints);
        let bytes = relayed.encode();

        let received = Batch::decode(&bytes, &BatchLimits::default()).expect("decodes");
        let (ck, pk) = (county_key(), prefecture_key());
        let v = verify_batch(
            &received,
            region(),
            |o| o == prefecture() || prefecture().contains(Level::Prefecture, &o),
            |_| Head::EMPTY,
            &keys(&[(county(), &ck), (prefecture(), &pk)]),
        )
        .expect("verifies at the region");
        assert_eq!(v.new.len(), 5);
        assert_eq!(v.checkpoints, relayed.checkpoints);
        assert_eq!(v.checkpoints[0].checkpoint.key_id, ck.key_id());
    }

    #[test]
    fn interleaved_origins_are_checked_separately() {
        let county_entries = chain(county(), 1, Hash::ZERO, 3);
        let own = chain(prefecture(), 1, Hash::ZERO, 2);
        let checkpoints = vec![
            checkpoint_for(&county_key(), &county_entries, T0).expect("entries"),
            checkpoint_for(&prefecture_key(), &own, T0).expect("entries"),
        ];
        let entries = vec![
            county_entries[0].clone(),
            own[0].clone(),
            county_entries[1].clone(),
            own[1].clone(),
            county_entries[2].clone(),
        ];
        let batch = Batch::new(prefecture(), region(), entries, checkpoints);
        let (ck, pk) = (county_key(), prefecture_key());
        let held_county = head_of(&county_entries[2]);
        let v = verify_batch(
            &batch,
            region(),
            |o| o == prefecture() || prefecture().contains(Level::Prefecture, &o),
            |o| {
                if o == county() {
                    held_county
                } else {
                    Head::EMPTY
                }
            },
            &keys(&[(county(), &ck), (prefecture(), &pk)]),
        )
        .expect("verifies");
        assert_eq!(v.duplicates, 3);
        let seqs: Vec<_> = v.new.iter().map(|(e, _, _)| (e.origin, e.seq)).collect();
        assert_eq!(seqs, vec![(prefecture(), 1), (prefecture(), 2)]);
        assert_eq!(v.checkpoints, vec![batch.checkpoints[1]]);
    }

    #[test]
    fn a_batch_cut_by_origin_keeps_each_origins_run_and_checkpoints() {
        let county_entries = chain(county(), 1, Hash::ZERO, 2);
        let own = chain(prefecture(), 1, Hash::ZERO, 2);
        let stray = prefecture_key().sign_checkpoint(code("652802"), 1, Hash([5; 32]), T0);
        let checkpoints = vec![
            checkpoint_for(&county_key(), &county_entries, T0).expect("entries"),
            stray,
            checkpoint_for(&prefecture_key(), &own, T0).expect("entries"),
        ];
        let entries = vec![
            own[0].clone(),
            county_entries[0].clone(),
            own[1].clone(),
            county_entries[1].clone(),
        ];
        let batch = Batch::new(prefecture(), region(), entries, checkpoints.clone());
        let runs = batch.by_origin();
        let origins: Vec<_> = runs.iter().map(|r| r.first_origin()).collect();
        assert_eq!(
            origins,
            vec![Some(prefecture()), Some(county()), Some(code("652802"))]
        );
        assert_eq!(runs[0].entries, own);
        assert_eq!(runs[0].checkpoints, vec![checkpoints[2]]);
        assert_eq!(runs[1].entries, county_entries);
        assert_eq!(runs[1].checkpoints, vec![checkpoints[0]]);
        assert!(runs[2].entries.is_empty());
        assert!(runs
            .iter()
            .all(|r| r.from == prefecture() && r.to == region()));
        // Each run verifies alone; the stray checkpoint is refused alone.
        let (ck, pk) = (county_key(), prefecture_key());
        let at_region = |b: &Batch| {
            verify_batch(
                b,
                region(),
                |o| o == prefecture() || prefecture().contains(Level::Prefecture, &o),
                |_| Head::EMPTY,
                &keys(&[(county(), &ck), (prefecture(), &pk)]),
            )
        };
        assert!(at_region(&runs[0]).is_ok());
        assert!(at_region(&runs[1]).is_ok());
        assert!(matches!(
            at_region(&runs[2]),
            Err(BatchError::CheckpointAhead { carried: 0, .. })
        ));
        assert!(Batch::new(prefecture(), region(), vec![], vec![])
            .by_origin()
            .is_empty());
    }

    #[test]
    fn checkpoint_for_nothing_is_none() {
        assert_eq!(checkpoint_for(&county_key(), &[], T0), None);
    }
}
