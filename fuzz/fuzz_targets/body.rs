//! Entry bodies, per kind (what every batch carries and every node stores):
//! the first byte picks the kind (or, past the kinds, an unknown one), the
//! rest is the body. `Body::decode` never panics; a body it accepts
//! re-encodes to bytes that decode to the same body and actor; the readers
//! of stored bytes (`actor_of`, `inner_bytes`) never panic either.
#![no_main]

use fundsync_protocol::body::{actor_of, inner_bytes};
use fundsync_protocol::{Actor, Body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let kind = Body::KINDS
        .get(usize::from(pick) % (Body::KINDS.len() + 1))
        .copied()
        .unwrap_or("no_such_kind");
    let _ = actor_of(bytes);
    let _ = inner_bytes(bytes);
    let Ok((body, actor)) = Body::decode(kind, bytes) else {
        return;
    };
    assert_eq!(body.kind(), kind);
    let _ = body.down_to("650000".parse().expect("a node code"));
    let actor = actor.unwrap_or_else(Actor::system);
    let again = body.encode(&actor);
    assert_eq!(
        Body::decode(kind, &again),
        Ok((body, Some(actor))),
        "re-encoded as {}",
        String::from_utf8_lossy(&again)
    );
});
