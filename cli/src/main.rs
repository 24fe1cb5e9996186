//! The `fundsync` command: parses arguments and calls into the library.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use fundsync_node::access::Role;
use fundsync_node::accounts::{password, Accounts, NewUser};
use fundsync_node::clock::SystemClock;
use fundsync_node::config::Config;
use fundsync_node::ledger::{Identity, Ledger};
use fundsync_node::pki::TlsFiles;
use fundsync_node::sync::enroll;
use fundsync_node::{import, server};
use fundsync_protocol::body::ChildRevoked;
use fundsync_protocol::{Body, Level, NodeCode};
use zeroize::Zeroizing;

/// fundsync: earmarked fund tracking from region to county (扶贫资金动态监控).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up a node: write a commented fundsync.toml, create the ledger and load the fund catalog.
    Init {
        /// region, prefecture or county.
        #[arg(long)]
        level: Level,
        /// The node's administrative division code, e.g. 652800.
        #[arg(long)]
        code: NodeCode,
        /// The node's name, e.g. 巴音郭楞蒙古自治州.
        #[arg(long)]
        name: String,
        /// The parent's division code (not for the region).
        #[arg(long)]
        parent_code: Option<NodeCode>,
        /// The parent's sync URL (not for the region).
        #[arg(long)]
        parent_url: Option<String>,
        /// Where to keep the ledger and keys [default: fundsync-data next to the config].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The ledger database, sqlite://PATH or postgres://… [default: SQLite in the data dir].
        #[arg(long, conflicts_with = "database_url_file")]
        database_url: Option<String>,
        /// A file holding the database URL (with its password), e.g. a mounted
        /// secret; the configuration names the file, never the password.
        #[arg(long)]
        database_url_file: Option<PathBuf>,
        /// Address for the API and pages.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Address where this node's children connect for sync (mutual TLS)
        /// [default: 127.0.0.1:7443; counties have no children].
        #[arg(long)]
        sync_listen: Option<String>,
        /// A file holding the first administrator's password (login
        /// `admin`); without it a strong one is generated and printed once.
        #[arg(long)]
        admin_password_file: Option<PathBuf>,
        /// Where to write the configuration.
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Accounts of this node: add, list, disable, enable, reset passwords,
    /// grant and revoke roles.
    User {
        #[command(subcommand)]
        what: UserWhat,
    },
    /// API tokens (for scripts: `Authorization: Bearer`).
    Token {
        #[command(subcommand)]
        what: TokenWhat,
    },
    /// Run the node: API and pages.
    Serve {
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Import records into the ledger.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// At a parent: print a one-time token with which a child joins.
    Enroll {
        /// The child's division code.
        #[arg(long)]
        child: NodeCode,
        /// The child's name, to register it now if it is not registered yet.
        #[arg(long)]
        name: Option<String>,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// At a child: join the parent with a token from `fundsync enroll`.
    Join {
        /// The token printed by `fundsync enroll` at the parent.
        #[arg(long, env = "FUNDSYNC_JOIN_TOKEN")]
        token: String,
        /// The parent's sync URL [default: parent_url from the configuration].
        #[arg(long)]
        parent_url: Option<String>,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Start the 2020 Bayingol demo: the region, the prefecture 652800 and its
    /// nine counties in one process, with mutual TLS between them.
    Demo {
        /// Where the demo keeps each node's ledger and keys.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
        /// The region's API port; the prefecture's is the next, then the
        /// counties'; sync listeners at +100. 0 picks free ports.
        #[arg(long, default_value_t = 8080)]
        port_base: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Reconcile the region's figures with seed 002 and its public pages
        /// with its ledger, print the table, stop, and exit non-zero if any
        /// figure differs.
        #[arg(long)]
        check: bool,
    },
    /// Show replication health: every link in this node's subtree.
    Status {
        /// Print the health report as JSON instead of the tree of links.
        #[arg(long)]
        json: bool,
        /// The node's API [default: from the configuration's `listen`].
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        token: TokenArg,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Offline bundles: the same signed batches on a file, for nodes with no link.
    Bundle {
        #[command(subcommand)]
        what: BundleWhat,
    },
    /// Replace this node's entry-signing key (the old one stays registered, so
    /// history stays verifiable). Restart the node afterwards.
    RotateKey {
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Check this node's books: every entry's hash and body, every chain and
    /// stored signature, and every money table recomputed from the journal.
    /// Exits 1 if anything differs.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// At a parent: cut a child off at once. Its past entries stay verifiable.
    Revoke {
        #[arg(long)]
        child: NodeCode,
        /// Why, for the journal.
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BundleWhat {
    /// Write this node's chains for its parent, or (--child) its down stream to a child.
    Export {
        file: PathBuf,
        /// Export the down stream to this child instead.
        #[arg(long)]
        child: Option<NodeCode>,
        /// Only what the receiver lacks: its position file from `fundsync
        /// bundle heads` (or its `GET /api/v1/sync/heads`) [default: everything].
        #[arg(long)]
        since: Option<PathBuf>,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Apply a bundle from a child or from the parent, all or nothing, with
    /// every check of the network path.
    Import {
        file: PathBuf,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Write this node's position (the chains it holds, its place in the
    /// parent's down stream) for the sender's `bundle export --since`.
    Heads {
        file: PathBuf,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
}

/// How a command that talks to a running node signs in: an API token from
/// `--token-file`, else from the environment variable `FUNDSYNC_TOKEN` (never
/// an argument, which others on the machine can read in the process list).
#[derive(Debug, clap::Args)]
struct TokenArg {
    /// A file holding an API token (`fundsync token create`) [default: the
    /// environment variable FUNDSYNC_TOKEN].
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl TokenArg {
    /// The token to send, if any.
    fn secret(&self) -> anyhow::Result<Option<Zeroizing<String>>> {
        let raw = match &self.token_file {
            Some(f) => Zeroizing::new(
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
            ),
            None => match std::env::var("FUNDSYNC_TOKEN") {
                Ok(t) => Zeroizing::new(t),
                Err(_) => return Ok(None),
            },
        };
        let t = raw.trim();
        Ok((!t.is_empty()).then(|| Zeroizing::new(t.to_owned())))
    }
}

#[derive(Debug, Subcommand)]
enum UserWhat {
    /// Add a user. Without --password-file a strong password is generated
    /// and printed once.
    Add {
        /// The login name: 2 to 32 of a-z, 0-9, '.', '_', '-'.
        login: String,
        /// The display name, e.g. 张三.
        #[arg(long)]
        name: String,
        /// Roles, comma-separated: admin, lead, allocation, department,
        /// treasury, auditor, operator.
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<Role>,
        /// The 归口 department whose categories a department officer sees.
        #[arg(long)]
        department: Option<String>,
        /// Grant the classified (涉密) categories.
        #[arg(long)]
        classified: bool,
        /// A file holding the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// List the users.
    List {
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Disable a user: no sign-in, sessions ended, tokens refused.
    Disable {
        login: String,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Enable a disabled user again.
    Enable {
        login: String,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Set a user's password (ends their sessions). Without --password-file
    /// a strong password is generated and printed once.
    ResetPassword {
        login: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Give a user a role.
    Grant {
        login: String,
        role: Role,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Take a role from a user.
    Revoke {
        login: String,
        role: Role,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenWhat {
    /// Make a token for a user; prints the secret alone on one line, once.
    Create {
        #[arg(long)]
        user: String,
        /// What the token is for, e.g. "nightly export".
        #[arg(long)]
        name: String,
        /// Days it stays valid [default: the configuration's token_days_default].
        #[arg(long)]
        days: Option<u32>,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// List a user's tokens (never their secrets).
    List {
        #[arg(long)]
        user: String,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Revoke one of a user's tokens by its id.
    Revoke {
        #[arg(long)]
        user: String,
        id: i64,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// Treasury payment vouchers (all rows or none) from CSV (UTF-8, UTF-8
    /// with BOM, GBK/GB18030) or Excel (.xlsx/.xls), told apart by content;
    /// the allocation by 指标文号 or id, amounts in 元 or 万元.
    Payments {
        file: PathBuf,
        /// Check every row and print the bad ones; record nothing.
        #[arg(long)]
        preview: bool,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
    /// Allocations this node issued to its children, entered after the
    /// fact (补录), from the same kinds of file.
    Allocations {
        file: PathBuf,
        /// Check every row and print the bad ones; record nothing.
        #[arg(long)]
        preview: bool,
        #[arg(long, env = "FUNDSYNC_CONFIG", default_value = "fundsync.toml")]
        config: PathBuf,
    },
}

/// glibc malloc settings for a long-running node, in `GLIBC_TUNABLES` form.
///
/// SQLite takes its page cache from malloc one page (16 KiB) at a time, on
/// the thread of the connection, so from that thread's glibc arena. When an
/// idle connection is closed its pages are freed, but glibc hands an
/// arena's memory back to the system only when a single free of 64 KiB or
/// more lands at its top, which page-sized frees never are: measured in
/// `bench scale`, the region kept an arena of 18.7 MB with 10 KB in use,
/// a third of its resident memory, for good. With a fixed mmap threshold
/// at the page size, each of those allocations is a mapping of its own and
/// goes back to the system when freed (at the cost of a system call per
/// allocation of 16 KiB or more, which the import benchmark does not show).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TUNABLES: &str = "glibc.malloc.mmap_threshold=16384";

/// glibc reads its tunables once, when the process starts, so a
/// long-running command runs itself again with [`MALLOC_TUNABLES`] set.
/// Nothing happens when `GLIBC_TUNABLES` is set already (so an operator's
/// own settings win, and the second start does not repeat this); if the
/// executable cannot be run again, the node runs with glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn restart_with_malloc_tunables() -> Option<std::io::Error> {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Some(e),
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only if it failed.
    Some(cmd.args(args).env("GLIBC_TUNABLES", MALLOC_TUNABLES).exec())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let restart_failed = matches!(cli.command, Command::Serve { .. } | Command::Demo { .. })
        .then(restart_with_malloc_tunables)
        .flatten();
    // Logs go to stderr, so what a command prints for scripts (a token, a
    // tree) is all of stdout; colour only on a terminal.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Some(e) = restart_failed {
        tracing::warn!(error = %e, "could not restart with {MALLOC_TUNABLES}; glibc's defaults apply");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            level,
            code,
            name,
            parent_code,
            parent_url,
            data_dir,
            database_url,
            database_url_file,
            listen,
            sync_listen,
            admin_password_file,
            config,
        } => {
            if config.exists() {
                bail!(
                    "{} already exists; remove it first or pass --config",
                    config.display()
                );
            }
            if level == Level::Region && (parent_code.is_some() || parent_url.is_some()) {
                bail!("the region has no parent: drop --parent-code/--parent-url");
            }
            if level != Level::Region && parent_code.is_none() {
                bail!("a {level} node needs --parent-code");
            }
            let mut cfg = Config::new(code, name.clone(), level);
            cfg.parent_code = parent_code;
            cfg.parent_url = parent_url;
            cfg.database_url = database_url;
            // Absolute, so `serve` finds it from whatever directory it starts in.
            cfg.database_url_file = database_url_file
                .map(|p| std::path::absolute(&p))
                .transpose()
                .context("resolving --database-url-file")?;
            cfg.listen = listen;
            if let Some(s) = sync_listen {
                cfg.sync_listen = s;
            }
            // A relative --data-dir means relative to where the command runs,
            // as any shell user expects; written absolute into the config.
            if let Some(d) = data_dir {
                cfg.data_dir = std::path::absolute(&d).context("resolving --data-dir")?;
            }
            // Checked before anything is written, so a weak password leaves
            // nothing behind.
            let admin_password = match &admin_password_file {
                Some(f) => {
                    let p = read_password_file(f)?;
                    password::check_policy(&p, ADMIN_LOGIN, ADMIN_NAME)
                        .with_context(|| format!("the password in {}", f.display()))?;
                    Some(p)
                }
                None => None,
            };
            let text = cfg.to_commented_toml();
            // Open through the same path `serve` uses (relative data dir).
            let written = Config::load_str(&text, &config)?;
            let db = server::open_db(&written).await?;
            Ledger::init(
                &db,
                &Identity {
                    code,
                    name,
                    level,
                    parent: parent_code,
                },
            )
            .await?;
            let ledger = Ledger::open(db.clone(), Some(code), Arc::new(SystemClock)).await?;
            if level == Level::Region {
                enroll::setup_root(&ledger, &TlsFiles::new(written.tls_dir())).await?;
                println!(
                    "created the tree's root CA and this node's keys in {}",
                    written.tls_dir().display()
                );
            }
            // The first administrator is an account change like any other:
            // in the journal, attributed to the console.
            let log = fundsync_node::accounts::JournalLog::start(
                ledger.clone(),
                fundsync_node::ledger::console_actor(),
            );
            let accounts = Accounts::of_ledger(&ledger, written.accounts.clone())
                .with_security_log(Arc::new(log.clone()));
            if accounts.user(ADMIN_LOGIN).await?.is_none() {
                let (pw, generated) = match admin_password {
                    Some(p) => (p, false),
                    None => (password::generate(), true),
                };
                accounts
                    .create_user(NewUser {
                        login: ADMIN_LOGIN.to_owned(),
                        name: ADMIN_NAME.to_owned(),
                        password: pw.to_string(),
                        department: None,
                        roles: vec![Role::Admin],
                        classified: false,
                    })
                    .await?;
                println!("created the administrator {ADMIN_LOGIN} ({ADMIN_NAME})");
                if generated {
                    print_once(ADMIN_LOGIN, &pw);
                }
            }
            log.flush().await;
            drop(accounts);
            drop(ledger);
            db.close().await;
            std::fs::write(&config, text)
                .with_context(|| format!("writing {}", config.display()))?;
            println!(
                "initialised {code} ({level}); configuration in {}",
                config.display()
            );
            println!(
                "start it with: fundsync serve --config {}",
                config.display()
            );
            Ok(())
        }
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            // A clock moved on purpose, for fault tests (`bench chaos`).
            let clock: Arc<dyn fundsync_node::clock::Clock> =
                match fundsync_node::clock::OffsetClock::from_env().map_err(anyhow::Error::msg)? {
                    Some(c) => {
                        tracing::warn!(
                            offset_ms = c.0,
                            "the clock is moved by {}",
                            fundsync_node::clock::CLOCK_OFFSET_ENV
                        );
                        Arc::new(c)
                    }
                    None => Arc::new(SystemClock),
                };
            let ledger = server::open_ledger(&cfg, clock).await?;
            let listener = tokio::net::TcpListener::bind(&cfg.listen)
                .await
                .with_context(|| format!("listening on {}", cfg.listen))?;
            tracing::info!(node = %cfg.code, addr = %listener.local_addr()?, "serving");
            println!(
                "fundsync {} listening on {}://{}",
                cfg.code,
                cfg.api.scheme(),
                listener.local_addr()?
            );
            let sync = if cfg.level.child().is_some() {
                let l = tokio::net::TcpListener::bind(&cfg.sync_listen)
                    .await
                    .with_context(|| format!("listening for sync on {}", cfg.sync_listen))?;
                println!("sync (mutual TLS) on https://{}", l.local_addr()?);
                Some(l)
            } else {
                None
            };
            server::run(ledger, &cfg, listener, sync, shutdown_signal()).await?;
            Ok(())
        }
        Command::Bundle { what } => bundle(what).await,
        Command::User { what } => user(what).await,
        Command::Token { what } => token(what).await,
        Command::Status {
            json,
            url,
            token,
            config,
        } => {
            let base = match url {
                Some(u) => u,
                None => format!("http://{}", Config::load(&config)?.listen),
            };
            let url = format!("{}/api/v1/sync/health", base.trim_end_matches('/'));
            let mut req = reqwest::Client::new().get(&url);
            if let Some(t) = token.secret()? {
                req = req.bearer_auth(t.as_str());
            }
            let resp = req.send().await.with_context(|| format!("asking {url}"))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
                bail!("{url} asks for a token: pass --token-file or set FUNDSYNC_TOKEN (an operator's token, see `fundsync token create`)");
            }
            let resp = resp.error_for_status()?;
            if json {
                println!("{}", resp.text().await?);
                return Ok(());
            }
            let tree: fundsync_node::sync::health::HealthTreeOwned = resp.json().await?;
            use std::io::IsTerminal;
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            print!(
                "{}",
                fundsync_node::sync::health::render_tree(&tree, colour)
            );
            Ok(())
        }
        Command::RotateKey { config } => {
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let id = fundsync_node::sync::rotate_signing_key(&ledger, &cfg.tls_dir()).await?;
            ledger.db().close().await;
            println!("new signing key {id}; restart the node to sign with it");
            Ok(())
        }
        Command::Demo {
            dir,
            port_base,
            host,
            check,
        } => demo(dir, port_base, host, check).await,
        Command::Enroll {
            child,
            name,
            config,
        } => {
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let token = enroll::create_token(
                &ledger,
                &TlsFiles::new(cfg.tls_dir()),
                child,
                name.as_deref(),
                cfg.enroll_token_ms,
            )
            .await?;
            ledger.db().close().await;
            eprintln!(
                "one-time token for {child}, valid {} h; at {child} run: fundsync join --token …",
                cfg.enroll_token_ms / 3_600_000
            );
            println!("{token}");
            Ok(())
        }
        Command::Join {
            token,
            parent_url,
            config,
        } => {
            let cfg = Config::load(&config)?;
            let url = parent_url.or(cfg.parent_url.clone()).context(
                "no parent URL: pass --parent-url or set parent_url in the configuration",
            )?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let token: enroll::Token = token.parse()?;
            enroll::join(&ledger, &TlsFiles::new(cfg.tls_dir()), &url, &token).await?;
            ledger.db().close().await;
            println!(
                "{} joined its parent at {url}; start it with: fundsync serve",
                cfg.code
            );
            Ok(())
        }
        Command::Verify { json, config } => {
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let started = std::time::Instant::now();
            let report = ledger.verify().await;
            ledger.db().close().await;
            let report = report?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", verify_summary(&report, started.elapsed()));
            }
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Revoke {
            child,
            reason,
            config,
        } => {
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let outcome = ledger
                .submit_one(
                    Body::ChildRevoked(ChildRevoked {
                        code: child,
                        reason,
                    }),
                    &fundsync_node::ledger::console_actor(),
                )
                .await?;
            ledger.db().close().await;
            println!(
                "{child} revoked (entry {}); its connections are refused from now on",
                outcome.id()
            );
            Ok(())
        }
        Command::Import { what } => {
            let (kind, file, preview, config) = match what {
                ImportWhat::Payments {
                    file,
                    preview,
                    config,
                } => (import::Kind::Payments, file, preview, config),
                ImportWhat::Allocations {
                    file,
                    preview,
                    config,
                } => (import::Kind::Allocations, file, preview, config),
            };
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let started = std::time::Instant::now();
            let mode = if preview {
                import::Mode::Preview
            } else {
                import::Mode::Apply
            };
            match import::run(
                &ledger,
                kind,
                Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
                &import::Options::new(&fundsync_node::ledger::console_actor()),
                mode,
            )
            .await
            {
                Ok(r) => {
                    let verb = if preview {
                        "检查无误，可导入"
                    } else {
                        "已导入"
                    };
                    println!(
                        "{verb} {} 行：新增 {} 条，已登记 {} 条，新增金额合计 {} 元（{:.1} 秒）",
                        r.rows,
                        r.created,
                        r.existing,
                        r.total,
                        started.elapsed().as_secs_f64()
                    );
                    ledger.db().close().await;
                    Ok(())
                }
                Err(import::ImportError::Rows(rows)) => {
                    eprintln!("未导入任何数据；{} 行有误：", rows.len());
                    for r in &rows {
                        eprintln!("  第 {} 行：{}", r.line, r.message);
                    }
                    std::process::exit(1);
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The first administrator `init` creates.
const ADMIN_LOGIN: &str = "admin";
const ADMIN_NAME: &str = "系统管理员";

/// A password from a file: its first line (a trailing newline is not part
/// of it).
fn read_password_file(f: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
    );
    let line = text.lines().next().unwrap_or_default();
    Ok(Zeroizing::new(line.to_owned()))
}

/// Prints a generated password to stdout, saying it is shown only now.
/// Never logged.
fn print_once(login: &str, password: &str) {
    println!("the password of {login} is shown only this once; store it now:");
    println!("{password}");
}

/// The security log of this command's account changes: entries in the
/// node's journal, attributed to the console (`flush_console_log` waits for
/// them before the command exits).
static CONSOLE_LOG: std::sync::OnceLock<fundsync_node::accounts::JournalLog> =
    std::sync::OnceLock::new();

/// The node's accounts, for the local commands (on the node's database),
/// their events recorded in the journal.
async fn open_accounts(config: &std::path::Path) -> anyhow::Result<Accounts> {
    let cfg = Config::load(config)?;
    let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
    let log = CONSOLE_LOG.get_or_init(|| {
        fundsync_node::accounts::JournalLog::start(
            ledger.clone(),
            fundsync_node::ledger::console_actor(),
        )
    });
    Ok(Accounts::of_ledger(&ledger, cfg.accounts).with_security_log(Arc::new(log.clone())))
}

/// Waits until the account changes of this command are in the journal.
async fn flush_console_log() {
    if let Some(log) = CONSOLE_LOG.get() {
        log.flush().await;
    }
}

async fn user(what: UserWhat) -> anyhow::Result<()> {
    match what {
        UserWhat::Add {
            login,
            name,
            roles,
            department,
            classified,
            password_file,
            config,
        } => {
            let accounts = open_accounts(&config).await?;
            let (pw, generated) = match &password_file {
                Some(f) => (read_password_file(f)?, false),
                None => (password::generate(), true),
            };
            let u = accounts
                .create_user(NewUser {
                    login,
                    name,
                    password: pw.to_string(),
                    department,
                    roles,
                    classified,
                })
                .await?;
            println!("created {} ({}), id {}", u.login, u.name, u.id);
            if generated {
                print_once(&u.login, &pw);
            }
        }
        UserWhat::List { config } => {
            let accounts = open_accounts(&config).await?;
            println!(
                "{:>4}  {:<16} {:<12} {:<28} {:<10} {:<4} state",
                "id", "login", "name", "roles", "department", "涉密"
            );
            for u in accounts.users().await? {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:>4}  {:<16} {:<12} {:<28} {:<10} {:<4} {}",
                    u.id,
                    u.login,
                    u.name,
                    roles.join(","),
                    u.department.as_deref().unwrap_or("-"),
                    if u.classified { "yes" } else { "no" },
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        UserWhat::Disable { login, config } => {
            open_accounts(&config)
                .await?
                .set_disabled(&login, true)
                .await?;
            println!("{login} disabled; their sessions are ended");
        }
        UserWhat::Enable { login, config } => {
            open_accounts(&config)
                .await?
                .set_disabled(&login, false)
                .await?;
            println!("{login} enabled");
        }
        UserWhat::ResetPassword {
            login,
            password_file,
            config,
        } => {
            let accounts = open_accounts(&config).await?;
            let (pw, generated) = match &password_file {
                Some(f) => (read_password_file(f)?, false),
                None => (password::generate(), true),
            };
            accounts.reset_password(&login, &pw).await?;
            println!("password of {login} set; their sessions are ended");
            if generated {
                print_once(&login, &pw);
            }
        }
        UserWhat::Grant {
            login,
            role,
            config,
        } => {
            open_accounts(&config).await?.grant(&login, role).await?;
            println!("{login} now holds {role}");
        }
        UserWhat::Revoke {
            login,
            role,
            config,
        } => {
            open_accounts(&config).await?.revoke(&login, role).await?;
            println!("{login} no longer holds {role}");
        }
    }
    flush_console_log().await;
    Ok(())
}

/// Milliseconds since the epoch as a UTC time, for listings.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

async fn token(what: TokenWhat) -> anyhow::Result<()> {
    match what {
        TokenWhat::Create {
            user,
            name,
            days,
            config,
        } => {
            let accounts = open_accounts(&config).await?;
            let u = accounts
                .user(&user)
                .await?
                .with_context(|| format!("no such user {user:?}"))?;
            let t = accounts.create_token(u.id, &name, days).await?;
            eprintln!(
                "token {} for {user}, valid until {}; the secret below is shown only this once:",
                t.id,
                when(t.expires_ms)
            );
            println!("{}", t.secret.as_str());
        }
        TokenWhat::List { user, config } => {
            let accounts = open_accounts(&config).await?;
            let u = accounts
                .user(&user)
                .await?
                .with_context(|| format!("no such user {user:?}"))?;
            println!(
                "{:>4}  {:<24} {:<20} {:<20} {:<20} state",
                "id", "name", "created", "expires", "last used"
            );
            for t in accounts.tokens(u.id).await? {
                println!(
                    "{:>4}  {:<24} {:<20} {:<20} {:<20} {}",
                    t.id,
                    t.name,
                    when(t.created_ms),
                    when(t.expires_ms),
                    t.last_used_ms.map_or_else(|| "never".to_owned(), when),
                    match t.revoked_ms {
                        Some(r) => format!("revoked {}", when(r)),
                        None => "active".to_owned(),
                    }
                );
            }
        }
        TokenWhat::Revoke { user, id, config } => {
            let accounts = open_accounts(&config).await?;
            let u = accounts
                .user(&user)
                .await?
                .with_context(|| format!("no such user {user:?}"))?;
            accounts.revoke_token(u.id, id).await?;
            println!("token {id} of {user} revoked");
        }
    }
    flush_console_log().await;
    Ok(())
}

async fn bundle(what: BundleWhat) -> anyhow::Result<()> {
    use fundsync_node::sync::{bundle, load_signing_key};
    match what {
        BundleWhat::Export {
            file,
            child,
            since,
            config,
        } => {
            let cfg = Config::load(&config)?;
            let receiver = match child.or(cfg.parent_code) {
                Some(r) => r,
                None => bail!(
                    "this node has no parent to export to; pass --child for a child's down stream"
                ),
            };
            let since = match since {
                Some(f) => Some(bundle::Position::parse(
                    &std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                    receiver,
                )?),
                None => None,
            };
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let key = load_signing_key(&cfg.tls_dir())?;
            let limits = server::sync_limits(&cfg);
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(&file)
                    .with_context(|| format!("creating {}", file.display()))?,
            );
            let n = match child {
                Some(c) => {
                    bundle::export_down(&ledger, &key, c, &limits, since.as_ref(), &mut out).await?
                }
                None => bundle::export_up(&ledger, &key, &limits, since.as_ref(), &mut out).await?,
            };
            std::io::Write::flush(&mut out)?;
            ledger.db().close().await;
            println!("wrote {n} signed batches to {}", file.display());
            Ok(())
        }
        BundleWhat::Import { file, config } => {
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let key = load_signing_key(&cfg.tls_dir())?;
            let mut input = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?,
            );
            let r = bundle::import(
                &ledger,
                key.key_id(),
                &server::sync_limits(&cfg),
                &mut input,
            )
            .await;
            ledger.db().close().await;
            let r = r?;
            println!(
                "imported {} batches: {} new entries, {} already held",
                r.batches, r.applied, r.duplicates
            );
            Ok(())
        }
        BundleWhat::Heads { file, config } => {
            let cfg = Config::load(&config)?;
            let ledger = server::open_ledger(&cfg, Arc::new(SystemClock)).await?;
            let p = bundle::Position::of(&ledger).await;
            ledger.db().close().await;
            let p = p?;
            std::fs::write(&file, serde_json::to_string_pretty(&p)?)
                .with_context(|| format!("writing {}", file.display()))?;
            println!(
                "wrote the position of {} ({} chains, down stream at {}) to {}; \
                 carry it to the sender for `fundsync bundle export --since`",
                p.node,
                p.heads.len(),
                p.down_seq,
                file.display()
            );
            Ok(())
        }
    }
}

async fn demo(dir: PathBuf, port_base: u16, host: String, check: bool) -> anyhow::Result<()> {
    use fundsync_demo::run::{self as demo, Demo, DemoOptions};
    let opts = DemoOptions {
        dir: dir.clone(),
        port_base,
        host,
    };
    let started = std::time::Instant::now();
    let cluster = Demo::start(&opts).await?;
    println!(
        "started {} nodes (data in {})",
        cluster.nodes.len(),
        dir.display()
    );
    let new = cluster.replay().await?;
    cluster
        .converged(std::time::Duration::from_secs(120))
        .await?;
    println!(
        "replayed seed 002's 2020 history: {new} new entries, the region has converged ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let accounts = cluster.create_accounts(&dir).await?;
    let base = demo::region_api(&cluster).context("no region")?;
    if check {
        let token = cluster.auditor_token().await?;
        let rows = demo::check(&base, Some(&token)).await?;
        let ok = demo::print_check(&rows);
        cluster.stop().await;
        if !ok {
            bail!("the region's figures differ from seed 002 or its public pages from its ledger");
        }
        return Ok(());
    }
    println!();
    for (code, name, url) in demo::urls(&cluster) {
        println!("  {code} {name:<12} {url}/   (API: {url}/api/v1/ledger/summary?group_by=node)");
    }
    if let Some(url) = demo::public_url(&cluster) {
        println!("\n公示 (allocation results and projects, the whole tree): {url}, no sign-in");
    }
    println!(
        "\naccounts, one per role at every node (login = the role: admin, lead, allocation,\n\
         department, treasury, auditor, operator), with their passwords: {}",
        accounts.display()
    );
    println!("\nCtrl-C stops the demo; run it again to resume on the same data.");
    shutdown_signal().await;
    cluster.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// `fundsync verify`'s text report: what was checked, then each problem.
fn verify_summary(
    r: &fundsync_node::ledger::verify::VerifyReport,
    took: std::time::Duration,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} entries in {} chains, {} checkpoints ({} entries signed by their origin), \
         {} allocations, {} payments, {} reversals checked in {:.1} s",
        r.node,
        r.entries,
        r.chains,
        r.checkpoints,
        r.signed_entries,
        r.allocations,
        r.payments,
        r.reversals,
        took.as_secs_f64()
    );
    if r.ok() {
        s.push_str("ok: the books agree with the journal and its signatures\n");
        return s;
    }
    let _ = writeln!(s, "{} problem(s):", r.problems_total);
    for p in &r.problems {
        let _ = writeln!(s, "  {:?} {}: {}", p.check, p.subject, p.detail);
    }
    let listed = u64::try_from(r.problems.len()).unwrap_or(u64::MAX);
    if listed < r.problems_total {
        let _ = writeln!(s, "  … and {} more", r.problems_total - listed);
    }
    s
}
