//! Money on the wire: exact yuan with at most two decimal places (fen).
//!
//! `Amount` is the only way money enters the system. It is a positive
//! `Decimal` with scale ≤ 2 and an upper bound, so every stored figure fits an
//! `i64` count of fen with room for sums. Amounts travel as decimal strings
//! (`"1234.56"`), never as JSON numbers: a JSON number would pass through a
//! float in most clients.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest single amount accepted: 1 trillion yuan (10^12), far above any
/// real earmarked transfer, and small enough that ten million of them still sum
/// within `i64` fen.
pub const AMOUNT_MAX_YUAN: i64 = 1_000_000_000_000;

/// Why a string or decimal is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0:?} is not a decimal number")]
    NotANumber(String),
    #[error("amount {0} must be greater than zero")]
    NotPositive(Decimal),
    #[error("amount {0} has more than 2 decimal places (the smallest unit is 1 fen, 0.01 yuan)")]
    TooPrecise(Decimal),
    #[error("amount {0} exceeds the maximum of {AMOUNT_MAX_YUAN} yuan")]
    TooLarge(Decimal),
    #[error("sum of amounts overflows")]
    Overflow,
}

/// A positive amount of money in yuan, exact to the fen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

impl Amount {
    /// Validates a decimal as an amount.
    pub fn new(value: Decimal) -> Result<Self, AmountError> {
        if value <= Decimal::ZERO {
            return Err(AmountError::NotPositive(value));
        }
        // `normalize` drops trailing zeros, so "12.300" counts as 1 place.
        if value.normalize().scale() > 2 {
            return Err(AmountError::TooPrecise(value));
        }
        if value > Decimal::from(AMOUNT_MAX_YUAN) {
            return Err(AmountError::TooLarge(value));
        }
        let mut v = value;
        v.rescale(2);
        Ok(Self(v))
    }

    /// An amount from a whole number of fen (as stored).
    pub fn from_fen(fen: i64) -> Result<Self, AmountError> {
        Self::new(Decimal::new(fen, 2))
    }

    /// The amount in fen. Cannot fail: the bound keeps it far inside `i64`.
    pub fn fen(self) -> i64 {
        let m = self.0.mantissa();
        // scale is always 2 after `new`, and |m| ≤ 10^14.
        i64::try_from(m).unwrap_or(i64::MAX)
    }

    /// The amount in yuan.
    pub fn yuan(self) -> Decimal {
        self.0
    }

    /// Converts 万元 (ten-thousands of yuan, as the seeds and officers write
    /// figures) into yuan, checking the result is a valid amount.
    pub fn from_wan(wan: Decimal) -> Result<Self, AmountError> {
        let yuan = wan
            .checked_mul(Decimal::from(10_000))
            .ok_or(AmountError::Overflow)?;
        Self::new(yuan)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        // Reject exponents and stray characters: only digits, one point, no sign but "-"
        // (so a negative amount is reported as such, not as "not a number").
        let well_formed = !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            && t.matches('.').count() <= 1
            && !t[1..].contains('-');
        if !well_formed {
            return Err(AmountError::NotANumber(s.to_owned()));
        }
        let d = Decimal::from_str_exact(t).map_err(|_| AmountError::NotANumber(s.to_owned()))?;
        Self::new(d)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount in yuan as a decimal string, like \"1234.56\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Formats a signed number of fen as yuan with two decimals ("-12.30").
pub fn fen_to_yuan(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!("12".parse::<Amount>().map(|a| a.fen()), Ok(1200));
        assert_eq!(
            "12.3".parse::<Amount>().map(|a| a.to_string()),
            Ok("12.30".into())
        );
        assert_eq!("0.01".parse::<Amount>().map(|a| a.fen()), Ok(1));
        assert_eq!("12.300".parse::<Amount>().map(|a| a.fen()), Ok(1230));
    }

    #[test]
    fn rejects_bad_amounts() {
        assert!(matches!(
            "0".parse::<Amount>(),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            "-5".parse::<Amount>(),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            "1.001".parse::<Amount>(),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            "1e5".parse::<Amount>(),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            "".parse::<Amount>(),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            "1,000".parse::<Amount>(),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            "1-2".parse::<Amount>(),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            "99999999999999999999999999".parse::<Amount>(),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            "999999999999999999999999999999999".parse::<Amount>(),
            Err(AmountError::NotANumber(_))
        ));
    }

    #[test]
    fn wan_conversion_is_exact() {
        let a = Amount::from_wan(Decimal::from_str_exact("142.922302").unwrap_or_default());
        assert_eq!(a.map(|a| a.to_string()), Ok("1429223.02".into()));
        assert!(matches!(
            Amount::from_wan(Decimal::from_str_exact("0.0000001").unwrap_or_default()),
            Err(AmountError::TooPrecise(_))
        ));
    }

    #[test]
    fn json_is_a_string_only() {
        let a: Result<Amount, _> = serde_json::from_str("\"5.10\"");
        assert_eq!(a.map(|a| a.fen()).ok(), Some(510));
        assert!(serde_json::from_str::<Amount>("5.1").is_err());
        assert_eq!(
            serde_json::to_string(&Amount::from_fen(510).ok()).ok(),
            Some("\"5.10\"".into())
        );
    }
}
