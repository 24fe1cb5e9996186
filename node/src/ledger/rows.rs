//! Decoding stored values into domain types. Text columns hold codes, ids
//! and dates the ledger wrote itself, so one that does not parse means the
//! database was changed behind the ledger's back: [`StoreError::Corrupt`].
//! Every read of the ledger (query, replica, enrolment) decodes through
//! these, rather than each keeping its own copy.

use chrono::NaiveDate;
use fundsync_protocol::{EntryId, Hash, NodeCode};

use super::LedgerError;
use crate::store::StoreError;

/// Stored data that does not decode.
pub(crate) fn corrupt(what: impl Into<String>) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt(what.into()))
}

/// An entry id column (`652800-17`).
pub(crate) fn parse_id(s: &str) -> Result<EntryId, LedgerError> {
    s.parse()
        .map_err(|_| corrupt(format!("bad entry id {s:?}")))
}

/// A division code column.
pub(crate) fn parse_code(s: &str) -> Result<NodeCode, LedgerError> {
    s.parse()
        .map_err(|_| corrupt(format!("bad node code {s:?}")))
}

/// An ISO date column.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, LedgerError> {
    s.parse().map_err(|_| corrupt(format!("bad date {s:?}")))
}

/// A hash column.
pub(crate) fn hash_of(b: &[u8], what: &str) -> Result<Hash, LedgerError> {
    Hash::from_slice(b).ok_or_else(|| corrupt(what))
}

/// A seq (or other count) as the database stores it.
pub(crate) fn seq_i64(seq: u64) -> Result<i64, LedgerError> {
    i64::try_from(seq).map_err(|_| LedgerError::Overflow)
}

/// A stored seq (or other count) back.
pub(crate) fn seq_u64(v: i64) -> Result<u64, LedgerError> {
    u64::try_from(v).map_err(|_| LedgerError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_stored_values_are_corrupt_not_panics() {
        assert!(matches!(
            parse_id("x"),
            Err(LedgerError::Store(StoreError::Corrupt(_)))
        ));
        assert!(parse_code("65280").is_err());
        assert!(parse_date("2020-13-01").is_err());
        assert!(hash_of(&[0; 31], "h").is_err());
        assert!(matches!(seq_u64(-1), Err(LedgerError::Overflow)));
        assert!(matches!(seq_i64(u64::MAX), Err(LedgerError::Overflow)));
        assert_eq!(seq_u64(seq_i64(7).expect("fits")).expect("fits"), 7);
    }
}
