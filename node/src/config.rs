//! Configuration: one TOML file, then `FUNDSYNC_*` environment overrides.
//! Loading never writes files; `fundsync init` writes the file once.

use std::path::{Path, PathBuf};

use fundsync_protocol::{Level, NodeCode};
use serde::{Deserialize, Serialize};

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

/// A node's configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's administrative division code (GB/T 2260), e.g. "652800".
    pub code: NodeCode,
    /// This node's name, e.g. "巴音郭楞蒙古自治州".
    pub name: String,
    /// region, prefecture or county.
    pub level: Level,
    /// The parent node's division code; none for the region.
    #[serde(default)]
    pub parent_code: Option<NodeCode>,
    /// The parent node's sync URL, e.g. "https://652800.example:7443"; none for the region.
    #[serde(default)]
    pub parent_url: Option<String>,
    /// Where the node keeps its files (the SQLite ledger, keys).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The ledger database: "sqlite://PATH" or "postgres://…".
    /// Default: a SQLite file `ledger.sqlite` in `data_dir`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Read the database URL (with its password) from this file instead.
    #[serde(default)]
    pub database_url_file: Option<PathBuf>,
    /// Address the HTTP API listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest request body accepted, except CSV imports.
    #[serde(default = "default_body_bytes_max")]
    pub body_bytes_max: usize,
    /// Largest CSV import accepted over HTTP (bigger files: `fundsync import`).
    #[serde(default = "default_import_bytes_max")]
    pub import_bytes_max: usize,
    /// Longest a write waits for the ledger's single writer.
    #[serde(default = "default_write_wait_ms")]
    pub write_wait_ms: u64,
    /// Address the sync protocol (mutual TLS) listens on, for this node's
    /// children. Counties have no children and open no sync port.
    #[serde(default = "default_sync_listen")]
    pub sync_listen: String,
    /// Most entries in one sync batch (one signature per origin per batch).
    #[serde(default = "default_sync_batch_entries_max")]
    pub sync_batch_entries_max: usize,
    /// Largest sync batch accepted, in bytes.
    #[serde(default = "default_sync_batch_bytes_max")]
    pub sync_batch_bytes_max: usize,
    /// How long a child's pull waits at the parent for new entries.
    #[serde(default = "default_pull_wait_ms")]
    pub pull_wait_ms: u64,
    /// First retry delay after a failed exchange; doubles up to `retry_max_ms`.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Longest delay between retries.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// How long an enrolment token stays valid.
    #[serde(default = "default_enroll_token_ms")]
    pub enroll_token_ms: u64,
    /// How often a node reports its link's health upward when it changes
    /// (and at least every ten times this, as a heartbeat).
    #[serde(default = "default_health_report_ms")]
    pub health_report_ms: u64,
    /// Early warnings: which rules run and their thresholds (`[warnings]`).
    #[serde(default)]
    pub warnings: crate::warnings::WarningsConfig,
}

fn default_health_report_ms() -> u64 {
    60_000
}

fn default_sync_listen() -> String {
    "127.0.0.1:7443".into()
}
fn default_sync_batch_entries_max() -> usize {
    5_000
}
fn default_sync_batch_bytes_max() -> usize {
    16 * 1024 * 1024
}
fn default_pull_wait_ms() -> u64 {
    20_000
}
fn default_retry_base_ms() -> u64 {
    250
}
fn default_retry_max_ms() -> u64 {
    30_000
}
fn default_enroll_token_ms() -> u64 {
    24 * 3600 * 1000
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("fundsync-data")
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_body_bytes_max() -> usize {
    1024 * 1024
}
fn default_import_bytes_max() -> usize {
    64 * 1024 * 1024
}
fn default_write_wait_ms() -> u64 {
    120_000
}

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
        Config {
            code,
            name,
            level,
            parent_code: None,
            parent_url: None,
            data_dir: default_data_dir(),
            database_url: None,
            database_url_file: None,
            listen: default_listen(),
            body_bytes_max: default_body_bytes_max(),
            import_bytes_max: default_import_bytes_max(),
            write_wait_ms: default_write_wait_ms(),
            sync_listen: default_sync_listen(),
            sync_batch_entries_max: default_sync_batch_entries_max(),
            sync_batch_bytes_max: default_sync_batch_bytes_max(),
            pull_wait_ms: default_pull_wait_ms(),
            retry_base_ms: default_retry_base_ms(),
            retry_max_ms: default_retry_max_ms(),
            enroll_token_ms: default_enroll_token_ms(),
            health_report_ms: default_health_report_ms(),
            warnings: crate::warnings::WarningsConfig::default(),
        }
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
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        const FIELDS: &[(&str, bool)] = &[
            ("code", false),
            ("name", false),
            ("level", false),
            ("parent_code", false),
            ("parent_url", false),
            ("data_dir", false),
            ("database_url", false),
            ("database_url_file", false),
            ("listen", false),
            ("body_bytes_max", true),
            ("import_bytes_max", true),
            ("write_wait_ms", true),
            ("sync_listen", false),
            ("sync_batch_entries_max", true),
            ("sync_batch_bytes_max", true),
            ("pull_wait_ms", true),
            ("retry_base_ms", true),
            ("retry_max_ms", true),
            ("enroll_token_ms", true),
            ("health_report_ms", true),
        ];
        for (field, numeric) in FIELDS {
            let var = format!("FUNDSYNC_{}", field.to_uppercase());
            if let Some(v) = env(&var) {
                let value = if *numeric {
                    toml::Value::Integer(v.parse().map_err(|_| ConfigError::Env {
                        var: var.clone(),
                        message: format!("{v:?} is not a whole number"),
                    })?)
                } else {
                    toml::Value::String(v)
                };
                table.insert((*field).to_owned(), value);
            }
        }
        let mut cfg: Config =
            table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
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
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let opt = |name: &str, v: &Option<String>| match v {
            Some(v) => format!("{name} = {}", q(v)),
            None => format!("# {name} = \"\""),
        };
        let mut text = format!(
            "# fundsync node configuration. Every field may be overridden by an\n\
             # environment variable FUNDSYNC_<FIELD>, e.g. FUNDSYNC_LISTEN.\n\n\
             # This node's administrative division code (GB/T 2260).\ncode = {}\n\
             # This node's name.\nname = {}\n\
             # region, prefecture or county.\nlevel = {}\n\n\
             # The parent node's division code and sync URL (none for the region).\n{}\n{}\n\n\
             # Where the node keeps its files (relative to this file).\ndata_dir = {}\n\n\
             # The ledger database: sqlite://PATH or postgres://USER@HOST/DB.\n\
             # Default: ledger.sqlite in data_dir. Keep passwords out of this file\n\
             # with database_url_file = \"/run/secrets/db-url\" (used when\n\
             # database_url is not set).\n{}\n{}\n\n\
             # Address the HTTP API and pages listen on.\nlisten = {}\n\n\
             # Limits: request body bytes, CSV import bytes over HTTP, and how long\n\
             # a write may wait for the ledger's single writer (ms).\n\
             body_bytes_max = {}\nimport_bytes_max = {}\nwrite_wait_ms = {}\n\n\
             # Sync with the parent and children (mutual TLS; keys in data_dir/tls).\n\
             # sync_listen: where children connect (not used by counties).\n\
             sync_listen = {}\n\
             # Most entries and bytes per batch; how long a pull waits for news (ms);\n\
             # retry delays after a failure (ms, doubling up to the max);\n\
             # how long an enrolment token is valid (ms).\n\
             sync_batch_entries_max = {}\nsync_batch_bytes_max = {}\npull_wait_ms = {}\n\
             retry_base_ms = {}\nretry_max_ms = {}\nenroll_token_ms = {}\n\
             # How often the link's health is reported upward when it changes (ms).\n\
             health_report_ms = {}\n",
            q(self.code.as_str()),
            q(&self.name),
            q(self.level.as_str()),
            opt("parent_code", &self.parent_code.map(|c| c.to_string())),
            opt("parent_url", &self.parent_url),
            q(&self.data_dir.display().to_string()),
            opt("database_url", &self.database_url),
            opt(
                "database_url_file",
                &self
                    .database_url_file
                    .as_ref()
                    .map(|p| p.display().to_string()),
            ),
            q(&self.listen),
            self.body_bytes_max,
            self.import_bytes_max,
            self.write_wait_ms,
            q(&self.sync_listen),
            self.sync_batch_entries_max,
            self.sync_batch_bytes_max,
            self.pull_wait_ms,
            self.retry_base_ms,
            self.retry_max_ms,
            self.enroll_token_ms,
            self.health_report_ms,
        );
        text.push_str(&self.warnings.to_commented_toml());
        text
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
        let c = sample();
        let text = c.to_commented_toml();
        let back = Config::parse(&text, Path::new("/etc/fundsync/fundsync.toml"), |_| None)
            .expect("parses");
        assert_eq!(back.code, c.code);
        assert_eq!(back.parent_code, c.parent_code);
        assert_eq!(back.data_dir, PathBuf::from("/etc/fundsync/fundsync-data"));
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
