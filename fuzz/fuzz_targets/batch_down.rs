//! The down batch (`GET /sync/v1/down`, a down bundle's records):
//! `DownBatch::decode` never panics, a batch it accepts re-encodes to the
//! same bytes, and its entries' bodies decode or are refused without a
//! panic.
#![no_main]

use fundsync_protocol::{BatchLimits, DownBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = DownBatch::decode(data, &BatchLimits::default()) else {
        return;
    };
    assert_eq!(batch.encode(), data, "decode then encode changed the bytes");
    let _ = batch.last_down_seq();
    let _ = batch.checkpoint.checkpoint.state();
    let _ = batch.checkpoint.checkpoint.signing_bytes();
    for e in &batch.entries {
        let _ = e.hash();
        let _ = e.decode_with_actor();
    }
});
