//! 检索 over HTTP on a real node, on both engines: `GET /api/v1/search`
//! finds by every searched field, takes `%` and `_` literally and Latin
//! letters in any case, narrows by date, category, department and node,
//! pages without repeating itself, keeps to the reader's scope, and the
//! `/search` page links each hit to its pages.
//!
//! The substring index (migration 0021: FTS5 trigram tables on SQLite,
//! pg_trgm GIN indexes on PostgreSQL) finds text in the middle of every
//! field, Chinese included, and 1- and 2-character texts (below a trigram)
//! still match; a payment relayed up from a county is found at its parent,
//! a reversed payment is still found, and the migration fills the index of
//! a ledger that already holds entries.

use std::collections::BTreeSet;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::ledger::query::{Page, SearchFilter};
use fundsync_node::ledger::Ledger;
use fundsync_node::store::{Db, PoolLimits};
use fundsync_node::sync::{bundle, SyncLimits};
use fundsync_protocol::body::KeyRegistered;
use fundsync_protocol::{Body, NodeKey};
use fundsync_tests::build::{self, clerk};
use fundsync_tests::fixtures::{self, code, county, prefecture, Engine, TestNode};
use fundsync_tests::on_both;
use reqwest::StatusCode;
use serde_json::Value;

use crate::export::{fetch, person, scenario};

/// The hits of a search as `kind:code` (code: 文号, project code or
/// voucher), and whether there is more.
async fn search(node: &TestNode, query: &str, token: Option<&str>) -> Result<(Vec<String>, bool)> {
    let (s, ctype, bytes) = fetch(node, &format!("/api/v1/search?{query}"), token).await?;
    let v: Value = serde_json::from_slice(&bytes)?;
    ensure!(
        s == StatusCode::OK && ctype.starts_with("application/json"),
        "{query}: {s} {v}"
    );
    let hits = v["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|h| {
            format!(
                "{}:{}",
                h["kind"].as_str().unwrap_or(""),
                h["code"].as_str().unwrap_or("")
            )
        })
        .collect();
    Ok((hits, v["has_more"] == true))
}

/// The hits as a set, for searches whose order is not the point.
async fn found(node: &TestNode, query: &str) -> Result<BTreeSet<String>> {
    Ok(search(node, query, None).await?.0.into_iter().collect())
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn search_finds_by_each_field(engine: Engine) -> Result<()> {
    let (node, _, _) = scenario(engine).await?;
    let q = |t: &str| format!("q={}", enc(t));
    let cases: &[(&str, &[&str])] = &[
        // Allocations: 文号, title.
        ("巴财农", &["allocation:巴财农〔2020〕1号"]),
        ("社会保障", &["allocation:巴财社〔2020〕2号"]),
        // Projects: code, name, township, village.
        ("P-1", &["project:P-1"]),
        ("village_water", &["project:Q-2"]),
        ("和静镇", &["project:Q-2"]),
        ("二村", &["project:Q-2"]),
        // Payments: voucher, payee (any case), purpose.
        ("V-3", &["payment:V-3"]),
        ("ZHANG san", &["payment:V-1"]),
        ("道路硬化", &["payment:V-1"]),
        // `%` and `_` are characters, not wildcards.
        ("50%", &["allocation:巴财农〔2020〕1号", "payment:V-2"]),
        ("%", &["allocation:巴财农〔2020〕1号", "payment:V-2"]),
        ("_", &["project:Q-2", "payment:V-2", "payment:V_4"]),
        ("V_", &["payment:V_4"]),
        // Fields that are not searched, and the body's key names, find
        // nothing.
        ("农业银行", &[]),
        ("payee", &[]),
        ("轮台县财政局", &[]),
    ];
    for (text, want) in cases {
        let got = found(&node, &q(text)).await?;
        ensure!(got == set(want), "{text:?}: {got:?}, want {want:?}");
    }

    // Filters: dates, kind, category, department, node.
    let got = found(&node, "kind=payment&from=2020-04-01&to=2020-05-31").await?;
    ensure!(got == set(&["payment:V-2", "payment:V-3"]), "{got:?}");
    let got = found(&node, "category=BZ-01").await?;
    ensure!(
        got == set(&[
            "allocation:巴财农〔2020〕1号",
            "project:P-1",
            "payment:V-1",
            "payment:V_4"
        ]),
        "{got:?}"
    );
    let got = found(&node, &format!("department={}", enc("社保股"))).await?;
    ensure!(
        got == set(&["allocation:巴财社〔2020〕2号", "project:Q-2", "payment:V-2"]),
        "{got:?}"
    );
    let got = found(&node, "node=652822").await?;
    ensure!(got.is_empty(), "nothing at 轮台县: {got:?}");
    let got = found(&node, &format!("node=652800&{}", q("硬化"))).await?;
    ensure!(got == set(&["project:P-1", "payment:V-1"]), "{got:?}");

    // Pages: two of two, nothing twice, in order (newest first).
    let (p1, more1) = search(&node, "kind=payment&page_size=2", None).await?;
    let (p2, more2) = search(&node, "kind=payment&page_size=2&page=2", None).await?;
    ensure!(more1 && !more2, "{more1} {more2}");
    let all: Vec<String> = p1.into_iter().chain(p2).collect();
    ensure!(
        all == ["payment:V_4", "payment:V-3", "payment:V-2", "payment:V-1"],
        "{all:?}"
    );

    // Refused: an unknown kind, a bad date, too long a text.
    for bad in [
        "kind=thing",
        "from=yesterday",
        &format!("q={}", "x".repeat(101)),
    ] {
        let (s, _, _) = fetch(&node, &format!("/api/v1/search?{bad}"), None).await?;
        ensure!(s == StatusCode::BAD_REQUEST, "{bad}: {s}");
    }
    node.stop().await
}

async fn search_keeps_to_the_readers_scope(engine: Engine) -> Result<()> {
    let (node, acc, _) = scenario(engine).await?;
    let social = person(&acc, "sun", &[Role::Department], Some("社保股"), false).await?;
    let (got, _) = search(&node, "", Some(&social)).await?;
    ensure!(
        got.into_iter().collect::<BTreeSet<_>>()
            == set(&["allocation:巴财社〔2020〕2号", "project:Q-2", "payment:V-2"]),
        "社保股 only"
    );
    let lead = person(&acc, "wang", &[Role::Lead], Some("农财所"), false).await?;
    let (got, _) = search(&node, "kind=payment", Some(&lead)).await?;
    ensure!(
        !got.contains(&"payment:V-3".to_owned()) && got.len() == 3,
        "no 涉密: {got:?}"
    );
    let (got, _) = search(&node, "q=%E6%8A%A4%E8%BE%B9", Some(&lead)).await?;
    ensure!(got.is_empty(), "护边 is 涉密: {got:?}");
    node.stop().await
}

/// A payment at the scenario's prefecture whose every searched field has
/// text to find in its middle.
const LONG_VOUCHER: &str = "BX2020000042420";

async fn the_index_finds_text_inside_every_field(engine: Engine) -> Result<()> {
    let (node, _, rec) = scenario(engine).await?;
    let ledger = &node.ledger.ledger;
    let mut b = build::payment(
        LONG_VOUCHER,
        rec.budgets["BZ-01"],
        "P-1",
        "10.00",
        "2020-07-01",
    );
    if let Body::PaymentRecorded(p) = &mut b {
        p.payee_name = "乌鲁木齐收款单位4242号".into();
        p.purpose = "扶贫项目支出 Road".into();
    }
    ledger.submit_one(b, &clerk()).await?;
    let long = format!("payment:{LONG_VOUCHER}");
    let q = |t: &str| format!("q={}", enc(t));
    let cases: &[(&str, &[&str])] = &[
        // 3 characters and more: through the index.
        ("00004242", &[&long]),
        ("收款单位42", &[&long]),
        ("项目支", &[&long]),
        ("rOAD", &[&long]),
        ("〔2020〕2", &["allocation:巴财社〔2020〕2号"]),
        ("LAGE_wat", &["project:Q-2"]),
        ("lage%wat", &[]),
        ("50%折", &["payment:V-2"]),
        ("ng San Con", &["payment:V-1"]),
        ("a\"b", &[]),
        ("木齐收款单位4242号", &[&long]),
        ("木齐收款单位4243号", &[]),
        // 1 and 2 characters: below a trigram, by the LIKEs alone.
        ("硬", &["project:P-1", "payment:V-1"]),
        ("42", &[&long]),
        ("rO", &[&long]),
        ("_", &["project:Q-2", "payment:V-2", "payment:V_4"]),
    ];
    for (text, want) in cases {
        let got = found(&node, &q(text)).await?;
        ensure!(got == set(want), "{text:?}: {got:?}, want {want:?}");
    }
    // Filters still apply to what the index finds.
    let got = found(&node, &format!("{}&from=2020-07-02", q("收款单位42"))).await?;
    ensure!(got.is_empty(), "paid before the range: {got:?}");
    let got = found(&node, &format!("{}&category=BZ-02", q("收款单位42"))).await?;
    ensure!(got.is_empty(), "another category: {got:?}");

    // A reversed payment is still a payment on record: still found.
    ledger
        .submit_one(build::reversal(LONG_VOUCHER, "2020-07-02"), &clerk())
        .await?;
    let got = found(&node, &q("收款单位42")).await?;
    ensure!(got == set(&[&long]), "reversed: {got:?}");
    node.stop().await
}

/// The text of the hits `ledger` finds for `text`, as `node:code`.
async fn hits(ledger: &Ledger, text: &str) -> Result<BTreeSet<String>> {
    let f = SearchFilter {
        text: text.into(),
        ..SearchFilter::default()
    };
    Ok(ledger
        .search(&f, Page::default())
        .await?
        .items
        .into_iter()
        .map(|h| format!("{}:{}", h.node, h.code))
        .collect())
}

async fn a_relayed_payment_is_found_at_the_parent(engine: Engine) -> Result<()> {
    let limits = SyncLimits::default();
    let p = fixtures::ledger(engine, &prefecture()).await?;
    let pk = NodeKey::from_seed(&[28; 32]);
    let ck = NodeKey::from_seed(&[40; 32]);
    p.ledger
        .submit(
            &[
                build::child("652822", "轮台县"),
                Body::KeyRegistered(KeyRegistered::of(code("652822"), &ck.verifying_key())),
            ],
            &clerk(),
        )
        .await?;
    let c = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    c.ledger.trust_parent_keys(&[pk.verifying_key()]).await?;
    c.ledger
        .submit(
            &[build::project("P1", "800000"), build::target("P1")],
            &clerk(),
        )
        .await?;
    let own = p
        .ledger
        .submit_one(
            build::own_budget("巴财预〔2020〕1号", "X-05", "100000", "2020-01-30"),
            &clerk(),
        )
        .await?
        .id();
    let alloc = p
        .ledger
        .submit_one(
            build::issue(
                "巴财农〔2020〕7号",
                own,
                "X-05",
                "652822",
                "60000",
                "2020-02-04",
            ),
            &clerk(),
        )
        .await?
        .id();
    let mut down = Vec::new();
    bundle::export_down(&p.ledger, &pk, code("652822"), &limits, None, &mut down).await?;
    bundle::import(&c.ledger, ck.key_id(), &limits, &mut down.as_slice()).await?;
    let mut b = build::payment("LT-2020-0777", alloc, "P1", "20000", "2020-05-10");
    if let Body::PaymentRecorded(x) = &mut b {
        x.payee_name = "轮台县收款单位77号".into();
        x.purpose = "村道 Hardening".into();
    }
    c.ledger.submit_one(b, &clerk()).await?;
    let mut up = Vec::new();
    bundle::export_up(&c.ledger, &ck, &limits, None, &mut up).await?;
    bundle::import(&p.ledger, pk.key_id(), &limits, &mut up.as_slice()).await?;

    let want = set(&["652822:LT-2020-0777"]);
    for text in ["县收款单位7", "hardEN", "2020-07", "77", "Ha"] {
        for (at, l) in [("county", &c.ledger), ("prefecture", &p.ledger)] {
            let got = hits(l, text).await?;
            ensure!(got == want, "{text:?} at the {at}: {got:?}");
        }
    }
    let got = hits(&p.ledger, "县收款单位8").await?;
    ensure!(got.is_empty(), "{got:?}");
    Ok(())
}

/// Migration 0021 fills the index from the rows a ledger already holds:
/// its objects dropped and the migration forgotten, opening the ledger runs
/// it again over them.
async fn the_migration_indexes_a_ledger_in_place(engine: Engine) -> Result<()> {
    // The node keeps its database (and runs, idle) until the end.
    let (node, _, _) = scenario(engine).await?;
    let categories = |db: Db| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM project_categories")
            .fetch_one(db.read())
            .await
    };
    // The categories each project drew on, for the library's 涉密 check:
    // P-1 BZ-01 and BZ-09, Q-2 BZ-02.
    let n = categories(node.ledger.ledger.db().clone()).await?;
    ensure!(n == 3, "written as the payments were: {n}");
    let url = node.ledger.url.clone();
    let id = node.ledger.ledger.identity().clone();
    let db = Db::open(&url, &PoolLimits::default()).await?;
    let drop: &[&str] = match engine {
        Engine::Sqlite => &[
            "DROP TRIGGER allocation_texts_insert",
            "DROP TRIGGER project_texts_insert",
            "DROP TABLE allocation_texts",
            "DROP TABLE project_texts",
            "DROP TABLE payment_texts",
            "DROP TABLE project_categories",
        ],
        Engine::Postgres => &[
            "DROP INDEX allocations_trgm",
            "DROP INDEX projects_trgm",
            "DROP TABLE payment_texts",
            "DROP TABLE project_categories",
        ],
    };
    for s in drop {
        sqlx::query(s).execute(db.read()).await?;
    }
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 21")
        .execute(db.read())
        .await?;
    db.close().await;
    let db = Db::open(&url, &PoolLimits::default()).await?;
    let ledger = Ledger::open(db, Some(id.code), node.ledger.clock.clone()).await?;
    for (text, want) in [
        ("ng San Con", vec!["652800:V-1"]),
        ("折扣公", vec!["652800:V-2"]),
        ("〔2020〕2", vec!["652800:巴财社〔2020〕2号"]),
        ("age_Wat", vec!["652800:Q-2"]),
        ("路硬化", vec!["652800:V-1"]),
        ("村道硬", vec!["652800:P-1"]),
    ] {
        let got = hits(&ledger, text).await?;
        ensure!(got == set(&want), "{text:?}: {got:?}");
    }
    let n = categories(ledger.db().clone()).await?;
    ensure!(n == 3, "filled by the migration: {n}");
    ledger.db().close().await;
    node.stop().await
}

on_both!(
    search_finds_by_each_field,
    search_keeps_to_the_readers_scope,
    the_index_finds_text_inside_every_field,
    a_relayed_payment_is_found_at_the_parent,
    the_migration_indexes_a_ledger_in_place
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_page_links_each_hit_and_is_refused_to_other_roles() -> Result<()> {
    let (node, acc, rec) = scenario(Engine::Sqlite).await?;
    let (s, ctype, bytes) = fetch(&node, "/search?q=%25", None).await?;
    ensure!(s == StatusCode::OK && ctype.starts_with("text/html"), "{s}");
    let page = String::from_utf8(bytes)?;
    for want in [
        format!("href=\"/allocations?source={}\"", rec.budgets["BZ-01"]),
        format!("href=\"/trace/{}\"", rec.payments["V-2"]),
        "50%折扣公司".to_owned(),
        "检索".to_owned(),
    ] {
        ensure!(page.contains(&want), "{want} missing: {page}");
    }
    ensure!(!page.contains("Zhang San"), "only literal % matches");
    let (s, _, _) = fetch(&node, &format!("/search?q={}", "x".repeat(101)), None).await?;
    ensure!(s == StatusCode::BAD_REQUEST, "{s}");
    let operator = person(&acc, "ops", &[Role::Operator], None, false).await?;
    let (s, _, _) = fetch(&node, "/search?q=x", Some(&operator)).await?;
    ensure!(s == StatusCode::FORBIDDEN, "{s}");
    let (s, _, _) = fetch(&node, "/api/v1/search?q=x", Some(&operator)).await?;
    ensure!(s == StatusCode::FORBIDDEN, "{s}");
    let r = reqwest::Client::new()
        .get(node.url("/api/v1/search?q=x"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::UNAUTHORIZED, "{}", r.status());
    node.stop().await
}
