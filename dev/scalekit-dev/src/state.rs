//! Server state shared by the handlers and the [`crate::DevScalekit`] handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::keys::SigningKey;
use crate::{DevScalekitOptions, Endpoint, IdTokenSigning, SignIn};

/// How long the sign-in page may sit open before its pending authorization is forgotten.
pub(crate) const PENDING_TTL_SECS: u64 = 1800;
/// Authorization codes live about 10 minutes at Scalekit.
pub(crate) const CODE_TTL_SECS: u64 = 600;
pub(crate) const ID_TOKEN_TTL_SECS: u64 = 3600;
/// IdP-initiated login JWTs live 300 s in Scalekit's documented example.
pub(crate) const IDP_INITIATED_TTL_SECS: u64 = 300;
/// Client-credentials access tokens: Scalekit answers `expires_in` 86399.
pub(crate) const API_TOKEN_TTL_SECS: u64 = 86399;
/// Logout tokens are short-lived: they are delivered at once (OIDC Back-Channel Logout §2.4).
pub(crate) const LOGOUT_TOKEN_TTL_SECS: u64 = 120;

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
    /// Where [`crate::DevScalekit::deliver`] posts logout tokens, if anywhere.
    pub(crate) backchannel_logout_uri: Option<String>,
    /// Where [`crate::DevScalekit::deliver`] posts webhooks, if anywhere.
    pub(crate) webhook_url: Option<String>,
    /// The configured `whsec_...` secret, as given.
    pub(crate) webhook_secret: String,
    /// Its HMAC key: the base64-decoded part after `whsec_`.
    pub(crate) webhook_key: Vec<u8>,
    /// The HTTP client of deliveries, built on first use (or why it could not be).
    pub(crate) http: OnceLock<Result<reqwest::Client, String>>,
    counters: [AtomicUsize; 7],
    state: Mutex<State>,
}

impl Shared {
    /// `opts.issuer` and `opts.bind` are already resolved into `issuer` and `base_url`;
    /// `webhook_key` is the decoded `opts.webhook_secret`.
    pub(crate) fn new(
        base_url: String,
        issuer: String,
        opts: DevScalekitOptions,
        webhook_key: Vec<u8>,
        key: SigningKey,
    ) -> Self {
        Self {
            base_url,
            issuer,
            client_id: opts.client_id,
            redirect_uris: opts.redirect_uris,
            access_token_ttl_secs: opts.access_token_ttl_secs,
            backchannel_logout_uri: opts.backchannel_logout_uri,
            webhook_url: opts.webhook_url,
            webhook_secret: opts.webhook_secret,
            webhook_key,
            http: OnceLock::new(),
            counters: Default::default(),
            state: Mutex::new(State {
                client_secret: Box::leak(opts.client_secret.into_boxed_str()),
                keys: vec![Arc::new(key)],
                faults: Faults::default(),
                pending: HashMap::new(),
                codes: HashMap::new(),
                used_codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                issued: Vec::new(),
                extra_jwks: Vec::new(),
                sign_ins: Vec::new(),
                api_tokens: HashMap::new(),
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
    /// Active sign-ins at the IdP, oldest first.
    pub(crate) sign_ins: Vec<SignIn>,
    /// Client-credentials access tokens and their `exp`: the Bearer tokens the Sessions API
    /// accepts.
    pub(crate) api_tokens: HashMap<String, u64>,
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
        self.api_tokens.retain(|_, exp| now < *exp);
    }

    /// Records the sign-in at the IdP that `grant` belongs to (once per session).
    pub(crate) fn start_sign_in(&mut self, grant: &Grant, now: u64) {
        if self
            .sign_ins
            .iter()
            .any(|s| s.session_id == grant.session_id)
        {
            return;
        }
        self.sign_ins.push(SignIn {
            session_id: grant.session_id.clone(),
            user_id: grant.user_id.clone(),
            organization_id: grant.organization_id.clone(),
            created_at: now,
        });
    }

    /// Ends every active sign-in that `ends` selects and invalidates the refresh tokens of their
    /// sessions; returns the sign-ins ended, oldest first.
    pub(crate) fn end_sign_ins(&mut self, ends: impl Fn(&SignIn) -> bool) -> Vec<SignIn> {
        let (ended, active) = std::mem::take(&mut self.sign_ins)
            .into_iter()
            .partition::<Vec<_>, _>(|s| ends(s));
        self.sign_ins = active;
        for sign_in in &ended {
            self.revoke_session(&sign_in.session_id);
        }
        ended
    }

    /// Invalidates every refresh token of `session_id`.
    pub(crate) fn revoke_session(&mut self, session_id: &str) {
        self.refresh_tokens
            .retain(|_, r| r.grant.session_id != session_id);
    }

    /// Whether `token` is a client-credentials access token issued here that has not expired.
    pub(crate) fn api_token_valid(&self, token: &str, now: u64) -> bool {
        self.api_tokens.get(token).is_some_and(|exp| now < *exp)
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
    pub(crate) api_delay: Option<Duration>,
    pub(crate) token_slow_response: Option<Duration>,
    pub(crate) token_endless_body: bool,
    pub(crate) keys_down: bool,
    pub(crate) keys_endless_body: bool,
    pub(crate) id_token_claims: Option<Value>,
    pub(crate) id_token_header: Option<Value>,
    pub(crate) id_token_signing: Option<(IdTokenSigning, Option<Arc<SigningKey>>)>,
    pub(crate) access_token_claims: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevScalekitOptions;

    fn shared() -> Shared {
        let key = SigningKey::generate().expect("key");
        let opts = DevScalekitOptions::default();
        Shared::new("http://h".into(), "http://h".into(), opts, vec![1], key)
    }

    fn grant(user: &str, session: &str) -> Grant {
        Grant {
            user_id: user.to_owned(),
            organization_id: None,
            scope: "openid offline_access".to_owned(),
            session_id: session.to_owned(),
            nonce: None,
        }
    }

    #[test]
    fn api_tokens_stop_working_when_they_expire_and_are_then_forgotten() {
        let shared = shared();
        let mut st = shared.state();
        st.api_tokens.insert("t".to_owned(), 100);
        assert!(st.api_token_valid("t", 99));
        assert!(!st.api_token_valid("t", 100));
        assert!(!st.api_token_valid("other", 0));
        st.forget_expired(100);
        assert!(st.api_tokens.is_empty());
    }

    #[test]
    fn ending_sign_ins_keeps_the_others_and_their_refresh_tokens() {
        let shared = shared();
        let mut st = shared.state();
        for (user, session) in [("usr_a", "ses_1"), ("usr_b", "ses_2"), ("usr_a", "ses_3")] {
            let grant = grant(user, session);
            st.start_sign_in(&grant, 1);
            st.start_sign_in(&grant, 2);
            st.refresh_tokens
                .insert(format!("rt_{session}"), RefreshGrant { used: false, grant });
        }
        assert_eq!(st.sign_ins.len(), 3, "one sign-in per session");
        let ended = st.end_sign_ins(|s| s.user_id == "usr_a");
        let ended: Vec<&str> = ended.iter().map(|s| s.session_id.as_str()).collect();
        assert_eq!(ended, ["ses_1", "ses_3"]);
        assert_eq!(st.sign_ins.len(), 1);
        assert_eq!(st.sign_ins[0].created_at, 1);
        let mut left: Vec<&String> = st.refresh_tokens.keys().collect();
        left.sort();
        assert_eq!(left, ["rt_ses_2"]);
    }
}
