//! The up batch (`POST /sync/v1/up`, `GET /sync/v1/own`, an up bundle's
//! records): `Batch::decode` never panics, a batch it accepts re-encodes to
//! the same bytes (the encoding is canonical), and every entry body in it
//! decodes or is refused without a panic.
#![no_main]

use fundsync_protocol::{Batch, BatchLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = Batch::decode(data, &BatchLimits::default()) else {
        return;
    };
    assert_eq!(batch.encode(), data, "decode then encode changed the bytes");
    for e in &batch.entries {
        let _ = e.id();
        let _ = e.hash();
        let _ = e.decode_with_actor();
    }
});
