//! Honest health (issue 17, item 5): a revoked child shows `revoked` at
//! once and its refusals are logged at the parent; the link keeps push and
//! pull failures apart, so a pull that works does not hide a push that
//! keeps failing; an entry a relay holds and does not pass on shows its
//! link as lagging once the threshold (`link_lag_ms`) has passed, instead
//! of "ok · up 1 behind".

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use super::*;

/// A node's health tree (`GET /api/v1/sync/health`): the state of `node`.
async fn state_at(c: &Cluster, at: &str, node: &str) -> Result<String> {
    let tree: serde_json::Value = c
        .node(at)
        .http()
        .get(c.node(at).api_url("/sync/health"))
        .send()
        .await?
        .json()
        .await?;
    Ok(tree["links"]
        .as_array()
        .context("links")?
        .iter()
        .find(|l| l["node"] == node)
        .and_then(|l| l["state"].as_str())
        .unwrap_or("absent")
        .to_owned())
}

/// What the process logs, kept for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Installs the process's subscriber (WARN and above) writing here.
    /// nextest runs each test in a process of its own.
    fn capture() -> Result<Logs> {
        use tracing_subscriber::util::SubscriberInitExt as _;
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
            .try_init()
            .map_err(|e| anyhow::anyhow!("another subscriber is installed: {e}"))?;
        Ok(logs)
    }

    fn lines(&self) -> Vec<String> {
        let buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The prefecture revokes a county that was "ok" a moment ago: its own
/// health tree says `revoked` at once (it used to say "ok" until the
/// county's last report aged into "silent", 30 minutes by default), the
/// region's says so as soon as the revocation has rolled up, and the
/// county's next request is refused with a WARN naming it and a count in
/// `fundsync_sync_errors_total{kind="revoked"}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_child_shows_revoked_at_once_and_its_refusals_are_logged() -> Result<()> {
    let logs = Logs::capture()?;
    let c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    for at in ["652800", "650000"] {
        eventually(WAIT, &format!("the county ok at {at}"), || async {
            Ok((state_at(&c, at, "652822").await? == "ok").then_some(()))
        })
        .await?;
    }
    c.ledger("652800")
        .submit_one(
            Body::ChildRevoked(ChildRevoked {
                code: code("652822"),
                reason: "设备丢失".into(),
            }),
            &clerk(),
        )
        .await?;
    let now = state_at(&c, "652800", "652822").await?;
    ensure!(now == "revoked", "at the prefecture right after: {now}");
    eventually(WAIT, "revoked at the region", || async {
        Ok((state_at(&c, "650000", "652822").await? == "revoked").then_some(()))
    })
    .await?;
    let tree: fundsync_node::sync::health::HealthTreeOwned = c
        .node("650000")
        .http()
        .get(c.node("650000").api_url("/sync/health"))
        .send()
        .await?
        .json()
        .await?;
    let text = fundsync_node::sync::health::render_tree(&tree, false);
    ensure!(text.contains("└─ 652822 revoked"), "{text}");
    // The county goes on asking; the prefecture says so, by its code.
    let warned = eventually(WAIT, "a WARN naming the revoked county", || async {
        Ok(logs
            .lines()
            .into_iter()
            .find(|l| l.contains("WARN") && l.contains("revoked") && l.contains("652822")))
    })
    .await?;
    ensure!(warned.contains("refused a revoked child"), "{warned}");
    let metrics = c
        .node("652800")
        .http()
        .get(format!("http://{}/metrics", c.node("652800").api))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        metrics
            .contains(r#"fundsync_sync_errors_total{node="652800",side="server",kind="revoked"}"#)
            || logs
                .lines()
                .iter()
                .any(|l| l.contains("refused a revoked child's TLS handshake")),
        "no count of the refusal:\n{metrics}"
    );
    c.shutdown().await
}

/// The prefecture comes back with a batch limit the county's next batch
/// is over: every push is refused (413) while every pull works. The
/// county's link keeps the push's failures and error (a pull used to clear
/// them), reports them to its parent, and the region sees the link broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_that_works_does_not_hide_a_push_that_fails() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.converged(WAIT).await?;
    let mut pref = c.stop("652800").await?;
    pref.cfg.sync_batch_bytes_max = 4 * 1024;
    c.restart(pref).await?;
    let bodies: Vec<Body> = (0..40)
        .map(|i| project(&format!("P{i:03}"), "800000"))
        .collect();
    c.ledger("652822").submit(&bodies, &clerk()).await?;
    let link = eventually(WAIT, "pushes refused while pulls work", || async {
        let l = link_of(&c, "652822").await?;
        Ok((l["push_failures"].as_u64() >= Some(3)
            && l["pull_failures"] == 0
            && l["last_down_ms"].as_i64() > l["started_ms"].as_i64())
        .then_some(l))
    })
    .await?;
    let push_error = link["push_error"].as_str().unwrap_or_default().to_owned();
    ensure!(
        push_error.contains("413") && push_error.contains("payload_too_large"),
        "{link}"
    );
    ensure!(link["pull_error"].is_null(), "{link}");
    // Pulls go on succeeding (each long-poll ends within pull_wait_ms); the
    // push's failures stay in the combined figures throughout.
    let pulled_before = link["last_down_ms"].as_i64().unwrap_or_default();
    let later = eventually(WAIT, "another successful pull", || async {
        let l = link_of(&c, "652822").await?;
        Ok((l["last_down_ms"].as_i64() > Some(pulled_before)).then_some(l))
    })
    .await?;
    ensure!(
        later["consecutive_failures"].as_u64() >= Some(3)
            && later["last_error"].as_str() == later["push_error"].as_str()
            && later["push_error"].as_str().is_some(),
        "a pull hid the push's failures: {later}"
    );
    eventually(WAIT, "the county's link broken at the region", || async {
        Ok((state_at(&c, "650000", "652822").await? == "broken").then_some(()))
    })
    .await?;
    c.shutdown().await
}

/// The prefecture holds an entry of the county's that it cannot pass on
/// (no checkpoint of it kept any more, nothing in its relay cache after a
/// restart): its link to the region is behind by that entry, and after
/// `link_lag_ms` (1 s here) the region's tree says `lagging`. It used to
/// say "ok · up 1 behind" for ever, since the pusher, finding nothing it
/// could send, counted itself caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withheld_entry_shows_its_link_lagging() -> Result<()> {
    let mut c = Cluster::start_with(Engine::Sqlite, &three_levels(), |cfg| {
        cfg.link_lag_ms = 1_000;
    })
    .await?;
    c.converged(WAIT).await?;
    let region = c.stop("650000").await?;
    let county = c.ledger("652822").clone();
    county.submit_one(project("W1", "800000"), &clerk()).await?;
    let (seq, _) = head_of(&county, "652822").await?;
    eventually(WAIT, "the entry at the prefecture", || async {
        Ok((head_of(c.ledger("652800"), "652822").await?.0 == seq).then_some(()))
    })
    .await?;
    let county = c.stop("652822").await?;
    let pref = c.stop("652800").await?;
    {
        let l = reopen(&pref).await?;
        let mut tx = l.db().begin_aside().await?;
        sqlx::query("DELETE FROM checkpoints WHERE origin = '652822'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        l.db().close().await;
    }
    c.restart(region).await?;
    c.restart(pref).await?;
    ensure!(
        head_of(c.ledger("650000"), "652822").await?.0 < seq,
        "the region already holds the entry"
    );
    let started = std::time::Instant::now();
    eventually(
        WAIT,
        "the prefecture's link lagging at the region",
        || async { Ok((state_at(&c, "650000", "652800").await? == "lagging").then_some(())) },
    )
    .await?;
    ensure!(
        started.elapsed() >= Duration::from_secs(1),
        "lagging before the threshold"
    );
    let link = link_of(&c, "652800").await?;
    ensure!(link["push_failures"] == 0, "{link}");
    drop(county);
    c.shutdown().await
}
