//! Starting and stopping a node: `run(ledger, config, api, sync, shutdown)`.
//!
//! This is the top of the node's layers: the one place that reads the whole
//! configuration, hands each part its own settings (the sync limits, the
//! pools, the body limits) and composes the HTTP routers (the API's and the
//! pages' on the API listener; the sync listener's own).

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use axum::Router;

use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::http::auth::SESSION_COOKIE;
use crate::http::{body_limit, AppState, RouteInfo, Routes};
use crate::ledger::{Ledger, LedgerError};
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
    crate::api::router(import_bytes_max).merge(crate::web::router())
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
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The state of the API listener's handlers, from the configuration.
fn app_state(ledger: Ledger, cfg: &Config, link: Option<crate::link::LinkHealth>) -> AppState {
    let accounts = Accounts::new(
        ledger.db().clone(),
        ledger.clock().clone(),
        cfg.accounts.clone(),
    );
    AppState {
        import_bytes_max: cfg.import_bytes_max,
        link,
        health_report_ms: cfg.health_report_ms,
        session_idle_ms: cfg.accounts.session_idle_ms,
        session_absolute_ms: cfg.accounts.session_absolute_ms,
        api_tls: false,
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

/// Opens the ledger of an initialised node.
pub async fn open_ledger(cfg: &Config, clock: Arc<dyn Clock>) -> Result<Ledger, StartError> {
    let db = open_db(cfg).await?;
    Ok(Ledger::open(db, Some(cfg.code), clock).await?)
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
    if cfg.warnings.enabled {
        let (l, w, s) = (ledger.clone(), cfg.warnings.clone(), stop.clone());
        tasks.spawn(async move {
            crate::warnings::run(l, w, s, own_chain).await;
            Ok(())
        });
    }
    let state = app_state(ledger, cfg, link_health);
    let app = app(state, cfg.body_bytes_max).into_make_service_with_connect_info::<Peer>();
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

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    ledger: Ledger,
    cfg: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = app_state(ledger, cfg, None);
    let app = app(state, cfg.body_bytes_max).into_make_service_with_connect_info::<Peer>();
    axum::serve(
        crate::net::Capped::new(listener, cfg.api_connections_max),
        app,
    )
    .with_graceful_shutdown(shutdown)
    .await
}
