//! Access tokens whose signature this container has verified. The authorizer and the session
//! check see the same access token on every request of a user for the token's whole life, and
//! its RS256 verification is most of what a decision costs besides the one session read.
//!
//! Only the signature check is remembered, under the SHA-256 of the whole token (one byte
//! changed is another token): every claim rule, expiry included, still runs on every use. A
//! verification counts only while the key set it was made with is the cached one and fresh: a
//! refetched set (a rotation, the TTL) or a stale one makes every token verify again, so a key
//! Scalekit withdraws stops being honoured exactly when it does without this memo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};

/// Claims of a token whose signature was verified.
pub type Claims = Arc<Map<String, Value>>;

/// The memo. See the module documentation.
#[derive(Debug)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    capacity: usize,
}

#[derive(Debug)]
struct Entry {
    claims: Claims,
    /// When the key set the signature was verified with was fetched (its generation).
    keys: Instant,
}

impl VerifiedTokens {
    /// At most `capacity` tokens (a few hundred bytes of claims each).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The claims of `token` if its signature was verified with the key set fetched at `keys`.
    pub fn get(&self, token: &str, keys: Instant) -> Option<Claims> {
        let key = crate::crypto::sha256(token.as_bytes());
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key)
            .filter(|entry| entry.keys == keys)
            .map(|entry| entry.claims.clone())
    }

    /// Remembers that `token`'s signature verified with the key set fetched at `keys`. When
    /// full, entries of older key sets go first; if none is, every entry does (a burst of new
    /// users costs one verification each again, never unbounded memory).
    pub fn put(&self, token: &str, claims: Claims, keys: Instant) {
        let key = crate::crypto::sha256(token.as_bytes());
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.keys == keys);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, Entry { claims, keys });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn claims(subject: &str) -> Claims {
        let mut map = Map::new();
        map.insert("sub".into(), Value::String(subject.into()));
        Arc::new(map)
    }

    #[test]
    fn a_token_is_found_by_all_of_its_bytes_only() {
        let keys = Instant::now();
        let memo = VerifiedTokens::new(8);
        memo.put("header.payload.signature", claims("usr_a"), keys);
        assert_eq!(
            memo.get("header.payload.signature", keys)
                .map(|c| c["sub"].clone()),
            Some(Value::String("usr_a".into()))
        );
        for other in [
            "header.payload.signaturf",
            "header.payloae.signature",
            "header.payload.signature.",
            "header.payload",
            "",
        ] {
            assert!(memo.get(other, keys).is_none(), "{other:?}");
        }
    }

    #[test]
    fn a_verification_counts_only_with_the_key_set_it_was_made_with() {
        let old_keys = Instant::now();
        let new_keys = old_keys + Duration::from_secs(1);
        let memo = VerifiedTokens::new(8);
        memo.put("t", claims("usr_a"), old_keys);
        assert!(memo.get("t", old_keys).is_some());
        assert!(memo.get("t", new_keys).is_none());
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let keys = Instant::now();
        let memo = VerifiedTokens::new(4);
        for n in 0..100 {
            memo.put(&format!("token-{n}"), claims("usr_a"), keys);
            assert!(memo.len() <= 4);
        }
        assert!(memo.get("token-99", keys).is_some(), "the newest is kept");
    }
}
