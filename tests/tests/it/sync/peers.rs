//! What a parent refuses from peers: malformed, misaddressed or forged
//! batches, the wrong certificate, spent or foreign enrolment tokens; and
//! that a down stream carries only what is addressed to its child.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_batches_are_refused_and_change_nothing() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "653100", "652822"].contains(&n.code.as_str()))
        .collect();
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.ledger("652822")
        .submit_one(project("P0", "800000"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    // The county stops, so its chain at the prefecture stays where it is
    // while the test plays the county with its keys.
    let stopped = c.stop("652822").await?;
    let prefecture = c.ledger("652800");
    let key = sync::load_signing_key(&stopped.cfg.tls_dir())?;
    let county_head = prefecture
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code("652822"))
        .context("the county's chain at the prefecture")?;
    let client = client_of(&stopped, "652800")?;
    let url = sync_url(&c, "652800", "/sync/v1/up");
    let before = fingerprint(prefecture, "652822").await?;

    let good_bodies = [project("Q1", "800000")];
    let next = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &good_bodies,
    );
    let signed = |entries: Vec<Entry>, key: &NodeKey| {
        let cp = checkpoint_for(key, &entries, 1_600_000_000_000).expect("entries");
        Batch::new(code("652822"), code("652800"), entries, vec![cp])
    };

    let mut cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = Vec::new();
    // Forged signature: signed by a key nobody registered.
    let forger = NodeKey::from_seed(&[9; 32]);
    cases.push((
        "forged signature",
        signed(next.clone(), &forger).encode(),
        "1",
        422,
        "unknown_key",
    ));
    // A right key id but a signature over other bytes.
    let mut b = signed(next.clone(), &key);
    b.checkpoints[0].signature[0] ^= 1;
    cases.push(("bad signature", b.encode(), "1", 422, "bad_signature"));
    // A body altered after signing (as a relay might).
    let mut b = signed(next.clone(), &key);
    b.entries[0].body = Body::ProjectRegistered(ProjectRegistered {
        budget: amount("999999999"),
        ..match project("Q1", "800000") {
            Body::ProjectRegistered(p) => p,
            _ => unreachable!(),
        }
    })
    .encode(&clerk());
    cases.push(("altered body", b.encode(), "1", 422, "bad_checkpoint"));
    // Entries of an origin outside the sender's subtree.
    let foreign = chain("653121", 1, Hash::ZERO, &good_bodies);
    let b = Batch::new(
        code("652822"),
        code("652800"),
        foreign.clone(),
        vec![checkpoint_for(&key, &foreign, 0).expect("entries")],
    );
    cases.push((
        "outside the subtree",
        b.encode(),
        "1",
        403,
        "origin_not_allowed",
    ));
    // An allocation sent upward: a county "issuing" to its prefecture.
    let up_alloc = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &[issue(
            "假〔2020〕1号",
            EntryId {
                origin: code("652822"),
                seq: 1,
            },
            "X-01",
            "652800",
            "100",
            "2020-04-26",
        )],
    );
    cases.push((
        "allocation sent upward",
        signed(up_alloc, &key).encode(),
        "1",
        422,
        "misdirected",
    ));
    // Funds "from the centre" registered below the top.
    let fake_funds = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &[Body::FundsReceived(FundsReceived {
            doc_no: "假".into(),
            category: "X-01".into(),
            amount: amount("1"),
            received_on: day("2020-01-01"),
            source: String::new(),
            title: String::new(),
        })],
    );
    cases.push((
        "funds received below the top",
        signed(fake_funds, &key).encode(),
        "1",
        422,
        "misdirected",
    ));
    // A payment from an allocation the prefecture does not hold (a node
    // behind its own parent would meet one): refused until it does.
    let unheld = chain(
        "652822",
        county_head.seq + 1,
        county_head.hash,
        &[payment(
            "V9",
            EntryId {
                origin: code("652800"),
                seq: 9_999,
            },
            "P0",
            "1",
            "2020-05-10",
        )],
    );
    cases.push((
        "payment from an allocation not held here",
        signed(unheld, &key).encode(),
        "1",
        409,
        "not_yet_held",
    ));
    // A gap: the next entry is skipped.
    let gap = chain("652822", county_head.seq + 2, Hash([7; 32]), &good_bodies);
    cases.push(("gap", signed(gap, &key).encode(), "1", 409, "gap"));
    // A fork: another entry at the seq the prefecture already holds.
    let fork = chain("652822", county_head.seq, Hash([3; 32]), &good_bodies);
    cases.push(("fork", signed(fork, &key).encode(), "1", 409, "fork"));
    // Addressed to another node.
    let mut b = signed(next.clone(), &key);
    b.to = code("653100");
    cases.push(("misaddressed", b.encode(), "1", 403, "misaddressed"));
    // Claiming to come from another node than the certificate says.
    let mut b = signed(next.clone(), &key);
    b.from = code("652823");
    cases.push(("wrong sender", b.encode(), "1", 403, "wrong_sender"));
    // Unknown protocol versions, in the header and in the batch.
    cases.push((
        "version header",
        signed(next.clone(), &key).encode(),
        "7",
        400,
        "unsupported_version",
    ));
    let mut b = signed(next.clone(), &key);
    b.version = 7;
    cases.push(("batch version", b.encode(), "1", 422, "unsupported_version"));
    // Malformed bytes at every layer.
    cases.push(("empty body", Vec::new(), "1", 422, "malformed"));
    cases.push((
        "garbage",
        b"not a batch at all".to_vec(),
        "1",
        422,
        "malformed",
    ));
    let mut b = signed(next.clone(), &key).encode();
    b.truncate(b.len() - 5);
    cases.push(("truncated", b, "1", 422, "malformed"));
    let mut b = signed(next.clone(), &key);
    b.entries[0].body = b"{\"code\":".to_vec();
    let cp = checkpoint_for(&key, &b.entries, 0).expect("entries");
    b.checkpoints = vec![cp];
    cases.push(("malformed body (signed)", b.encode(), "1", 422, "bad_body"));
    // Oversized: past the body limit.
    // Oversized but within the body limit: more entries than a batch may carry.
    let many: Vec<Body> = (0..5_001)
        .map(|i| project(&format!("M{i}"), "800000"))
        .collect();
    let many = chain("652822", county_head.seq + 1, county_head.hash, &many);
    cases.push((
        "too many entries",
        signed(many, &key).encode(),
        "1",
        413,
        "too_large",
    ));
    // Past the body limit (last: the server may close the connection).
    cases.push(("oversized", vec![0u8; 17 * 1024 * 1024], "1", 413, ""));

    for (what, bytes, version, status, code_) in cases {
        let (s, e, m) = post_up(&client, &url, bytes, version).await?;
        let closed_on_oversize = what == "oversized" && s == 0;
        ensure!(
            closed_on_oversize || (s == status && (code_.is_empty() || e == code_)),
            "{what}: got {s} {e} ({m}), expected {status} {code_}"
        );
        ensure!(
            fingerprint(prefecture, "652822").await? == before,
            "{what}: the prefecture's ledger changed"
        );
    }
    let client = client_of(&stopped, "652800")?;
    // The fork was raised as an alarm.
    let alarms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_alarms WHERE kind = 'fork'")
        .fetch_one(prefecture.db().read())
        .await?;
    ensure!(alarms >= 1, "no fork alarm");

    // A good batch is applied once; the same batch again is harmless.
    let good = signed(next, &key).encode();
    let (s, _, m) = post_up(&client, &url, good.clone(), "1").await?;
    ensure!(s == 200, "good batch refused: {m}");
    let after = fingerprint(prefecture, "652822").await?;
    let res = client
        .post(&url)
        .header(VERSION_HEADER, "1")
        .body(good)
        .send()
        .await?;
    ensure!(res.status().as_u16() == 200);
    let receipt: serde_json::Value = res.json().await?;
    ensure!(
        receipt["applied"] == 0 && receipt["duplicates"] == 1,
        "{receipt}"
    );
    ensure!(
        fingerprint(prefecture, "652822").await? == after,
        "a replay changed the ledger"
    );
    c.shutdown().await
}

/// A request and the refusal it should get: what it is, method, URL, body,
/// status, error code.
type Refused = (
    &'static str,
    reqwest::Method,
    String,
    Vec<u8>,
    u16,
    &'static str,
);

/// What the sync listener's framework refuses by itself (a path nothing
/// takes, a method a path does not take, a body over
/// `sync_batch_bytes_max`, a URI too long for the HTTP layer) is answered
/// as every refusal of a batch is: the status and `{error, message}` in
/// JSON, which the child's link reads; and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_framework_refusals_are_the_error_body_too() -> Result<()> {
    let mut c = Cluster::start_with(Engine::Sqlite, &three_levels(), |cfg| {
        cfg.sync_batch_bytes_max = 64 * 1024;
    })
    .await?;
    c.converged(WAIT).await?;
    let county = c.stop("652822").await?;
    let client = client_of(&county, "652800")?;
    let prefecture = c.ledger("652800");
    let before = fingerprint(prefecture, "652822").await?;
    let url = |p: &str| sync_url(&c, "652800", p);
    let cases: Vec<Refused> = vec![
        (
            "a path nothing takes",
            reqwest::Method::GET,
            url("/sync/v1/nowhere"),
            Vec::new(),
            404,
            "not_found",
        ),
        (
            "a method the path does not take",
            reqwest::Method::GET,
            url("/sync/v1/up"),
            Vec::new(),
            405,
            "method_not_allowed",
        ),
        (
            "a batch over sync_batch_bytes_max",
            reqwest::Method::POST,
            url("/sync/v1/up"),
            vec![0u8; 64 * 1024 + 1],
            413,
            "payload_too_large",
        ),
        (
            "a down query that does not parse",
            reqwest::Method::GET,
            url("/sync/v1/down?after=ten"),
            Vec::new(),
            400,
            "invalid_query",
        ),
    ];
    for (what, method, u, body, status, code) in cases {
        let res = client
            .request(method, &u)
            .header(VERSION_HEADER, "4")
            .body(body)
            .send()
            .await?;
        let s = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = res.bytes().await?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        ensure!(
            s == status
                && ct.starts_with("application/json")
                && v["error"] == code
                && v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: got {s} {ct} {v} ({:?}), expected {status} {code}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        );
        ensure!(
            fingerprint(prefecture, "652822").await? == before,
            "{what}: the prefecture's ledger changed"
        );
    }
    // A URI over the 64 KiB hyper reads, which no HTTP client sends: over
    // TLS by hand, with the county's certificate.
    let tls = county.tls().load_node()?;
    let connector = tokio_rustls::TlsConnector::from(pki::client_config(&tls, code("652800"))?);
    let addr = c.node("652800").sync.context("a sync listener")?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let mut stream = connector.connect(name, tcp).await?;
    let request = format!(
        "GET /sync/v1/heads?q={} HTTP/1.1\r\nhost: {addr}\r\n{VERSION_HEADER}: 4\r\n\r\n",
        "x".repeat(70 * 1024)
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await?;
    let mut answer = Vec::new();
    // The server closes after its answer (a TLS close may be abrupt).
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    let body: serde_json::Value = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    ensure!(
        answer.starts_with("HTTP/1.1 414 ")
            && answer.contains("content-type: application/json")
            && body["error"] == "uri_too_long"
            && body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a URI over 64 KiB: {answer}"
    );
    drop(county);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peers_without_the_right_certificate_are_refused() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.converged(WAIT).await?;
    let heads = |client: reqwest::Client, url: String| async move {
        let res = client.get(&url).header(VERSION_HEADER, "1").send().await;
        Ok::<_, anyhow::Error>(match res {
            Ok(r) => {
                let s = r.status().as_u16();
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                format!("{s} {}", v["error"].as_str().unwrap_or_default())
            }
            Err(_) => "handshake refused".to_owned(),
        })
    };
    // No certificate at all: only the CA and the join are served.
    let anon = reqwest::Client::builder()
        .use_preconfigured_tls((*pki::client_config_unverified()?).clone())
        .build()?;
    let got = heads(anon.clone(), sync_url(&c, "652800", "/sync/v1/heads")).await?;
    ensure!(got == "401 no_certificate", "anonymous: {got}");
    // A grandchild's certificate at the region: a node syncs with its parent only.
    let got = heads(
        client_as(&c, "652822", "650000")?,
        sync_url(&c, "650000", "/sync/v1/heads"),
    )
    .await?;
    ensure!(got == "403 not_a_child", "grandchild at the region: {got}");
    // A certificate from another tree's CA: refused in the handshake.
    let other = tempfile::tempdir()?;
    let (ca, ca_key) = pki::root_ca(code("650000"), "另一棵树", now_ms(), 30)?;
    let issuer = pki::Issuer::from_pem(&ca, &ca_key)?;
    let (key, csr) = pki::key_and_csr(code("652801"))?;
    let chain = issuer.issue_leaf(code("652801"), &csr, now_ms(), 30)?;
    let files = pki::TlsFiles::new(other.path());
    files.save_node(&key, &chain, &ca)?;
    let foreign = pki::client_config(&files.load_node()?, code("652800"))?;
    let foreign = reqwest::Client::builder()
        .use_preconfigured_tls((*foreign).clone())
        .build()?;
    let got = heads(foreign, sync_url(&c, "652800", "/sync/v1/heads")).await?;
    ensure!(got == "handshake refused", "foreign CA: {got}");
    // Unknown version header.
    let res = client_as(&c, "652822", "652800")?
        .get(sync_url(&c, "652800", "/sync/v1/heads"))
        .header(VERSION_HEADER, "999")
        .send()
        .await?;
    ensure!(res.status().as_u16() == 400);

    // Revoked: cut off at once, on an open connection and in new handshakes.
    let county = client_as(&c, "652822", "652800")?;
    let url = sync_url(&c, "652800", "/sync/v1/heads");
    ensure!(heads(county.clone(), url.clone()).await? == "200 ");
    c.ledger("652800")
        .submit_one(
            Body::ChildRevoked(ChildRevoked {
                code: code("652822"),
                reason: "设备丢失".into(),
            }),
            &clerk(),
        )
        .await?;
    let got = heads(county, url.clone()).await?;
    ensure!(got == "403 revoked", "revoked, open connection: {got}");
    let got = heads(client_as(&c, "652822", "652800")?, url).await?;
    ensure!(
        got == "handshake refused" || got == "403 revoked",
        "revoked, new connection: {got}"
    );
    // Its past entries stay verifiable: the revocation rolls up.
    c.converged(WAIT).await.ok();
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_down_stream_carries_only_what_is_addressed_to_the_child() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.converged(WAIT).await?;
    let county = c.ledger("652822");
    // Its own key registration has come down; nothing else will.
    eventually(WAIT, "the county's key registration", || async {
        Ok((county.down_state().await?.down_seq >= 1).then_some(()))
    })
    .await?;
    let parent_key = sync::load_signing_key(&c.node("652800").cfg.tls_dir())?;
    let own_key = sync::load_signing_key(&c.node("652822").cfg.tls_dir())?.key_id();
    let state = county.down_state().await?;
    let before = fingerprint(county, "652800").await?;
    // A payment "sent downward", signed by the real parent key.
    let pay = Entry::new(
        code("652800"),
        1_000,
        0,
        Hash([1; 32]),
        &payment(
            "V1",
            EntryId {
                origin: code("652800"),
                seq: 1,
            },
            "P1",
            "1",
            "2020-05-10",
        ),
        &clerk(),
    );
    let (batch, _) = fundsync_protocol::build_down_batch(
        &parent_key,
        code("652800"),
        code("652822"),
        state,
        vec![pay],
        0,
    )?;
    let err = county
        .receive_down(&batch, own_key)
        .await
        .err()
        .context("a payment sent downward was accepted")?;
    ensure!(err.code() == "misdirected", "{err}");
    // A key registration for the county that is not its key.
    let other = NodeKey::from_seed(&[5; 32]).verifying_key();
    let reg = Entry::new(
        code("652800"),
        1_001,
        0,
        Hash([1; 32]),
        &Body::KeyRegistered(KeyRegistered::of(code("652822"), &other)),
        &clerk(),
    );
    let (batch, _) = fundsync_protocol::build_down_batch(
        &parent_key,
        code("652800"),
        code("652822"),
        state,
        vec![reg],
        0,
    )?;
    let err = county
        .receive_down(&batch, own_key)
        .await
        .err()
        .context("a foreign key registration was accepted")?;
    ensure!(err.code() == "foreign_key", "{err}");
    // Signed by someone else than the parent.
    let (batch, _) = fundsync_protocol::build_down_batch(
        &NodeKey::from_seed(&[6; 32]),
        code("652800"),
        code("652822"),
        state,
        vec![],
        0,
    )?;
    let err = county
        .receive_down(&batch, own_key)
        .await
        .err()
        .context("forged")?;
    ensure!(err.code() == "unknown_key", "{err}");
    ensure!(
        fingerprint(county, "652800").await? == before,
        "the county changed"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrolment_tokens_work_once_and_only_for_their_node() -> Result<()> {
    let tree: Vec<_> = small_tree().into_iter().take(2).collect(); // 650000, 652800
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    let region = c.node("650000");
    let files = region.tls();
    // Unregistered child, no name: refused.
    let e = sync::enroll::create_token(&region.ledger, &files, code("653100"), None, 60_000)
        .await
        .err()
        .context("token for an unregistered child")?;
    ensure!(e.to_string().contains("not a registered child"), "{e}");
    // A made-up token is refused by the parent.
    let token = sync::enroll::create_token(
        &region.ledger,
        &files,
        code("653100"),
        Some("喀什地区"),
        60_000,
    )
    .await?;
    let mut forged = token.clone();
    forged.secret = [0; 32];
    let dir = tempfile::tempdir()?;
    let (ledger, child_files) = fresh_child(&dir, "653100", "喀什地区").await?;
    let url = format!("https://{}", region.sync.context("sync")?);
    let e = sync::enroll::join(&ledger, &child_files, &url, &forged)
        .await
        .err()
        .context("forged token accepted")?;
    ensure!(e.to_string().contains("refused"), "{e}");
    // A token whose fingerprint names another CA: the child refuses the parent.
    let mut wrong_ca = token.clone();
    wrong_ca.ca_fingerprint = [1; 32];
    let e = sync::enroll::join(&ledger, &child_files, &url, &wrong_ca)
        .await
        .err()
        .context("wrong fingerprint accepted")?;
    ensure!(
        matches!(e, sync::enroll::EnrollError::FingerprintMismatch),
        "{e}"
    );
    // The real token works once.
    sync::enroll::join(&ledger, &child_files, &url, &token).await?;
    let e = sync::enroll::join(&ledger, &child_files, &url, &token)
        .await
        .err()
        .context("a token worked twice")?;
    ensure!(e.to_string().contains("refused"), "{e}");
    // Malformed tokens never reach the network.
    ensure!("FS1.653100.zz.00".parse::<sync::enroll::Token>().is_err());
    // And the registered key travels up: the region knows it.
    let keys = c.ledger("650000").keys_of(code("653100")).await?;
    ensure!(keys.len() == 1, "{keys:?}");
    let _ = &mut c;
    c.shutdown().await
}

/// A relay cannot change who recorded an entry: the actor is inside the
/// bytes the origin hashed and signed. The prefecture alters the actor of
/// a county entry it relays to the region; the region refuses the batch
/// (`BatchError::CheckpointMismatch`, `bad_checkpoint`, when the altered
/// entry is the one the county's checkpoint names; `BatchError::BrokenChain`,
/// `broken_chain`, when an entry after it links to the original), raises an
/// alarm naming the prefecture, counts the refusal in
/// `fundsync_sync_errors_total{side="server"}` and keeps its ledger as it
/// was. The batch as the county signed it is then accepted, actor and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_that_alters_an_actor_is_refused() -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let mut c = Cluster::start(Engine::Sqlite, &tree).await?;
    c.ledger("652822")
        .submit_one(project("P0", "800000"), &clerk())
        .await?;
    c.converged(WAIT).await?;
    // The region stops, so what the county records next waits at the
    // prefecture; the prefecture then stops too and plays itself by hand.
    let region = c.stop("650000").await?;
    let lisi = fundsync_protocol::Actor {
        login: "lisi".into(),
        name: "李四".into(),
        role: "department".into(),
        addr: "10.0.0.7".into(),
    };
    let county = c.ledger("652822").clone();
    county.submit_one(project("P1", "800000"), &lisi).await?;
    county.submit_one(project("P2", "800000"), &lisi).await?;
    let county_head = county
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == code("652822"))
        .context("the county's own head")?;
    let prefecture = c.ledger("652800").clone();
    eventually(WAIT, "the county's entries at the prefecture", || {
        let p = prefecture.clone();
        async move {
            Ok(p.heads()
                .await?
                .into_iter()
                .find(|h| h.origin == code("652822") && h.seq == county_head.seq)
                .map(|_| ()))
        }
    })
    .await?;
    let after = county_head.seq - 2;
    let entries = prefecture
        .entries(code("652822"), after, county_head.seq)
        .await?;
    let cp = prefecture
        .relay_checkpoint(code("652822"), after, 1_000)
        .await?
        .context("the county's checkpoint at the prefecture")?;
    ensure!(cp.checkpoint.seq == county_head.seq, "{cp:?}");
    let stopped = c.stop("652800").await?;
    c.restart(region).await?;
    let region = c.ledger("650000").clone();
    let before = fingerprint(&region, "652822").await?;

    let client = client_of(&stopped, "650000")?;
    let url = sync_url(&c, "650000", "/sync/v1/up");
    let batch = |entries: Vec<Entry>| {
        Batch::new(code("652800"), code("650000"), entries, vec![cp]).encode()
    };
    // Another login of the same length: only the actor's bytes differ.
    let forge = |e: &mut Entry| {
        let at = e
            .body
            .windows(14)
            .position(|w| w == br#""login":"lisi""#)
            .expect("the actor's login in the body");
        e.body[at + 9..at + 13].copy_from_slice(b"wang");
        assert!(e.decode_with_actor().is_ok(), "the forgery still decodes");
    };
    let mut last_altered = entries.clone();
    forge(&mut last_altered[1]);
    let mut first_altered = entries.clone();
    forge(&mut first_altered[0]);
    for (what, bytes, want) in [
        (
            "the signed entry's actor",
            batch(last_altered),
            "bad_checkpoint",
        ),
        (
            "an earlier entry's actor",
            batch(first_altered),
            "broken_chain",
        ),
    ] {
        let (s, e, m) = post_up(&client, &url, bytes, "2").await?;
        ensure!(s == 422 && e == want, "{what}: got {s} {e} ({m})");
        ensure!(
            fingerprint(&region, "652822").await? == before,
            "{what}: the region's ledger changed"
        );
    }
    let alarms: Vec<(String, String)> =
        sqlx::query_as("SELECT peer, kind FROM sync_alarms ORDER BY at_ms")
            .fetch_all(region.db().read())
            .await?;
    for want in ["bad_checkpoint", "broken_chain"] {
        ensure!(
            alarms.iter().any(|(p, k)| p == "652800" && k == want),
            "no {want} alarm naming the prefecture: {alarms:?}"
        );
    }
    // Shown where operators look (issue 17 item 1): the API names the
    // sender (the prefecture that lied) and the origin whose chain it
    // altered (the county), and so does the operations page.
    let listed: serde_json::Value = c
        .node("650000")
        .http()
        .get(c.node("650000").api_url("/sync/alarms"))
        .send()
        .await?
        .json()
        .await?;
    let items = listed["items"].as_array().context("alarm items")?;
    for want in ["bad_checkpoint", "broken_chain"] {
        ensure!(
            items.iter().any(|a| a["peer"] == "652800"
                && a["origin"] == "652822"
                && a["kind"] == want
                && a["message"].as_str().is_some_and(|m| m.contains("652822"))),
            "no {want} alarm naming sender and origin in the API: {listed}"
        );
    }
    let page = c
        .node("650000")
        .http()
        .get(format!("http://{}/operations", c.node("650000").api))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("同步告警")
            && page.contains("检查点不符")
            && page.contains("<td>652800</td><td>652822</td>"),
        "the operations page does not show the alarms:\n{page}"
    );
    let metrics = c
        .node("650000")
        .http()
        .get(c.node("650000").api_url("").replace("/api/v1", "/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for want in ["bad_checkpoint", "broken_chain"] {
        ensure!(
            metrics
                .lines()
                .any(|l| l.starts_with("fundsync_sync_errors_total{")
                    && l.contains(r#"node="650000""#)
                    && l.contains(r#"side="server""#)
                    && l.contains(&format!(r#"kind="{want}""#))),
            "no counted {want} refusal in:\n{metrics}"
        );
    }

    // The batch as the county signed it is taken, and says who.
    let (s, _, m) = post_up(&client, &url, batch(entries), "2").await?;
    ensure!(s == 200, "the true batch refused: {m}");
    let p2: serde_json::Value = c
        .node("650000")
        .http()
        .get(c.node("650000").api_url("/projects/652822/P2"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(p2["actor"]["login"] == "lisi", "{p2}");
    c.restart(stopped).await?;
    c.shutdown().await
}
