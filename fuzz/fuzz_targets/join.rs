//! Enrolment: the token an operator pastes (`fundsync join --token`), the
//! join request a would-be child posts (`POST /sync/v1/join`, JSON with
//! CSRs) and the answer a child reads from its parent. None of their
//! decoders panics; a token that parses prints back as itself; a request's
//! CSRs are signed or refused by a real root CA.
#![no_main]

use std::sync::OnceLock;

use fundsync_node::pki::{self, Issuer};
use fundsync_node::sync::enroll::{self, JoinRequest, JoinResponse, Token};
use libfuzzer_sys::fuzz_target;

/// 2024-01-01, well inside the root's validity.
const NOW_MS: i64 = 1_704_067_200_000;

fn root() -> &'static Issuer {
    static ROOT: OnceLock<Issuer> = OnceLock::new();
    ROOT.get_or_init(|| {
        let code = "650000".parse().expect("a node code");
        let (cert, key) = pki::root_ca(code, "新疆维吾尔自治区", NOW_MS, 3660).expect("a root CA");
        Issuer::from_pem(&cert, &key).expect("the root CA loads")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(token) = text.parse::<Token>() {
            assert_eq!(token.to_string().parse::<Token>().ok(), Some(token));
        }
        let _ = pki::fingerprint(text);
    }
    if let Ok(req) = serde_json::from_slice::<JoinRequest>(data) {
        if enroll::read_join(&req).is_ok() {
            let issuer = root();
            let _ = issuer.issue_leaf(req.child, &req.csr_pem, NOW_MS, 30);
            if let Some(csr) = &req.issuer_csr_pem {
                let _ = issuer.issue_intermediate(req.child, csr, NOW_MS, 30);
            }
        }
    }
    if let Ok(answer) = serde_json::from_slice::<JoinResponse>(data) {
        let _ = enroll::parent_keys(&answer);
        let _ = pki::fingerprint(&answer.root_pem);
        let _ = pki::fingerprint(&answer.chain_pem);
    }
});
