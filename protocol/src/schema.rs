//! JSON Schemas of the wire types whose JSON is written by hand (behind the
//! optional `schema` feature, so the crate stays free of it by default): the
//! node's OpenAPI description (`node/src/openapi.rs`) is generated from the
//! body structs' `schemars` derives, which reach these types.
//!
//! Each schema says what the type's `Deserialize` accepts in its canonical
//! form: amounts are decimal strings with at most two decimals, never JSON
//! numbers; ids are strings of a fixed shape.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use crate::hash::{Hash, KeyId};
use crate::ids::{EntryId, NodeCode};
use crate::money::{Amount, AMOUNT_MAX_YUAN};

/// An amount's canonical text: digits, then at most two decimals.
pub const AMOUNT_PATTERN: &str = r"^[0-9]{1,13}(\.[0-9]{1,2})?$";
/// A signed decimal in yuan as the answers write it (balances may be negative).
pub const DECIMAL_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";
/// A division code.
pub const NODE_CODE_PATTERN: &str = r"^[0-9]{6}$";
/// An entry id, `CODE-SEQ`.
pub const ENTRY_ID_PATTERN: &str = r"^[0-9]{6}-[1-9][0-9]*$";

impl JsonSchema for Amount {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": format!(
                "Yuan as a decimal string, greater than zero, at most two decimals, at most {AMOUNT_MAX_YUAN}; never a JSON number"
            ),
            "examples": ["30000.00"],
        })
    }
}

impl JsonSchema for NodeCode {
    fn schema_name() -> Cow<'static, str> {
        "NodeCode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": NODE_CODE_PATTERN,
            "description": "A 6-digit administrative division code (GB/T 2260)",
            "examples": ["652800"],
        })
    }
}

impl JsonSchema for EntryId {
    fn schema_name() -> Cow<'static, str> {
        "EntryId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": ENTRY_ID_PATTERN,
            "description": "A journal position, origin node and sequence number",
            "examples": ["652800-17"],
        })
    }
}

impl JsonSchema for Hash {
    fn schema_name() -> Cow<'static, str> {
        "Hash".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "A SHA-256 digest in hex"})
    }
}

impl JsonSchema for KeyId {
    fn schema_name() -> Cow<'static, str> {
        "KeyId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[0-9a-f]{16}$", "description": "A key's id in hex"})
    }
}

/// The schema of a `Decimal` written as a string (`rust_decimal::serde::str`
/// and the `serde-with-str` default): for `#[schemars(with = …)]`-free use
/// through `schema_with`.
pub fn decimal_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": DECIMAL_PATTERN, "description": "A decimal number as a string"})
}
