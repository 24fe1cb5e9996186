//! A short fixed-seed run of the randomized fault harness (`bench chaos`):
//! seven `fundsync serve` processes, writes and faults chosen by seed 17,
//! then every check of `fundsync_tests::chaos` after the heal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_tests::chaos::{session, Options};

/// The `fundsync` binary: `FUNDSYNC_BIN`, else the one next to this test
/// binary's directory (target/<profile>/fundsync, which `cargo nextest run
/// --workspace` builds), built with `cargo build -p fundsync` only when it
/// is missing (building it alone unifies features differently, so it
/// would rebuild the node crate every time). After changing the node
/// alone, rebuild it: `cargo build -p fundsync --bin fundsync`.
pub(crate) fn fundsync_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("FUNDSYNC_BIN") {
        return Ok(PathBuf::from(p));
    }
    // The test binary is target/<profile>/deps/it-….
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("the test binary's directory")?
        .to_owned();
    let bin = profile_dir.join("fundsync");
    if bin.exists() {
        return Ok(bin);
    }
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", "fundsync", "--bin", "fundsync"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        build.env("CARGO_TARGET_DIR", target);
    }
    let st = build.status().context("running cargo build for fundsync")?;
    ensure!(st.success(), "cargo build -p fundsync failed");
    Ok(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_fixed_seed_run_holds() -> Result<()> {
    let mut o = Options::new(fundsync_bin()?);
    o.seed = 17;
    o.runs = 1;
    o.steps = 30;
    o.heal_deadline = Duration::from_secs(90);
    let t = session(&o).await?;
    println!("{}", t.summary());
    for (seed, v) in &t.failed {
        for x in v {
            println!("seed {seed}: {x}");
        }
    }
    ensure!(
        t.violations() == 0,
        "{} violation(s); replay: {}",
        t.violations(),
        o.replay(17)
    );
    // The run did something: writes acknowledged and faults injected.
    ensure!(t.acked >= 15, "only {} writes acknowledged", t.acked);
    ensure!(
        t.faults.values().sum::<u64>() >= 3,
        "only {:?} faults",
        t.faults
    );
    Ok(())
}

/// The faults `--dup-reorder` and `--disk-full` add, on a short fixed-seed
/// run: up-batches sent again and an earlier one after a later one, a
/// node's own small filesystem filled; after the heal every check holds.
/// Mounting each node's tmpfs needs root, as the machines that run the
/// suite have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_reordered_batches_and_a_full_disk_hold() -> Result<()> {
    let mut o = Options::new(fundsync_bin()?);
    o.seed = 24;
    o.runs = 1;
    o.steps = 30;
    o.dup_reorder = true;
    o.disk_full = true;
    o.heal_deadline = Duration::from_secs(90);
    let t = session(&o).await?;
    println!("{}", t.summary());
    for (seed, v) in &t.failed {
        for x in v {
            println!("seed {seed}: {x}");
        }
    }
    ensure!(
        t.violations() == 0,
        "{} violation(s); replay: {}",
        t.violations(),
        o.replay(o.seed)
    );
    ensure!(t.acked >= 15, "only {} writes acknowledged", t.acked);
    for f in ["duplicate and reorder", "disk full"] {
        ensure!(t.faults.contains_key(f), "no {f} in {:?}", t.faults);
    }
    ensure!(
        t.replayed.values().sum::<u64>() >= 1,
        "no up-batch was sent again: {:?}",
        t.replayed
    );
    Ok(())
}
