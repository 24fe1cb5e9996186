//! Configuration: one TOML file, then `FUNDSYNC_*` environment overrides.
//! Loading never writes files; `fundsync init` writes the file once.
//!
//! Each field is declared once below (doc, default; its environment name
//! follows from its key, see [`crate::settings`]), and the file `init`
//! writes is generated from that declaration. Every timeout and limit of
//! the node is a field here, named with its unit last.

use std::path::{Path, PathBuf};

use fundsync_protocol::{Level, NodeCode};

use crate::accounts::AccountsConfig;
use crate::settings::{settings, Settings};
use crate::store::PoolLimits;
use crate::warnings::WarningsConfig;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

settings! {
    /// A node's configuration.
    #[derive(Clone)]
    pub struct Config, raw ConfigRaw {
        /// This node's administrative division code (GB/T 2260), e.g. "652800".
        pub code: NodeCode,
        /// This node's name, e.g. "巴音郭楞蒙古自治州".
        pub name: String,
        /// region, prefecture or county.
        pub level: Level,
        /// The parent node's division code; none for the region.
        pub parent_code: Option<NodeCode> = None,
        /// The parent node's sync URL, e.g. "https://652800.example:7443";
        /// none for the region.
        pub parent_url: Option<String> = None,
        /// Where the node keeps its files (the SQLite ledger, keys), relative
        /// to this file.
        pub data_dir: PathBuf = PathBuf::from("fundsync-data"),
        /// The ledger database: sqlite://PATH or postgres://USER@HOST/DB.
        /// Default: ledger.sqlite in data_dir. Keep passwords out of this file
        /// with database_url_file.
        pub database_url: Option<String> = None,
        /// Read the database URL (with its password) from this file instead,
        /// e.g. "/run/secrets/db-url" (used when database_url is not set).
        pub database_url_file: Option<PathBuf> = None,
        /// Address the HTTP API and pages listen on.
        pub listen: String = "127.0.0.1:8080".into(),
        /// Most connections the API and pages keep open at once; further
        /// clients wait to be accepted.
        pub api_connections_max: usize = 1024,
        /// Largest request body accepted, in bytes, except CSV imports.
        pub body_bytes_max: usize = 1024 * 1024,
        /// Largest CSV import accepted over HTTP, in bytes (bigger files:
        /// `fundsync import`).
        pub import_bytes_max: usize = 64 * 1024 * 1024,
        /// Longest a write waits for the ledger's single writer (ms).
        pub write_wait_ms: u64 = PoolLimits::default().write_wait_ms,
        /// Longest a read waits for a free database connection (ms).
        pub read_wait_ms: u64 = PoolLimits::default().read_wait_ms,
        /// How long a SQLite statement waits for a lock held by another
        /// process on the same file, e.g. `fundsync import` (ms).
        pub sqlite_busy_wait_ms: u64 = PoolLimits::default().sqlite_busy_wait_ms,
        /// How long an unused SQLite connection stays open (ms). Its page
        /// cache is freed only when it closes; reopening costs well under a
        /// millisecond.
        pub sqlite_idle_close_ms: u64 = PoolLimits::default().sqlite_idle_close_ms,
        /// How long an unused PostgreSQL connection stays open (ms).
        pub postgres_idle_close_ms: u64 = PoolLimits::default().postgres_idle_close_ms,
        /// SQLite: shortest time between two background checkpoints, which
        /// fold the write-ahead log into the database file (ms).
        pub sqlite_checkpoint_every_ms: u64 = PoolLimits::default().sqlite_checkpoint_every_ms,
        /// Address the sync protocol (mutual TLS; keys in data_dir/tls) listens
        /// on, for this node's children. Counties have no children and open
        /// no sync port.
        pub sync_listen: String = "127.0.0.1:7443".into(),
        /// Most connections the sync listener keeps open at once; further
        /// children wait to be accepted.
        pub sync_connections_max: usize = 1024,
        /// Longest a child's TLS handshake may take (ms).
        pub sync_handshake_timeout_ms: u64 = 10_000,
        /// How long the sync listener pauses after a failed accept, e.g. when
        /// out of file descriptors (ms).
        pub sync_accept_retry_ms: u64 = 50,
        /// Most entries in one sync batch (one signature per origin per batch).
        pub sync_batch_entries_max: usize = 5_000,
        /// Largest sync batch accepted, in bytes.
        pub sync_batch_bytes_max: usize = 16 * 1024 * 1024,
        /// How long this node's pull waits at the parent for new entries (ms).
        pub pull_wait_ms: u64 = 20_000,
        /// Longest a child's pull may wait here, whatever it asks (ms).
        pub pull_wait_max_ms: u64 = 60_000,
        /// How often a waiting pull looks again, for commits by other
        /// processes on the same database (ms).
        pub pull_poll_ms: u64 = 1_000,
        /// How long past pull_wait_ms this node waits for the parent's answer
        /// before giving up on it (ms).
        pub pull_answer_slack_ms: u64 = 30_000,
        /// How often the upward pusher looks for entries committed by other
        /// processes on the same database, once caught up (ms).
        pub push_poll_ms: u64 = 1_000,
        /// Longest a connection to the parent may take to open (ms).
        pub sync_connect_timeout_ms: u64 = 10_000,
        /// Longest a push to the parent, or a fetch of this node's own entries
        /// back from it, may take (ms).
        pub sync_request_timeout_ms: u64 = 300_000,
        /// How long an unused connection to the parent stays open (ms).
        pub sync_idle_close_ms: u64 = 90_000,
        /// First retry delay after a failed exchange; doubles up to
        /// retry_max_ms, with jitter (ms).
        pub retry_base_ms: u64 = 250,
        /// Longest delay between retries (ms).
        pub retry_max_ms: u64 = 30_000,
        /// How long an enrolment token stays valid (ms).
        pub enroll_token_ms: u64 = 24 * 3600 * 1000,
        /// How often the link's health is sent to the parent, as a heartbeat (ms).
        pub health_report_ms: u64 = 60_000,
        /// How soon after start the link's health is first reported (ms), so
        /// a new or restarted node does not look silent for a whole interval.
        pub health_first_report_ms: u64 = 1_000,
    }
    sections {
        /// Early warnings (预警): which rules this node evaluates and their
        /// thresholds. Overridden by FUNDSYNC_WARNINGS_<FIELD>, e.g.
        /// FUNDSYNC_WARNINGS_ENABLED=false; negative_list there is
        /// comma-separated.
        pub warnings: WarningsConfig,
        /// Accounts: sessions, the sign-in throttle, API tokens.
        /// Overridden by FUNDSYNC_ACCOUNTS_<FIELD>, e.g.
        /// FUNDSYNC_ACCOUNTS_SESSION_IDLE_MS=900000.
        pub accounts: AccountsConfig,
    }
}

/// The first lines of the file `fundsync init` writes.
const TEMPLATE_HEADER: &str = "\
# fundsync node configuration. Every field may be overridden by an
# environment variable FUNDSYNC_<FIELD>, e.g. FUNDSYNC_LISTEN, and a field
# of a section by FUNDSYNC_<SECTION>_<FIELD>, e.g. FUNDSYNC_WARNINGS_ENABLED.
# Durations end in _ms (milliseconds), sizes in _bytes.
";

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("code", &self.code)
            .field("name", &self.name)
            .field("level", &self.level)
            .field("parent_code", &self.parent_code)
            .field("parent_url", &self.parent_url)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("database_url_file", &self.database_url_file)
            .field("listen", &self.listen)
            .field("sync_listen", &self.sync_listen)
            .finish_non_exhaustive()
    }
}

/// Hides the password in a URL like `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// A configuration with defaults for everything but the identity.
    pub fn new(code: NodeCode, name: String, level: Level) -> Config {
        let raw = ConfigRaw {
            code: Some(code),
            name: Some(name),
            level: Some(level),
            ..ConfigRaw::default()
        };
        Config::from_raw(raw).unwrap_or_else(|_| unreachable!("only the identity lacks a default"))
    }

    /// Where the node keeps its TLS and signing keys.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// Reads the file, then applies `FUNDSYNC_<FIELD>` environment variables.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, |k| std::env::var(k).ok())
    }

    /// Parses configuration text as if read from `path` (no environment).
    pub fn load_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Self::parse(text, path, |_| None)
    }

    fn parse(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_owned(),
            message,
        };
        let mut raw: ConfigRaw = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        Config::apply_env(&mut raw, "FUNDSYNC_", &env).map_err(|e| ConfigError::Env {
            var: e.var,
            message: e.message,
        })?;
        let mut cfg = Config::from_raw(raw).map_err(|e| parse_error(e.to_string()))?;
        // A relative data directory is relative to the config file.
        if cfg.data_dir.is_relative() {
            if let Some(dir) = path.parent() {
                cfg.data_dir = dir.join(&cfg.data_dir);
            }
        }
        Ok(cfg)
    }

    /// The database URL: explicit, from a file, or the default SQLite file.
    pub fn database_url(&self) -> Result<String, ConfigError> {
        if let Some(u) = &self.database_url {
            return Ok(u.clone());
        }
        if let Some(p) = &self.database_url_file {
            let s = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?;
            return Ok(s.trim().to_owned());
        }
        Ok(format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("ledger.sqlite").display()
        ))
    }

    /// The file `fundsync init` writes: every field, with its doc comment.
    pub fn to_commented_toml(&self) -> String {
        let mut text = TEMPLATE_HEADER.to_owned();
        self.write_fields(&mut text);
        text
    }

    /// The limits of the database pools.
    pub fn pool_limits(&self) -> PoolLimits {
        PoolLimits {
            write_wait_ms: self.write_wait_ms,
            read_wait_ms: self.read_wait_ms,
            sqlite_idle_close_ms: self.sqlite_idle_close_ms,
            postgres_idle_close_ms: self.postgres_idle_close_ms,
            sqlite_checkpoint_every_ms: self.sqlite_checkpoint_every_ms,
            sqlite_busy_wait_ms: self.sqlite_busy_wait_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        let mut c = Config::new(
            "652800".parse().expect("code"),
            "巴音郭楞蒙古自治州".into(),
            Level::Prefecture,
        );
        c.parent_code = Some("650000".parse().expect("code"));
        c.database_url = Some("postgres://fund:s3cret@db/fundsync".into());
        c
    }

    #[test]
    fn commented_file_round_trips() {
        let mut c = sample();
        c.warnings.negative_list = vec!["某某公司".into(), "a \"quoted\" name".into()];
        c.pull_poll_ms = 7;
        let text = c.to_commented_toml();
        let back = Config::parse(&text, Path::new("/etc/fundsync/fundsync.toml"), |_| None)
            .expect("parses");
        assert_eq!(back.code, c.code);
        assert_eq!(back.parent_code, c.parent_code);
        assert_eq!(back.data_dir, PathBuf::from("/etc/fundsync/fundsync-data"));
        assert_eq!(back.warnings, c.warnings);
        assert_eq!(back.accounts, c.accounts);
        assert_eq!(back.pull_poll_ms, 7);
        for key in Config::KEYS
            .iter()
            .chain(WarningsConfig::KEYS)
            .chain(AccountsConfig::KEYS)
        {
            assert!(
                text.contains(&format!("\n{key} = "))
                    || text.contains(&format!("\n# {key} = "))
                    || text.contains(&format!("\n[{key}]\n")),
                "{key} is in the file: {text}"
            );
        }
    }

    /// The file `fundsync init` wrote before fields were declared once
    /// (main at 456bc9a): existing nodes' files keep loading, to the same
    /// values.
    #[test]
    fn a_file_written_by_the_previous_init_loads() {
        let text = include_str!("config/testdata/init-456bc9a.toml");
        let c = Config::parse(text, Path::new("/etc/fundsync/fundsync.toml"), |_| None)
            .expect("parses");
        assert_eq!(c.code.to_string(), "652800");
        assert_eq!(c.level, Level::Prefecture);
        assert_eq!(c.parent_url.as_deref(), Some("https://650000.example:7443"));
        assert_eq!(c.database_url, None);
        assert_eq!(
            c.database_url_file,
            Some(PathBuf::from("/run/secrets/db-url"))
        );
        assert_eq!(c.warnings.negative_list, ["某某公司", "6222 0000 1111"]);
        let mut expected = sample();
        expected.parent_url = c.parent_url.clone();
        expected.database_url = None;
        expected.database_url_file = c.database_url_file.clone();
        expected.warnings.negative_list = c.warnings.negative_list.clone();
        expected.data_dir = PathBuf::from("/etc/fundsync/fundsync-data");
        assert_eq!(
            c.to_commented_toml(),
            expected.to_commented_toml(),
            "every other field has its default"
        );
    }

    #[test]
    fn environment_overrides_and_errors() {
        let text = sample().to_commented_toml();
        let p = Path::new("x.toml");
        let c = Config::parse(&text, p, |k| {
            (k == "FUNDSYNC_LISTEN").then(|| "0.0.0.0:9".into())
        })
        .expect("ok");
        assert_eq!(c.listen, "0.0.0.0:9");
        let e = Config::parse(&text, p, |k| {
            (k == "FUNDSYNC_BODY_BYTES_MAX").then(|| "lots".into())
        });
        assert!(matches!(e, Err(ConfigError::Env { .. })));
        let e = Config::parse(&format!("{text}\nbogus = 1\n"), p, |_| None);
        assert!(
            matches!(e, Err(ConfigError::Parse { .. })),
            "unknown fields are refused"
        );
    }

    #[test]
    fn the_accounts_section_has_defaults_and_environment_overrides() {
        let bare = "code = \"652800\"\nname = \"x\"\nlevel = \"prefecture\"\n";
        let p = Path::new("x.toml");
        let c = Config::parse(bare, p, |_| None).expect("ok");
        assert_eq!(c.accounts.session_idle_ms, 30 * 60 * 1000);
        assert_eq!(c.accounts.session_absolute_ms, 12 * 3600 * 1000);
        assert_eq!(c.accounts.lock_failures, 5);
        assert_eq!(c.accounts.token_days_max, 366);
        let c = Config::parse(bare, p, |k| {
            (k == "FUNDSYNC_ACCOUNTS_SESSION_IDLE_MS").then(|| "900000".into())
        })
        .expect("ok");
        assert_eq!(c.accounts.session_idle_ms, 900_000);
    }

    #[test]
    fn the_warnings_section_has_environment_overrides() {
        let text = sample().to_commented_toml();
        let p = Path::new("x.toml");
        let c = Config::parse(&text, p, |k| match k {
            "FUNDSYNC_WARNINGS_ENABLED" => Some("false".into()),
            "FUNDSYNC_WARNINGS_AS_OF" => Some("2020-12-31".into()),
            "FUNDSYNC_WARNINGS_SPLIT_PAYMENT_LIMIT" => Some("10000.00".into()),
            "FUNDSYNC_WARNINGS_NEGATIVE_LIST" => Some("甲公司, 乙公司".into()),
            "FUNDSYNC_WARNINGS_NODE_SILENT_HOURS" => Some("48".into()),
            _ => None,
        })
        .expect("ok");
        assert!(!c.warnings.enabled);
        assert_eq!(c.warnings.as_of.to_string(), "2020-12-31");
        assert_eq!(c.warnings.split_payment_limit.to_string(), "10000.00");
        assert_eq!(c.warnings.negative_list, ["甲公司", "乙公司"]);
        assert_eq!(c.warnings.node_silent_hours, 48);
        // Without a [warnings] table in the file too.
        let bare = "code = \"652800\"\nname = \"x\"\nlevel = \"prefecture\"\n";
        let c = Config::parse(bare, p, |k| {
            (k == "FUNDSYNC_WARNINGS_IDLE_DAYS").then(|| "7".into())
        })
        .expect("ok");
        assert_eq!(c.warnings.idle_days, 7);
        let e = Config::parse(&text, p, |k| {
            (k == "FUNDSYNC_WARNINGS_ENABLED").then(|| "yes".into())
        });
        assert!(
            matches!(&e, Err(ConfigError::Env { var, .. }) if var == "FUNDSYNC_WARNINGS_ENABLED"),
            "{e:?}"
        );
    }

    #[test]
    fn a_database_url_file_is_written_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://fund:s3cret@db/fundsync\n").expect("write");
        let mut c = sample();
        c.database_url = None;
        c.database_url_file = Some(secret.clone());
        let text = c.to_commented_toml();
        assert!(
            !text.contains("s3cret"),
            "the password stays in its file: {text}"
        );
        let back = Config::parse(&text, Path::new("x.toml"), |_| None).expect("parses");
        assert_eq!(back.database_url_file, Some(secret));
        assert_eq!(
            back.database_url().expect("reads the file"),
            "postgres://fund:s3cret@db/fundsync"
        );
        std::fs::remove_file(dir.path().join("db-url")).expect("rm");
        assert!(matches!(back.database_url(), Err(ConfigError::Read { .. })));
    }

    #[test]
    fn debug_hides_the_password() {
        let s = format!("{:?}", sample());
        assert!(!s.contains("s3cret"), "{s}");
        assert!(s.contains("fund:***@db"), "{s}");
    }
}
