//! fundsync benchmarks: `cargo run --release -p fundsync-tests --bin bench -- <scenario> [--quick]`.
//!
//! PostgreSQL scenarios need `FUNDSYNC_TEST_PG_URL`; run through
//! `FUNDSYNC_PG_DURABLE=1 bash scripts/with-pg.sh …` for a durable throwaway
//! server. Results and the machine go to stdout as a table; BENCHMARKS.md
//! records them.

use std::io::{BufWriter, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use fundsync_node::import;
use fundsync_node::ledger::Ledger;
use fundsync_protocol::body::*;
use fundsync_protocol::{Body, EntryId, FundOrigin};
use fundsync_tests::fixtures::{self, county, Engine};
use rust_decimal::Decimal;

const ALLOCATIONS: usize = 10;
const PROJECTS: usize = 100;

fn usage() -> ! {
    eprintln!("usage: bench import [--quick] [--rows N] [--engine sqlite|postgres|both]");
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.first() else {
        usage()
    };
    let quick = args.iter().any(|a| a == "--quick");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rows: usize = match flag("--rows") {
        Some(n) => n.parse().context("--rows")?,
        None if quick => 50_000,
        None => 1_000_000,
    };
    let engines = match flag("--engine").as_deref() {
        None | Some("both") => vec![Engine::Sqlite, Engine::Postgres],
        Some("sqlite") => vec![Engine::Sqlite],
        Some("postgres") => vec![Engine::Postgres],
        Some(_) => usage(),
    };
    print_machine();
    match scenario.as_str() {
        "import" => import_bench(rows, &engines).await,
        _ => usage(),
    }
}

fn print_machine() {
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
    println!("machine: {cores} cores, {cpu}");
}

/// A county with ALLOCATIONS own-budget allocations and PROJECTS projects with targets.
async fn county_ledger(engine: Engine) -> Result<(fixtures::TestLedger, Vec<EntryId>)> {
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    let mut bodies = vec![Body::CategoryDefined(CategoryDefined {
        code: "LT-01".into(),
        name: "县级配套".into(),
        origin: FundOrigin::County,
        department: String::new(),
        classified: false,
    })];
    for i in 0..ALLOCATIONS {
        bodies.push(Body::OwnBudgetAdded(OwnBudgetAdded {
            doc_no: format!("轮财〔2020〕{i}号"),
            category: "LT-01".into(),
            amount: "900000000000".parse()?,
            budgeted_on: "2020-01-02".parse()?,
            title: String::new(),
        }));
    }
    for p in 0..PROJECTS {
        bodies.push(Body::ProjectRegistered(ProjectRegistered {
            code: format!("P{p:03}"),
            name: format!("项目{p}"),
            township: "轮台镇".into(),
            village: String::new(),
            department: String::new(),
            starts_on: "2020-01-01".parse()?,
            ends_on: "2020-12-31".parse()?,
            budget: "1000000".parse()?,
            status: ProjectStatus::InProgress,
        }));
        bodies.push(Body::TargetSet(TargetSet {
            project: format!("P{p:03}"),
            level1: TargetLevel1::Output,
            level2: TargetLevel2::Quantity,
            indicator: "完成数量".into(),
            op: TargetOp::AtLeast,
            value: Decimal::from(1),
            unit: "个".into(),
        }));
    }
    let out = l.submit(&bodies).await?;
    let allocs = out[1..=ALLOCATIONS].iter().map(|o| o.id()).collect();
    Ok((t, allocs))
}

fn write_csv(path: &std::path::Path, rows: usize, allocs: &[EntryId]) -> Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(w, "voucher_no,paid_on,payer,payee_name,payee_account,payee_bank,amount,function_class,allocation,project,purpose")?;
    for i in 0..rows {
        let month = 1 + i % 12;
        let dom = 1 + i % 28;
        writeln!(
            w,
            "LT2020{i:09},2020-{month:02}-{dom:02},轮台县财政局,收款单位{},62220{:011},农业银行轮台支行,{}.{:02},2130505,{},P{:03},扶贫项目支出",
            i % 5000,
            i,
            100 + i % 90_000,
            i % 100,
            allocs[i % allocs.len()],
            i % PROJECTS,
        )?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

async fn import_bench(rows: usize, engines: &[Engine]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("vouchers.csv");
    println!(
        "\nscenario: import {rows} payment vouchers from CSV, every rule checked, one transaction"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>12} {:>8}",
        "engine", "rows", "seconds", "rows/s", "target"
    );
    for &engine in engines {
        let (t, allocs) = county_ledger(engine).await?;
        let bytes = write_csv(&csv, rows, &allocs)?;
        let started = Instant::now();
        let report = import::import_payments(&t.ledger, std::fs::File::open(&csv)?).await?;
        let secs = started.elapsed().as_secs_f64();
        if usize::try_from(report.created)? != rows {
            bail!("imported {} of {rows}", report.created);
        }
        check_totals(&t.ledger, rows).await?;
        let rate = f64_rate(rows, secs);
        let (name, target) = match engine {
            Engine::Sqlite => ("sqlite", 100_000.0),
            Engine::Postgres => ("postgres", 50_000.0),
        };
        println!(
            "{name:<10} {rows:>10} {secs:>10.2} {rate:>12.0} {:>8}   ({} MB CSV)",
            if rate >= target { "met" } else { "MISSED" },
            bytes / 1_000_000
        );
    }
    Ok(())
}

#[allow(clippy::as_conversions, clippy::float_arithmetic)]
fn f64_rate(rows: usize, secs: f64) -> f64 {
    rows as f64 / secs
}

/// The import must have landed in full: payments counted in the summary.
async fn check_totals(l: &Ledger, rows: usize) -> Result<()> {
    let s = l
        .summary(
            "2020-12-31".parse()?,
            &[fundsync_node::ledger::query::GroupBy::Node],
            None,
        )
        .await?;
    let expected: i64 = (0..rows)
        .map(|i| i64::try_from((100 + i % 90_000) * 100 + i % 100).unwrap_or(0))
        .sum();
    if s.total.paid != fundsync_protocol::money::fen_to_yuan(expected) {
        bail!(
            "summary shows {} paid, expected {}",
            s.total.paid,
            fundsync_protocol::money::fen_to_yuan(expected)
        );
    }
    Ok(())
}
