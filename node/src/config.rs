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
use crate::ledger::DateWindow;
use crate::settings::{settings, ConfigDate, Settings};
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
        /// Most Excel or CSV exports running at once (each reads the whole
        /// list and an Excel one holds a blocking thread); one more is
        /// refused with 429 "busy" until one ends. 0 turns exports off.
        pub exports_concurrent_max: usize = 2,
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
        /// How often the node checks its own books as `fundsync verify`
        /// does, logging and raising an alarm on any difference (ms); 0:
        /// never. A check reads the whole journal in one read transaction,
        /// so on a large ledger choose a quiet interval (86400000: daily).
        pub verify_every_ms: u64 = 0,
        /// A link that has not been caught up for longer than this, in
        /// either direction, shows as lagging in the health tree and the
        /// metrics: entries its parent has not held for that long, stuck or
        /// withheld by a relay (ms).
        pub link_lag_ms: u64 = 60_000,
    }
    sections {
        /// Early warnings (预警): which rules this node evaluates and their
        /// thresholds. Overridden by FUNDSYNC_WARNINGS_<FIELD>, e.g.
        /// FUNDSYNC_WARNINGS_ENABLED=false; negative_list there is
        /// comma-separated.
        pub warnings: WarningsConfig,
        /// The node's own rules for the entries it records itself (never for
        /// entries its children or its parent recorded: an ancestor does not
        /// refuse a descendant's history because their settings differ).
        /// Overridden by FUNDSYNC_RULES_<FIELD>, e.g.
        /// FUNDSYNC_RULES_DATES_FROM=2015-01-01.
        pub rules: RulesConfig,
        /// Accounts: sessions, the sign-in throttle, API tokens.
        /// Overridden by FUNDSYNC_ACCOUNTS_<FIELD>, e.g.
        /// FUNDSYNC_ACCOUNTS_SESSION_IDLE_MS=900000.
        pub accounts: AccountsConfig,
        /// The API listener's transport: TLS (off unless a certificate is
        /// given or issued from this node's CA) and the host names it
        /// answers to. Overridden by FUNDSYNC_API_<FIELD>, e.g.
        /// FUNDSYNC_API_ALLOWED_HOSTS=fundsync.example,localhost.
        pub api: ApiConfig,
    }
}

settings! {
    /// The `[rules]` section of the configuration.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RulesConfig, raw RulesConfigRaw {
        /// The earliest business date (received, budgeted, issued, paid,
        /// reversed, a project's start and end, a target's actual) this node
        /// records; an entry dated before it is refused (date_out_of_range).
        pub dates_from: ConfigDate = ConfigDate(DateWindow::DEFAULT.from),
        /// The latest business date this node records, included.
        pub dates_to: ConfigDate = ConfigDate(DateWindow::DEFAULT.to),
        /// Whether a payment to a project, and its move to 实施, need all
        /// of the project's performance targets approved (批复), not only
        /// set (seed 003 §7–9; refused as targets_not_approved). A node
        /// upgraded with projects whose targets were set before the review
        /// and approval cycle may set false until they are approved.
        pub target_approval_required: bool = true,
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig::from_raw(RulesConfigRaw::default())
            .unwrap_or_else(|_| unreachable!("every [rules] field has a default"))
    }
}

settings! {
    /// The `[api]` section: how the API and pages are served.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct ApiConfig, raw ApiConfigRaw {
        /// Serve the API over TLS with this certificate chain (PEM, the
        /// server's certificate first, then its intermediates). Needs
        /// tls_key_file.
        pub tls_cert_file: Option<PathBuf> = None,
        /// The private key (PEM) of tls_cert_file.
        pub tls_key_file: Option<PathBuf> = None,
        /// Serve the API over TLS with a server certificate this node issues
        /// itself, at every start, from its own CA (the region and the
        /// prefectures hold one; a county does not). Browsers and clients
        /// then trust the tree's root, data_dir/tls/ca.pem. Not together
        /// with tls_cert_file.
        pub tls_from_ca: bool = false,
        /// The names (DNS names or IP addresses) of the certificate
        /// tls_from_ca issues. Empty: the host of listen when it is a
        /// specific address, localhost and 127.0.0.1.
        pub tls_names: Vec<String> = Vec::new(),
        /// Longest a client's TLS handshake on the API may take (ms).
        pub tls_handshake_timeout_ms: u64 = 10_000,
        /// The names a request's Host may carry (a port is ignored); any
        /// other is refused with 400 host_not_allowed, which defeats DNS
        /// rebinding. Empty: localhost, 127.0.0.1, ::1 and the host of listen
        /// when it is a specific address. "*" allows any name: unsafe, only
        /// behind a proxy that checks the name itself.
        pub allowed_hosts: Vec<String> = Vec::new(),
    }
}

/// Where the API listener's TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiTls {
    /// Plain HTTP.
    Off,
    /// A certificate chain and key from files.
    Files { cert: PathBuf, key: PathBuf },
    /// Issued at start from the node's own CA, for these names (empty: the
    /// defaults, which `server` works out from `listen`).
    FromCa { names: Vec<String> },
}

impl ApiConfig {
    /// `https` when the API is to speak TLS, else `http` (for messages; the
    /// start itself checks the fields with [`ApiConfig::tls`]).
    pub fn scheme(&self) -> &'static str {
        match self.tls() {
            Ok(ApiTls::Off) => "http",
            _ => "https",
        }
    }

    /// The TLS choice, or why the fields do not make one.
    pub fn tls(&self) -> Result<ApiTls, String> {
        match (&self.tls_cert_file, &self.tls_key_file, self.tls_from_ca) {
            (None, None, false) => Ok(ApiTls::Off),
            (Some(cert), Some(key), false) => Ok(ApiTls::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None, true) => Ok(ApiTls::FromCa {
                names: self.tls_names.clone(),
            }),
            (_, _, true) => {
                Err("[api] tls_from_ca and tls_cert_file/tls_key_file exclude each other".into())
            }
            (Some(_), None, _) => Err("[api] tls_cert_file needs tls_key_file".into()),
            (None, Some(_), _) => Err("[api] tls_key_file needs tls_cert_file".into()),
        }
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

    /// Parses configuration text as if read from `path`, then applies the
    /// overrides `env` gives for `FUNDSYNC_<FIELD>` names (what [`Config::load`]
    /// does with the process's environment; the fuzz target `config` gives
    /// its own).
    pub fn parse(
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
        if cfg.rules.dates_from > cfg.rules.dates_to {
            return Err(parse_error(format!(
                "[rules] dates_from ({}) is after dates_to ({})",
                cfg.rules.dates_from, cfg.rules.dates_to
            )));
        }
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
            .chain(ApiConfig::KEYS)
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
    fn the_rules_section_dates_from_the_file_and_the_environment() {
        let text = sample().to_commented_toml();
        assert!(
            text.contains("\n[rules]\n")
                && text.contains("\ndates_from = \"2000-01-01\"\n")
                && text.contains("\ndates_to = \"2100-12-31\"\n"),
            "init writes the window: {text}"
        );
        let p = Path::new("x.toml");
        let c = Config::parse(&text, p, |_| None).expect("reads back");
        assert_eq!(c.rules, RulesConfig::default());
        let date = |s: &str| ConfigDate(s.parse().expect("date"));
        let c = Config::parse(&text, p, |k| {
            (k == "FUNDSYNC_RULES_DATES_FROM").then(|| "2015-01-01".into())
        })
        .expect("ok");
        assert_eq!(c.rules.dates_from, date("2015-01-01"));
        // A TOML date reads too, and the section may be left out.
        let bare = "code = \"652800\"\nname = \"x\"\nlevel = \"prefecture\"\n";
        let c = Config::parse(
            &format!("{bare}[rules]\ndates_to = 2030-12-31\n"),
            p,
            |_| None,
        )
        .expect("ok");
        assert_eq!(c.rules.dates_to, date("2030-12-31"));
        assert_eq!(
            Config::parse(bare, p, |_| None).expect("ok").rules,
            RulesConfig::default()
        );
        for (file, env) in [
            ("dates_from = 2020-01-01T08:00:00", None),
            ("dates_from = \"someday\"", None),
            ("dates_from = 2030-01-01\ndates_to = 2029-12-31", None),
            ("", Some("2020-13-01")),
        ] {
            let e = Config::parse(&format!("{bare}[rules]\n{file}\n"), p, |k| {
                env.filter(|_| k == "FUNDSYNC_RULES_DATES_TO")
                    .map(str::to_owned)
            });
            assert!(
                matches!(e, Err(ConfigError::Parse { .. } | ConfigError::Env { .. })),
                "{file} {env:?}: {e:?}"
            );
        }
    }

    #[test]
    fn the_api_section_reads_from_the_file_and_the_environment() {
        let p = Path::new("x.toml");
        let text = sample().to_commented_toml();
        assert!(text.contains("\n[api]\n"), "{text}");
        let c = Config::parse(&text, p, |_| None).expect("ok");
        assert_eq!(c.api.tls(), Ok(ApiTls::Off));
        assert_eq!(c.api.scheme(), "http");
        assert!(c.api.allowed_hosts.is_empty(), "empty: the defaults");
        let c = Config::parse(&text, p, |k| match k {
            "FUNDSYNC_API_ALLOWED_HOSTS" => Some("region, localhost".into()),
            "FUNDSYNC_API_TLS_FROM_CA" => Some("true".into()),
            "FUNDSYNC_API_TLS_NAMES" => Some("fundsync.example,10.0.0.5".into()),
            _ => None,
        })
        .expect("ok");
        assert_eq!(c.api.allowed_hosts, ["region", "localhost"]);
        assert_eq!(
            c.api.tls(),
            Ok(ApiTls::FromCa {
                names: vec!["fundsync.example".into(), "10.0.0.5".into()]
            })
        );
        assert_eq!(c.api.scheme(), "https");
        let bare = "code = \"652800\"\nname = \"x\"\nlevel = \"prefecture\"\n[api]\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n";
        let c = Config::parse(bare, p, |_| None).expect("ok");
        assert_eq!(
            c.api.tls(),
            Ok(ApiTls::Files {
                cert: PathBuf::from("/c.pem"),
                key: PathBuf::from("/k.pem")
            })
        );
        let mut half = c.api.clone();
        half.tls_key_file = None;
        assert!(half.tls().is_err_and(|e| e.contains("needs tls_key_file")));
        let mut both = c.api.clone();
        both.tls_from_ca = true;
        assert!(both.tls().is_err_and(|e| e.contains("exclude each other")));
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
