//! A `Cookie` header and a callback `state` from an attacker: parsing and unsealing must never
//! panic, and nothing not sealed by our key may ever open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::crypto::{KeyRing, SealingKey};
use shared::http::request_cookies;
use shared::session::Transaction;

fuzz_target!(|input: (&str, &str)| {
    let (header, state) = input;
    let request = lambda_http::http::Request::builder()
        .header("cookie", header)
        .body(lambda_http::Body::Empty);
    let Ok(request) = request else { return };
    let key: KeyRing = SealingKey::derive(&[9u8; 32], "transaction-cookie").into();
    let cookies = request_cookies(&request);
    assert!(Transaction::from_cookies(&cookies, state, &key, 1_800_000_000).is_err());
});
