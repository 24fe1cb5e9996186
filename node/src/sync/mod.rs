//! Sync between a node, its parent and its children.
//!
//! Every exchange is started by the child (counties sit behind NAT and need
//! no inbound port) over HTTPS with client certificates ([`crate::pki`]):
//!
//! - **Up, push** ([`client`] → [`server`] `POST /sync/v1/up`): the child
//!   sends, origin by origin (its own chain first, then its descendants'
//!   relayed unchanged with their own signed checkpoints), the entries the
//!   parent lacks. The parent verifies them ([`fundsync_protocol::verify_batch`])
//!   and applies them with its new heads in one transaction.
//! - **Down, long-poll pull** (`GET /sync/v1/down?after=N`): the parent
//!   answers with its down stream to that child past position N as soon as
//!   there is something, or a signed "nothing new" when the wait runs out.
//! - **Own entries back** (`GET /sync/v1/own?origin=C&after=K`): before it
//!   pushes, the child compares the parent's head of its own chain with its
//!   journal. If the parent holds more (the child was restored from an old
//!   backup), the child asks for its own entries after its head and applies
//!   them once they verify against its own head and keys; if the two chains
//!   differ, it refuses to push and raises an alarm.
//! - **Join** (`GET /sync/v1/ca`, `POST /sync/v1/join`): a child with a
//!   one-time token gets its certificate and has its signing key registered
//!   ([`enroll`]).
//!
//! Every request names the protocol version in the `fundsync-protocol`
//! header; the batches carry it too. See [`fundsync_protocol::version`] for
//! the compatibility rule, and [`fundsync_protocol::wire`] for the paths,
//! headers, answers and error codes.
//!
//! Layers: `crate::link` (the link's state) and this module's limits and keys are
//! below [`health`], [`client`], [`enroll`] and [`bundle`]; [`server`] is an
//! HTTP surface like the API and the pages, above `crate::http`. Nothing
//! here reads the top-level configuration: `crate::server` builds
//! [`SyncLimits`] from it.

pub mod bundle;
pub mod client;
pub mod enroll;
pub mod health;
pub mod server;

use std::path::{Path, PathBuf};

use fundsync_protocol::NodeKey;

use crate::pki::PkiError;

pub use crate::link::{LinkHealth, LinkState, LinkStatus};
pub use fundsync_protocol::wire::{DOWN_HEAD_HEADER, VERSION_HEADER};

/// Limits and timings of the sync protocol (`crate::server` fills them in
/// from the configuration).
#[derive(Debug, Clone)]
pub struct SyncLimits {
    pub batch_entries_max: usize,
    pub batch_bytes_max: usize,
    pub pull_wait_ms: u64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub enroll_token_ms: u64,
    pub health_report_ms: u64,
    pub connections_max: usize,
    pub handshake_timeout_ms: u64,
    pub accept_retry_ms: u64,
    pub pull_wait_max_ms: u64,
    pub pull_poll_ms: u64,
    pub pull_answer_slack_ms: u64,
    pub push_poll_ms: u64,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub idle_close_ms: u64,
}

impl SyncLimits {
    pub fn batch(&self) -> fundsync_protocol::batch::BatchLimits {
        crate::ledger::replica::batch_limits(self.batch_entries_max, self.batch_bytes_max)
    }
}

/// Where a node keeps its entry-signing key, next to its TLS files.
pub fn signing_key_path(tls_dir: &Path) -> PathBuf {
    tls_dir.join("sign.key.pem")
}

/// Loads the node's entry-signing key.
pub fn load_signing_key(tls_dir: &Path) -> Result<NodeKey, PkiError> {
    let path = signing_key_path(tls_dir);
    let pem = std::fs::read_to_string(&path).map_err(|source| PkiError::Io {
        path: path.clone(),
        source,
    })?;
    NodeKey::from_pkcs8_pem(&pem).map_err(|_| PkiError::BadKey)
}

/// Loads the node's signing key, creating it (mode 0600) if there is none.
pub fn load_or_create_signing_key(tls_dir: &Path) -> Result<NodeKey, PkiError> {
    let path = signing_key_path(tls_dir);
    if path.exists() {
        return load_signing_key(tls_dir);
    }
    let key = NodeKey::generate(&mut rand::rngs::OsRng);
    let pem = key.to_pkcs8_pem().map_err(|_| PkiError::BadKey)?;
    crate::pki::write_private(&path, &pem)?;
    Ok(key)
}

/// Rotates the node's entry-signing key.
///
/// The new key is registered in the node's own journal, and the checkpoint
/// covering that entry is signed with the old key and kept, so ancestors
/// learn the new key from an entry the old key vouches for; batches sent
/// later end there. The old key is archived next to the new one
/// (`sign.key.<key id>.pem`) and stays registered, so history signed with it
/// stays verifiable. A running node signs with the key it loaded until it
/// restarts. Returns the new key's id.
pub async fn rotate_signing_key(
    ledger: &crate::ledger::Ledger,
    tls_dir: &Path,
) -> Result<fundsync_protocol::KeyId, RotateError> {
    use fundsync_protocol::body::KeyRegistered;
    let me = ledger.identity().code;
    let old = load_signing_key(tls_dir)?;
    let new = NodeKey::generate(&mut rand::rngs::OsRng);
    let id = ledger
        .submit_one(
            fundsync_protocol::Body::KeyRegistered(KeyRegistered::of(me, &new.verifying_key())),
            &fundsync_protocol::Actor::system(),
        )
        .await?
        .id();
    let entry = ledger
        .entries(me, id.seq.saturating_sub(1), id.seq)
        .await?
        .pop()
        .ok_or(RotateError::Lost)?;
    let cp = old.sign_checkpoint(me, id.seq, entry.hash(), ledger.clock().now_ms());
    ledger.keep_own_checkpoint(&cp).await?;
    let archive = tls_dir.join(format!("sign.key.{}.pem", old.key_id()));
    crate::pki::write_private(&archive, &old.to_pkcs8_pem().map_err(|_| PkiError::BadKey)?)?;
    crate::pki::write_private(
        &signing_key_path(tls_dir),
        &new.to_pkcs8_pem().map_err(|_| PkiError::BadKey)?,
    )?;
    Ok(new.key_id())
}

/// Why a key rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("the key registration entry just recorded cannot be read back")]
    Lost,
}
