//! Node keys and signed checkpoints.
//!
//! An origin does not sign entries one by one: it signs a checkpoint naming
//! the hash of its chain's head, and the hash chain carries that signature
//! back over every earlier entry. This keeps signing and verification off the
//! per-entry path, and lets relays forward an origin's checkpoints untouched,
//! so a region can check a county's signature without trusting the prefecture
//! in between. Signatures cover a fixed binary framing (never re-serialised
//! JSON) and are checked with ed25519 strict verification.

use std::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::hash::Hash;
pub use crate::hash::KeyId;
use crate::ids::NodeCode;

/// Why a node key could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PKCS#8 PEM ed25519 private key: {0}")]
    Pem(String),
}

/// Why a checkpoint did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("checkpoint {origin}-{seq} names key {claimed}, but the key given has id {actual}")]
    KeyMismatch {
        origin: NodeCode,
        seq: u64,
        claimed: KeyId,
        actual: KeyId,
    },
    #[error("signature on checkpoint {origin}-{seq} does not verify with key {key_id}")]
    BadSignature {
        origin: NodeCode,
        seq: u64,
        key_id: KeyId,
    },
}

/// A node's ed25519 signing key.
pub struct NodeKey {
    key: SigningKey,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("key_id", &self.key_id())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl NodeKey {
    /// A fresh key from a cryptographically secure RNG.
    pub fn generate<R: CryptoRng + RngCore>(rng: &mut R) -> NodeKey {
        NodeKey {
            key: SigningKey::generate(rng),
        }
    }

    /// The key whose secret is this 32-byte seed (for tests and key import).
    pub fn from_seed(seed: &[u8; 32]) -> NodeKey {
        NodeKey {
            key: SigningKey::from_bytes(seed),
        }
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<NodeKey, KeyError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        Ok(NodeKey { key })
    }

    /// The key as PKCS#8 PEM; the buffer is wiped when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Pem(e.to_string()))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key.verifying_key())
    }

    /// Signs `origin`'s chain head: entry `seq` with hash `head`.
    pub fn sign_checkpoint(
        &self,
        origin: NodeCode,
        seq: u64,
        head: Hash,
        at_ms: i64,
    ) -> SignedCheckpoint {
        let checkpoint = Checkpoint {
            origin,
            seq,
            head,
            key_id: self.key_id(),
            at_ms,
        };
        let signature = self.sign_bytes(&checkpoint.signing_bytes());
        SignedCheckpoint {
            checkpoint,
            signature,
        }
    }
}

impl NodeKey {
    /// Signs exact bytes. Every caller frames them with a domain of its own
    /// (see [`signing_bytes`]), so a signature on one kind of statement can
    /// never be passed off as another.
    pub(crate) fn sign_bytes(&self, bytes: &[u8]) -> [u8; 64] {
        self.key.sign(bytes).to_bytes()
    }
}

/// `domain` followed by the fields `write` appends: the exact bytes a
/// statement's signer signs.
pub(crate) fn signing_bytes(
    domain: &[u8],
    fields_bytes: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + fields_bytes);
    out.extend_from_slice(domain);
    write(&mut out);
    out
}

/// How a signature failed, for the caller to say on what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureFailure {
    /// The key given is not the one the statement names.
    KeyMismatch {
        actual: KeyId,
    },
    BadSignature,
}

/// Checks that `key` is the key named `claimed` and that it signed exactly
/// `bytes` (strict ed25519 verification).
pub(crate) fn verify_signature(
    key: &VerifyingKey,
    claimed: KeyId,
    bytes: &[u8],
    signature: &[u8; 64],
) -> Result<(), SignatureFailure> {
    let actual = KeyId::of(key);
    if actual != claimed {
        return Err(SignatureFailure::KeyMismatch { actual });
    }
    key.verify_strict(bytes, &Signature::from_bytes(signature))
        .map_err(|_| SignatureFailure::BadSignature)
}

const CHECKPOINT_DOMAIN: &[u8] = b"fundsync/checkpoint/v1\0";

/// An origin's statement that entry `seq` of its journal has hash `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub origin: NodeCode,
    pub seq: u64,
    pub head: Hash,
    pub key_id: KeyId,
    /// When the origin signed it, in milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
}

impl Checkpoint {
    /// Length of the fields in their fixed framing, without the domain prefix.
    pub const FIELDS_BYTES: usize = 6 + 8 + 32 + 8 + 8;

    /// The exact bytes the origin signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(CHECKPOINT_DOMAIN, Self::FIELDS_BYTES, |out| {
            self.write_fields(out);
        })
    }

    /// Appends the fields in their fixed framing; batches reuse it on the wire.
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.origin.as_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.head.0);
        out.extend_from_slice(&self.key_id.0);
        out.extend_from_slice(&self.at_ms.to_be_bytes());
    }
}

/// A checkpoint with the origin's signature over its [`Checkpoint::signing_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    #[serde(with = "signature_hex")]
    pub signature: [u8; 64],
}

impl SignedCheckpoint {
    /// Checks that `key` is the key the checkpoint names and that it signed
    /// exactly these fields (strict ed25519 verification).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), SignError> {
        let c = &self.checkpoint;
        verify_signature(key, c.key_id, &c.signing_bytes(), &self.signature).map_err(|f| match f {
            SignatureFailure::KeyMismatch { actual } => SignError::KeyMismatch {
                origin: c.origin,
                seq: c.seq,
                claimed: c.key_id,
                actual,
            },
            SignatureFailure::BadSignature => SignError::BadSignature {
                origin: c.origin,
                seq: c.seq,
                key_id: c.key_id,
            },
        })
    }
}

pub(crate) mod signature_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(sig))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(s.as_ref(), &mut sig)
            .map_err(|_| serde::de::Error::custom("expected 128 hex digits"))?;
        Ok(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn code(s: &str) -> NodeCode {
        s.parse().expect("valid node code")
    }

    #[test]
    fn key_id_is_sha256_prefix_of_public_key() {
        let key = NodeKey::from_seed(&[7; 32]);
        let digest = Sha256::digest(key.verifying_key().as_bytes());
        assert_eq!(key.key_id().0[..], digest[..8]);
        let hex = key.key_id().to_string();
        assert_eq!(hex.len(), 16);
        assert_eq!(hex.parse::<KeyId>(), Ok(key.key_id()));
        let json = serde_json::to_string(&key.key_id()).expect("serialise");
        assert_eq!(json, format!("\"{hex}\""));
        assert_eq!(
            serde_json::from_str::<KeyId>(&json).expect("parse"),
            key.key_id()
        );
        assert!(serde_json::from_str::<KeyId>("\"abc\"").is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let seed = [0xAB; 32];
        let key = NodeKey::from_seed(&seed);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.key_id().to_string()), "{shown}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn pem_round_trip() {
        let key = NodeKey::generate(&mut rand::rngs::OsRng);
        let pem = key.to_pkcs8_pem().expect("encode");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = NodeKey::from_pkcs8_pem(&pem).expect("decode");
        assert_eq!(back.key_id(), key.key_id());
        assert!(matches!(
            NodeKey::from_pkcs8_pem("not a key"),
            Err(KeyError::Pem(_))
        ));
    }

    #[test]
    fn signing_bytes_framing() {
        let c = Checkpoint {
            origin: code("652801"),
            seq: 0x0102,
            head: Hash([9; 32]),
            key_id: KeyId([1, 2, 3, 4, 5, 6, 7, 8]),
            at_ms: -1,
        };
        let b = c.signing_bytes();
        let mut want = b"fundsync/checkpoint/v1\x00652801".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        want.extend_from_slice(&[9; 32]);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.extend_from_slice(&[0xFF; 8]);
        assert_eq!(b, want);
    }

    #[test]
    fn sign_and_verify() {
        let key = NodeKey::from_seed(&[1; 32]);
        let cp = key.sign_checkpoint(code("652801"), 5, Hash([3; 32]), 1_700_000_000_000);
        assert_eq!(cp.checkpoint.key_id, key.key_id());
        assert_eq!(cp.verify(&key.verifying_key()), Ok(()));

        let json = serde_json::to_string(&cp).expect("serialise");
        let back: SignedCheckpoint = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, cp);
    }

    #[test]
    fn every_field_is_signed() {
        let key = NodeKey::from_seed(&[1; 32]);
        let cp = key.sign_checkpoint(code("652801"), 5, Hash([3; 32]), 1_700_000_000_000);
        let mut changed = vec![];
        let mut x = cp;
        x.checkpoint.origin = code("652802");
        changed.push(x);
        let mut x = cp;
        x.checkpoint.seq += 1;
        changed.push(x);
        let mut x = cp;
        x.checkpoint.head = Hash([4; 32]);
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
                    Err(SignError::BadSignature { .. })
                ),
                "{x:?}"
            );
        }
    }

    #[test]
    fn key_must_match_key_id() {
        let key = NodeKey::from_seed(&[1; 32]);
        let other = NodeKey::from_seed(&[2; 32]);
        let cp = key.sign_checkpoint(code("652801"), 5, Hash([3; 32]), 0);
        assert!(matches!(
            cp.verify(&other.verifying_key()),
            Err(SignError::KeyMismatch { claimed, actual, .. })
                if claimed == key.key_id() && actual == other.key_id()
        ));

        // A forger who names the other key's id still fails on the signature.
        let mut forged = cp;
        forged.checkpoint.key_id = other.key_id();
        assert!(matches!(
            forged.verify(&other.verifying_key()),
            Err(SignError::BadSignature { .. })
        ));
    }
}
