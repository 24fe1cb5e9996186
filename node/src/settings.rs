//! Settings defined once. A field's doc comment, default and environment
//! variable come from one declaration in [`settings!`], which generates the
//! struct, its defaults, the `FUNDSYNC_*` overrides, and the commented file
//! `fundsync init` writes. Before, each field was written five times and the
//! copies drifted (`[warnings]` had no overrides at all).
//!
//! The environment name is derived, never written: `FUNDSYNC_<FIELD>` for a
//! top-level field, `FUNDSYNC_<SECTION>_<FIELD>` for a field of a section
//! such as `[warnings]`.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use chrono::NaiveDate;
use fundsync_protocol::{Amount, Level, NodeCode};

/// An environment variable whose value does not fit its field.
#[derive(Debug)]
pub struct EnvError {
    pub var: String,
    pub message: String,
}

/// A field without a default that neither the file nor the environment set.
#[derive(Debug)]
pub struct MissingField(pub &'static str);

impl fmt::Display for MissingField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "missing field `{}`", self.0)
    }
}

/// A value an environment variable can set.
pub trait FromEnv: Sized {
    fn from_env(s: &str) -> Result<Self, String>;
}

macro_rules! from_env_whole_number {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn from_env(s: &str) -> Result<Self, String> {
                s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))
            }
        }
    )*};
}
from_env_whole_number!(u16, u32, u64, usize);

macro_rules! from_env_parse {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn from_env(s: &str) -> Result<Self, String> {
                s.trim().parse().map_err(|e| format!("{s:?}: {e}"))
            }
        }
    )*};
}
from_env_parse!(NodeCode, Level, Amount);

impl FromEnv for bool {
    fn from_env(s: &str) -> Result<Self, String> {
        match s.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{s:?} is not true or false")),
        }
    }
}

impl FromEnv for String {
    fn from_env(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
}

impl FromEnv for PathBuf {
    fn from_env(s: &str) -> Result<Self, String> {
        Ok(PathBuf::from(s))
    }
}

impl<T: FromEnv> FromEnv for Option<T> {
    fn from_env(s: &str) -> Result<Self, String> {
        T::from_env(s).map(Some)
    }
}

/// A calendar date setting. In the file it is a date as a string
/// (`dates_from = "2000-01-01"`, as `init` writes it) or a TOML local date
/// (`dates_from = 2000-01-01`); in the environment, `2000-01-01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDate(pub NaiveDate);

impl fmt::Display for ConfigDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromEnv for ConfigDate {
    fn from_env(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map(ConfigDate)
            .map_err(|_| format!("{s:?} is not a date like 2000-01-01"))
    }
}

/// Written as a string, `"2000-01-01"` (`toml::Value` has no serde path to
/// a TOML date), like `[warnings]` `as_of`.
impl serde::Serialize for ConfigDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ConfigDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, Error as _};
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = ConfigDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date like 2000-01-01")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ConfigDate, E> {
                ConfigDate::from_env(s).map_err(E::custom)
            }
            // A TOML date reaches serde as toml's datetime map.
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ConfigDate, A::Error> {
                let dt: toml::value::Datetime =
                    de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                match dt {
                    toml::value::Datetime {
                        date: Some(d),
                        time: None,
                        offset: None,
                    } => NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                        .map(ConfigDate)
                        .ok_or_else(|| A::Error::custom(format!("{dt} is not a date"))),
                    _ => Err(A::Error::custom(format!(
                        "{dt}: expected a date without a time, like 2000-01-01"
                    ))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A list: comma-separated, each item trimmed, empty items dropped.
impl FromEnv for Vec<String> {
    fn from_env(s: &str) -> Result<Self, String> {
        Ok(s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// What [`settings!`] generates for a struct.
pub trait Settings: Sized {
    /// Every field optional: what the file and the environment gave.
    type Raw: Default + serde::de::DeserializeOwned;
    /// The keys, in the order of the declaration (sections last).
    const KEYS: &'static [&'static str];
    /// Sets each field named by a `{prefix}{FIELD}` variable, and each
    /// section's fields by `{prefix}{SECTION}_{FIELD}`.
    fn apply_env(
        raw: &mut Self::Raw,
        prefix: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), EnvError>;
    /// Fills in the defaults; fails on a missing field that has none.
    fn from_raw(raw: Self::Raw) -> Result<Self, MissingField>;
    /// Writes every field as `key = value` under its doc comment, then each
    /// section under its `[name]` header.
    fn write_fields(&self, out: &mut String);
}

/// One field of the commented file: its doc lines as comments, then the
/// value, or a commented-out empty value when it has none.
pub fn write_field(out: &mut String, docs: &[&str], key: &str, value: Option<toml::Value>) {
    out.push('\n');
    for d in docs {
        let _ = writeln!(out, "#{d}");
    }
    let _ = match value {
        Some(v) => writeln!(out, "{key} = {v}"),
        None => writeln!(out, "# {key} = \"\""),
    };
}

/// A section of the commented file: its doc, its header, its fields.
pub fn write_section<S: Settings>(out: &mut String, docs: &[&str], key: &str, section: &S) {
    out.push('\n');
    for d in docs {
        let _ = writeln!(out, "#{d}");
    }
    let _ = writeln!(out, "[{key}]");
    section.write_fields(out);
}

/// Declares a settings struct: each field once, with its doc comment and,
/// unless it is required, its default (`name: Type = default,`); sections
/// (nested tables such as `[warnings]`) last. Generates the struct, a
/// `Raw` twin with every field optional (which refuses unknown keys), the
/// [`Settings`] impl and `Deserialize` (defaults filled in).
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, raw $raw:ident {
            $(
                $(#[doc = $doc:literal])*
                pub $field:ident : $ty:ty $(= $default:expr)?,
            )*
        }
        $(sections {
            $(
                $(#[doc = $sdoc:literal])*
                pub $sfield:ident : $sty:ty,
            )*
        })?
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $($( $(#[doc = $sdoc])* pub $sfield: $sty, )*)?
        }

        /// What the file and the environment gave, before defaults.
        #[derive(Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $raw {
            $( #[serde(default)] $field: Option<$ty>, )*
            $($( #[serde(default)] $sfield: Option<<$sty as $crate::settings::Settings>::Raw>, )*)?
        }

        // Values may hold secrets (a database URL with its password).
        impl ::std::fmt::Debug for $raw {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($raw)).finish_non_exhaustive()
            }
        }

        impl $crate::settings::Settings for $name {
            type Raw = $raw;
            const KEYS: &'static [&'static str] =
                &[$(stringify!($field),)* $($(stringify!($sfield),)*)?];

            fn apply_env(
                raw: &mut $raw,
                prefix: &str,
                env: &dyn Fn(&str) -> Option<String>,
            ) -> Result<(), $crate::settings::EnvError> {
                $(
                    let var = format!("{prefix}{}", stringify!($field).to_uppercase());
                    if let Some(v) = env(&var) {
                        raw.$field = Some(
                            <$ty as $crate::settings::FromEnv>::from_env(&v)
                                .map_err(|message| $crate::settings::EnvError { var, message })?,
                        );
                    }
                )*
                $($(
                    let section = format!("{prefix}{}_", stringify!($sfield).to_uppercase());
                    <$sty as $crate::settings::Settings>::apply_env(
                        raw.$sfield.get_or_insert_with(Default::default),
                        &section,
                        env,
                    )?;
                )*)?
                Ok(())
            }

            #[allow(clippy::unnecessary_lazy_evaluations, clippy::redundant_closure)]
            fn from_raw(raw: $raw) -> Result<Self, $crate::settings::MissingField> {
                Ok($name {
                    $( $field: $crate::settings::take_or_default!(raw.$field, $field $(, $default)?), )*
                    $($(
                        $sfield: <$sty as $crate::settings::Settings>::from_raw(
                            raw.$sfield.unwrap_or_default(),
                        )?,
                    )*)?
                })
            }

            fn write_fields(&self, out: &mut String) {
                $(
                    $crate::settings::write_field(
                        out,
                        &[$($doc),*],
                        stringify!($field),
                        ::toml::Value::try_from(&self.$field).ok(),
                    );
                )*
                $($(
                    $crate::settings::write_section(out, &[$($sdoc),*], stringify!($sfield), &self.$sfield);
                )*)?
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <$raw as serde::Deserialize>::deserialize(d)?;
                <$name as $crate::settings::Settings>::from_raw(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use settings;

/// A field's value from the file or environment, else its default, else
/// (for a required field) an error naming it.
macro_rules! take_or_default {
    ($v:expr, $field:ident) => {
        $v.ok_or($crate::settings::MissingField(stringify!($field)))?
    };
    ($v:expr, $field:ident, $default:expr) => {
        $v.unwrap_or_else(|| $default)
    };
}
pub(crate) use take_or_default;

#[cfg(test)]
mod tests {
    use super::*;

    settings! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Inner, raw InnerRaw {
            /// Whether it is on.
            pub on: bool = true,
            /// Names, comma-separated in the environment.
            pub names: Vec<String> = Vec::new(),
        }
    }

    settings! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Outer, raw OuterRaw {
            /// Required.
            pub code: NodeCode,
            /// How long, in ms.
            ///
            /// Second paragraph.
            pub wait_ms: u64 = 250,
            /// Optional.
            pub url: Option<String> = None,
        }
        sections {
            /// The inner part.
            pub inner: Inner,
        }
    }

    fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Outer, String> {
        let mut raw: OuterRaw = toml::from_str(text).map_err(|e| e.to_string())?;
        Outer::apply_env(&mut raw, "X_", env).map_err(|e| format!("{}: {}", e.var, e.message))?;
        Outer::from_raw(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_env_and_the_template_come_from_one_declaration() {
        let none = |_: &str| None;
        let o = parse("code = \"652800\"", &none).expect("parses");
        assert_eq!(o.wait_ms, 250);
        assert!(o.inner.on && o.url.is_none());
        assert_eq!(Outer::KEYS, ["code", "wait_ms", "url", "inner"]);

        let env = |k: &str| match k {
            "X_WAIT_MS" => Some("9".to_owned()),
            "X_INNER_ON" => Some("false".to_owned()),
            "X_INNER_NAMES" => Some(" a, b ,,".to_owned()),
            _ => None,
        };
        let o = parse("code = \"652800\"\nwait_ms = 1\n", &env).expect("parses");
        assert_eq!(o.wait_ms, 9, "the environment wins over the file");
        assert_eq!(
            o.inner,
            Inner {
                on: false,
                names: vec!["a".into(), "b".into()]
            }
        );

        let mut text = String::new();
        o.write_fields(&mut text);
        assert!(
            text.contains("# How long, in ms.\n#\n# Second paragraph.\nwait_ms = 9\n"),
            "{text}"
        );
        assert!(text.contains("# url = \"\""), "{text}");
        assert!(text.contains("# The inner part.\n[inner]\n"), "{text}");
        assert_eq!(parse(&text, &none), Ok(o), "the template reads back");
    }

    #[test]
    fn missing_unknown_and_malformed_are_refused() {
        let none = |_: &str| None;
        let e = parse("wait_ms = 1", &none).expect_err("no code");
        assert!(e.contains("missing field `code`"), "{e}");
        let e = parse("code = \"652800\"\nbogus = 1", &none).expect_err("unknown");
        assert!(e.contains("bogus"), "{e}");
        let e = parse("code = \"652800\"\n[inner]\nbogus = 1", &none).expect_err("unknown");
        assert!(e.contains("bogus"), "{e}");
        let bad = |k: &str| (k == "X_INNER_ON").then(|| "yes".to_owned());
        let e = parse("code = \"652800\"", &bad).expect_err("bad bool");
        assert!(e.starts_with("X_INNER_ON: "), "{e}");
        let bad = |k: &str| (k == "X_CODE").then(|| "65".to_owned());
        assert!(parse("", &bad).is_err());
    }
}
