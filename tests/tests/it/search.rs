//! 检索 over HTTP on a real node, on both engines: `GET /api/v1/search`
//! finds by every searched field, takes `%` and `_` literally and Latin
//! letters in any case, narrows by date, category, department and node,
//! pages without repeating itself, keeps to the reader's scope, and the
//! `/search` page links each hit to its pages.

use std::collections::BTreeSet;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_tests::fixtures::{Engine, TestNode};
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

on_both!(
    search_finds_by_each_field,
    search_keeps_to_the_readers_scope
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
