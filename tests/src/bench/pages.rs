//! `pages`: the officers' pages at the region once its counties' payments
//! have rolled up to it (issue 19: every page p99 < 200 ms at 10,000,000
//! payments), then the region's payment list exported as one XLSX
//! workbook (< 30 s, < 100 MiB resident). `xlsx-import`: a county previews
//! and imports an XLSX file of vouchers (preview < 10 s, import ≥ 50,000
//! rows/s on SQLite).
//!
//! The nodes run inside the bench process, so "the node process" of the
//! export's memory is this process: its peak resident set is reset
//! (`/proc/self/clear_refs`, 5) just before the export, and read
//! (`VmHWM`) after it, beside what was resident before it began.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use fundsync_tests::fixtures::Engine;

use super::common::*;

/// The pages timed, each `requests` times one at a time: the paths the
/// issue names, a search by payee (a word inside the entries' JSON) and one
/// by voucher number.
const PAGES: &[&str] = &[
    "/",
    "/ledger",
    "/payments",
    "/projects",
    "/search?q=%E6%94%B6%E6%AC%BE%E5%8D%95%E4%BD%8D4242",
    "/search?q=BX20200000004242",
    "/warnings",
];

/// `bench pages`.
pub async fn pages(
    engine: Engine,
    total: u64,
    counties: usize,
    requests: usize,
    chunk: u64,
    export: bool,
) -> Result<()> {
    println!(
        "\nscenario pages ({engine:?}): {total} payments at {counties} counties of 652800, \
         synced up to the region 650000; then each page at the region, {requests} requests \
         one at a time, as a user holding every role (bearer token)"
    );
    let (c, _funded, per) = super::query::load(engine, total, counties, chunk).await?;
    let node = c.node("650000");
    let http = node.http();
    let base = node.api_url("");
    let base = base.trim_end_matches("/api/v1");
    println!(
        "{:<40} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "page at the region", "requests", "p50 ms", "p99 ms", "max ms", "p99 target"
    );
    for path in PAGES {
        let url = format!("{base}{path}");
        let s = time_gets(&http, &url, requests, "</html>", ": not a page").await?;
        println!(
            "{:<40} {:>8} {:>9} {:>9} {:>9} {:>10} {}",
            path,
            s.n,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            "< 200 ms",
            verdict(s.p99 < 200_000)
        );
    }
    if export {
        let rows = per * u64::try_from(counties)?;
        export_xlsx(&http, &format!("{base}/payments.xlsx"), rows).await?;
    }
    c.shutdown().await?;
    Ok(())
}

/// A line of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(key: &str) -> Result<u64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    let line = s
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("{key} in /proc/self/status"))?;
    line.split_whitespace()
        .nth(1)
        .context("a number")?
        .parse()
        .context(key.to_owned())
}

/// GETs a workbook export, streaming it to nothing but its length.
async fn export_xlsx(http: &reqwest::Client, url: &str, rows: u64) -> Result<()> {
    // 5: reset the peak resident set to the current one (Linux ≥ 4.0).
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")?;
    let before = status_kib("VmRSS:")?;
    let t0 = Instant::now();
    let r = http
        .get(url)
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    ensure!(r.status().is_success(), "{url}: {}", r.status());
    let mut first = None;
    let mut bytes = 0u64;
    let mut r = r;
    while let Some(chunk) = r.chunk().await? {
        if first.is_none() {
            first = Some(t0.elapsed());
            ensure!(chunk.starts_with(b"PK"), "{url}: not a zip (xlsx)");
        }
        bytes += u64::try_from(chunk.len())?;
    }
    let took = t0.elapsed();
    let peak = status_kib("VmHWM:")?;
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "export", "rows", "seconds", "MB", "RSS before", "peak RSS"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>9} MiB {:>8} MiB   first byte after {} s; \
         < 30 s: {}; peak rise {} MiB",
        "GET /payments.xlsx at the region",
        rows,
        secs(took),
        bytes / 1_000_000,
        before / 1024,
        peak / 1024,
        secs(first.unwrap_or_default()),
        if rows >= 1_000_000 {
            verdict(took < Duration::from_secs(30))
        } else {
            "n/a below 1,000,000 rows"
        },
        peak.saturating_sub(before) / 1024,
    );
    Ok(())
}
