//! `latency`: on an idle cluster, how long an allocation takes from the
//! region to a county, and a payment from a county into the region's master
//! ledger.

use std::time::{Duration, Instant};

use anyhow::Result;
use fundsync_protocol::{Body, NodeCode};
use fundsync_tests::cluster::{small_tree, Cluster};
use fundsync_tests::fixtures::{code, Engine};

use super::common::*;
use super::tree::{holds, production};

const WAIT: Duration = Duration::from_secs(30);
/// A fallback for the commit notifications the waits rely on.
const POLL: Duration = Duration::from_secs(1);
/// Pause between samples, so each starts on an idle cluster.
const GAP: Duration = Duration::from_millis(20);

fn row(what: &str, s: &Stats, target_ms: Option<u64>) {
    let (t, v) = match target_ms {
        Some(t) => (format!("< {t} ms"), verdict(s.p99 < t * 1000)),
        None => (String::new(), ""),
    };
    println!(
        "{what:<44} {:>7} {:>9} {:>9} {:>9} {t:>10} {v}",
        s.n,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

/// `bench latency`.
pub async fn latency(engine: Engine, samples: usize) -> Result<()> {
    println!(
        "\nscenario latency: idle 7-node cluster (region, 2 prefectures, 4 counties), \
         production timings; {samples} samples each, one at a time"
    );
    let c = Cluster::start_with(engine, &small_tree(), production).await?;
    let region = c.ledger("650000");
    let pref = c.ledger("652800");
    let county = c.ledger("652822");
    let county_code: NodeCode = code("652822");
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
                "100000000000",
            )?,
            &fundsync_tests::build::clerk(),
        )
        .await?
        .id();
    holds(pref, to_pref).await?;
    let to_county = pref
        .submit_one(
            issue("巴财农〔2020〕1号", to_pref, county_code, "1000000000")?,
            &fundsync_tests::build::clerk(),
        )
        .await?
        .id();
    holds(county, to_county).await?;
    county
        .submit(&projects()?, &fundsync_tests::build::clerk())
        .await?;
    c.converged(WAIT).await?;

    // Allocations: region → prefecture, then at once prefecture → county.
    let (mut hop1, mut hop2, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..samples {
        let mut pch = pref.db().changes();
        let mut cch = county.db().changes();
        let t0 = Instant::now();
        let a1 = region
            .submit_one(
                issue(
                    &format!("新财农〔2020〕L{k}号"),
                    received,
                    code("652800"),
                    "1",
                )?,
                &fundsync_tests::build::clerk(),
            )
            .await?
            .id();
        until(&mut pch, WAIT, POLL, "allocation at 652800", || async {
            Ok(pref.allocation(a1).await?.is_some())
        })
        .await?;
        let t1 = Instant::now();
        let a2 = pref
            .submit_one(
                issue(&format!("巴财农〔2020〕L{k}号"), a1, county_code, "1")?,
                &fundsync_tests::build::clerk(),
            )
            .await?
            .id();
        until(&mut cch, WAIT, POLL, "allocation at 652822", || async {
            Ok(county.allocation(a2).await?.is_some())
        })
        .await?;
        let t2 = Instant::now();
        hop1.push(micros(t1 - t0));
        hop2.push(micros(t2 - t1));
        whole.push(micros(t2 - t0));
        tokio::time::sleep(GAP).await;
    }

    // Payments: county → prefecture → region's summary.
    let (mut up1, mut up_whole) = (Vec::new(), Vec::new());
    let mut expected = 0i64;
    for k in 0..samples {
        let i = 1_000_000_000 + u64::try_from(k)?;
        expected += payment_fen(i);
        let mut pch = pref.db().changes();
        let mut rch = region.db().changes();
        let t0 = Instant::now();
        let id = county
            .submit_one(
                Body::PaymentRecorded(payment(i, to_county)?),
                &fundsync_tests::build::clerk(),
            )
            .await?
            .id();
        until(&mut pch, WAIT, POLL, "payment at 652800", || async {
            Ok(head_seq(pref, county_code).await? >= id.seq)
        })
        .await?;
        let t1 = Instant::now();
        let want = fundsync_protocol::money::fen_to_yuan(expected);
        until(
            &mut rch,
            WAIT,
            POLL,
            "payment in the region's summary",
            || async { Ok(paid_at(region, county_code).await? == want) },
        )
        .await?;
        let t2 = Instant::now();
        up1.push(micros(t1 - t0));
        up_whole.push(micros(t2 - t0));
        tokio::time::sleep(GAP).await;
    }
    c.shutdown().await?;

    println!(
        "{:<44} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "path", "samples", "p50 ms", "p99 ms", "max ms", "p99 target"
    );
    row(
        "allocation region → county (both hops)",
        &stats(&whole),
        Some(200),
    );
    row("  region → prefecture", &stats(&hop1), None);
    row("  prefecture → county", &stats(&hop2), None);
    row(
        "payment county → region's summary",
        &stats(&up_whole),
        Some(300),
    );
    row("  county → prefecture", &stats(&up1), None);
    Ok(())
}
