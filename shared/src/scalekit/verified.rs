//! Access tokens whose signature this container has verified. The authorizer and the session
//! check see the same access token on every request of a user for the token's whole life, and
//! its RS256 verification is most of what a decision costs besides the one session read.
//!
//! Only the signature check is remembered, under the SHA-256 of the whole token (one byte
//! changed is another token): every claim rule, expiry included, still runs on every use. An
//! entry is kept no longer than the signing keys it was verified with are trusted without a
//! refetch (the key cache's TTL), so a key Scalekit withdraws stops being honoured as soon as it
//! does without this memo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Claims of a token whose signature was verified.
pub type Claims = Arc<Map<String, Value>>;

/// The memo. See the module documentation.
#[derive(Debug)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    capacity: usize,
    max_age: Duration,
}

#[derive(Debug)]
struct Entry {
    claims: Claims,
    verified_at: Instant,
}

impl VerifiedTokens {
    /// At most `capacity` tokens (a few hundred bytes of claims each), each for at most `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
            max_age,
        }
    }

    /// The claims of `token` if its signature was verified within the maximum age.
    pub fn get(&self, token: &str) -> Option<Claims> {
        let key = crate::crypto::sha256(token.as_bytes());
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key)
            .filter(|entry| entry.verified_at.elapsed() < self.max_age)
            .map(|entry| entry.claims.clone())
    }

    /// Remembers that `token`'s signature verified, with its claims. When full, entries past the
    /// maximum age go first; if none has, every entry does (a burst of new users costs one
    /// verification each again, never unbounded memory).
    pub fn put(&self, token: &str, claims: Claims) {
        let key = crate::crypto::sha256(token.as_bytes());
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.verified_at.elapsed() < self.max_age);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                claims,
                verified_at: Instant::now(),
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(subject: &str) -> Claims {
        let mut map = Map::new();
        map.insert("sub".into(), Value::String(subject.into()));
        Arc::new(map)
    }

    #[test]
    fn a_token_is_found_by_all_of_its_bytes_only() {
        let memo = VerifiedTokens::new(8, Duration::from_secs(60));
        memo.put("header.payload.signature", claims("usr_a"));
        assert_eq!(
            memo.get("header.payload.signature")
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
            assert!(memo.get(other).is_none(), "{other:?}");
        }
    }

    #[test]
    fn an_entry_is_not_used_past_its_maximum_age() {
        let memo = VerifiedTokens::new(8, Duration::from_millis(30));
        memo.put("t", claims("usr_a"));
        assert!(memo.get("t").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(memo.get("t").is_none());
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let memo = VerifiedTokens::new(4, Duration::from_secs(60));
        for n in 0..100 {
            memo.put(&format!("token-{n}"), claims("usr_a"));
            assert!(memo.len() <= 4);
        }
        assert!(memo.get("token-99").is_some(), "the newest is kept");
    }
}
