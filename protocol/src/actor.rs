//! Who caused an entry: the person (or the node itself) named inside the
//! entry's hashed and signed bytes, so that every ancestor sees who at a
//! county recorded or reversed a payment and no relay can change it.
//!
//! How an actor travels inside a body, and how entries written before actors
//! existed keep verifying, is [`crate::body`]'s and [`crate::version`]'s.

use serde::{Deserialize, Serialize};

/// The login of the node's own actor: entries the node makes by itself
/// (sync, the scheduler, warnings).
pub const SYSTEM_LOGIN: &str = "system";

/// A person, or the node itself, as recorded in an entry.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The login name at the origin node (unique there, never reused).
    pub login: String,
    /// The display name, e.g. 张三.
    pub name: String,
    /// The role the action was taken in, e.g. `treasury` (the node's role
    /// names; `system` for the node itself).
    pub role: String,
    /// The client's address as the node saw it; empty for the node itself.
    pub addr: String,
}

impl Actor {
    /// The node itself.
    pub fn system() -> Actor {
        Actor {
            login: SYSTEM_LOGIN.to_owned(),
            name: "系统".to_owned(),
            role: SYSTEM_LOGIN.to_owned(),
            addr: String::new(),
        }
    }

    pub fn is_system(&self) -> bool {
        self.login == SYSTEM_LOGIN
    }
}
