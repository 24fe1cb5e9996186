//! The parent's side of sync: a mutual-TLS listener and its handlers.
//!
//! Who a peer is comes from its certificate (the TLS layer has verified the
//! chain against the tree and its revocations); a request is then served only
//! if the peer is a registered direct child of this node and not revoked now.
//! Revocations are re-read from the ledger on every request, so
//! `fundsync revoke`, even from another process, cuts a child off at once,
//! on connections already open too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fundsync_protocol::wire::{
    DigestAnswer, DigestCompared, DigestOutcome, DigestReport, DownQuery, HeadView, HealthReceipt,
    HealthReports, Hello, JoinRequest, JoinResponse, OwnQuery, UpReceipt, CA_PATH,
    DIGEST_ORIGINS_MAX, DIGEST_PATH, DOWN_HEAD_HEADER, DOWN_PATH, HEADS_PATH, HEALTH_PATH,
    HELLO_PATH, JOIN_PATH, OWN_PATH, UP_PATH, VERSION_HEADER,
};
use fundsync_protocol::{check_version, Batch, ErrorCode, NodeCode, NodeKey, PROTOCOL_VERSION};
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::enroll::{self, EnrollError};
use super::SyncLimits;
use crate::http::{body_limit, json_errors, ApiError};
use crate::ledger::replica::ReplicaError;
use crate::ledger::{Ledger, LedgerError};
use crate::pki::{self, Issuer, Revoked};

/// What the handlers share.
#[derive(Clone)]
pub struct SyncState {
    pub ledger: Ledger,
    pub key: Arc<NodeKey>,
    /// This node's CA, to certify joining children.
    pub issuer: Arc<Issuer>,
    /// The tree's root certificate (PEM), for joining children.
    pub root_pem: Arc<String>,
    pub revoked: Revoked,
    pub limits: SyncLimits,
    /// Becomes true at shutdown, so waiting pulls answer at once.
    pub stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncState")
            .field("node", &self.ledger.identity().code)
            .finish_non_exhaustive()
    }
}

/// A ledger failure while serving a peer, answered as any refusal of a
/// peer's request is.
fn peer_refusal(e: LedgerError) -> ApiError {
    ReplicaError::Ledger(e).into()
}

/// A refused join: a bad or spent token is 403, anything else about the
/// request 422, the ledger's refusals as for any peer.
fn join_refused(e: EnrollError) -> ApiError {
    match e {
        EnrollError::Ledger(l) => ReplicaError::Ledger(l).into(),
        EnrollError::TokenRefused | EnrollError::BadToken => ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::TokenRefused,
            e.to_string(),
        ),
        e => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::JoinRefused,
            e.to_string(),
        ),
    }
}

/// The connection a request came on: the remote address and, if it showed
/// a certificate, the node it names and its chain.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    pub node: Option<NodeCode>,
    pub chain: Arc<Vec<CertificateDer<'static>>>,
}

/// A TCP listener whose connections are TLS-handshaken off the accept loop.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, PeerInfo)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TlsListener {
    pub fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        limits: &SyncLimits,
    ) -> std::io::Result<Self> {
        let handshake = Duration::from_millis(limits.handshake_timeout_ms);
        let accept_retry = Duration::from_millis(limits.accept_retry_ms);
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, addr) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync accept failed");
                        tokio::time::sleep(accept_retry).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(handshake, acceptor.accept(tcp)).await;
                    match hs {
                        Ok(Ok(tls)) => {
                            let conn = tls.get_ref().1;
                            let chain = conn
                                .peer_certificates()
                                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                                .unwrap_or_default();
                            let peer = PeerInfo {
                                addr,
                                node: pki::peer_node(conn),
                                chain: Arc::new(chain),
                            };
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::info!(%addr, error = %e, "sync handshake refused"),
                        Err(_) => tracing::info!(%addr, "sync handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ended; nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(PeerInfo {
            addr: self.local,
            node: None,
            chain: Arc::new(Vec::new()),
        })
    }
}

impl Connected<axum::serve::IncomingStream<'_, TlsListener>> for PeerInfo {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl Connected<axum::serve::IncomingStream<'_, crate::net::Capped<TlsListener>>> for PeerInfo {
    fn connect_info(
        stream: axum::serve::IncomingStream<'_, crate::net::Capped<TlsListener>>,
    ) -> Self {
        stream.remote_addr().clone()
    }
}

/// A request from an authenticated, current, direct child.
#[derive(Debug, Clone)]
pub struct Child(pub NodeCode, Arc<Vec<CertificateDer<'static>>>);

impl Child {
    /// Refuses the child if it has been revoked since the request began;
    /// the refusal is logged (WARN, with the child's code) and counted
    /// (`fundsync_sync_errors_total{side="server",kind="revoked"}`), so an
    /// operator sees a revoked node still knocking.
    async fn still_current(&self, state: &SyncState) -> Result<(), ApiError> {
        if let Some(at) = state
            .ledger
            .revoked_at(self.0)
            .await
            .map_err(peer_refusal)?
        {
            state.revoked.revoke(self.0, at);
        }
        state.revoked.check(&self.1).map_err(|e| {
            tracing::warn!(child = %self.0, error = %e, "refused a revoked child");
            crate::telemetry::sync_error(
                state.ledger.identity().code.as_str(),
                "server",
                ErrorCode::Revoked.as_str(),
            );
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Revoked, e.to_string())
        })
    }
}

impl FromRequestParts<SyncState> for Child {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SyncState,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = ConnectInfo::<PeerInfo>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::NoCertificate,
                    "no peer",
                )
            })?;
        let code = peer.node.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::NoCertificate,
                "this request needs the client certificate of a child node",
            )
        })?;
        let child = Child(code, peer.chain.clone());
        child.still_current(state).await?;
        let me = state.ledger.identity().code;
        let is_child = state
            .ledger
            .nodes()
            .await
            .map_err(peer_refusal)?
            .iter()
            .any(|n| n.code == code.as_str() && n.parent.as_deref() == Some(me.as_str()));
        if !is_child {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::NotAChild,
                format!(
                    "{code} is not a registered child of {me}; a node syncs with its parent only"
                ),
            ));
        }
        Ok(child)
    }
}

/// The sync routes.
pub fn router(state: SyncState) -> Router {
    let bytes_max = state.limits.batch_bytes_max;
    Router::new()
        .route(CA_PATH, get(ca))
        .route(JOIN_PATH, post(join))
        .route(HELLO_PATH, get(hello))
        .route(HEADS_PATH, get(heads))
        .route(UP_PATH, post(up))
        .route(DOWN_PATH, get(down))
        .route(OWN_PATH, get(own))
        .route(HEALTH_PATH, post(health))
        .route(DIGEST_PATH, post(digest))
        .layer(middleware::from_fn(require_version))
        .layer(body_limit(bytes_max))
        // What axum refuses by itself (an unknown path, a wrong method, a
        // body over the limit) answered in the `{error, message}` body too.
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// Refuses a request that does not name a protocol version this node
/// accepts, before anything else is read.
async fn require_version(req: Request, next: Next) -> Response {
    let theirs = req
        .headers()
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u16>().ok());
    match theirs.map(check_version) {
        Some(Ok(())) => {
            let mut res = next.run(req).await;
            res.headers_mut()
                .insert(VERSION_HEADER, HeaderValue::from(PROTOCOL_VERSION));
            res
        }
        Some(Err(e)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedVersion,
            e.to_string(),
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedVersion,
            format!("every sync request names its protocol version in the {VERSION_HEADER} header"),
        )
        .into_response(),
    }
}

async fn ca(State(s): State<SyncState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        s.root_pem.as_str().to_owned(),
    )
        .into_response()
}

async fn join(
    State(s): State<SyncState>,
    body: Bytes,
) -> Result<axum::Json<JoinResponse>, ApiError> {
    let req: JoinRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            e.to_string(),
        )
    })?;
    let res = enroll::answer_join(&s.ledger, &s.issuer, &s.root_pem, &s.key, req)
        .await
        .map_err(join_refused)?;
    Ok(axum::Json(res))
}

/// Who this node is and the keys it signs with.
async fn hello(State(s): State<SyncState>, _: Child) -> Result<axum::Json<Hello>, ApiError> {
    let me = s.ledger.identity().code;
    let mut keys: Vec<String> = s
        .ledger
        .keys_of(me)
        .await
        .map_err(peer_refusal)?
        .iter()
        .map(|k| hex::encode(k.as_bytes()))
        .collect();
    let current = hex::encode(s.key.verifying_key().as_bytes());
    keys.retain(|k| k != &current);
    keys.push(current);
    Ok(axum::Json(Hello {
        node: me,
        version: PROTOCOL_VERSION,
        keys,
    }))
}

async fn heads(
    State(s): State<SyncState>,
    Child(child, _): Child,
) -> Result<axum::Json<Vec<HeadView>>, ApiError> {
    Ok(axum::Json(
        s.ledger.heads_under(child).await.map_err(peer_refusal)?,
    ))
}

async fn up(
    State(s): State<SyncState>,
    Child(child, _): Child,
    body: Bytes,
) -> Result<axum::Json<UpReceipt>, ApiError> {
    let batch = match Batch::decode(&body, &s.limits.batch()) {
        Ok(b) => b,
        Err(e) => {
            let e = ReplicaError::from(e);
            up_refused(&s, child, e.origin(), &e).await;
            return Err(e.into());
        }
    };
    let out = match s.ledger.receive_up_by_origin(child, &batch).await {
        Ok(out) => out,
        Err(e) => {
            up_refused(&s, child, e.origin(), &e).await;
            return Err(e.into());
        }
    };
    for (origin, e) in &out.refused {
        up_refused(&s, child, Some(*origin), e).await;
    }
    let receipt = out.receipt;
    if receipt.heads.is_empty() {
        // No origin taken: answered as a refused batch, as before.
        if let Some((_, e)) = out.refused.into_iter().next() {
            return Err(e.into());
        }
    }
    tracing::debug!(
        %child,
        applied = receipt.applied,
        duplicates = receipt.duplicates,
        refused = receipt.refused.len(),
        "up batch"
    );
    crate::telemetry::batch_applied(
        s.ledger.identity().code.as_str(),
        "up",
        receipt.applied,
        receipt.duplicates,
    );
    Ok(axum::Json(receipt))
}

/// Makes a refused upward batch, or one origin's run of it, seen: counted
/// by its code (`fundsync_sync_errors_total{side="server"}`), logged, and,
/// when the run proves that its sender lied, an alarm naming the sender
/// and `origin`, the chain it was about. A fork, and entries that do not
/// hash to what their origin signed (an entry, or its actor, altered on
/// the way: `bad_checkpoint`, `broken_chain`, `bad_signature`) are proof:
/// no honest relay sends them.
async fn up_refused(s: &SyncState, child: NodeCode, origin: Option<NodeCode>, e: &ReplicaError) {
    let code = e.code();
    crate::telemetry::sync_error(s.ledger.identity().code.as_str(), "server", code.as_str());
    match code {
        ErrorCode::Fork
        | ErrorCode::BadCheckpoint
        | ErrorCode::BrokenChain
        | ErrorCode::BadSignature => {
            // `alarm` logs at error level.
            s.ledger
                .alarm(child, origin.or(e.origin()), code.as_str(), &e.to_string())
                .await;
        }
        _ => {
            let origin = origin.map(|o| o.to_string());
            tracing::warn!(%child, origin = origin.as_deref().unwrap_or("-"), error = %e, "up batch refused");
        }
    }
}

async fn down(
    State(s): State<SyncState>,
    peer: Child,
    q: Result<Query<DownQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let child = peer.0;
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            e.body_text(),
        )
    })?;
    // At the top node, a child asking for what follows `after` holds the
    // region's own chain up to the entry there: the region's
    // acknowledgement mark (it has no parent to acknowledge it), so a
    // region restored behind it does not fork what its children hold.
    if s.ledger.identity().parent.is_none() {
        if let Some((seq, hash)) = s
            .ledger
            .down_acknowledged(child, q.after)
            .await
            .map_err(peer_refusal)?
        {
            s.ledger.acknowledge_own(seq, hash).await;
        }
    }
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(q.wait_ms.min(s.limits.pull_wait_max_ms));
    let mut changes = s.ledger.db().changes();
    let mut stop = s.stop.clone();
    loop {
        let batch = s
            .ledger
            .down_batch(&s.key, child, q.after, s.limits.batch_entries_max)
            .await?;
        let now = tokio::time::Instant::now();
        if !batch.entries.is_empty() || now >= deadline || *stop.borrow() {
            let head = s.ledger.down_head(child).await.map_err(peer_refusal)?;
            return Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (
                        header::HeaderName::from_static(DOWN_HEAD_HEADER),
                        HeaderValue::from(head),
                    ),
                ],
                batch.encode(),
            )
                .into_response());
        }
        let tick = deadline.min(now + Duration::from_millis(s.limits.pull_poll_ms));
        tokio::select! {
            _ = changes.changed() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep_until(tick) => {}
        }
        // A revocation cuts a waiting pull off too.
        peer.still_current(&s).await?;
    }
}

/// A child's own entries after `after`, with the checkpoint it signed over
/// them, as this node holds them: how a child restored from an old backup
/// gets back what it had already sent up. Served to the child for its own
/// chain only; it verifies everything against its own head and keys, so
/// this node can withhold entries but not alter them.
async fn own(
    State(s): State<SyncState>,
    Child(child, _): Child,
    q: Result<Query<OwnQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            e.body_text(),
        )
    })?;
    if q.origin != child {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::OriginNotAllowed,
            format!(
                "{child} may ask for its own entries only, not for those of {}",
                q.origin
            ),
        ));
    }
    let batch = s
        .ledger
        .own_entries_of(child, q.after, s.limits.batch_entries_max)
        .await
        .map_err(peer_refusal)?;
    tracing::info!(%child, after = q.after, entries = batch.entries.len(), "own entries sent back");
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        batch.encode(),
    )
        .into_response())
}

/// A child's heartbeat: its own link report and those it relays from below,
/// kept in `link_health` (newest per node), never in the journal. Reports
/// about nodes outside the child's subtree refuse the request; nothing of a
/// refused request is kept.
async fn health(
    State(s): State<SyncState>,
    Child(child, _): Child,
    body: Bytes,
) -> Result<axum::Json<HealthReceipt>, ApiError> {
    let reports: HealthReports = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            e.to_string(),
        )
    })?;
    let nodes = s.ledger.nodes().await.map_err(peer_refusal)?;
    let keep = super::health::check_reports(child, &nodes, reports).map_err(|r| {
        tracing::warn!(%child, error = %r.message, "health reports refused");
        let status = if r.code == ErrorCode::OriginNotAllowed {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        ApiError::new(status, r.code, r.message)
    })?;
    let stored = s
        .ledger
        .store_link_reports(&keep)
        .await
        .map_err(peer_refusal)?;
    Ok(axum::Json(HealthReceipt { stored }))
}

/// A child's digests of the money rows it derived from each origin of its
/// subtree, compared with this node's own copy where both stand at the
/// same head. A difference is an alarm naming the child and the origin
/// (`summary_mismatch`, raised once per finding): one of the two copies was
/// altered behind its ledger, and `fundsync verify` at each tells which. A
/// report naming an origin outside the child's subtree is refused whole
/// (`origin_not_allowed`), nothing compared.
async fn digest(
    State(s): State<SyncState>,
    Child(child, _): Child,
    body: Bytes,
) -> Result<axum::Json<DigestAnswer>, ApiError> {
    let report: DigestReport = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            e.to_string(),
        )
    })?;
    if report.origins.len() > DIGEST_ORIGINS_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!(
                "a digest report carries at most {DIGEST_ORIGINS_MAX} origins, not {}",
                report.origins.len()
            ),
        ));
    }
    let me = s.ledger.identity();
    let level = me.level.child().unwrap_or(me.level);
    if let Some(o) = report
        .origins
        .iter()
        .find(|d| d.origin != child && !child.contains(level, &d.origin))
    {
        tracing::warn!(%child, origin = %o.origin, "digest report refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::OriginNotAllowed,
            format!(
                "{child} may report digests of its own subtree only, not of {}",
                o.origin
            ),
        ));
    }
    let origins: Vec<NodeCode> = report.origins.iter().map(|d| d.origin).collect();
    let mine = s
        .ledger
        .money_digests(&origins)
        .await
        .map_err(peer_refusal)?;
    let mut compared = Vec::with_capacity(report.origins.len());
    for theirs in &report.origins {
        let here = mine.iter().find(|d| d.origin == theirs.origin);
        let outcome = match here {
            Some(h) if h.seq == theirs.seq && h.hash == theirs.hash => {
                if h.digest == theirs.digest && h.rows == theirs.rows {
                    DigestOutcome::Equal
                } else {
                    let message = format!(
                        "the money rows derived from {origin}'s chain up to seq {seq} differ: \
                         {rows_here} rows, digest {here_digest} here; {rows_there} rows, digest \
                         {there_digest} at {child}. One copy was altered behind its ledger; \
                         run fundsync verify at both",
                        origin = theirs.origin,
                        seq = theirs.seq,
                        rows_here = h.rows,
                        here_digest = h.digest,
                        rows_there = theirs.rows,
                        there_digest = theirs.digest,
                    );
                    s.ledger
                        .alarm_once(child, Some(theirs.origin), SUMMARY_MISMATCH, &message)
                        .await;
                    DigestOutcome::Differs
                }
            }
            _ => DigestOutcome::NotCompared,
        };
        compared.push(DigestCompared {
            origin: theirs.origin,
            outcome,
            theirs: here
                .filter(|_| outcome != DigestOutcome::NotCompared)
                .copied(),
        });
    }
    Ok(axum::Json(DigestAnswer { compared }))
}

/// The alarm kind of a child's money rows differing from this node's copy.
pub const SUMMARY_MISMATCH: &str = "summary_mismatch";

/// Serves sync on `listener` with `tls` until `shutdown` completes.
pub async fn serve(
    state: SyncState,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TlsListener::new(listener, tls, &state.limits)?;
    let listener = crate::net::Capped::new(listener, state.limits.connections_max);
    let app = router(state).into_make_service_with_connect_info::<PeerInfo>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
