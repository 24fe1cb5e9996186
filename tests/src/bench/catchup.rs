//! `catchup`: a node comes back after a long time offline with a large
//! backlog; how long until the region has converged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use fundsync_node::clock::SystemClock;
use fundsync_node::ledger::Ledger;
use fundsync_node::store::{Db, PoolLimits};
use fundsync_tests::cluster::Cluster;
use fundsync_tests::fixtures::Engine;

use super::common::*;
use super::tree::{chain, fund_counties, production};

/// `bench catchup`.
pub async fn catchup(engine: Engine, n: u64, chunk: u64) -> Result<()> {
    println!(
        "\nscenario catchup: region 650000 → prefecture 652800 → county 652822, production \
         timings (retry 250 ms doubling to 30 s); {n} payments accumulate ({chunk} per \
         transaction) while a node is offline"
    );
    let mut c = Cluster::start_with(engine, &chain(1), production).await?;
    let funded = fund_counties(&c).await?;
    let (county, alloc) = funded[0];

    // 1. The county offline: its ledger written directly, then restarted.
    let node = c.stop(county.as_str()).await?;
    let db = Db::open(&node.url, &PoolLimits::default()).await?;
    let offline = Ledger::open(db, Some(county), Arc::new(SystemClock)).await?;
    let base = head_seq(&offline, county).await?;
    let w0 = Instant::now();
    write_payments(&offline, alloc, 0..n, chunk).await?;
    let wrote_county = w0.elapsed();
    offline.db().close().await;
    let fen = payments_fen(0..n);
    let t0 = Instant::now();
    c.restart(node).await?;
    let first_pref = tokio::spawn(reached(c.ledger("652800").clone(), county, base + 1, t0));
    let pref_all = tokio::spawn(shows_paid(c.ledger("652800").clone(), county, fen, t0));
    let county_total = shows_paid(c.ledger("650000").clone(), county, fen, t0).await?;
    let county_first = first_pref.await??;
    let county_pref = pref_all.await??;
    c.converged(Duration::from_secs(60)).await?;

    // 2. The prefecture offline while the county keeps writing.
    let pref = c.stop("652800").await?;
    let base = head_seq(c.ledger(county.as_str()), county).await?;
    let w0 = Instant::now();
    write_payments(c.ledger(county.as_str()), alloc, n..2 * n, chunk).await?;
    let wrote_pref = w0.elapsed();
    let fen = payments_fen(0..2 * n);
    let t0 = Instant::now();
    c.restart(pref).await?;
    let first_pref = tokio::spawn(reached(c.ledger("652800").clone(), county, base + 1, t0));
    let pref_all = tokio::spawn(shows_paid(c.ledger("652800").clone(), county, fen, t0));
    let pref_total = shows_paid(c.ledger("650000").clone(), county, fen, t0).await?;
    let pref_first = first_pref.await??;
    let pref_pref = pref_all.await??;
    c.converged(Duration::from_secs(60)).await?;
    c.shutdown().await?;

    println!(
        "{:<20} {:>10} {:>14} {:>14} {:>14} {:>12} {:>10}",
        "offline node",
        "backlog",
        "written in s",
        "first entry s",
        "at prefecture s",
        "at region s",
        "target"
    );
    println!(
        "{:<20} {n:>10} {:>14} {:>14} {:>14} {:>12} {:>10} {}",
        "county 652822",
        secs(wrote_county),
        secs(county_first),
        secs(county_pref),
        secs(county_total),
        "< 30 s",
        verdict(county_total < Duration::from_secs(30))
    );
    println!(
        "{:<20} {n:>10} {:>14} {:>14} {:>14} {:>12} {:>10}",
        "prefecture 652800",
        secs(wrote_pref),
        secs(pref_first),
        secs(pref_pref),
        secs(pref_total),
        "none set"
    );
    println!(
        "(times from the restart; \"first entry\" is when the prefecture applied the first \
         entry of the backlog: for the prefecture it includes the county's retry backoff; \
         region rate {} entries/s after a county restart)",
        per_sec(n, county_total)
    );
    Ok(())
}
