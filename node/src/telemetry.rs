//! Prometheus metrics, served at `GET /metrics` on the API listener.
//!
//! Counters and histograms are recorded where things happen (batches
//! applied, errors, alarms, HTTP requests) through the `metrics` facade;
//! gauges that describe state (how far behind a link is, the state of every
//! link in the subtree, certificate expiry) are computed when Prometheus
//! scrapes, from the same sources as `/api/v1/sync/health`, so they can
//! never disagree with it. Every series carries the node's code: several
//! nodes may share one process (the demo), and one recorder.
//!
//! Why `metrics` + `metrics-exporter-prometheus`: the facade keeps call sites
//! one line long and the exporter renders the text format without running a
//! second HTTP server (its default features, which would, are off).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("fundsync_sync_batch_entries".into()),
                    &[1.0, 10.0, 100.0, 1000.0, 5000.0, 10000.0],
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows only gauges");
        }
        describe();
        handle
    })
}

/// Records the latency of every API request by route, method and status.
pub async fn http_latency(node: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    metrics::histogram!(
        "fundsync_http_request_duration_seconds",
        "node" => node,
        "method" => method,
        "route" => route,
        "status" => res.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    res
}

/// A batch applied by `node`, `direction` "up" (received from a child) or
/// "down" (received from the parent).
pub fn batch_applied(node: &str, direction: &'static str, applied: usize, duplicates: usize) {
    let n = u64::try_from(applied).unwrap_or(u64::MAX);
    let d = u64::try_from(duplicates).unwrap_or(u64::MAX);
    metrics::counter!("fundsync_sync_entries_applied_total", "node" => node.to_owned(), "direction" => direction)
        .increment(n);
    metrics::counter!("fundsync_sync_entries_duplicate_total", "node" => node.to_owned(), "direction" => direction)
        .increment(d);
    metrics::histogram!("fundsync_sync_batch_entries", "node" => node.to_owned(), "direction" => direction)
        .record(u32::try_from(applied.saturating_add(duplicates)).map_or(f64::MAX, f64::from));
}

/// A sync error of kind `kind` (a stable error code), seen by `side`
/// ("server": a batch refused here; "client": an exchange with the parent
/// failed).
pub fn sync_error(node: &str, side: &'static str, kind: &str) {
    metrics::counter!("fundsync_sync_errors_total", "node" => node.to_owned(), "side" => side, "kind" => kind.to_owned())
        .increment(1);
}

/// An alarm raised (a fork, a foreign key).
pub fn alarm(node: &str, kind: &str) {
    metrics::counter!("fundsync_sync_alarms_total", "node" => node.to_owned(), "kind" => kind.to_owned())
        .increment(1);
}

/// A background check of the books found `problems` differences.
pub fn verified(node: &str, problems: u64) {
    metrics::gauge!("fundsync_verify_problems", "node" => node.to_owned())
        .set(u32::try_from(problems).map_or(f64::MAX, f64::from));
}

/// Help texts, shown by Prometheus and Grafana.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        "fundsync_http_request_duration_seconds",
        Unit::Seconds,
        "API and page request latency by route, method and status"
    );
    describe_counter!(
        "fundsync_sync_entries_applied_total",
        "Entries applied from sync batches (up: from children; down: from the parent)"
    );
    describe_counter!(
        "fundsync_sync_entries_duplicate_total",
        "Entries received again and skipped (redelivered batches)"
    );
    describe_histogram!(
        "fundsync_sync_batch_entries",
        "Entries per sync batch received"
    );
    describe_counter!(
        "fundsync_sync_errors_total",
        "Sync errors by kind; side=server: batches refused here, side=client: exchanges with the parent that failed"
    );
    describe_counter!(
        "fundsync_sync_alarms_total",
        "Alarms raised (fork: a different entry at a sequence number already held)"
    );
    describe_gauge!(
        "fundsync_link_entries_behind",
        "Entries this node's link to its parent has not moved yet, by direction"
    );
    describe_gauge!(
        "fundsync_link_seconds_behind",
        Unit::Seconds,
        "How long this node's link has not been caught up, by direction (this node's clock)"
    );
    describe_gauge!(
        "fundsync_link_backlog_bytes",
        Unit::Bytes,
        "Entry bytes waiting to cross this node's link, by direction"
    );
    describe_gauge!(
        "fundsync_link_consecutive_failures",
        "Failed exchanges in a row with the parent"
    );
    describe_gauge!(
        "fundsync_tree_link_state",
        "1 if the link of `link` to its parent is in `state` (ok, lagging, silent, broken), from link reports"
    );
    describe_gauge!(
        "fundsync_tree_link_seconds_behind",
        Unit::Seconds,
        "The larger of up and down seconds behind in the last report of `link`"
    );
    describe_gauge!(
        "fundsync_tree_report_age_seconds",
        Unit::Seconds,
        "Age of the last link report of `link` (this node's clock against the reporter's)"
    );
    describe_gauge!(
        "fundsync_tree_cert_expiry_timestamp_seconds",
        Unit::Seconds,
        "When the TLS certificate of `link` expires (Unix time)"
    );
    describe_gauge!(
        "fundsync_verify_problems",
        "Differences between the books and the journal at the last background check (verify_every_ms)"
    );
    describe_gauge!(
        "fundsync_warnings_open",
        "Open early warnings held by this node (its subtree), by rule"
    );
}
