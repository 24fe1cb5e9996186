//! `query`: the region's master ledger over HTTP once millions of payments
//! have rolled up to it through the real sync path; then the public pages
//! (公告公示) at that region, once it and every county have published.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{EntryId, NodeCode};
use fundsync_tests::cluster::Cluster;
use fundsync_tests::fixtures::Engine;
use serde_json::Value;

use super::common::*;
use super::tree::{chain, fund_counties, production};

/// `bench query`.
pub async fn query(
    engine: Engine,
    total: u64,
    counties: usize,
    requests: usize,
    chunk: u64,
) -> Result<()> {
    let per = total / u64::try_from(counties)?;
    println!(
        "\nscenario query: {total} payments recorded at {counties} counties of 652800 \
         ({per} each, {chunk} per transaction) and synced up to the region 650000 over the \
         real protocol; then GET /api/v1/ledger/summary at the region, {requests} requests \
         per grouping, one at a time"
    );
    let (c, funded, per) = load(engine, total, counties, chunk).await?;

    let http = c.node("650000").http();
    let want = fen_to_yuan(payments_fen(0..per) * i64::try_from(counties)?);
    println!(
        "{:<32} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "GET /ledger/summary", "requests", "p50 ms", "p99 ms", "max ms", "p99 target"
    );
    for group in ["node", "fund_origin", "node,fund_origin"] {
        let url = c
            .node("650000")
            .api_url(&format!("/ledger/summary?as_of={AS_OF}&group_by={group}"));
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t0 = Instant::now();
            let r = http.get(&url).send().await?;
            ensure!(r.status().is_success(), "{url}: {}", r.status());
            let v: Value = r.json().await?;
            samples.push(micros(t0.elapsed()));
            let paid: rust_decimal::Decimal =
                v["total"]["paid"].as_str().context("total.paid")?.parse()?;
            ensure!(paid == want, "{url}: paid {paid}, expected {want}");
        }
        let s = stats(&samples);
        println!(
            "{:<32} {:>8} {:>9} {:>9} {:>9} {:>10} {}",
            format!("group_by={group}"),
            s.n,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            "< 100 ms",
            verdict(s.p99 < 100_000)
        );
    }
    public_pages(&c, &funded, requests).await?;
    c.shutdown().await?;
    Ok(())
}

/// The region publishes its allocation results and each county its
/// projects; once the counties' notices have rolled up, the public pages
/// and their JSON at the region, `requests` each, one at a time.
async fn public_pages(
    c: &Cluster,
    funded: &[(fundsync_protocol::NodeCode, fundsync_protocol::EntryId)],
    requests: usize,
) -> Result<()> {
    use fundsync_node::ledger::query::CandidateFilter;
    use fundsync_protocol::body::{PublicationScope, ResultsPublished};
    use fundsync_protocol::Body;

    let notice = |doc: String, scope: PublicationScope, records| {
        Body::ResultsPublished(ResultsPublished {
            doc_no: doc,
            title: "公示".into(),
            scope,
            published_on: chrono::NaiveDate::from_ymd_opt(2020, 12, 31).unwrap_or_default(),
            records,
        })
    };
    let candidates = |scope| CandidateFilter {
        scope,
        from: None,
        to: None,
        township: None,
        unpublished: true,
    };
    let region = c.ledger("650000");
    let mut publishers = vec![region];
    publishers.extend(funded.iter().map(|(county, _)| c.ledger(county.as_str())));
    let mut targets = Vec::new();
    for (k, l) in publishers.into_iter().enumerate() {
        let scope = if k == 0 {
            PublicationScope::Allocations
        } else {
            PublicationScope::Projects
        };
        let (found, _) = l.publish_candidates(candidates(scope), 1000).await?;
        let records = found
            .iter()
            .map(|r| r.id.parse())
            .collect::<Result<Vec<fundsync_protocol::EntryId>, _>>()?;
        ensure!(
            !records.is_empty(),
            "nothing to publish at {}",
            l.identity().code
        );
        let id = l
            .submit_one(
                notice(format!("公〔2020〕{k}号"), scope, records),
                &fundsync_tests::build::clerk(),
            )
            .await?
            .id();
        targets.push(id);
    }
    let mut ch = region.db().changes();
    until(
        &mut ch,
        Duration::from_secs(600),
        Duration::from_secs(1),
        "every county's notice at the region",
        || async {
            for id in &targets {
                if head_seq(region, id.origin).await? < id.seq {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .await?;
    let http = c.node("650000").http();
    println!(
        "{:<32} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "public pages (公告公示)", "requests", "p50 ms", "p99 ms", "max ms", "p99 target"
    );
    for path in [
        "/public",
        "/public/allocations",
        "/public/projects",
        "/api/v1/public/projects",
    ] {
        let base = c.node("650000").api_url("");
        let url = format!("{}{path}", base.trim_end_matches("/api/v1"));
        let s = time_gets(&http, &url, requests, "公〔2020〕", " shows no notice").await?;
        println!(
            "{:<32} {:>8} {:>9} {:>9} {:>9} {:>10} {}",
            path,
            s.n,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            "< 200 ms",
            verdict(s.p99 < 200_000)
        );
    }
    Ok(())
}

/// The region 650000 over `counties` counties of 652800, each of which
/// recorded `total / counties` payments (`chunk` per transaction) that
/// reached the region through the real sync path. Returns the cluster, the
/// counties with the allocation they paid from, and the payments each.
pub async fn load(
    engine: Engine,
    total: u64,
    counties: usize,
    chunk: u64,
) -> Result<(Cluster, Vec<(NodeCode, EntryId)>, u64)> {
    let per = total / u64::try_from(counties)?;
    let c = Cluster::start_with(engine, &chain(counties), production).await?;
    let funded = fund_counties(&c).await?;
    let started = Instant::now();
    let mut targets = Vec::new();
    for &(county, alloc) in &funded {
        let l = c.ledger(county.as_str());
        write_payments(l, alloc, 0..per, chunk).await?;
        targets.push((county, head_seq(l, county).await?));
    }
    let written = started.elapsed();
    let region = c.ledger("650000");
    let mut ch = region.db().changes();
    until(
        &mut ch,
        Duration::from_secs(4 * 3600),
        Duration::from_secs(1),
        "every county's payments at the region",
        || async {
            for &(county, seq) in &targets {
                if head_seq(region, county).await? < seq {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .await?;
    for &(county, _) in &targets {
        check_paid(region, county, payments_fen(0..per)).await?;
    }
    let synced = started.elapsed();
    println!(
        "loaded: counties wrote {} payments in {} s; the region held them all after {} s \
         ({} entries/s end to end); load average {}",
        per * u64::try_from(counties)?,
        secs(written),
        secs(synced),
        per_sec(per * u64::try_from(counties)?, synced),
        loadavg()
    );

    Ok((c, funded, per))
}
