//! A tree of real nodes in one process, for the demo (`fundsync demo`), the
//! integration tests and the benchmarks: each node with its own ledger
//! (SQLite or PostgreSQL), its API on `listen` and, for nodes with children,
//! a mutual-TLS sync listener on `sync_listen`, started with the same
//! [`server::run`] as `fundsync serve`. The region creates the tree's root
//! CA; every other node is enrolled by its running parent with a one-time
//! token and joins over the real protocol, exactly as `fundsync enroll` /
//! `join` do. A node that joined before (its certificate chain is on disk)
//! is only started, so a cluster on a kept directory resumes.
//!
//! Test and demo support, not part of a node: errors are `anyhow`.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, NewUser};
use fundsync_node::clock::SystemClock;
use fundsync_node::config::Config;
use fundsync_node::ledger::{Identity, Ledger};
use fundsync_node::pki::TlsFiles;
use fundsync_node::server;
use fundsync_node::sync::enroll;
use fundsync_protocol::NodeCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long an enrolment token made by the launcher stays valid.
const ENROLL_TOKEN_MS: u64 = 600_000;

/// The account the launcher makes at every node it starts, holding every
/// role and the 涉密 grant, so the tests, benchmarks and the demo's check
/// call the API as someone (nothing at a node is served anonymously but
/// its health).
pub const TEST_LOGIN: &str = "fundsync-test";
/// Days the launcher's API token is valid.
const TEST_TOKEN_DAYS: u32 = 30;

/// A boxed future, for [`Database`]'s methods (not `Send`: sqlx's
/// PostgreSQL futures cannot be proven `Send` through a trait object, and
/// nothing spawns a backup).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A database that a node runs on and that lives outside its data directory
/// (the tests' PostgreSQL databases): kept as long as the node, and copied
/// and put back by [`Node::backup`] and [`Node::restore`].
pub trait Database: std::fmt::Debug + Send + Sync {
    /// Copies the database; returns the copy's name.
    fn copy(&self) -> BoxFuture<'_, anyhow::Result<String>>;
    /// Replaces the database with the copy `name`.
    fn restore<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// One running (or stopped) node of a [`Cluster`].
#[derive(Debug)]
pub struct Node {
    /// `id.code`.
    pub code: NodeCode,
    pub id: Identity,
    pub ledger: Ledger,
    pub cfg: Config,
    /// The database URL the node runs on.
    pub url: String,
    pub api: SocketAddr,
    pub sync: Option<SocketAddr>,
    /// An API token of [`TEST_LOGIN`] at this node.
    pub token: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    database: Option<Box<dyn Database>>,
}

impl Node {
    /// `http://HOST:PORT/api/v1{path}`.
    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.api)
    }

    /// An HTTP client that sends [`Node::token`] with every request
    /// (`Authorization: Bearer`).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    pub fn tls(&self) -> TlsFiles {
        TlsFiles::new(self.cfg.tls_dir())
    }
}

/// A copy of a stopped node's database, as `deploy/backup` makes one.
#[derive(Debug)]
pub enum Backup {
    /// The SQLite files (database, and WAL if any), copied into a directory.
    Sqlite(PathBuf),
    /// A copy of the node's [`Database`], by name.
    Database(String),
}

const SQLITE_FILES: [&str; 3] = ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"];

impl Node {
    /// Copies the database of this stopped node ([`Cluster::stop`]).
    pub async fn backup(&self) -> anyhow::Result<Backup> {
        match &self.database {
            Some(db) => Ok(Backup::Database(db.copy().await?)),
            None => {
                let dir = self.cfg.data_dir.clone();
                let to = dir.with_extension(format!(
                    "backup-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_nanos()
                ));
                std::fs::create_dir_all(&to)?;
                for f in SQLITE_FILES {
                    if dir.join(f).exists() {
                        std::fs::copy(dir.join(f), to.join(f))?;
                    }
                }
                Ok(Backup::Sqlite(to))
            }
        }
    }

    /// Puts `backup` back in place of this stopped node's database, as
    /// `deploy/backup`'s restore does; certificates and keys stay.
    pub async fn restore(&self, backup: &Backup) -> anyhow::Result<()> {
        match (backup, &self.database) {
            (Backup::Database(name), Some(db)) => db.restore(name).await,
            (Backup::Sqlite(from), None) => {
                let dir = &self.cfg.data_dir;
                for f in SQLITE_FILES {
                    let _ = std::fs::remove_file(dir.join(f));
                    if from.join(f).exists() {
                        std::fs::copy(from.join(f), dir.join(f))?;
                    }
                }
                Ok(())
            }
            _ => bail!("a backup of another engine"),
        }
    }
}

/// A tree of running nodes, by code.
#[derive(Debug, Default)]
pub struct Cluster {
    pub nodes: BTreeMap<NodeCode, Node>,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster::default()
    }

    /// The node with no parent.
    pub fn region(&self) -> Option<&Node> {
        self.nodes.values().find(|n| n.id.parent.is_none())
    }

    /// Creates (or opens) the ledger of `id` as `cfg` says (`database_url`,
    /// or SQLite in `data_dir`), enrols it under its parent, which must be
    /// running, unless it has joined before, and starts it: its API on
    /// `cfg.listen`, its sync listener on `cfg.sync_listen` if its level has
    /// children. `database` is kept with the node (see [`Database`]).
    pub async fn add(
        &mut self,
        id: &Identity,
        mut cfg: Config,
        database: Option<Box<dyn Database>>,
    ) -> anyhow::Result<&Node> {
        let db = server::open_db(&cfg).await?;
        Ledger::init(&db, id).await?;
        // Recording under the node's `[rules]`, as `server::run` does.
        let ledger = Ledger::open(db, Some(id.code), Arc::new(SystemClock))
            .await?
            .with_rules(server::ledger_rules(&cfg));
        let files = TlsFiles::new(cfg.tls_dir());
        match id.parent {
            None => enroll::setup_root(&ledger, &files).await?,
            Some(p) => {
                let parent = self
                    .nodes
                    .get(&p)
                    .with_context(|| format!("{p} must be started before its child {}", id.code))?;
                let Some(sync) = parent.sync else {
                    bail!("parent {p} has no sync listener");
                };
                let parent_url = format!("https://{sync}");
                if !files.chain().exists() {
                    let token = enroll::create_token(
                        &parent.ledger,
                        &parent.tls(),
                        id.code,
                        Some(&id.name),
                        ENROLL_TOKEN_MS,
                    )
                    .await?;
                    enroll::join(&ledger, &files, &parent_url, &token).await?;
                }
                cfg.parent_url = Some(parent_url);
            }
        }
        let node = start(id.clone(), ledger, cfg, database).await?;
        Ok(self.nodes.entry(id.code).or_insert(node))
    }

    /// Stops a node (as a crash would, between two of its transactions).
    pub async fn stop(&mut self, code: NodeCode) -> anyhow::Result<Node> {
        let mut node = self.nodes.remove(&code).context("no such node")?;
        if let Some(s) = node.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = node.task.take() {
            t.await??;
        }
        node.ledger.db().close().await;
        Ok(node)
    }

    /// Starts a stopped node again on its own database and files; its sync
    /// listener keeps its port, so its children's `parent_url` stays right.
    pub async fn restart(&mut self, node: Node) -> anyhow::Result<()> {
        let ledger = server::open_ledger(&node.cfg, Arc::new(SystemClock)).await?;
        let mut cfg = node.cfg.clone();
        if let Some(s) = node.sync {
            cfg.sync_listen = s.to_string();
        }
        let code = node.id.code;
        let started = start(node.id, ledger, cfg, node.database).await?;
        self.nodes.insert(code, started);
        Ok(())
    }

    /// Waits until every ancestor holds every descendant's chain exactly as
    /// the descendant does (same seq and head hash per origin).
    pub async fn converged(&self, deadline: Duration) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            let mut lagging = Vec::new();
            for (c, n) in &self.nodes {
                let own = n.ledger.heads().await?;
                let Some(mine) = own.iter().find(|h| h.origin == *c) else {
                    continue;
                };
                let mut up = n.id.parent;
                while let Some(p) = up {
                    let Some(pn) = self.nodes.get(&p) else { break };
                    let theirs = pn.ledger.heads().await?;
                    if theirs.iter().find(|h| h.origin == *c) != Some(mine) {
                        lagging.push(format!("{p} lacks {c}@{}", mine.seq));
                    }
                    up = pn.id.parent;
                }
            }
            if lagging.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= until {
                bail!("not converged after {deadline:?}: {}", lagging.join(", "));
            }
            poll.tick().await;
        }
    }

    /// Stops every node, children first.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let codes: Vec<NodeCode> = self.nodes.keys().rev().copied().collect();
        for c in codes {
            self.stop(c).await?;
        }
        Ok(())
    }
}

/// Binds the node's listeners and runs it until [`Cluster::stop`].
async fn start(
    id: Identity,
    ledger: Ledger,
    cfg: Config,
    database: Option<Box<dyn Database>>,
) -> anyhow::Result<Node> {
    let api = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("{}: listening on {}", id.code, cfg.listen))?;
    let api_addr = api.local_addr()?;
    let sync =
        match id.level.child() {
            Some(_) => Some(TcpListener::bind(&cfg.sync_listen).await.with_context(|| {
                format!("{}: listening for sync on {}", id.code, cfg.sync_listen)
            })?),
            None => None,
        };
    let sync_addr = sync.as_ref().map(|l| l.local_addr()).transpose()?;
    let token = test_token(&ledger, &cfg).await?;
    let http = bearer_client(&token)?;
    let (tx, rx) = oneshot::channel();
    let (l, c) = (ledger.clone(), cfg.clone());
    let task = tokio::spawn(async move {
        server::run(l, &c, api, sync, async {
            let _ = rx.await;
        })
        .await?;
        Ok(())
    });
    let url = cfg.database_url()?;
    Ok(Node {
        code: id.code,
        id,
        ledger,
        cfg,
        url,
        api: api_addr,
        sync: sync_addr,
        token,
        http,
        stop: Some(tx),
        task: Some(task),
        database,
    })
}

/// Makes [`TEST_LOGIN`] at the node (once: a node that was started before
/// keeps it) and a fresh API token for it.
pub async fn test_token(ledger: &Ledger, cfg: &Config) -> anyhow::Result<String> {
    let accounts = Accounts::new(
        ledger.db().clone(),
        ledger.clock().clone(),
        cfg.accounts.clone(),
    );
    let user = match accounts.user(TEST_LOGIN).await? {
        Some(u) => u,
        None => {
            let password: [u8; 24] = rand::random();
            accounts
                .create_user(NewUser {
                    login: TEST_LOGIN.into(),
                    name: "测试".into(),
                    password: hex::encode(password),
                    department: None,
                    roles: Role::ALL.to_vec(),
                    classified: true,
                })
                .await
                .context("creating the test account")?
        }
    };
    let t = accounts
        .create_token(user.id, "fundsync-cluster", Some(TEST_TOKEN_DAYS))
        .await
        .context("creating the test account's token")?;
    Ok(t.secret.to_string())
}

/// A client whose every request carries `token`.
pub fn bearer_client(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?;
    v.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, v);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}
