//! The API listener's transport on real nodes on port 0, with a real TLS
//! client: HTTPS from a certificate the node issues from its own CA or from
//! files, HSTS on every answer, plain HTTP refused on the TLS port, settings
//! that cannot work stopping the start, and the Host check
//! (`[api] allowed_hosts`) refusing before anything else runs.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};
use fundsync_node::config::Config;
use fundsync_node::pki::{self, Issuer, TlsFiles};
use fundsync_node::server::{self, StartError, HSTS};
use fundsync_node::sync::enroll::setup_root;
use fundsync_tests::fixtures::{self, county, prefecture, region, Engine, TestLedger, TestNode};
use reqwest::{header, Certificate, Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// A node running `server::run` on `t`'s ledger, its API on 127.0.0.1:0.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Running {
    async fn start(t: &TestLedger, dir: &Path, edit: impl FnOnce(&mut Config)) -> Result<Running> {
        let id = t.ledger.identity();
        let mut c = Config::new(id.code, id.name.clone(), id.level);
        c.data_dir = dir.to_owned();
        c.listen = "127.0.0.1:0".into();
        c.warnings.enabled = false;
        edit(&mut c);
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = api.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let l = t.ledger.clone();
        let task = tokio::spawn(async move {
            server::run(l, &c, api, None, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Running {
            addr,
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// What `run` answers for a configuration that cannot start: its error,
/// without serving anything.
async fn start_error(t: &TestLedger, dir: &Path, edit: impl FnOnce(&mut Config)) -> Result<String> {
    let r = Running::start(t, dir, edit).await?;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), r.task)
        .await
        .context("run should stop at once")??;
    match ended {
        Err(e @ StartError::ApiTls(_)) | Err(e @ StartError::Pki(_)) => Ok(e.to_string()),
        other => bail!("expected a start error, got {other:?}"),
    }
}

/// A client that trusts `root_pem` only.
fn trusting(root_pem: &[u8]) -> Result<Client> {
    Ok(Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(root_pem)?)
        .build()?)
}

fn hsts(r: &reqwest::Response) -> Option<&str> {
    r.headers()
        .get(header::STRICT_TRANSPORT_SECURITY)
        .and_then(|v| v.to_str().ok())
}

/// The region, its root CA made as `init` makes it, `[api] tls_from_ca`:
/// HTTPS works for a client trusting the tree's root, by address and by
/// name; every answer carries HSTS, refusals included; plain HTTP on that
/// port gets no answer; a client that does not trust the root gets none
/// either.
#[tokio::test]
async fn the_api_speaks_tls_with_a_certificate_from_the_nodes_own_ca() -> Result<()> {
    let t = fixtures::ledger(Engine::Sqlite, &region()).await?;
    let dir = tempfile::tempdir()?;
    let files = TlsFiles::new(dir.path().join("tls"));
    setup_root(&t.ledger, &files).await?;
    let node = Running::start(&t, dir.path(), |c| c.api.tls_from_ca = true).await?;
    let port = node.addr.port();
    let http = trusting(&std::fs::read(files.root())?)?;

    let r = http
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    ensure!(hsts(&r) == Some(HSTS), "{:?}", r.headers());
    ensure!(HSTS == "max-age=31536000");

    // By name: the certificate names localhost too.
    let by_name = Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(&std::fs::read(files.root())?)?)
        .resolve("localhost", node.addr)
        .build()?;
    let r = by_name
        .get(format!("https://localhost:{port}/api/v1/no-such-thing"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::NOT_FOUND, "{}", r.status());
    ensure!(hsts(&r) == Some(HSTS), "a refusal carries HSTS too");

    let r = http
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .header(header::HOST, "evil.example")
        .send()
        .await?;
    ensure!(r.status() == StatusCode::BAD_REQUEST, "{}", r.status());
    ensure!(hsts(&r) == Some(HSTS), "a Host refusal carries HSTS too");
    let v: Value = r.json().await?;
    ensure!(v["error"] == "host_not_allowed", "{v}");

    let plain = Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    ensure!(
        plain.is_err(),
        "plain HTTP on the TLS port is answered: {plain:?}"
    );
    let stranger = Client::builder()
        .tls_built_in_root_certs(false)
        .build()?
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    ensure!(
        stranger.is_err(),
        "a client without the root trusted the API: {stranger:?}"
    );
    // The listener still serves after those failed handshakes.
    let r = http
        .get(format!("https://127.0.0.1:{port}/readyz"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    node.stop().await
}

/// A county (no CA of its own) with a certificate and key from files, as a
/// bureau's own PKI would hand them out; the issuer here is a throwaway
/// root standing in for it.
#[tokio::test]
async fn the_api_speaks_tls_with_a_certificate_from_files() -> Result<()> {
    let t = fixtures::ledger(Engine::Sqlite, &county("652822", "轮台县")).await?;
    let dir = tempfile::tempdir()?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (root_pem, root_key) = pki::root_ca(fixtures::code("650000"), "某局", now_ms, 30)?;
    let issuer = Issuer::from_pem(&root_pem, &root_key)?;
    let (chain, key) = issuer.issue_api_server(&["127.0.0.1".to_owned()], now_ms, 30)?;
    let (cert_file, key_file) = (dir.path().join("api.pem"), dir.path().join("api.key"));
    pki::write_public(&cert_file, &chain)?;
    pki::write_private(&key_file, &key)?;
    let node = Running::start(&t, dir.path(), |c| {
        c.api.tls_cert_file = Some(cert_file);
        c.api.tls_key_file = Some(key_file);
    })
    .await?;
    let https = trusting(root_pem.as_bytes())?;
    let r = https
        .get(format!("https://{}/healthz", node.addr))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    ensure!(hsts(&r) == Some(HSTS));
    // A refusal (no credentials) carries HSTS too.
    let r = https
        .get(format!("https://{}/api/v1/node", node.addr))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::UNAUTHORIZED, "{}", r.status());
    ensure!(hsts(&r) == Some(HSTS));
    let v: Value = r.json().await?;
    ensure!(v["error"] == "unauthenticated", "{v}");
    node.stop().await
}

/// TLS asked for but impossible: the node does not start (never falls back
/// to plain HTTP), and says why.
#[tokio::test]
async fn tls_settings_that_cannot_work_stop_the_start() -> Result<()> {
    let t = fixtures::ledger(Engine::Sqlite, &county("652822", "轮台县")).await?;
    let dir = tempfile::tempdir()?;
    let e = start_error(&t, dir.path(), |c| c.api.tls_from_ca = true).await?;
    ensure!(e.contains("holds no CA"), "{e}");
    let e = start_error(&t, dir.path(), |c| {
        c.api.tls_cert_file = Some(dir.path().join("api.pem"))
    })
    .await?;
    ensure!(e.contains("needs tls_key_file"), "{e}");
    let e = start_error(&t, dir.path(), |c| {
        c.api.tls_cert_file = Some(dir.path().join("api.pem"));
        c.api.tls_key_file = Some(dir.path().join("api.key"));
        c.api.tls_from_ca = true;
    })
    .await?;
    ensure!(e.contains("exclude each other"), "{e}");
    let e = start_error(&t, dir.path(), |c| {
        c.api.tls_cert_file = Some(dir.path().join("missing.pem"));
        c.api.tls_key_file = Some(dir.path().join("missing.key"));
    })
    .await?;
    ensure!(e.contains("missing.key"), "{e}");
    Ok(())
}

/// `Host: evil.example` (DNS rebinding) is refused with the JSON error,
/// on the API, the pages and a write, and the write changes nothing; the
/// loopback names pass, with or without a port, IPv6 in brackets.
#[tokio::test]
async fn a_request_for_another_host_is_refused_and_changes_nothing() -> Result<()> {
    let node = TestNode::start(&prefecture()).await?;
    let http = Client::new();
    let nodes_before = node.ledger.ledger.nodes().await?.len();
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/api/v1/node"),
        ("GET", "/"),
        ("POST", "/api/v1/nodes"),
        ("GET", "/no/such/page"),
    ] {
        let req = match method {
            "POST" => http
                .post(node.url(path))
                .json(&json!({"code": "652822", "name": "轮台县"})),
            _ => http.get(node.url(path)),
        };
        let r = req.header(header::HOST, "evil.example").send().await?;
        ensure!(
            r.status() == StatusCode::BAD_REQUEST,
            "{method} {path}: {}",
            r.status()
        );
        ensure!(
            hsts(&r).is_none(),
            "no HSTS over plain HTTP: {:?}",
            r.headers()
        );
        let v: Value = r.json().await?;
        ensure!(v["error"] == "host_not_allowed", "{method} {path}: {v}");
        ensure!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("evil.example")),
            "{v}"
        );
    }
    ensure!(
        node.ledger.ledger.nodes().await?.len() == nodes_before,
        "the refused POST registered a node"
    );
    let port = node.addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_owned(),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = http
            .get(node.url("/healthz"))
            .header(header::HOST, &host)
            .send()
            .await?;
        ensure!(r.status() == StatusCode::OK, "{host}: {}", r.status());
    }
    for host in [
        "evil.example:80",
        "127.0.0.2",
        "[::2]",
        "localhost.evil.example",
    ] {
        let r = http
            .get(node.url("/healthz"))
            .header(header::HOST, host)
            .send()
            .await?;
        ensure!(
            r.status() == StatusCode::BAD_REQUEST,
            "{host}: {}",
            r.status()
        );
    }
    node.stop().await
}

/// A configured list replaces the defaults (the compose nodes list their
/// service names); `*` lets any name through.
#[tokio::test]
async fn allowed_hosts_replaces_the_defaults_and_a_star_allows_any() -> Result<()> {
    let t = fixtures::ledger(Engine::Sqlite, &region()).await?;
    let dir = tempfile::tempdir()?;
    let node = Running::start(&t, dir.path(), |c| {
        c.api.allowed_hosts = vec!["region".into(), "fundsync.bureau.example".into()];
    })
    .await?;
    let http = Client::new();
    let get = |host: String| {
        http.get(format!("http://{}/healthz", node.addr))
            .header(header::HOST, host)
            .send()
    };
    let port = node.addr.port();
    ensure!(get(format!("region:{port}")).await?.status() == StatusCode::OK);
    ensure!(get("fundsync.bureau.example".into()).await?.status() == StatusCode::OK);
    let r = get(format!("127.0.0.1:{port}")).await?;
    ensure!(r.status() == StatusCode::BAD_REQUEST, "{}", r.status());
    node.stop().await?;

    let node = Running::start(&t, dir.path(), |c| c.api.allowed_hosts = vec!["*".into()]).await?;
    let r = http
        .get(format!("http://{}/healthz", node.addr))
        .header(header::HOST, "evil.example")
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    node.stop().await
}
