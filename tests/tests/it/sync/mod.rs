//! Sync between real nodes over real mutual TLS: allocations down, payments
//! up, relays that cannot forge, restarts that lose and double nothing, and
//! every way a peer can be refused.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::ledger::query::{AllocationFilter, GroupBy, Page, Summary};
use fundsync_node::ledger::Ledger;
use fundsync_node::pki;
use fundsync_node::sync::{self, VERSION_HEADER};
use fundsync_protocol::body::*;
use fundsync_protocol::{checkpoint_for, Batch, Body, Entry, EntryId, Hash, NodeCode, NodeKey};
use fundsync_tests::build::*;
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{code, Engine};
use rust_decimal::Decimal;

mod health;
mod hol;
mod offline;
mod peers;
mod restore;
mod restored;
mod versions;

fundsync_tests::on_both!(
    workers = 4;
    money_flows_down_and_up,
);

const WAIT: Duration = Duration::from_secs(30);

/// Waits until `ledger` holds allocation `id`.
async fn has_allocation(ledger: &Ledger, id: EntryId) -> Result<()> {
    eventually(
        WAIT,
        &format!("{id} at {}", ledger.identity().code),
        || async { Ok(ledger.allocation(id).await?.map(|_| ())) },
    )
    .await
}

async fn summary_by_node(ledger: &Ledger, node: Option<NodeCode>) -> Result<Summary> {
    Ok(ledger
        .summary(day("2020-12-31"), &[GroupBy::Node], node)
        .await?)
}

fn paid_of(s: &Summary, node: &str) -> Decimal {
    s.rows
        .iter()
        .find(|r| r.group.get("node").map(String::as_str) == Some(node))
        .map(|r| r.paid)
        .unwrap_or_default()
}

/// Money from the centre down to two counties in two prefectures, projects
/// and payments back up: every allocation reaches its county and only it,
/// the region sees every payment, and its summary of each county equals the
/// county's own.
async fn money_flows_down_and_up(engine: Engine) -> Result<()> {
    let c = Cluster::start(engine, &small_tree()).await?;
    let region = c.ledger("650000");
    let received = region
        .submit_one(
            Body::FundsReceived(FundsReceived {
                doc_no: "财农〔2020〕7号".into(),
                category: "X-01".into(),
                amount: amount("1000000"),
                received_on: day("2020-04-20"),
                source: "财政部".into(),
                title: String::new(),
            }),
            &clerk(),
        )
        .await?
        .id();
    let to_bz = region
        .submit_one(
            issue(
                "新财农〔2020〕12号",
                received,
                "X-01",
                "652800",
                "600000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    let to_ks = region
        .submit_one(
            issue(
                "新财农〔2020〕13号",
                received,
                "X-01",
                "653100",
                "400000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652800"), to_bz).await?;
    has_allocation(c.ledger("653100"), to_ks).await?;
    ensure!(
        c.ledger("653100").allocation(to_bz).await?.is_none(),
        "an allocation reached a prefecture it was not issued to"
    );

    let lt = c
        .ledger("652800")
        .submit_one(
            issue(
                "巴财农〔2020〕21号",
                to_bz,
                "X-01",
                "652822",
                "250000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    let wl = c
        .ledger("652800")
        .submit_one(
            issue(
                "巴财农〔2020〕22号",
                to_bz,
                "X-01",
                "652823",
                "200000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    let sf = c
        .ledger("653100")
        .submit_one(
            issue(
                "喀财农〔2020〕5号",
                to_ks,
                "X-01",
                "653121",
                "300000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652822"), lt).await?;
    has_allocation(c.ledger("652823"), wl).await?;
    has_allocation(c.ledger("653121"), sf).await?;
    for (county, foreign) in [
        ("652822", wl),
        ("652823", lt),
        ("653121", lt),
        ("653122", sf),
    ] {
        ensure!(
            c.ledger(county).allocation(foreign).await?.is_none(),
            "{county} received {foreign}, which was issued to another county"
        );
    }
    let county_allocs = c
        .ledger("653122")
        .allocations(AllocationFilter::default(), Page::default())
        .await?;
    ensure!(
        county_allocs.items.is_empty(),
        "653122 was issued nothing but holds {:?}",
        county_allocs.items
    );

    let mut first_payment = Vec::new();
    for (county, alloc, amt) in [
        ("652822", lt, "12345.67"),
        ("652823", wl, "99999.99"),
        ("653121", sf, "0.01"),
    ] {
        let l = c.ledger(county);
        let out = l
            .submit(
                &[
                    project("P1", "800000"),
                    target("P1"),
                    payment("V0001", alloc, "P1", amt, "2020-05-10"),
                    payment("V0002", alloc, "P1", "1000", "2020-05-10"),
                ],
                &clerk(),
            )
            .await?;
        first_payment.push(out[2].id());
    }
    c.converged(WAIT).await?;

    // Trace at the region, over its API: payment → project with its target
    // → county allocation → prefecture's → the funds from the centre.
    let trace: serde_json::Value = c
        .node("650000")
        .http()
        .get(
            c.node("650000")
                .api_url(&format!("/trace/payments/{}", first_payment[0])),
        )
        .send()
        .await?
        .json()
        .await?;
    let steps: Vec<&str> = trace["allocations"]
        .as_array()
        .context("allocations")?
        .iter()
        .filter_map(|s| s["allocation"]["id"].as_str())
        .collect();
    let expected = [lt.to_string(), to_bz.to_string(), received.to_string()];
    ensure!(steps == expected, "trace {steps:?}, expected {expected:?}");
    ensure!(trace["complete"] == true, "{trace}");
    ensure!(
        trace["project"]["targets"][0]["indicator"] == "硬化道路里程",
        "the county's target did not reach the region: {trace}"
    );
    ensure!(trace["allocations"][1]["holder_name"] == "巴音郭楞蒙古自治州");

    // The region sees every payment, traceable to its county.
    let at_region = summary_by_node(region, None).await?;
    for (county, expected) in [
        ("652822", "13345.67"),
        ("652823", "100999.99"),
        ("653121", "1000.01"),
        ("653122", "0"),
    ] {
        let own = summary_by_node(c.ledger(county), None).await?;
        let expected: Decimal = expected.parse()?;
        ensure!(
            paid_of(&at_region, county) == expected && paid_of(&own, county) == expected,
            "{county}: region sees {}, county itself {}, expected {expected}",
            paid_of(&at_region, county),
            paid_of(&own, county)
        );
        let theirs = own.rows.iter().find(|r| r.group["node"] == county);
        let ours = at_region.rows.iter().find(|r| r.group["node"] == county);
        ensure!(
            serde_json::to_value(theirs)? == serde_json::to_value(ours)?,
            "{county}: the region's row {ours:?} differs from the county's own {theirs:?}"
        );
    }
    let paid_total: Decimal = ["652822", "652823", "653121", "653122"]
        .iter()
        .map(|n| paid_of(&at_region, n))
        .sum();
    ensure!(at_region.total.paid == paid_total, "region total paid");
    // The prefecture sees its own subtree only.
    let at_bz = summary_by_node(c.ledger("652800"), None).await?;
    ensure!(
        paid_of(&at_bz, "653121").is_zero(),
        "652800 sees Kashgar's payments"
    );
    ensure!(at_bz.total.paid == "114345.66".parse::<Decimal>()?);
    c.shutdown().await
}

/// A county stopped in the middle of pushing thousands of payments, then
/// started again: the region ends with every payment exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn county_restarted_mid_sync_loses_and_doubles_nothing() -> Result<()> {
    let tree: Vec<_> = small_tree().into_iter().take(4).collect(); // 650000, 652800, 653100, 652822
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    let region = c.ledger("650000").clone();
    let got = region
        .submit_one(
            Body::FundsReceived(FundsReceived {
                doc_no: "财农〔2020〕7号".into(),
                category: "X-01".into(),
                amount: amount("100000000"),
                received_on: day("2020-04-20"),
                source: String::new(),
                title: String::new(),
            }),
            &clerk(),
        )
        .await?
        .id();
    let a = region
        .submit_one(
            issue(
                "新财农〔2020〕12号",
                got,
                "X-01",
                "652800",
                "50000000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652800"), a).await?;
    let b = c
        .ledger("652800")
        .submit_one(
            issue(
                "巴财农〔2020〕21号",
                a,
                "X-01",
                "652822",
                "20000000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    let county = c.ledger("652822").clone();
    has_allocation(&county, b).await?;
    county
        .submit(&[project("P1", "800000"), target("P1")], &clerk())
        .await?;

    const N: usize = 6_000;
    let mut bodies = Vec::with_capacity(N);
    for i in 0..N {
        bodies.push(payment(&format!("V{i:06}"), b, "P1", "1.01", "2020-05-10"));
    }
    // Two transactions, so the stop can fall between or during pushes.
    county.submit(&bodies[..N / 2], &clerk()).await?;
    county.submit(&bodies[N / 2..], &clerk()).await?;
    // Stop as soon as the prefecture has some but not all of it.
    let bz = c.ledger("652800").clone();
    eventually(WAIT, "the first pushes", || async {
        let h = bz.heads().await?;
        Ok(h.iter()
            .any(|h| h.origin == code("652822") && h.seq > 5)
            .then_some(()))
    })
    .await?;
    let stopped = c.stop("652822").await?;
    c.restart(stopped).await?;
    c.converged(WAIT).await?;

    let expected = Decimal::new(101, 2) * Decimal::from(N);
    let at_region = summary_by_node(&region, None).await?;
    ensure!(
        paid_of(&at_region, "652822") == expected,
        "region sees {} paid by 652822, expected {expected}",
        paid_of(&at_region, "652822")
    );
    let counted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE origin = '652822'")
        .fetch_one(region.db().read())
        .await?;
    ensure!(
        counted == i64::try_from(N)?,
        "{counted} payment rows at the region"
    );
    c.shutdown().await
}

// ---- rejections: each over real TLS, each leaves the receiver unchanged ----

/// A raw HTTPS client presenting `as_node`'s certificate to `parent`.
fn client_as(c: &Cluster, as_node: &str, parent: &str) -> Result<reqwest::Client> {
    client_of(c.node(as_node), parent)
}

/// A raw HTTPS client presenting `node`'s certificate (running or not).
fn client_of(node: &fundsync_tests::cluster::ClusterNode, parent: &str) -> Result<reqwest::Client> {
    let tls = node.tls().load_node()?;
    let config = pki::client_config(&tls, code(parent))?;
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls((*config).clone())
        .build()?)
}

fn sync_url(c: &Cluster, node: &str, path: &str) -> String {
    let addr = c.node(node).sync.expect("a sync listener");
    format!("https://{addr}{path}")
}

/// Posts raw bytes as an upward batch; returns status and error code.
async fn post_up(
    client: &reqwest::Client,
    url: &str,
    bytes: Vec<u8>,
    version: &str,
) -> Result<(u16, String, String)> {
    let res = match client
        .post(url)
        .header(VERSION_HEADER, version)
        .body(bytes)
        .send()
        .await
    {
        Ok(r) => r,
        // The server may answer an oversized body and close the connection
        // while the client is still sending it.
        Err(e) => return Ok((0, "connection closed".into(), e.to_string())),
    };
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    Ok((
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// A fingerprint of what a node holds of `origin`'s entries: their count,
/// the chain's head, and the down stream position. (Each node also records
/// its own link reports as it runs, so the whole journal keeps growing.)
async fn fingerprint(l: &Ledger, origin: &str) -> Result<String> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal WHERE origin = $1")
        .bind(origin)
        .fetch_one(l.db().read())
        .await?;
    let head = l
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code(origin));
    let down = l.down_state().await?;
    Ok(format!("{n}|{head:?}|{down:?}"))
}

/// A chain of `n` entries of `origin` after `prev` (seq `from`…).
fn chain(origin: &str, from: u64, prev: Hash, bodies: &[Body]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut prev = prev;
    for (seq, b) in (from..).zip(bodies) {
        let e = Entry::new(code(origin), seq, 1_600_000_000_000, prev, b, &clerk());
        prev = e.hash();
        out.push(e);
    }
    out
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

async fn fresh_child(
    dir: &tempfile::TempDir,
    c: &str,
    name: &str,
) -> Result<(Ledger, pki::TlsFiles)> {
    use fundsync_node::ledger::Identity;
    use fundsync_node::store::{Db, PoolLimits};
    let id = Identity {
        code: code(c),
        name: name.into(),
        level: fundsync_protocol::Level::Prefecture,
        parent: Some(code("650000")),
    };
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("l.sqlite").display()
    );
    let db = Db::open(&url, &PoolLimits::default()).await?;
    Ledger::init(&db, &id).await?;
    let ledger = Ledger::open(
        db,
        Some(id.code),
        std::sync::Arc::new(fundsync_node::clock::SystemClock),
    )
    .await?;
    Ok((ledger, pki::TlsFiles::new(dir.path().join("tls"))))
}

/// Reopens the ledger of a stopped node, as `fundsync` commands do.
async fn reopen(node: &fundsync_tests::cluster::ClusterNode) -> Result<Ledger> {
    use fundsync_node::store::{Db, PoolLimits};
    let db = Db::open(&node.url, &PoolLimits::default()).await?;
    // Under the rules the cluster's nodes run (`fixtures::legacy_rules`).
    Ok(Ledger::open(
        db,
        Some(node.id.code),
        std::sync::Arc::new(fundsync_node::clock::SystemClock),
    )
    .await?
    .with_rules(fundsync_tests::fixtures::legacy_rules()))
}

/// Region → prefecture → county allocation chain, ready for payments.
async fn fund_county(c: &Cluster, county: &str, amt: &str) -> Result<EntryId> {
    let region = c.ledger("650000");
    let got = region
        .submit_one(
            Body::FundsReceived(FundsReceived {
                doc_no: format!("财农〔2020〕{county}号"),
                category: "X-01".into(),
                amount: amount("10000000"),
                received_on: day("2020-04-20"),
                source: String::new(),
                title: String::new(),
            }),
            &clerk(),
        )
        .await?
        .id();
    let a = region
        .submit_one(
            issue(
                &format!("新财农〔2020〕{county}号"),
                got,
                "X-01",
                "652800",
                "10000000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652800"), a).await?;
    let b = c
        .ledger("652800")
        .submit_one(
            issue(
                &format!("巴财农〔2020〕{county}号"),
                a,
                "X-01",
                county,
                amt,
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger(county), b).await?;
    Ok(b)
}

fn three_levels() -> Vec<fundsync_node::ledger::Identity> {
    small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect()
}

/// Reads the region's health tree and the state of one node's link.
async fn link_state(c: &Cluster, node: &str) -> Result<String> {
    let tree: serde_json::Value = c
        .node("650000")
        .http()
        .get(c.node("650000").api_url("/sync/health"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_region_sees_the_health_of_every_link() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    // Every link reports, and the reports roll up to the region.
    for node in ["652800", "652822"] {
        eventually(WAIT, &format!("{node} ok at the region"), || async {
            Ok((link_state(&c, node).await? == "ok").then_some(()))
        })
        .await?;
    }
    // The prefecture goes away: the region hears nothing more from either,
    // and the county's own link breaks.
    let pref = c.stop("652800").await?;
    for node in ["652800", "652822"] {
        eventually(WAIT, &format!("{node} silent at the region"), || async {
            Ok((link_state(&c, node).await? == "silent").then_some(()))
        })
        .await?;
    }
    eventually(
        WAIT,
        "the county's broken link in its own reports",
        || async {
            let t: serde_json::Value = c
                .node("652822")
                .http()
                .get(c.node("652822").api_url("/sync/link"))
                .send()
                .await?
                .json()
                .await?;
            Ok((t["link"]["consecutive_failures"].as_u64().unwrap_or(0) >= 3).then_some(()))
        },
    )
    .await?;
    c.restart(pref).await?;
    // Back: the county's reports (the broken one, then ok) reach the region.
    for node in ["652800", "652822"] {
        eventually(WAIT, &format!("{node} ok again"), || async {
            Ok((link_state(&c, node).await? == "ok").then_some(()))
        })
        .await?;
    }
    // Telemetry, not ledger: no node wrote a single link report into its
    // journal, so nothing of it reached the region's.
    let in_journal: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM journal WHERE kind = 'link_reported'")
            .fetch_one(c.ledger("650000").db().read())
            .await?;
    ensure!(in_journal == 0, "{in_journal} link_reported entries");
    let tree: fundsync_node::sync::health::HealthTreeOwned = c
        .node("650000")
        .http()
        .get(c.node("650000").api_url("/sync/health"))
        .send()
        .await?
        .json()
        .await?;
    let text = fundsync_node::sync::health::render_tree(&tree, false);
    ensure!(
        text.contains("└─ 652800 ok") && text.contains("   └─ 652822 ok"),
        "{text}"
    );
    c.shutdown().await
}

/// Posts link reports to `url` as a child; returns status, error code and
/// message.
async fn post_health(
    client: &reqwest::Client,
    url: &str,
    reports: &fundsync_protocol::wire::HealthReports,
) -> Result<(u16, String, String)> {
    let res = client
        .post(url)
        .header(VERSION_HEADER, "1")
        .json(reports)
        .send()
        .await?;
    let status = res.status().as_u16();
    let v: serde_json::Value = res.json().await?;
    Ok((
        status,
        v["error"].as_str().unwrap_or_default().to_owned(),
        v["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

fn link_report(node: &str, parent: &str, at_ms: i64) -> fundsync_protocol::wire::LinkReport {
    fundsync_protocol::wire::LinkReport {
        node: code(node),
        reported_ms: at_ms,
        report: LinkReported {
            parent: code(parent),
            up: LinkDirection::default(),
            down: LinkDirection::default(),
            consecutive_failures: 0,
            last_error: String::new(),
            cert_expires_ms: None,
            peer_version: Some(1),
        },
    }
}

/// The held reports, node → (reported_ms, report JSON).
async fn held_reports(l: &Ledger) -> Result<Vec<(String, i64, Vec<u8>)>> {
    let mut rows: Vec<_> = l
        .link_reports()
        .await?
        .into_iter()
        .map(|r| (r.node, r.reported_ms, r.report))
        .collect();
    rows.sort();
    Ok(rows)
}

/// A child reports the health of itself and of its subtree only: a report
/// about any other node refuses the whole request and keeps nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_cannot_report_health_outside_its_subtree() -> Result<()> {
    use fundsync_protocol::wire::{HealthReports, HEALTH_PATH};
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    eventually(WAIT, "the county ok at the region", || async {
        Ok((link_state(&c, "652822").await? == "ok").then_some(()))
    })
    .await?;
    // The county stops, so that only this test's requests report for it.
    let county = c.stop("652822").await?;
    let client = client_of(&county, "652800")?;
    let url = sync_url(&c, "652800", HEALTH_PATH);
    let pref = c.ledger("652800");
    let before = held_reports(pref).await?;
    let now = pref.clock().now_ms() + 60_000;
    for (why, other, status, error) in [
        (
            "its parent",
            link_report("652800", "650000", now),
            403,
            "origin_not_allowed",
        ),
        (
            "a wrong parent",
            link_report("652822", "650000", now),
            422,
            "invalid_input",
        ),
    ] {
        let body = HealthReports {
            reports: vec![link_report("652822", "652800", now), other],
        };
        let (s, e, m) = post_health(&client, &url, &body).await?;
        ensure!(
            s == status && e == error && !m.is_empty(),
            "{why}: {s} {e} {m}"
        );
        ensure!(
            held_reports(pref).await? == before,
            "{why}: something was kept"
        );
    }
    let (_, _, m) = post_health(
        &client,
        &url,
        &HealthReports {
            reports: vec![link_report("652800", "650000", now)],
        },
    )
    .await?;
    ensure!(m.contains("652822") && m.contains("652800"), "{m}");
    // Its own report is kept, newest first: an older one changes nothing.
    let own = |at| HealthReports {
        reports: vec![link_report("652822", "652800", at)],
    };
    let receipt: serde_json::Value = client
        .post(&url)
        .header(VERSION_HEADER, "1")
        .json(&own(now))
        .send()
        .await?
        .json()
        .await?;
    ensure!(receipt["stored"] == 1, "{receipt}");
    let (s, _, _) = post_health(&client, &url, &own(now - 1)).await?;
    ensure!(s == 200);
    let held = held_reports(pref).await?;
    ensure!(
        held.iter().any(|(n, at, _)| n == "652822" && *at == now),
        "{held:?}"
    );
    drop(county);
    c.shutdown().await
}

/// A `link_reported` entry, as an earlier release wrote them, still checks,
/// applies into `link_health` and replicates up, verified at each ancestor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_old_link_reported_entry_still_applies() -> Result<()> {
    let c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let county = c.ledger("652822");
    let report = link_report("652822", "652800", 0).report;
    let id = county
        .submit_one(Body::LinkReported(report), &clerk())
        .await?
        .id();
    let entry_id: Option<String> =
        sqlx::query_scalar("SELECT entry_id FROM link_health WHERE node = '652822'")
            .fetch_optional(county.db().read())
            .await?
            .flatten();
    ensure!(entry_id == Some(id.to_string()), "{entry_id:?}");
    c.converged(WAIT).await?;
    for node in ["652800", "650000"] {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM journal WHERE origin = '652822' AND kind = 'link_reported'",
        )
        .fetch_one(c.ledger(node).db().read())
        .await?;
        ensure!(n == 1, "{node}: {n}");
        ensure!(
            held_reports(c.ledger(node))
                .await?
                .iter()
                .any(|(n, _, _)| n == "652822"),
            "{node}"
        );
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_describe_replication_in_prometheus_format() -> Result<()> {
    let c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822")
        .submit_one(project("P1", "800000"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    eventually(WAIT, "the county ok at the region", || async {
        Ok((link_state(&c, "652822").await? == "ok").then_some(()))
    })
    .await?;
    let text = c
        .node("650000")
        .http()
        .get(format!("http://{}/metrics", c.node("650000").api))
        .send()
        .await?
        .text()
        .await?;
    for needle in [
        r#"fundsync_tree_link_state{node="650000",link="652822",state="ok"} 1"#,
        r#"fundsync_tree_link_state{node="650000",link="652822",state="broken"} 0"#,
        r#"fundsync_sync_entries_applied_total{node="650000",direction="up"}"#,
        r#"fundsync_http_request_duration_seconds_bucket{node="650000",method="GET",route="/api/v1/sync/health",status="200""#,
        "fundsync_tree_report_age_seconds",
    ] {
        ensure!(text.contains(needle), "no {needle} in\n{text}");
    }
    let county = c
        .node("652822")
        .http()
        .get(format!("http://{}/metrics", c.node("652822").api))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        county.contains(r#"fundsync_link_entries_behind{node="652822",direction="up"} 0"#),
        "{county}"
    );
    c.shutdown().await
}

// ---- a node restored from an old backup ----

/// What `l` holds of `origin`'s chain: its head (seq 0 if nothing).
async fn head_of(l: &Ledger, origin: &str) -> Result<(u64, Hash)> {
    Ok(l.heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code(origin))
        .map_or((0, Hash::ZERO), |h| (h.seq, h.hash)))
}

/// The node's own link status (`GET /api/v1/sync/link`).
async fn link_of(c: &Cluster, node: &str) -> Result<serde_json::Value> {
    let v: serde_json::Value = c
        .node(node)
        .http()
        .get(c.node(node).api_url("/sync/link"))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["link"].clone())
}

async fn count(l: &Ledger, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(l.db().read()).await?)
}
