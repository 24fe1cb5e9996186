//! Starting and stopping a node: `serve(ledger, config, listener, shutdown)`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::ledger::{Ledger, LedgerError};
use crate::store::{Db, PoolLimits, StoreError};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Opens the configured database (migrating it) without checking identity.
pub async fn open_db(cfg: &Config) -> Result<Db, StartError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| StartError::DataDir {
        path: cfg.data_dir.clone(),
        source,
    })?;
    let limits = PoolLimits {
        write_wait_ms: cfg.write_wait_ms,
        ..PoolLimits::default()
    };
    Ok(Db::open(&cfg.database_url()?, &limits).await?)
}

/// Opens the ledger of an initialised node.
pub async fn open_ledger(cfg: &Config, clock: Arc<dyn Clock>) -> Result<Ledger, StartError> {
    let db = open_db(cfg).await?;
    Ok(Ledger::open(db, Some(cfg.code), clock).await?)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    ledger: Ledger,
    cfg: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState {
        ledger,
        import_bytes_max: cfg.import_bytes_max,
    };
    let app =
        api::router(state, cfg.body_bytes_max).layer(tower_http::trace::TraceLayer::new_for_http());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
