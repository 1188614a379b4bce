//! The login transaction: `state`, `nonce`, PKCE verifier and return path, sealed into a cookie of
//! its own per login so that two tabs can sign in at the same time.

use cookie::Cookie;
use serde::{Deserialize, Serialize};

use super::cookies::{build_cookie, TRANSACTION_COOKIE_PREFIX, TRANSACTION_MAX_AGE};
#[cfg(test)]
use crate::crypto::SealingKey;
use crate::crypto::{b64url, constant_time_eq, sha256, KeyRing, OpenError};
use crate::scalekit::LoginTransaction;
use crate::secret::{CsrfState, Nonce, PkceVerifier};

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
    pub secrets: LoginTransaction,
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

/// The cookie name for a transaction: a short digest of its `state`, so the callback can find it.
pub fn transaction_cookie_name(state: &str) -> String {
    let digest = b64url(sha256(state.as_bytes()));
    format!("{TRANSACTION_COOKIE_PREFIX}{}", &digest[..16])
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
        let plaintext = key.open_checked(value, &name).map_err(|e| match e {
            OpenError::UnknownKey => TransactionError::UnknownKey,
            OpenError::Invalid => TransactionError::Unreadable,
        })?;
        let sealed: Sealed =
            serde_json::from_slice(&plaintext).map_err(|_| TransactionError::Unreadable)?;
        if !constant_time_eq(sealed.s.as_bytes(), state.as_bytes()) {
            return Err(TransactionError::StateMismatch);
        }
        if now - sealed.t > TRANSACTION_MAX_AGE || sealed.t > now + 60 {
            return Err(TransactionError::Expired);
        }
        Ok(Self {
            secrets: LoginTransaction {
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
            secrets: LoginTransaction::new_random(),
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
            secrets: LoginTransaction::new_random(),
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
            secrets: LoginTransaction::new_random(),
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
