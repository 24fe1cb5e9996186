//! `e2e` and `peer`: payments recorded at a county, replicated county →
//! prefecture → region over mutual TLS with signed checkpoints, timed from
//! the first write until the region's master ledger shows every fen; and
//! the same rows through a PostgreSQL logical replication cascade and into
//! one local SQLite database.

use std::time::{Duration, Instant};

use anyhow::Result;
use fundsync_tests::cluster::Cluster;
use fundsync_tests::fixtures::Engine;

use super::common::*;
use super::peer;
use super::tree::{chain, fund_counties, production_with};

/// What one end-to-end run measured.
#[derive(Debug)]
pub struct E2e {
    /// First write until the county's last transaction committed.
    pub written: Duration,
    /// First write until the prefecture held every entry.
    pub at_prefecture: Duration,
    /// First write until the region held every entry and its summary
    /// showed every fen.
    pub total: Duration,
}

/// Records `n` payments at county 652822, `chunk` per transaction, and
/// waits for them at the region.
/// `batch`: entries per sync batch (default: the configuration's 5000).
pub async fn ours(engine: Engine, n: u64, chunk: u64, batch: Option<usize>) -> Result<E2e> {
    let c = Cluster::start_with(engine, &chain(1), production_with(batch)).await?;
    let funded = fund_counties(&c).await?;
    let (county_code, alloc) = funded[0];
    let county = c.ledger(county_code.as_str()).clone();
    let fen = payments_fen(0..n);
    let started = Instant::now();
    let pref = tokio::spawn(shows_paid(
        c.ledger("652800").clone(),
        county_code,
        fen,
        started,
    ));
    let region = tokio::spawn(shows_paid(
        c.ledger("650000").clone(),
        county_code,
        fen,
        started,
    ));
    write_payments(&county, alloc, 0..n, chunk).await?;
    let written = started.elapsed();
    let at_prefecture = pref.await??;
    let total = region.await??;
    c.shutdown().await?;
    Ok(E2e {
        written,
        at_prefecture,
        total,
    })
}

fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    }
}

fn print_e2e(engine: Engine, n: u64, r: &E2e) {
    println!(
        "{:<10} {n:>10} {:>10} {:>12} {:>10} {:>12} {:>10}",
        engine_name(engine),
        secs(r.total),
        per_sec(n, r.total),
        secs(r.written),
        per_sec(n, r.written),
        secs(r.at_prefecture),
    );
}

/// `bench e2e`.
pub async fn e2e(n: u64, chunk: u64, engines: &[Engine], batch: Option<usize>) -> Result<()> {
    println!(
        "\nscenario e2e: {n} payments recorded at county 652822 ({chunk} per transaction), \
         replicated county → prefecture 652800 → region 650000 over mutual TLS with signed \
         checkpoints ({} entries per sync batch); timed from the first write until the \
         region's summary shows every fen",
        batch.map_or("default".to_owned(), |b| b.to_string())
    );
    println!(
        "{:<10} {:>10} {:>10} {:>12} {:>10} {:>12} {:>10}",
        "engine", "entries", "seconds", "entries/s", "written s", "write rate/s", "at pref s"
    );
    for &e in engines {
        let r = ours(e, n, chunk, batch).await?;
        print_e2e(e, n, &r);
    }
    println!("(no absolute target; `bench peer` compares with PostgreSQL's cascade: ≥ 1.5 ×)");
    Ok(())
}

/// `bench peer`: ours, the PostgreSQL cascade and the SQLite ceiling, side
/// by side in one run.
pub async fn peer(n: u64, chunk: u64) -> Result<()> {
    println!(
        "\nscenario peer: the same {n} payment rows ({chunk} per transaction) through \
         fundsync (SQLite at every node), a PostgreSQL logical replication cascade, \
         into one local SQLite database, and into three fresh ledgers without fundsync"
    );
    let ours = ours(Engine::Sqlite, n, chunk, None).await?;
    // The same voucher rows; the allocation id is only a column here.
    let alloc = "652800-5".parse()?;
    let pg = peer::cascade(n, chunk, alloc).await?;
    let ceiling = peer::sqlite_ceiling(n, chunk, alloc).await?;
    let stored = peer::ledgers_ceiling(n, chunk, alloc, 3).await?;
    println!(
        "{:<44} {:>10} {:>10} {:>12} {:>10}",
        "system", "rows", "seconds", "rows/s", "written s"
    );
    let ours_rate = per_sec(n, ours.total);
    let pg_rate = per_sec(n, pg.total);
    let ceiling_rate = per_sec(n, ceiling);
    println!(
        "{:<44} {n:>10} {:>10} {ours_rate:>12} {:>10}",
        "fundsync county→prefecture→region (SQLite)",
        secs(ours.total),
        secs(ours.written)
    );
    println!(
        "{:<44} {n:>10} {:>10} {pg_rate:>12} {:>10}",
        format!("PostgreSQL {} logical replication cascade", pg.version),
        secs(pg.total),
        secs(pg.written)
    );
    println!(
        "{:<44} {n:>10} {:>10} {ceiling_rate:>12} {:>10}",
        "one local SQLite database (ceiling)",
        secs(ceiling),
        secs(ceiling)
    );
    let stored_rate = per_sec(n, stored);
    println!(
        "{:<44} {n:>10} {:>10} {stored_rate:>12} {:>10}",
        "three ledgers, storing the entries alone",
        secs(stored),
        secs(stored)
    );
    println!(
        "ours ÷ cascade: {} (target ≥ 1.5: {}); ours ÷ SQLite ceiling: {}",
        ratio(ours_rate, pg_rate),
        verdict(u128::from(ours_rate) * 10 >= u128::from(pg_rate) * 15),
        ratio(ours_rate, ceiling_rate)
    );
    println!(
        "storing alone ÷ cascade: {} (each entry's journal and payment rows written into three \
         fresh ledgers at once through SQLite's C API, nothing checked, hashed, signed or \
         sent: nothing that keeps these rows at three SQLite nodes on this machine \
         replicates faster); ours ÷ that: {}",
        ratio(stored_rate, pg_rate),
        ratio(ours_rate, stored_rate)
    );
    Ok(())
}
