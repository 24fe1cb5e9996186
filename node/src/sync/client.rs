//! The child's side of sync: push up, pull down, retry with capped backoff.
//!
//! Two loops share one HTTPS client to the parent. The pusher sends what
//! the parent lacks as soon as this node commits something (its own entries
//! or its children's, which it relays unchanged with their checkpoints); the
//! puller keeps a long-poll open so an allocation reaches it within a round
//! trip. After a failure each loop waits (doubling from `retry_base_ms` up
//! to `retry_max_ms`, with jitter) and then tries again; a success resets
//! the delay, so a link that comes back is used at the next attempt.
//!
//! Before the pusher sends anything it compares the parent's head of this
//! node's own chain with the journal here ([`Link::reconcile_own`]). A node
//! restored from an old backup finds the parent ahead: it takes its own
//! entries back (`GET /sync/v1/own`), verified against its own head and
//! keys. A node whose journal differs from the parent's copy (restored, then
//! written to) pushes nothing more and raises an alarm: reusing sequence
//! numbers the parent already holds would fork the chain.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fundsync_protocol::wire::{
    DigestAnswer, DigestCompared, DigestOutcome, DigestReport, ErrorBody, HeadView, HealthReceipt,
    HealthReports, Hello, OriginRefused, UpReceipt, DIGEST_PATH, DOWN_HEAD_HEADER, DOWN_PATH,
    HEADS_PATH, HEALTH_PATH, HELLO_PATH, OWN_PATH, UP_PATH, VERSION_HEADER,
};
use fundsync_protocol::{
    checkpoint_for, Batch, DownBatch, ErrorCode, Hash, NodeCode, NodeKey, PROTOCOL_VERSION,
};
use rand::Rng;
use tokio::sync::watch;

use super::SyncLimits;
use crate::ledger::replica::ReplicaError;
use crate::ledger::Ledger;
use crate::link::{Divergence, HeldOrigin, LinkHealth};
use crate::pki::{self, NodeTls};

/// The alarm kind (and link error code) of a parent whose copy of this
/// node's own chain is shown wrong by this node's signature.
pub const PARENT_COPY_WRONG: &str = "parent_copy_wrong";

/// Why an exchange with the parent failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot reach the parent: {0}")]
    Transport(String),
    #[error("the parent refused ({status}, {code}): {message}")]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    #[error("the parent's answer was refused: {0}")]
    BadAnswer(String),
    #[error(
        "this node's journal diverges from the parent's copy at seq {seq} (here {}, at the \
         parent {}): restored from an old backup and written to since? Nothing more is pushed \
         until an operator resolves it",
        hash_text(.here),
        .parent.to_hex()
    )]
    Diverged {
        seq: u64,
        here: Option<Hash>,
        parent: Hash,
    },
    #[error(
        "the parent's copy of this node's own chain is wrong at seq {seq}: {why}. This node's \
         journal verifies against its own signatures; it was not restored from a backup. The \
         parent (or a relay below it) altered its copy; nothing more of this node's own chain is \
         pushed until an operator at the parent repairs it"
    )]
    ParentCopyWrong { seq: u64, why: String },
    #[error(
        "the parent holds this node's own chain up to seq {theirs}, this node only up to seq \
         {mine} (restored from an old backup?), and the parent cannot send the rest back: {why}; \
         nothing is pushed until this node holds it"
    )]
    CannotRecover { theirs: u64, mine: u64, why: String },
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

impl LinkError {
    /// A stable code for metrics: the wire's code of a refusal, or what
    /// went wrong here.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::Transport(_) => "transport",
            LinkError::Refused { code, .. } => code.as_str(),
            LinkError::BadAnswer(_) => "bad_answer",
            LinkError::Diverged { .. } => ErrorCode::Fork.as_str(),
            LinkError::ParentCopyWrong { .. } => PARENT_COPY_WRONG,
            LinkError::CannotRecover { .. } => "behind",
            LinkError::Ledger(_) => "ledger",
            LinkError::Replica(r) => r.code().as_str(),
        }
    }
}

/// A child's connection to its parent.
#[derive(Clone)]
pub struct Link {
    ledger: Ledger,
    key: Arc<NodeKey>,
    parent: NodeCode,
    base: String,
    http: reqwest::Client,
    limits: SyncLimits,
    health: LinkHealth,
    /// `LinkStatus::own_chain_checked`, for tasks that wait for it.
    own_checked: Arc<watch::Sender<bool>>,
    /// The parent answered [`HEALTH_PATH`] with 404 (said once in the log).
    health_unsupported: Arc<AtomicBool>,
    /// The parent answered [`DIGEST_PATH`] with 404: not asked again.
    digest_unsupported: Arc<AtomicBool>,
    /// The head each origin's digest was last compared at by the parent,
    /// and when: compared again when the head moves or the comparison is
    /// [`DIGEST_RECHECK_INTERVALS`] report intervals old.
    compared: Arc<std::sync::Mutex<Compared>>,
}

/// Per origin, the head at which the parent last compared its digest, and
/// when.
type Compared = HashMap<NodeCode, (u64, Hash, tokio::time::Instant)>;

/// Report intervals after which an origin's digest is compared again with
/// the parent's even though its head has not moved (a row altered behind
/// either ledger changes no head).
pub const DIGEST_RECHECK_INTERVALS: u32 = 60;

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("parent", &self.parent)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Link {
    pub fn new(
        ledger: Ledger,
        key: Arc<NodeKey>,
        tls: &NodeTls,
        parent_url: &str,
        limits: SyncLimits,
    ) -> Result<Link, pki::PkiError> {
        let parent = ledger.identity().parent.ok_or(pki::PkiError::NoIdentity)?;
        let config = pki::client_config(tls, parent)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*config).clone())
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_millis(limits.connect_timeout_ms))
            .pool_idle_timeout(Duration::from_millis(limits.idle_close_ms))
            .build()
            .map_err(|e| pki::PkiError::BadCert(e.to_string()))?;
        let health = LinkHealth::default();
        let started = ledger.clock().now_ms();
        health.update(|s| {
            s.parent = Some(parent);
            s.started_ms = Some(started);
        });
        Ok(Link {
            ledger,
            key,
            parent,
            base: parent_url.trim_end_matches('/').to_owned(),
            http,
            limits,
            health,
            own_checked: Arc::new(watch::channel(false).0),
            health_unsupported: Arc::new(AtomicBool::new(false)),
            digest_unsupported: Arc::new(AtomicBool::new(false)),
            compared: Arc::default(),
        })
    }

    pub fn health(&self) -> LinkHealth {
        self.health.clone()
    }

    /// Turns true once this node's own chain has been found to be one with
    /// the parent's copy ([`LinkStatus::own_chain_checked`]); false again
    /// while it is not.
    pub fn own_chain_checked(&self) -> watch::Receiver<bool> {
        self.own_checked.subscribe()
    }

    fn set_own_checked(&self, checked: bool) {
        self.own_checked
            .send_if_modified(|v| std::mem::replace(v, checked) != checked);
        self.health.update(|s| s.own_chain_checked = checked);
    }

    /// Runs the pusher and the puller until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>, report: super::health::Reporter) {
        let up = tokio::spawn(self.clone().push_loop(stop.clone()));
        let down = tokio::spawn(self.clone().pull_loop(stop.clone()));
        let link = self.clone();
        let rep =
            tokio::spawn(
                report.run(self.ledger.clone(), self.health.clone(), stop, move |r| {
                    let link = link.clone();
                    async move { link.report_health(&r).await }
                }),
            );
        let _ = tokio::join!(up, down, rep);
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(VERSION_HEADER, PROTOCOL_VERSION)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, LinkError> {
        let res = req
            .send()
            .await
            .map_err(|e| LinkError::Transport(error_chain(&e)))?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        let body = res.json::<ErrorBody>().await.unwrap_or(ErrorBody {
            error: ErrorCode::Unknown,
            message: String::new(),
        });
        Err(LinkError::Refused {
            status,
            code: body.error,
            message: body.message,
        })
    }

    /// Sends link reports to the parent (`POST /sync/v1/health`). A failure
    /// is logged and otherwise left alone: the push and pull loops measure
    /// the link, and the next interval sends a fresh report.
    async fn report_health(&self, reports: &HealthReports) {
        match self.send_health(reports).await {
            Ok(r) => tracing::debug!(stored = r.stored, "link health reported"),
            Err(LinkError::Refused { status: 404, .. }) => {
                if !self.health_unsupported.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "the parent runs a release without {HEALTH_PATH}: its health tree \
                         shows this node once it upgrades"
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot report the link's health"),
        }
        if !self.digest_unsupported.load(Ordering::Relaxed) {
            if let Err(e) = self.compare_digests().await {
                tracing::debug!(error = %e, "cannot compare money digests with the parent");
            }
        }
    }

    /// Sends the parent the digests of the money rows of each origin this
    /// node holds whose head moved since the parent last compared it (or
    /// long ago) and which the parent holds as far (as of the last push),
    /// and notes the parent's answers. A difference is the
    /// parent's alarm; here it is a WARN. An older parent answers 404: the
    /// comparison is not asked for again.
    pub async fn compare_digests(&self) -> Result<Vec<DigestCompared>, LinkError> {
        let now = tokio::time::Instant::now();
        let recheck = Duration::from_millis(self.limits.health_report_ms.max(1))
            .saturating_mul(DIGEST_RECHECK_INTERVALS);
        let due: Vec<NodeCode> = {
            let heads = self.ledger.heads().await?;
            // Only where the parent is known to stand at the same head: it
            // compares nothing else, so nothing else is worth reading.
            let remote = self.health.get().remote_heads;
            let compared = self
                .compared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            heads
                .into_iter()
                .filter(|h| remote.get(&h.origin) == Some(&h.seq))
                .filter(|h| {
                    compared.get(&h.origin).is_none_or(|(seq, hash, at)| {
                        *seq != h.seq || *hash != h.hash || now.duration_since(*at) >= recheck
                    })
                })
                .map(|h| h.origin)
                .collect()
        };
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let origins = self.ledger.money_digests(&due).await?;
        let res = self
            .send(
                self.request(reqwest::Method::POST, DIGEST_PATH)
                    .timeout(Duration::from_millis(self.limits.request_timeout_ms))
                    .json(&DigestReport {
                        origins: origins.clone(),
                    }),
            )
            .await;
        let answer: DigestAnswer = match res {
            Ok(r) => r
                .json()
                .await
                .map_err(|e| LinkError::BadAnswer(e.to_string()))?,
            Err(LinkError::Refused { status: 404, .. }) => {
                self.digest_unsupported.store(true, Ordering::Relaxed);
                tracing::info!(
                    "the parent runs a release without {DIGEST_PATH}: money digests are not \
                     compared"
                );
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut compared = self
            .compared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for c in &answer.compared {
            let Some(d) = origins.iter().find(|d| d.origin == c.origin) else {
                continue;
            };
            match c.outcome {
                DigestOutcome::NotCompared => continue,
                DigestOutcome::Differs => tracing::warn!(
                    parent = %self.parent,
                    origin = %c.origin,
                    seq = d.seq,
                    "the parent's money rows of this origin differ from this node's"
                ),
                DigestOutcome::Equal => {}
            }
            compared.insert(c.origin, (d.seq, d.hash, now));
        }
        Ok(answer.compared)
    }

    async fn send_health(&self, reports: &HealthReports) -> Result<HealthReceipt, LinkError> {
        self.send(
            self.request(reqwest::Method::POST, HEALTH_PATH)
                .json(reports),
        )
        .await?
        .json()
        .await
        .map_err(|e| LinkError::BadAnswer(e.to_string()))
    }

    /// Learns the parent's signing keys over the authenticated connection.
    pub async fn hello(&self) -> Result<(), LinkError> {
        let res = self
            .send(self.request(reqwest::Method::GET, HELLO_PATH))
            .await?;
        let hello: Hello = res
            .json()
            .await
            .map_err(|e| LinkError::BadAnswer(e.to_string()))?;
        if hello.node != self.parent {
            return Err(LinkError::BadAnswer(format!(
                "the parent says it is {}, expected {}",
                hello.node, self.parent
            )));
        }
        let keys = hello
            .keys
            .iter()
            .map(|k| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(k, &mut b)
                    .ok()
                    .and_then(|()| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
                    .ok_or_else(|| LinkError::BadAnswer("a key that is not ed25519".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.ledger.trust_parent_keys(&keys).await?;
        Ok(())
    }

    /// The parent's heads of this node's subtree, after making sure the
    /// parent's copy of this node's own chain and the journal here are one
    /// chain ([`Link::reconcile_own`]).
    async fn parent_heads(&self) -> Result<HashMap<NodeCode, u64>, LinkError> {
        let res = self
            .send(self.request(reqwest::Method::GET, HEADS_PATH))
            .await?;
        let heads: Vec<HeadView> = res
            .json()
            .await
            .map_err(|e| LinkError::BadAnswer(e.to_string()))?;
        let me = self.ledger.identity().code;
        self.reconcile_own(heads.iter().find(|h| h.origin == me).copied())
            .await?;
        Ok(heads.into_iter().map(|h| (h.origin, h.seq)).collect())
    }

    /// Compares the parent's head of this node's own chain (`theirs`) with
    /// the journal here, before anything is pushed.
    ///
    /// - The parent holds a prefix of the journal here (or all of it): the
    ///   entry at the parent's head must hash as the parent says; pushing
    ///   then continues after it.
    /// - The parent holds more: this node was restored from an old backup.
    ///   It asks for its own entries after its head, batch by batch, and
    ///   applies them once they verify against its own head and keys
    ///   ([`Ledger::receive_own`]): nothing lost, nothing counted twice.
    /// - The chains differ at some seq: [`LinkError::Diverged`]. Nothing is
    ///   pushed (the parent's own fork check would refuse it anyway).
    async fn reconcile_own(&self, theirs: Option<HeadView>) -> Result<(), LinkError> {
        let me = self.ledger.identity().code;
        let Some(theirs) = theirs.filter(|h| h.seq > 0) else {
            self.set_own_checked(true);
            return Ok(());
        };
        loop {
            let mine = self
                .ledger
                .heads()
                .await?
                .into_iter()
                .find(|h| h.origin == me)
                .map_or((0, Hash::ZERO), |h| (h.seq, h.hash));
            if theirs.seq <= mine.0 {
                let here = self.ledger.entry_hash(me, theirs.seq).await?;
                if here != Some(theirs.hash) {
                    self.set_own_checked(false);
                    let diverged = LinkError::Diverged {
                        seq: theirs.seq,
                        here,
                        parent: theirs.hash,
                    };
                    return Err(self
                        .whose_copy(theirs.seq - 1, Some((theirs.seq, theirs.hash)), diverged)
                        .await);
                }
                // The parent holds this much of the own chain, as it is
                // here: the mark moves (a node upgraded to keep one gets it
                // at its first exchange).
                self.ledger.acknowledge_own(theirs.seq, theirs.hash).await;
                self.ledger.recheck_restored().await?;
                self.set_own_checked(true);
                return Ok(());
            }
            self.set_own_checked(false);
            let batch = match self.fetch_own(mine.0).await {
                Err(LinkError::Refused {
                    status: 404,
                    message,
                    ..
                }) => {
                    return Err(LinkError::CannotRecover {
                        theirs: theirs.seq,
                        mine: mine.0,
                        why: format!("it runs a release without {OWN_PATH} ({message})"),
                    })
                }
                r => r?,
            };
            let Some(first) = batch.entries.first() else {
                return Err(LinkError::CannotRecover {
                    theirs: theirs.seq,
                    mine: mine.0,
                    why: "it sent no entries back".into(),
                });
            };
            // The parent's entry after this node's head names the parent's
            // hash at this node's head: the two chains differ there.
            if first.seq == mine.0.saturating_add(1) && first.prev_hash != mine.1 {
                self.set_own_checked(false);
                let diverged = LinkError::Diverged {
                    seq: mine.0,
                    here: Some(mine.1),
                    parent: first.prev_hash,
                };
                return Err(self.whose_copy(mine.0, None, diverged).await);
            }
            let receipt = match self
                .ledger
                .receive_own(&batch, &[self.key.verifying_key()])
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    // Entries this node signed cannot fail to verify unless
                    // the parent altered them (or made them up).
                    if matches!(
                        e.code(),
                        ErrorCode::BadSignature
                            | ErrorCode::BadCheckpoint
                            | ErrorCode::BrokenChain
                            | ErrorCode::BadBody
                            | ErrorCode::OriginNotAllowed
                            | ErrorCode::WrongSender
                            | ErrorCode::Misaddressed
                            | ErrorCode::Misdirected
                    ) {
                        self.ledger
                            .alarm(
                                self.parent,
                                Some(me),
                                e.code().as_str(),
                                &format!("own entries sent back by the parent refused: {e}"),
                            )
                            .await;
                    }
                    return Err(e.into());
                }
            };
            if receipt.applied == 0 {
                return Err(LinkError::CannotRecover {
                    theirs: theirs.seq,
                    mine: mine.0,
                    why: "it sent back only entries this node holds".into(),
                });
            }
            let n = u64::try_from(receipt.applied).unwrap_or(0);
            tracing::warn!(
                parent = %self.parent,
                applied = n,
                after = mine.0,
                parent_head = theirs.seq,
                "took back own entries the parent held and this node did not (restored from a backup?)"
            );
            self.health
                .update(|s| s.entries_recovered = s.entries_recovered.saturating_add(n));
            // Up to the acknowledgement mark again: local writes resume.
            self.ledger.recheck_restored().await?;
        }
    }

    /// Which copy is wrong when this node's own chain and the parent's copy
    /// of it differ after seq `after` (at `parent_at`, the parent's head,
    /// when the parent is not ahead). The parent sends back its copy of the
    /// run after `after` with the checkpoint that covers it
    /// (`GET /sync/v1/own`), which this node signed when it pushed the run:
    ///
    /// - the parent's run hashes to that checkpoint, signed with a key of
    ///   this node's, and differs from the journal here: this node signed
    ///   another history, so it is the one that diverged (restored from an
    ///   old backup, then written to): `diverged`, as it is;
    /// - the checkpoint's signature does not verify, or the parent's run
    ///   does not hash to it (nor to the head it claims), while this node's
    ///   journal does (or does not reach that far): the parent's copy is
    ///   wrong, [`LinkError::ParentCopyWrong`];
    /// - anything else (the checkpoint's key unknown here, the parent out of
    ///   reach, neither copy matching the signature): `diverged`, undecided.
    async fn whose_copy(
        &self,
        after: u64,
        parent_at: Option<(u64, Hash)>,
        diverged: LinkError,
    ) -> LinkError {
        let seq = parent_at.map_or(after, |(s, _)| s);
        match self.judge_copies(after, parent_at).await {
            Ok(Some(why)) => LinkError::ParentCopyWrong { seq, why },
            Ok(None) => diverged,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell which copy of the own chain is wrong");
                diverged
            }
        }
    }

    /// See [`Link::whose_copy`]: `Some(why)` when the parent's copy is
    /// shown wrong by this node's signature.
    async fn judge_copies(
        &self,
        after: u64,
        parent_at: Option<(u64, Hash)>,
    ) -> Result<Option<String>, LinkError> {
        let me = self.ledger.identity().code;
        let batch = self.fetch_own(after).await?;
        let Some(sc) = batch.checkpoints.iter().find(|c| c.checkpoint.origin == me) else {
            return Ok(Some(format!(
                "it shows no checkpoint this node signed over its copy after seq {after}"
            )));
        };
        let cp = sc.checkpoint;
        let mut keys = self.ledger.keys_of(me).await?;
        keys.push(self.key.verifying_key());
        let Some(key) = keys
            .iter()
            .find(|k| fundsync_protocol::KeyId::of(k) == cp.key_id)
        else {
            return Ok(None);
        };
        if sc.verify(key).is_err() {
            return Ok(Some(format!(
                "the checkpoint {me}-{} it shows does not verify with this node's key {}",
                cp.seq, cp.key_id
            )));
        }
        // The parent's run: dense from `after`, linked, hashing to the
        // signed head, and to the head the parent claims.
        let theirs_signed = {
            let mut ok = !batch.entries.is_empty();
            let mut prev: Option<Hash> = None;
            let mut want = after.saturating_add(1);
            for e in &batch.entries {
                let h = e.hash();
                ok &= e.origin == me && e.seq == want;
                want = want.saturating_add(1);
                ok &= prev.is_none_or(|p| e.prev_hash == p);
                if let Some((at, claimed)) = parent_at {
                    ok &= e.seq != at || h == claimed;
                }
                prev = Some(h);
            }
            ok && batch.entries.last().map(|e| e.seq) == Some(cp.seq) && prev == Some(cp.head)
        };
        if theirs_signed {
            return Ok(None);
        }
        // This node's journal against the same signature.
        let mine = self.ledger.entries(me, after, cp.seq).await?;
        let reaches = mine.last().map(|e| e.seq) == Some(cp.seq);
        if reaches {
            let mut prev: Option<Hash> = None;
            let mut ok = true;
            for e in &mine {
                ok &= prev.is_none_or(|p| e.prev_hash == p);
                prev = Some(e.hash());
            }
            if !ok || prev != Some(cp.head) {
                return Ok(None);
            }
            return Ok(Some(format!(
                "its entries after seq {after} do not hash to the head this node signed at seq {} \
                 (key {}); this node's own entries do",
                cp.seq, cp.key_id
            )));
        }
        Ok(Some(format!(
            "its entries after seq {after} do not hash to the head this node signed at seq {} \
             (key {})",
            cp.seq, cp.key_id
        )))
    }

    /// This node's own entries after `after` as the parent holds them.
    async fn fetch_own(&self, after: u64) -> Result<Batch, LinkError> {
        let me = self.ledger.identity().code;
        let res = self
            .send(
                self.request(
                    reqwest::Method::GET,
                    &format!("{OWN_PATH}?origin={me}&after={after}"),
                )
                .timeout(Duration::from_millis(self.limits.request_timeout_ms)),
            )
            .await?;
        let bytes = res
            .bytes()
            .await
            .map_err(|e| LinkError::Transport(error_chain(&e)))?;
        Ok(Batch::decode(&bytes, &self.limits.batch()).map_err(ReplicaError::from)?)
    }

    async fn push(&self, batch: &Batch) -> Result<UpReceipt, LinkError> {
        let res = self
            .send(
                self.request(reqwest::Method::POST, UP_PATH)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .timeout(Duration::from_millis(self.limits.request_timeout_ms))
                    .body(batch.encode()),
            )
            .await?;
        res.json()
            .await
            .map_err(|e| LinkError::BadAnswer(e.to_string()))
    }

    /// Pushes until the parent holds everything this node holds of its
    /// subtree; returns how many entries the parent newly applied.
    pub async fn push_all(&self) -> Result<u64, LinkError> {
        let mut remote = self.parent_heads().await?;
        let mut sent = 0u64;
        while let Some(batch) = next_up_batch(
            &self.ledger,
            &self.key,
            &remote,
            self.limits.batch_entries_max,
        )
        .await?
        {
            let receipt = self.push(&batch).await?;
            sent = sent.saturating_add(u64::try_from(receipt.applied).unwrap_or(0));
            for h in receipt.heads {
                if h.origin == self.ledger.identity().code {
                    self.ledger.acknowledge_own(h.seq, h.hash).await;
                }
                remote.insert(h.origin, h.seq);
            }
        }
        Ok(sent)
    }

    /// Pulls once: waits up to `wait_ms` at the parent for news, applies it.
    /// Returns how many new entries were applied.
    pub async fn pull_once(&self, wait_ms: u64) -> Result<usize, LinkError> {
        let state = self.ledger.down_state().await?;
        let res = self
            .send(
                self.request(
                    reqwest::Method::GET,
                    &format!("{DOWN_PATH}?after={}&wait_ms={wait_ms}", state.down_seq),
                )
                .timeout(Duration::from_millis(
                    wait_ms.saturating_add(self.limits.pull_answer_slack_ms),
                )),
            )
            .await?;
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (down_head, peer_version) = (header(DOWN_HEAD_HEADER), header(VERSION_HEADER));
        let bytes = res
            .bytes()
            .await
            .map_err(|e| LinkError::Transport(error_chain(&e)))?;
        let batch = DownBatch::decode(&bytes, &self.limits.batch()).map_err(ReplicaError::from)?;
        let receipt = self.ledger.receive_down(&batch, self.key.key_id()).await?;
        crate::telemetry::batch_applied(
            self.ledger.identity().code.as_str(),
            "down",
            receipt.applied,
            receipt.duplicates,
        );
        let now = self.ledger.clock().now_ms();
        let held = receipt.state.down_seq;
        self.health.update(|s| {
            s.down_head = down_head;
            s.down_held = Some(held);
            s.peer_version = peer_version.and_then(|v| u16::try_from(v).ok());
            if down_head.is_none_or(|h| held >= h) {
                s.down_caught_up_ms = Some(now);
            }
        });
        Ok(receipt.applied)
    }

    /// Counts a failed exchange in its own direction (a push's failures
    /// and a pull's are kept apart, so one that works does not hide the
    /// other's); returns how many in a row, for the backoff.
    fn failed(&self, dir: Direction, e: &LinkError) -> u32 {
        tracing::warn!(parent = %self.parent, error = %e, "sync {} failed", dir.as_str());
        crate::telemetry::sync_error(self.ledger.identity().code.as_str(), "client", e.code());
        let mut n = 0;
        self.health.update(|s| {
            let (failures, error) = match dir {
                Direction::Push => (&mut s.push_failures, &mut s.push_error),
                Direction::Pull => (&mut s.pull_failures, &mut s.pull_error),
            };
            *failures = failures.saturating_add(1);
            *error = Some(e.to_string());
            n = *failures;
        });
        n
    }

    /// Leaves the refused origins out of the next pushes, each for its own
    /// backoff (doubling with each refusal in a row), and says so in the log
    /// and the metrics.
    fn hold_back(&self, held: &mut HeldBack, refused: &[OriginRefused]) {
        let now = tokio::time::Instant::now();
        let at_ms = self.ledger.clock().now_ms();
        for r in refused {
            tracing::warn!(
                parent = %self.parent,
                origin = %r.origin,
                error = %r.error,
                message = %r.message,
                "the parent refused one origin's chain; the others go on"
            );
            crate::telemetry::sync_error(
                self.ledger.identity().code.as_str(),
                "client",
                r.error.as_str(),
            );
            let failures = held.0.get(&r.origin).map_or(0, |h| h.failures) + 1;
            let until = now + self.backoff(failures);
            held.0.insert(
                r.origin,
                Held {
                    until,
                    failures,
                    shown: HeldOrigin {
                        origin: r.origin,
                        error: r.error.as_str().to_owned(),
                        message: r.message.clone(),
                        since_ms: held.0.get(&r.origin).map_or(at_ms, |h| h.shown.since_ms),
                        refusals: failures,
                    },
                },
            );
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        backoff(
            self.limits.retry_base_ms,
            self.limits.retry_max_ms,
            failures,
            &mut rand::thread_rng(),
        )
    }

    async fn push_loop(self, mut stop: watch::Receiver<bool>) {
        let mut changes = self.ledger.db().changes();
        let mut remote: Option<HashMap<NodeCode, u64>> = None;
        // The batch after the one in flight, read while the parent applies
        // that one, and the parent's heads it was read for.
        let mut ready: Option<(Batch, HashMap<NodeCode, u64>)> = None;
        // The divergence last raised as an alarm, so a retry does not raise
        // it again.
        let mut alarmed: Option<(u64, &'static str)> = None;
        // Origins whose runs the parent refused (a bad chain stops its own
        // origin only): left out until their own backoff has passed, while
        // every other origin keeps going up.
        let mut held = HeldBack::default();
        while !*stop.borrow() {
            let skip = held.waiting(tokio::time::Instant::now());
            // Ok(true): a batch went up, more may follow; Ok(false): nothing
            // more to send now.
            let step: Result<bool, LinkError> = async {
                if remote.is_none() {
                    ready = None;
                    let heads = self.parent_heads().await?;
                    let known = heads.clone();
                    self.health.update(|s| s.remote_heads = known);
                    remote = Some(heads);
                }
                let Some(r) = remote.as_mut() else {
                    return Ok(false);
                };
                let max = self.limits.batch_entries_max;
                let batch = match ready.take() {
                    Some((b, assumed))
                        if assumed == *r && b.first_origin().is_none_or(|o| !skip.contains(&o)) =>
                    {
                        b
                    }
                    _ => match next_up_batch_skipping(&self.ledger, &self.key, r, max, &skip)
                        .await?
                    {
                        Some(b) => b,
                        None => return Ok(false),
                    },
                };
                // Read the next batch as if this one lands whole; it is used
                // only if the parent's receipt says it did.
                let mut assumed = r.clone();
                for cp in &batch.checkpoints {
                    let seq = assumed.entry(cp.checkpoint.origin).or_insert(0);
                    *seq = (*seq).max(cp.checkpoint.seq);
                }
                let (receipt, next) = tokio::join!(
                    self.push(&batch),
                    next_up_batch_skipping(&self.ledger, &self.key, &assumed, max, &skip)
                );
                let receipt = match receipt {
                    Ok(r) => r,
                    // One origin's run refused whole: that origin waits, the
                    // others go on.
                    Err(LinkError::Refused { code, message, .. }) if refuses_origin(code) => {
                        let Some(origin) = batch.first_origin() else {
                            return Ok(true);
                        };
                        let refused = [OriginRefused {
                            origin,
                            error: code,
                            message,
                        }];
                        self.hold_back(&mut held, &refused);
                        return Ok(true);
                    }
                    Err(e) => return Err(e),
                };
                let me = self.ledger.identity().code;
                for h in &receipt.heads {
                    r.insert(h.origin, h.seq);
                    held.clear(h.origin);
                    if h.origin == me {
                        // Once per acknowledged push, never per entry.
                        self.ledger.acknowledge_own(h.seq, h.hash).await;
                    }
                }
                if !receipt.refused.is_empty() {
                    self.hold_back(&mut held, &receipt.refused);
                }
                if let Ok(Some(next)) = next {
                    ready = Some((next, assumed));
                }
                let n = u64::try_from(receipt.applied).unwrap_or(0);
                let known = r.clone();
                self.health.update(|s| {
                    s.entries_sent = s.entries_sent.saturating_add(n);
                    s.remote_heads = known;
                });
                Ok(true)
            }
            .await;
            match step {
                Ok(more) => {
                    let now = self.ledger.clock().now_ms();
                    alarmed = None;
                    // Nothing more to send is not the same as caught up:
                    // entries this node cannot send (a descendant's run with
                    // no checkpoint stored to cover it) stay behind, and the
                    // link must show it, growing older, not "caught up now".
                    let caught_up = !more
                        && match &remote {
                            Some(r) => parent_holds_all(&self.ledger, r).await.unwrap_or(false),
                            None => false,
                        };
                    let held_now = held.shown();
                    self.health.update(|s| {
                        s.last_up_ms = Some(now);
                        s.push_failures = 0;
                        // A refused origin stays in view while the others
                        // go up.
                        s.push_error = held_now.first().map(|h| {
                            format!(
                                "the parent refused the chain of {} ({}): {}",
                                h.origin, h.error, h.message
                            )
                        });
                        s.held_back = held_now;
                        s.diverged_at = None;
                        s.divergence = None;
                        if caught_up {
                            s.up_caught_up_ms = Some(now);
                        }
                    });
                    if more {
                        continue;
                    }
                    // Caught up: wait for a commit here (or, for commits by
                    // another process on this database, poll now and then).
                    let poll = tokio::time::Instant::now()
                        + Duration::from_millis(self.limits.push_poll_ms);
                    let wake = held.next_expiry().map_or(poll, |t| t.min(poll));
                    tokio::select! {
                        _ = changes.changed() => {}
                        _ = stop.changed() => {}
                        _ = tokio::time::sleep_until(wake) => {}
                    }
                }
                Err(e) => {
                    // Ask the parent where it stands before the next try.
                    remote = None;
                    let diverged = match &e {
                        LinkError::Diverged { seq, .. } => {
                            Some((*seq, Divergence::Diverged, ErrorCode::Fork.as_str()))
                        }
                        LinkError::ParentCopyWrong { seq, .. } => {
                            Some((*seq, Divergence::ParentCopyWrong, PARENT_COPY_WRONG))
                        }
                        _ => None,
                    };
                    if let Some((seq, why, kind)) = diverged {
                        self.health.update(|s| {
                            s.diverged_at = Some(seq);
                            s.divergence = Some(why);
                        });
                        if alarmed != Some((seq, kind)) {
                            self.ledger
                                .alarm(
                                    self.parent,
                                    Some(self.ledger.identity().code),
                                    kind,
                                    &e.to_string(),
                                )
                                .await;
                            alarmed = Some((seq, kind));
                        }
                    }
                    let failures = self.failed(Direction::Push, &e);
                    wait_or_stop(self.backoff(failures), &mut stop).await;
                }
            }
        }
    }

    async fn pull_loop(self, mut stop: watch::Receiver<bool>) {
        let mut hello_done = false;
        while !*stop.borrow() {
            let step: Result<usize, LinkError> = async {
                if !hello_done {
                    self.hello().await?;
                    hello_done = true;
                }
                // A waiting pull is abandoned at shutdown; what it would
                // have brought comes again with the next pull.
                tokio::select! {
                    r = self.pull_once(self.limits.pull_wait_ms) => r,
                    _ = stop.wait_for(|v| *v) => Ok(0),
                }
            }
            .await;
            match step {
                Ok(n) => {
                    let now = self.ledger.clock().now_ms();
                    self.health.update(|s| {
                        s.last_down_ms = Some(now);
                        // The pull's own failures only: a push error (a
                        // divergence, a refused batch) stays in view while
                        // the down stream keeps working.
                        s.pull_failures = 0;
                        s.pull_error = None;
                        s.entries_received = s
                            .entries_received
                            .saturating_add(u64::try_from(n).unwrap_or(0));
                    });
                }
                Err(e) => {
                    hello_done = false;
                    let failures = self.failed(Direction::Pull, &e);
                    if let LinkError::Replica(r) = &e {
                        if matches!(
                            r.code(),
                            ErrorCode::ForeignKey
                                | ErrorCode::DigestMismatch
                                | ErrorCode::BadSignature
                        ) {
                            self.ledger
                                .alarm(
                                    self.parent,
                                    r.origin().or(Some(self.parent)),
                                    r.code().as_str(),
                                    &r.to_string(),
                                )
                                .await;
                        }
                    }
                    wait_or_stop(self.backoff(failures), &mut stop).await;
                }
            }
        }
    }
}

/// Which of the link's loops an exchange belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Push,
    Pull,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
        }
    }
}

/// Whether a refusal of a batch (one origin's run, as this node sends
/// them) is about that origin's chain, so that origin waits and the others
/// go on; anything else (the link, the batch as a whole, this node) stops
/// the pusher and re-reads the parent's heads. A gap is not: the parent
/// stands elsewhere than this node thought, and re-reading its heads fixes it.
fn refuses_origin(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Fork
            | ErrorCode::BadCheckpoint
            | ErrorCode::BrokenChain
            | ErrorCode::BadSignature
            | ErrorCode::UnknownKey
            | ErrorCode::BadBody
            | ErrorCode::OriginNotAllowed
            | ErrorCode::Misdirected
            | ErrorCode::NotYetHeld
    )
}

/// The origins the pusher leaves out for now, each until its own time.
#[derive(Debug, Default)]
struct HeldBack(HashMap<NodeCode, Held>);

#[derive(Debug)]
struct Held {
    until: tokio::time::Instant,
    failures: u32,
    shown: HeldOrigin,
}

impl HeldBack {
    /// The origins left out at `now`; those whose time has come are tried
    /// again (they stay listed, for operators, until the parent takes them).
    fn waiting(&self, now: tokio::time::Instant) -> HashSet<NodeCode> {
        self.0
            .iter()
            .filter(|(_, h)| h.until > now)
            .map(|(o, _)| *o)
            .collect()
    }

    fn clear(&mut self, origin: NodeCode) {
        self.0.remove(&origin);
    }

    fn next_expiry(&self) -> Option<tokio::time::Instant> {
        self.0.values().map(|h| h.until).min()
    }

    fn shown(&self) -> Vec<HeldOrigin> {
        let mut v: Vec<HeldOrigin> = self.0.values().map(|h| h.shown.clone()).collect();
        v.sort_by_key(|h| h.origin);
        v
    }
}

/// Whether a parent holding `remote` (seq per origin) holds every chain
/// this node sends up, as far as this node holds it.
async fn parent_holds_all(
    ledger: &Ledger,
    remote: &HashMap<NodeCode, u64>,
) -> Result<bool, crate::ledger::LedgerError> {
    Ok(ledger
        .heads()
        .await?
        .iter()
        .all(|h| h.seq <= remote.get(&h.origin).copied().unwrap_or(0)))
}

/// How long a loop waits after its `failures`-th failure in a row: doubling
/// from `base_ms`, capped at `max_ms`, less up to a quarter drawn from `rng`,
/// so children that lost the parent together do not all come back in the
/// same millisecond.
fn backoff(base_ms: u64, max_ms: u64, failures: u32, rng: &mut impl Rng) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    let capped = exp.min(max_ms).max(1);
    let jitter = rng.gen_range(0..=capped / 4);
    Duration::from_millis(capped - jitter)
}

/// Waits `delay`, or less if the node is stopping.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = stop.changed() => {}
        _ = tokio::time::sleep(delay) => {}
    }
}

/// The next batch a parent holding `remote` (seq per origin) lacks, if any:
/// this node's own entries first (the parent must know a child before its
/// entries), then each descendant's, relayed with the descendant's own
/// checkpoint. Own entries are signed now with `key`, except up to a key
/// rotation, whose checkpoint was signed with the old key when it happened.
pub async fn next_up_batch(
    ledger: &Ledger,
    key: &NodeKey,
    remote: &HashMap<NodeCode, u64>,
    entries_max: usize,
) -> Result<Option<Batch>, crate::ledger::LedgerError> {
    next_up_batch_skipping(ledger, key, remote, entries_max, &HashSet::new()).await
}

/// [`next_up_batch`], leaving out the origins in `skip` (those the parent
/// refused lately).
pub async fn next_up_batch_skipping(
    ledger: &Ledger,
    key: &NodeKey,
    remote: &HashMap<NodeCode, u64>,
    entries_max: usize,
    skip: &HashSet<NodeCode>,
) -> Result<Option<Batch>, crate::ledger::LedgerError> {
    let me = ledger.identity().code;
    let parent = ledger
        .identity()
        .parent
        .ok_or(crate::ledger::LedgerError::NotTopNode)?;
    let mut heads = ledger.heads().await?;
    heads.sort_by_key(|h| (h.origin != me, h.origin));
    let max = u64::try_from(entries_max).unwrap_or(u64::MAX);
    for h in heads {
        let theirs = remote.get(&h.origin).copied().unwrap_or(0);
        if h.seq <= theirs || skip.contains(&h.origin) {
            continue;
        }
        let upto = h.seq.min(theirs.saturating_add(max));
        if h.origin != me {
            if let Some(run) = ledger.relay_cache().take(h.origin, theirs, entries_max) {
                let entries = Arc::unwrap_or_clone(run.entries);
                return Ok(Some(Batch::new(me, parent, entries, vec![run.checkpoint])));
            }
        }
        let stored = if h.origin == me {
            ledger.own_checkpoint_within(theirs, upto).await?
        } else {
            ledger.relay_checkpoint(h.origin, theirs, max).await?
        };
        let (entries, checkpoint) = match stored {
            Some(cp) => (
                ledger.entries(h.origin, theirs, cp.checkpoint.seq).await?,
                Some(cp),
            ),
            None if h.origin == me => {
                let entries = match ledger.own_cache().take(me, theirs, upto) {
                    Some(entries) => entries,
                    None => ledger.entries(me, theirs, upto).await?,
                };
                let cp = checkpoint_for(key, &entries, ledger.clock().now_ms());
                (entries, cp)
            }
            None => continue,
        };
        let Some(cp) = checkpoint else { continue };
        return Ok(Some(Batch::new(me, parent, entries, vec![cp])));
    }
    Ok(None)
}

fn hash_text(h: &Option<Hash>) -> String {
    h.map_or_else(|| "nothing".to_owned(), Hash::to_hex)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod backoff_tests {
    use std::time::Duration;

    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tokio::sync::watch;
    use tokio::time::Instant;

    use super::{backoff, wait_or_stop};

    #[test]
    fn backoff_doubles_up_to_the_cap_less_a_quarter_at_most() {
        let mut rng = StdRng::seed_from_u64(7);
        for failures in 0..40u32 {
            let capped = (200u64 << failures.saturating_sub(1).min(20)).min(30_000);
            for _ in 0..50 {
                let d = backoff(200, 30_000, failures, &mut rng);
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                assert!(
                    ms <= capped && ms >= capped - capped / 4,
                    "failure {failures}: {ms} ms against {capped}"
                );
            }
        }
        // Never zero, even when configured so, so a loop cannot spin.
        assert!(backoff(0, 0, 3, &mut rng) >= Duration::from_millis(1));
    }

    /// On paused time: the wait lasts exactly the backoff, and a stop cuts
    /// it short at once.
    #[tokio::test(start_paused = true)]
    async fn a_loop_waits_out_its_backoff_unless_it_is_stopped() {
        let (tx, mut rx) = watch::channel(false);
        let t0 = Instant::now();
        wait_or_stop(Duration::from_secs(25), &mut rx).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(25));

        let t1 = Instant::now();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = tx.send(true);
        });
        wait_or_stop(Duration::from_secs(25), &mut rx).await;
        assert_eq!(t1.elapsed(), Duration::from_secs(1));
        stopper.await.unwrap_or_else(|e| panic!("stopper: {e}"));
    }
}
