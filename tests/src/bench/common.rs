//! What the scenarios share: the machine, integer statistics, the payment
//! rows every throughput scenario writes, and funding a county through the
//! tree so it can pay.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use chrono::NaiveDate;
use fundsync_node::ledger::query::GroupBy;
use fundsync_node::ledger::Ledger;
use fundsync_protocol::body::*;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Amount, Body, EntryId, NodeCode};
use rust_decimal::Decimal;
use tokio::sync::watch;

/// Projects each benchmark county registers; payments cycle through them.
pub const PROJECTS: u64 = 10;
/// The date every summary is taken at.
pub const AS_OF: &str = "2020-12-31";

/// Prints the machine: cores, CPU, memory and the load average now.
pub fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024 / 1024)
        .unwrap_or(0);
    println!(
        "machine: {cores} cores, {cpu}, {mem_gib} GiB; load average {}",
        loadavg()
    );
}

/// The 1-, 5- and 15-minute load averages, as the kernel prints them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// `n` per second over `d`, in whole units (integer arithmetic).
pub fn per_sec(n: u64, d: Duration) -> u64 {
    let us = d.as_micros().max(1);
    u64::try_from(u128::from(n) * 1_000_000 / us).unwrap_or(u64::MAX)
}

/// Seconds with two decimals, from a duration (integer arithmetic).
pub fn secs(d: Duration) -> String {
    let cs = d.as_millis() / 10;
    format!("{}.{:02}", cs / 100, cs % 100)
}

/// Milliseconds with one decimal, from microseconds.
pub fn ms(us: u64) -> String {
    format!("{}.{}", us / 1000, (us % 1000) / 100)
}

/// `a / b` with two decimals (integer arithmetic), "n/a" when `b` is 0.
pub fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        return "n/a".into();
    }
    let r = u128::from(a) * 100 / u128::from(b);
    format!("{}.{:02}", r / 100, r % 100)
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Nearest-rank percentiles of samples in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

pub fn stats(samples: &[u64]) -> Stats {
    let mut v = samples.to_vec();
    v.sort_unstable();
    let at = |pct: usize| -> u64 {
        if v.is_empty() {
            return 0;
        }
        // Nearest rank: ceil(pct/100 * n), 1-based.
        let rank = (pct * v.len()).div_ceil(100).max(1);
        v[rank - 1]
    };
    Stats {
        n: v.len(),
        p50: at(50),
        p99: at(99),
        max: v.last().copied().unwrap_or(0),
    }
}

/// Times `requests` GETs of `url`, each answered with success and a body
/// holding `expect` (else the error says `what`).
pub async fn time_gets(
    http: &reqwest::Client,
    url: &str,
    requests: usize,
    expect: &str,
    what: &str,
) -> Result<Stats> {
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t0 = Instant::now();
        let r = http.get(url).send().await?;
        ensure!(r.status().is_success(), "{url}: {}", r.status());
        let body = r.text().await?;
        samples.push(micros(t0.elapsed()));
        ensure!(body.contains(expect), "{url}{what}");
    }
    Ok(stats(&samples))
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub fn day(s: &str) -> Result<NaiveDate> {
    s.parse().with_context(|| format!("date {s}"))
}

pub fn amount(s: &str) -> Result<Amount> {
    s.parse().map_err(|e| anyhow::anyhow!("amount {s}: {e}"))
}

/// The amount of benchmark payment `i`, in fen: 100.00 to 90,099.99 yuan.
pub fn payment_fen(i: u64) -> i64 {
    i64::try_from((100 + i % 90_000) * 100 + i % 100).unwrap_or(i64::MAX)
}

/// The sum of [`payment_fen`] over `range`.
pub fn payments_fen(range: std::ops::Range<u64>) -> i64 {
    range.map(payment_fen).sum()
}

/// Benchmark payment `i` of a county: one treasury voucher, as `bench
/// import` writes them.
pub fn payment(i: u64, alloc: EntryId) -> Result<PaymentRecorded> {
    // May to December: after the allocation (issued 2020-04-26) and inside
    // every project's dates, so no early-warning rule flags the payment
    // (a flagged payment raises a warning entry, which would replicate too).
    let month = 5 + i % 8;
    let dom = 1 + i % 28;
    Ok(PaymentRecorded {
        voucher_no: format!("BX2020{i:010}"),
        paid_on: NaiveDate::from_ymd_opt(2020, u32::try_from(month)?, u32::try_from(dom)?)
            .context("date")?,
        payer: "县财政局".into(),
        payee_name: format!("收款单位{}", i % 5000),
        payee_account: format!("62220{i:011}"),
        payee_bank: "农业银行".into(),
        amount: Amount::from_fen(payment_fen(i)).map_err(|e| anyhow::anyhow!("{e}"))?,
        function_class: "2130505".into(),
        allocation: alloc,
        project: format!("P{:03}", i % PROJECTS),
        purpose: "扶贫项目支出".into(),
    })
}

/// Records payments `range` at `ledger` against `alloc`, `chunk` per
/// transaction, as a county does while it syncs. Returns when the last
/// transaction has committed.
pub async fn write_payments(
    ledger: &Ledger,
    alloc: EntryId,
    range: std::ops::Range<u64>,
    chunk: u64,
) -> Result<()> {
    let me = ledger.identity().code;
    let mut at = range.start;
    while at < range.end {
        let upto = at.saturating_add(chunk).min(range.end);
        let rows = (at..upto)
            .map(|i| payment(i, alloc))
            .collect::<Result<Vec<_>>>()?;
        let mut work = ledger.begin().await?;
        let nos: Vec<&str> = rows.iter().map(|p| p.voucher_no.as_str()).collect();
        work.prefetch_vouchers(me, &nos).await?;
        for p in rows {
            let no = p.voucher_no.clone();
            match work
                .record(Body::PaymentRecorded(p), &fundsync_tests::build::clerk())
                .await?
            {
                fundsync_node::ledger::Outcome::Created(_) => {}
                fundsync_node::ledger::Outcome::Existing(id) => {
                    bail!("voucher {no} was already recorded as {id}")
                }
            }
        }
        work.commit().await?;
        at = upto;
    }
    Ok(())
}

/// `AllocationIssued` of `amount` yuan from `source` to `to`.
pub fn issue(doc: &str, source: EntryId, to: NodeCode, amt: &str) -> Result<Body> {
    Ok(Body::AllocationIssued(AllocationIssued {
        doc_no: doc.into(),
        source,
        category: "X-01".into(),
        to,
        amount: amount(amt)?,
        issued_on: day("2020-04-26")?,
        title: String::new(),
    }))
}

/// Funds from the centre at the region: the source of every allocation.
pub fn funds_received(doc: &str, amt: &str) -> Result<Body> {
    Ok(Body::FundsReceived(FundsReceived {
        doc_no: doc.into(),
        category: "X-01".into(),
        amount: amount(amt)?,
        received_on: day("2020-04-20")?,
        source: "财政部".into(),
        title: String::new(),
    }))
}

/// Projects P000… with a performance target each, so payments may cite them.
pub fn projects() -> Result<Vec<Body>> {
    let mut out = Vec::new();
    for p in 0..PROJECTS {
        out.push(Body::ProjectRegistered(ProjectRegistered {
            code: format!("P{p:03}"),
            name: format!("项目{p}"),
            township: "镇".into(),
            village: String::new(),
            department: String::new(),
            starts_on: day("2020-01-01")?,
            ends_on: day("2020-12-31")?,
            // Large enough that no project is overspent by the benchmarks.
            budget: amount("900000000000")?,
            status: ProjectStatus::InProgress,
        }));
        out.push(Body::TargetSet(TargetSet {
            project: format!("P{p:03}"),
            level1: TargetLevel1::Output,
            level2: TargetLevel2::Quantity,
            indicator: "完成数量".into(),
            op: TargetOp::AtLeast,
            value: Decimal::from(1),
            unit: "个".into(),
        }));
    }
    Ok(out)
}

/// Waits, waking on each commit at `ledger` (and at least every
/// `poll`), until `check` holds; fails after `deadline`.
pub async fn until<F, Fut>(
    changes: &mut watch::Receiver<u64>,
    deadline: Duration,
    poll: Duration,
    what: &str,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let until = Instant::now() + deadline;
    loop {
        changes.borrow_and_update();
        if check().await? {
            return Ok(());
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        let _ = tokio::time::timeout(left.min(poll), changes.changed()).await;
    }
}

/// The seq of `origin`'s chain as `ledger` holds it.
pub async fn head_seq(ledger: &Ledger, origin: NodeCode) -> Result<u64> {
    Ok(ledger
        .heads()
        .await?
        .iter()
        .find(|h| h.origin == origin)
        .map_or(0, |h| h.seq))
}

/// What `ledger`'s master ledger (grouped by node) shows `node` paid, in yuan.
pub async fn paid_at(ledger: &Ledger, node: NodeCode) -> Result<Decimal> {
    let s = ledger.summary(day(AS_OF)?, &[GroupBy::Node], None).await?;
    Ok(s.rows
        .iter()
        .find(|r| r.group.get("node").map(String::as_str) == Some(node.as_str()))
        .map(|r| r.paid)
        .unwrap_or_default())
}

/// Waits until `ledger`'s master ledger shows `node` paid exactly `fen`
/// (so it holds every payment: amounts are positive), checking after each
/// of its commits; returns the time since `start`.
pub async fn shows_paid(
    ledger: Ledger,
    node: NodeCode,
    fen: i64,
    start: Instant,
) -> Result<Duration> {
    let want = fen_to_yuan(fen);
    let mut ch = ledger.db().changes();
    until(
        &mut ch,
        Duration::from_secs(4 * 3600),
        Duration::from_millis(500),
        &format!("{node}'s payments at {}", ledger.identity().code),
        || async { Ok(paid_at(&ledger, node).await? == want) },
    )
    .await?;
    Ok(start.elapsed())
}

/// Waits until `ledger` holds `origin`'s chain up to `seq`; returns the
/// time since `start`.
pub async fn reached(
    ledger: Ledger,
    origin: NodeCode,
    seq: u64,
    start: Instant,
) -> Result<Duration> {
    let mut ch = ledger.db().changes();
    until(
        &mut ch,
        Duration::from_secs(4 * 3600),
        Duration::from_millis(500),
        &format!("{origin}@{seq} at {}", ledger.identity().code),
        || async { Ok(head_seq(&ledger, origin).await? >= seq) },
    )
    .await?;
    Ok(start.elapsed())
}

/// Fails unless `ledger`'s summary shows `node` paid exactly `fen`.
pub async fn check_paid(ledger: &Ledger, node: NodeCode, fen: i64) -> Result<()> {
    let paid = paid_at(ledger, node).await?;
    ensure!(
        paid == fen_to_yuan(fen),
        "{} shows {node} paid {paid}, expected {}",
        ledger.identity().code,
        fen_to_yuan(fen)
    );
    Ok(())
}
