//! Protocol version 6 (an actual's evidence reference) across a tree: a
//! county's actual reaches the region with its evidence, and a child still
//! speaking version 5 pushes an actual without evidence that its version 6
//! parent takes, holds and verifies as before.

use super::*;

fn actual(target: EntryId, on: &str, note: &str, evidence: &str) -> Body {
    Body::TargetActualRecorded(TargetActualRecorded {
        target,
        actual: Decimal::new(125, 1),
        recorded_on: day(on),
        note: note.into(),
        evidence: evidence.into(),
    })
}

async fn actuals_of(l: &Ledger) -> Result<Vec<(String, String, String)>> {
    Ok(l.project_actuals(code("652822"), "P1")
        .await?
        .into_iter()
        .map(|a| (a.recorded_on, a.note, a.evidence))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evidence_reaches_the_region_and_a_version_5_child_still_pushes() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    let county = c.ledger("652822").clone();
    county.submit_one(project("P1", "800000"), &clerk()).await?;
    let t = county.submit_one(target("P1"), &clerk()).await?.id();
    county
        .submit_one(
            actual(
                t,
                "2020-09-25",
                "竣工验收",
                "轮交验〔2020〕3号；验收报告.pdf",
            ),
            &clerk(),
        )
        .await?;
    c.converged(WAIT).await?;
    let want = vec![(
        "2020-09-25".to_owned(),
        "竣工验收".to_owned(),
        "轮交验〔2020〕3号；验收报告.pdf".to_owned(),
    )];
    for up in ["652800", "650000"] {
        let l = c.ledger(up).clone();
        let held = eventually(WAIT, "the actual with its evidence", || {
            let l = l.clone();
            async move {
                let a = actuals_of(&l).await?;
                Ok((!a.is_empty()).then_some(a))
            }
        })
        .await?;
        ensure!(held == want, "{up}: {held:?}");
    }

    // The county as a release of protocol version 5 would speak: its batch
    // and its request say 5, its actual has no evidence (the bytes of
    // version 5).
    let stopped = c.stop("652822").await?;
    let prefecture = c.ledger("652800").clone();
    let key = sync::load_signing_key(&stopped.cfg.tls_dir())?;
    let (seq, hash) = head_of(&prefecture, "652822").await?;
    let old = actual(t, "2020-10-20", "复核", "");
    let bytes = old.encode(&clerk());
    ensure!(
        !String::from_utf8_lossy(&bytes).contains("evidence"),
        "an actual without evidence names the field"
    );
    let entries = chain("652822", seq + 1, hash, &[old]);
    let cp = checkpoint_for(&key, &entries, 1_600_000_000_000).context("entries")?;
    let mut batch = Batch::new(code("652822"), code("652800"), entries, vec![cp]);
    batch.version = 5;
    let client = client_of(&stopped, "652800")?;
    let url = sync_url(&c, "652800", "/sync/v1/up");
    let (s, e, m) = post_up(&client, &url, batch.encode(), "5").await?;
    ensure!(s == 200, "a version 5 push refused: {s} {e} {m}");
    let held = actuals_of(&prefecture).await?;
    ensure!(
        held.len() == 2 && held[1] == ("2020-10-20".to_owned(), "复核".to_owned(), String::new()),
        "{held:?}"
    );
    let report = prefecture.verify().await?;
    ensure!(report.ok(), "{:?}", report.problems);
    // (The county stays stopped: the entry pushed in its name is not in
    // its own journal.)
    drop(stopped);
    c.shutdown().await
}
