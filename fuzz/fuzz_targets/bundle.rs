//! Offline bundles (`fundsync bundle import FILE`, and the position file of
//! `bundle export --since`): `bundle::read` never panics, and a bundle it
//! accepts is exactly the framing of its batches, re-encoded.
#![no_main]

use fundsync_node::ledger::replica::Incoming;
use fundsync_node::sync::bundle::{self, Position};
use fundsync_node::sync::SyncLimits;
use fundsync_protocol::NodeCode;
use libfuzzer_sys::fuzz_target;

fn code(s: &str) -> NodeCode {
    s.parse().expect("a node code")
}

fn limits() -> SyncLimits {
    SyncLimits {
        batch_entries_max: 1000,
        batch_bytes_max: 1 << 20,
        pull_wait_ms: 0,
        retry_base_ms: 0,
        retry_max_ms: 0,
        enroll_token_ms: 0,
        health_report_ms: 0,
        connections_max: 0,
        handshake_timeout_ms: 0,
        accept_retry_ms: 0,
        pull_wait_max_ms: 0,
        pull_poll_ms: 0,
        pull_answer_slack_ms: 0,
        push_poll_ms: 0,
        connect_timeout_ms: 0,
        request_timeout_ms: 0,
        idle_close_ms: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    // The seeds' tree: region 650000, prefecture 652800, counties below.
    let parent = Some(code("650000"));
    let children = [code("652822"), code("652823"), code("652801")];
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Position::parse(text, code("652800"));
    }
    let Ok(batches) = bundle::read(&mut &data[..], &limits(), parent, &children) else {
        return;
    };
    let mut again = bundle::MAGIC.to_vec();
    for b in &batches {
        let bytes = match b {
            Incoming::Up(b) => b.encode(),
            Incoming::Down(b) => b.encode(),
        };
        let len = u32::try_from(bytes.len()).expect("a batch within the limit");
        again.extend_from_slice(&len.to_be_bytes());
        again.extend_from_slice(&bytes);
    }
    assert_eq!(again, data, "the bundle's batches re-encode to other bytes");
});
