//! Ledgers and nodes for tests: a fresh ledger on either engine, and a real
//! node serving HTTP on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use fundsync_node::clock::ManualClock;
use fundsync_node::config::Config;
use fundsync_node::ledger::{Identity, Ledger, LedgerRules};
use fundsync_node::store::{Db, PoolLimits};
use fundsync_protocol::{Level, NodeCode};
use tokio::sync::oneshot;

use crate::pg::TestDb;

/// 2020-06-30 00:00 UTC: the demo's year, so "today" is in 2020.
pub const NOW_MS: i64 = 1_593_475_200_000;

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A ledger with what keeps it alive.
#[derive(Debug)]
pub struct TestLedger {
    pub ledger: Ledger,
    pub clock: Arc<ManualClock>,
    pub url: String,
    _dir: tempfile::TempDir,
    _pg: Option<TestDb>,
}

pub fn code(s: &str) -> NodeCode {
    s.parse().expect("valid node code")
}

/// The Bayingol prefecture (652800) under the region 650000.
pub fn prefecture() -> Identity {
    Identity {
        code: code("652800"),
        name: "巴音郭楞蒙古自治州".into(),
        level: Level::Prefecture,
        parent: Some(code("650000")),
    }
}

/// The region 650000, the top of the tree.
pub fn region() -> Identity {
    Identity {
        code: code("650000"),
        name: "新疆维吾尔自治区".into(),
        level: Level::Region,
        parent: None,
    }
}

/// A county under 652800.
pub fn county(c: &str, name: &str) -> Identity {
    Identity {
        code: code(c),
        name: name.into(),
        level: Level::County,
        parent: Some(code("652800")),
    }
}

/// A database URL for a fresh, empty ledger on `engine`.
pub async fn database(
    engine: Engine,
) -> anyhow::Result<(String, tempfile::TempDir, Option<TestDb>)> {
    let dir = tempfile::tempdir()?;
    Ok(match engine {
        Engine::Sqlite => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("ledger.sqlite").display()
            ),
            dir,
            None,
        ),
        Engine::Postgres => {
            let db = TestDb::create().await?;
            (db.url.clone(), dir, Some(db))
        }
    })
}

/// The rules the fixtures' ledgers and nodes run under: the defaults, but
/// payments need targets set, not approved (`target_approval_required`
/// off), as before the review and approval cycle (protocol version 5). The
/// topics written before it pay straight after setting a target; the cycle
/// is tested with the rule on (`targets.rs`, the demo), as a node runs by
/// default.
pub fn legacy_rules() -> LedgerRules {
    LedgerRules {
        target_approval_required: false,
        ..LedgerRules::default()
    }
}

/// A fresh ledger for `id` on `engine`, with a manual clock at [`NOW_MS`],
/// under [`legacy_rules`].
pub async fn ledger(engine: Engine, id: &Identity) -> anyhow::Result<TestLedger> {
    let (url, dir, pg) = database(engine).await?;
    let db = Db::open(&url, &PoolLimits::default())
        .await
        .context("opening test database")?;
    Ledger::init(&db, id).await?;
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let ledger = Ledger::open(db, Some(id.code), clock.clone())
        .await?
        .with_rules(legacy_rules());
    Ok(TestLedger {
        ledger,
        clock,
        url,
        _dir: dir,
        _pg: pg,
    })
}

/// A node serving its API on 127.0.0.1, port 0. Stops when dropped.
#[derive(Debug)]
pub struct TestNode {
    pub addr: SocketAddr,
    pub base: String,
    pub ledger: TestLedger,
    /// The node's configuration as it runs.
    pub cfg: Config,
    /// An API token of `fundsync_cluster::TEST_LOGIN`, who holds every role.
    pub token: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestNode {
    /// Starts a node for `id` on a fresh SQLite ledger.
    pub async fn start(id: &Identity) -> anyhow::Result<TestNode> {
        Self::start_on(Engine::Sqlite, id).await
    }

    pub async fn start_on(engine: Engine, id: &Identity) -> anyhow::Result<TestNode> {
        Self::start_with(engine, id, |_| {}).await
    }

    /// [`TestNode::start_on`] with `tweak` applied to the configuration.
    pub async fn start_with(
        engine: Engine,
        id: &Identity,
        tweak: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestNode> {
        let ledger = ledger(engine, id).await?;
        let mut cfg = Config::new(id.code, id.name.clone(), id.level);
        cfg.body_bytes_max = 64 * 1024;
        cfg.import_bytes_max = 4 * 1024 * 1024;
        cfg.rules.target_approval_required = false;
        tweak(&mut cfg);
        let token = fundsync_cluster::test_token(&ledger.ledger, &cfg).await?;
        let http = fundsync_cluster::bearer_client(&token)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let l = ledger.ledger.clone();
        let c = cfg.clone();
        let task = tokio::spawn(async move {
            fundsync_node::server::serve(l, &c, listener, async {
                let _ = rx.await;
            })
            .await
        });
        Ok(TestNode {
            addr,
            base: format!("http://{addr}"),
            ledger,
            cfg,
            token,
            http,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// A client that sends [`TestNode::token`] with every request.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
