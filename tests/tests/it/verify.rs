//! `Ledger::verify` (`fundsync verify`): an auditor's check of a node's
//! books finds every alteration made behind the ledger's back, and a
//! relay's copy of its descendants' entries verifies against their
//! origins' own signatures.

use std::time::Duration;

use anyhow::{ensure, Result};
use fundsync_node::ledger::verify::{Check, VerifyReport};
use fundsync_node::ledger::Ledger;
use fundsync_protocol::EntryId;
use fundsync_tests::build::*;
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{self, county, Engine};

fundsync_tests::on_both!(
    alterations_behind_the_ledger_are_reported,
    the_background_check_raises_an_alarm,
    a_relays_copy_verifies_against_the_origins_signatures,
);

const WAIT: Duration = Duration::from_secs(30);

async fn exec(l: &Ledger, sql: &str) -> Result<()> {
    sqlx::query(sql).execute(l.db().read()).await?;
    Ok(())
}

fn checks(r: &VerifyReport) -> Vec<Check> {
    r.problems.iter().map(|p| p.check).collect()
}

/// A county with its own budget, a project with a target, three payments
/// and a reversal: clean books first, then each table altered directly in
/// the database, one at a time, each reported with what it is about.
async fn alterations_behind_the_ledger_are_reported(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    l.submit_one(county_category(), &clerk()).await?;
    let alloc = l
        .submit_one(
            own_budget("轮财〔2020〕1号", "LT-01", "100000", "2020-02-01"),
            &clerk(),
        )
        .await?
        .id();
    l.submit_one(project("P1", "80000"), &clerk()).await?;
    l.submit_one(target("P1"), &clerk()).await?;
    for (v, amt, on) in [
        ("V1", "105.00", "2020-05-10"),
        ("V2", "2000", "2020-05-10"),
        ("V3", "300", "2020-06-01"),
    ] {
        l.submit_one(payment(v, alloc, "P1", amt, on), &clerk())
            .await?;
    }
    l.submit_one(reversal("V3", "2020-06-02"), &clerk()).await?;

    let r = l.verify().await?;
    ensure!(r.ok(), "clean books reported problems: {:?}", r.problems);
    ensure!(
        r.entries >= 8
            && r.chains == 1
            && r.allocations == 1
            && r.payments == 3
            && r.reversals == 1,
        "{r:?}"
    );

    // The amount of a payment row (105.00 → 10500.00): the API would
    // serve the false amount, the heads and the journal still match.
    exec(
        l,
        "UPDATE payments SET amount_fen = 1050000 WHERE voucher_no = 'V1'",
    )
    .await?;
    let r = l.verify().await?;
    ensure!(
        checks(&r) == [Check::Payment],
        "payment row: {:?}",
        r.problems
    );
    ensure!(
        r.problems[0].subject.starts_with("652822-"),
        "{:?}",
        r.problems
    );
    exec(
        l,
        "UPDATE payments SET amount_fen = 10500 WHERE voucher_no = 'V1'",
    )
    .await?;
    ensure!(l.verify().await?.ok());

    // An allocation's running sum.
    exec(l, "UPDATE allocations SET paid_fen = paid_fen + 1").await?;
    let r = l.verify().await?;
    ensure!(
        checks(&r) == [Check::Allocation],
        "allocation sum: {:?}",
        r.problems
    );
    ensure!(
        r.problems[0].subject == alloc.to_string(),
        "{:?}",
        r.problems
    );
    exec(l, "UPDATE allocations SET paid_fen = paid_fen - 1").await?;

    // A project's paid sum, a day's sum, a reversal's amount.
    exec(l, "UPDATE projects SET paid_fen = 0").await?;
    exec(l, "DELETE FROM payment_daily WHERE day = '2020-05-10'").await?;
    exec(l, "UPDATE payment_reversals SET amount_fen = 1").await?;
    let r = l.verify().await?;
    let mut got = checks(&r);
    got.sort_by_key(|c| format!("{c:?}"));
    ensure!(
        got == [Check::Daily, Check::Project, Check::Reversal],
        "project, day, reversal: {:?}",
        r.problems
    );
    ensure!(r.problems_total == 3);

    // A payment row deleted: missing row, and the sums no longer match it
    // … but the sums are the rows', so only the row is missing.
    let r0 = l.verify().await?;
    exec(l, "DELETE FROM payments WHERE voucher_no = 'V2'").await?;
    let r = l.verify().await?;
    ensure!(
        r.problems
            .iter()
            .any(|p| p.check == Check::Payment && p.detail.contains("no payment row")),
        "{:?}",
        r.problems
    );
    ensure!(
        r.problems_total == r0.problems_total + 1,
        "{:?}",
        r.problems
    );

    // The journal itself: a body altered (its hash no longer matches), and
    // a head moved back.
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    l.submit_one(county_category(), &clerk()).await?;
    l.submit_one(
        own_budget("轮财〔2020〕1号", "LT-01", "100000", "2020-02-01"),
        &clerk(),
    )
    .await?;
    ensure!(l.verify().await?.ok());
    let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM journal WHERE seq = 2")
        .fetch_one(l.db().read())
        .await?;
    let altered = String::from_utf8(body)?.replace("100000", "900000");
    sqlx::query("UPDATE journal SET body = $1 WHERE seq = 2")
        .bind(altered.into_bytes())
        .execute(l.db().read())
        .await?;
    let r = l.verify().await?;
    let got = checks(&r);
    ensure!(
        got.contains(&Check::Hash) && got.contains(&Check::Allocation),
        "journal body: {:?}",
        r.problems
    );
    exec(l, "UPDATE journal_heads SET seq = seq - 1").await?;
    ensure!(checks(&l.verify().await?).contains(&Check::Head));
    Ok(())
}

/// Waits until `ledger` holds allocation `id`.
async fn has_allocation(ledger: &Ledger, id: EntryId) -> Result<()> {
    eventually(
        WAIT,
        &format!("{id} at {}", ledger.identity().code),
        || async { Ok(ledger.allocation(id).await?.map(|_| ())) },
    )
    .await
}

/// Region → prefecture → county over real mutual TLS: the county pays, the
/// region's copy of the county's chain (relayed by the prefecture) verifies
/// against the county's own checkpoints, and so does every node's.
async fn a_relays_copy_verifies_against_the_origins_signatures(engine: Engine) -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start(engine, &tree).await?;
    let region = c.ledger("650000");
    let got = region
        .submit_one(
            received("财农〔2020〕7号", "X-01", "1000000", "2020-04-20"),
            &clerk(),
        )
        .await?
        .id();
    let a = region
        .submit_one(
            issue(
                "新财农〔2020〕12号",
                got,
                "X-01",
                "652800",
                "600000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652800"), a).await?;
    let b = c
        .ledger("652800")
        .submit_one(
            issue(
                "巴财农〔2020〕21号",
                a,
                "X-01",
                "652822",
                "250000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652822"), b).await?;
    let lt = c.ledger("652822");
    lt.submit_one(project("P1", "200000"), &clerk()).await?;
    lt.submit_one(target("P1"), &clerk()).await?;
    lt.submit_one(payment("V1", b, "P1", "1000", "2020-05-10"), &clerk())
        .await?;
    lt.submit_one(payment("V2", b, "P1", "2000", "2020-05-11"), &clerk())
        .await?;
    lt.submit_one(reversal("V2", "2020-05-12"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    // Converged heads; the checkpoint that covers them may come with the
    // next push, so wait for the county's whole chain to be signed.
    let county_head = lt
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin.as_str() == "652822")
        .map(|h| h.seq)
        .unwrap_or(0);
    eventually(WAIT, "the county's chain signed at the region", || async {
        let signed: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM checkpoints WHERE origin = '652822'")
                .fetch_one(region.db().read())
                .await?;
        Ok((u64::try_from(signed.unwrap_or(0))? >= county_head).then_some(()))
    })
    .await?;
    let r = region.verify().await?;
    ensure!(r.ok(), "{:?}", r.problems);
    ensure!(
        r.chains == 3 && r.checkpoints >= 2 && r.payments == 2 && r.reversals == 1,
        "{r:?}"
    );
    for n in ["652800", "652822"] {
        let r = c.ledger(n).verify().await?;
        ensure!(r.ok(), "{n}: {:?}", r.problems);
    }
    // Paid at the region as at the county.
    let paid = |l: &Ledger| {
        let l = l.clone();
        async move { Ok::<_, anyhow::Error>(l.allocation(b).await?.map(|a| a.paid)) }
    };
    ensure!(paid(region).await? == paid(lt).await?);
    Ok(())
}

/// `verify_every_ms`: the background check raises a `verify` alarm (and
/// the gauge) once a table disagrees with the journal, and stops when told.
async fn the_background_check_raises_an_alarm(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    l.submit_one(county_category(), &clerk()).await?;
    l.submit_one(
        own_budget("轮财〔2020〕1号", "LT-01", "100000", "2020-02-01"),
        &clerk(),
    )
    .await?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(fundsync_node::ledger::verify::run_every(l.clone(), 20, rx));
    let alarms = || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_alarms WHERE kind = 'verify'")
            .fetch_one(l.db().read())
            .await?;
        Ok::<_, anyhow::Error>(n)
    };
    ensure!(l.verify().await?.ok() && alarms().await? == 0);
    exec(l, "UPDATE allocations SET amount_fen = 1").await?;
    eventually(WAIT, "a verify alarm", || async {
        Ok((alarms().await? > 0).then_some(()))
    })
    .await?;
    let msg: String = sqlx::query_scalar("SELECT message FROM sync_alarms WHERE kind = 'verify'")
        .fetch_one(l.db().read())
        .await?;
    ensure!(
        msg.contains("Allocation") && msg.contains("652822-"),
        "{msg}"
    );
    stop.send(true)?;
    tokio::time::timeout(WAIT, task).await??;
    Ok(())
}
