//! fundsync benchmarks: `cargo run --release -p fundsync-tests --bin bench -- <scenario> [--quick]`.
//!
//! Scenarios: `import` (CSV vouchers into one ledger), `e2e` (county →
//! prefecture → region over mutual TLS), `peer` (e2e beside a PostgreSQL
//! logical replication cascade and one local SQLite database), `latency`,
//! `login` (argon2id sign-ins and token look-ups), `catchup`, `scale` (114 separate `fundsync` processes), `query` (the
//! region's summary over millions of payments), `pages` (the officers'
//! pages at the region over N payments, then a workbook export of them
//! all; `--no-export` skips it), `xlsx-import` (an XLSX voucher file
//! previewed and imported on SQLite), or `all`. `--quick` runs a
//! small version of each for smoke testing. `chaos` (not in `all`) is the
//! randomized fault harness (`fundsync_tests::chaos`): `--seed S --runs N
//! --steps K [--pg] [--heal-secs S] [--keep] [--verbose] [--restore-root]
//! [--dup-reorder] [--disk-full]` (the last two add faults: up-batches sent
//! again and out of order; a node's disk filled, which needs root to mount
//! each node's own tmpfs), exit 1 on any
//! violation.
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

#[path = "../bench/catchup.rs"]
mod catchup;
#[path = "../bench/common.rs"]
mod common;
#[path = "../bench/e2e.rs"]
mod e2e;
#[path = "../bench/latency.rs"]
mod latency;
#[path = "../bench/login.rs"]
mod login;
#[path = "../bench/pages.rs"]
mod pages;
#[path = "../bench/peer.rs"]
mod peer;
#[path = "../bench/query.rs"]
mod query;
#[path = "../bench/scale.rs"]
mod scale;
#[path = "../bench/tree.rs"]
mod tree;

const ALLOCATIONS: usize = 10;
const PROJECTS: usize = 100;

fn usage() -> ! {
    eprintln!(
        "usage: bench <import|e2e|peer|latency|login|catchup|scale|query|pages|xlsx-import|all|chaos> [--quick]\n\
         \x20      [--rows N] [--chunk N] [--batch N] [--engine sqlite|postgres|both]\n\
         \x20      [--samples N] (latency, login) [--counties N] [--requests N] (query, pages) [--no-export] (pages)\n\
         \x20      [--fundsync PATH] [--prefectures N] [--per N] [--payments N] (scale)\n\
         \x20      [--seed S] [--runs N] [--steps K] [--pg] [--heal-secs S] [--keep] [--verbose] [--restore-root]\n\
         \x20      [--dup-reorder] [--disk-full] (chaos)"
    );
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
    let num = |name: &str, full: u64, small: u64| -> Result<u64> {
        match flag(name) {
            Some(n) => n.parse().with_context(|| name.to_owned()),
            None if quick => Ok(small),
            None => Ok(full),
        }
    };
    let pg_set = std::env::var(fundsync_tests::pg::PG_URL_ENV).is_ok_and(|v| !v.is_empty());
    let engines = |default_both: bool| match flag("--engine").as_deref() {
        None if default_both && pg_set => vec![Engine::Sqlite, Engine::Postgres],
        None => vec![Engine::Sqlite],
        Some("both") => vec![Engine::Sqlite, Engine::Postgres],
        Some("sqlite") => vec![Engine::Sqlite],
        Some("postgres") => vec![Engine::Postgres],
        Some(_) => usage(),
    };
    let chunk = num("--chunk", 5_000, 5_000)?;
    common::print_machine();
    println!("command: bench {}", args.join(" "));
    let fundsync_bin = match flag("--fundsync") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary's directory")?
            .join("fundsync"),
    };
    let all = scenario == "all";
    let mut ran = false;
    if scenario == "import" {
        ran = true;
        let rows = usize::try_from(num("--rows", 1_000_000, 50_000)?)?;
        import_bench(rows, &engines(true)).await?;
    }
    if all || scenario == "e2e" {
        ran = true;
        let batch = flag("--batch")
            .map(|b| b.parse::<usize>().context("--batch"))
            .transpose()?;
        e2e::e2e(
            num("--rows", 1_000_000, 20_000)?,
            chunk,
            &engines(false),
            batch,
        )
        .await?;
    }
    if all || scenario == "peer" {
        ran = true;
        e2e::peer(num("--rows", 1_000_000, 20_000)?, chunk).await?;
    }
    if all || scenario == "latency" {
        ran = true;
        let samples = usize::try_from(num("--samples", 1_000, 200)?)?;
        for e in engines(false) {
            latency::latency(e, samples).await?;
        }
    }
    if all || scenario == "login" {
        ran = true;
        let samples = usize::try_from(num("--samples", 200, 30)?)?;
        for e in engines(false) {
            login::login(e, samples).await?;
        }
    }
    if all || scenario == "catchup" {
        ran = true;
        for e in engines(false) {
            catchup::catchup(e, num("--rows", 1_000_000, 20_000)?, chunk).await?;
        }
    }
    if all || scenario == "scale" {
        ran = true;
        let prefectures = usize::try_from(num("--prefectures", 14, 3)?)?;
        let per = usize::try_from(num("--per", 13, 2)?)?;
        scale::scale(
            &fundsync_bin,
            prefectures,
            per,
            num("--payments", 300, 100)?,
        )
        .await?;
    }
    if all || scenario == "query" {
        ran = true;
        let counties = usize::try_from(num("--counties", 10, 2)?)?;
        for e in engines(false) {
            query::query(
                e,
                num("--rows", 10_000_000, 1_000_000)?,
                counties,
                usize::try_from(num("--requests", 200, 200)?)?,
                chunk,
            )
            .await?;
        }
    }
    if all || scenario == "pages" {
        ran = true;
        let counties = usize::try_from(num("--counties", 10, 2)?)?;
        for e in engines(false) {
            pages::pages(
                e,
                num("--rows", 1_000_000, 20_000)?,
                counties,
                usize::try_from(num("--requests", 100, 20)?)?,
                chunk,
                !args.iter().any(|a| a == "--no-export"),
            )
            .await?;
        }
    }
    if all || scenario == "xlsx-import" {
        ran = true;
        let rows = usize::try_from(num("--rows", 100_000, 10_000)?)?;
        xlsx_import_bench(rows).await?;
    }
    if scenario == "chaos" {
        // Not part of `all`: it judges, it does not time.
        let mut o = fundsync_tests::chaos::Options::new(fundsync_bin.clone());
        o.seed = num("--seed", 1, 1)?;
        o.runs = num("--runs", 10, 1)?;
        o.steps = num("--steps", 60, 20)?;
        o.pg = args.iter().any(|a| a == "--pg");
        o.keep = args.iter().any(|a| a == "--keep");
        o.verbose = args.iter().any(|a| a == "--verbose");
        o.restore_root = args.iter().any(|a| a == "--restore-root");
        o.dup_reorder = args.iter().any(|a| a == "--dup-reorder");
        o.disk_full = args.iter().any(|a| a == "--disk-full");
        o.heal_deadline = std::time::Duration::from_secs(num("--heal-secs", 120, 120)?);
        let t = fundsync_tests::chaos::session(&o).await?;
        for (seed, v) in &t.failed {
            println!(
                "FAILED seed {seed} ({} violation(s)); replay: {}",
                v.len(),
                o.replay(*seed)
            );
        }
        println!("{}", t.summary());
        if t.violations() > 0 {
            std::process::exit(1);
        }
        return Ok(());
    }
    if !ran {
        usage()
    }
    println!("load average at the end: {}", common::loadavg());
    Ok(())
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
            budgeted_on: "2020-01-01".parse()?,
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
    let out = l.submit(&bodies, &fundsync_tests::build::clerk()).await?;
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
        let report = import::import_payments(
            &t.ledger,
            std::fs::File::open(&csv)?,
            &fundsync_node::ledger::console_actor(),
        )
        .await?;
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

/// A workbook of `rows` vouchers, the columns of [`write_csv`], amounts as
/// numbers.
fn write_xlsx(rows: usize, allocs: &[EntryId]) -> Result<Vec<u8>> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet_with_constant_memory()?;
    let head = [
        "voucher_no",
        "paid_on",
        "payer",
        "payee_name",
        "payee_account",
        "payee_bank",
        "amount",
        "function_class",
        "allocation",
        "project",
        "purpose",
    ];
    for (c, h) in head.iter().enumerate() {
        ws.write_string(0, u16::try_from(c)?, *h)?;
    }
    for i in 0..rows {
        let r = u32::try_from(i + 1)?;
        let month = 1 + i % 12;
        let dom = 1 + i % 28;
        let amount: f64 = format!("{}.{:02}", 100 + i % 90_000, i % 100).parse()?;
        ws.write_string(r, 0, format!("LT2020{i:09}"))?;
        ws.write_string(r, 1, format!("2020-{month:02}-{dom:02}"))?;
        ws.write_string(r, 2, "轮台县财政局")?;
        ws.write_string(r, 3, format!("收款单位{}", i % 5000))?;
        ws.write_string(r, 4, format!("62220{i:011}"))?;
        ws.write_string(r, 5, "农业银行轮台支行")?;
        ws.write_number(r, 6, amount)?;
        ws.write_string(r, 7, "2130505")?;
        ws.write_string(r, 8, allocs[i % allocs.len()].to_string())?;
        ws.write_string(r, 9, format!("P{:03}", i % PROJECTS))?;
        ws.write_string(r, 10, "扶贫项目支出")?;
    }
    Ok(wb.save_to_buffer()?)
}

/// `bench xlsx-import`: a county previews, then imports, a workbook of
/// `rows` vouchers on SQLite (issue 19: preview < 10 s, ≥ 50,000 rows/s).
async fn xlsx_import_bench(rows: usize) -> Result<()> {
    use fundsync_node::import::{Kind, Mode, Options};
    println!(
        "\nscenario: xlsx-import, {rows} payment vouchers in one XLSX sheet, previewed \
         (every rule checked, rolled back) then imported (one transaction), SQLite"
    );
    let (t, allocs) = county_ledger(Engine::Sqlite).await?;
    let bytes = write_xlsx(rows, &allocs)?;
    let size = bytes.len();
    let opts = Options::new(&fundsync_node::ledger::console_actor());
    println!(
        "{:<10} {:>10} {:>10} {:>12} {:>10}",
        "step", "rows", "seconds", "rows/s", "target"
    );
    for (step, mode) in [("preview", Mode::Preview), ("import", Mode::Apply)] {
        let input = Box::new(std::io::Cursor::new(bytes.clone()));
        let started = Instant::now();
        let report = import::run(&t.ledger, Kind::Payments, input, &opts, mode).await?;
        let secs = started.elapsed().as_secs_f64();
        if usize::try_from(report.created)? != rows {
            bail!("{step}: {} of {rows} rows would be new", report.created);
        }
        let rate = f64_rate(rows, secs);
        let (target, met) = match mode {
            Mode::Preview => ("< 10 s", secs < 10.0),
            Mode::Apply => (">= 50000/s", rate >= 50_000.0),
        };
        println!(
            "{step:<10} {rows:>10} {secs:>10.2} {rate:>12.0} {target:>10} {}   ({} MB XLSX)",
            if met { "met" } else { "MISSED" },
            size / 1_000_000
        );
    }
    check_totals(&t.ledger, rows).await?;
    Ok(())
}
