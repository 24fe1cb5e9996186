//! A tree of real nodes in one process: each with its own ledger (SQLite or
//! PostgreSQL), its API on 127.0.0.1 port 0, and, for nodes with children, a
//! mutual-TLS sync listener on port 0. The region creates the tree's root CA;
//! every other node is enrolled by its parent with a one-time token and
//! joins over the real protocol, exactly as `fundsync enroll` / `join` do.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use fundsync_node::clock::SystemClock;
use fundsync_node::config::Config;
use fundsync_node::ledger::{Identity, Ledger};
use fundsync_node::pki::TlsFiles;
use fundsync_node::store::{Db, PoolLimits};
use fundsync_node::sync::enroll;
use fundsync_protocol::body::ChildRegistered;
use fundsync_protocol::{Body, Level, NodeCode};
use tokio::sync::oneshot;

use crate::fixtures::{code, database, Engine};
use crate::pg::TestDb;

/// One running node of a [`Cluster`].
#[derive(Debug)]
pub struct ClusterNode {
    pub id: Identity,
    pub ledger: Ledger,
    pub cfg: Config,
    pub url: String,
    pub api: SocketAddr,
    pub sync: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _pg: Option<TestDb>,
}

impl ClusterNode {
    /// `http://127.0.0.1:PORT/api/v1{path}`.
    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.api)
    }

    pub fn tls(&self) -> TlsFiles {
        TlsFiles::new(self.cfg.tls_dir())
    }
}

/// A copy of a stopped node's database, as `deploy/backup` makes one.
#[derive(Debug)]
pub enum Backup {
    /// The SQLite files (database, and WAL if any), copied into a directory.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database copied from the node's.
    Postgres(String),
}

const SQLITE_FILES: [&str; 3] = ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"];

impl ClusterNode {
    /// Copies the database of this stopped node ([`Cluster::stop`]).
    pub async fn backup(&self) -> anyhow::Result<Backup> {
        match &self._pg {
            Some(pg) => Ok(Backup::Postgres(pg.copy().await?)),
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
        match (backup, &self._pg) {
            (Backup::Postgres(name), Some(pg)) => pg.restore(name).await,
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

/// A running tree of nodes.
#[derive(Debug)]
pub struct Cluster {
    pub nodes: BTreeMap<NodeCode, ClusterNode>,
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

/// Settings for tests: quick retries, short long-polls.
pub fn test_config(id: &Identity, data_dir: std::path::PathBuf) -> Config {
    let mut cfg = Config::new(id.code, id.name.clone(), id.level);
    cfg.parent_code = id.parent;
    cfg.data_dir = data_dir;
    cfg.retry_base_ms = 20;
    cfg.retry_max_ms = 300;
    cfg.pull_wait_ms = 5_000;
    cfg.health_report_ms = 100;
    cfg.sync_listen = "127.0.0.1:0".into();
    cfg
}

/// The identities of a small tree: region 650000; prefectures 652800
/// (巴音郭楞) and 653100 (喀什); two counties under each.
pub fn small_tree() -> Vec<Identity> {
    let n = |c: &str, name: &str, level, parent: Option<&str>| Identity {
        code: code(c),
        name: name.into(),
        level,
        parent: parent.map(code),
    };
    vec![
        n("650000", "新疆维吾尔自治区", Level::Region, None),
        n(
            "652800",
            "巴音郭楞蒙古自治州",
            Level::Prefecture,
            Some("650000"),
        ),
        n("653100", "喀什地区", Level::Prefecture, Some("650000")),
        n("652822", "轮台县", Level::County, Some("652800")),
        n("652823", "尉犁县", Level::County, Some("652800")),
        n("653121", "疏附县", Level::County, Some("653100")),
        n("653122", "疏勒县", Level::County, Some("653100")),
    ]
}

impl Cluster {
    /// Starts `tree` (parents listed before their children) on `engine`.
    pub async fn start(engine: Engine, tree: &[Identity]) -> anyhow::Result<Cluster> {
        Self::start_with(engine, tree, |_| {}).await
    }

    /// Starts `tree` like [`Cluster::start`], with `tweak` applied to each
    /// node's [`test_config`] (benchmarks: production timings, batch sizes).
    pub async fn start_with(
        engine: Engine,
        tree: &[Identity],
        tweak: impl Fn(&mut Config) + Sync,
    ) -> anyhow::Result<Cluster> {
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            engine,
            dir: tempfile::tempdir()?,
        };
        for id in tree {
            c.add_with(id, &tweak)
                .await
                .with_context(|| format!("starting {}", id.code))?;
        }
        Ok(c)
    }

    pub fn node(&self, c: &str) -> &ClusterNode {
        &self.nodes[&code(c)]
    }

    pub fn ledger(&self, c: &str) -> &Ledger {
        &self.node(c).ledger
    }

    /// Creates, enrols and starts one more node under its (running) parent.
    pub async fn add(&mut self, id: &Identity) -> anyhow::Result<()> {
        self.add_with(id, &|_| {}).await
    }

    /// [`Cluster::add`] with `tweak` applied to the node's configuration.
    pub async fn add_with(
        &mut self,
        id: &Identity,
        tweak: &(dyn Fn(&mut Config) + Sync),
    ) -> anyhow::Result<()> {
        let dir = self.dir.path().join(id.code.as_str());
        let mut cfg = test_config(id, dir.clone());
        tweak(&mut cfg);
        let (url, _tmp, pg) = match self.engine {
            Engine::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.join("ledger.sqlite").display()),
                None,
                None,
            ),
            Engine::Postgres => {
                let (url, tmp, pg) = database(Engine::Postgres).await?;
                (url, Some(tmp), pg)
            }
        };
        std::fs::create_dir_all(&dir)?;
        cfg.database_url = Some(url.clone());
        let db = Db::open(&url, &PoolLimits::default()).await?;
        Ledger::init(&db, id).await?;
        let ledger = Ledger::open(db, Some(id.code), Arc::new(SystemClock)).await?;
        let files = TlsFiles::new(cfg.tls_dir());
        match id.parent {
            None => enroll::setup_root(&ledger, &files).await?,
            Some(p) => {
                let parent = self
                    .nodes
                    .get(&p)
                    .context("the parent must be started before its children")?;
                parent
                    .ledger
                    .submit_one(Body::ChildRegistered(ChildRegistered {
                        code: id.code,
                        name: id.name.clone(),
                    }))
                    .await?;
                let token =
                    enroll::create_token(&parent.ledger, &parent.tls(), id.code, None, 600_000)
                        .await?;
                let Some(sync) = parent.sync else {
                    bail!("parent {p} has no sync listener");
                };
                let parent_url = format!("https://{sync}");
                enroll::join(&ledger, &files, &parent_url, &token).await?;
                cfg.parent_url = Some(parent_url);
            }
        }
        let node = start_node(id.clone(), ledger, cfg, pg).await?;
        self.nodes.insert(id.code, node);
        Ok(())
    }

    /// Stops a node (as a crash would, between two of its transactions).
    pub async fn stop(&mut self, c: &str) -> anyhow::Result<ClusterNode> {
        let mut node = self.nodes.remove(&code(c)).context("no such node")?;
        if let Some(s) = node.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = node.task.take() {
            t.await??;
        }
        node.ledger.db().close().await;
        Ok(node)
    }

    /// Starts a stopped node again on its own database and files.
    pub async fn restart(&mut self, node: ClusterNode) -> anyhow::Result<()> {
        let db = Db::open(&node.url, &PoolLimits::default()).await?;
        let ledger = Ledger::open(db, Some(node.id.code), Arc::new(SystemClock)).await?;
        let mut cfg = node.cfg.clone();
        if let Some(s) = node.sync {
            // Keep the port, so its children's parent_url stays right.
            cfg.sync_listen = s.to_string();
        }
        let code = node.id.code;
        let started = start_node(node.id.clone(), ledger, cfg, node._pg).await?;
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
            self.stop(c.as_str()).await?;
        }
        Ok(())
    }
}

async fn start_node(
    id: Identity,
    ledger: Ledger,
    cfg: Config,
    pg: Option<TestDb>,
) -> anyhow::Result<ClusterNode> {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_addr = api.local_addr()?;
    let sync = match id.level.child() {
        Some(_) => Some(tokio::net::TcpListener::bind(&cfg.sync_listen).await?),
        None => None,
    };
    let sync_addr = sync.as_ref().map(|l| l.local_addr()).transpose()?;
    let (tx, rx) = oneshot::channel();
    let (l, c) = (ledger.clone(), cfg.clone());
    let task = tokio::spawn(async move {
        fundsync_node::server::run(l, &c, api, sync, async {
            let _ = rx.await;
        })
        .await?;
        Ok(())
    });
    let url = cfg.database_url.clone().unwrap_or_default();
    Ok(ClusterNode {
        id,
        ledger,
        cfg,
        url,
        api: api_addr,
        sync: sync_addr,
        stop: Some(tx),
        task: Some(task),
        _pg: pg,
    })
}

/// Polls `check` until it returns `Some`, or fails after `deadline`.
pub async fn eventually<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= until {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        poll.tick().await;
    }
}
