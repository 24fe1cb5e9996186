//! Down streams: how a parent sends a child the entries addressed to it, and
//! how the child knows they are the parent's, complete and in order.
//!
//! Upward, a child sends whole dense chains and the origin's checkpoint covers
//! them (see [`crate::batch`]). Downward that does not work: a parent sends a
//! child only its entries addressed to that child (an `allocation_issued`
//! with `to` = the child …), a sparse subset of its journal, which the child
//! cannot link into the parent's hash chain. So each (parent, child) pair has
//! its own **down stream**: the parent's entries sent to that child, numbered
//! densely from 1 (`down_seq`), with a running digest
//!
//! ```text
//! d_0 = 0³²
//! d_i = SHA-256("fundsync/down/v1\0" ‖ parent ‖ child ‖ down_seq_i (u64 BE) ‖ d_{i-1} ‖ hash(entry_i))
//! ```
//!
//! The parent signs a [`DownCheckpoint`] naming `(parent, child, down_seq,
//! digest)`. The entries keep their own identity and hash (origin = parent,
//! seq, prev_hash …); only their order in the stream is new. The digest binds
//! the pair, each position and the whole history before it, so a child holding
//! `(down_seq, digest)` and a batch whose new entries chain from there to a
//! signed checkpoint knows that no entry was altered, dropped, reordered or
//! injected, and that the stream did not diverge from what it already holds.
//!
//! Architecture invariant: as with upward batches, a down batch is all or
//! nothing, verified before any body is decoded.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::batch::{
    check_entry_count, entries_wire_bytes, write_count, write_entries, write_preamble, BatchError,
    BatchLimits, Reader, ENTRY_MIN_BYTES,
};
use crate::body::{Body, BodyError};
use crate::entry::{Entry, Hash};
use crate::ids::NodeCode;
use crate::sign::{
    signature_hex, signing_bytes, verify_signature, KeyId, NodeKey, SignatureFailure,
};
use crate::version::{check_version, VersionError, PROTOCOL_VERSION};

/// The first bytes of every encoded down batch.
pub const MAGIC: &[u8; 4] = b"FSD1";

const DIGEST_DOMAIN: &[u8] = b"fundsync/down/v1\0";
const CHECKPOINT_DOMAIN: &[u8] = b"fundsync/down-checkpoint/v1\0";

/// magic, version, from, to, first_down_seq, entry count.
const HEADER_BYTES: usize = 4 + 2 + 6 + 6 + 8 + 4;
const CHECKPOINT_BYTES: usize = DownCheckpoint::FIELDS_BYTES + 64;

/// Why a down batch was refused. Nothing of a refused batch may be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownError {
    /// The bytes are not a well-formed down batch within the limits. Only the
    /// decoding variants of [`BatchError`] occur here; a bad version is
    /// reported as [`DownError::Version`].
    #[error(transparent)]
    Decode(BatchError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error("down batch is addressed to {to}, not to this node ({me})")]
    Misaddressed { to: NodeCode, me: NodeCode },
    #[error("down batch claims to come from {from}, but this node's parent is {parent}")]
    WrongSender { from: NodeCode, parent: NodeCode },
    #[error(
        "the down stream of {parent} carries entry {origin}-{seq}, \
         which {parent} did not originate"
    )]
    ForeignOrigin {
        parent: NodeCode,
        origin: NodeCode,
        seq: u64,
    },
    #[error(
        "down batch starting at down_seq {first_down_seq} with {entries} entries \
         has no valid stream position"
    )]
    InvalidPosition { first_down_seq: u64, entries: usize },
    #[error(
        "the down checkpoint is for the stream {cp_from}->{cp_to}, \
         but the batch is of the stream {from}->{to}"
    )]
    CheckpointMismatch {
        from: NodeCode,
        to: NodeCode,
        cp_from: NodeCode,
        cp_to: NodeCode,
    },
    #[error("gap in the down stream from {from}: expected down_seq {expected}, got {got}")]
    Gap {
        from: NodeCode,
        expected: u64,
        got: u64,
    },
    #[error(
        "the down stream from {from} does not match the parent's checkpoint at down_seq \
         {down_seq}: an entry was altered, dropped, reordered or injected, or the stream \
         diverged from what this node holds"
    )]
    DigestMismatch { from: NodeCode, down_seq: u64 },
    #[error(
        "down checkpoint of {from} is signed with key {key_id}, which is not known for {from}"
    )]
    UnknownKey { from: NodeCode, key_id: KeyId },
    #[error(
        "down checkpoint of {from} names key {claimed}, but the key known for it has id {actual}"
    )]
    KeyMismatch {
        from: NodeCode,
        claimed: KeyId,
        actual: KeyId,
    },
    #[error(
        "bad signature on the down checkpoint of {from} at down_seq {down_seq} (key {key_id})"
    )]
    BadSignature {
        from: NodeCode,
        down_seq: u64,
        key_id: KeyId,
    },
    #[error(
        "the parent's down stream repeats or reorders its journal: \
         {origin}-{got} follows {origin}-{prev}"
    )]
    NotAscending {
        origin: NodeCode,
        prev: u64,
        got: u64,
    },
    #[error("entry {origin}-{seq}: {source}")]
    Body {
        origin: NodeCode,
        seq: u64,
        source: BodyError,
    },
}

impl From<BatchError> for DownError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Version(v) => DownError::Version(v),
            other => DownError::Decode(other),
        }
    }
}

/// How far a child has applied its parent's down stream: the last position
/// and the digest there. The parent keeps the same per child, for building the
/// next batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownState {
    pub down_seq: u64,
    pub digest: Hash,
}

impl DownState {
    /// Nothing sent or applied yet.
    pub const EMPTY: DownState = DownState {
        down_seq: 0,
        digest: Hash::ZERO,
    };

    /// The state after the stream from `from` to `to` carries one more entry,
    /// with hash `entry_hash`; `None` past `u64::MAX` positions.
    pub fn next(self, from: NodeCode, to: NodeCode, entry_hash: Hash) -> Option<DownState> {
        let down_seq = self.down_seq.checked_add(1)?;
        let mut h = Sha256::new();
        h.update(DIGEST_DOMAIN);
        h.update(from.as_bytes());
        h.update(to.as_bytes());
        h.update(down_seq.to_be_bytes());
        h.update(self.digest.0);
        h.update(entry_hash.0);
        Some(DownState {
            down_seq,
            digest: Hash(h.finalize().into()),
        })
    }
}

/// A parent's statement that its down stream to `to` has digest `digest` at
/// position `down_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownCheckpoint {
    pub from: NodeCode,
    pub to: NodeCode,
    pub down_seq: u64,
    pub digest: Hash,
    pub key_id: KeyId,
    /// When the parent signed it, in milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
}

impl DownCheckpoint {
    /// Length of the fields in their fixed framing, without the domain prefix.
    pub const FIELDS_BYTES: usize = 6 + 6 + 8 + 32 + 8 + 8;

    /// The stream position it names.
    pub fn state(&self) -> DownState {
        DownState {
            down_seq: self.down_seq,
            digest: self.digest,
        }
    }

    /// The exact bytes the parent signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(CHECKPOINT_DOMAIN, Self::FIELDS_BYTES, |out| {
            self.write_fields(out);
        })
    }

    /// Appends the fields in their fixed framing; down batches reuse it on the wire.
    fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.from.as_bytes());
        out.extend_from_slice(self.to.as_bytes());
        out.extend_from_slice(&self.down_seq.to_be_bytes());
        out.extend_from_slice(&self.digest.0);
        out.extend_from_slice(&self.key_id.0);
        out.extend_from_slice(&self.at_ms.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<DownCheckpoint, BatchError> {
        Ok(DownCheckpoint {
            from: r.node_code("down checkpoint sender")?,
            to: r.node_code("down checkpoint recipient")?,
            down_seq: r.u64("down checkpoint down_seq")?,
            digest: Hash(r.array("down checkpoint digest")?),
            key_id: KeyId(r.array("down checkpoint key id")?),
            at_ms: r.i64("down checkpoint time")?,
        })
    }
}

/// A down checkpoint with the parent's signature over its
/// [`DownCheckpoint::signing_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDownCheckpoint {
    pub checkpoint: DownCheckpoint,
    #[serde(with = "signature_hex")]
    pub signature: [u8; 64],
}

impl SignedDownCheckpoint {
    /// Checks that `key` is the key the checkpoint names and that it signed
    /// exactly these fields (strict ed25519 verification).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), DownError> {
        let c = &self.checkpoint;
        verify_signature(key, c.key_id, &c.signing_bytes(), &self.signature).map_err(|f| match f {
            SignatureFailure::KeyMismatch { actual } => DownError::KeyMismatch {
                from: c.from,
                claimed: c.key_id,
                actual,
            },
            SignatureFailure::BadSignature => DownError::BadSignature {
                from: c.from,
                down_seq: c.down_seq,
                key_id: c.key_id,
            },
        })
    }
}

impl NodeKey {
    /// Signs, as the parent `from`, its down stream to `to` at `state`.
    pub fn sign_down_checkpoint(
        &self,
        from: NodeCode,
        to: NodeCode,
        state: DownState,
        at_ms: i64,
    ) -> SignedDownCheckpoint {
        let checkpoint = DownCheckpoint {
            from,
            to,
            down_seq: state.down_seq,
            digest: state.digest,
            key_id: self.key_id(),
            at_ms,
        };
        let signature = self.sign_bytes(&checkpoint.signing_bytes());
        SignedDownCheckpoint {
            checkpoint,
            signature,
        }
    }
}

/// A run of a parent's down stream to one child: the entries at positions
/// `first_down_seq ..` and the parent's checkpoint at the last of them.
///
/// An empty batch is allowed: its checkpoint names position
/// `first_down_seq - 1`, a signed "nothing new since" that lets a child
/// confirm it holds what the parent sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownBatch {
    pub version: u16,
    /// The parent, as it claims. The receiver compares it with the peer its
    /// TLS connection authenticated.
    pub from: NodeCode,
    pub to: NodeCode,
    /// The stream position of `entries[0]`; at least 1.
    pub first_down_seq: u64,
    pub entries: Vec<Entry>,
    pub checkpoint: SignedDownCheckpoint,
}

impl DownBatch {
    /// The stream position of the batch's last entry (`first_down_seq - 1` if
    /// it is empty), which its checkpoint must name; `None` if there is none.
    pub fn last_down_seq(&self) -> Option<u64> {
        let count = u64::try_from(self.entries.len()).ok()?;
        self.first_down_seq.checked_sub(1)?.checked_add(count)
    }

    /// The wire encoding: magic `FSD1`, version, from, to, first_down_seq,
    /// entry count, the entries framed as in [`crate::Batch`], then the
    /// checkpoint's fields and signature; integers big-endian. Canonical:
    /// decoding and re-encoding gives back the same bytes.
    ///
    /// # Panics
    ///
    /// If an entry's kind is longer than 255 bytes, a body longer than
    /// `u32::MAX` bytes, or there are more than `u32::MAX` entries. Entries
    /// made by [`Entry::new`] or accepted by [`verify_down`] never are.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER_BYTES + entries_wire_bytes(&self.entries) + CHECKPOINT_BYTES);
        write_preamble(&mut out, MAGIC, self.version, self.from, self.to);
        out.extend_from_slice(&self.first_down_seq.to_be_bytes());
        write_count(&mut out, self.entries.len(), "at most u32::MAX entries");
        write_entries(&mut out, &self.entries);
        self.checkpoint.checkpoint.write_fields(&mut out);
        out.extend_from_slice(&self.checkpoint.signature);
        out
    }

    /// Decodes a down batch, checking every length against the bytes that
    /// remain and against `limits`. The version is checked before anything
    /// after it is read. Never panics.
    pub fn decode(bytes: &[u8], limits: &BatchLimits) -> Result<DownBatch, DownError> {
        let (mut r, version) = Reader::open(bytes, limits, MAGIC)?;
        let from = r.node_code("sender")?;
        let to = r.node_code("recipient")?;
        let first_at = r.pos();
        let first_down_seq = r.u64("first down_seq")?;
        if first_down_seq == 0 {
            return Err(DownError::Decode(BatchError::Malformed {
                offset: first_at,
                what: "first down_seq is 0 (down streams start at 1)",
            }));
        }
        let entry_count = r.count("entry count")?;
        check_entry_count(entry_count, limits)?;
        // Refuse impossible counts before allocating room for them.
        let needed = entry_count
            .saturating_mul(ENTRY_MIN_BYTES)
            .saturating_add(CHECKPOINT_BYTES);
        r.expect_at_least(needed, "the entries and checkpoint the header announces")?;
        let entries = r.entries(entry_count, limits)?;
        let checkpoint = DownCheckpoint::read(&mut r)?;
        let signature = r.array("down checkpoint signature")?;
        r.finish()?;
        Ok(DownBatch {
            version,
            from,
            to,
            first_down_seq,
            entries,
            checkpoint: SignedDownCheckpoint {
                checkpoint,
                signature,
            },
        })
    }
}

/// What a down batch adds, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDown {
    /// Entries past the child's state, in stream order, each with its hash
    /// and decoded body.
    pub new: Vec<(Entry, Hash, Body)>,
    /// Entries at or before the child's state, skipped unread.
    pub duplicates: usize,
    /// The state after applying `new` (the state given if nothing is new).
    pub state_after: DownState,
    /// The parent's checkpoint at `state_after`, when the batch advanced the
    /// state, for the child to keep as its receipt.
    pub checkpoint: Option<SignedDownCheckpoint>,
}

/// Checks a down batch received by `me` from its TLS-authenticated `parent`,
/// given the child's `state` of that stream and the parent's keys by id.
///
/// In order, cheapest first:
///
/// 1. The version, the recipient (`me`), the sender (`parent`), and that every
///    entry is the parent's own (`origin == parent`).
/// 2. The position: the checkpoint is for this pair's stream, and the batch
///    starts at or before `state.down_seq + 1` (a redelivery overlapping what
///    is held) but not after it (a [`Gap`]).
/// 3. The checkpoint names the batch's last position, and the digest there.
///    The entries at or before `state.down_seq` are duplicates and are
///    skipped without being hashed or used: the child cannot recompute
///    digests before its state, and need not, since what it holds is already
///    verified. The rest are chained from `state.digest`, and the result must
///    be the checkpoint's digest. A batch that ends exactly at the state must
///    name the state's digest; one that ends before it is a stale
///    redelivery, all duplicates, whose digest cannot be checked and whose
///    content is never used.
/// 4. The parent's signature on the checkpoint, by the key `parent_key` knows
///    under its id.
/// 5. Only then, sanity checks on what the parent signed (its entries come in
///    ascending seq) and the bodies are decoded.
///
/// [`Gap`]: DownError::Gap
pub fn verify_down(
    batch: &DownBatch,
    me: NodeCode,
    parent: NodeCode,
    state: DownState,
    parent_key: &impl Fn(KeyId) -> Option<VerifyingKey>,
) -> Result<VerifiedDown, DownError> {
    check_version(batch.version)?;
    if batch.to != me {
        return Err(DownError::Misaddressed { to: batch.to, me });
    }
    if batch.from != parent {
        return Err(DownError::WrongSender {
            from: batch.from,
            parent,
        });
    }
    if let Some(e) = batch.entries.iter().find(|e| e.origin != parent) {
        return Err(DownError::ForeignOrigin {
            parent,
            origin: e.origin,
            seq: e.seq,
        });
    }

    let invalid = DownError::InvalidPosition {
        first_down_seq: batch.first_down_seq,
        entries: batch.entries.len(),
    };
    let last = batch.last_down_seq().ok_or(invalid.clone())?;
    let sc = &batch.checkpoint;
    let c = &sc.checkpoint;
    if (c.from, c.to) != (batch.from, batch.to) {
        return Err(DownError::CheckpointMismatch {
            from: batch.from,
            to: batch.to,
            cp_from: c.from,
            cp_to: c.to,
        });
    }
    // The position before the batch's first entry; `last_down_seq` has
    // checked that `first_down_seq` is at least 1.
    let before = batch.first_down_seq.saturating_sub(1);
    if before > state.down_seq {
        return Err(DownError::Gap {
            from: parent,
            expected: state.down_seq.saturating_add(1),
            got: batch.first_down_seq,
        });
    }
    let mismatch = DownError::DigestMismatch {
        from: parent,
        down_seq: c.down_seq,
    };
    if c.down_seq != last {
        return Err(mismatch);
    }

    // Positions first_down_seq ..= state.down_seq are held already.
    let held = usize::try_from(state.down_seq - before).map_err(|_| invalid.clone())?;
    let mut new = Vec::new();
    let mut state_after = state;
    if last >= state.down_seq {
        let unheld = batch.entries.get(held..).ok_or(invalid.clone())?;
        for e in unheld {
            let hash = e.hash();
            state_after = state_after.next(parent, me, hash).ok_or(invalid.clone())?;
            new.push((e, hash));
        }
        if state_after != c.state() {
            return Err(mismatch);
        }
    }

    let key = parent_key(c.key_id).ok_or(DownError::UnknownKey {
        from: parent,
        key_id: c.key_id,
    })?;
    sc.verify(&key)?;

    // Authenticated. What the parent signed must still make sense as a
    // journal: its entries reach a child once each, in the order it wrote them.
    for pair in new.windows(2) {
        let (prev, got) = (pair[0].0, pair[1].0);
        if got.seq <= prev.seq {
            return Err(DownError::NotAscending {
                origin: parent,
                prev: prev.seq,
                got: got.seq,
            });
        }
    }
    let mut verified = Vec::with_capacity(new.len());
    for (e, hash) in new {
        let body = e.decode_body().map_err(|source| DownError::Body {
            origin: e.origin,
            seq: e.seq,
            source,
        })?;
        verified.push((e.clone(), hash, body));
    }
    let advanced = !verified.is_empty();
    Ok(VerifiedDown {
        duplicates: batch.entries.len() - verified.len(),
        new: verified,
        state_after,
        checkpoint: advanced.then_some(*sc),
    })
}

/// Builds, as the parent `from`, the next batch of its down stream to `to`:
/// `entries` (the parent's own, in journal order) at the positions after
/// `state_before`, signed at the end. Returns the batch and the stream's state
/// after it, for the parent to keep.
///
/// Refuses an entry the parent did not originate ([`DownError::ForeignOrigin`])
/// and a stream past `u64::MAX` positions ([`DownError::InvalidPosition`]), so
/// a bug on the parent's side fails here rather than at every child.
pub fn build_down_batch(
    key: &NodeKey,
    from: NodeCode,
    to: NodeCode,
    state_before: DownState,
    entries: Vec<Entry>,
    at_ms: i64,
) -> Result<(DownBatch, DownState), DownError> {
    if let Some(e) = entries.iter().find(|e| e.origin != from) {
        return Err(DownError::ForeignOrigin {
            parent: from,
            origin: e.origin,
            seq: e.seq,
        });
    }
    let invalid = DownError::InvalidPosition {
        first_down_seq: state_before.down_seq.saturating_add(1),
        entries: entries.len(),
    };
    let first_down_seq = state_before
        .down_seq
        .checked_add(1)
        .ok_or(invalid.clone())?;
    let mut state = state_before;
    for e in &entries {
        state = state.next(from, to, e.hash()).ok_or(invalid.clone())?;
    }
    let checkpoint = key.sign_down_checkpoint(from, to, state, at_ms);
    let batch = DownBatch {
        version: PROTOCOL_VERSION,
        from,
        to,
        first_down_seq,
        entries,
        checkpoint,
    };
    Ok((batch, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::{
        arb_code, arb_entry, arb_signature, check_truncations_and_flip, decode_arbitrary,
    };
    use crate::body::{AllocationIssued, ChildRegistered};
    use crate::ids::EntryId;
    use crate::money::Amount;
    use chrono::NaiveDate;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000_000;

    fn code(s: &str) -> NodeCode {
        s.parse().expect("valid node code")
    }

    fn parent() -> NodeCode {
        code("652800")
    }

    fn child() -> NodeCode {
        code("652801")
    }

    fn sibling() -> NodeCode {
        code("652802")
    }

    fn parent_key() -> NodeKey {
        NodeKey::from_seed(&[2; 32])
    }

    fn keys(key: &NodeKey) -> impl Fn(KeyId) -> Option<VerifyingKey> {
        let (id, vk) = (key.key_id(), key.verifying_key());
        move |k| (k == id).then_some(vk)
    }

    fn allocation(seq: u64, to: NodeCode) -> Body {
        Body::AllocationIssued(AllocationIssued {
            doc_no: format!("XCZ-{seq}"),
            source: EntryId {
                origin: parent(),
                seq: 1,
            },
            category: "A01".into(),
            to,
            amount: Amount::from_fen(100 * i64::try_from(seq).expect("small seq")).expect("amount"),
            issued_on: NaiveDate::from_ymd_opt(2024, 3, 1).expect("date"),
            title: String::new(),
        })
    }

    /// The parent's journal, 1..=n: allocations alternately to the child (odd
    /// seq) and to its sibling (even seq), a real hash chain.
    fn journal(n: u64) -> Vec<Entry> {
        let mut prev = Hash::ZERO;
        let mut out = vec![];
        for seq in 1..=n {
            let to = if seq % 2 == 1 { child() } else { sibling() };
            let at_ms = T0 + i64::try_from(seq).expect("small seq");
            let e = Entry::new(
                parent(),
                seq,
                at_ms,
                prev,
                &allocation(seq, to),
                &crate::Actor::system(),
            );
            prev = e.hash();
            out.push(e);
        }
        out
    }

    /// The first `n` of the parent's entries addressed to the child: a sparse
    /// subset of its journal (seq 1, 3, 5 …).
    fn for_child(n: usize) -> Vec<Entry> {
        let len = u64::try_from(2 * n).expect("small n");
        journal(len)
            .into_iter()
            .filter(|e| e.seq % 2 == 1)
            .collect()
    }

    fn build(state: DownState, entries: Vec<Entry>) -> (DownBatch, DownState) {
        build_down_batch(&parent_key(), parent(), child(), state, entries, T0).expect("builds")
    }

    /// The child's stream positions 1..=n in one batch.
    fn stream(n: usize) -> DownBatch {
        build(DownState::EMPTY, for_child(n)).0
    }

    fn at_child(batch: &DownBatch, state: DownState) -> Result<VerifiedDown, DownError> {
        verify_down(batch, child(), parent(), state, &keys(&parent_key()))
    }

    // ---- Encoding ----

    fn arb_checkpoint() -> impl Strategy<Value = SignedDownCheckpoint> {
        (
            (arb_code(), arb_code(), any::<u64>(), any::<[u8; 32]>()),
            (any::<[u8; 8]>(), any::<i64>(), arb_signature()),
        )
            .prop_map(
                |((from, to, down_seq, digest), (key_id, at_ms, signature))| SignedDownCheckpoint {
                    checkpoint: DownCheckpoint {
                        from,
                        to,
                        down_seq,
                        digest: Hash(digest),
                        key_id: KeyId(key_id),
                        at_ms,
                    },
                    signature,
                },
            )
    }

    fn arb_batch() -> impl Strategy<Value = DownBatch> {
        (
            arb_code(),
            arb_code(),
            1..=u64::MAX,
            vec(arb_entry(), 0..6),
            arb_checkpoint(),
        )
            .prop_map(
                |(from, to, first_down_seq, entries, checkpoint)| DownBatch {
                    version: PROTOCOL_VERSION,
                    from,
                    to,
                    first_down_seq,
                    entries,
                    checkpoint,
                },
            )
    }

    fn recode(bytes: &[u8]) -> Option<Vec<u8>> {
        DownBatch::decode(bytes, &BatchLimits::default())
            .ok()
            .map(|b| b.encode())
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(batch in arb_batch()) {
            let bytes = batch.encode();
            let back = DownBatch::decode(&bytes, &BatchLimits::default()).expect("decodes");
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

        #[test]
        fn verify_never_panics_on_arbitrary_batches(
            batch in arb_batch(),
            down_seq in any::<u64>(),
        ) {
            let state = DownState { down_seq, digest: Hash::ZERO };
            let _ = verify_down(&batch, batch.to, batch.from, state, &keys(&parent_key()));
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_real_batch() {
        let bytes = stream(2).encode();
        let limits = BatchLimits::default();
        for n in 0..bytes.len() {
            assert!(
                DownBatch::decode(&bytes[..n], &limits).is_err(),
                "prefix of {n} bytes"
            );
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[i] ^= 1 << bit;
                if let Ok(b) = DownBatch::decode(&flipped, &limits) {
                    assert_eq!(b.encode(), flipped);
                    // Unlike upward, the sender is checked too: every byte
                    // counts but the version's (4..6), when it flips to
                    // another version this node accepts (3 → 2).
                    if !(4..6).contains(&i) {
                        assert!(
                            at_child(&b, DownState::EMPTY).is_err(),
                            "byte {i} bit {bit}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn wire_layout() {
        let batch = stream(1);
        let bytes = batch.encode();
        assert_eq!(&bytes[..4], b"FSD1");
        assert_eq!(&bytes[4..6], &[0, 6]);
        assert_eq!(&bytes[6..18], b"652800652801");
        assert_eq!(&bytes[18..26], &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&bytes[26..30], &[0, 0, 0, 1]);
        assert_eq!(&bytes[30..36], b"652800");
        let e = &batch.entries[0];
        let entry_bytes = ENTRY_MIN_BYTES + e.kind.len() + e.body.len();
        assert_eq!(bytes.len(), HEADER_BYTES + entry_bytes + CHECKPOINT_BYTES);
        let cp_at = HEADER_BYTES + entry_bytes;
        assert_eq!(&bytes[cp_at..cp_at + 12], b"652800652801");
        assert_eq!(&bytes[bytes.len() - 64..], &batch.checkpoint.signature);
    }

    #[test]
    fn digest_framing() {
        let (from, to, entry) = (parent(), child(), Hash([7; 32]));
        let s1 = DownState::EMPTY.next(from, to, entry).expect("position 1");
        let mut want = b"fundsync/down/v1\x00652800652801".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend_from_slice(&[0; 32]);
        want.extend_from_slice(&[7; 32]);
        assert_eq!(s1.down_seq, 1);
        assert_eq!(s1.digest.0[..], Sha256::digest(&want)[..]);

        // The digest binds the pair, the position and the history.
        let s2 = s1.next(from, to, entry).expect("position 2");
        assert_ne!(s2.digest, s1.digest);
        let other_child = DownState::EMPTY.next(from, sibling(), entry);
        assert_ne!(other_child.map(|s| s.digest), Some(s1.digest));
        let other_parent = DownState::EMPTY.next(code("650000"), to, entry);
        assert_ne!(other_parent.map(|s| s.digest), Some(s1.digest));
        let last = DownState {
            down_seq: u64::MAX,
            digest: Hash::ZERO,
        };
        assert_eq!(last.next(from, to, entry), None);
    }

    #[test]
    fn signing_bytes_framing() {
        let c = DownCheckpoint {
            from: parent(),
            to: child(),
            down_seq: 0x0102,
            digest: Hash([9; 32]),
            key_id: KeyId([1, 2, 3, 4, 5, 6, 7, 8]),
            at_ms: -1,
        };
        let mut want = b"fundsync/down-checkpoint/v1\x00652800652801".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        want.extend_from_slice(&[9; 32]);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.extend_from_slice(&[0xFF; 8]);
        assert_eq!(c.signing_bytes(), want);
        // Never the bytes of an upward checkpoint.
        assert!(!want.starts_with(b"fundsync/checkpoint/"));
    }

    #[test]
    fn every_checkpoint_field_is_signed() {
        let key = parent_key();
        let state = DownState {
            down_seq: 5,
            digest: Hash([3; 32]),
        };
        let cp = key.sign_down_checkpoint(parent(), child(), state, T0);
        assert_eq!(cp.verify(&key.verifying_key()), Ok(()));
        let json = serde_json::to_string(&cp).expect("serialise");
        assert_eq!(
            serde_json::from_str::<SignedDownCheckpoint>(&json).expect("parse"),
            cp
        );

        let mut changed = vec![];
        let mut x = cp;
        x.checkpoint.from = code("652900");
        changed.push(x);
        let mut x = cp;
        x.checkpoint.to = sibling();
        changed.push(x);
        let mut x = cp;
        x.checkpoint.down_seq += 1;
        changed.push(x);
        let mut x = cp;
        x.checkpoint.digest = Hash([4; 32]);
        changed.push(x);
        let mut x = cp;
        x.checkpoint.at_ms += 1;
        changed.push(x);
        let mut x = cp;
        x.signature[0] ^= 1;
        changed.push(x);
        for x in changed {
            assert!(
                matches!(
                    x.verify(&key.verifying_key()),
                    Err(DownError::BadSignature { .. })
                ),
                "{x:?}"
            );
        }
    }

    // ---- Malformed bytes ----

    #[test]
    fn bad_magic_is_rejected() {
        let mut bytes = stream(1).encode();
        bytes[3] = b'2';
        assert_eq!(
            DownBatch::decode(&bytes, &BatchLimits::default()),
            Err(DownError::Decode(BatchError::BadMagic))
        );
        // An upward batch is not a down batch.
        bytes[..4].copy_from_slice(crate::batch::MAGIC);
        assert_eq!(
            DownBatch::decode(&bytes, &BatchLimits::default()),
            Err(DownError::Decode(BatchError::BadMagic))
        );
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let mut bytes = stream(2).encode();
        let end = bytes.len();
        bytes.extend_from_slice(b"junk");
        assert_eq!(
            DownBatch::decode(&bytes, &BatchLimits::default()),
            Err(DownError::Decode(BatchError::TrailingBytes {
                offset: end,
                extra: 4
            }))
        );
    }

    #[test]
    fn truncated_is_rejected() {
        let bytes = stream(2).encode();
        let e = DownBatch::decode(&bytes[..bytes.len() - 1], &BatchLimits::default());
        assert_eq!(
            e,
            Err(DownError::Decode(BatchError::Truncated {
                offset: bytes.len() - 64,
                field: "down checkpoint signature"
            }))
        );
        assert!(e.expect_err("refused").to_string().contains("ends early"));
        assert!(matches!(
            DownBatch::decode(&[], &BatchLimits::default()),
            Err(DownError::Decode(BatchError::Truncated {
                offset: 0,
                field: "magic"
            }))
        ));
    }

    #[test]
    fn zero_first_down_seq_is_rejected() {
        let mut bytes = stream(1).encode();
        bytes[18..26].copy_from_slice(&[0; 8]);
        assert_eq!(
            DownBatch::decode(&bytes, &BatchLimits::default()),
            Err(DownError::Decode(BatchError::Malformed {
                offset: 18,
                what: "first down_seq is 0 (down streams start at 1)"
            }))
        );
        // Built in memory instead of decoded, it has no position either.
        let mut batch = stream(1);
        batch.first_down_seq = 0;
        assert_eq!(
            at_child(&batch, DownState::EMPTY),
            Err(DownError::InvalidPosition {
                first_down_seq: 0,
                entries: 1
            })
        );
    }

    #[test]
    fn announced_count_is_checked_before_allocating() {
        let mut bytes = stream(0).encode();
        bytes[26..30].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            DownBatch::decode(&bytes, &BatchLimits::default()),
            Err(DownError::Decode(BatchError::TooManyEntries { .. }))
        ));
        let unlimited = BatchLimits {
            entries_max: usize::MAX,
            ..BatchLimits::default()
        };
        assert!(matches!(
            DownBatch::decode(&bytes, &unlimited),
            Err(DownError::Decode(BatchError::Truncated {
                offset: HEADER_BYTES,
                ..
            }))
        ));
    }

    // ---- Limits and versions ----

    #[test]
    fn oversized_batches_are_rejected() {
        let bytes = stream(3).encode();
        let limits = BatchLimits::default();
        let few = BatchLimits {
            entries_max: 2,
            ..limits
        };
        assert_eq!(
            DownBatch::decode(&bytes, &few),
            Err(DownError::Decode(BatchError::TooManyEntries {
                count: 3,
                max: 2
            }))
        );
        let small = BatchLimits {
            bytes_max: bytes.len() - 1,
            ..limits
        };
        assert_eq!(
            DownBatch::decode(&bytes, &small),
            Err(DownError::Decode(BatchError::TooLarge {
                bytes: bytes.len(),
                max: bytes.len() - 1
            }))
        );
        let tight = BatchLimits {
            body_bytes_max: 10,
            ..limits
        };
        assert!(matches!(
            DownBatch::decode(&bytes, &tight),
            Err(DownError::Decode(BatchError::BodyTooLarge {
                index: 0,
                max: 10,
                ..
            }))
        ));
        assert!(DownBatch::decode(&bytes, &limits).is_ok());
    }

    #[test]
    fn unknown_version_is_rejected_before_the_rest_is_read() {
        let mut batch = stream(2);
        batch.version = 7;
        let bytes = batch.encode();
        let want = Err(DownError::Version(VersionError { ours: 6, theirs: 7 }));
        assert_eq!(DownBatch::decode(&bytes, &BatchLimits::default()), want);
        // A later version may lay out the rest differently: only 6 bytes are read.
        assert_eq!(
            DownBatch::decode(&bytes[..6], &BatchLimits::default()),
            want
        );
        let e = at_child(&batch, DownState::EMPTY);
        assert_eq!(e.clone().map(|_| ()), want.map(|_| ()));
        assert!(e.expect_err("refused").to_string().contains("version 6"));
    }

    // ---- Verification ----

    #[test]
    fn accepts_a_valid_batch_and_chains_the_next() {
        let entries = for_child(4);
        let (first, mid) = build(DownState::EMPTY, entries[..3].to_vec());
        let bytes = first.encode();
        let decoded = DownBatch::decode(&bytes, &BatchLimits::default()).expect("decodes");
        let v = at_child(&decoded, DownState::EMPTY).expect("verifies");
        assert_eq!(v.duplicates, 0);
        assert_eq!(v.state_after, mid);
        assert_eq!(mid.down_seq, 3);
        assert_eq!(v.checkpoint, Some(first.checkpoint));
        let seqs: Vec<u64> = v.new.iter().map(|(e, _, _)| e.seq).collect();
        assert_eq!(
            seqs,
            vec![1, 3, 5],
            "a sparse subset of the parent's journal"
        );
        for ((e, hash, body), sent) in v.new.iter().zip(&entries) {
            assert_eq!(e, sent);
            assert_eq!(*hash, sent.hash());
            assert_eq!(*body, allocation(sent.seq, child()));
        }

        let (second, end) = build(mid, entries[3..].to_vec());
        assert_eq!(second.first_down_seq, 4);
        let v = at_child(&second, v.state_after).expect("the next batch verifies");
        assert_eq!(v.new.len(), 1);
        assert_eq!(v.new[0].0.seq, 7);
        assert_eq!(v.state_after, end);

        // Two batches end where one batch of the same entries ends.
        let (_, whole) = build(DownState::EMPTY, entries);
        assert_eq!(end, whole);
    }

    #[test]
    fn replay_is_all_duplicates_and_changes_nothing() {
        let batch = stream(3);
        let v = at_child(&batch, DownState::EMPTY).expect("first time");
        let held = v.state_after;

        let again = at_child(&batch, held).expect("replay");
        assert!(again.new.is_empty());
        assert_eq!(again.duplicates, 3);
        assert_eq!(again.state_after, held);
        assert_eq!(again.checkpoint, None);

        // A stale batch, from before what is held, is all duplicates too.
        let (later, _) = build(held, for_child(5)[3..].to_vec());
        let ahead = at_child(&later, held).expect("later batch").state_after;
        assert_eq!(ahead.down_seq, 5);
        let stale = at_child(&batch, ahead).expect("stale");
        assert!(stale.new.is_empty());
        assert_eq!(stale.duplicates, 3);
        assert_eq!(stale.state_after, ahead);
    }

    #[test]
    fn partial_overlap_adds_only_the_rest() {
        let entries = for_child(3);
        let (two, held) = build(DownState::EMPTY, entries[..2].to_vec());
        at_child(&two, DownState::EMPTY).expect("first two");

        let all = stream(3);
        let v = at_child(&all, held).expect("overlap");
        assert_eq!(v.duplicates, 2);
        assert_eq!(v.new.len(), 1);
        assert_eq!(v.new[0].0, entries[2]);
        assert_eq!(v.state_after, all.checkpoint.checkpoint.state());

        // The held entries are skipped unread: changing them changes nothing.
        let mut relayed = all.clone();
        relayed.entries[0].body = b"not even json".to_vec();
        assert_eq!(at_child(&relayed, held), Ok(v));
    }

    #[test]
    fn gap_is_rejected() {
        let entries = for_child(3);
        let (one, held) = build(DownState::EMPTY, entries[..1].to_vec());
        at_child(&one, DownState::EMPTY).expect("first");
        let (_, after_two) = build(held, entries[1..2].to_vec());
        let (third, _) = build(after_two, entries[2..].to_vec());
        let e = at_child(&third, held);
        assert_eq!(
            e,
            Err(DownError::Gap {
                from: parent(),
                expected: 2,
                got: 3
            })
        );
        assert!(e
            .expect_err("refused")
            .to_string()
            .contains("expected down_seq 2, got 3"));
    }

    #[test]
    fn entry_altered_by_a_relay_is_rejected() {
        let batch = stream(3);
        let mismatch = Err(DownError::DigestMismatch {
            from: parent(),
            down_seq: 3,
        });
        for i in 0..3 {
            let mut b = batch.clone();
            b.entries[i].body[20] ^= 1;
            assert_eq!(
                at_child(&b, DownState::EMPTY),
                mismatch,
                "body of entry {i}"
            );
            let mut b = batch.clone();
            b.entries[i].at_ms += 1;
            assert_eq!(
                at_child(&b, DownState::EMPTY),
                mismatch,
                "time of entry {i}"
            );
        }
        let e = at_child(
            &{
                let mut b = batch;
                b.entries[1].prev_hash = Hash::ZERO;
                b
            },
            DownState::EMPTY,
        );
        assert_eq!(e, mismatch);
        assert!(e.expect_err("refused").to_string().contains("altered"));
    }

    #[test]
    fn entry_dropped_or_reordered_is_rejected() {
        let batch = stream(3);
        let mismatch = Err(DownError::DigestMismatch {
            from: parent(),
            down_seq: 3,
        });
        // Dropped from the middle or the end: the signed position is not reached.
        for i in [0, 1, 2] {
            let mut b = batch.clone();
            b.entries.remove(i);
            assert_eq!(at_child(&b, DownState::EMPTY), mismatch, "dropped {i}");
        }
        // Dropped from the front with the position moved along.
        let mut b = batch.clone();
        b.entries.remove(0);
        b.first_down_seq = 2;
        assert_eq!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::Gap {
                from: parent(),
                expected: 1,
                got: 2
            })
        );
        // Reordered.
        let mut b = batch;
        b.entries.swap(0, 2);
        assert_eq!(at_child(&b, DownState::EMPTY), mismatch);
    }

    #[test]
    fn entry_injected_is_rejected() {
        let batch = stream(2);
        // Another of the parent's own entries (one addressed to the sibling).
        let to_sibling = journal(2).pop().expect("entry 2");
        let mut b = batch.clone();
        b.entries.insert(1, to_sibling.clone());
        assert!(matches!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::DigestMismatch { .. })
        ));
        let mut b = batch.clone();
        b.entries[1] = to_sibling;
        assert_eq!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::DigestMismatch {
                from: parent(),
                down_seq: 2
            })
        );

        // Another origin's entry, even one the parent holds, never travels down.
        let stranger = code("652900");
        let foreign = Entry::new(
            stranger,
            4,
            T0,
            Hash::ZERO,
            &Body::ChildRegistered(ChildRegistered {
                code: child(),
                name: "冒充".into(),
            }),
            &crate::Actor::system(),
        );
        let mut b = batch;
        b.entries.push(foreign);
        let e = at_child(&b, DownState::EMPTY);
        assert_eq!(
            e,
            Err(DownError::ForeignOrigin {
                parent: parent(),
                origin: stranger,
                seq: 4
            })
        );
        assert!(e.expect_err("refused").to_string().contains("652900-4"));
    }

    #[test]
    fn forged_signature_is_rejected() {
        let batch = stream(2);
        let state = batch.checkpoint.checkpoint.state();

        // Signed by another key that claims to be the parent's.
        let forger = NodeKey::from_seed(&[9; 32]);
        let mut forged = forger.sign_down_checkpoint(parent(), child(), state, T0);
        forged.checkpoint.key_id = parent_key().key_id();
        let mut b = batch.clone();
        b.checkpoint = forged;
        assert_eq!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::BadSignature {
                from: parent(),
                down_seq: 2,
                key_id: parent_key().key_id()
            })
        );

        // Signed by another key under its own id: not a key of the parent's.
        let mut b = batch.clone();
        b.checkpoint = forger.sign_down_checkpoint(parent(), child(), state, T0);
        assert_eq!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::UnknownKey {
                from: parent(),
                key_id: forger.key_id()
            })
        );

        // The real checkpoint with one bit of its signature changed.
        let mut b = batch;
        b.checkpoint.signature[10] ^= 0x10;
        assert!(matches!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::BadSignature { .. })
        ));
    }

    #[test]
    fn unknown_key_id_is_rejected() {
        let batch = stream(1);
        let e = verify_down(&batch, child(), parent(), DownState::EMPTY, &|_| None);
        assert_eq!(
            e,
            Err(DownError::UnknownKey {
                from: parent(),
                key_id: parent_key().key_id()
            })
        );
        assert!(e
            .expect_err("refused")
            .to_string()
            .contains(&parent_key().key_id().to_string()));
    }

    #[test]
    fn key_not_matching_its_id_is_rejected() {
        let other = NodeKey::from_seed(&[5; 32]);
        let lying = |_| Some(other.verifying_key());
        let e = verify_down(&stream(1), child(), parent(), DownState::EMPTY, &lying);
        assert_eq!(
            e,
            Err(DownError::KeyMismatch {
                from: parent(),
                claimed: parent_key().key_id(),
                actual: other.key_id()
            })
        );
    }

    #[test]
    fn batch_addressed_to_another_node_is_rejected() {
        // The sibling's stream, delivered to the child.
        let (batch, _) = build_down_batch(
            &parent_key(),
            parent(),
            sibling(),
            DownState::EMPTY,
            journal(2).into_iter().filter(|e| e.seq == 2).collect(),
            T0,
        )
        .expect("builds");
        assert_eq!(
            at_child(&batch, DownState::EMPTY),
            Err(DownError::Misaddressed {
                to: sibling(),
                me: child()
            })
        );
        // Readdressed by a relay, but the checkpoint still names the sibling.
        let mut b = batch.clone();
        b.to = child();
        assert_eq!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::CheckpointMismatch {
                from: parent(),
                to: child(),
                cp_from: parent(),
                cp_to: sibling()
            })
        );
        // The checkpoint readdressed too: the digest binds the recipient.
        b.checkpoint.checkpoint.to = child();
        assert!(matches!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn batch_from_other_than_the_authenticated_parent_is_rejected() {
        let batch = stream(1);
        let region = code("650000");
        // The batch names the prefecture, but the TLS peer is someone else.
        let e = verify_down(
            &batch,
            child(),
            region,
            DownState::EMPTY,
            &keys(&parent_key()),
        );
        assert_eq!(
            e,
            Err(DownError::WrongSender {
                from: parent(),
                parent: region
            })
        );
        // A relay claiming its own name in the header, keeping the checkpoint.
        let mut b = batch;
        b.from = region;
        assert!(matches!(
            at_child(&b, DownState::EMPTY),
            Err(DownError::WrongSender { .. })
        ));
    }

    #[test]
    fn diverged_stream_is_rejected() {
        // The child holds a position the parent's stream never had (the parent
        // was restored from an old backup and renumbered, say).
        let held = DownState {
            down_seq: 1,
            digest: Hash([6; 32]),
        };
        let batch = stream(3);
        assert_eq!(
            at_child(&batch, held),
            Err(DownError::DigestMismatch {
                from: parent(),
                down_seq: 3
            })
        );
        // Even a batch ending exactly at the held position must name its digest.
        let (one, _) = build(DownState::EMPTY, for_child(1));
        assert!(matches!(
            at_child(&one, held),
            Err(DownError::DigestMismatch { down_seq: 1, .. })
        ));
    }

    #[test]
    fn empty_batch_confirms_the_position() {
        let (batch, held) = build(DownState::EMPTY, for_child(2));
        at_child(&batch, DownState::EMPTY).expect("entries");
        let (nothing, same) = build(held, vec![]);
        assert_eq!(same, held);
        assert_eq!(nothing.first_down_seq, 3);
        let v = at_child(&nothing, held).expect("heartbeat");
        assert!(v.new.is_empty());
        assert_eq!(v.duplicates, 0);
        assert_eq!(v.state_after, held);
        assert_eq!(v.checkpoint, None);
        // The round trip keeps it empty, and an empty stream starts at 1.
        let bytes = stream(0).encode();
        let empty = DownBatch::decode(&bytes, &BatchLimits::default()).expect("decodes");
        assert_eq!(empty.last_down_seq(), Some(0));
        assert!(at_child(&empty, DownState::EMPTY).is_ok());
        // From a parent with a different history, it does not verify.
        let other = DownState {
            down_seq: 2,
            digest: Hash([6; 32]),
        };
        assert!(matches!(
            at_child(&nothing, other),
            Err(DownError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn bodies_are_decoded_only_after_verification() {
        let mut entries = for_child(1);
        entries.push(Entry {
            origin: parent(),
            seq: 3,
            at_ms: T0,
            prev_hash: journal(2)[1].hash(),
            kind: "allocation_issued".into(),
            body: b"not json".to_vec(),
        });
        let (mut batch, _) = build(DownState::EMPTY, entries);
        assert!(matches!(
            at_child(&batch, DownState::EMPTY),
            Err(DownError::Body {
                seq: 3,
                source: BodyError::Malformed { .. },
                ..
            })
        ));
        batch.checkpoint.signature[0] ^= 1;
        assert!(matches!(
            at_child(&batch, DownState::EMPTY),
            Err(DownError::BadSignature { .. })
        ));
    }

    #[test]
    fn parent_repeating_or_reordering_its_journal_is_rejected() {
        let mut entries = for_child(2);
        entries.push(entries[0].clone());
        let (batch, _) = build(DownState::EMPTY, entries);
        assert_eq!(
            at_child(&batch, DownState::EMPTY),
            Err(DownError::NotAscending {
                origin: parent(),
                prev: 3,
                got: 1
            })
        );
    }

    #[test]
    fn positions_at_the_end_of_u64() {
        let near = DownState {
            down_seq: u64::MAX - 1,
            digest: Hash([8; 32]),
        };
        let (batch, end) = build(near, for_child(1));
        assert_eq!(batch.first_down_seq, u64::MAX);
        assert_eq!(end.down_seq, u64::MAX);
        let v = at_child(&batch, near).expect("last position");
        assert_eq!((v.new.len(), v.state_after), (1, end));
        let again = at_child(&batch, end).expect("replay at the end");
        assert_eq!((again.new.len(), again.duplicates), (0, 1));
    }

    #[test]
    fn builder_refuses_what_the_child_would() {
        let mut entries = for_child(1);
        entries[0].origin = sibling();
        assert_eq!(
            build_down_batch(
                &parent_key(),
                parent(),
                child(),
                DownState::EMPTY,
                entries,
                T0
            ),
            Err(DownError::ForeignOrigin {
                parent: parent(),
                origin: sibling(),
                seq: 1
            })
        );
        let end = DownState {
            down_seq: u64::MAX,
            digest: Hash::ZERO,
        };
        assert!(matches!(
            build_down_batch(&parent_key(), parent(), child(), end, for_child(1), T0),
            Err(DownError::InvalidPosition { .. })
        ));
    }
}
