//! The login transaction: `state`, `nonce`, PKCE verifier and return path, sealed into a cookie of
//! its own per login so that two tabs can sign in at the same time.

use cookie::Cookie;
use serde::{Deserialize, Serialize};

use super::cookies::{build_cookie, TRANSACTION_COOKIE_PREFIX, TRANSACTION_MAX_AGE};
#[cfg(test)]
use crate::crypto::SealingKey;
use crate::crypto::{b64url, constant_time_eq, sha256, KeyRing, OpenError};
use crate::redacted::{CsrfState, Nonce, PkceVerifier};
use crate::scalekit::AuthorizationSecrets;

/// Why a callback's transaction could not be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// No cookie for this `state`: expired, never set, or another browser.
    #[error("no login transaction for this state")]
    Missing,
    /// The cookie did not decrypt: tampered with or sealed under another key.
    #[error("login transaction cookie is not valid")]
    Unreadable,
    /// The cookie is sealed under a session secret this container does not hold (another
    /// container read a rotated secret first): re-read the secret and try again.
    #[error("login transaction sealed under a key this container does not hold")]
    UnknownKey,
    /// The sealed state differs from the callback's.
    #[error("state mismatch")]
    StateMismatch,
    /// Older than the transaction lifetime.
    #[error("login transaction expired")]
    Expired,
}

/// One login in flight.
#[derive(Debug)]
pub struct Transaction {
    /// The secrets sent to Scalekit.
    pub secrets: AuthorizationSecrets,
    /// Where to go after login (already validated as a same-site path).
    pub return_to: Option<String>,
    /// When the login started, seconds since the epoch.
    pub created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    s: String,
    n: String,
    v: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    t: i64,
}

/// How many logins a browser may have in flight: starting one more evicts the oldest. Tabs
/// signing in side by side each keep theirs; abandoned logins cannot pile up cookies until the
/// browser's requests exceed the header limits.
pub const MAX_LIVE_TRANSACTIONS: usize = 3;

/// Length of the digest part of a transaction cookie's name.
const NAME_DIGEST_LEN: usize = 16;

/// Whether `name` has the shape of a transaction cookie's name (as [`transaction_cookie_name`]
/// makes them), so that it may be echoed back in a `Set-Cookie` that expires it.
pub fn is_transaction_cookie_name(name: &str) -> bool {
    name.strip_prefix(TRANSACTION_COOKIE_PREFIX)
        .is_some_and(|digest| {
            digest.len() == NAME_DIGEST_LEN
                && digest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The transaction cookies to expire before a new login sets its own, so that at most
/// [`MAX_LIVE_TRANSACTIONS`] remain: first those that can never complete (unreadable, expired),
/// then the oldest. One sealed under a key this container lacks (a rotation in progress) may be
/// fine elsewhere: it counts as older than every readable one, but is not evicted for itself.
pub fn transactions_to_evict<'a>(
    cookies: &[(&'a str, &str)],
    key: &KeyRing,
    now: i64,
) -> Vec<&'a str> {
    let mut evict = Vec::new();
    let mut live: Vec<(i64, &'a str)> = Vec::new();
    for &(name, value) in cookies {
        if !is_transaction_cookie_name(name) {
            continue;
        }
        match open(value, name, key) {
            Ok(sealed) if is_expired(sealed.t, now) => evict.push(name),
            Ok(sealed) => live.push((sealed.t, name)),
            Err(TransactionError::UnknownKey) => live.push((i64::MIN, name)),
            Err(_) => evict.push(name),
        }
    }
    live.sort_unstable();
    let keep = MAX_LIVE_TRANSACTIONS - 1;
    let excess = live.len().saturating_sub(keep);
    evict.extend(live.into_iter().take(excess).map(|(_, name)| name));
    evict
}

fn is_expired(created_at: i64, now: i64) -> bool {
    now - created_at > TRANSACTION_MAX_AGE || created_at > now + 60
}

/// Opens a transaction cookie's value, bound to its name.
fn open(value: &str, name: &str, key: &KeyRing) -> Result<Sealed, TransactionError> {
    let plaintext = key.open_checked(value, name).map_err(|e| match e {
        OpenError::UnknownKey => TransactionError::UnknownKey,
        OpenError::Invalid => TransactionError::Unreadable,
    })?;
    serde_json::from_slice(&plaintext).map_err(|_| TransactionError::Unreadable)
}

/// The cookie name for a transaction: a short digest of its `state`, so the callback can find it.
pub fn transaction_cookie_name(state: &str) -> String {
    let digest = b64url(sha256(state.as_bytes()));
    format!("{TRANSACTION_COOKIE_PREFIX}{}", &digest[..NAME_DIGEST_LEN])
}

impl Transaction {
    /// The `Set-Cookie` carrying this transaction, sealed with `key` and bound to its name.
    pub fn to_cookie(&self, key: &KeyRing) -> Cookie<'static> {
        let name = transaction_cookie_name(self.secrets.state.secret());
        let sealed = Sealed {
            s: self.secrets.state.secret().to_owned(),
            n: self.secrets.nonce.secret().to_owned(),
            v: self.secrets.pkce_verifier.secret().to_owned(),
            r: self.return_to.clone(),
            t: self.created_at,
        };
        let json = serde_json::to_vec(&sealed).expect("plain struct serialises");
        build_cookie(&name, &key.seal(&json, &name), TRANSACTION_MAX_AGE)
    }

    /// Recovers the transaction for the callback's `state` from the request's cookies, checking
    /// the state in constant time and the age against [`TRANSACTION_MAX_AGE`].
    pub fn from_cookies(
        cookies: &[(&str, &str)],
        state: &str,
        key: &KeyRing,
        now: i64,
    ) -> Result<Self, TransactionError> {
        let name = transaction_cookie_name(state);
        let value = cookies
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or(TransactionError::Missing)?;
        let sealed = open(value, &name, key)?;
        if !constant_time_eq(sealed.s.as_bytes(), state.as_bytes()) {
            return Err(TransactionError::StateMismatch);
        }
        if is_expired(sealed.t, now) {
            return Err(TransactionError::Expired);
        }
        Ok(Self {
            secrets: AuthorizationSecrets {
                state: CsrfState::new(sealed.s),
                nonce: Nonce::new(sealed.n),
                pkce_verifier: PkceVerifier::new(sealed.v),
            },
            return_to: sealed.r,
            created_at: sealed.t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyRing {
        SealingKey::derive(&[7u8; 32], "transaction-cookie").into()
    }

    fn round_trip(
        cookie: &Cookie<'_>,
        state: &str,
        now: i64,
    ) -> Result<Transaction, TransactionError> {
        Transaction::from_cookies(&[(cookie.name(), cookie.value())], state, &key(), now)
    }

    #[test]
    fn a_transaction_survives_the_round_trip() {
        let tx = Transaction {
            secrets: AuthorizationSecrets::new_random(),
            return_to: Some("/x".into()),
            created_at: 1000,
        };
        let cookie = tx.to_cookie(&key());
        assert!(
            !cookie.value().contains(tx.secrets.state.secret()),
            "state must be sealed"
        );
        let back = round_trip(&cookie, tx.secrets.state.secret(), 1100).unwrap();
        assert_eq!(back.secrets.nonce, tx.secrets.nonce);
        assert_eq!(back.secrets.pkce_verifier, tx.secrets.pkce_verifier);
        assert_eq!(back.return_to.as_deref(), Some("/x"));
    }

    #[test]
    fn wrong_state_missing_cookie_tampering_and_age_are_rejected() {
        let tx = Transaction {
            secrets: AuthorizationSecrets::new_random(),
            return_to: None,
            created_at: 1000,
        };
        let state = tx.secrets.state.secret().to_owned();
        let cookie = tx.to_cookie(&key());
        assert_eq!(
            round_trip(&cookie, "other-state", 1000).unwrap_err(),
            TransactionError::Missing
        );
        assert_eq!(
            round_trip(&cookie, &state, 1000 + TRANSACTION_MAX_AGE + 1).unwrap_err(),
            TransactionError::Expired
        );

        let tampered = format!("{}A", cookie.value());
        let err = Transaction::from_cookies(&[(cookie.name(), &tampered)], &state, &key(), 1000)
            .unwrap_err();
        assert_eq!(err, TransactionError::Unreadable);

        // A cookie sealed for another state, planted under this state's name, fails its AEAD context.
        let other = Transaction {
            secrets: AuthorizationSecrets::new_random(),
            return_to: None,
            created_at: 1000,
        }
        .to_cookie(&key());
        let err =
            Transaction::from_cookies(&[(cookie.name(), other.value())], &state, &key(), 1000)
                .unwrap_err();
        assert_eq!(err, TransactionError::Unreadable);
    }

    #[test]
    fn the_state_comparison_itself_rejects_a_different_state() {
        // Forge the name collision directly: seal a payload for state A under the name of state B.
        let b_name = transaction_cookie_name("state-b");
        let payload = serde_json::to_vec(&Sealed {
            s: "state-a".into(),
            n: "n".into(),
            v: "v".into(),
            r: None,
            t: 1000,
        })
        .unwrap();
        let value = key().seal(&payload, &b_name);
        let err =
            Transaction::from_cookies(&[(&b_name, &value)], "state-b", &key(), 1000).unwrap_err();
        assert_eq!(err, TransactionError::StateMismatch);
    }
}

#[cfg(test)]
mod eviction {
    use super::*;

    fn key() -> KeyRing {
        SealingKey::derive(&[7u8; 32], "transaction-cookie").into()
    }

    fn started_at(created_at: i64, key: &KeyRing) -> Cookie<'static> {
        Transaction {
            secrets: AuthorizationSecrets::new_random(),
            return_to: None,
            created_at,
        }
        .to_cookie(key)
    }

    fn evicted(cookies: &[Cookie<'static>], now: i64) -> Vec<String> {
        let pairs: Vec<_> = cookies.iter().map(|c| (c.name(), c.value())).collect();
        transactions_to_evict(&pairs, &key(), now)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn below_the_bound_nothing_is_evicted_and_past_it_the_oldest_go() {
        let cookies: Vec<_> = [1003, 1001, 1004, 1002]
            .map(|t| started_at(t, &key()))
            .into();
        assert!(
            evicted(&cookies[..2], 1010).is_empty(),
            "room for the new one"
        );
        let mut gone = evicted(&cookies, 1010);
        gone.sort();
        let mut oldest = vec![cookies[1].name().to_owned(), cookies[3].name().to_owned()];
        oldest.sort();
        assert_eq!(gone, oldest, "two stay, with the new one three");
    }

    #[test]
    fn unreadable_and_expired_ones_go_first_and_foreign_cookies_are_never_touched() {
        let live = started_at(1000, &key());
        let expired = started_at(1000 - TRANSACTION_MAX_AGE - 1, &key());
        let tampered = Cookie::new(
            format!("{TRANSACTION_COOKIE_PREFIX}{}", "A".repeat(16)),
            "garbage",
        );
        let foreign = Cookie::new("theme", "dark");
        let look_alike = Cookie::new(format!("{TRANSACTION_COOKIE_PREFIX}x;y"), "v");
        let gone = evicted(
            &[
                live.clone(),
                expired.clone(),
                tampered.clone(),
                foreign,
                look_alike,
            ],
            1000,
        );
        assert!(gone.contains(&expired.name().to_owned()));
        assert!(gone.contains(&tampered.name().to_owned()), "{gone:?}");
        assert_eq!(gone.len(), 2, "{gone:?}");
    }

    #[test]
    fn one_sealed_under_a_key_we_lack_counts_as_oldest_but_is_kept_while_there_is_room() {
        let other: KeyRing = SealingKey::derive(&[9u8; 32], "transaction-cookie").into();
        let rotated = started_at(1005, &other);
        let newer = started_at(1001, &key());
        assert!(evicted(&[rotated.clone(), newer.clone()], 1010).is_empty());
        let newest = started_at(1002, &key());
        assert_eq!(
            evicted(&[rotated.clone(), newer, newest], 1010),
            vec![rotated.name().to_owned()]
        );
    }

    #[test]
    fn only_names_we_make_are_transaction_cookie_names() {
        assert!(is_transaction_cookie_name(&transaction_cookie_name("s")));
        for name in [
            "__Host-sk_txn_",
            "__Host-sk_txn_short",
            "__Host-sk_txn_0123456789abcde;",
            "sk_txn_0123456789abcdef",
            "__Host-sk_session",
        ] {
            assert!(!is_transaction_cookie_name(name), "{name}");
        }
    }
}

#[cfg(test)]
mod hostile_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_cookies_never_open_or_panic(name_suffix in "[A-Za-z0-9_-]{0,20}", value in "\\PC{0,300}", state in "\\PC{0,80}") {
            let key: KeyRing = SealingKey::derive(&[3u8; 32], "transaction-cookie").into();
            let name = format!("{TRANSACTION_COOKIE_PREFIX}{name_suffix}");
            let derived = transaction_cookie_name(&state);
            let cookies = [(name.as_str(), value.as_str()), (derived.as_str(), value.as_str())];
            prop_assert!(Transaction::from_cookies(&cookies, &state, &key, 1_000).is_err());
        }
    }
}
