//! Enrolment: how a child gets its certificate and its signing key vouched
//! for, with a one-time token from its parent.
//!
//! ```text
//! parent: fundsync enroll --child 652822
//!         → FS1.652822.<secret>.<fingerprint of the tree's root CA>
//! child:  fundsync join --token FS1…
//!   1. GET  /sync/v1/ca    (server not yet verifiable; nothing secret sent)
//!      → the root CA, accepted only if its SHA-256 is the token's fingerprint
//!   2. POST /sync/v1/join  (server now verified: chains to that root and is
//!      the parent's code) with the secret, CSRs and the signing public key
//!      → the child's certificate chain (and, for a prefecture, its CA)
//! ```
//!
//! The parent keeps only a hash of the secret; a token works once and
//! expires. The child's keys never leave it: the parent sees CSRs and a
//! public key. The parent records the child's key as a `key_registered`
//! entry, which travels up (ancestors verify the child's checkpoints with
//! it) and down to the child (which refuses a key that is not its own).

use fundsync_protocol::body::KeyRegistered;
use fundsync_protocol::{Actor, Body, Level, NodeCode, NodeKey, PROTOCOL_VERSION};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ledger::{Ledger, LedgerError};
use crate::pki::{self, Issuer, PkiError, TlsFiles};

pub use fundsync_protocol::wire::{JoinRequest, JoinResponse};
use fundsync_protocol::wire::{CA_PATH, JOIN_PATH, VERSION_HEADER};

/// How long issued certificates are valid, in days.
pub const CERT_VALIDITY_DAYS: u32 = 3 * 366;

/// Why enrolment failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("not an enrolment token (expected FS1.<child code>.<64 hex>.<64 hex>)")]
    BadToken,
    #[error("the token is for node {token}, but this node is {me}")]
    TokenForOther { token: NodeCode, me: NodeCode },
    #[error("the token was not issued by this node, has expired or was already used")]
    TokenRefused,
    #[error(
        "the parent's CA certificate does not match the token's fingerprint: \
         refusing to trust it (wrong URL, or someone in between)"
    )]
    FingerprintMismatch,
    #[error(
        "{0} is not a registered child of this node; register it first (fundsync enroll --name)"
    )]
    NotAChild(NodeCode),
    #[error("a {0} node has no parent to join")]
    NoParent(Level),
    #[error("the parent refused: {0}")]
    Refused(String),
    #[error("cannot reach the parent at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// An enrolment token, as printed by `fundsync enroll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub child: NodeCode,
    pub secret: [u8; 32],
    /// SHA-256 of the DER of the tree's root CA certificate.
    pub ca_fingerprint: [u8; 32],
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FS1.{}.{}.{}",
            self.child,
            hex::encode(self.secret),
            hex::encode(self.ca_fingerprint)
        )
    }
}

impl std::str::FromStr for Token {
    type Err = EnrollError;
    fn from_str(s: &str) -> Result<Token, EnrollError> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let [magic, child, secret, fp] = parts.as_slice() else {
            return Err(EnrollError::BadToken);
        };
        if *magic != "FS1" {
            return Err(EnrollError::BadToken);
        }
        let mut t = Token {
            child: child.parse().map_err(|_| EnrollError::BadToken)?,
            secret: [0; 32],
            ca_fingerprint: [0; 32],
        };
        hex::decode_to_slice(secret, &mut t.secret).map_err(|_| EnrollError::BadToken)?;
        hex::decode_to_slice(fp, &mut t.ca_fingerprint).map_err(|_| EnrollError::BadToken)?;
        Ok(t)
    }
}

fn secret_hash(secret: &[u8; 32]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

/// At the parent: registers `child` if `name` is given and it is new, and
/// creates a one-time token for it, valid for `valid_ms`.
pub async fn create_token(
    ledger: &Ledger,
    files: &TlsFiles,
    child: NodeCode,
    name: Option<&str>,
    valid_ms: u64,
) -> Result<Token, EnrollError> {
    let me = ledger.identity().code;
    let registered = ledger
        .nodes()
        .await?
        .iter()
        .any(|n| n.code == child.as_str() && n.parent.as_deref() == Some(me.as_str()));
    if !registered {
        let Some(name) = name else {
            return Err(EnrollError::NotAChild(child));
        };
        ledger
            .submit_one(
                Body::ChildRegistered(fundsync_protocol::body::ChildRegistered {
                    code: child,
                    name: name.to_owned(),
                }),
                &Actor::system(),
            )
            .await?;
    }
    let root = pki::read_pem(&files.root())?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let expires = ledger
        .clock()
        .now_ms()
        .saturating_add(i64::try_from(valid_ms).unwrap_or(i64::MAX));
    let mut work = ledger.begin().await?;
    work.add_enroll_token(child, secret_hash(&secret), expires)
        .await?;
    work.commit().await?;
    Ok(Token {
        child,
        secret,
        ca_fingerprint: pki::fingerprint(&root)?,
    })
}

/// At the parent: the token secret and the signing key a join request
/// carries, checked for shape before anything is looked up (the fuzz
/// target `join` runs every request through this).
pub fn read_join(
    req: &JoinRequest,
) -> Result<([u8; 32], ed25519_dalek::VerifyingKey), EnrollError> {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&req.secret, &mut secret).map_err(|_| EnrollError::BadToken)?;
    let mut b = [0u8; 32];
    hex::decode_to_slice(&req.sign_public_key, &mut b)
        .map_err(|_| EnrollError::Refused("sign_public_key is not 64 hex digits".into()))?;
    let sign_key = ed25519_dalek::VerifyingKey::from_bytes(&b)
        .map_err(|_| EnrollError::Refused("sign_public_key is not an ed25519 key".into()))?;
    Ok((secret, sign_key))
}

/// At the child: the parent's signing keys its join answer names.
pub fn parent_keys(answer: &JoinResponse) -> Result<Vec<ed25519_dalek::VerifyingKey>, PkiError> {
    answer
        .parent_keys
        .iter()
        .map(|k| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(k, &mut b).map_err(|_| PkiError::BadKey)?;
            ed25519_dalek::VerifyingKey::from_bytes(&b).map_err(|_| PkiError::BadKey)
        })
        .collect()
}

/// At the parent: checks a join request against its token, certifies the
/// child and registers its signing key, in one transaction with using up
/// the token.
pub async fn answer_join(
    ledger: &Ledger,
    issuer: &Issuer,
    root_pem: &str,
    key: &NodeKey,
    req: JoinRequest,
) -> Result<JoinResponse, EnrollError> {
    let (secret, sign_key) = read_join(&req)?;
    let now = ledger.clock().now_ms();
    let mut work = ledger.begin().await?;
    if !work
        .use_enroll_token(req.child, secret_hash(&secret), now)
        .await?
    {
        return Err(EnrollError::TokenRefused);
    }
    let child_level = ledger
        .identity()
        .level
        .child()
        .ok_or(LedgerError::NoChildren)?;
    let chain_pem = issuer.issue_leaf(req.child, &req.csr_pem, now, CERT_VALIDITY_DAYS)?;
    let issuer_cert_pem = match (child_level, &req.issuer_csr_pem) {
        (Level::County, _) => None,
        (_, Some(csr)) => {
            Some(issuer.issue_intermediate(req.child, csr, now, CERT_VALIDITY_DAYS)?)
        }
        (_, None) => {
            return Err(EnrollError::Refused(format!(
                "a {child_level} node certifies its own children: send issuer_csr_pem"
            )))
        }
    };
    work.record(
        Body::KeyRegistered(KeyRegistered::of(req.child, &sign_key)),
        &Actor::system(),
    )
    .await?;
    work.commit().await?;
    let me = ledger.identity().code;
    let mut parent_keys: Vec<String> = ledger
        .keys_of(me)
        .await?
        .iter()
        .map(|k| hex::encode(k.as_bytes()))
        .collect();
    let current = hex::encode(key.verifying_key().as_bytes());
    parent_keys.retain(|k| k != &current);
    parent_keys.push(current);
    Ok(JoinResponse {
        chain_pem,
        root_pem: root_pem.to_owned(),
        issuer_cert_pem,
        parent_keys,
    })
}

fn http(config: std::sync::Arc<rustls::ClientConfig>) -> Result<reqwest::Client, EnrollError> {
    reqwest::Client::builder()
        .use_preconfigured_tls((*config).clone())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| EnrollError::Unreachable {
            url: String::new(),
            message: e.to_string(),
        })
}

fn unreachable_err(url: &str, e: reqwest::Error) -> EnrollError {
    EnrollError::Unreachable {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// At the child: joins the parent at `parent_url` with `token`, writing the
/// TLS files and the signing key into `files`, and trusting the parent's
/// signing keys. The signing key is created if there is none yet.
pub async fn join(
    ledger: &Ledger,
    files: &TlsFiles,
    parent_url: &str,
    token: &Token,
) -> Result<(), EnrollError> {
    let me = ledger.identity().clone();
    if token.child != me.code {
        return Err(EnrollError::TokenForOther {
            token: token.child,
            me: me.code,
        });
    }
    let parent = me.parent.ok_or(EnrollError::NoParent(me.level))?;
    let base = parent_url.trim_end_matches('/');

    // 1. The root, checked against the token's fingerprint.
    let url = format!("{base}{CA_PATH}");
    let res = http(pki::client_config_unverified()?)?
        .get(&url)
        .header(VERSION_HEADER, PROTOCOL_VERSION)
        .send()
        .await
        .map_err(|e| unreachable_err(&url, e))?;
    if !res.status().is_success() {
        return Err(EnrollError::Refused(res.text().await.unwrap_or_default()));
    }
    let root_pem = res.text().await.map_err(|e| unreachable_err(&url, e))?;
    if pki::fingerprint(&root_pem)? != token.ca_fingerprint {
        return Err(EnrollError::FingerprintMismatch);
    }

    // 2. Keys and requests, then the join over a verified connection.
    let sign = super::load_or_create_signing_key(&files.dir)?;
    let (tls_key, csr) = pki::key_and_csr(me.code)?;
    let issuer_key = match me.level {
        Level::Prefecture => Some(pki::key_and_csr(me.code)?),
        _ => None,
    };
    let req = JoinRequest {
        child: me.code,
        secret: hex::encode(token.secret),
        csr_pem: csr,
        issuer_csr_pem: issuer_key.as_ref().map(|(_, csr)| csr.clone()),
        sign_public_key: hex::encode(sign.verifying_key().as_bytes()),
    };
    let url = format!("{base}{JOIN_PATH}");
    let res = http(pki::client_config_anonymous(&root_pem, parent)?)?
        .post(&url)
        .header(VERSION_HEADER, PROTOCOL_VERSION)
        .json(&req)
        .send()
        .await
        .map_err(|e| unreachable_err(&url, e))?;
    if !res.status().is_success() {
        return Err(EnrollError::Refused(res.text().await.unwrap_or_default()));
    }
    let answer: JoinResponse = res.json().await.map_err(|e| unreachable_err(&url, e))?;
    if pki::fingerprint(&answer.root_pem)? != token.ca_fingerprint {
        return Err(EnrollError::FingerprintMismatch);
    }
    files.save_node(&tls_key, &answer.chain_pem, &answer.root_pem)?;
    if let (Some((key, _)), Some(cert)) = (issuer_key, answer.issuer_cert_pem.as_deref()) {
        files.save_issuer(cert, &key)?;
    }
    let keys = parent_keys(&answer)?;
    ledger.trust_parent_keys(&keys).await?;
    Ok(())
}

/// At the region, once: creates the tree's root CA, the region's own TLS
/// certificate and its signing key, and registers that key in its journal.
/// Does nothing if the files exist.
pub async fn setup_root(ledger: &Ledger, files: &TlsFiles) -> Result<(), EnrollError> {
    let me = ledger.identity().clone();
    if me.parent.is_some() {
        return Err(EnrollError::Refused(
            "only the top node creates the root CA; other nodes join their parent".into(),
        ));
    }
    if !files.issuer_cert().exists() {
        let now = ledger.clock().now_ms();
        let (ca_pem, ca_key) = pki::root_ca(me.code, &me.name, now, 10 * 366)?;
        files.save_issuer(&ca_pem, &ca_key)?;
        let issuer = files.load_issuer()?;
        let (key, csr) = pki::key_and_csr(me.code)?;
        let chain = issuer.issue_leaf(me.code, &csr, now, CERT_VALIDITY_DAYS)?;
        files.save_node(&key, &chain, &ca_pem)?;
    }
    let sign = super::load_or_create_signing_key(&files.dir)?;
    ledger
        .submit_one(
            Body::KeyRegistered(KeyRegistered::of(me.code, &sign.verifying_key())),
            &Actor::system(),
        )
        .await?;
    Ok(())
}
