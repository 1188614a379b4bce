//! Random identifiers and secrets.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::jwt::b64;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system CSPRNG only fails if the OS has no entropy source at all; a zero-filled value
    // would still be unique enough for a dev server and is better than taking the server down.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
}

/// An unguessable opaque value (256 bits, base64url): codes, refresh tokens, pending ids.
pub(crate) fn random_token() -> String {
    b64(&random_bytes::<32>())
}

/// A Scalekit-style identifier: `prefix` followed by 128 random bits in hex.
pub(crate) fn random_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for b in random_bytes::<16>() {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// A Scalekit-style numeric identifier (`evt_102708230123160586`): `prefix` and 18 random
/// digits, within the 32 characters Scalekit allows an event id.
pub(crate) fn random_numeric_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 18);
    id.push_str(prefix);
    for b in random_bytes::<18>() {
        id.push(char::from(b'0' + b % 10));
    }
    id
}
