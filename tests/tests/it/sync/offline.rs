//! Sync without a live link and across key changes: offline bundles, key
//! rotation, relays that cannot alter what they pass on, a prefecture that
//! catches up after being offline.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_bundles_carry_the_same_signed_batches() -> Result<()> {
    use fundsync_node::sync::bundle;
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "500000").await?;
    c.converged(WAIT).await?;
    let limits = sync::SyncLimits::default();

    // The county loses its link and keeps working.
    let county_node = c.stop("652822").await?;
    let county = reopen(&county_node).await?;
    let county_key = sync::load_signing_key(&county_node.cfg.tls_dir())?;
    county
        .submit(
            &[
                project("P1", "800000"),
                target("P1"),
                payment("V1", alloc, "P1", "1234.56", "2020-05-10"),
            ],
            &clerk(),
        )
        .await?;
    let mut up = Vec::new();
    let n = bundle::export_up(&county, &county_key, &limits, None, &mut up).await?;
    ensure!(n >= 1, "no batches exported");

    // Carried to the prefecture: applied once, then only duplicates.
    let pref = c.ledger("652800").clone();
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?.key_id();
    let r = bundle::import(&pref, pref_key, &limits, &mut up.as_slice()).await?;
    ensure!(r.applied >= 3, "{r:?}");
    let r = bundle::import(&pref, pref_key, &limits, &mut up.as_slice()).await?;
    ensure!(r.applied == 0 && r.duplicates >= 3, "{r:?}");
    // The region gets them through the prefecture's link, as if sent online.
    eventually(WAIT, "the bundle's payment at the region", || async {
        let s = summary_by_node(c.ledger("650000"), None).await?;
        Ok((paid_of(&s, "652822") == "1234.56".parse::<Decimal>()?).then_some(()))
    })
    .await?;

    // A tampered bundle is refused whole and changes nothing.
    county
        .submit_one(payment("V2", alloc, "P1", "1", "2020-05-10"), &clerk())
        .await?;
    let mut up2 = Vec::new();
    bundle::export_up(&county, &county_key, &limits, None, &mut up2).await?;
    let before = fingerprint(&pref, "652822").await?;
    let mut bad = up2.clone();
    let at = bad.len() - 100; // inside the last batch's entries
    bad[at] ^= 0x20;
    ensure!(
        bundle::import(&pref, pref_key, &limits, &mut bad.as_slice())
            .await
            .is_err(),
        "a tampered bundle was accepted"
    );
    ensure!(
        fingerprint(&pref, "652822").await? == before,
        "a tampered bundle changed the prefecture"
    );
    let mut cut = up2.clone();
    cut.truncate(up2.len() - 3);
    let e = bundle::import(&pref, pref_key, &limits, &mut cut.as_slice()).await;
    ensure!(matches!(e, Err(bundle::BundleError::Truncated(_))), "{e:?}");
    // A bundle imported at the wrong end is refused.
    let e = bundle::import(&county, county_key.key_id(), &limits, &mut up2.as_slice()).await;
    ensure!(
        matches!(e, Err(bundle::BundleError::NotAChild { .. })),
        "{e:?}"
    );
    ensure!(
        bundle::import(&pref, pref_key, &limits, &mut &b"not a bundle"[..])
            .await
            .is_err()
    );

    // Down: an allocation issued while the county is offline, carried to it.
    let source = c
        .ledger("652800")
        .allocations(AllocationFilter::default(), Page::default())
        .await?
        .items
        .into_iter()
        .find(|a| a.holder == "652800")
        .context("the prefecture's allocation")?
        .id
        .parse()?;
    let more = pref
        .submit_one(
            issue(
                "巴财农〔2020〕99号",
                source,
                "X-01",
                "652822",
                "1000",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    let pref_signing = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let mut down = Vec::new();
    bundle::export_down(
        &pref,
        &pref_signing,
        code("652822"),
        &limits,
        None,
        &mut down,
    )
    .await?;
    let r = bundle::import(&county, county_key.key_id(), &limits, &mut down.as_slice()).await?;
    ensure!(r.applied == 1, "{r:?}");
    ensure!(
        county.allocation(more).await?.is_some(),
        "the down bundle's allocation"
    );
    let r = bundle::import(&county, county_key.key_id(), &limits, &mut down.as_slice()).await?;
    ensure!(r.applied == 0, "{r:?}");

    // Back online, the link picks up from there.
    county.db().close().await;
    c.restart(county_node).await?;
    c.converged(WAIT).await?;
    let s = summary_by_node(c.ledger("650000"), None).await?;
    ensure!(paid_of(&s, "652822") == "1235.56".parse::<Decimal>()?);
    c.shutdown().await
}

/// Where each batch of a bundle starts and ends (after the magic).
fn batch_spans(bundle: &[u8]) -> Vec<(usize, usize)> {
    let mut at = b"FSBUNDLE1\n".len();
    let mut spans = Vec::new();
    while at + 4 <= bundle.len() {
        let len = u32::from_be_bytes([bundle[at], bundle[at + 1], bundle[at + 2], bundle[at + 3]]);
        let start = at + 4;
        let end = start + usize::try_from(len).unwrap_or(usize::MAX);
        spans.push((start, end));
        at = end;
    }
    spans
}

/// Issue 17 item 4: a bundle is applied all or nothing (a flipped byte in
/// any batch keeps nothing of the batches before it; a corrupted bundle of
/// entries already held is refused, not "imported"), and an export can
/// carry only what the receiver lacks, up and down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bundles_are_all_or_nothing_and_incremental() -> Result<()> {
    use fundsync_node::sync::bundle::{self, BundleError, Position};
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "500000").await?;
    c.converged(WAIT).await?;
    let limits = sync::SyncLimits {
        batch_entries_max: 4,
        ..Default::default()
    };
    let county_node = c.stop("652822").await?;
    let county = reopen(&county_node).await?;
    let county_key = sync::load_signing_key(&county_node.cfg.tls_dir())?;
    let mut bodies = vec![project("P1", "800000"), target("P1")];
    bodies.extend((0..20).map(|i| payment(&format!("V{i:02}"), alloc, "P1", "1", "2020-05-10")));
    county.submit(&bodies, &clerk()).await?;
    let pref = c.ledger("652800").clone();
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?.key_id();
    let since = Position::parse(
        &serde_json::to_string(&Position::of(&pref).await?)?,
        code("652800"),
    )?;
    let mut full = Vec::new();
    bundle::export_up(&county, &county_key, &limits, None, &mut full).await?;
    let spans = batch_spans(&full);
    ensure!(spans.len() >= 6, "{} batches", spans.len());

    // A flipped byte in a late batch: refused, naming it, and none of the
    // batches before it kept.
    let before = fingerprint(&pref, "652822").await?;
    let k = spans.len() - 2;
    let mut bad = full.clone();
    bad[spans[k].1 - 20] ^= 0x01;
    match bundle::import(&pref, pref_key, &limits, &mut bad.as_slice()).await {
        Err(BundleError::Batch { index, .. }) => {
            ensure!(index == k, "refused at {index}, flipped in {k}")
        }
        other => anyhow::bail!("a bundle with a flipped byte in batch {k}: {other:?}"),
    }
    ensure!(
        fingerprint(&pref, "652822").await? == before,
        "a refused bundle changed the prefecture"
    );

    // The intact bundle: every new entry, once.
    let r = bundle::import(&pref, pref_key, &limits, &mut full.as_slice()).await?;
    ensure!(r.applied == 22 && r.batches == spans.len(), "{r:?}");
    // The same bundle corrupted, now that every entry is held: refused.
    // Flipped in an entry (mid-batch) or in the checkpoint (its end).
    let after = fingerprint(&pref, "652822").await?;
    let (start, end) = spans[spans.len() - 1];
    for at in [(start + end) / 2, end - 20] {
        let mut bad = full.clone();
        bad[at] ^= 0x01;
        let e = bundle::import(&pref, pref_key, &limits, &mut bad.as_slice()).await;
        ensure!(
            matches!(e, Err(BundleError::Batch { .. })),
            "flipped at {at}: {e:?}"
        );
    }
    ensure!(fingerprint(&pref, "652822").await? == after);

    // Incremental up: only what the prefecture lacks, by its position.
    county
        .submit(
            &(20..23)
                .map(|i| payment(&format!("V{i:02}"), alloc, "P1", "1", "2020-05-11"))
                .collect::<Vec<_>>(),
            &clerk(),
        )
        .await?;
    let since_now = Position::of(&pref).await?;
    let mut inc = Vec::new();
    bundle::export_up(&county, &county_key, &limits, Some(&since_now), &mut inc).await?;
    ensure!(
        inc.len() * 4 < full.len(),
        "incremental {} bytes, full {}",
        inc.len(),
        full.len()
    );
    let r = bundle::import(&pref, pref_key, &limits, &mut inc.as_slice()).await?;
    ensure!(r.applied == 3 && r.duplicates == 0, "{r:?}");
    // A position from before the bundle leaves a gap only if entries are
    // missing; an old position still works (more duplicates, no harm).
    let mut old = Vec::new();
    bundle::export_up(&county, &county_key, &limits, Some(&since), &mut old).await?;
    let r = bundle::import(&pref, pref_key, &limits, &mut old.as_slice()).await?;
    ensure!(r.applied == 0 && r.duplicates == 25, "{r:?}");
    // A position file of another node is refused before anything is written.
    let e = Position::parse(&serde_json::to_string(&since_now)?, code("652822"));
    ensure!(matches!(e, Err(BundleError::BadPosition(_))), "{e:?}");

    // Incremental down: after the county's place in the down stream.
    let source = pref
        .allocations(AllocationFilter::default(), Page::default())
        .await?
        .items
        .into_iter()
        .find(|a| a.holder == "652800")
        .context("the prefecture's allocation")?
        .id
        .parse()?;
    let at_county = Position::of(&county).await?;
    ensure!(at_county.down_seq >= 1, "{at_county:?}");
    for n in ["97", "98"] {
        pref.submit_one(
            issue(
                &format!("巴财农〔2020〕{n}号"),
                source,
                "X-01",
                "652822",
                "10",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?;
    }
    let pref_signing = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let mut down = Vec::new();
    bundle::export_down(
        &pref,
        &pref_signing,
        code("652822"),
        &limits,
        Some(&at_county),
        &mut down,
    )
    .await?;
    let r = bundle::import(&county, county_key.key_id(), &limits, &mut down.as_slice()).await?;
    ensure!(r.applied == 2 && r.duplicates == 0, "{r:?}");
    let mut whole = Vec::new();
    bundle::export_down(
        &pref,
        &pref_signing,
        code("652822"),
        &limits,
        None,
        &mut whole,
    )
    .await?;
    let r = bundle::import(&county, county_key.key_id(), &limits, &mut whole.as_slice()).await?;
    ensure!(r.applied == 0 && r.duplicates >= 3, "{r:?}");
    county.db().close().await;
    c.restart(county_node).await?;
    c.converged(WAIT).await?;
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_rotation_keeps_history_verifiable() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822")
        .submit_one(project("P1", "800000"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    // A rotation is vouched for by the node's registered key, which comes
    // down from its parent: wait for it (under load it can lag the pushes).
    let county = c.ledger("652822");
    eventually(WAIT, "the county's key registration", || async {
        Ok((!county.keys_of(code("652822")).await?.is_empty()).then_some(()))
    })
    .await?;
    let node = c.stop("652822").await?;
    let ledger = reopen(&node).await?;
    let old = sync::load_signing_key(&node.cfg.tls_dir())?.key_id();
    let new = sync::rotate_signing_key(&ledger, &node.cfg.tls_dir()).await?;
    ensure!(old != new);
    ledger.db().close().await;
    c.restart(node).await?;
    c.ledger("652822")
        .submit_one(target("P1"), &clerk())
        .await?;
    c.converged(WAIT).await?;

    // The region knows both keys, and every checkpoint it keeps of the
    // county verifies with one of them: old history stays verifiable.
    let region = c.ledger("650000");
    let keys = region.keys_of(code("652822")).await?;
    ensure!(keys.len() == 2, "{} keys", keys.len());
    let rows = sqlx::query_as::<_, (i64, Vec<u8>, String, i64, Vec<u8>)>(
        "SELECT seq, head, key_id, at_ms, signature FROM checkpoints WHERE origin = '652822'",
    )
    .fetch_all(region.db().read())
    .await?;
    let mut used = std::collections::BTreeSet::new();
    for (seq, head, key_id, at_ms, sig) in rows {
        let cp = fundsync_protocol::SignedCheckpoint {
            checkpoint: fundsync_protocol::Checkpoint {
                origin: code("652822"),
                seq: u64::try_from(seq)?,
                head: Hash::from_slice(&head).context("head")?,
                key_id: key_id.parse()?,
                at_ms,
            },
            signature: sig.try_into().map_err(|_| anyhow::anyhow!("signature"))?,
        };
        ensure!(
            keys.iter().any(|k| cp.verify(k).is_ok()),
            "checkpoint {seq} does not verify"
        );
        used.insert(key_id);
    }
    ensure!(
        used.contains(&old.to_hex()) && used.contains(&new.to_hex()),
        "checkpoints by {used:?}"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_cannot_alter_or_forge_its_childrens_entries() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822")
        .submit_one(project("P0", "800000"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    let region = c.ledger("650000");
    let head = region
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code("652822"))
        .context("the county at the region")?;
    let county_key = sync::load_signing_key(&county.cfg.tls_dir())?;
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let client = client_as(&c, "652800", "650000")?;
    let url = sync_url(&c, "650000", "/sync/v1/up");
    let before = fingerprint(region, "652822").await?;
    let next = chain(
        "652822",
        head.seq + 1,
        head.hash,
        &[project("Q1", "800000"), target("Q1")],
    );
    let batch = |entries: Vec<Entry>, key: &NodeKey| {
        let cp = checkpoint_for(key, &entries, 0).expect("entries");
        Batch::new(code("652800"), code("650000"), entries, vec![cp]).encode()
    };
    // Altered in transit: the chain or the county's own checkpoint no
    // longer matches, whichever entry was touched.
    let signed = checkpoint_for(&county_key, &next, 0).expect("entries");
    for (i, expected) in [(0, "broken_chain"), (1, "bad_checkpoint")] {
        let mut altered = next.clone();
        altered[i].body = project("Q9", "800000").encode(&clerk());
        let bytes = Batch::new(code("652800"), code("650000"), altered, vec![signed]).encode();
        let (s, e, _) = post_up(&client, &url, bytes, "1").await?;
        ensure!(s == 422 && e == expected, "entry {i} altered: {s} {e}");
    }
    // Forged: the prefecture signs the county's entries with its own key.
    let (s, e, _) = post_up(&client, &url, batch(next.clone(), &pref_key), "1").await?;
    ensure!(s == 422 && e == "unknown_key", "forged: {s} {e}");
    ensure!(
        fingerprint(region, "652822").await? == before,
        "the region changed"
    );
    // Relayed unchanged, with the county's signature, it is accepted.
    let (s, _, m) = post_up(&client, &url, batch(next, &county_key), "1").await?;
    ensure!(s == 200, "relayed unchanged: {m}");
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prefecture_offline_catches_up_with_everything_counted_once() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "900000").await?;
    c.ledger("652822")
        .submit(&[project("P1", "800000"), target("P1")], &clerk())
        .await?;
    c.converged(WAIT).await?;
    let pref = c.stop("652800").await?;
    // The county keeps recording; its pushes fail and back off.
    let county = c.ledger("652822").clone();
    let bodies: Vec<Body> = (0..300)
        .map(|i| payment(&format!("V{i:04}"), alloc, "P1", "10.01", "2020-05-10"))
        .collect();
    county.submit(&bodies, &clerk()).await?;
    eventually(WAIT, "the county noticing its parent is gone", || async {
        let link: serde_json::Value = c
            .node("652822")
            .http()
            .get(c.node("652822").api_url("/sync/link"))
            .send()
            .await?
            .json()
            .await?;
        Ok((link["link"]["consecutive_failures"].as_u64().unwrap_or(0) >= 2).then_some(()))
    })
    .await?;
    // The region keeps allocating meanwhile.
    let region = c.ledger("650000").clone();
    let got = region
        .submit_one(
            Body::FundsReceived(FundsReceived {
                doc_no: "财农〔2020〕88号".into(),
                category: "X-02".into(),
                amount: amount("5000"),
                received_on: day("2020-06-01"),
                source: String::new(),
                title: String::new(),
            }),
            &clerk(),
        )
        .await?
        .id();
    let late = region
        .submit_one(
            issue(
                "新财农〔2020〕88号",
                got,
                "X-02",
                "652800",
                "5000",
                "2020-06-02",
            ),
            &clerk(),
        )
        .await?
        .id();
    c.restart(pref).await?;
    has_allocation(c.ledger("652800"), late).await?;
    c.converged(WAIT).await?;
    let s = summary_by_node(&region, None).await?;
    ensure!(
        paid_of(&s, "652822") == "3003".parse::<Decimal>()?,
        "the region sees {} paid",
        paid_of(&s, "652822")
    );
    c.shutdown().await
}
