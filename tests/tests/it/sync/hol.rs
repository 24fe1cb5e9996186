//! No head-of-line blocking (issue 17, item 2): a bad chain stops its own
//! origin only, and every other origin of the same batch, or of the same
//! relay's stream, keeps flowing; and an honest origin whose parent's copy
//! was altered is told that the parent's copy is wrong, not that it was
//! restored from a backup (item 1).

use fundsync_protocol::wire::UpReceipt;
use fundsync_protocol::{SignedCheckpoint, PROTOCOL_VERSION};

use super::*;

/// The region, one prefecture and two of its counties.
fn two_counties() -> Vec<fundsync_node::ledger::Identity> {
    small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822", "652823"].contains(&n.code.as_str()))
        .collect()
}

/// What a tampering relay does to a project it passes on: the name
/// changed, byte for byte the same length, so the body still decodes.
fn alter(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("a JSON body");
    assert!(text.contains("村道硬化"), "{text}");
    text.replace("村道硬化", "村道加宽").into_bytes()
}

/// `bodies` as `origin`'s entries after `(seq, hash)`, with the checkpoint
/// `key` signs over them.
fn signed_run(
    origin: &str,
    after: (u64, Hash),
    bodies: &[Body],
    key: &NodeKey,
) -> (Vec<Entry>, SignedCheckpoint) {
    let entries = chain(origin, after.0 + 1, after.1, bodies);
    let cp = checkpoint_for(key, &entries, now_ms()).expect("entries");
    (entries, cp)
}

/// Posts `batch` to the region as the prefecture; returns the status and
/// the body.
async fn post_batch(
    client: &reqwest::Client,
    url: &str,
    batch: &Batch,
) -> Result<(u16, serde_json::Value)> {
    let res = client
        .post(url)
        .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
        .body(batch.encode())
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await?))
}

async fn alarms(l: &Ledger) -> Result<Vec<(String, Option<String>, String)>> {
    Ok(
        sqlx::query_as("SELECT peer, origin, kind FROM sync_alarms ORDER BY id")
            .fetch_all(l.db().read())
            .await?,
    )
}

/// One batch relaying two counties, one of whose runs the relay altered:
/// the region applies the good county's run, refuses the other's (nothing
/// of it applied), says which and why in the receipt, and raises an alarm
/// naming the prefecture and the tampered county. A run refused by the
/// rules while the transaction applies it (after a good run was applied in
/// the same transaction) is taken out and the rest applied again, once.
/// A batch none of whose origins can be taken is refused whole, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_run_in_a_batch_stops_its_origin_only() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &two_counties()).await?;
    for (county, p) in [("652822", "A0"), ("652823", "B0")] {
        c.ledger(county)
            .submit_one(project(p, "800000"), &clerk())
            .await?;
    }
    c.converged(WAIT).await?;
    // The counties and the prefecture stop; the test plays the prefecture
    // relaying the counties' next entries, signed with their keys.
    let a = c.stop("652822").await?;
    let b = c.stop("652823").await?;
    let pref = c.stop("652800").await?;
    let key_a = sync::load_signing_key(&a.cfg.tls_dir())?;
    let key_b = sync::load_signing_key(&b.cfg.tls_dir())?;
    let region = c.ledger("650000").clone();
    let client = client_of(&pref, "650000")?;
    let url = sync_url(&c, "650000", "/sync/v1/up");
    let a_head = head_of(&region, "652822").await?;
    let b_head = head_of(&region, "652823").await?;
    let a_before = fingerprint(&region, "652822").await?;

    // 1. A broken chain of 652822 beside a good run of 652823.
    let (mut a_run, a_cp) = signed_run(
        "652822",
        a_head,
        &[project("A1", "800000"), project("A2", "800000")],
        &key_a,
    );
    a_run[0].body = alter(&a_run[0].body);
    let (b_run, b_cp) = signed_run("652823", b_head, &[project("B1", "800000")], &key_b);
    let batch = Batch::new(
        code("652800"),
        code("650000"),
        [a_run, b_run.clone()].concat(),
        vec![a_cp, b_cp],
    );
    let (status, body) = post_batch(&client, &url, &batch).await?;
    ensure!(status == 200, "{status} {body}");
    let receipt: UpReceipt = serde_json::from_value(body.clone())?;
    ensure!(
        receipt.applied == 1
            && receipt.heads.len() == 1
            && receipt.heads[0].origin == code("652823")
            && receipt.heads[0].seq == b_head.0 + 1,
        "{body}"
    );
    ensure!(
        receipt.refused.len() == 1
            && receipt.refused[0].origin == code("652822")
            && receipt.refused[0].error.as_str() == "broken_chain"
            && receipt.refused[0].message.contains("652822"),
        "{body}"
    );
    ensure!(fingerprint(&region, "652822").await? == a_before);
    ensure!(head_of(&region, "652823").await? == (b_head.0 + 1, b_run[0].hash()));
    ensure!(
        alarms(&region).await?
            == vec![(
                "652800".to_owned(),
                Some("652822".to_owned()),
                "broken_chain".to_owned()
            )],
        "{:?}",
        alarms(&region).await?
    );

    // 2. A good run first, then a run that verifies but the rules refuse
    // while it is applied (a county cannot send an allocation up): the
    // transaction is done again without it.
    let b_head2 = head_of(&region, "652823").await?;
    let (b_run2, b_cp2) = signed_run("652823", b_head2, &[project("B2", "800000")], &key_b);
    let (a_bad, a_bad_cp) = signed_run(
        "652822",
        a_head,
        &[issue(
            "轮财〔2020〕9号",
            EntryId {
                origin: code("652822"),
                seq: 1,
            },
            "X-01",
            "652822",
            "100",
            "2020-05-01",
        )],
        &key_a,
    );
    let batch = Batch::new(
        code("652800"),
        code("650000"),
        [b_run2.clone(), a_bad].concat(),
        vec![b_cp2, a_bad_cp],
    );
    let (status, body) = post_batch(&client, &url, &batch).await?;
    ensure!(status == 200, "{status} {body}");
    let receipt: UpReceipt = serde_json::from_value(body.clone())?;
    ensure!(
        receipt.applied == 1
            && receipt.heads.iter().map(|h| h.origin).collect::<Vec<_>>() == vec![code("652823")]
            && receipt.refused.len() == 1
            && receipt.refused[0].origin == code("652822")
            && receipt.refused[0].error.as_str() == "misdirected",
        "{body}"
    );
    ensure!(fingerprint(&region, "652822").await? == a_before);
    ensure!(head_of(&region, "652823").await? == (b_head2.0 + 1, b_run2[0].hash()));
    let b_rows = count(
        &region,
        "SELECT COUNT(*) FROM journal WHERE origin = '652823'",
    )
    .await?;
    ensure!(
        u64::try_from(b_rows)? == b_head2.0 + 1,
        "{b_rows} rows of 652823"
    );
    // A refusal by the rules proves nothing about the relay: no alarm.
    ensure!(alarms(&region).await?.len() == 1);

    // 3. Nothing takeable: refused whole, with the first origin's code, as
    // an older receiver would.
    let b_head3 = head_of(&region, "652823").await?;
    let (mut b_run3, b_cp3) = signed_run(
        "652823",
        b_head3,
        &[project("B3", "800000"), project("B4", "800000")],
        &key_b,
    );
    b_run3[0].body = alter(&b_run3[0].body);
    let (mut a_run3, a_cp3) = signed_run(
        "652822",
        a_head,
        &[project("A1", "800000"), project("A2", "800000")],
        &key_a,
    );
    a_run3[0].body = alter(&a_run3[0].body);
    let b_before = fingerprint(&region, "652823").await?;
    let batch = Batch::new(
        code("652800"),
        code("650000"),
        [b_run3, a_run3].concat(),
        vec![b_cp3, a_cp3],
    );
    let (status, body) = post_batch(&client, &url, &batch).await?;
    ensure!(
        status == 422
            && body["error"] == "broken_chain"
            && body["message"]
                .as_str()
                .is_some_and(|m| m.contains("652823")),
        "{status} {body}"
    );
    ensure!(fingerprint(&region, "652822").await? == a_before);
    ensure!(fingerprint(&region, "652823").await? == b_before);
    // Each origin refused for a lie has its alarm.
    let got = alarms(&region).await?;
    for origin in ["652822", "652823"] {
        ensure!(
            got.iter().any(|(p, o, k)| p == "652800"
                && o.as_deref() == Some(origin)
                && k == "broken_chain"),
            "no alarm for {origin}: {got:?}"
        );
    }
    ensure!(got.len() == 3, "{got:?}");
    let r = region.verify().await?;
    ensure!(r.ok(), "the region's books: {:?}", r.problems);
    c.shutdown().await
}

/// A prefecture relaying two counties sends one county's entry altered:
/// the region refuses that county's run, and the sibling county's new
/// payment still reaches the region. On the prefecture the tampered
/// county waits (shown in its link) while the others go up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_county_does_not_hold_up_its_sibling() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &two_counties()).await?;
    let alloc = fund_county(&c, "652823", "100000").await?;
    c.ledger("652823")
        .submit_one(project("P1", "80000"), &clerk())
        .await?;
    c.ledger("652823")
        .submit_one(target("P1"), &clerk())
        .await?;
    c.ledger("652822")
        .submit_one(project("A0", "800000"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    let a_at_region = head_of(c.ledger("650000"), "652822").await?;
    // The region stops, so what 652822 records next waits at the
    // prefecture.
    let region = c.stop("650000").await?;
    let county = c.ledger("652822").clone();
    county.submit_one(project("A1", "800000"), &clerk()).await?;
    let (a_seq, _) = head_of(&county, "652822").await?;
    let p = c.ledger("652800").clone();
    eventually(WAIT, "A1 at the prefecture", || {
        let p = p.clone();
        async move { Ok((head_of(&p, "652822").await?.0 == a_seq).then_some(())) }
    })
    .await?;
    // The prefecture's copy of A1 is altered (its stored hash left alone,
    // so the county sees nothing amiss), as a relay that lies sends it.
    let pref = c.stop("652800").await?;
    let pl = reopen(&pref).await?;
    let body: Vec<u8> =
        sqlx::query_scalar("SELECT body FROM journal WHERE origin = '652822' AND seq = $1")
            .bind(i64::try_from(a_seq)?)
            .fetch_one(pl.db().read())
            .await?;
    sqlx::query("UPDATE journal SET body = $1 WHERE origin = '652822' AND seq = $2")
        .bind(alter(&body))
        .bind(i64::try_from(a_seq)?)
        .execute(pl.db().read())
        .await?;
    pl.db().close().await;
    c.restart(pref).await?;
    c.restart(region).await?;

    // The sibling's new payment reaches the region.
    let v = c
        .ledger("652823")
        .submit_one(payment("V1", alloc, "P1", "123.45", "2020-05-10"), &clerk())
        .await?
        .id();
    let region = c.ledger("650000").clone();
    eventually(WAIT, "the sibling's payment at the region", || {
        let region = region.clone();
        async move { Ok((head_of(&region, "652823").await?.0 >= v.seq).then_some(())) }
    })
    .await?;
    let paid = paid_of(&summary_by_node(&region, None).await?, "652823");
    ensure!(
        paid == "123.45".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    // The tampered county's run is refused, nothing of it applied, and
    // an alarm names the prefecture and the county.
    let got = eventually(WAIT, "the alarm at the region", || {
        let region = region.clone();
        async move {
            let got = alarms(&region).await?;
            Ok(got
                .iter()
                .any(|(p, o, k)| {
                    p == "652800" && o.as_deref() == Some("652822") && k == "bad_checkpoint"
                })
                .then_some(got))
        }
    })
    .await?;
    ensure!(
        got.iter().all(|(_, o, _)| o.as_deref() == Some("652822")),
        "{got:?}"
    );
    ensure!(head_of(&region, "652822").await? == a_at_region);
    let r = region.verify().await?;
    ensure!(r.ok(), "the region's books: {:?}", r.problems);
    // The prefecture shows which origin waits, and why.
    let link = eventually(WAIT, "the prefecture's link naming 652822", || async {
        let link = link_of(&c, "652800").await?;
        Ok(link["held_back"]
            .as_array()
            .is_some_and(|h| {
                h.iter()
                    .any(|h| h["origin"] == "652822" && h["error"] == "bad_checkpoint")
            })
            .then_some(link))
    })
    .await?;
    ensure!(
        link["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("652822") && e.contains("bad_checkpoint")),
        "{link}"
    );
    c.shutdown().await
}

/// A prefecture alters its copy of a county's entry and rewrites the chain
/// to match (hash and head): the county, whose journal still hashes to
/// the checkpoint it signed, is told its parent's copy is wrong (link
/// state and alarm), not that it was restored from a backup; it pushes
/// nothing more of its chain and keeps its books.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_county_is_told_its_parents_copy_is_wrong() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let county = c.ledger("652822").clone();
    county.submit_one(project("P0", "800000"), &clerk()).await?;
    county.submit_one(project("P1", "800000"), &clerk()).await?;
    c.converged(WAIT).await?;
    let (n, hash) = head_of(&county, "652822").await?;
    let stopped = c.stop("652822").await?;
    let pref = c.stop("652800").await?;
    let pl = reopen(&pref).await?;
    let mut e = pl
        .entries(code("652822"), n - 1, n)
        .await?
        .pop()
        .context("the county's last entry at the prefecture")?;
    e.body = alter(&e.body);
    let forged = e.hash();
    sqlx::query("UPDATE journal SET body = $1, hash = $2 WHERE origin = '652822' AND seq = $3")
        .bind(e.body.clone())
        .bind(forged.0.to_vec())
        .bind(i64::try_from(n)?)
        .execute(pl.db().read())
        .await?;
    sqlx::query("UPDATE journal_heads SET hash = $1 WHERE origin = '652822'")
        .bind(forged.0.to_vec())
        .execute(pl.db().read())
        .await?;
    pl.db().close().await;
    c.restart(pref).await?;
    c.restart(stopped).await?;

    let link = eventually(
        WAIT,
        "the county finding its parent's copy wrong",
        || async {
            let link = link_of(&c, "652822").await?;
            Ok((link["divergence"] == "parent_copy_wrong"
                && link["push_failures"].as_u64() >= Some(1))
            .then_some(link))
        },
    )
    .await?;
    let err = link["last_error"].as_str().unwrap_or_default();
    ensure!(
        link["diverged_at"].as_u64() == Some(n)
            && link["own_chain_checked"] == false
            && err.contains(&format!(
                "the parent's copy of this node's own chain is wrong at seq {n}"
            ))
            && err.contains("verifies against its own signatures")
            && !err.contains("old backup"),
        "{link}"
    );
    let l = c.ledger("652822");
    let got: Vec<(String, Option<String>, String, String)> =
        sqlx::query_as("SELECT peer, origin, kind, message FROM sync_alarms")
            .fetch_all(l.db().read())
            .await?;
    ensure!(
        got.len() == 1
            && got[0].0 == "652800"
            && got[0].1.as_deref() == Some("652822")
            && got[0].2 == "parent_copy_wrong"
            && !got[0].3.contains("old backup"),
        "{got:?}"
    );
    // The county keeps its books as it wrote them.
    ensure!(head_of(l, "652822").await? == (n, hash));
    let r = l.verify().await?;
    ensure!(r.ok(), "the county's books: {:?}", r.problems);
    c.shutdown().await
}

/// Posts `body` to the prefecture's digest path as county 652822.
async fn post_digest(c: &Cluster, body: Vec<u8>) -> Result<(u16, serde_json::Value)> {
    let client = client_as(c, "652822", "652800")?;
    let res = client
        .post(sync_url(c, "652800", fundsync_protocol::wire::DIGEST_PATH))
        .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or_default()))
}

/// Issue 17, item 3: an ancestor compares its copy of a child's money
/// rows with the child's. With a payment row altered at the prefecture
/// behind its ledger (the journal, heads and summaries of entries
/// untouched), the county's next report finds it: an alarm at the
/// prefecture names the county and the origin. Reports the prefecture
/// cannot compare (another head) are answered so; a finding is raised
/// once; a report outside the child's subtree, one not JSON and one too
/// large are refused, nothing compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ancestor_finds_its_copy_of_a_childs_money_rows_altered() -> Result<()> {
    use fundsync_protocol::wire::{DigestReport, OriginDigest, DIGEST_ORIGINS_MAX};
    let c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "100000").await?;
    let county = c.ledger("652822").clone();
    county.submit_one(project("P1", "80000"), &clerk()).await?;
    county.submit_one(target("P1"), &clerk()).await?;
    county
        .submit_one(payment("V1", alloc, "P1", "105.00", "2020-05-10"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    let pref = c.ledger("652800").clone();
    // Both copies agree: the county's own digest is the prefecture's.
    let d = county.money_digests(&[code("652822")]).await?;
    let p = pref.money_digests(&[code("652822")]).await?;
    ensure!(d == p && d.len() == 1 && d[0].rows >= 2, "{d:?} {p:?}");
    ensure!(alarms(&pref).await?.is_empty());

    // Altered behind the prefecture's ledger.
    sqlx::query(
        "UPDATE payments SET amount_fen = 1050000 WHERE origin = '652822' AND voucher_no = 'V1'",
    )
    .execute(pref.db().read())
    .await?;
    let altered = pref.money_digests(&[code("652822")]).await?;
    ensure!(altered[0].digest != d[0].digest && altered[0].seq == d[0].seq);
    // The county records something, so its next report compares anew.
    county.submit_one(project("P2", "80000"), &clerk()).await?;
    let got = eventually(WAIT, "the mismatch alarm at the prefecture", || {
        let pref = pref.clone();
        async move {
            let got = alarms(&pref).await?;
            Ok((!got.is_empty()).then_some(got))
        }
    })
    .await?;
    ensure!(
        got[0]
            == (
                "652822".to_owned(),
                Some("652822".to_owned()),
                "summary_mismatch".to_owned()
            ),
        "{got:?}"
    );
    once(&pref).await?;

    // By hand: the same finding again raises nothing new; another head is
    // not compared.
    let now = county.money_digests(&[code("652822")]).await?;
    let (s, body) = post_digest(
        &c,
        serde_json::to_vec(&DigestReport {
            origins: now.clone(),
        })?,
    )
    .await?;
    ensure!(
        s == 200 && body["compared"][0]["outcome"] == "differs",
        "{s} {body}"
    );
    let mut behind = now[0];
    behind.seq += 1;
    let (s, body) = post_digest(
        &c,
        serde_json::to_vec(&DigestReport {
            origins: vec![behind],
        })?,
    )
    .await?;
    ensure!(
        s == 200 && body["compared"][0]["outcome"] == "not_compared",
        "{s} {body}"
    );
    once(&pref).await?;

    // Refused: an origin outside the county's subtree, not JSON, too many.
    let mut stranger: OriginDigest = now[0];
    stranger.origin = code("652823");
    let (s, body) = post_digest(
        &c,
        serde_json::to_vec(&DigestReport {
            origins: vec![now[0], stranger],
        })?,
    )
    .await?;
    ensure!(
        s == 403 && body["error"] == "origin_not_allowed",
        "{s} {body}"
    );
    let (s, body) = post_digest(&c, b"{not json".to_vec()).await?;
    ensure!(s == 400 && body["error"] == "invalid_json", "{s} {body}");
    let (s, body) = post_digest(
        &c,
        serde_json::to_vec(&DigestReport {
            origins: vec![now[0]; DIGEST_ORIGINS_MAX + 1],
        })?,
    )
    .await?;
    ensure!(s == 413 && body["error"] == "too_large", "{s} {body}");
    once(&pref).await?;
    c.shutdown().await
}

/// Every alarm at `l` is a money-rows mismatch of county 652822 reported by
/// it, each finding (its message: head, rows, digests) raised once. (The
/// county may record more of its own accord, warnings: a new head is a new
/// finding.)
async fn once(l: &Ledger) -> Result<()> {
    let got: Vec<(String, Option<String>, String, String)> =
        sqlx::query_as("SELECT peer, origin, kind, message FROM sync_alarms ORDER BY id")
            .fetch_all(l.db().read())
            .await?;
    let mut messages: Vec<&str> = got.iter().map(|a| a.3.as_str()).collect();
    messages.sort_unstable();
    messages.dedup();
    ensure!(
        !got.is_empty()
            && messages.len() == got.len()
            && got.iter().all(|(p, o, k, _)| p == "652822"
                && o.as_deref() == Some("652822")
                && k == "summary_mismatch"),
        "{got:?}"
    );
    Ok(())
}

/// `targets_reviewed` of `project`'s `submissions`, passed.
fn review(project: &str, submissions: Vec<EntryId>) -> Body {
    Body::TargetsReviewed(TargetsReviewed {
        project: project.into(),
        submissions,
        reviewed_on: day("2020-03-02"),
        necessity: true,
        relevance: true,
        fit: true,
        reasons: String::new(),
    })
}

/// A review naming a project its origin does not own (issue 16): in one
/// batch to the region, the prefecture's own review of county 652822's
/// target and the sibling county 652823's review of the same target are
/// each refused as misdirected, nothing of them applied (the submission at
/// the region still awaits review), no alarm (the rules refused, the relay
/// lied about nothing); 652822's own review of its target, in the same
/// batch, is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_of_a_project_not_its_origins_is_refused_alone() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &two_counties()).await?;
    let a_led = c.ledger("652822").clone();
    a_led.submit_one(project("A0", "800000"), &clerk()).await?;
    let t = a_led.submit_one(target("A0"), &clerk()).await?.id();
    c.converged(WAIT).await?;
    let region = c.ledger("650000").clone();
    let state = |l: Ledger| async move {
        let s: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, review FROM target_submissions WHERE id = $1")
                .bind(t.to_string())
                .fetch_optional(l.db().read())
                .await?;
        anyhow::Ok(s)
    };
    // The region holds the county's submission, awaiting review.
    ensure!(
        state(region.clone()).await? == Some(("submitted".to_owned(), None)),
        "{:?}",
        state(region.clone()).await?
    );

    let a = c.stop("652822").await?;
    let b = c.stop("652823").await?;
    let pref = c.stop("652800").await?;
    let key_a = sync::load_signing_key(&a.cfg.tls_dir())?;
    let key_b = sync::load_signing_key(&b.cfg.tls_dir())?;
    let key_p = sync::load_signing_key(&pref.cfg.tls_dir())?;
    let client = client_of(&pref, "650000")?;
    let url = sync_url(&c, "650000", "/sync/v1/up");
    let (a_head, b_head, p_head) = (
        head_of(&region, "652822").await?,
        head_of(&region, "652823").await?,
        head_of(&region, "652800").await?,
    );
    let (b_before, p_before) = (
        fingerprint(&region, "652823").await?,
        fingerprint(&region, "652800").await?,
    );

    let (p_run, p_cp) = signed_run("652800", p_head, &[review("A0", vec![t])], &key_p);
    let (b_run, b_cp) = signed_run("652823", b_head, &[review("A0", vec![t])], &key_b);
    let (a_run, a_cp) = signed_run("652822", a_head, &[review("A0", vec![t])], &key_a);
    let batch = Batch::new(
        code("652800"),
        code("650000"),
        [p_run, b_run, a_run.clone()].concat(),
        vec![p_cp, b_cp, a_cp],
    );
    let (status, body) = post_batch(&client, &url, &batch).await?;
    ensure!(status == 200, "{status} {body}");
    let receipt: UpReceipt = serde_json::from_value(body.clone())?;
    ensure!(
        receipt.applied == 1
            && receipt.heads.iter().map(|h| h.origin).collect::<Vec<_>>() == vec![code("652822")],
        "{body}"
    );
    let mut refused: Vec<_> = receipt
        .refused
        .iter()
        .map(|r| (r.origin.to_string(), r.error.as_str().to_owned()))
        .collect();
    refused.sort();
    ensure!(
        refused
            == vec![
                ("652800".to_owned(), "misdirected".to_owned()),
                ("652823".to_owned(), "misdirected".to_owned()),
            ],
        "{body}"
    );
    ensure!(
        receipt
            .refused
            .iter()
            .all(|r| r.message.contains(&t.to_string())),
        "{body}"
    );
    ensure!(fingerprint(&region, "652823").await? == b_before);
    ensure!(fingerprint(&region, "652800").await? == p_before);
    ensure!(head_of(&region, "652822").await? == (a_head.0 + 1, a_run[0].hash()));
    ensure!(
        state(region.clone()).await?
            == Some(("reviewed".to_owned(), Some(a_run[0].id().to_string()))),
        "{:?}",
        state(region.clone()).await?
    );
    ensure!(
        alarms(&region).await?.is_empty(),
        "{:?}",
        alarms(&region).await?
    );
    let r = region.verify().await?;
    ensure!(r.ok(), "the region's books: {:?}", r.problems);
    c.shutdown().await
}
