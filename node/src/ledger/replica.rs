//! Replication storage: what the sync protocol reads from the ledger and how
//! verified batches enter it.
//!
//! Architecture invariant: a received batch is verified and applied inside
//! one write transaction, together with what says how far this node has got
//! (`journal_heads` upward, `down_state` downward). A redelivered batch finds
//! its entries already held and is counted once; a crash before the commit
//! leaves nothing, so the sender sends the batch again.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use fundsync_protocol::batch::{BatchLimits, Keys};
use fundsync_protocol::sign::Checkpoint;
use fundsync_protocol::wire::ErrorCode;
use fundsync_protocol::{
    verify_batch, verify_down, Batch, BatchError, DownBatch, DownError, DownState, Entry, Hash,
    KeyId, NodeCode, NodeKey, SignedCheckpoint, SignedDownCheckpoint,
};

use super::rows::{corrupt, hash_of, parse_code, seq_i64 as to_i64, seq_u64 as to_u64};
use super::{Ledger, LedgerError, Work};

pub use fundsync_protocol::wire::{HeadView, OriginRefused, UpReceipt};

/// What a down batch did at the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownReceipt {
    pub applied: usize,
    pub duplicates: usize,
    pub state: DownState,
}

/// What an upward batch taken origin by origin did
/// ([`Ledger::receive_up_by_origin`]).
#[derive(Debug)]
pub struct UpOutcome {
    /// What was applied, the heads of the origins taken, and the refused
    /// origins as the sender is told.
    pub receipt: UpReceipt,
    /// The origins refused, each with why; nothing of their runs applied.
    pub refused: Vec<(NodeCode, ReplicaError)>,
}

/// One batch of an offline bundle: upward from a child, or the parent's
/// down stream.
#[derive(Debug)]
pub enum Incoming {
    Up(Batch),
    Down(DownBatch),
}

/// What a bundle import applied, all batches together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BundleReceipt {
    pub batches: usize,
    pub applied: usize,
    pub duplicates: usize,
}

/// Why a batch was refused. Nothing of it was applied.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Down(#[from] DownError),
    #[error("the batch claims to come from {claimed}, but the connection is from {peer}")]
    WrongSender { claimed: NodeCode, peer: NodeCode },
    #[error(
        "the parent registered key {registered} for this node, but this node's key is {own}: \
         refusing the parent's down stream"
    )]
    ForeignKey { registered: KeyId, own: KeyId },
    #[error(
        "the child asks for its down stream after position {after}, but this node's stream to it \
         ends at {have}: the child holds entries this node does not (restored from a backup?)"
    )]
    StreamAhead { after: u64, have: u64 },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for ReplicaError {
    fn from(e: sqlx::Error) -> Self {
        ReplicaError::Ledger(e.into())
    }
}

impl ReplicaError {
    /// A stable code for the peer and the metrics.
    pub fn code(&self) -> ErrorCode {
        match self {
            ReplicaError::Batch(e) => batch_code(e),
            ReplicaError::Down(e) => match e {
                DownError::Decode(b) => batch_code(b),
                DownError::Version(_) => ErrorCode::UnsupportedVersion,
                DownError::Gap { .. } => ErrorCode::Gap,
                DownError::DigestMismatch { .. } => ErrorCode::DigestMismatch,
                DownError::UnknownKey { .. } => ErrorCode::UnknownKey,
                DownError::KeyMismatch { .. } | DownError::BadSignature { .. } => {
                    ErrorCode::BadSignature
                }
                DownError::Misaddressed { .. } => ErrorCode::Misaddressed,
                DownError::WrongSender { .. } => ErrorCode::WrongSender,
                DownError::ForeignOrigin { .. } => ErrorCode::OriginNotAllowed,
                _ => ErrorCode::InvalidBatch,
            },
            ReplicaError::WrongSender { .. } => ErrorCode::WrongSender,
            ReplicaError::ForeignKey { .. } => ErrorCode::ForeignKey,
            ReplicaError::StreamAhead { .. } => ErrorCode::StreamAhead,
            ReplicaError::Ledger(LedgerError::Misdirected { .. }) => ErrorCode::Misdirected,
            ReplicaError::Ledger(LedgerError::Store(_)) => ErrorCode::Internal,
            ReplicaError::Ledger(e) => e.code(),
        }
    }

    /// The origin whose chain the refusal is about, when it is about one.
    pub fn origin(&self) -> Option<NodeCode> {
        match self {
            ReplicaError::Batch(e) | ReplicaError::Down(DownError::Decode(e)) => e.origin(),
            ReplicaError::Down(DownError::ForeignOrigin { origin, .. }) => Some(*origin),
            _ => None,
        }
    }

    /// Whether the sender is at fault (as opposed to this node's storage).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, ReplicaError::Ledger(LedgerError::Store(_)))
    }
}

fn batch_code(e: &BatchError) -> ErrorCode {
    use BatchError::*;
    match e {
        TooLarge { .. } | TooManyEntries { .. } | TooManyCheckpoints { .. } => ErrorCode::TooLarge,
        BodyTooLarge { .. } => ErrorCode::TooLarge,
        BadMagic | Truncated { .. } | TrailingBytes { .. } | Malformed { .. } => {
            ErrorCode::Malformed
        }
        Version(_) => ErrorCode::UnsupportedVersion,
        Misaddressed { .. } => ErrorCode::Misaddressed,
        OriginNotAllowed { .. } => ErrorCode::OriginNotAllowed,
        Gap { .. } => ErrorCode::Gap,
        Fork { .. } => ErrorCode::Fork,
        OutOfOrder { .. } | BrokenChain { .. } => ErrorCode::BrokenChain,
        CheckpointMismatch { .. } | CheckpointAhead { .. } | NotCovered { .. } => {
            ErrorCode::BadCheckpoint
        }
        UnknownKey { .. } => ErrorCode::UnknownKey,
        KeyMismatch { .. } | BadSignature { .. } => ErrorCode::BadSignature,
        Body { .. } => ErrorCode::BadBody,
    }
}

/// Keys by origin and id, loaded for one batch.
struct KeyMap(HashMap<(NodeCode, KeyId), VerifyingKey>);

impl Keys for KeyMap {
    fn key(&self, origin: NodeCode, key_id: KeyId) -> Option<VerifyingKey> {
        self.0.get(&(origin, key_id)).copied()
    }
}

/// A journal row without its origin (the origin is the query's own
/// parameter, not read back per row).
#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    at_ms: i64,
    prev_hash: Vec<u8>,
    kind: String,
    body: Vec<u8>,
}

impl EntryRow {
    fn into_entry(self, origin: NodeCode) -> Result<Entry, LedgerError> {
        Ok(Entry {
            origin,
            seq: to_u64(self.seq)?,
            at_ms: self.at_ms,
            prev_hash: hash_of(&self.prev_hash, "journal prev_hash")?,
            kind: self.kind,
            body: self.body,
        })
    }
}

#[derive(sqlx::FromRow)]
struct HeadRow {
    origin: String,
    seq: i64,
    hash: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    seq: i64,
    head: Vec<u8>,
    key_id: String,
    at_ms: i64,
    signature: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct CheckpointKey {
    seq: i64,
    key_id: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    key_id: String,
    public_key: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct DownStateRow {
    down_seq: i64,
    digest: Vec<u8>,
}

impl DownStateRow {
    fn state(self) -> Result<DownState, LedgerError> {
        Ok(DownState {
            down_seq: to_u64(self.down_seq)?,
            digest: hash_of(&self.digest, "down state digest")?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RevocationRow {
    code: String,
    at_ms: i64,
}

fn public_key(b: Vec<u8>) -> Result<VerifyingKey, LedgerError> {
    let b: [u8; 32] = b.try_into().map_err(|_| corrupt("public key"))?;
    VerifyingKey::from_bytes(&b).map_err(|_| corrupt("public key"))
}

impl Ledger {
    /// Heads of every dense chain this node holds: its own and its
    /// descendants' (entries received from the parent are not chains here).
    pub async fn heads(&self) -> Result<Vec<HeadView>, LedgerError> {
        let rows: Vec<HeadRow> =
            sqlx::query_as("SELECT origin, seq, hash FROM journal_heads ORDER BY origin")
                .fetch_all(self.db().read())
                .await?;
        rows.into_iter()
            .map(|r| {
                Ok(HeadView {
                    origin: parse_code(&r.origin)?,
                    seq: to_u64(r.seq)?,
                    hash: hash_of(&r.hash, "head hash")?,
                })
            })
            .collect()
    }

    /// Heads of `under` and every origin in its division.
    pub async fn heads_under(&self, under: NodeCode) -> Result<Vec<HeadView>, LedgerError> {
        let level = under_level(self, under);
        Ok(self
            .heads()
            .await?
            .into_iter()
            .filter(|h| h.origin == under || under.contains(level, &h.origin))
            .collect())
    }

    /// Entries of `origin` with `after < seq <= upto`, ascending.
    pub async fn entries(
        &self,
        origin: NodeCode,
        after: u64,
        upto: u64,
    ) -> Result<Vec<Entry>, LedgerError> {
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT seq, at_ms, prev_hash, kind, body FROM journal \
             WHERE origin = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        )
        .bind(origin.as_str())
        .bind(to_i64(after)?)
        .bind(to_i64(upto)?)
        .fetch_all(self.db().read())
        .await?;
        rows.into_iter().map(|r| r.into_entry(origin)).collect()
    }

    /// The stored checkpoint of `origin` at which to end a relayed batch
    /// starting after `after`: the furthest within `max` entries signed with
    /// the same key as the nearest, else the nearest (the origin's own
    /// batches bound the distance).
    pub async fn relay_checkpoint(
        &self,
        origin: NodeCode,
        after: u64,
        max: u64,
    ) -> Result<Option<SignedCheckpoint>, LedgerError> {
        // The nearest checkpoint names the key the receiver must know now.
        // A batch never runs past the last checkpoint signed with that key:
        // the entry registering the next key must reach the receiver,
        // covered by the old key, before anything signed with the new one.
        let first: Option<CheckpointKey> = sqlx::query_as(
            "SELECT seq, key_id FROM checkpoints WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT 1",
        )
        .bind(origin.as_str())
        .bind(to_i64(after)?)
        .fetch_optional(self.db().read())
        .await?;
        let Some(CheckpointKey {
            seq: first_seq,
            key_id: key,
        }) = first
        else {
            return Ok(None);
        };
        let other_key: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(seq) FROM checkpoints WHERE origin = $1 AND seq > $2 AND key_id <> $3",
        )
        .bind(origin.as_str())
        .bind(first_seq)
        .bind(&key)
        .fetch_one(self.db().read())
        .await?;
        let limit = to_i64(after.saturating_add(max))?
            .min(other_key.map_or(i64::MAX, |s| s.saturating_sub(1)))
            .max(first_seq);
        let row: Option<CheckpointRow> = sqlx::query_as(
            "SELECT seq, head, key_id, at_ms, signature FROM checkpoints \
             WHERE origin = $1 AND seq >= $2 AND seq <= $3 AND key_id = $4 ORDER BY seq DESC LIMIT 1",
        )
        .bind(origin.as_str())
        .bind(first_seq)
        .bind(limit)
        .bind(&key)
        .fetch_optional(self.db().read())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SignedCheckpoint {
            checkpoint: Checkpoint {
                origin,
                seq: to_u64(r.seq)?,
                head: hash_of(&r.head, "checkpoint head")?,
                key_id: r.key_id.parse().map_err(|_| corrupt("checkpoint key id"))?,
                at_ms: r.at_ms,
            },
            signature: r
                .signature
                .try_into()
                .map_err(|_| corrupt("checkpoint signature"))?,
        }))
    }

    /// This node's own stored checkpoint (made at a key rotation, with the
    /// old key) at the lowest seq in `after < seq <= upto`, if any: a batch of
    /// own entries must end there, so the parent learns the new key from an
    /// entry the old key vouches for.
    pub async fn own_checkpoint_within(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let me = self.identity().code;
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(seq) FROM checkpoints WHERE origin = $1 AND seq > $2 AND seq <= $3",
        )
        .bind(me.as_str())
        .bind(to_i64(after)?)
        .bind(to_i64(upto)?)
        .fetch_one(self.db().read())
        .await?;
        match seq {
            None => Ok(None),
            Some(seq) => {
                self.relay_checkpoint(me, to_u64(seq)?.saturating_sub(1), 1)
                    .await
            }
        }
    }

    /// Stores a checkpoint this node signed of its own chain.
    pub async fn keep_own_checkpoint(&self, sc: &SignedCheckpoint) -> Result<(), LedgerError> {
        let mut work = self.begin().await?;
        let c = &sc.checkpoint;
        sqlx::query(
            "INSERT INTO checkpoints (origin, seq, head, key_id, at_ms, signature) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (origin, seq) DO NOTHING",
        )
        .bind(c.origin.as_str())
        .bind(to_i64(c.seq)?)
        .bind(c.head.0.to_vec())
        .bind(c.key_id.to_hex())
        .bind(c.at_ms)
        .bind(sc.signature.to_vec())
        .execute(work.conn().await?)
        .await?;
        work.commit().await
    }

    /// The registered keys of `origin`.
    pub async fn keys_of(&self, origin: NodeCode) -> Result<Vec<VerifyingKey>, LedgerError> {
        let keys: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT public_key FROM node_keys WHERE origin = $1")
                .bind(origin.as_str())
                .fetch_all(self.db().read())
                .await?;
        keys.into_iter().map(public_key).collect()
    }

    /// Registers keys of this node's parent, learnt over the authenticated
    /// connection to it, so its down checkpoints can be verified.
    pub async fn trust_parent_keys(&self, keys: &[VerifyingKey]) -> Result<(), LedgerError> {
        let parent = self.identity().parent.ok_or(LedgerError::NotTopNode)?;
        let mut work = self.begin().await?;
        for k in keys {
            work.trust_parent_key(parent, k).await?;
        }
        work.commit().await
    }

    /// Verifies an upward batch from the TLS-authenticated child `peer` and
    /// applies its new entries origin by origin
    /// ([`Ledger::receive_up_by_origin`]): the receipt names the origins
    /// refused, if others were taken; a batch none of whose origins was
    /// taken is refused with the first origin's refusal.
    pub async fn receive_up(
        &self,
        peer: NodeCode,
        batch: &Batch,
    ) -> Result<UpReceipt, ReplicaError> {
        let out = self.receive_up_by_origin(peer, batch).await?;
        match out.refused.into_iter().next() {
            Some((_, e)) if out.receipt.heads.is_empty() => Err(e),
            _ => Ok(out.receipt),
        }
    }

    /// Verifies an upward batch from the TLS-authenticated child `peer`
    /// origin by origin ([`Batch::by_origin`]) and applies the runs that
    /// pass, each whole, in one transaction: a bad chain (broken, altered,
    /// forked, badly signed, refused by the rules) stops its own origin
    /// only. What is wrong with the batch itself (its sender, version or
    /// addressee) refuses it whole, as does a failure of this node's
    /// storage. The refused origins are in `refused`, each with why, in
    /// batch order; `receipt.refused` says the same for the sender.
    pub async fn receive_up_by_origin(
        &self,
        peer: NodeCode,
        batch: &Batch,
    ) -> Result<UpOutcome, ReplicaError> {
        if batch.from != peer {
            return Err(ReplicaError::WrongSender {
                claimed: batch.from,
                peer,
            });
        }
        let me = self.identity().code;
        fundsync_protocol::check_version(batch.version).map_err(BatchError::from)?;
        if batch.to != me {
            return Err(BatchError::Misaddressed { to: batch.to, me }.into());
        }
        let peer_level = under_level(self, peer);
        let may_send = |o: NodeCode| o == peer || peer.contains(peer_level, &o);
        let runs = batch.by_origin();
        let mut refused: Vec<(NodeCode, ReplicaError)> = Vec::new();
        // A run refused while it was being applied leaves writes in the
        // transaction: it is rolled back and done again without that run,
        // so at most once per origin.
        'attempt: loop {
            let mut work = self.begin().await?;
            let mut receipt = UpReceipt {
                applied: 0,
                duplicates: 0,
                heads: Vec::new(),
                refused: Vec::new(),
            };
            let mut relays = Vec::new();
            for run in &runs {
                let Some(origin) = run.first_origin() else {
                    continue;
                };
                if refused.iter().any(|(o, _)| *o == origin) {
                    continue;
                }
                let checked = match self.verify_up(&mut work, run, may_send, &[]).await {
                    Ok(c) => c,
                    Err(e) if !e.is_peer_fault() => return Err(e),
                    Err(e) => {
                        refused.push((origin, e));
                        continue;
                    }
                };
                match self.apply_up(&mut work, checked).await {
                    Ok((r, relay)) => {
                        receipt.applied += r.applied;
                        receipt.duplicates += r.duplicates;
                        receipt.heads.extend(r.heads);
                        relays.extend(relay);
                    }
                    Err(e) if !e.is_peer_fault() => return Err(e),
                    Err(e) => {
                        refused.push((origin, e));
                        drop(work);
                        continue 'attempt;
                    }
                }
            }
            if !receipt.heads.is_empty() {
                work.commit().await?;
                for r in relays {
                    keep_for_relay(self, &r.origins, &r.before, r.copies, &r.checkpoints);
                }
            }
            let order = |o: &NodeCode| runs.iter().position(|r| r.first_origin() == Some(*o));
            refused.sort_by_key(|(o, _)| order(o));
            receipt.refused = refused
                .iter()
                .map(|(o, e)| OriginRefused {
                    origin: *o,
                    error: e.code(),
                    message: e.to_string(),
                })
                .collect();
            return Ok(UpOutcome { receipt, refused });
        }
    }

    /// Verifies this node's own entries as its parent sent them back (the
    /// parent holds more of this node's chain than this node does: it was
    /// restored from an old backup) and applies them, all or nothing, through
    /// the same checks and [`super::Work::apply`] as any received batch. They
    /// must extend this node's own head, and the checkpoint covering them must
    /// be signed with one of this node's keys: a registered one, or one of
    /// `own_keys` (the key it signs with now, which the restored ledger may
    /// not have registered yet). The parent cannot make up or alter any of it.
    pub async fn receive_own(
        &self,
        batch: &Batch,
        own_keys: &[VerifyingKey],
    ) -> Result<UpReceipt, ReplicaError> {
        let me = self.identity().code;
        let parent = self.identity().parent.ok_or(LedgerError::NotTopNode)?;
        if batch.from != parent {
            return Err(ReplicaError::WrongSender {
                claimed: batch.from,
                peer: parent,
            });
        }
        let extra: Vec<(NodeCode, VerifyingKey)> = own_keys.iter().map(|k| (me, *k)).collect();
        self.receive_verified(batch, |o| o == me, &extra).await
    }

    /// Verifies `batch` (its origins limited by `may_send`, its checkpoints
    /// checked against the origins' registered keys and `extra_keys`) against
    /// the heads held now, and applies its new entries, their checkpoints and
    /// the new heads in one transaction.
    async fn receive_verified(
        &self,
        batch: &Batch,
        may_send: impl Fn(NodeCode) -> bool,
        extra_keys: &[(NodeCode, VerifyingKey)],
    ) -> Result<UpReceipt, ReplicaError> {
        let mut work = self.begin().await?;
        let (receipt, relay) = self
            .verify_and_apply_up(&mut work, batch, may_send, extra_keys)
            .await?;
        work.commit().await?;
        if let Some(r) = relay {
            keep_for_relay(self, &r.origins, &r.before, r.copies, &r.checkpoints);
        }
        Ok(receipt)
    }

    /// [`Ledger::receive_verified`] inside `work`, which the caller commits:
    /// verifies `batch` against the heads `work` holds (including what it
    /// applied before) and applies it. Returns what a relay keeps once the
    /// transaction is committed (`None` at the top node).
    async fn verify_and_apply_up(
        &self,
        work: &mut Work<'_>,
        batch: &Batch,
        may_send: impl Fn(NodeCode) -> bool,
        extra_keys: &[(NodeCode, VerifyingKey)],
    ) -> Result<(UpReceipt, Option<ForRelay>), ReplicaError> {
        let checked = self.verify_up(work, batch, may_send, extra_keys).await?;
        self.apply_up(work, checked).await
    }

    /// Verifies `batch` against the heads and keys `work` holds, writing
    /// nothing.
    async fn verify_up(
        &self,
        work: &mut Work<'_>,
        batch: &Batch,
        may_send: impl Fn(NodeCode) -> bool,
        extra_keys: &[(NodeCode, VerifyingKey)],
    ) -> Result<CheckedUp, ReplicaError> {
        let me = self.identity().code;
        let mut origins: Vec<NodeCode> = Vec::new();
        for e in &batch.entries {
            if !origins.contains(&e.origin) {
                origins.push(e.origin);
            }
        }
        let mut heads = HashMap::new();
        let mut keys = HashMap::new();
        for &(o, k) in extra_keys {
            keys.insert((o, KeyId::of(&k)), k);
        }
        for &o in &origins {
            heads.insert(o, work.head(o).await?);
            let rows: Vec<KeyRow> =
                sqlx::query_as("SELECT key_id, public_key FROM node_keys WHERE origin = $1")
                    .bind(o.as_str())
                    .fetch_all(work.conn().await?)
                    .await?;
            for r in rows {
                let id: KeyId = r.key_id.parse().map_err(|_| corrupt("key id"))?;
                keys.insert((o, id), public_key(r.public_key)?);
            }
        }
        let verified = verify_batch(
            batch,
            me,
            may_send,
            |o| {
                heads
                    .get(&o)
                    .copied()
                    .unwrap_or(fundsync_protocol::Head::EMPTY)
            },
            &KeyMap(keys),
        )?;
        Ok(CheckedUp {
            origins,
            heads,
            verified,
        })
    }

    /// Applies what [`Ledger::verify_up`] verified, with its checkpoints and
    /// the new heads, inside `work`.
    async fn apply_up(
        &self,
        work: &mut Work<'_>,
        checked: CheckedUp,
    ) -> Result<(UpReceipt, Option<ForRelay>), ReplicaError> {
        let CheckedUp {
            origins,
            heads,
            verified,
        } = checked;
        let applied = verified.new.len();
        // A node with a parent relays what it applies; keep a copy of the
        // new entries so its pusher need not read them back.
        let relaying = self.identity().parent.is_some();
        let mut copies: Vec<Entry> = Vec::new();
        for (entry, hash, body) in verified.new {
            work.check_replicated(&entry, &body).await?;
            if relaying {
                copies.push(entry.clone());
            }
            work.apply(entry, hash, body).await?;
        }
        for sc in &verified.checkpoints {
            let c = &sc.checkpoint;
            sqlx::query(
                "INSERT INTO checkpoints (origin, seq, head, key_id, at_ms, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (origin, seq) DO NOTHING",
            )
            .bind(c.origin.as_str())
            .bind(to_i64(c.seq)?)
            .bind(c.head.0.to_vec())
            .bind(c.key_id.to_hex())
            .bind(c.at_ms)
            .bind(sc.signature.to_vec())
            .execute(work.conn().await?)
            .await?;
        }
        let mut after = Vec::with_capacity(origins.len());
        for &o in &origins {
            let h = work.head(o).await?;
            after.push(HeadView {
                origin: o,
                seq: h.seq,
                hash: h.hash,
            });
        }
        let receipt = UpReceipt {
            applied,
            duplicates: verified.duplicates,
            heads: after,
            refused: Vec::new(),
        };
        let relay = relaying.then_some(ForRelay {
            origins,
            before: heads,
            copies,
            checkpoints: verified.checkpoints,
        });
        Ok((receipt, relay))
    }

    /// What this node holds of its child `child`'s own chain after seq
    /// `after`, as a batch to the child: the entries up to a checkpoint the
    /// child signed (the furthest within about `max` entries that
    /// [`Ledger::relay_checkpoint`] allows), with that checkpoint. Empty when
    /// this node holds nothing after `after`. A child restored from an old
    /// backup recovers its own entries from it ([`Ledger::receive_own`]).
    pub async fn own_entries_of(
        &self,
        child: NodeCode,
        after: u64,
        max: usize,
    ) -> Result<Batch, LedgerError> {
        let me = self.identity().code;
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let Some(cp) = self.relay_checkpoint(child, after, max).await? else {
            return Ok(Batch::new(me, child, Vec::new(), Vec::new()));
        };
        let entries = self.entries(child, after, cp.checkpoint.seq).await?;
        Ok(Batch::new(me, child, entries, vec![cp]))
    }

    /// The hash of entry `seq` of `origin`, if this node holds it.
    pub async fn entry_hash(
        &self,
        origin: NodeCode,
        seq: u64,
    ) -> Result<Option<Hash>, LedgerError> {
        let h: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM journal WHERE origin = $1 AND seq = $2")
                .bind(origin.as_str())
                .bind(to_i64(seq)?)
                .fetch_optional(self.db().read())
                .await?;
        h.map(|b| hash_of(&b, "journal hash")).transpose()
    }

    /// The entry of this node's own chain at position `after` of its down
    /// stream to `child` (its seq and hash): a child that asks for what
    /// follows `after` holds it. `None` when no such position is held here.
    pub async fn down_acknowledged(
        &self,
        child: NodeCode,
        after: u64,
    ) -> Result<Option<(u64, Hash)>, LedgerError> {
        if after == 0 {
            return Ok(None);
        }
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT j.seq, j.hash FROM down_entries d \
             JOIN journal j ON j.origin = $1 AND j.seq = d.seq \
             WHERE d.child = $2 AND d.down_seq = $3",
        )
        .bind(self.identity().code.as_str())
        .bind(child.as_str())
        .bind(to_i64(after)?)
        .fetch_optional(self.db().read())
        .await?;
        row.map(|(seq, h)| Ok((to_u64(seq)?, hash_of(&h, "journal hash")?)))
            .transpose()
    }

    /// The next run of this node's down stream to `child` after position
    /// `after`, at most `max` entries, signed with `key`. An empty batch when
    /// nothing is new: a signed "nothing since `after`".
    pub async fn down_batch(
        &self,
        key: &NodeKey,
        child: NodeCode,
        after: u64,
        max: usize,
    ) -> Result<DownBatch, ReplicaError> {
        let me = self.identity().code;
        let have: Option<i64> =
            sqlx::query_scalar("SELECT MAX(down_seq) FROM down_entries WHERE child = $1")
                .bind(child.as_str())
                .fetch_one(self.db().read())
                .await?;
        let have = to_u64(have.unwrap_or(0))?;
        if after > have {
            return Err(ReplicaError::StreamAhead { after, have });
        }
        let before = if after == 0 {
            DownState::EMPTY
        } else {
            let digest: Vec<u8> = sqlx::query_scalar(
                "SELECT digest FROM down_entries WHERE child = $1 AND down_seq = $2",
            )
            .bind(child.as_str())
            .bind(to_i64(after)?)
            .fetch_one(self.db().read())
            .await?;
            DownState {
                down_seq: after,
                digest: hash_of(&digest, "down digest")?,
            }
        };
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT j.seq AS seq, j.at_ms AS at_ms, j.prev_hash AS prev_hash, j.kind AS kind, \
             j.body AS body FROM down_entries d \
             JOIN journal j ON j.origin = $1 AND j.seq = d.seq \
             WHERE d.child = $2 AND d.down_seq > $3 ORDER BY d.down_seq LIMIT $4",
        )
        .bind(me.as_str())
        .bind(child.as_str())
        .bind(to_i64(after)?)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(self.db().read())
        .await?;
        let entries = rows
            .into_iter()
            .map(|r| r.into_entry(me))
            .collect::<Result<Vec<_>, _>>()?;
        let (batch, _) = fundsync_protocol::build_down_batch(
            key,
            me,
            child,
            before,
            entries,
            self.clock().now_ms(),
        )?;
        Ok(batch)
    }

    /// The length of this node's down stream to `child`.
    pub async fn down_head(&self, child: NodeCode) -> Result<u64, LedgerError> {
        let have: Option<i64> =
            sqlx::query_scalar("SELECT MAX(down_seq) FROM down_entries WHERE child = $1")
                .bind(child.as_str())
                .fetch_one(self.db().read())
                .await?;
        to_u64(have.unwrap_or(0))
    }

    /// Where this node stands in its parent's down stream.
    pub async fn down_state(&self) -> Result<DownState, LedgerError> {
        let Some(parent) = self.identity().parent else {
            return Ok(DownState::EMPTY);
        };
        let row: Option<DownStateRow> =
            sqlx::query_as("SELECT down_seq, digest FROM down_state WHERE parent = $1")
                .bind(parent.as_str())
                .fetch_optional(self.db().read())
                .await?;
        row.map_or(Ok(DownState::EMPTY), DownStateRow::state)
    }

    /// Verifies a down batch from the parent (TLS-authenticated) and applies
    /// its new entries with the new stream position, all or nothing.
    /// `own_key` is this node's signing key id: a key registration for this
    /// node naming another key is refused.
    pub async fn receive_down(
        &self,
        batch: &DownBatch,
        own_key: KeyId,
    ) -> Result<DownReceipt, ReplicaError> {
        let mut work = self.begin().await?;
        let receipt = self
            .verify_and_apply_down(&mut work, batch, own_key)
            .await?;
        work.commit().await?;
        Ok(receipt)
    }

    /// [`Ledger::receive_down`] inside `work`, which the caller commits.
    async fn verify_and_apply_down(
        &self,
        work: &mut Work<'_>,
        batch: &DownBatch,
        own_key: KeyId,
    ) -> Result<DownReceipt, ReplicaError> {
        let me = self.identity().code;
        let parent = self.identity().parent.ok_or(LedgerError::NotTopNode)?;
        let mut keys: HashMap<KeyId, VerifyingKey> = HashMap::new();
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT public_key FROM node_keys WHERE origin = $1")
                .bind(parent.as_str())
                .fetch_all(work.conn().await?)
                .await?;
        for k in rows {
            let k = public_key(k)?;
            keys.insert(KeyId::of(&k), k);
        }
        // Read inside the write transaction: the one writer makes it current.
        let row: Option<DownStateRow> =
            sqlx::query_as("SELECT down_seq, digest FROM down_state WHERE parent = $1")
                .bind(parent.as_str())
                .fetch_optional(work.conn().await?)
                .await?;
        let state = row.map_or(Ok(DownState::EMPTY), DownStateRow::state)?;
        let verified = verify_down(batch, me, parent, state, &|id| keys.get(&id).copied())?;
        let applied = verified.new.len();
        for (entry, hash, body) in verified.new {
            if body.down_to(parent) != Some(me) {
                return Err(LedgerError::Misdirected {
                    entry: entry.id(),
                    kind: body.kind(),
                    why: "a parent sends a child only the allocations issued to it and its key \
                          registration; everything else travels upward only"
                        .into(),
                }
                .into());
            }
            if let fundsync_protocol::Body::KeyRegistered(k) = &body {
                if k.key_id != own_key {
                    return Err(ReplicaError::ForeignKey {
                        registered: k.key_id,
                        own: own_key,
                    });
                }
            }
            work.apply_down(entry, hash, body).await?;
        }
        if let Some(cp) = verified.checkpoint {
            let s = verified.state_after;
            sqlx::query(
                "INSERT INTO down_state (parent, down_seq, digest, checkpoint) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (parent) DO UPDATE SET down_seq = excluded.down_seq, \
                 digest = excluded.digest, checkpoint = excluded.checkpoint",
            )
            .bind(parent.as_str())
            .bind(to_i64(s.down_seq)?)
            .bind(s.digest.0.to_vec())
            .bind(checkpoint_json(&cp))
            .execute(work.conn().await?)
            .await?;
        }
        Ok(DownReceipt {
            applied,
            duplicates: verified.duplicates,
            state: verified.state_after,
        })
    }

    /// Verifies and applies the batches of an offline bundle, in order, in
    /// one transaction: every batch with exactly the checks of the network
    /// path, each against what the batches before it applied. All or
    /// nothing: a refusal names the batch (its index) and nothing of the
    /// bundle is kept. `own_key` as for [`Ledger::receive_down`].
    pub async fn receive_bundle(
        &self,
        batches: &[Incoming],
        own_key: KeyId,
    ) -> Result<BundleReceipt, (usize, ReplicaError)> {
        let mut work = self.begin().await.map_err(|e| (0, e.into()))?;
        let mut done = BundleReceipt::default();
        let mut relay = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            let entries = match b {
                Incoming::Up(batch) => &batch.entries,
                Incoming::Down(batch) => &batch.entries,
            };
            held_entries_match(&mut work, entries)
                .await
                .map_err(|e| (i, e))?;
            if let Incoming::Up(batch) = b {
                held_checkpoints_verify(&mut work, batch)
                    .await
                    .map_err(|e| (i, e))?;
            }
            match b {
                Incoming::Up(batch) => {
                    let peer = batch.from;
                    let level = under_level(self, peer);
                    let (r, keep) = self
                        .verify_and_apply_up(
                            &mut work,
                            batch,
                            |o| o == peer || peer.contains(level, &o),
                            &[],
                        )
                        .await
                        .map_err(|e| (i, e))?;
                    done.applied += r.applied;
                    done.duplicates += r.duplicates;
                    relay.extend(keep);
                }
                Incoming::Down(batch) => {
                    let r = self
                        .verify_and_apply_down(&mut work, batch, own_key)
                        .await
                        .map_err(|e| (i, e))?;
                    done.applied += r.applied;
                    done.duplicates += r.duplicates;
                }
            }
            done.batches += 1;
        }
        work.commit().await.map_err(|e| (batches.len(), e.into()))?;
        for r in relay {
            keep_for_relay(self, &r.origins, &r.before, r.copies, &r.checkpoints);
        }
        Ok(done)
    }

    /// Records something an operator must see (a fork, a refused key, a
    /// relay caught altering a chain): `peer` is the node that sent it (the
    /// one that lied, when the refusal proves a lie), `origin` the node
    /// whose chain it was about, if one. Read back by
    /// [`Ledger::sync_alarms`] (`GET /api/v1/sync/alarms`, `/operations`).
    pub async fn alarm(&self, peer: NodeCode, origin: Option<NodeCode>, kind: &str, message: &str) {
        let origin_text = origin.map(|o| o.to_string());
        tracing::error!(peer = %peer, origin = origin_text.as_deref().unwrap_or("-"), kind, message, "sync alarm");
        crate::telemetry::alarm(self.identity().code.as_str(), kind);
        let r: Result<(), LedgerError> = async {
            let mut work = self.begin().await?;
            sqlx::query(
                "INSERT INTO sync_alarms (at_ms, peer, kind, message, origin) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(self.clock().now_ms())
            .bind(peer.as_str())
            .bind(kind)
            .bind(message)
            .bind(origin_text.as_deref())
            .execute(work.conn().await?)
            .await?;
            work.commit().await
        }
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "could not record the sync alarm");
        }
    }

    /// [`Ledger::alarm`], unless an alarm of the same sender, origin, kind
    /// and message is held already (a finding a peer reports at every
    /// interval is raised once).
    pub async fn alarm_once(
        &self,
        peer: NodeCode,
        origin: Option<NodeCode>,
        kind: &str,
        message: &str,
    ) {
        let held: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "SELECT id FROM sync_alarms WHERE peer = $1 AND kind = $2 AND message = $3 LIMIT 1",
        )
        .bind(peer.as_str())
        .bind(kind)
        .bind(message)
        .fetch_optional(self.db().read())
        .await;
        if let Ok(Some(_)) = held {
            return;
        }
        self.alarm(peer, origin, kind, message).await;
    }

    /// The revocation time of `code`, if it was cut off.
    pub async fn revoked_at(&self, code: NodeCode) -> Result<Option<i64>, LedgerError> {
        Ok(
            sqlx::query_scalar("SELECT at_ms FROM revocations WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(self.db().read())
                .await?,
        )
    }

    /// Every revocation (node, when), for the TLS layer at start-up and
    /// the health tree.
    pub async fn revocations(&self) -> Result<Vec<(NodeCode, i64)>, LedgerError> {
        let rows: Vec<RevocationRow> = sqlx::query_as("SELECT code, at_ms FROM revocations")
            .fetch_all(self.db().read())
            .await?;
        rows.into_iter()
            .map(|r| Ok((parse_code(&r.code)?, r.at_ms)))
            .collect()
    }
}

fn checkpoint_json(cp: &SignedDownCheckpoint) -> Vec<u8> {
    serde_json::to_vec(cp).unwrap_or_default()
}

/// The level of `code`, this node or one of its direct children.
fn under_level(ledger: &Ledger, code: NodeCode) -> fundsync_protocol::Level {
    let me = ledger.identity();
    if code == me.code {
        me.level
    } else {
        me.level.child().unwrap_or(me.level)
    }
}

/// Limits for decoding batches, from the node's configuration.
pub fn batch_limits(entries_max: usize, bytes_max: usize) -> BatchLimits {
    BatchLimits {
        entries_max,
        bytes_max,
        ..BatchLimits::default()
    }
}

/// Hands the runs a committed `receive_up` applied to the relay cache, one
/// per origin, each under the checkpoint that ends it.
/// Refuses `entries` if any of them is held already with another hash.
/// The network path skips what it holds (a retried batch); a bundle is a
/// file anyone may have handled, so every byte of it must be what the
/// origins wrote, held or not.
async fn held_entries_match(work: &mut Work<'_>, entries: &[Entry]) -> Result<(), ReplicaError> {
    let mut ranges: Vec<(NodeCode, u64, u64)> = Vec::new();
    for e in entries {
        match ranges.iter_mut().find(|r| r.0 == e.origin) {
            Some(r) => {
                r.1 = r.1.min(e.seq);
                r.2 = r.2.max(e.seq);
            }
            None => ranges.push((e.origin, e.seq, e.seq)),
        }
    }
    for (origin, lo, hi) in ranges {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, hash FROM journal WHERE origin = $1 AND seq >= $2 AND seq <= $3",
        )
        .bind(origin.as_str())
        .bind(to_i64(lo)?)
        .bind(to_i64(hi)?)
        .fetch_all(work.conn().await?)
        .await?;
        let held: HashMap<u64, Vec<u8>> = rows
            .into_iter()
            .map(|(seq, h)| Ok((to_u64(seq)?, h)))
            .collect::<Result<_, LedgerError>>()?;
        for e in entries.iter().filter(|e| e.origin == origin) {
            if let Some(h) = held.get(&e.seq) {
                if h.as_slice() != e.hash().0 {
                    return Err(fundsync_protocol::BatchError::Fork { origin, seq: e.seq }.into());
                }
            }
        }
    }
    Ok(())
}

/// Verifies the checkpoints of an upward batch that cover only entries
/// held already, which the network path skips with those entries: their
/// signatures against the origins' registered keys, their heads against
/// the entries held.
async fn held_checkpoints_verify(work: &mut Work<'_>, batch: &Batch) -> Result<(), ReplicaError> {
    for sc in &batch.checkpoints {
        let c = &sc.checkpoint;
        if c.seq > work.head(c.origin).await?.seq {
            continue;
        }
        let key: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT public_key FROM node_keys WHERE origin = $1 AND key_id = $2",
        )
        .bind(c.origin.as_str())
        .bind(c.key_id.to_hex())
        .fetch_optional(work.conn().await?)
        .await?;
        let key = key.ok_or(fundsync_protocol::BatchError::UnknownKey {
            origin: c.origin,
            seq: c.seq,
            key_id: c.key_id,
        })?;
        sc.verify(&public_key(key)?)
            .map_err(fundsync_protocol::BatchError::from)?;
        let held: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM journal WHERE origin = $1 AND seq = $2")
                .bind(c.origin.as_str())
                .bind(to_i64(c.seq)?)
                .fetch_optional(work.conn().await?)
                .await?;
        if held.as_deref() != Some(c.head.0.as_slice()) {
            return Err(fundsync_protocol::BatchError::CheckpointMismatch {
                origin: c.origin,
                seq: c.seq,
            }
            .into());
        }
    }
    Ok(())
}

/// An upward batch verified against what a transaction holds, not yet
/// applied.
struct CheckedUp {
    origins: Vec<NodeCode>,
    heads: HashMap<NodeCode, fundsync_protocol::Head>,
    verified: fundsync_protocol::batch::Verified,
}

/// What a relay hands its cache once an upward batch is committed.
struct ForRelay {
    origins: Vec<NodeCode>,
    before: HashMap<NodeCode, fundsync_protocol::Head>,
    copies: Vec<Entry>,
    checkpoints: Vec<SignedCheckpoint>,
}

fn keep_for_relay(
    ledger: &Ledger,
    origins: &[NodeCode],
    before: &HashMap<NodeCode, fundsync_protocol::Head>,
    mut copies: Vec<Entry>,
    checkpoints: &[SignedCheckpoint],
) {
    for &o in origins {
        let run: Vec<Entry> = {
            let (mine, rest): (Vec<Entry>, Vec<Entry>) =
                copies.into_iter().partition(|e| e.origin == o);
            copies = rest;
            mine
        };
        let (Some(head), Some(cp)) = (
            before.get(&o),
            checkpoints.iter().find(|c| c.checkpoint.origin == o),
        ) else {
            continue;
        };
        if run.is_empty() {
            continue;
        }
        ledger.relay_cache().keep(super::relay::Relayed {
            origin: o,
            after: head.seq,
            entries: std::sync::Arc::new(run),
            checkpoint: *cp,
        });
    }
}
