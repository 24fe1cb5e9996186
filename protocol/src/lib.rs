//! fundsync's wire layer: what nodes say to each other and how it is protected.
//!
//! This crate is an API boundary. It holds the journal entry types, their
//! canonical encoding and hashing, money, (for sync) signing, and the HTTP
//! contract between nodes ([`wire`]: paths, headers, JSON answers, error
//! codes): a second implementation of a node needs this crate only. It
//! depends on no runtime, web framework or database, so it can be read,
//! fuzzed and reused on its own; the node crate depends on it, never the
//! other way round.
//!
//! Modules, bottom up (none imports one above it): `ids`, `money`, `hash`,
//! `version`, `actor`; `body`; `entry`; `sign`; `batch`; `down`; `wire`.

#![forbid(unsafe_code)]

pub mod actor;
pub mod batch;
pub mod body;
pub mod down;
pub mod entry;
pub mod hash;
pub mod ids;
pub mod money;
#[cfg(feature = "schema")]
pub mod schema;
pub mod sign;
pub mod version;
pub mod wire;

pub use actor::Actor;
pub use batch::{
    checkpoint_for, verify_batch, Batch, BatchError, BatchLimits, Head, Keys, Verified,
};
pub use body::Body;
pub use down::{
    build_down_batch, verify_down, DownBatch, DownCheckpoint, DownError, DownState,
    SignedDownCheckpoint, VerifiedDown,
};
pub use entry::Entry;
pub use hash::{Hash, KeyId};
pub use ids::{EntryId, FundOrigin, Level, NodeCode};
pub use money::Amount;
pub use sign::{Checkpoint, NodeKey, SignedCheckpoint};
pub use version::{check_version, PROTOCOL_VERSION};
pub use wire::{ErrorBody, ErrorCode};
