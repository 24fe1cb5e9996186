//! Nodes restored from backups, and a child's own chain sent back to it:
//! what a restored node takes back from its parent, how writes after a
//! restore are refused, the own-entries endpoint, and the pusher's copy in
//! memory.

use super::*;

fundsync_tests::on_both!(
    workers = 4;
    a_restored_county_takes_back_what_its_parent_holds,
    a_restored_county_written_to_is_refused_clearly,
    a_restored_county_refuses_writes_until_it_has_taken_its_chain_back,
);

/// A county with an allocation, a project and five payments (50.05) that
/// every ancestor holds, backed up (stopped) at its seq `k`, then ten more
/// payments (33.30) that reach the region, then stopped again: what the
/// restore tests start from.
pub(super) struct Restorable {
    pub(super) c: Cluster,
    pub(super) county: fundsync_tests::cluster::ClusterNode,
    pub(super) alloc: EntryId,
    /// The county's own head in the backup.
    pub(super) k: u64,
    /// The county's head as its parent and the region hold it.
    pub(super) n: (u64, Hash),
}

pub(super) async fn restorable(engine: Engine) -> Result<Restorable> {
    let mut c = Cluster::start(engine, &three_levels()).await?;
    let alloc = fund_county(&c, "652822", "900000").await?;
    let before: Vec<Body> = [project("P1", "800000"), target("P1")]
        .into_iter()
        .chain((0..5).map(|i| payment(&format!("B{i}"), alloc, "P1", "10.01", "2020-05-10")))
        .collect();
    c.ledger("652822").submit(&before, &clerk()).await?;
    c.converged(WAIT).await?;
    let node = c.stop("652822").await?;
    let backup = node.backup().await?;
    let l = reopen(&node).await?;
    let k = head_of(&l, "652822").await?.0;
    l.db().close().await;
    c.restart(node).await?;
    let after: Vec<Body> = (0..10)
        .map(|i| payment(&format!("A{i}"), alloc, "P1", "3.33", "2020-05-10"))
        .collect();
    c.ledger("652822").submit(&after, &clerk()).await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    // Stopped, the county's chain no longer moves: wait until the region
    // holds what the prefecture holds (its last link reports).
    let n = head_of(c.ledger("652800"), "652822").await?;
    eventually(WAIT, "the region holding the county's head", || async {
        Ok((head_of(c.ledger("650000"), "652822").await? == n).then_some(()))
    })
    .await?;
    ensure!(
        n.0 >= k + 10,
        "the parent holds 652822@{}, the backup @{k}",
        n.0
    );
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, "652822");
    ensure!(
        paid == "83.35".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    // The restore: the old database back in place, keys and certificates as
    // they are.
    county.restore(&backup).await?;
    let l = reopen(&county).await?;
    ensure!(head_of(&l, "652822").await?.0 == k, "the restored county");
    let own = paid_of(&summary_by_node(&l, None).await?, "652822");
    ensure!(
        own == "50.05".parse::<Decimal>()?,
        "the restored county counts {own}"
    );
    l.db().close().await;
    Ok(Restorable {
        c,
        county,
        alloc,
        k,
        n,
    })
}

/// A county restored from a backup taken at its seq k, while its parent
/// holds its chain up to n > k: it takes k+1..n back from its parent, counts
/// exactly what it had counted, the region counts nothing twice, and new
/// payments flow up as before.
async fn a_restored_county_takes_back_what_its_parent_holds(engine: Engine) -> Result<()> {
    let Restorable {
        mut c,
        county,
        alloc,
        k,
        n,
        ..
    } = restorable(engine).await?;
    c.restart(county).await?;
    let l = c.ledger("652822").clone();
    eventually(WAIT, "the county holding its chain to n again", || async {
        Ok((l.entry_hash(code("652822"), n.0).await? == Some(n.1)).then_some(()))
    })
    .await?;
    c.converged(WAIT).await?;
    let expected: Decimal = "83.35".parse()?;
    for node in ["652822", "652800", "650000"] {
        let ledger = c.ledger(node);
        let paid = paid_of(&summary_by_node(ledger, None).await?, "652822");
        ensure!(paid == expected, "{node} counts {paid} paid by 652822");
        let rows = count(
            ledger,
            "SELECT COUNT(*) FROM payments WHERE origin = '652822'",
        )
        .await?;
        ensure!(rows == 15, "{node} holds {rows} payment rows of 652822");
        if node != "650000" {
            let a = ledger.allocation(alloc).await?.context("the allocation")?;
            ensure!(a.paid == expected, "{node}: {alloc} paid {}", a.paid);
        }
    }
    // Its own chain is checked against the parent's copy at its next push
    // after the take-back, which may come after the heads converged.
    eventually(WAIT, "the county's own chain checked", || async {
        let link = link_of(&c, "652822").await?;
        ensure!(
            link["entries_recovered"].as_u64() >= Some(n.0 - k) && link["diverged_at"].is_null(),
            "{link}"
        );
        Ok((link["own_chain_checked"] == true).then_some(()))
    })
    .await?;
    for node in ["652822", "652800"] {
        let alarms = count(c.ledger(node), "SELECT COUNT(*) FROM sync_alarms").await?;
        ensure!(alarms == 0, "{alarms} alarms at {node}");
    }
    // And it goes on as before.
    l.submit_one(payment("N0", alloc, "P1", "1.00", "2020-05-10"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, "652822");
    ensure!(
        paid == "84.35".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    c.shutdown().await
}

/// A county restored from an old backup, its acknowledgement mark lost too
/// (a whole machine restored), and written to before it reconnects:
/// its journal and its parent's copy now differ at seq k+1. It pushes
/// nothing, says so in plain words, raises an alarm, and nothing of its new
/// entry reaches its parent or the region.
async fn a_restored_county_written_to_is_refused_clearly(engine: Engine) -> Result<()> {
    let Restorable {
        mut c,
        county,
        alloc,
        k,
        n,
        ..
    } = restorable(engine).await?;
    // The mark lost too (the whole machine restored): the old behaviour.
    std::fs::remove_file(county.cfg.data_dir.join("acked-own-head"))?;
    let l = reopen(&county).await?;
    l.submit_one(payment("R0", alloc, "P1", "9.99", "2020-05-10"), &clerk())
        .await?;
    let here = l.entry_hash(code("652822"), k + 1).await?.context("R0")?;
    l.db().close().await;
    let theirs = c
        .ledger("652800")
        .entry_hash(code("652822"), k + 1)
        .await?
        .context("the parent's entry k+1")?;
    let pref_before = fingerprint(c.ledger("652800"), "652822").await?;
    let region_before = fingerprint(c.ledger("650000"), "652822").await?;
    c.restart(county).await?;
    // Refused, and it stays refused (the pusher tries again and again).
    let link = eventually(WAIT, "the county refusing to push", || async {
        let link = link_of(&c, "652822").await?;
        Ok((link["consecutive_failures"].as_u64() >= Some(3)).then_some(link))
    })
    .await?;
    let err = link["last_error"].as_str().unwrap_or_default();
    ensure!(
        link["diverged_at"].as_u64() == Some(k + 1)
            && link["divergence"] == "diverged"
            && link["own_chain_checked"] == false
            && err.contains(&format!(
                "this node's journal diverges from the parent's copy at seq {}",
                k + 1
            ))
            && err.contains("restored from an old backup")
            && err.contains("Nothing more is pushed until an operator resolves it"),
        "{link}"
    );
    // One alarm, naming the seq and both hashes.
    let l = c.ledger("652822");
    let alarms: Vec<(String, String, String)> =
        sqlx::query_as("SELECT peer, kind, message FROM sync_alarms")
            .fetch_all(l.db().read())
            .await?;
    ensure!(alarms.len() == 1, "{alarms:?}");
    let (peer, kind, message) = &alarms[0];
    ensure!(
        peer == "652800"
            && kind == "fork"
            && message.contains(&here.to_hex())
            && message.contains(&theirs.to_hex()),
        "{alarms:?}"
    );
    // Nothing of it went anywhere, and the county keeps what it recorded.
    ensure!(head_of(l, "652822").await?.0 == k + 1);
    ensure!(fingerprint(c.ledger("652800"), "652822").await? == pref_before);
    ensure!(fingerprint(c.ledger("650000"), "652822").await? == region_before);
    ensure!(head_of(c.ledger("650000"), "652822").await? == n);
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, "652822");
    ensure!(
        paid == "83.35".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    let forks = count(c.ledger("652800"), "SELECT COUNT(*) FROM sync_alarms").await?;
    ensure!(
        forks == 0,
        "nothing was even sent, yet {forks} alarms at the parent"
    );
    c.shutdown().await
}

/// POSTs `body` (a payment) to the county's API; the status and the answer.
async fn pay_through_api(c: &Cluster, node: &str, body: Body) -> Result<(u16, serde_json::Value)> {
    let Body::PaymentRecorded(p) = body else {
        anyhow::bail!("not a payment")
    };
    let n = c.node(node);
    let r = n
        .http()
        .post(n.api_url("/payments"))
        .json(&p)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// `GET /api/v1/sync/link` whole.
async fn sync_link_of(c: &Cluster, node: &str) -> Result<serde_json::Value> {
    let n = c.node(node);
    Ok(n.http()
        .get(n.api_url("/sync/link"))
        .send()
        .await?
        .json()
        .await?)
}

/// The fix for issue 17: a county restored from a backup taken at its seq
/// k, while its parent acknowledged its chain up to n > k (the mark in its
/// data directory says so), refuses every write of its own until it has
/// taken k+1..n back: a payment before it reaches its parent is refused
/// (503 `ledger_restored`) and changes nothing; once the parent is back the
/// county takes its chain back, the refusal lifts by itself, and a payment
/// is accepted and reaches the region exactly once. Nothing forks: no alarm
/// anywhere.
async fn a_restored_county_refuses_writes_until_it_has_taken_its_chain_back(
    engine: Engine,
) -> Result<()> {
    let Restorable {
        mut c,
        county,
        alloc,
        k,
        n,
    } = restorable(engine).await?;
    // The mark, outside the database, survived the restore.
    let mark = std::fs::read_to_string(county.cfg.data_dir.join("acked-own-head"))?;
    ensure!(
        mark == format!("652822 {} {}\n", n.0, n.1.to_hex()),
        "the mark reads {mark:?}, the parent holds {n:?}"
    );
    // The parent out of reach: the county comes back alone.
    let pref = c.stop("652800").await?;
    c.restart(county).await?;
    let link = sync_link_of(&c, "652822").await?;
    ensure!(
        link["restored"]["own_head"].as_u64() == Some(k)
            && link["restored"]["acknowledged"].as_u64() == Some(n.0)
            && link["acknowledged_own_seq"].as_u64() == Some(n.0),
        "{link}"
    );
    let before = fingerprint(c.ledger("652822"), "652822").await?;
    let (status, v) = pay_through_api(
        &c,
        "652822",
        payment("R1", alloc, "P1", "7.00", "2020-05-10"),
    )
    .await?;
    ensure!(
        status == 503
            && v["error"] == "ledger_restored"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("up to seq {k}"))
                    && m.contains(&format!("seq {} was acknowledged", n.0))),
        "{status} {v}"
    );
    ensure!(
        fingerprint(c.ledger("652822"), "652822").await? == before,
        "a refused payment changed the county's ledger"
    );
    // A write of the node itself (the ledger's one path for its own
    // entries) is held the same way.
    let e = c
        .ledger("652822")
        .submit_one(payment("R2", alloc, "P1", "7.00", "2020-05-10"), &clerk())
        .await
        .err()
        .context("a write while restored")?;
    ensure!(
        e.code() == fundsync_protocol::ErrorCode::LedgerRestored,
        "{e}"
    );
    ensure!(fingerprint(c.ledger("652822"), "652822").await? == before);
    // The parent back: the county takes its chain back and records again
    // with nobody's help.
    c.restart(pref).await?;
    eventually(WAIT, "the refusal lifting", || async {
        let link = sync_link_of(&c, "652822").await?;
        Ok(link["restored"].is_null().then_some(link))
    })
    .await?;
    ensure!(
        head_of(c.ledger("652822"), "652822").await? == n,
        "the county's own head after the take-back"
    );
    let (status, v) = pay_through_api(
        &c,
        "652822",
        payment("R3", alloc, "P1", "7.00", "2020-05-10"),
    )
    .await?;
    ensure!(status == 201, "{status} {v}");
    c.converged(WAIT).await?;
    for node in ["652822", "652800", "650000"] {
        let ledger = c.ledger(node);
        let paid = paid_of(&summary_by_node(ledger, None).await?, "652822");
        ensure!(
            paid == "90.35".parse::<Decimal>()?,
            "{node} counts {paid} paid by 652822"
        );
        let r3 = count(
            ledger,
            "SELECT COUNT(*) FROM payments WHERE origin = '652822' AND voucher_no = 'R3'",
        )
        .await?;
        let refused = count(
            ledger,
            "SELECT COUNT(*) FROM payments WHERE origin = '652822' \
             AND voucher_no IN ('R1', 'R2')",
        )
        .await?;
        ensure!(
            r3 == 1 && refused == 0,
            "{node}: R3 ×{r3}, refused ×{refused}"
        );
        let alarms = count(ledger, "SELECT COUNT(*) FROM sync_alarms").await?;
        ensure!(alarms == 0, "{alarms} alarms at {node}");
    }
    // The mark followed the new payment up.
    let head = head_of(c.ledger("652822"), "652822").await?;
    eventually(WAIT, "the mark at the new head", || async {
        let mark = std::fs::read_to_string(c.node("652822").cfg.data_dir.join("acked-own-head"))?;
        Ok((mark == format!("652822 {} {}\n", head.0, head.1.to_hex())).then_some(()))
    })
    .await?;
    c.shutdown().await
}

/// GETs `url`; returns the status, the error code and the body.
async fn get_raw(
    client: &reqwest::Client,
    url: &str,
    version: &str,
) -> Result<(u16, String, Vec<u8>)> {
    let res = match client.get(url).header(VERSION_HEADER, version).send().await {
        Ok(r) => r,
        Err(e) => return Ok((0, "handshake refused".into(), e.to_string().into_bytes())),
    };
    let status = res.status().as_u16();
    let body = res.bytes().await?.to_vec();
    let err = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((status, err, body))
}

/// `GET /sync/v1/own` gives a child its own entries, as it signed them, and
/// nothing else to anyone; every refusal leaves both ledgers as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_own_entries_endpoint_serves_a_child_its_own_chain_only() -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    c.ledger("652822")
        .submit(&[project("P1", "800000"), target("P1")], &clerk())
        .await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    let key = sync::load_signing_key(&county.cfg.tls_dir())?;
    let client = client_of(&county, "652800")?;
    let pref = c.ledger("652800");
    let region = c.ledger("650000");
    let held = head_of(pref, "652822").await?;
    let before = (
        fingerprint(pref, "652822").await?,
        fingerprint(region, "652822").await?,
    );
    let own = |q: &str| sync_url(&c, "652800", &format!("/sync/v1/own?{q}"));

    // The child's own entries after K, covered by a checkpoint it signed.
    let (s, _, body) = get_raw(&client, &own("origin=652822&after=1"), "1").await?;
    ensure!(s == 200, "{s}");
    let batch = Batch::decode(&body, &fundsync_protocol::batch::BatchLimits::default())?;
    ensure!(batch.from == code("652800") && batch.to == code("652822"));
    ensure!(
        batch.entries.first().map(|e| e.seq) == Some(2)
            && batch.entries.iter().all(|e| e.origin == code("652822")),
        "{:?}",
        batch.entries
    );
    let cp = batch.checkpoints.first().context("a checkpoint")?;
    ensure!(cp.checkpoint.seq == held.0 && cp.checkpoint.head == held.1);
    ensure!(cp.verify(&key.verifying_key()).is_ok());
    // Nothing after the head: an empty batch.
    let (s, _, body) = get_raw(
        &client,
        &own(&format!("origin=652822&after={}", held.0)),
        "1",
    )
    .await?;
    let empty = Batch::decode(&body, &fundsync_protocol::batch::BatchLimits::default())?;
    ensure!(s == 200 && empty.entries.is_empty() && empty.checkpoints.is_empty());

    let anon = reqwest::Client::builder()
        .use_preconfigured_tls((*pki::client_config_unverified()?).clone())
        .build()?;
    let at_region = sync_url(&c, "650000", "/sync/v1/own?origin=652822&after=0");
    let cases: Vec<(&str, reqwest::Client, String, &str, u16, &str)> = vec![
        (
            "no certificate",
            anon,
            own("origin=652822&after=0"),
            "1",
            401,
            "no_certificate",
        ),
        // A grandchild at the region: served by its parent only.
        (
            "not a child",
            client_of(&county, "650000")?,
            at_region,
            "1",
            403,
            "not_a_child",
        ),
        (
            "its parent's chain",
            client.clone(),
            own("origin=652800&after=0"),
            "1",
            403,
            "origin_not_allowed",
        ),
        (
            "a sibling's chain",
            client.clone(),
            own("origin=652823&after=0"),
            "1",
            403,
            "origin_not_allowed",
        ),
        (
            "after is not a number",
            client.clone(),
            own("origin=652822&after=abc"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "after is negative",
            client.clone(),
            own("origin=652822&after=-1"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "no after",
            client.clone(),
            own("origin=652822"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "no origin",
            client.clone(),
            own("after=0"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "not a node code",
            client.clone(),
            own("origin=65282&after=0"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "an unknown field",
            client.clone(),
            own("origin=652822&after=0&limit=1"),
            "1",
            400,
            "invalid_query",
        ),
        (
            "an unknown version",
            client.clone(),
            own("origin=652822&after=0"),
            "7",
            400,
            "unsupported_version",
        ),
    ];
    for (what, client, url, version, status, code_) in cases {
        let (s, e, body) = get_raw(&client, &url, version).await?;
        ensure!(
            s == status && e == code_,
            "{what}: {s} {e} {}, expected {status} {code_}",
            String::from_utf8_lossy(&body)
        );
        ensure!(
            (
                fingerprint(pref, "652822").await?,
                fingerprint(region, "652822").await?
            ) == before,
            "{what}: a ledger changed"
        );
    }
    // Revoked: cut off like every other request.
    pref.submit_one(
        Body::ChildRevoked(ChildRevoked {
            code: code("652822"),
            reason: "设备丢失".into(),
        }),
        &clerk(),
    )
    .await?;
    let (s, e, _) = get_raw(&client, &own("origin=652822&after=0"), "1").await?;
    ensure!((s == 403 && e == "revoked") || s == 0, "revoked: {s} {e}");
    let _ = &mut c;
    c.shutdown().await
}

/// The child verifies what its parent sends back as its own entries: against
/// its own head and its own keys. A parent (or anyone on the way) that
/// alters, forges, reorders or misaddresses them is refused, and the child's
/// ledger stays as it was; the genuine batch is then applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_entries_sent_back_are_verified_by_the_child() -> Result<()> {
    let Restorable {
        c, county, k, n, ..
    } = restorable(Engine::Sqlite).await?;
    let key = sync::load_signing_key(&county.cfg.tls_dir())?;
    let pref_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let client = client_of(&county, "652800")?;
    let url = sync_url(
        &c,
        "652800",
        &format!("/sync/v1/own?origin=652822&after={k}"),
    );
    let (s, _, body) = get_raw(&client, &url, "1").await?;
    ensure!(s == 200, "{s}");
    let genuine = Batch::decode(&body, &fundsync_protocol::batch::BatchLimits::default())?;
    ensure!(
        genuine.entries.len() >= 2,
        "{} entries",
        genuine.entries.len()
    );
    let last = genuine.entries.len() - 1;
    let l = reopen(&county).await?;
    let own_keys = [key.verifying_key()];
    let before = fingerprint(&l, "652822").await?;
    let paid_before = paid_of(&summary_by_node(&l, None).await?, "652822");
    let resign = |mut b: Batch, key: &NodeKey| {
        b.checkpoints = vec![checkpoint_for(key, &b.entries, 0).expect("entries")];
        b
    };

    let mut cases: Vec<(&str, Batch, &str)> = Vec::new();
    let mut b = genuine.clone();
    b.entries[last].body = project("Q9", "800000").encode(&clerk());
    cases.push(("last entry altered", b, "bad_checkpoint"));
    let mut b = genuine.clone();
    b.entries[0].body = project("Q9", "800000").encode(&clerk());
    cases.push(("an entry altered", b, "broken_chain"));
    let mut b = genuine.clone();
    b.checkpoints[0].signature[0] ^= 1;
    cases.push(("signature altered", b, "bad_signature"));
    cases.push((
        "signed by the parent",
        resign(genuine.clone(), &pref_key),
        "unknown_key",
    ));
    let mut b = genuine.clone();
    b.entries.remove(0);
    cases.push(("first entry withheld", b, "gap"));
    let mut b = genuine.clone();
    b.entries.swap(1, 2);
    cases.push(("reordered", b, "broken_chain"));
    let mut b = genuine.clone();
    b.checkpoints.clear();
    cases.push(("no checkpoint", b, "bad_checkpoint"));
    let made_up = chain("652822", k + 1, Hash([5; 32]), &[project("Q1", "800000")]);
    cases.push((
        "another chain (not extending this node's head)",
        resign(
            Batch::new(code("652800"), code("652822"), made_up, vec![]),
            &key,
        ),
        "fork",
    ));
    let sibling = chain("652823", 1, Hash::ZERO, &[project("Q1", "800000")]);
    cases.push((
        "another origin's entries",
        resign(
            Batch::new(code("652800"), code("652822"), sibling, vec![]),
            &key,
        ),
        "origin_not_allowed",
    ));
    let mut b = genuine.clone();
    b.from = code("650000");
    cases.push(("not from the parent", b, "wrong_sender"));
    let mut b = genuine.clone();
    b.to = code("652823");
    cases.push(("addressed to another node", b, "misaddressed"));
    let upward = chain(
        "652822",
        k + 1,
        head_of(&l, "652822").await?.1,
        &[issue(
            "假〔2020〕1号",
            EntryId {
                origin: code("652822"),
                seq: 1,
            },
            "X-01",
            "652800",
            "1",
            "2020-04-26",
        )],
    );
    cases.push((
        "an allocation to its parent, signed by the node",
        resign(
            Batch::new(code("652800"), code("652822"), upward, vec![]),
            &key,
        ),
        "misdirected",
    ));
    for (what, batch, expected) in cases {
        let e = l
            .receive_own(&batch, &own_keys)
            .await
            .err()
            .with_context(|| format!("{what}: accepted"))?;
        ensure!(
            e.code() == expected,
            "{what}: {} ({e}), expected {expected}",
            e.code()
        );
        ensure!(
            fingerprint(&l, "652822").await? == before,
            "{what}: the child's ledger changed"
        );
    }
    ensure!(paid_of(&summary_by_node(&l, None).await?, "652822") == paid_before);

    // The genuine batch: applied once, through the same path as any batch.
    let r = l.receive_own(&genuine, &own_keys).await?;
    ensure!(
        r.applied == genuine.entries.len() && r.duplicates == 0,
        "{r:?}"
    );
    let r = l.receive_own(&genuine, &own_keys).await?;
    ensure!(r.applied == 0, "{r:?}");
    let head = head_of(&l, "652822").await?;
    ensure!(head.0 == genuine.entries[last].seq && head.0 <= n.0);
    l.db().close().await;
    c.shutdown().await
}

/// A prefecture restored from an old backup: its own entries after the
/// backup (an allocation to its county among them) come back from the
/// region, its down stream to the county is rebuilt as it was, so the
/// county's pulls go on, and the county's payments from that allocation are
/// taken (refused as `not_yet_held` until then) only once the prefecture
/// holds the allocation again, so its running sums count them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_prefecture_takes_back_its_allocations_before_the_payments_from_them(
) -> Result<()> {
    let mut c = Cluster::start(Engine::Sqlite, &three_levels()).await?;
    let first = fund_county(&c, "652822", "1000").await?;
    c.ledger("652822")
        .submit(
            &[
                project("P1", "800000"),
                target("P1"),
                payment("F0", first, "P1", "10", "2020-05-10"),
            ],
            &clerk(),
        )
        .await?;
    c.converged(WAIT).await?;
    let pref = c.stop("652800").await?;
    let backup = pref.backup().await?;
    c.restart(pref).await?;
    // After the backup: a second allocation to the county, paid from.
    let source: EntryId = c
        .ledger("652800")
        .allocations(AllocationFilter::default(), Page::default())
        .await?
        .items
        .into_iter()
        .find(|a| a.holder == "652800")
        .context("the prefecture's allocation")?
        .id
        .parse()?;
    let second = c
        .ledger("652800")
        .submit_one(
            issue(
                "巴财农〔2020〕77号",
                source,
                "X-01",
                "652822",
                "500",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652822"), second).await?;
    let pays: Vec<Body> = (0..3)
        .map(|i| payment(&format!("S{i}"), second, "P1", "100", "2020-05-10"))
        .collect();
    c.ledger("652822").submit(&pays, &clerk()).await?;
    c.converged(WAIT).await?;
    let pref = c.stop("652800").await?;
    pref.restore(&backup).await?;
    c.restart(pref).await?;
    c.converged(WAIT).await?;
    let p = c.ledger("652800");
    eventually(WAIT, "the prefecture counting the payments", || async {
        let a = p.allocation(second).await?;
        Ok(a.filter(|a| a.paid == Decimal::from(300)).map(|_| ()))
    })
    .await?;
    c.converged(WAIT).await?;
    let f = p.allocation(first).await?.context("the first allocation")?;
    ensure!(f.paid == Decimal::from(10), "{} paid from {first}", f.paid);
    for node in ["652800", "650000"] {
        let ledger = c.ledger(node);
        let paid = paid_of(&summary_by_node(ledger, None).await?, "652822");
        ensure!(
            paid == Decimal::from(310),
            "{node} counts {paid} paid by 652822"
        );
        let rows = count(
            ledger,
            "SELECT COUNT(*) FROM payments WHERE origin = '652822'",
        )
        .await?;
        ensure!(rows == 4, "{node} holds {rows} payment rows of 652822");
    }
    // The down stream is the one the county holds: a new allocation reaches it.
    let third = p
        .submit_one(
            issue(
                "巴财农〔2020〕78号",
                source,
                "X-01",
                "652822",
                "50",
                "2020-04-26",
            ),
            &clerk(),
        )
        .await?
        .id();
    has_allocation(c.ledger("652822"), third).await?;
    for node in ["650000", "652800", "652822"] {
        let alarms = count(c.ledger(node), "SELECT COUNT(*) FROM sync_alarms").await?;
        ensure!(alarms == 0, "{alarms} alarms at {node}");
    }
    let link = link_of(&c, "652800").await?;
    ensure!(link["entries_recovered"].as_u64() >= Some(1), "{link}");
    c.shutdown().await
}

/// The next batch `l` would push to a parent holding its own chain up to
/// `after`.
async fn batch_of(l: &Ledger, key: &NodeKey, after: u64) -> Result<Batch> {
    let remote = [(l.identity().code, after)].into_iter().collect();
    sync::client::next_up_batch(l, key, &remote, 5000)
        .await?
        .context("a batch")
}

/// The pusher sends a county's own entries from memory right after they
/// commit (`OwnCache`); what it sends must be the journal's entries, byte
/// for byte, and a node that has nothing in memory (restarted, or another
/// process wrote) reads them from the journal instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_entries_are_pushed_from_memory_exactly_as_stored() -> Result<()> {
    let county = fundsync_tests::fixtures::county("652822", "轮台县");
    let t = fundsync_tests::fixtures::ledger(Engine::Sqlite, &county).await?;
    let l = &t.ledger;
    let me = county.code;
    let key = NodeKey::from_seed(&[7; 32]);
    l.submit(&[project("P1", "800000"), target("P1")], &clerk())
        .await?;
    ensure!(l.own_cache().len() == 2, "the committed entries are held");
    let sent = batch_of(l, &key, 0).await?;
    ensure!(sent.entries == l.entries(me, 0, 2).await?, "sent as stored");
    ensure!(l.own_cache().is_empty(), "taken by the pusher");

    // The next transaction continues where the parent now stands.
    l.submit(&[project("P2", "800000"), target("P2")], &clerk())
        .await?;
    let sent = batch_of(l, &key, 3).await?;
    ensure!(sent.entries == l.entries(me, 3, 4).await?, "only seq 4");
    ensure!(
        l.own_cache().is_empty(),
        "seq 3 dropped: the parent holds it"
    );

    // Opened again (a restart), nothing is held: read from the journal.
    let reopened = Ledger::open(l.db().clone(), Some(me), t.clock.clone()).await?;
    ensure!(reopened.own_cache().is_empty());
    let sent = batch_of(&reopened, &key, 1).await?;
    ensure!(sent.entries == l.entries(me, 1, 4).await?, "read back");
    Ok(())
}
