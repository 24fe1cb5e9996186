//! In-process clusters for the benchmarks: production timings, a
//! region → prefecture → counties tree, and money flowing down to the
//! counties before anything is timed.

use std::time::Duration;

use anyhow::Result;
use fundsync_node::config::Config;
use fundsync_node::ledger::{Identity, Ledger};
use fundsync_protocol::{EntryId, Level, NodeCode};
use fundsync_tests::cluster::Cluster;
use fundsync_tests::fixtures::code;

use super::common::{funds_received, issue, projects, until};

const SETUP_WAIT: Duration = Duration::from_secs(120);

/// The production defaults for the sync timings the test configuration
/// shortens (retries, long-poll, health reports), so the benchmarks measure
/// what an operator would run.
pub fn production(cfg: &mut Config) {
    let d = Config::new(cfg.code, cfg.name.clone(), cfg.level);
    cfg.retry_base_ms = d.retry_base_ms;
    cfg.retry_max_ms = d.retry_max_ms;
    cfg.pull_wait_ms = d.pull_wait_ms;
    cfg.health_report_ms = d.health_report_ms;
    cfg.sync_batch_entries_max = d.sync_batch_entries_max;
}

/// [`production`], with `batch` entries per sync batch if given.
pub fn production_with(batch: Option<usize>) -> impl Fn(&mut Config) + Sync {
    move |cfg: &mut Config| {
        production(cfg);
        if let Some(b) = batch {
            cfg.sync_batch_entries_max = b;
        }
    }
}

fn id(c: &str, name: &str, level: Level, parent: Option<&str>) -> Identity {
    Identity {
        code: code(c),
        name: name.into(),
        level,
        parent: parent.map(code),
    }
}

/// The region 650000, the prefecture 652800 and `counties` of its counties
/// (652801, 652822, 652823 …).
pub fn chain(counties: usize) -> Vec<Identity> {
    const COUNTIES: [(&str, &str); 9] = [
        ("652822", "轮台县"),
        ("652801", "库尔勒市"),
        ("652823", "尉犁县"),
        ("652824", "若羌县"),
        ("652825", "且末县"),
        ("652826", "焉耆回族自治县"),
        ("652827", "和静县"),
        ("652828", "和硕县"),
        ("652829", "博湖县"),
    ];
    let mut t = vec![
        id("650000", "新疆维吾尔自治区", Level::Region, None),
        id(
            "652800",
            "巴音郭楞蒙古自治州",
            Level::Prefecture,
            Some("650000"),
        ),
    ];
    for (c, n) in COUNTIES.iter().take(counties) {
        t.push(id(c, n, Level::County, Some("652800")));
    }
    // More counties than Bayingol has: valid codes inside its division.
    for k in COUNTIES.len()..counties {
        t.push(id(
            &format!("6528{}", 30 + k),
            &format!("县{k}"),
            Level::County,
            Some("652800"),
        ));
    }
    t
}

/// Waits until `ledger` holds allocation `a`.
pub async fn holds(ledger: &Ledger, a: EntryId) -> Result<()> {
    let mut ch = ledger.db().changes();
    until(
        &mut ch,
        SETUP_WAIT,
        Duration::from_millis(100),
        &format!("{a} at {}", ledger.identity().code),
        || async { Ok(ledger.allocation(a).await?.is_some()) },
    )
    .await
}

/// Money for the counties of a one-prefecture tree: funds at the region, an
/// allocation to the prefecture, one from it to each county, and projects
/// with targets at each county. Returns each county's allocation; the tree
/// has converged when it returns.
pub async fn fund_counties(c: &Cluster) -> Result<Vec<(NodeCode, EntryId)>> {
    let region = c.ledger("650000");
    let pref = c.ledger("652800");
    let counties: Vec<NodeCode> = c
        .nodes
        .values()
        .filter(|n| n.id.level == Level::County)
        .map(|n| n.id.code)
        .collect();
    let received = region
        .submit_one(
            funds_received("财农〔2020〕1号", "1000000000000")?,
            &fundsync_tests::build::clerk(),
        )
        .await?
        .id();
    let to_pref = region
        .submit_one(
            issue(
                "新财农〔2020〕1号",
                received,
                code("652800"),
                "900000000000",
            )?,
            &fundsync_tests::build::clerk(),
        )
        .await?
        .id();
    holds(pref, to_pref).await?;
    let each = 900_000_000_000u64 / u64::try_from(counties.len().max(1))?;
    let mut out = Vec::new();
    for (k, &county) in counties.iter().enumerate() {
        let a = pref
            .submit_one(
                issue(
                    &format!("巴财农〔2020〕{k}号"),
                    to_pref,
                    county,
                    &each.to_string(),
                )?,
                &fundsync_tests::build::clerk(),
            )
            .await?
            .id();
        out.push((county, a));
    }
    for &(county, a) in &out {
        let l = c.ledger(county.as_str());
        holds(l, a).await?;
        l.submit(&projects()?, &fundsync_tests::build::clerk())
            .await?;
    }
    c.converged(SETUP_WAIT).await?;
    Ok(out)
}
