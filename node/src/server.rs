//! Starting and stopping a node: `run(ledger, config, api, sync, shutdown)`.
//!
//! This is the top of the node's layers: the one place that reads the whole
//! configuration, hands each part its own settings (the sync limits, the
//! pools, the body limits) and composes the HTTP routers (the API's and the
//! pages' on the API listener; the sync listener's own) and the API
//! listener's transport: plain HTTP or TLS ([`ApiListener`]), the Host check
//! on every request and HSTS when on TLS ([`api_service`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;

use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::accounts::{Accounts, JournalLog};
use crate::clock::{Clock, SystemClock};
use crate::config::{ApiTls, Config, ConfigError};
use crate::http::auth::SESSION_COOKIE;
use crate::http::{
    body_limit, check_host, json_errors, specific_host, AllowedHosts, AppState, RouteInfo, Routes,
};
use crate::ledger::{DateWindow, Ledger, LedgerError, LedgerRules};
use crate::net::Peer;
use crate::pki::{self, PkiError, Revoked, TlsFiles};
use crate::store::{Db, StoreError};
use crate::sync::client::Link;
use crate::sync::server::SyncState;
use crate::sync::SyncLimits;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("API TLS: {0}")]
    ApiTls(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The sync protocol's limits and timings from the configuration.
pub fn sync_limits(cfg: &Config) -> SyncLimits {
    SyncLimits {
        batch_entries_max: cfg.sync_batch_entries_max,
        batch_bytes_max: cfg.sync_batch_bytes_max,
        pull_wait_ms: cfg.pull_wait_ms,
        retry_base_ms: cfg.retry_base_ms,
        retry_max_ms: cfg.retry_max_ms,
        enroll_token_ms: cfg.enroll_token_ms,
        health_report_ms: cfg.health_report_ms,
        connections_max: cfg.sync_connections_max,
        handshake_timeout_ms: cfg.sync_handshake_timeout_ms,
        accept_retry_ms: cfg.sync_accept_retry_ms,
        pull_wait_max_ms: cfg.pull_wait_max_ms,
        pull_poll_ms: cfg.pull_poll_ms,
        pull_answer_slack_ms: cfg.pull_answer_slack_ms,
        push_poll_ms: cfg.push_poll_ms,
        connect_timeout_ms: cfg.sync_connect_timeout_ms,
        request_timeout_ms: cfg.sync_request_timeout_ms,
        idle_close_ms: cfg.sync_idle_close_ms,
    }
}

/// The ledger's own rules from the `[rules]` section (the ledger reads no
/// configuration).
pub fn ledger_rules(cfg: &Config) -> LedgerRules {
    LedgerRules {
        dates: DateWindow {
            from: cfg.rules.dates_from.0,
            to: cfg.rules.dates_to.0,
        },
        target_approval_required: cfg.rules.target_approval_required,
    }
}

/// The limits of a default configuration (`sync` itself knows no
/// configuration, so its default is set here).
impl Default for SyncLimits {
    fn default() -> Self {
        sync_limits(&Config::new(
            "650000"
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid code")),
            String::new(),
            fundsync_protocol::Level::Region,
        ))
    }
}

/// Every route of the API listener, each with its permission: the API's
/// and the pages'.
fn routes(import_bytes_max: usize) -> Routes {
    crate::api::router(import_bytes_max)
        .merge(crate::web::router())
        .merge(crate::openapi::router())
}

/// The API listener's routes as a table: method, path, the permission it
/// needs, page or API. README.md and ARCHITECTURE.md publish it by role;
/// `tests/tests/it/access.rs` walks it with every role.
pub fn route_table() -> Vec<RouteInfo> {
    routes(0).into_parts().1
}

/// The API listener's service: the API's routes and the pages (each behind
/// its permission check), the session cookie and the authentication layer,
/// one body limit, one answer for a path no route takes, latency metrics
/// and request tracing. Serve it with `into_make_service_with_connect_info::<Peer>`
/// (the client's address is the socket peer's).
pub fn app(state: AppState, body_bytes_max: usize) -> Router {
    let node: &'static str = Box::leak(state.ledger.identity().code.to_string().into_boxed_str());
    let sessions = SessionManagerLayer::new(state.accounts.session_store())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.api_tls)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::milliseconds(
            i64::try_from(state.session_idle_ms).unwrap_or(i64::MAX),
        )));
    let state = Arc::new(state);
    let (router, _) = routes(state.import_bytes_max).into_parts();
    router
        .fallback(crate::api::no_such_endpoint)
        .layer(body_limit(body_bytes_max))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::auth::authenticate,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::telemetry::http_latency(node, req, next)
        }))
        .with_state(state)
        // Every refusal the framework makes (405, 413, rejections) in the
        // `{error, message}` body, as the handlers' own.
        .layer(axum::middleware::map_response(json_errors))
        // The span names the path only: a query may carry a form's CSRF
        // token (file uploads) or what someone searched for, neither of
        // which belongs in a log.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                },
            ),
        )
}

/// What every answer carries when the API is on TLS: browsers then refuse
/// plain HTTP to this name for a year, so a network attacker cannot strip
/// TLS off a later visit.
pub const HSTS: &str = "max-age=31536000";

/// The API listener's whole service: [`app`] inside the Host check
/// (`[api] allowed_hosts`: a refused request runs nothing else) and, when
/// the listener speaks TLS (`state.api_tls`), HSTS on every answer,
/// refusals included.
pub fn api_service(state: AppState, cfg: &Config) -> Router {
    let tls = state.api_tls;
    let allowed = Arc::new(AllowedHosts::new(&cfg.api.allowed_hosts, &cfg.listen));
    let router = app(state, cfg.body_bytes_max)
        .layer(axum::middleware::from_fn_with_state(allowed, check_host));
    if tls {
        router.layer(axum::middleware::map_response(|mut r: Response| async {
            r.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
            r
        }))
    } else {
        router
    }
}

/// How long a certificate `[api] tls_from_ca` issues is valid (days); it is
/// issued anew at every start. Browsers accept at most 398.
pub const API_CERT_DAYS: u32 = 397;

/// The names of the certificate `tls_from_ca` issues when `tls_names` is
/// empty: the host of `listen` when it is a specific address, `localhost`,
/// `127.0.0.1`.
pub fn default_tls_names(listen: &str) -> Vec<String> {
    let mut names: Vec<String> = specific_host(listen).into_iter().collect();
    for n in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_owned());
        }
    }
    names
}

/// The API listener's TLS from `[api]`: `None` for plain HTTP; a
/// certificate from files; or one issued now (`now_ms`) from this node's
/// own CA. Fails rather than falling back to plain HTTP.
pub fn api_tls_config(
    cfg: &Config,
    now_ms: i64,
) -> Result<Option<Arc<rustls::ServerConfig>>, StartError> {
    match cfg.api.tls().map_err(StartError::ApiTls)? {
        ApiTls::Off => Ok(None),
        ApiTls::Files { cert, key } => Ok(Some(pki::api_server_config_from_files(&cert, &key)?)),
        ApiTls::FromCa { names } => {
            let files = TlsFiles::new(cfg.tls_dir());
            if !files.issuer_cert().exists() {
                return Err(StartError::ApiTls(format!(
                    "[api] tls_from_ca: this node holds no CA ({} is missing). A county has \
                     none and a prefecture gets its own when it joins; give tls_cert_file \
                     and tls_key_file instead",
                    files.issuer_cert().display()
                )));
            }
            let names = if names.is_empty() {
                default_tls_names(&cfg.listen)
            } else {
                names
            };
            let (chain, key) =
                files
                    .load_issuer()?
                    .issue_api_server(&names, now_ms, API_CERT_DAYS)?;
            tracing::info!(names = ?names, "issued the API's TLS certificate from this node's CA");
            Ok(Some(pki::api_server_config(&chain, &key)?))
        }
    }
}

/// The API listener: plain TCP, or TLS with each handshake off the accept
/// loop (a slow client holds up no one). Its address is the client's.
pub struct ApiListener {
    inner: ApiInner,
}

enum ApiInner {
    Plain(TcpListener),
    Tls {
        rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
        local: SocketAddr,
        task: tokio::task::JoinHandle<()>,
    },
}

impl std::fmt::Debug for ApiListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (tls, local) = match &self.inner {
            ApiInner::Plain(l) => (false, l.local_addr().ok()),
            ApiInner::Tls { local, .. } => (true, Some(*local)),
        };
        f.debug_struct("ApiListener")
            .field("tls", &tls)
            .field("local", &local)
            .finish()
    }
}

impl ApiListener {
    /// Plain HTTP.
    pub fn plain(listener: TcpListener) -> ApiListener {
        ApiListener {
            inner: ApiInner::Plain(listener),
        }
    }

    /// TLS with `config`; a handshake that fails (a plain-HTTP request, a
    /// client that does not trust the certificate) or takes longer than
    /// `handshake` closes that connection only.
    pub fn tls(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        handshake: Duration,
    ) -> io::Result<ApiListener> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            let mut listener = listener;
            loop {
                // axum's accept: retries after errors such as EMFILE.
                let (tcp, addr) = axum::serve::Listener::accept(&mut listener).await;
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%addr, error = %e, "API TLS handshake refused")
                        }
                        Err(_) => tracing::debug!(%addr, "API TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(ApiListener {
            inner: ApiInner::Tls { rx, local, task },
        })
    }

    /// Whether connections speak TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, ApiInner::Tls { .. })
    }
}

impl Drop for ApiListener {
    fn drop(&mut self) {
        if let ApiInner::Tls { task, .. } = &self.inner {
            task.abort();
        }
    }
}

impl axum::serve::Listener for ApiListener {
    type Io = ApiIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ApiIo, SocketAddr) {
        match &mut self.inner {
            ApiInner::Plain(l) => {
                let (io, addr) = axum::serve::Listener::accept(l).await;
                (ApiIo::Plain(io), addr)
            }
            ApiInner::Tls { rx, .. } => match rx.recv().await {
                Some((io, addr)) => (ApiIo::Tls(Box::new(io)), addr),
                // The accept loop ended; nothing more will come.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            ApiInner::Plain(l) => l.local_addr(),
            ApiInner::Tls { local, .. } => Ok(*local),
        }
    }
}

/// A connection of the [`ApiListener`].
#[derive(Debug)]
pub enum ApiIo {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ApiIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ApiIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ApiIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ApiIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ApiIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ApiIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ApiIo::Plain(s) => Pin::new(s).poll_flush(cx),
            ApiIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ApiIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ApiIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ApiIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ApiIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ApiIo::Plain(s) => s.is_write_vectored(),
            ApiIo::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The API listener `cfg` asks for on `listener`: TLS per `[api]`, else
/// plain HTTP, with a warning when plain HTTP is open beyond this machine
/// (passwords and session cookies would cross the network in clear), and
/// when any Host is allowed.
pub fn api_listener(
    cfg: &Config,
    listener: TcpListener,
    now_ms: i64,
) -> Result<ApiListener, StartError> {
    let addr = listener.local_addr().ok();
    if cfg.api.allowed_hosts.iter().any(|h| h.trim() == "*") {
        tracing::warn!(
            "[api] allowed_hosts has \"*\": requests for any host name are served, so DNS \
             rebinding is not stopped; list the names people use instead"
        );
    }
    match api_tls_config(cfg, now_ms)? {
        Some(tls) => {
            let handshake = Duration::from_millis(cfg.api.tls_handshake_timeout_ms);
            ApiListener::tls(listener, tls, handshake)
                .map_err(|e| StartError::ApiTls(format!("cannot listen: {e}")))
        }
        None => {
            if addr.is_some_and(|a| !a.ip().is_loopback()) {
                tracing::warn!(
                    addr = ?addr,
                    "the API listens beyond this machine without TLS: passwords, tokens and \
                     session cookies cross the network in clear. Set [api] tls_cert_file and \
                     tls_key_file, or tls_from_ca = true"
                );
            }
            Ok(ApiListener::plain(listener))
        }
    }
}

/// The state of the API listener's handlers, from the configuration.
///
/// The accounts' security events become journal entries ([`JournalLog`]);
/// a change with no person named in it is attributed to the node itself.
fn app_state(
    ledger: Ledger,
    cfg: &Config,
    link: Option<crate::link::LinkHealth>,
    api_tls: bool,
) -> AppState {
    let log = JournalLog::start(ledger.clone(), fundsync_protocol::Actor::system());
    let accounts =
        Accounts::of_ledger(&ledger, cfg.accounts.clone()).with_security_log(Arc::new(log));
    AppState {
        import_bytes_max: cfg.import_bytes_max,
        exports: Arc::new(tokio::sync::Semaphore::new(cfg.exports_concurrent_max)),
        link,
        health_report_ms: cfg.health_report_ms,
        link_lag_ms: cfg.link_lag_ms,
        session_idle_ms: cfg.accounts.session_idle_ms,
        session_absolute_ms: cfg.accounts.session_absolute_ms,
        api_tls,
        accounts,
        ledger,
    }
}

/// Opens the configured database (migrating it) without checking identity.
pub async fn open_db(cfg: &Config) -> Result<Db, StartError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| StartError::DataDir {
        path: cfg.data_dir.clone(),
        source,
    })?;
    Ok(Db::open(&cfg.database_url()?, &cfg.pool_limits()).await?)
}

/// Opens the ledger of an initialised node, recording under the
/// configuration's `[rules]`.
pub async fn open_ledger(cfg: &Config, clock: Arc<dyn Clock>) -> Result<Ledger, StartError> {
    let db = open_db(cfg).await?;
    let ledger = Ledger::open(db, Some(cfg.code), clock)
        .await?
        .with_rules(ledger_rules(cfg));
    ledger.attach_ack_mark(ack_mark_path(cfg)).await?;
    ledger.refresh_shipped_catalog().await?;
    Ok(ledger)
}

/// Where the node keeps its acknowledgement mark: in its data directory,
/// outside the database (for PostgreSQL too), so that restoring a backup of
/// the database does not restore the mark ([`crate::ledger::restored`]).
pub fn ack_mark_path(cfg: &Config) -> std::path::PathBuf {
    cfg.data_dir.join(crate::ledger::restored::ACK_FILE)
}

/// Runs a node until `shutdown` completes: the API on `api`; if the node
/// has certificates, the sync listener for its children on `sync` (when
/// given) and the link to its parent (when it has a `parent_url`).
pub async fn run(
    ledger: Ledger,
    cfg: &Config,
    api: TcpListener,
    sync: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // Every part below records under the configuration's rules, whoever
    // opened the ledger.
    let ledger = ledger.with_rules(ledger_rules(cfg));
    // Whoever opened the ledger, it is compared with the mark before
    // anything is served (again, if `open_ledger` did: it changes nothing).
    ledger.attach_ack_mark(ack_mark_path(cfg)).await?;
    // The API certificate is checked by browsers against their own clocks,
    // so it is issued at the system's time, whatever the ledger's clock says.
    let api = api_listener(cfg, api, SystemClock.now_ms())?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    crate::telemetry::handle();
    let files = TlsFiles::new(cfg.tls_dir());
    let enrolled = files.chain().exists();
    let mut tasks = tokio::task::JoinSet::new();
    let mut link_health = None;
    let mut own_chain = None;
    if enrolled {
        let tls = files.load_node()?;
        let key = Arc::new(crate::sync::load_signing_key(&files.dir)?);
        let limits = sync_limits(cfg);
        if let (Some(listener), true) = (sync, files.issuer_cert().exists()) {
            let revoked = Revoked::new();
            for (code, at) in ledger.revocations().await? {
                revoked.revoke(code, at);
            }
            let tls_config = pki::server_config(&tls, revoked.clone())?;
            let state = SyncState {
                ledger: ledger.clone(),
                key: key.clone(),
                issuer: Arc::new(files.load_issuer()?),
                root_pem: Arc::new(pki::read_pem(&files.root())?),
                revoked,
                limits: limits.clone(),
                stop: stop.clone(),
            };
            let mut s = stop.clone();
            tasks.spawn(async move {
                crate::sync::server::serve(state, listener, tls_config, async move {
                    let _ = s.wait_for(|v| *v).await;
                })
                .await
            });
        }
        if let Some(url) = &cfg.parent_url {
            let reporter = crate::sync::health::Reporter {
                every_ms: limits.health_report_ms,
                first_ms: cfg.health_first_report_ms,
                cert_expires_ms: tls.expires_ms().ok(),
            };
            let link = Link::new(ledger.clone(), key, &tls, url, limits)?;
            link_health = Some(link.health());
            own_chain = Some(link.own_chain_checked());
            let s = stop.clone();
            tasks.spawn(async move {
                link.run(s, reporter).await;
                Ok(())
            });
        }
    } else if cfg.level != fundsync_protocol::Level::Region {
        tracing::warn!(
            node = %cfg.code,
            "not enrolled: no sync until `fundsync join --token …` (ask the parent for `fundsync enroll`)"
        );
    }
    if cfg.verify_every_ms > 0 {
        let (l, every, s) = (ledger.clone(), cfg.verify_every_ms, stop.clone());
        tasks.spawn(async move {
            crate::ledger::verify::run_every(l, every, s).await;
            Ok(())
        });
    }
    if cfg.warnings.enabled {
        let (l, w, s) = (ledger.clone(), cfg.warnings.clone(), stop.clone());
        tasks.spawn(async move {
            crate::warnings::run(l, w, s, own_chain).await;
            Ok(())
        });
    }
    let state = app_state(ledger, cfg, link_health, api.is_tls());
    let app = api_service(state, cfg).into_make_service_with_connect_info::<Peer>();
    let api = crate::net::Capped::new(api, cfg.api_connections_max);
    let mut s = stop.clone();
    tasks.spawn(async move {
        axum::serve(api, app)
            .with_graceful_shutdown(async move {
                let _ = s.wait_for(|v| *v).await;
            })
            .await
    });
    shutdown.await;
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Err(e)) => tracing::error!(error = %e, "a server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "a node task failed"),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

/// Serves the API on `listener` until `shutdown` completes, with the
/// transport `[api]` asks for (TLS, allowed hosts), as [`run`] does.
pub async fn serve(
    ledger: Ledger,
    cfg: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let api = api_listener(cfg, listener, SystemClock.now_ms()).map_err(io::Error::other)?;
    ledger
        .attach_ack_mark(ack_mark_path(cfg))
        .await
        .map_err(io::Error::other)?;
    let state = app_state(
        ledger.with_rules(ledger_rules(cfg)),
        cfg,
        None,
        api.is_tls(),
    );
    let app = api_service(state, cfg).into_make_service_with_connect_info::<Peer>();
    axum::serve(crate::net::Capped::new(api, cfg.api_connections_max), app)
        .with_graceful_shutdown(shutdown)
        .await
}
