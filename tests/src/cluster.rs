//! The tests' and benchmarks' tree of real nodes: [`fundsync_cluster`]'s
//! launcher (the one `fundsync demo` uses) on a temporary directory, with
//! each node on SQLite or on a PostgreSQL database of its own, its API and
//! sync listener on 127.0.0.1 port 0, and quick retries.

use std::time::Duration;

use anyhow::{bail, Context as _};
use fundsync_cluster::BoxFuture;
use fundsync_node::config::Config;
use fundsync_node::ledger::{Identity, Ledger};
use fundsync_protocol::Level;

use crate::fixtures::{code, database, Engine};
use crate::pg::TestDb;

pub use fundsync_cluster::{Backup, Node as ClusterNode};

impl fundsync_cluster::Database for TestDb {
    fn copy(&self) -> BoxFuture<'_, anyhow::Result<String>> {
        Box::pin(TestDb::copy(self))
    }

    fn restore<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(TestDb::restore(self, name))
    }
}

/// A running tree of nodes; derefs to the launcher's [`fundsync_cluster::Cluster`]
/// (`nodes`, `converged`).
#[derive(Debug)]
pub struct Cluster {
    inner: fundsync_cluster::Cluster,
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

impl std::ops::Deref for Cluster {
    type Target = fundsync_cluster::Cluster;

    fn deref(&self) -> &fundsync_cluster::Cluster {
        &self.inner
    }
}

/// Settings for tests: quick retries, short long-polls, port 0.
pub fn test_config(id: &Identity, data_dir: std::path::PathBuf) -> Config {
    let mut cfg = Config::new(id.code, id.name.clone(), id.level);
    cfg.parent_code = id.parent;
    cfg.data_dir = data_dir;
    cfg.retry_base_ms = 20;
    cfg.retry_max_ms = 300;
    cfg.pull_wait_ms = 5_000;
    cfg.health_report_ms = 100;
    cfg.listen = "127.0.0.1:0".into();
    cfg.sync_listen = "127.0.0.1:0".into();
    // As the fixtures' nodes (`fixtures::legacy_rules`); a tweak turns it on.
    cfg.rules.target_approval_required = false;
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
            inner: fundsync_cluster::Cluster::new(),
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
        &self.inner.nodes[&code(c)]
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
        let (url, pg) = match self.engine {
            Engine::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.join("ledger.sqlite").display()),
                None,
            ),
            Engine::Postgres => {
                let (url, _tmp, pg) = database(Engine::Postgres).await?;
                (url, pg)
            }
        };
        cfg.database_url = Some(url);
        let pg: Option<Box<dyn fundsync_cluster::Database>> = match pg {
            Some(p) => Some(Box::new(p)),
            None => None,
        };
        self.inner.add(id, cfg, pg).await?;
        Ok(())
    }

    /// Stops a node (as a crash would, between two of its transactions).
    pub async fn stop(&mut self, c: &str) -> anyhow::Result<ClusterNode> {
        self.inner.stop(code(c)).await
    }

    /// Starts a stopped node again on its own database and files.
    pub async fn restart(&mut self, node: ClusterNode) -> anyhow::Result<()> {
        self.inner.restart(node).await
    }

    /// Waits until every ancestor holds every descendant's chain exactly as
    /// the descendant does (same seq and head hash per origin).
    pub async fn converged(&self, deadline: Duration) -> anyhow::Result<()> {
        self.inner.converged(deadline).await
    }

    /// Stops every node, children first.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.inner.shutdown().await
    }
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
