//! The monitoring files in `deploy/` against the metrics the node exports:
//! every panel that names quantiles in its title (`p50/p99`) has a query
//! for each of them, and every `fundsync_*` series the dashboard and the
//! alert rules read is one the node describes (`telemetry.rs`), so a
//! renamed metric cannot leave a panel or an alert silently empty.

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The quantiles a title names: "p50/p99" → ["0.5", "0.99"].
fn quantiles_named(title: &str) -> Vec<String> {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|w| w.strip_prefix('p'))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .map(|d| {
            let q = format!("0.{d}");
            q.trim_end_matches('0').to_owned()
        })
        .collect()
}

#[test]
fn quantile_panels_query_every_quantile_they_name() {
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/fundsync-dashboard.json")).expect("JSON");
    let panels = dash["panels"].as_array().expect("panels");
    let mut checked = 0;
    for p in panels {
        let title = p["title"].as_str().unwrap_or_default();
        let exprs: Vec<&str> = p["targets"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["expr"].as_str()).collect())
            .unwrap_or_default();
        for q in quantiles_named(title) {
            let needle = format!("histogram_quantile({q},");
            assert!(
                exprs.iter().any(|e| e.replace(' ', "").contains(&needle)),
                "panel {title:?} names the {q} quantile but has no {needle} query: {exprs:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} quantiles found in the titles");
    assert_eq!(
        quantiles_named("批大小 Batch size p50/p99"),
        ["0.5", "0.99"]
    );
}

/// Every `fundsync_…` name in `text`, with a histogram's `_bucket`,
/// `_sum` or `_count` suffix taken off.
fn series(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("fundsync_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.insert(name.to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn dashboards_and_alerts_read_metrics_the_node_exports() {
    let described = series(&read("node/src/telemetry.rs"));
    for file in [
        "deploy/grafana/fundsync-dashboard.json",
        "deploy/prometheus/alerts.yml",
    ] {
        let used = series(&read(file));
        assert!(!used.is_empty(), "{file}: no fundsync_ series");
        let unknown: Vec<_> = used.difference(&described).collect();
        assert!(
            unknown.is_empty(),
            "{file} reads {unknown:?}, which the node does not export"
        );
    }
}
