//! The 2020 Bayingol demo end to end: eleven real nodes over mutual TLS
//! replay seed 002, the region's API reproduces every figure of DOMAIN.md,
//! and a second start on the same directory records nothing twice.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_demo::run::{self, Demo, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_region_reproduces_seed_002_and_a_restart_duplicates_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = DemoOptions {
        dir: dir.path().to_owned(),
        port_base: 0,
        host: "127.0.0.1".into(),
    };
    let demo = Demo::start(&opts).await?;
    ensure!(demo.nodes.len() == 11, "{} nodes", demo.nodes.len());
    let first = demo.replay().await?;
    ensure!(first > 100, "only {first} entries recorded");
    demo.converged(Duration::from_secs(60)).await?;
    let accounts = demo.create_accounts(dir.path()).await?;
    let listed = run::read_accounts(&accounts)?;
    ensure!(
        listed.len() == 11 * 7,
        "{} demo accounts, not one per role at each of 11 nodes",
        listed.len()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&accounts)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "accounts file mode {mode:o}");
    }
    let written = std::fs::read_to_string(&accounts)?;
    let token = demo.auditor_token().await?;
    let base = run::region_api(&demo).context("region")?;
    let rows = run::check(&base, Some(&token)).await?;
    let wrong: Vec<_> = rows.iter().filter(|r| !r.ok()).collect();
    ensure!(
        rows.len() > 90 && wrong.is_empty(),
        "figures differ: {wrong:#?}"
    );
    for must in ["107941", "104041", "3900", "23984", "10057", "70000"] {
        ensure!(
            rows.iter().any(|r| run::wan(r.expected) == must),
            "no figure {must} in the check"
        );
    }
    let printed: rust_decimal::Decimal = "1441.16".parse()?;
    let carry: Vec<_> = rows.iter().filter(|r| r.seed_wan == printed).collect();
    ensure!(
        carry.len() == 1 && carry[0].ok(),
        "carry-over 1441.16: {carry:?}"
    );
    demo.stop().await;

    // Resumed on the same directory: enrolment kept, every step found.
    let demo = Demo::start(&opts).await?;
    let again = demo.replay().await?;
    ensure!(again == 0, "a restart recorded {again} entries again");
    demo.converged(Duration::from_secs(60)).await?;
    ensure!(
        demo.create_accounts(dir.path()).await? == accounts
            && std::fs::read_to_string(&accounts)? == written,
        "a second run changed the demo's accounts"
    );
    let rows = run::check(&run::region_api(&demo).context("region")?, Some(&token)).await?;
    ensure!(
        rows.iter().all(run::CheckRow::ok),
        "figures changed after a restart"
    );
    demo.stop().await;
    Ok(())
}
