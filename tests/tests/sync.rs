//! Sync between real nodes over real mutual TLS: allocations down, payments
//! up, relays that cannot forge, restarts that lose and double nothing, and
//! every way a peer can be refused.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use chrono::NaiveDate;
use fundsync_node::ledger::query::{AllocationFilter, GroupBy, Page, Summary};
use fundsync_node::ledger::Ledger;
use fundsync_node::pki;
use fundsync_node::sync::{self, VERSION_HEADER};
use fundsync_protocol::body::*;
use fundsync_protocol::{
    checkpoint_for, Amount, Batch, Body, Entry, EntryId, Hash, NodeCode, NodeKey,
};
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{code, Engine};
use rust_decimal::Decimal;

const WAIT: Duration = Duration::from_secs(30);

fn amount(s: &str) -> Amount {
    s.parse().expect("valid amount")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("valid date")
}

fn issue(doc: &str, source: EntryId, category: &str, to: &str, amt: &str) -> Body {
    Body::AllocationIssued(AllocationIssued {
        doc_no: doc.into(),
        source,
        category: category.into(),
        to: code(to),
        amount: amount(amt),
        issued_on: day("2020-04-26"),
        title: String::new(),
    })
}

fn project(code: &str) -> Body {
    Body::ProjectRegistered(ProjectRegistered {
        code: code.into(),
        name: "村道硬化".into(),
        township: "轮台镇".into(),
        village: "一村".into(),
        department: "交通局".into(),
        starts_on: day("2020-03-01"),
        ends_on: day("2020-10-31"),
        budget: amount("800000"),
        status: ProjectStatus::InProgress,
    })
}

fn target(project: &str) -> Body {
    Body::TargetSet(TargetSet {
        project: project.into(),
        level1: TargetLevel1::Output,
        level2: TargetLevel2::Quantity,
        indicator: "硬化道路里程".into(),
        op: TargetOp::AtLeast,
        value: Decimal::from(12),
        unit: "公里".into(),
    })
}

fn payment(voucher: &str, alloc: EntryId, project: &str, amt: &str) -> Body {
    Body::PaymentRecorded(PaymentRecorded {
        voucher_no: voucher.into(),
        paid_on: day("2020-05-10"),
        payer: "县财政局".into(),
        payee_name: "某某建设公司".into(),
        payee_account: "6222000011112222".into(),
        payee_bank: "农业银行".into(),
        amount: amount(amt),
        function_class: "2130505".into(),
        allocation: alloc,
        project: project.into(),
        purpose: "道路硬化".into(),
    })
}

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
        .submit_one(Body::FundsReceived(FundsReceived {
            doc_no: "财农〔2020〕7号".into(),
            category: "X-01".into(),
            amount: amount("1000000"),
            received_on: day("2020-04-20"),
            source: "财政部".into(),
            title: String::new(),
        }))
        .await?
        .id();
    let to_bz = region
        .submit_one(issue(
            "新财农〔2020〕12号",
            received,
            "X-01",
            "652800",
            "600000",
        ))
        .await?
        .id();
    let to_ks = region
        .submit_one(issue(
            "新财农〔2020〕13号",
            received,
            "X-01",
            "653100",
            "400000",
        ))
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
        .submit_one(issue(
            "巴财农〔2020〕21号",
            to_bz,
            "X-01",
            "652822",
            "250000",
        ))
        .await?
        .id();
    let wl = c
        .ledger("652800")
        .submit_one(issue(
            "巴财农〔2020〕22号",
            to_bz,
            "X-01",
            "652823",
            "200000",
        ))
        .await?
        .id();
    let sf = c
        .ledger("653100")
        .submit_one(issue(
            "喀财农〔2020〕5号",
            to_ks,
            "X-01",
            "653121",
            "300000",
        ))
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
            .submit(&[
                project("P1"),
                target("P1"),
                payment("V0001", alloc, "P1", amt),
                payment("V0002", alloc, "P1", "1000"),
            ])
            .await?;
        first_payment.push(out[2].id());
    }
    c.converged(WAIT).await?;

    // Trace at the region, over its API: payment → project with its target
    // → county allocation → prefecture's → the funds from the centre.
    let trace: serde_json::Value = reqwest::get(
        c.node("650000")
            .api_url(&format!("/trace/payments/{}", first_payment[0])),
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_flows_down_and_up_sqlite() -> Result<()> {
    money_flows_down_and_up(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_flows_down_and_up_postgres() -> Result<()> {
    money_flows_down_and_up(Engine::Postgres).await
}

/// A county stopped in the middle of pushing thousands of payments, then
/// started again: the region ends with every payment exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn county_restarted_mid_sync_loses_and_doubles_nothing() -> Result<()> {
    let tree: Vec<_> = small_tree().into_iter().take(4).collect(); // 650000, 652800, 653100, 652822
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    let region = c.ledger("650000").clone();
    let got = region
        .submit_one(Body::FundsReceived(FundsReceived {
            doc_no: "财农〔2020〕7号".into(),
            category: "X-01".into(),
            amount: amount("100000000"),
            received_on: day("2020-04-20"),
            source: String::new(),
            title: String::new(),
        }))
        .await?
        .id();
    let a = region
        .submit_one(issue(
            "新财农〔2020〕12号",
            got,
            "X-01",
            "652800",
            "50000000",
        ))
        .await?
        .id();
    has_allocation(c.ledger("652800"), a).await?;
    let b = c
        .ledger("652800")
        .submit_one(issue("巴财农〔2020〕21号", a, "X-01", "652822", "20000000"))
        .await?
        .id();
    let county = c.ledger("652822").clone();
    has_allocation(&county, b).await?;
    county.submit(&[project("P1"), target("P1")]).await?;

    const N: usize = 6_000;
    let mut bodies = Vec::with_capacity(N);
    for i in 0..N {
        bodies.push(payment(&format!("V{i:06}"), b, "P1", "1.01"));
    }
    // Two transactions, so the stop can fall between or during pushes.
    county.submit(&bodies[..N / 2]).await?;
    county.submit(&bodies[N / 2..]).await?;
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
        let e = Entry::new(code(origin), seq, 1_600_000_000_000, prev, b);
        prev = e.hash();
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_batches_are_refused_and_change_nothing() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "653100", "652822"].contains(&n.code.as_str()))
        .collect();
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.ledger("652822").submit_one(project("P0")).await?;
    c.converged(WAIT).await?;
    // The county stops, so its chain at the prefecture stays where it is
    // while the test plays the county with its keys.
    let stopped = c.stop("652822").await?;
    let prefecture = c.ledger("652800");
    let key = sync::load_signing_key(&stopped.cfg.tls_dir())?;
    let county_head = prefecture
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code("652822"))
        .context("the county's chain at the prefecture")?;
    let client = client_of(&stopped, "652800")?;
    let url = sync_url(&c, "652800", "/sync/v1/up");
    let before = fingerprint(prefecture, "652822").await?;

    let good_bodies = [project("Q1")];
    let next = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &good_bodies,
    );
    let signed = |entries: Vec<Entry>, key: &NodeKey| {
        let cp = checkpoint_for(key, &entries, 1_600_000_000_000).expect("entries");
        Batch::new(code("652822"), code("652800"), entries, vec![cp])
    };

    let mut cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = Vec::new();
    // Forged signature: signed by a key nobody registered.
    let forger = NodeKey::from_seed(&[9; 32]);
    cases.push((
        "forged signature",
        signed(next.clone(), &forger).encode(),
        "1",
        422,
        "unknown_key",
    ));
    // A right key id but a signature over other bytes.
    let mut b = signed(next.clone(), &key);
    b.checkpoints[0].signature[0] ^= 1;
    cases.push(("bad signature", b.encode(), "1", 422, "bad_signature"));
    // A body altered after signing (as a relay might).
    let mut b = signed(next.clone(), &key);
    b.entries[0].body = Body::ProjectRegistered(ProjectRegistered {
        budget: amount("999999999"),
        ..match project("Q1") {
            Body::ProjectRegistered(p) => p,
            _ => unreachable!(),
        }
    })
    .encode();
    cases.push(("altered body", b.encode(), "1", 422, "bad_checkpoint"));
    // Entries of an origin outside the sender's subtree.
    let foreign = chain("653121", 1, Hash::ZERO, &good_bodies);
    let b = Batch::new(
        code("652822"),
        code("652800"),
        foreign.clone(),
        vec![checkpoint_for(&key, &foreign, 0).expect("entries")],
    );
    cases.push((
        "outside the subtree",
        b.encode(),
        "1",
        403,
        "origin_not_allowed",
    ));
    // An allocation sent upward: a county "issuing" to its prefecture.
    let up_alloc = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &[issue(
            "假〔2020〕1号",
            EntryId {
                origin: code("652822"),
                seq: 1,
            },
            "X-01",
            "652800",
            "100",
        )],
    );
    cases.push((
        "allocation sent upward",
        signed(up_alloc, &key).encode(),
        "1",
        422,
        "misdirected",
    ));
    // Funds "from the centre" registered below the top.
    let fake_funds = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &[Body::FundsReceived(FundsReceived {
            doc_no: "假".into(),
            category: "X-01".into(),
            amount: amount("1"),
            received_on: day("2020-01-01"),
            source: String::new(),
            title: String::new(),
        })],
    );
    cases.push((
        "funds received below the top",
        signed(fake_funds, &key).encode(),
        "1",
        422,
        "misdirected",
    ));
    // A payment from an allocation the prefecture does not hold (a node
    // behind its own parent would meet one): refused until it does.
    let unheld = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &[payment(
            "V9",
            EntryId {
                origin: code("652800"),
                seq: 9_999,
            },
            "P0",
            "1",
        )],
    );
    cases.push((
        "payment from an allocation not held here",
        signed(unheld, &key).encode(),
        "1",
        409,
        "not_yet_held",
    ));
    // A gap: the next entry is skipped.
    let gap = chain("652822", county_head.seq + 2, Hash([7; 32]), &good_bodies);
    cases.push(("gap", signed(gap, &key).encode(), "1", 409, "gap"));
    // A fork: another entry at the seq the prefecture already holds.
    let fork = chain("652822", county_head.seq, Hash([3; 32]), &good_bodies);
    cases.push(("fork", signed(fork, &key).encode(), "1", 409, "fork"));
    // Addressed to another node.
    let mut b = signed(next.clone(), &key);
    b.to = code("653100");
    cases.push(("misaddressed", b.encode(), "1", 403, "misaddressed"));
    // Claiming to come from another node than the certificate says.
    let mut b = signed(next.clone(), &key);
    b.from = code("652823");
    cases.push(("wrong sender", b.encode(), "1", 403, "wrong_sender"));
    // Unknown protocol versions, in the header and in the batch.
    cases.push((
        "version header",
        signed(next.clone(), &key).encode(),
        "2",
        400,
        "unsupported_version",
    ));
    let mut b = signed(next.clone(), &key);
    b.version = 2;
    cases.push(("batch version", b.encode(), "1", 422, "unsupported_version"));
    // Malformed bytes at every layer.
    cases.push(("empty body", Vec::new(), "1", 422, "malformed"));
    cases.push((
        "garbage",
        b"not a batch at all".to_vec(),
        "1",
        422,
        "malformed",
    ));
    let mut b = signed(next.clone(), &key).encode();
    b.truncate(b.len() - 5);
    cases.push(("truncated", b, "1", 422, "malformed"));
    let mut b = signed(next.clone(), &key);
    b.entries[0].body = b"{\"code\":".to_vec();
    let cp = checkpoint_for(&key, &b.entries, 0).expect("entries");
    b.checkpoints = vec![cp];
    cases.push(("malformed body (signed)", b.encode(), "1", 422, "bad_body"));
    // Oversized: past the body limit.
    // Oversized but within the body limit: more entries than a batch may carry.
    let many: Vec<Body> = (0..5_001).map(|i| project(&format!("M{i}"))).collect();
    let many = chain("652822", county_head.seq + 1, county_head.hash, &many);
    cases.push((
        "too many entries",
        signed(many, &key).encode(),
        "1",
        413,
        "too_large",
    ));
    // Past the body limit (last: the server may close the connection).
    cases.push(("oversized", vec![0u8; 17 * 1024 * 1024], "1", 413, ""));

    for (what, bytes, version, status, code_) in cases {
        let (s, e, m) = post_up(&client, &url, bytes, version).await?;
        let closed_on_oversize = what == "oversized" && s == 0;
        ensure!(
            closed_on_oversize || (s == status && (code_.is_empty() || e == code_)),
            "{what}: got {s} {e} ({m}), expected {status} {code_}"
        );
        ensure!(
            fingerprint(prefecture, "652822").await? == before,
            "{what}: the prefecture's ledger changed"
        );
    }
    let client = client_of(&stopped, "652800")?;
    // The fork was raised as an alarm.
    let alarms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_alarms WHERE kind = 'fork'")
        .fetch_one(prefecture.db().read())
        .await?;
    ensure!(alarms >= 1, "no fork alarm");

    // A good batch is applied once; the same batch again is harmless.
    let good = signed(next, &key).encode();
    let (s, _, m) = post_up(&client, &url, good.clone(), "1").await?;
    ensure!(s == 200, "good batch refused: {m}");
    let after = fingerprint(prefecture, "652822").await?;
    let res = client
        .post(&url)
        .header(VERSION_HEADER, "1")
        .body(good)
        .send()
        .await?;
    ensure!(res.status().as_u16() == 200);
    let receipt: serde_json::Value = res.json().await?;
    ensure!(
        receipt["applied"] == 0 && receipt["duplicates"] == 1,
        "{receipt}"
    );
    ensure!(
        fingerprint(prefecture, "652822").await? == after,
        "a replay changed the ledger"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peers_without_the_right_certificate_are_refused() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.converged(WAIT).await?;
    let heads = |client: reqwest::Client, url: String| async move {
        let res = client.get(&url).header(VERSION_HEADER, "1").send().await;
        Ok::<_, anyhow::Error>(match res {
            Ok(r) => {
                let s = r.status().as_u16();
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                format!("{s} {}", v["error"].as_str().unwrap_or_default())
            }
            Err(_) => "handshake refused".to_owned(),
        })
    };
    // No certificate at all: only the CA and the join are served.
    let anon = reqwest::Client::builder()
        .use_preconfigured_tls((*pki::client_config_unverified()?).clone())
        .build()?;
    let got = heads(anon.clone(), sync_url(&c, "652800", "/sync/v1/heads")).await?;
    ensure!(got == "401 no_certificate", "anonymous: {got}");
    // A grandchild's certificate at the region: a node syncs with its parent only.
    let got = heads(
        client_as(&c, "652822", "650000")?,
        sync_url(&c, "650000", "/sync/v1/heads"),
    )
    .await?;
    ensure!(got == "403 not_a_child", "grandchild at the region: {got}");
    // A certificate from another tree's CA: refused in the handshake.
    let other = tempfile::tempdir()?;
    let (ca, ca_key) = pki::root_ca(code("650000"), "另一棵树", now_ms(), 30)?;
    let issuer = pki::Issuer::from_pem(&ca, &ca_key)?;
    let (key, csr) = pki::key_and_csr(code("652801"))?;
    let chain = issuer.issue_leaf(code("652801"), &csr, now_ms(), 30)?;
    let files = pki::TlsFiles::new(other.path());
    files.save_node(&key, &chain, &ca)?;
    let foreign = pki::client_config(&files.load_node()?, code("652800"))?;
    let foreign = reqwest::Client::builder()
        .use_preconfigured_tls((*foreign).clone())
        .build()?;
    let got = heads(foreign, sync_url(&c, "652800", "/sync/v1/heads")).await?;
    ensure!(got == "handshake refused", "foreign CA: {got}");
    // Unknown version header.
    let res = client_as(&c, "652822", "652800")?
        .get(sync_url(&c, "652800", "/sync/v1/heads"))
        .header(VERSION_HEADER, "999")
        .send()
        .await?;
    ensure!(res.status().as_u16() == 400);

    // Revoked: cut off at once, on an open connection and in new handshakes.
    let county = client_as(&c, "652822", "652800")?;
    let url = sync_url(&c, "652800", "/sync/v1/heads");
    ensure!(heads(county.clone(), url.clone()).await? == "200 ");
    c.ledger("652800")
        .submit_one(Body::ChildRevoked(ChildRevoked {
            code: code("652822"),
            reason: "设备丢失".into(),
        }))
        .await?;
    let got = heads(county, url.clone()).await?;
    ensure!(got == "403 revoked", "revoked, open connection: {got}");
    let got = heads(client_as(&c, "652822", "652800")?, url).await?;
    ensure!(
        got == "handshake refused" || got == "403 revoked",
        "revoked, new connection: {got}"
    );
    // Its past entries stay verifiable: the revocation rolls up.
    c.converged(WAIT).await.ok();
    c.shutdown().await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_down_stream_carries_only_what_is_addressed_to_the_child() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.converged(WAIT).await?;
    let county = c.ledger("652822");
    // Its own key registration has come down; nothing else will.
    eventually(WAIT, "the county's key registration", || async {
        Ok((county.down_state().await?.down_seq >= 1).then_some(()))
    })
    .await?;
    let parent_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let own_key = sync::load_signing_key(&c.node("652822").cfg.tls_dir())?.key_id();
    let state = county.down_state().await?;
    let before = fingerprint(county, "652800").await?;
    // A payment "sent downward", signed by the real parent key.
    let pay = Entry::new(
        code("652800"),
        1_000,
        0,
        Hash([1; 32]),
        &payment(
            "V1",
            EntryId {
                origin: code("652800"),
                seq: 1,
            },
            "P1",
            "1",
        ),
    );
    let (batch, _) = fundsync_protocol::build_down_batch(
        &parent_key,
        code("652800"),
        code("652822"),
        state,
        vec![pay],
        0,
    )?;
    let err = county
        .receive_down(&batch, own_key)
        .await
        .err()
        .context("a payment sent downward was accepted")?;
    ensure!(err.code() == "misdirected", "{err}");
    // A key registration for the county that is not its key.
    let other = NodeKey::from_seed(&[5; 32]).verifying_key();
    let reg = Entry::new(
        code("652800"),
        1_001,
        0,
        Hash([1; 32]),
        &Body::KeyRegistered(KeyRegistered::of(code("652822"), &other)),
    );
    let (batch, _) = fundsync_protocol::build_down_batch(
        &parent_key,
        code("652800"),
        code("652822"),
        state,
        vec![reg],
        0,
    )?;
    let err = county
        .receive_down(&batch, own_key)
        .await
        .err()
        .context("a foreign key registration was accepted")?;
    ensure!(err.code() == "foreign_key", "{err}");
    // Signed by someone else than the parent.
    let (batch, _) = fundsync_protocol::build_down_batch(
        &NodeKey::from_seed(&[6; 32]),
        code("652800"),
        code("652822"),
        state,
        vec![],
        0,
    )?;
    let err = county
        .receive_down(&batch, own_key)
        .await
        .err()
        .context("forged")?;
    ensure!(err.code() == "unknown_key", "{err}");
    ensure!(
        fingerprint(county, "652800").await? == before,
        "the county changed"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrolment_tokens_work_once_and_only_for_their_node() -> Result<()> {
    let tree: Vec<_> = small_tree().into_iter().take(2).collect(); // 650000, 652800
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    let region = c.node("650000");
    let files = region.tls();
    // Unregistered child, no name: refused.
    let e = sync::enroll::create_token(&region.ledger, &files, code("653100"), None, 60_000)
        .await
        .err()
        .context("token for an unregistered child")?;
    ensure!(e.to_string().contains("not a registered child"), "{e}");
    // A made-up token is refused by the parent.
    let token = sync::enroll::create_token(
        &region.ledger,
        &files,
        code("653100"),
        Some("喀什地区"),
        60_000,
    )
    .await?;
    let mut forged = token.clone();
    forged.secret = [0; 32];
    let dir = tempfile::tempdir()?;
    let (ledger, child_files) = fresh_child(&dir, "653100", "喀什地区").await?;
    let url = format!("https://{}", region.sync.context("sync")?);
    let e = sync::enroll::join(&ledger, &child_files, &url, &forged)
        .await
        .err()
        .context("forged token accepted")?;
    ensure!(e.to_string().contains("refused"), "{e}");
    // A token whose fingerprint names another CA: the child refuses the parent.
    let mut wrong_ca = token.clone();
    wrong_ca.ca_fingerprint = [1; 32];
    let e = sync::enroll::join(&ledger, &child_files, &url, &wrong_ca)
        .await
        .err()
        .context("wrong fingerprint accepted")?;
    ensure!(
        matches!(e, sync::enroll::EnrollError::FingerprintMismatch),
        "{e}"
    );
    // The real token works once.
    sync::enroll::join(&ledger, &child_files, &url, &token).await?;
    let e = sync::enroll::join(&ledger, &child_files, &url, &token)
        .await
        .err()
        .context("a token worked twice")?;
    ensure!(e.to_string().contains("refused"), "{e}");
    // Malformed tokens never reach the network.
    ensure!("FS1.653100.zz.00".parse::<sync::enroll::Token>().is_err());
    // And the registered key travels up: the region knows it.
    let keys = c.ledger("650000").keys_of(code("653100")).await?;
    ensure!(keys.len() == 1, "{keys:?}");
    let _ = &mut c;
    c.shutdown().await
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
    Ok(Ledger::open(
        db,
        Some(node.id.code),
        std::sync::Arc::new(fundsync_node::clock::SystemClock),
    )
    .await?)
}

/// Region → prefecture → county allocation chain, ready for payments.
async fn fund_county(c: &Cluster, county: &str, amt: &str) -> Result<EntryId> {
    let region = c.ledger("650000");
    let got = region
        .submit_one(Body::FundsReceived(FundsReceived {
            doc_no: format!("财农〔2020〕{county}号"),
            category: "X-01".into(),
            amount: amount("10000000"),
            received_on: day("2020-04-20"),
            source: String::new(),
            title: String::new(),
        }))
        .await?
        .id();
    let a = region
        .submit_one(issue(
            &format!("新财农〔2020〕{county}号"),
            got,
            "X-01",
            "652800",
            "10000000",
        ))
        .await?
        .id();
    has_allocation(c.ledger("652800"), a).await?;
    let b = c
        .ledger("652800")
        .submit_one(issue(
            &format!("巴财农〔2020〕{county}号"),
            a,
            "X-01",
            county,
            amt,
        ))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_bundles_carry_the_same_signed_batches() -> Result<()> {
    use fundsync_node::sync::bundle;
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "500000").await?;
    c.converged(WAIT).await?;
    let limits = sync::SyncLimits::default();

    // The county loses its link and keeps working.
    let county_node = c.stop("652822").await?;
    let county = reopen(&county_node).await?;
    let county_key = sync::load_signing_key(&county_node.cfg.tls_dir())?;
    county
        .submit(&[
            project("P1"),
            target("P1"),
            payment("V1", alloc, "P1", "1234.56"),
        ])
        .await?;
    let mut up = Vec::new();
    let n = bundle::export_up(&county, &county_key, &limits, &mut up).await?;
    ensure!(n >= 1, "no batches exported");

    // Carried to the prefecture: applied once, then only duplicates.
    let pref = c.ledger("652800").clone();
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?.key_id();
    let r = bundle::import(&pref, pref_key, &limits, &mut up.as_slice()).await?;
    ensure!(r.applied >= 3, "{r:?}");
    let r = bundle::import(&pref, pref_key, &limits, &mut up.as_slice()).await?;
    ensure!(r.applied == 0 && r.duplicates >= 3, "{r:?}");
    // The region gets them through the prefecture's link, as if sent online.
    eventually(WAIT, "the bundle's payment at the region", || async {
        let s = summary_by_node(c.ledger("650000"), None).await?;
        Ok((paid_of(&s, "652822") == "1234.56".parse::<Decimal>()?).then_some(()))
    })
    .await?;

    // A tampered bundle is refused whole and changes nothing.
    county.submit_one(payment("V2", alloc, "P1", "1")).await?;
    let mut up2 = Vec::new();
    bundle::export_up(&county, &county_key, &limits, &mut up2).await?;
    let before = fingerprint(&pref, "652822").await?;
    let mut bad = up2.clone();
    let at = bad.len() - 100; // inside the last batch's entries
    bad[at] ^= 0x20;
    ensure!(
        bundle::import(&pref, pref_key, &limits, &mut bad.as_slice())
            .await
            .is_err(),
        "a tampered bundle was accepted"
    );
    ensure!(
        fingerprint(&pref, "652822").await? == before,
        "a tampered bundle changed the prefecture"
    );
    let mut cut = up2.clone();
    cut.truncate(up2.len() - 3);
    let e = bundle::import(&pref, pref_key, &limits, &mut cut.as_slice()).await;
    ensure!(matches!(e, Err(bundle::BundleError::Truncated(_))), "{e:?}");
    // A bundle imported at the wrong end is refused.
    let e = bundle::import(&county, county_key.key_id(), &limits, &mut up2.as_slice()).await;
    ensure!(
        matches!(e, Err(bundle::BundleError::NotAChild { .. })),
        "{e:?}"
    );
    ensure!(
        bundle::import(&pref, pref_key, &limits, &mut &b"not a bundle"[..])
            .await
            .is_err()
    );

    // Down: an allocation issued while the county is offline, carried to it.
    let source = c
        .ledger("652800")
        .allocations(AllocationFilter::default(), Page::default())
        .await?
        .items
        .into_iter()
        .find(|a| a.holder == "652800")
        .context("the prefecture's allocation")?
        .id
        .parse()?;
    let more = pref
        .submit_one(issue(
            "巴财农〔2020〕99号",
            source,
            "X-01",
            "652822",
            "1000",
        ))
        .await?
        .id();
    let pref_signing = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let mut down = Vec::new();
    bundle::export_down(&pref, &pref_signing, code("652822"), &limits, &mut down).await?;
    let r = bundle::import(&county, county_key.key_id(), &limits, &mut down.as_slice()).await?;
    ensure!(r.applied == 1, "{r:?}");
    ensure!(
        county.allocation(more).await?.is_some(),
        "the down bundle's allocation"
    );
    let r = bundle::import(&county, county_key.key_id(), &limits, &mut down.as_slice()).await?;
    ensure!(r.applied == 0, "{r:?}");

    // Back online, the link picks up from there.
    county.db().close().await;
    c.restart(county_node).await?;
    c.converged(WAIT).await?;
    let s = summary_by_node(c.ledger("650000"), None).await?;
    ensure!(paid_of(&s, "652822") == "1235.56".parse::<Decimal>()?);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_rotation_keeps_history_verifiable() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822").submit_one(project("P1")).await?;
    c.converged(WAIT).await?;
    let node = c.stop("652822").await?;
    let ledger = reopen(&node).await?;
    let old = sync::load_signing_key(&node.cfg.tls_dir())?.key_id();
    let new = sync::rotate_signing_key(&ledger, &node.cfg.tls_dir()).await?;
    ensure!(old != new);
    ledger.db().close().await;
    c.restart(node).await?;
    c.ledger("652822").submit_one(target("P1")).await?;
    c.converged(WAIT).await?;

    // The region knows both keys, and every checkpoint it keeps of the
    // county verifies with one of them: old history stays verifiable.
    let region = c.ledger("650000");
    let keys = region.keys_of(code("652822")).await?;
    ensure!(keys.len() == 2, "{} keys", keys.len());
    let rows = sqlx::query_as::<_, (i64, Vec<u8>, String, i64, Vec<u8>)>(
        "SELECT seq, head, key_id, at_ms, signature FROM checkpoints WHERE origin = '652822'",
    )
    .fetch_all(region.db().read())
    .await?;
    let mut used = std::collections::BTreeSet::new();
    for (seq, head, key_id, at_ms, sig) in rows {
        let cp = fundsync_protocol::SignedCheckpoint {
            checkpoint: fundsync_protocol::Checkpoint {
                origin: code("652822"),
                seq: u64::try_from(seq)?,
                head: Hash::from_slice(&head).context("head")?,
                key_id: key_id.parse()?,
                at_ms,
            },
            signature: sig.try_into().map_err(|_| anyhow::anyhow!("signature"))?,
        };
        ensure!(
            keys.iter().any(|k| cp.verify(k).is_ok()),
            "checkpoint {seq} does not verify"
        );
        used.insert(key_id);
    }
    ensure!(
        used.contains(&old.to_hex()) && used.contains(&new.to_hex()),
        "checkpoints by {used:?}"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_cannot_alter_or_forge_its_childrens_entries() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822").submit_one(project("P0")).await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    let region = c.ledger("650000");
    let head = region
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code("652822"))
        .context("the county at the region")?;
    let county_key = sync::load_signing_key(&county.cfg.tls_dir())?;
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let client = client_as(&c, "652800", "650000")?;
    let url = sync_url(&c, "650000", "/sync/v1/up");
    let before = fingerprint(region, "652822").await?;
    let next = chain(
        "652822",
        head.seq + 1,
        head.hash,
        &[project("Q1"), target("Q1")],
    );
    let batch = |entries: Vec<Entry>, key: &NodeKey| {
        let cp = checkpoint_for(key, &entries, 0).expect("entries");
        Batch::new(code("652800"), code("650000"), entries, vec![cp]).encode()
    };
    // Altered in transit: the chain or the county's own checkpoint no
    // longer matches, whichever entry was touched.
    let signed = checkpoint_for(&county_key, &next, 0).expect("entries");
    for (i, expected) in [(0, "broken_chain"), (1, "bad_checkpoint")] {
        let mut altered = next.clone();
        altered[i].body = project("Q9").encode();
        let bytes = Batch::new(code("652800"), code("650000"), altered, vec![signed]).encode();
        let (s, e, _) = post_up(&client, &url, bytes, "1").await?;
        ensure!(s == 422 && e == expected, "entry {i} altered: {s} {e}");
    }
    // Forged: the prefecture signs the county's entries with its own key.
    let (s, e, _) = post_up(&client, &url, batch(next.clone(), &pref_key), "1").await?;
    ensure!(s == 422 && e == "unknown_key", "forged: {s} {e}");
    ensure!(
        fingerprint(region, "652822").await? == before,
        "the region changed"
    );
    // Relayed unchanged, with the county's signature, it is accepted.
    let (s, _, m) = post_up(&client, &url, batch(next, &county_key), "1").await?;
    ensure!(s == 200, "relayed unchanged: {m}");
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prefecture_offline_catches_up_with_everything_counted_once() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "900000").await?;
    c.ledger("652822")
        .submit(&[project("P1"), target("P1")])
        .await?;
    c.converged(WAIT).await?;
    let pref = c.stop("652800").await?;
    // The county keeps recording; its pushes fail and back off.
    let county = c.ledger("652822").clone();
    let bodies: Vec<Body> = (0..300)
        .map(|i| payment(&format!("V{i:04}"), alloc, "P1", "10.01"))
        .collect();
    county.submit(&bodies).await?;
    eventually(WAIT, "the county noticing its parent is gone", || async {
        let link: serde_json::Value = reqwest::get(c.node("652822").api_url("/sync/link"))
            .await?
            .json()
            .await?;
        Ok((link["link"]["consecutive_failures"].as_u64().unwrap_or(0) >= 2).then_some(()))
    })
    .await?;
    // The region keeps allocating meanwhile.
    let region = c.ledger("650000").clone();
    let got = region
        .submit_one(Body::FundsReceived(FundsReceived {
            doc_no: "财农〔2020〕88号".into(),
            category: "X-02".into(),
            amount: amount("5000"),
            received_on: day("2020-06-01"),
            source: String::new(),
            title: String::new(),
        }))
        .await?
        .id();
    let late = region
        .submit_one(issue("新财农〔2020〕88号", got, "X-02", "652800", "5000"))
        .await?
        .id();
    c.restart(pref).await?;
    has_allocation(c.ledger("652800"), late).await?;
    c.converged(WAIT).await?;
    let s = summary_by_node(&region, None).await?;
    ensure!(
        paid_of(&s, "652822") == "3003".parse::<Decimal>()?,
        "the region sees {} paid",
        paid_of(&s, "652822")
    );
    c.shutdown().await
}

/// Reads the region's health tree and the state of one node's link.
async fn link_state(c: &Cluster, node: &str) -> Result<String> {
    let tree: serde_json::Value = reqwest::get(c.node("650000").api_url("/sync/health"))
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
            let t: serde_json::Value = reqwest::get(c.node("652822").api_url("/sync/link"))
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
    let tree: fundsync_node::sync::health::HealthTreeOwned =
        reqwest::get(c.node("650000").api_url("/sync/health"))
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
    let id = county.submit_one(Body::LinkReported(report)).await?.id();
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
    c.ledger("652822").submit_one(project("P1")).await?;
    c.converged(WAIT).await?;
    eventually(WAIT, "the county ok at the region", || async {
        Ok((link_state(&c, "652822").await? == "ok").then_some(()))
    })
    .await?;
    let text = reqwest::get(format!("http://{}/metrics", c.node("650000").api))
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
    let county = reqwest::get(format!("http://{}/metrics", c.node("652822").api))
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
    let v: serde_json::Value = reqwest::get(c.node(node).api_url("/sync/link"))
        .await?
        .json()
        .await?;
    Ok(v["link"].clone())
}

async fn count(l: &Ledger, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(l.db().read()).await?)
}

/// A county with an allocation, a project and five payments (50.05) that
/// every ancestor holds, backed up (stopped) at its seq `k`, then ten more
/// payments (33.30) that reach the region, then stopped again: what the
/// restore tests start from.
struct Restorable {
    c: Cluster,
    county: fundsync_tests::cluster::ClusterNode,
    alloc: EntryId,
    /// The county's own head in the backup.
    k: u64,
    /// The county's head as its parent and the region hold it.
    n: (u64, Hash),
}

async fn restorable(engine: Engine) -> Result<Restorable> {
    let mut c = Cluster::start(engine, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "900000").await?;
    let before: Vec<Body> = [project("P1"), target("P1")]
        .into_iter()
        .chain((0..5).map(|i| payment(&format!("B{i}"), alloc, "P1", "10.01")))
        .collect();
    c.ledger("652822").submit(&before).await?;
    c.converged(WAIT).await?;
    let node = c.stop("652822").await?;
    let backup = node.backup().await?;
    let l = reopen(&node).await?;
    let k = head_of(&l, "652822").await?.0;
    l.db().close().await;
    c.restart(node).await?;
    let after: Vec<Body> = (0..10)
        .map(|i| payment(&format!("A{i}"), alloc, "P1", "3.33"))
        .collect();
    c.ledger("652822").submit(&after).await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    // Stopped, the county's chain no longer moves: wait until the region
    // holds what the prefecture holds (its last link reports).
    let n = head_of(c.ledger("652800"), "652822").await?;
    eventually(WAIT, "the region holding the county's head", || async {
        Ok((head_of(c.ledger("650000"), "652822").await? == n).then_some(()))
    })
    .await?;
    ensure!(
        n.0 >= k + 10,
        "the parent holds 652822@{}, the backup @{k}",
        n.0
    );
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, "652822");
    ensure!(
        paid == "83.35".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    // The restore: the old database back in place, keys and certificates as
    // they are.
    county.restore(&backup).await?;
    let l = reopen(&county).await?;
    ensure!(head_of(&l, "652822").await?.0 == k, "the restored county");
    let own = paid_of(&summary_by_node(&l, None).await?, "652822");
    ensure!(
        own == "50.05".parse::<Decimal>()?,
        "the restored county counts {own}"
    );
    l.db().close().await;
    Ok(Restorable {
        c,
        county,
        alloc,
        k,
        n,
    })
}

/// A county restored from a backup taken at its seq k, while its parent
/// holds its chain up to n > k: it takes k+1..n back from its parent, counts
/// exactly what it had counted, the region counts nothing twice, and new
/// payments flow up as before.
async fn a_restored_county_takes_back_what_its_parent_holds(engine: Engine) -> Result<()> {
    let Restorable {
        mut c,
        county,
        alloc,
        k,
        n,
        ..
    } = restorable(engine).await?;
    c.restart(county).await?;
    let l = c.ledger("652822").clone();
    eventually(WAIT, "the county holding its chain to n again", || async {
        Ok((l.entry_hash(code("652822"), n.0).await? == Some(n.1)).then_some(()))
    })
    .await?;
    c.converged(WAIT).await?;
    let expected: Decimal = "83.35".parse()?;
    for node in ["652822", "652800", "650000"] {
        let ledger = c.ledger(node);
        let paid = paid_of(&summary_by_node(ledger, None).await?, "652822");
        ensure!(paid == expected, "{node} counts {paid} paid by 652822");
        let rows = count(
            ledger,
            "SELECT COUNT(*) FROM payments WHERE origin = '652822'",
        )
        .await?;
        ensure!(rows == 15, "{node} holds {rows} payment rows of 652822");
        if node != "650000" {
            let a = ledger.allocation(alloc).await?.context("the allocation")?;
            ensure!(a.paid == expected, "{node}: {alloc} paid {}", a.paid);
        }
    }
    let link = link_of(&c, "652822").await?;
    ensure!(
        link["entries_recovered"].as_u64() >= Some(n.0 - k)
            && link["own_chain_checked"] == true
            && link["diverged_at"].is_null(),
        "{link}"
    );
    for node in ["652822", "652800"] {
        let alarms = count(c.ledger(node), "SELECT COUNT(*) FROM sync_alarms").await?;
        ensure!(alarms == 0, "{alarms} alarms at {node}");
    }
    // And it goes on as before.
    l.submit_one(payment("N0", alloc, "P1", "1.00")).await?;
    c.converged(WAIT).await?;
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, "652822");
    ensure!(
        paid == "84.35".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_county_takes_back_what_its_parent_holds_sqlite() -> Result<()> {
    a_restored_county_takes_back_what_its_parent_holds(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_county_takes_back_what_its_parent_holds_postgres() -> Result<()> {
    a_restored_county_takes_back_what_its_parent_holds(Engine::Postgres).await
}

/// A county restored from an old backup and written to before it reconnects:
/// its journal and its parent's copy now differ at seq k+1. It pushes
/// nothing, says so in plain words, raises an alarm, and nothing of its new
/// entry reaches its parent or the region.
async fn a_restored_county_written_to_is_refused_clearly(engine: Engine) -> Result<()> {
    let Restorable {
        mut c,
        county,
        alloc,
        k,
        n,
        ..
    } = restorable(engine).await?;
    let l = reopen(&county).await?;
    l.submit_one(payment("R0", alloc, "P1", "9.99")).await?;
    let here = l.entry_hash(code("652822"), k + 1).await?.context("R0")?;
    l.db().close().await;
    let theirs = c
        .ledger("652800")
        .entry_hash(code("652822"), k + 1)
        .await?
        .context("the parent's entry k+1")?;
    let pref_before = fingerprint(c.ledger("652800"), "652822").await?;
    let region_before = fingerprint(c.ledger("650000"), "652822").await?;
    c.restart(county).await?;
    // Refused, and it stays refused (the pusher tries again and again).
    let link = eventually(WAIT, "the county refusing to push", || async {
        let link = link_of(&c, "652822").await?;
        Ok((link["consecutive_failures"].as_u64() >= Some(3)).then_some(link))
    })
    .await?;
    let err = link["last_error"].as_str().unwrap_or_default();
    ensure!(
        link["diverged_at"].as_u64() == Some(k + 1)
            && link["own_chain_checked"] == false
            && err.contains(&format!(
                "this node's journal diverges from the parent's copy at seq {}",
                k + 1
            ))
            && err.contains("restored from an old backup")
            && err.contains("Nothing more is pushed until an operator resolves it"),
        "{link}"
    );
    // One alarm, naming the seq and both hashes.
    let l = c.ledger("652822");
    let alarms: Vec<(String, String, String)> =
        sqlx::query_as("SELECT peer, kind, message FROM sync_alarms")
            .fetch_all(l.db().read())
            .await?;
    ensure!(alarms.len() == 1, "{alarms:?}");
    let (peer, kind, message) = &alarms[0];
    ensure!(
        peer == "652800"
            && kind == "fork"
            && message.contains(&here.to_hex())
            && message.contains(&theirs.to_hex()),
        "{alarms:?}"
    );
    // Nothing of it went anywhere, and the county keeps what it recorded.
    ensure!(head_of(l, "652822").await?.0 == k + 1);
    ensure!(fingerprint(c.ledger("652800"), "652822").await? == pref_before);
    ensure!(fingerprint(c.ledger("650000"), "652822").await? == region_before);
    ensure!(head_of(c.ledger("650000"), "652822").await? == n);
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, "652822");
    ensure!(
        paid == "83.35".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    let forks = count(c.ledger("652800"), "SELECT COUNT(*) FROM sync_alarms").await?;
    ensure!(
        forks == 0,
        "nothing was even sent, yet {forks} alarms at the parent"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_county_written_to_is_refused_clearly_sqlite() -> Result<()> {
    a_restored_county_written_to_is_refused_clearly(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_county_written_to_is_refused_clearly_postgres() -> Result<()> {
    a_restored_county_written_to_is_refused_clearly(Engine::Postgres).await
}

/// GETs `url`; returns the status, the error code and the body.
async fn get_raw(
    client: &reqwest::Client,
    url: &str,
    version: &str,
) -> Result<(u16, String, Vec<u8>)> {
    let res = match client.get(url).header(VERSION_HEADER, version).send().await {
        Ok(r) => r,
        Err(e) => return Ok((0, "handshake refused".into(), e.to_string().into_bytes())),
    };
    let status = res.status().as_u16();
    let body = res.bytes().await?.to_vec();
    let err = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((status, err, body))
}

/// `GET /sync/v1/own` gives a child its own entries, as it signed them, and
/// nothing else to anyone; every refusal leaves both ledgers as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_own_entries_endpoint_serves_a_child_its_own_chain_only() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822")
        .submit(&[project("P1"), target("P1")])
        .await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    let key = sync::load_signing_key(&county.cfg.tls_dir())?;
    let client = client_of(&county, "652800")?;
    let pref = c.ledger("652800");
    let region = c.ledger("650000");
    let held = head_of(pref, "652822").await?;
    let before = (
        fingerprint(pref, "652822").await?,
        fingerprint(region, "652822").await?,
    );
    let own = |q: &str| sync_url(&c, "652800", &format!("/sync/v1/own?{q}"));

    // The child's own entries after K, covered by a checkpoint it signed.
    let (s, _, body) = get_raw(&client, &own("origin=652822&after=1"), "1").await?;
    ensure!(s == 200, "{s}");
    let batch = Batch::decode(&body, &fundsync_protocol::batch::BatchLimits::default())?;
    ensure!(batch.from == code("652800") && batch.to == code("652822"));
    ensure!(
        batch.entries.first().map(|e| e.seq) == Some(2)
            && batch.entries.iter().all(|e| e.origin == code("652822")),
        "{:?}",
        batch.entries
    );
    let cp = batch.checkpoints.first().context("a checkpoint")?;
    ensure!(cp.checkpoint.seq == held.0 && cp.checkpoint.head == held.1);
    ensure!(cp.verify(&key.verifying_key()).is_ok());
    // Nothing after the head: an empty batch.
    let (s, _, body) = get_raw(
        &client,
        &own(&format!("origin=652822&after={}", held.0)),
        "1",
    )
    .await?;
    let empty = Batch::decode(&body, &fundsync_protocol::batch::BatchLimits::default())?;
    ensure!(s == 200 && empty.entries.is_empty() && empty.checkpoints.is_empty());

    let anon = reqwest::Client::builder()
        .use_preconfigured_tls((*pki::client_config_unverified()?).clone())
        .build()?;
    let at_region = sync_url(&c, "650000", "/sync/v1/own?origin=652822&after=0");
    let cases: Vec<(&str, reqwest::Client, String, &str, u16, &str)> = vec![
        (
            "no certificate",
            anon,
            own("origin=652822&after=0"),
            "1",
            401,
            "no_certificate",
        ),
        // A grandchild at the region: served by its parent only.
        (
            "not a child",
            client_of(&county, "650000")?,
            at_region,
            "1",
            403,
            "not_a_child",
        ),
        (
            "its parent's chain",
            client.clone(),
            own("origin=652800&after=0"),
            "1",
            403,
            "origin_not_allowed",
        ),
        (
            "a sibling's chain",
            client.clone(),
            own("origin=652823&after=0"),
            "1",
            403,
            "origin_not_allowed",
        ),
        (
            "after is not a number",
            client.clone(),
            own("origin=652822&after=abc"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "after is negative",
            client.clone(),
            own("origin=652822&after=-1"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "no after",
            client.clone(),
            own("origin=652822"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "no origin",
            client.clone(),
            own("after=0"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "not a node code",
            client.clone(),
            own("origin=65282&after=0"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "an unknown field",
            client.clone(),
            own("origin=652822&after=0&limit=1"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "an unknown version",
            client.clone(),
            own("origin=652822&after=0"),
            "2",
            400,
            "unsupported_version",
        ),
    ];
    for (what, client, url, version, status, code_) in cases {
        let (s, e, body) = get_raw(&client, &url, version).await?;
        ensure!(
            s == status && e == code_,
            "{what}: {s} {e} {}, expected {status} {code_}",
            String::from_utf8_lossy(&body)
        );
        ensure!(
            (
                fingerprint(pref, "652822").await?,
                fingerprint(region, "652822").await?
            ) == before,
            "{what}: a ledger changed"
        );
    }
    // Revoked: cut off like every other request.
    pref.submit_one(Body::ChildRevoked(ChildRevoked {
        code: code("652822"),
        reason: "设备丢失".into(),
    }))
    .await?;
    let (s, e, _) = get_raw(&client, &own("origin=652822&after=0"), "1").await?;
    ensure!((s == 403 && e == "revoked") || s == 0, "revoked: {s} {e}");
    let _ = &mut c;
    c.shutdown().await
}

/// The child verifies what its parent sends back as its own entries: against
/// its own head and its own keys. A parent (or anyone on the way) that
/// alters, forges, reorders or misaddresses them is refused, and the child's
/// ledger stays as it was; the genuine batch is then applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_entries_sent_back_are_verified_by_the_child() -> Result<()> {
    let Restorable {
        c, county, k, n, ..
    } = restorable(Engine::Sqlite).await?;
    let key = sync::load_signing_key(&county.cfg.tls_dir())?;
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let client = client_of(&county, "652800")?;
    let url = sync_url(
        &c,
        "652800",
        &format!("/sync/v1/own?origin=652822&after={k}"),
    );
    let (s, _, body) = get_raw(&client, &url, "1").await?;
    ensure!(s == 200, "{s}");
    let genuine = Batch::decode(&body, &fundsync_protocol::batch::BatchLimits::default())?;
    ensure!(
        genuine.entries.len() >= 2,
        "{} entries",
        genuine.entries.len()
    );
    let last = genuine.entries.len() - 1;
    let l = reopen(&county).await?;
    let own_keys = [key.verifying_key()];
    let before = fingerprint(&l, "652822").await?;
    let paid_before = paid_of(&summary_by_node(&l, None).await?, "652822");
    let resign = |mut b: Batch, key: &NodeKey| {
        b.checkpoints = vec![checkpoint_for(key, &b.entries, 0).expect("entries")];
        b
    };

    let mut cases: Vec<(&str, Batch, &str)> = Vec::new();
    let mut b = genuine.clone();
    b.entries[last].body = project("Q9").encode();
    cases.push(("last entry altered", b, "bad_checkpoint"));
    let mut b = genuine.clone();
    b.entries[0].body = project("Q9").encode();
    cases.push(("an entry altered", b, "broken_chain"));
    let mut b = genuine.clone();
    b.checkpoints[0].signature[0] ^= 1;
    cases.push(("signature altered", b, "bad_signature"));
    cases.push((
        "signed by the parent",
        resign(genuine.clone(), &pref_key),
        "unknown_key",
    ));
    let mut b = genuine.clone();
    b.entries.remove(0);
    cases.push(("first entry withheld", b, "gap"));
    let mut b = genuine.clone();
    b.entries.swap(1, 2);
    cases.push(("reordered", b, "broken_chain"));
    let mut b = genuine.clone();
    b.checkpoints.clear();
    cases.push(("no checkpoint", b, "bad_checkpoint"));
    let made_up = chain("652822", k + 1, Hash([5; 32]), &[project("Q1")]);
    cases.push((
        "another chain (not extending this node's head)",
        resign(
            Batch::new(code("652800"), code("652822"), made_up, vec![]),
            &key,
        ),
        "fork",
    ));
    let sibling = chain("652823", 1, Hash::ZERO, &[project("Q1")]);
    cases.push((
        "another origin's entries",
        resign(
            Batch::new(code("652800"), code("652822"), sibling, vec![]),
            &key,
        ),
        "origin_not_allowed",
    ));
    let mut b = genuine.clone();
    b.from = code("650000");
    cases.push(("not from the parent", b, "wrong_sender"));
    let mut b = genuine.clone();
    b.to = code("652823");
    cases.push(("addressed to another node", b, "misaddressed"));
    let upward = chain(
        "652822",
        k + 1,
        head_of(&l, "652822").await?.1,
        &[issue(
            "假〔2020〕1号",
            EntryId {
                origin: code("652822"),
                seq: 1,
            },
            "X-01",
            "652800",
            "1",
        )],
    );
    cases.push((
        "an allocation to its parent, signed by the node",
        resign(
            Batch::new(code("652800"), code("652822"), upward, vec![]),
            &key,
        ),
        "misdirected",
    ));
    for (what, batch, expected) in cases {
        let e = l
            .receive_own(&batch, &own_keys)
            .await
            .err()
            .with_context(|| format!("{what}: accepted"))?;
        ensure!(
            e.code() == expected,
            "{what}: {} ({e}), expected {expected}",
            e.code()
        );
        ensure!(
            fingerprint(&l, "652822").await? == before,
            "{what}: the child's ledger changed"
        );
    }
    ensure!(paid_of(&summary_by_node(&l, None).await?, "652822") == paid_before);

    // The genuine batch: applied once, through the same path as any batch.
    let r = l.receive_own(&genuine, &own_keys).await?;
    ensure!(
        r.applied == genuine.entries.len() && r.duplicates == 0,
        "{r:?}"
    );
    let r = l.receive_own(&genuine, &own_keys).await?;
    ensure!(r.applied == 0, "{r:?}");
    let head = head_of(&l, "652822").await?;
    ensure!(head.0 == genuine.entries[last].seq && head.0 <= n.0);
    l.db().close().await;
    c.shutdown().await
}

/// A prefecture restored from an old backup: its own entries after the
/// backup (an allocation to its county among them) come back from the
/// region, its down stream to the county is rebuilt as it was, so the
/// county's pulls go on, and the county's payments from that allocation are
/// taken (refused as `not_yet_held` until then) only once the prefecture
/// holds the allocation again, so its running sums count them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_prefecture_takes_back_its_allocations_before_the_payments_from_them(
) -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let first = fund_county(&c, "652822", "1000").await?;
    c.ledger("652822")
        .submit(&[
            project("P1"),
            target("P1"),
            payment("F0", first, "P1", "10"),
        ])
        .await?;
    c.converged(WAIT).await?;
    let pref = c.stop("652800").await?;
    let backup = pref.backup().await?;
    c.restart(pref).await?;
    // After the backup: a second allocation to the county, paid from.
    let source: EntryId = c
        .ledger("652800")
        .allocations(AllocationFilter::default(), Page::default())
        .await?
        .items
        .into_iter()
        .find(|a| a.holder == "652800")
        .context("the prefecture's allocation")?
        .id
        .parse()?;
    let second = c
        .ledger("652800")
        .submit_one(issue("巴财农〔2020〕77号", source, "X-01", "652822", "500"))
        .await?
        .id();
    has_allocation(c.ledger("652822"), second).await?;
    let pays: Vec<Body> = (0..3)
        .map(|i| payment(&format!("S{i}"), second, "P1", "100"))
        .collect();
    c.ledger("652822").submit(&pays).await?;
    c.converged(WAIT).await?;
    let pref = c.stop("652800").await?;
    pref.restore(&backup).await?;
    c.restart(pref).await?;
    c.converged(WAIT).await?;
    let p = c.ledger("652800");
    eventually(WAIT, "the prefecture counting the payments", || async {
        let a = p.allocation(second).await?;
        Ok(a.filter(|a| a.paid == Decimal::from(300)).map(|_| ()))
    })
    .await?;
    c.converged(WAIT).await?;
    let f = p.allocation(first).await?.context("the first allocation")?;
    ensure!(f.paid == Decimal::from(10), "{} paid from {first}", f.paid);
    for node in ["652800", "650000"] {
        let ledger = c.ledger(node);
        let paid = paid_of(&summary_by_node(ledger, None).await?, "652822");
        ensure!(
            paid == Decimal::from(310),
            "{node} counts {paid} paid by 652822"
        );
        let rows = count(
            ledger,
            "SELECT COUNT(*) FROM payments WHERE origin = '652822'",
        )
        .await?;
        ensure!(rows == 4, "{node} holds {rows} payment rows of 652822");
    }
    // The down stream is the one the county holds: a new allocation reaches it.
    let third = p
        .submit_one(issue("巴财农〔2020〕78号", source, "X-01", "652822", "50"))
        .await?
        .id();
    has_allocation(c.ledger("652822"), third).await?;
    for node in ["650000", "652800", "652822"] {
        let alarms = count(c.ledger(node), "SELECT COUNT(*) FROM sync_alarms").await?;
        ensure!(alarms == 0, "{alarms} alarms at {node}");
    }
    let link = link_of(&c, "652800").await?;
    ensure!(link["entries_recovered"].as_u64() >= Some(1), "{link}");
    c.shutdown().await
}

/// The next batch `l` would push to a parent holding its own chain up to
/// `after`.
async fn batch_of(l: &Ledger, key: &NodeKey, after: u64) -> Result<Batch> {
    let remote = [(l.identity().code, after)].into_iter().collect();
    sync::client::next_up_batch(l, key, &remote, 5000)
        .await?
        .context("a batch")
}

/// The pusher sends a county's own entries from memory right after they
/// commit (`OwnCache`); what it sends must be the journal's entries, byte
/// for byte, and a node that has nothing in memory (restarted, or another
/// process wrote) reads them from the journal instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_entries_are_pushed_from_memory_exactly_as_stored() -> Result<()> {
    let county = fundsync_tests::fixtures::county("652822", "轮台县");
    let t = fundsync_tests::fixtures::ledger(Engine::Sqlite, &county).await?;
    let l = &t.ledger;
    let me = county.code;
    let key = NodeKey::from_seed(&[7; 32]);
    l.submit(&[project("P1"), target("P1")]).await?;
    ensure!(l.own_cache().len() == 2, "the committed entries are held");
    let sent = batch_of(l, &key, 0).await?;
    ensure!(sent.entries == l.entries(me, 0, 2).await?, "sent as stored");
    ensure!(l.own_cache().is_empty(), "taken by the pusher");

    // The next transaction continues where the parent now stands.
    l.submit(&[project("P2"), target("P2")]).await?;
    let sent = batch_of(l, &key, 3).await?;
    ensure!(sent.entries == l.entries(me, 3, 4).await?, "only seq 4");
    ensure!(
        l.own_cache().is_empty(),
        "seq 3 dropped: the parent holds it"
    );

    // Opened again (a restart), nothing is held: read from the journal.
    let reopened = Ledger::open(l.db().clone(), Some(me), t.clock.clone()).await?;
    ensure!(reopened.own_cache().is_empty());
    let sent = batch_of(&reopened, &key, 1).await?;
    ensure!(sent.entries == l.entries(me, 1, 4).await?, "read back");
    Ok(())
}
