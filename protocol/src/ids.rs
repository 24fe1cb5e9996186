//! Names of things: nodes (GB/T 2260 division codes), levels, fund origins and
//! journal positions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("node code {0:?} is not a 6-digit administrative division code (GB/T 2260)")]
    NodeCode(String),
    #[error("unknown level {0:?} (expected region, prefecture or county)")]
    Level(String),
    #[error("unknown fund origin {0:?} (expected central, region, prefecture, county or bond)")]
    FundOrigin(String),
    #[error("entry id {0:?} is not of the form CODE-SEQ, like 652800-17")]
    EntryId(String),
}

/// A node's administrative division code, e.g. `652800` (巴音郭楞蒙古自治州).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeCode([u8; 6]);

impl NodeCode {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }

    /// The code's six ASCII digits, as they appear in wire framings.
    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Reads a code from six wire bytes, refusing anything but ASCII digits.
    pub fn from_bytes(b: [u8; 6]) -> Option<NodeCode> {
        b.iter().all(u8::is_ascii_digit).then_some(NodeCode(b))
    }

    /// Whether `other` lies inside this code's division at the given level:
    /// a region `65xxxx` contains `6528xx`, a prefecture `6528xx` contains `652801`.
    pub fn contains(&self, level: Level, other: &NodeCode) -> bool {
        let prefix = match level {
            Level::Region => 2,
            Level::Prefecture => 4,
            Level::County => 6,
        };
        self != other && self.0[..prefix] == other.0[..prefix]
    }
}

impl FromStr for NodeCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return Err(IdError::NodeCode(s.to_owned()));
        }
        let mut a = [0u8; 6];
        a.copy_from_slice(b);
        Ok(Self(a))
    }
}

impl fmt::Display for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeCode({})", self.as_str())
    }
}

impl Serialize for NodeCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident, $err:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(IdError::$err(s.to_owned())) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

str_enum!(
    /// A node's level in the tree.
    Level, Level, { Region => "region", Prefecture => "prefecture", County => "county" }
);

impl Level {
    /// The level of this level's children, if it has any.
    pub fn child(self) -> Option<Level> {
        match self {
            Level::Region => Some(Level::Prefecture),
            Level::Prefecture => Some(Level::County),
            Level::County => None,
        }
    }

    /// The fund origin of money a node at this level budgets itself (本级安排).
    pub fn own_origin(self) -> FundOrigin {
        match self {
            Level::Region => FundOrigin::Region,
            Level::Prefecture => FundOrigin::Prefecture,
            Level::County => FundOrigin::County,
        }
    }
}

str_enum!(
    /// Where money comes from, as the master ledger groups it.
    FundOrigin, FundOrigin, {
        Central => "central",
        Region => "region",
        Prefecture => "prefecture",
        County => "county",
        Bond => "bond",
    }
);

/// A position in an origin's journal: the origin node and its dense sequence
/// number (from 1). Allocations, payments and projects are named by the entry
/// that created them, which makes ids unique across the whole tree without
/// coordination. Written `652800-17`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    pub origin: NodeCode,
    pub seq: u64,
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.origin, self.seq)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({self})")
    }
}

impl FromStr for EntryId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdError::EntryId(s.to_owned());
        let (o, q) = s.split_once('-').ok_or_else(bad)?;
        let origin = o.parse().map_err(|_| bad())?;
        let seq: u64 = q.parse().map_err(|_| bad())?;
        if seq == 0 || q.starts_with('+') || q.starts_with('0') {
            return Err(bad());
        }
        Ok(Self { origin, seq })
    }
}

impl Serialize for EntryId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_codes() {
        let p: NodeCode = "652800".parse().expect("valid");
        let c: NodeCode = "652801".parse().expect("valid");
        let other: NodeCode = "653101".parse().expect("valid");
        assert!(p.contains(Level::Prefecture, &c));
        assert!(!p.contains(Level::Prefecture, &other));
        assert!(!p.contains(Level::Prefecture, &p));
        assert!("65280".parse::<NodeCode>().is_err());
        assert!("65280a".parse::<NodeCode>().is_err());
        assert!("6528001".parse::<NodeCode>().is_err());
    }

    #[test]
    fn entry_ids_round_trip() {
        let id: EntryId = "652800-17".parse().expect("valid");
        assert_eq!(id.seq, 17);
        assert_eq!(id.to_string(), "652800-17");
        for bad in [
            "652800-0",
            "652800-",
            "652800-017",
            "652800-+1",
            "65280-1",
            "652800",
        ] {
            assert!(bad.parse::<EntryId>().is_err(), "{bad}");
        }
    }
}
