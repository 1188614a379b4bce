//! Server state shared by the handlers and the [`crate::DevScalekit`] handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::keys::SigningKey;
use crate::{Endpoint, IdTokenSigning};

/// How long the sign-in page may sit open before its pending authorization is forgotten.
pub(crate) const PENDING_TTL_SECS: u64 = 1800;
/// Authorization codes live about 10 minutes at Scalekit.
pub(crate) const CODE_TTL_SECS: u64 = 600;
pub(crate) const ID_TOKEN_TTL_SECS: u64 = 3600;
/// IdP-initiated login JWTs live 300 s in Scalekit's documented example.
pub(crate) const IDP_INITIATED_TTL_SECS: u64 = 300;

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) struct Shared {
    /// `http://host:port`, no trailing slash.
    pub(crate) base_url: String,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) access_token_ttl_secs: u64,
    counters: [AtomicUsize; 5],
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(
        base_url: String,
        issuer: String,
        client_id: String,
        client_secret: &'static str,
        redirect_uris: Vec<String>,
        access_token_ttl_secs: u64,
        key: SigningKey,
    ) -> Self {
        Self {
            base_url,
            issuer,
            client_id,
            redirect_uris,
            access_token_ttl_secs,
            counters: Default::default(),
            state: Mutex::new(State {
                client_secret,
                keys: vec![Arc::new(key)],
                faults: Faults::default(),
                pending: HashMap::new(),
                codes: HashMap::new(),
                used_codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                issued: Vec::new(),
                extra_jwks: Vec::new(),
            }),
        }
    }

    /// Handlers never hold this across an `.await`. A panic while holding it cannot leave the
    /// maps inconsistent in a way that matters for a dev server, so poisoning is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn count(&self, endpoint: Endpoint) {
        self.counters[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn requests(&self, endpoint: Endpoint) -> usize {
        self.counters[endpoint as usize].load(Ordering::Relaxed)
    }

    /// Exact match against the allow-list, or (with an empty list) any absolute http(s) URL
    /// without a fragment.
    pub(crate) fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if !self.redirect_uris.is_empty() {
            return self.redirect_uris.iter().any(|allowed| allowed == uri);
        }
        url::Url::parse(uri).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.has_host() && u.fragment().is_none()
        })
    }
}

pub(crate) struct State {
    pub(crate) client_secret: &'static str,
    /// Published keys, oldest first; the last one signs.
    pub(crate) keys: Vec<Arc<SigningKey>>,
    pub(crate) faults: Faults,
    pub(crate) pending: HashMap<String, PendingAuthorization>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    /// Redeemed codes and the session they started, to revoke that session's refresh tokens
    /// when a code is replayed (RFC 6749 §4.1.2).
    pub(crate) used_codes: HashMap<String, String>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    /// Every code and token ever issued, so tests can prove none of them reached a log.
    pub(crate) issued: Vec<String>,
    /// Extra entries published in `/keys` as given (keys a relying party must skip).
    pub(crate) extra_jwks: Vec<serde_json::Value>,
}

impl State {
    pub(crate) fn current_key(&self) -> Arc<SigningKey> {
        // `keys` is never empty: it starts with one key and retiring keeps the current one.
        Arc::clone(&self.keys[self.keys.len() - 1])
    }

    pub(crate) fn forget_expired(&mut self, now: u64) {
        self.pending
            .retain(|_, p| now < p.created_at + PENDING_TTL_SECS);
        self.codes.retain(|_, c| now < c.expires_at);
    }
}

/// An authorization request that passed validation and waits for the user on the sign-in page.
#[derive(Clone)]
pub(crate) struct PendingAuthorization {
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) scope: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) organization_id: Option<String>,
    pub(crate) select_account: bool,
    pub(crate) created_at: u64,
}

/// What an authorization code or refresh token stands for.
#[derive(Clone)]
pub(crate) struct Grant {
    pub(crate) user_id: String,
    pub(crate) organization_id: Option<String>,
    pub(crate) scope: String,
    pub(crate) session_id: String,
    pub(crate) nonce: Option<String>,
}

pub(crate) struct CodeGrant {
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) grant: Grant,
}

pub(crate) struct RefreshGrant {
    pub(crate) used: bool,
    pub(crate) grant: Grant,
}

/// The injected faults currently active; see [`crate::Misbehaviour`].
#[derive(Default, Clone)]
pub(crate) struct Faults {
    pub(crate) token_status: Option<(u16, Value)>,
    pub(crate) token_not_json: bool,
    pub(crate) token_delay: Option<Duration>,
    pub(crate) token_slow_response: Option<Duration>,
    pub(crate) token_endless_body: bool,
    pub(crate) keys_down: bool,
    pub(crate) keys_endless_body: bool,
    pub(crate) id_token_claims: Option<Value>,
    pub(crate) id_token_header: Option<Value>,
    pub(crate) id_token_signing: Option<(IdTokenSigning, Option<Arc<SigningKey>>)>,
    pub(crate) access_token_claims: Option<Value>,
}
