//! Journal entries: the unit of truth and of replication.
//!
//! An entry is `(origin, seq, at_ms, prev_hash, kind, body)`. `seq` is dense
//! per origin, from 1; `prev_hash` is the hash of the origin's previous entry
//! (zeros for the first), so an origin's journal is a hash chain and one
//! signature over its head protects everything before it. The hash covers a
//! fixed binary framing of all fields, never re-serialised JSON.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::actor::Actor;
use crate::body::{Body, BodyError};
pub use crate::hash::Hash;
use crate::ids::{EntryId, NodeCode};

/// Largest body accepted, in bytes. Real bodies are a few hundred bytes.
pub const BODY_BYTES_MAX: usize = 16 * 1024;

const ENTRY_DOMAIN: &[u8] = b"fundsync/entry/v1\0";

/// One journal entry with its body still as bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub origin: NodeCode,
    pub seq: u64,
    /// When the origin recorded it, in milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
    pub prev_hash: Hash,
    pub kind: String,
    pub body: Vec<u8>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id())
            .field("kind", &self.kind)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Entry {
    /// Builds the next entry of an origin's chain from a body and the
    /// actor who caused it (inside the hashed bytes, [`Body::encode`]).
    pub fn new(
        origin: NodeCode,
        seq: u64,
        at_ms: i64,
        prev_hash: Hash,
        body: &Body,
        actor: &Actor,
    ) -> Entry {
        Entry {
            origin,
            seq,
            at_ms,
            prev_hash,
            kind: body.kind().to_owned(),
            body: body.encode(actor),
        }
    }

    pub fn id(&self) -> EntryId {
        EntryId {
            origin: self.origin,
            seq: self.seq,
        }
    }

    /// The entry's hash over its canonical framing.
    pub fn hash(&self) -> Hash {
        entry_hash(
            self.origin,
            self.seq,
            self.at_ms,
            &self.prev_hash,
            &self.kind,
            &self.body,
        )
    }

    /// Decodes the body, refusing oversized, unknown or malformed bodies.
    pub fn decode_body(&self) -> Result<Body, BodyError> {
        self.decode_with_actor().map(|(body, _)| body)
    }

    /// [`Entry::decode_body`] with the actor the body names (`None` for an
    /// entry written before actors existed).
    pub fn decode_with_actor(&self) -> Result<(Body, Option<Actor>), BodyError> {
        if self.body.len() > BODY_BYTES_MAX {
            return Err(BodyError::Invalid(format!(
                "entry body of {} bytes exceeds the limit of {BODY_BYTES_MAX}",
                self.body.len()
            )));
        }
        Body::decode(&self.kind, &self.body)
    }
}

/// [`Entry::hash`] of the entry these fields would make, for a caller that
/// hashes before it builds the entry (an import hashes on its parser thread).
pub fn entry_hash(
    origin: NodeCode,
    seq: u64,
    at_ms: i64,
    prev_hash: &Hash,
    kind: &str,
    body: &[u8],
) -> Hash {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(origin.as_str().as_bytes());
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    h.update(prev_hash.0);
    // Kinds are short ASCII names; lengths frame the variable fields.
    h.update(u32::try_from(kind.len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(kind.as_bytes());
    h.update(u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(body);
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ChildRegistered;

    fn entry(seq: u64, prev: Hash) -> Entry {
        let body = Body::ChildRegistered(ChildRegistered {
            code: "652801".parse().unwrap_or_else(|_| unreachable!()),
            name: "库尔勒市".into(),
        });
        Entry::new(
            "652800".parse().unwrap_or_else(|_| unreachable!()),
            seq,
            1_600_000_000_000,
            prev,
            &body,
            &Actor::system(),
        )
    }

    #[test]
    fn hash_covers_every_field() {
        let e = entry(1, Hash::ZERO);
        let h = e.hash();
        let mut changed = vec![];
        let mut x = e.clone();
        x.seq = 2;
        changed.push(x);
        let mut x = e.clone();
        x.at_ms += 1;
        changed.push(x);
        let mut x = e.clone();
        x.prev_hash = Hash([1; 32]);
        changed.push(x);
        let mut x = e.clone();
        x.kind = "category_defined".into();
        changed.push(x);
        let mut x = e.clone();
        x.body.push(b' ');
        changed.push(x);
        let mut x = e.clone();
        x.origin = "652801".parse().unwrap_or_else(|_| unreachable!());
        changed.push(x);
        for c in changed {
            assert_ne!(c.hash(), h, "{c:?}");
        }
        assert_eq!(e.hash(), h);
    }

    #[test]
    fn the_actor_is_hashed() {
        use crate::body::{PaymentRecorded, ENVELOPE_PREFIX};
        let clerk = Actor {
            login: "zhangsan".into(),
            name: "张三".into(),
            role: "treasury".into(),
            addr: "10.1.2.3".into(),
        };
        let payment = || {
            Body::PaymentRecorded(PaymentRecorded {
                voucher_no: "V0001".into(),
                paid_on: "2020-05-01".parse().expect("date"),
                payer: "轮台县财政局".into(),
                payee_name: "某某合作社".into(),
                payee_account: String::new(),
                payee_bank: String::new(),
                amount: "1500.00".parse().expect("amount"),
                function_class: String::new(),
                allocation: "652800-3".parse().expect("id"),
                project: "LT2020-001".into(),
                purpose: String::new(),
            })
        };
        let e = Entry::new(
            "652822".parse().expect("code"),
            1,
            1_600_000_000_000,
            Hash::ZERO,
            &payment(),
            &clerk,
        );
        assert!(e.body.starts_with(ENVELOPE_PREFIX));
        let h = e.hash();
        let at = e
            .body
            .windows(8)
            .position(|w| w == b"zhangsan")
            .expect("login in the bytes");
        let mut altered = e.clone();
        altered.body[at] = b'Z';
        assert_ne!(altered.hash(), h);
        let (_, actor) = altered.decode_with_actor().expect("still decodes");
        assert_eq!(actor.map(|a| a.login), Some("Zhangsan".to_owned()));
        let mut other = e.clone();
        other.body = payment().encode(&Actor::system());
        assert_ne!(other.hash(), h);
    }

    #[test]
    fn hex_round_trip() {
        let h = entry(1, Hash::ZERO).hash();
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }
}
