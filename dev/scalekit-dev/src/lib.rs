//! A local Scalekit-compatible OAuth 2.0 / OpenID Connect server for development and tests.
//!
//! It speaks the wire protocol of a Scalekit environment (`/oauth/authorize`, `/oauth/token`,
//! `/keys`, `/oidc/logout`, `/.well-known/openid-configuration`), signs RS256 tokens with keys
//! generated at start, and signs in a fixed set of [`DemoUser`]s through a small HTML page.
//! Tests drive it in-process and inject faults with [`DevScalekit::misbehave`]; the
//! `scalekit-dev` binary runs it for local development. Nothing deployed depends on it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let scalekit = scalekit_dev::DevScalekit::start().await?;
//! println!("SCALEKIT_ENVIRONMENT_URL={}", scalekit.url());
//! # Ok(()) }
//! ```
//!
//! Every authorization code redeemed starts a [`SignIn`] at the IdP (a Scalekit session, the
//! `sid` of its tokens). The Sessions API revokes sign-ins
//! (`POST /api/v1/users/{user_id}/sessions/revoke`, `POST /api/v1/sessions/{session_id}/revoke`,
//! with a client-credentials token); [`DevScalekit::end_sign_in`] ends one at the IdP and mints
//! the back-channel logout token and signed `user.logout` webhook that announce it, which
//! [`DevScalekit::deliver`] sends.
//!
//! Extra `/dev` pages (not part of Scalekit): `GET /dev` lists the demo users and the active
//! sign-ins (each with a button that ends it at the IdP through
//! `POST /dev/sign-ins/{session_id}/end`) and mints IdP-initiated login links through
//! `GET /dev/idp-initiated`; `POST /dev/sign-in` is the sign-in form's target.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod delivery;
mod jwt;
mod keys;
mod pages;
mod random;
mod routes;
mod sessions;
mod state;
mod time;
mod tokens;
mod users;
mod webhooks;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub use crate::delivery::Delivery;
use crate::keys::SigningKey;
use crate::random::random_id;
pub use crate::sessions::{EndedSignIn, SignIn};
use crate::state::{now, Grant, Shared, IDP_INITIATED_TTL_SECS};
pub use crate::users::DemoUser;
pub use crate::webhooks::{SignedWebhook, DEV_WEBHOOK_SECRET};

/// A running dev Scalekit server. Dropping it stops accepting connections (the server task is
/// aborted).
pub struct DevScalekit {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Settings for [`DevScalekit::start_with`].
#[derive(Clone)]
pub struct DevScalekitOptions {
    /// The registered client id. Default `skc_dev_client`.
    pub client_id: String,
    /// The client secret expected at the token endpoint. Default `dev-client-secret-change-me`.
    pub client_secret: String,
    /// Allowed redirect URIs, compared exactly. Empty (the default) accepts any absolute
    /// http(s) URL without a fragment.
    pub redirect_uris: Vec<String>,
    /// `expires_in` of token responses and the access token lifetime. Default 299 (Scalekit's).
    pub access_token_ttl_secs: u64,
    /// Where to listen. Default `127.0.0.1:0` (any free port).
    pub bind: SocketAddr,
    /// The `iss` of every token. Default: the server's own URL, as for a Scalekit environment.
    pub issuer: Option<String>,
    /// Where [`DevScalekit::deliver`] posts logout tokens (the dashboard's "Back channel logout
    /// URL"). Default: none.
    pub backchannel_logout_uri: Option<String>,
    /// Where [`DevScalekit::deliver`] posts webhooks. Default: none.
    pub webhook_url: Option<String>,
    /// The webhook signing secret, `whsec_` and standard base64. Default
    /// [`DEV_WEBHOOK_SECRET`].
    pub webhook_secret: String,
}

impl Default for DevScalekitOptions {
    fn default() -> Self {
        Self {
            client_id: "skc_dev_client".to_owned(),
            client_secret: "dev-client-secret-change-me".to_owned(),
            redirect_uris: Vec::new(),
            access_token_ttl_secs: 299,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            issuer: None,
            backchannel_logout_uri: None,
            webhook_url: None,
            webhook_secret: DEV_WEBHOOK_SECRET.to_owned(),
        }
    }
}

impl fmt::Debug for DevScalekitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevScalekitOptions")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("bind", &self.bind)
            .field("issuer", &self.issuer)
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secret", &"[redacted]")
            .finish()
    }
}

/// The protocol endpoints whose requests are counted by [`DevScalekit::requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /oauth/authorize`.
    Authorize,
    /// `POST /oauth/token`.
    Token,
    /// `GET /keys`.
    Keys,
    /// `GET /oidc/logout`.
    Logout,
    /// `GET /.well-known/openid-configuration`.
    Discovery,
    /// `POST /api/v1/users/{user_id}/sessions/revoke` and
    /// `POST /api/v1/sessions/{session_id}/revoke`.
    RevokeSessions,
    /// `GET /api/v1/organizations/{id}`.
    Organization,
}

/// A fault injected into token, key or management-API responses, active from [`DevScalekit::misbehave`] until
/// [`DevScalekit::clear_misbehaviour`].
///
/// Faults of different kinds combine; a second fault of the same kind replaces the first.
/// `TokenDelay` applies first, then `TokenStatus`, then `TokenNotJson`; the claim, header and
/// signature faults shape every ID or access token issued afterwards (code and refresh grants).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// The token endpoint answers with this status and JSON body (an invalid status becomes 500).
    TokenStatus(u16, Value),
    /// The token endpoint answers 200 with `<html>oops</html>` as `text/html`.
    TokenNotJson,
    /// The token endpoint sleeps this long before answering.
    TokenDelay(Duration),
    /// The management API (`/api/v1/...`: organizations, session revocations) sleeps this long
    /// before answering.
    ApiDelay(Duration),
    /// The token endpoint does its work at once (a refresh token is spent) but sends the answer
    /// only after this long: a slow network or a slow Scalekit, as a refresh-race winner sees it.
    TokenSlowResponse(Duration),
    /// The token endpoint answers 200 with a JSON body that never ends (no `Content-Length`),
    /// as fast as the client reads it.
    TokenEndlessBody,
    /// `/keys` answers 503.
    KeysDown,
    /// `/keys` answers 200 with a JSON body that never ends, as fast as the client reads it.
    KeysEndlessBody,
    /// Merged into the ID token claims; a JSON `null` removes the claim.
    IdTokenClaims(Value),
    /// Merged into the ID token header; a JSON `null` removes the member (e.g. `{"kid": null}`).
    IdTokenHeader(Value),
    /// Signs the ID token the wrong way.
    IdTokenSignature(IdTokenSigning),
    /// Merged into the access token claims; a JSON `null` removes the claim.
    AccessTokenClaims(Value),
}

/// Why [`DevScalekit::authorize_as`] ended on a page of the IdP instead of a redirect back to
/// the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInRefused {
    /// The IdP showed an error page (an unknown client or redirect URI, an unknown user, ...).
    Page {
        /// The page's title.
        title: String,
        /// What it says.
        message: String,
    },
    /// The page asked for one of the user's organizations and none was given.
    OrganizationRequired,
}

impl SignInRefused {
    fn page(title: &str, message: &str) -> Self {
        Self::Page {
            title: title.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for SignInRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Page { title, message } => write!(f, "{title}: {message}"),
            Self::OrganizationRequired => f.write_str("the IdP asked for an organization"),
        }
    }
}

impl std::error::Error for SignInRefused {}

/// How [`Misbehaviour::IdTokenSignature`] breaks the ID token signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenSigning {
    /// A correct RS256 signature with one bit flipped.
    Bad,
    /// `"alg":"none"` and an empty signature.
    None,
    /// `"alg":"HS256"`, HMAC keyed with [`DevScalekit::public_key_der`] (the key-confusion attack).
    Hs256WithPublicKey,
    /// RS256 with a fresh key that `/keys` does not publish, under the current `kid`.
    UnpublishedKey,
}

impl DevScalekit {
    /// Starts a server with [`DevScalekitOptions::default`].
    pub async fn start() -> std::io::Result<DevScalekit> {
        Self::start_with(DevScalekitOptions::default()).await
    }

    /// Starts a server on `opts.bind` with a freshly generated RSA-2048 signing key.
    /// Must be called inside a Tokio runtime; the server runs as a task of that runtime.
    ///
    /// Fails with [`std::io::ErrorKind::InvalidInput`] if the webhook secret is not `whsec_`
    /// and standard base64, or a delivery URL is not an absolute http(s) URL.
    pub async fn start_with(opts: DevScalekitOptions) -> std::io::Result<DevScalekit> {
        let invalid =
            |message: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        let webhook_key = webhooks::webhook_key(&opts.webhook_secret).map_err(invalid)?;
        for (name, value) in [
            ("backchannel_logout_uri", &opts.backchannel_logout_uri),
            ("webhook_url", &opts.webhook_url),
        ] {
            let absolute_http = |u: &str| {
                url::Url::parse(u)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            };
            if value.as_deref().is_some_and(|u| !absolute_http(u)) {
                return Err(invalid(&format!("{name} must be an absolute http(s) URL")));
            }
        }
        let listener = tokio::net::TcpListener::bind(opts.bind).await?;
        let mut addr = listener.local_addr()?;
        // A wildcard bind is reachable on loopback; a browser cannot use 0.0.0.0 as an issuer.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let base_url = format!("http://{addr}");
        let issuer = opts.issuer.clone().unwrap_or_else(|| base_url.clone());
        let key = SigningKey::generate()?;
        let shared = Arc::new(Shared::new(base_url, issuer, opts, webhook_key, key));
        let app = routes::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "dev scalekit server stopped");
            }
        });
        Ok(DevScalekit { shared, task })
    }

    /// The environment URL, `http://127.0.0.1:PORT` without a trailing slash. It is also the
    /// default issuer.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The registered client id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The client secret currently accepted.
    pub fn client_secret(&self) -> &str {
        self.shared.state().client_secret
    }

    /// Replaces the client secret (rotation): the old one now gets `invalid_client`.
    ///
    /// Each call leaks the new secret string (a few bytes, for the life of the process) so that
    /// [`Self::client_secret`] can keep returning a plain `&str`.
    pub fn set_client_secret(&self, secret: &str) {
        self.shared.state().client_secret = Box::leak(secret.to_owned().into_boxed_str());
    }

    /// Stops accepting every client-credentials access token issued so far, as when they expire:
    /// the next management-API call needs a new one.
    pub fn forget_api_tokens(&self) {
        self.shared.state().api_tokens.clear();
    }

    /// Activates a fault for every following request until [`Self::clear_misbehaviour`].
    pub fn misbehave(&self, m: Misbehaviour) {
        // Generated before taking the lock: RSA key generation takes a few milliseconds.
        let rogue = match &m {
            Misbehaviour::IdTokenSignature(IdTokenSigning::UnpublishedKey) => {
                SigningKey::generate().ok().map(Arc::new)
            }
            _ => None,
        };
        let mut st = self.shared.state();
        let faults = &mut st.faults;
        match m {
            Misbehaviour::TokenStatus(status, body) => faults.token_status = Some((status, body)),
            Misbehaviour::TokenNotJson => faults.token_not_json = true,
            Misbehaviour::TokenDelay(delay) => faults.token_delay = Some(delay),
            Misbehaviour::ApiDelay(delay) => faults.api_delay = Some(delay),
            Misbehaviour::TokenSlowResponse(delay) => faults.token_slow_response = Some(delay),
            Misbehaviour::TokenEndlessBody => faults.token_endless_body = true,
            Misbehaviour::KeysDown => faults.keys_down = true,
            Misbehaviour::KeysEndlessBody => faults.keys_endless_body = true,
            Misbehaviour::IdTokenClaims(patch) => faults.id_token_claims = Some(patch),
            Misbehaviour::IdTokenHeader(patch) => faults.id_token_header = Some(patch),
            Misbehaviour::IdTokenSignature(how) => faults.id_token_signing = Some((how, rogue)),
            Misbehaviour::AccessTokenClaims(patch) => faults.access_token_claims = Some(patch),
        }
    }

    /// Removes every injected fault.
    pub fn clear_misbehaviour(&self) {
        self.shared.state().faults = Default::default();
    }

    /// Generates a new key that signs from now on. Old keys stay published in `/keys` until
    /// [`Self::retire_old_keys`], as in a real rotation.
    pub fn rotate_signing_key(&self) {
        match SigningKey::generate() {
            Ok(key) => self.shared.state().keys.push(Arc::new(key)),
            Err(error) => tracing::error!(%error, "signing key rotation failed"),
        }
    }

    /// Stops publishing every key but the current one.
    pub fn retire_old_keys(&self) {
        let mut st = self.shared.state();
        let current = st.current_key();
        st.keys = vec![current];
    }

    /// The `kid` of the key that signs new tokens.
    pub fn current_kid(&self) -> String {
        self.shared.state().current_key().kid.clone()
    }

    /// How many requests `endpoint` has received, whatever their outcome.
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.shared.requests(endpoint)
    }

    /// Signs `claims` with RS256 and the current key, using `header` exactly as given (so a test
    /// can omit `kid` or claim another `alg`).
    pub fn sign_jwt(&self, header: Value, claims: Value) -> String {
        let key = self.shared.state().current_key();
        jwt::encode_rs256(&header, &claims, &key)
    }

    /// Signs `claims` with HMAC-SHA256 under `key`, using `header` exactly as given.
    pub fn sign_jwt_hs256(&self, header: Value, claims: Value, key: &[u8]) -> String {
        jwt::encode_hs256(&header, &claims, key)
    }

    /// The current public key as X.509 SubjectPublicKeyInfo DER (the bytes inside a
    /// `-----BEGIN PUBLIC KEY-----` PEM): the HMAC key of the HS256 key-confusion attack, and
    /// what [`IdTokenSigning::Hs256WithPublicKey`] uses.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.shared.state().current_key().public_spki_der()
    }

    /// An unsecured JWT: header `{"alg":"none","typ":"JWT"}` and an empty signature.
    pub fn unsigned_jwt(claims: Value) -> String {
        jwt::encode_unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims)
    }

    /// An `idp_initiated_login` JWT (protocol §7), signed with the current key: the given claims
    /// (absent ones omitted), `iss`, `iat`, `nbf` and `exp` = now + 300 s, and no `aud`.
    pub fn mint_idp_initiated_login(
        &self,
        organization_id: Option<&str>,
        connection_id: Option<&str>,
        login_hint: Option<&str>,
        relay_state: Option<&str>,
    ) -> String {
        mint_idp_initiated(
            &self.shared,
            organization_id,
            connection_id,
            login_hint,
            relay_state,
        )
    }

    /// Plays the user on the sign-in page, in-process: validates `authorize_url` exactly as
    /// `GET /oauth/authorize` does, signs in `user_id` as `POST /dev/sign-in` does, picking
    /// `organization` if (and only if) the page asks for one, and returns where the browser is
    /// sent back to: the redirect URI with `code` and `state`, or with an `error`.
    pub fn authorize_as(
        &self,
        authorize_url: &str,
        user_id: &str,
        organization: Option<&str>,
    ) -> Result<String, SignInRefused> {
        use routes::sign_in::{complete, Choice, Completed};

        let query = url::Url::parse(authorize_url)
            .map_err(|_| SignInRefused::page("Invalid request", "not an absolute URL"))?
            .query()
            .unwrap_or_default()
            .to_owned();
        let params = routes::Params::parse(query.as_bytes());
        let pending = match routes::authorize::begin(&self.shared, &params) {
            Ok(pending) => pending,
            Err(refusal) => return refusal.into_location(),
        };
        let mut chosen = None;
        loop {
            let choice = Choice::SignIn {
                user: Some(user_id),
                organization: chosen,
            };
            match complete(&self.shared, &pending.id, choice) {
                Ok(Completed::Redirect(location)) => return Ok(location),
                Ok(Completed::PickOrganization(..)) if chosen.is_none() => {
                    chosen = Some(organization.ok_or(SignInRefused::OrganizationRequired)?);
                }
                Ok(Completed::PickOrganization(..)) => {
                    return Err(SignInRefused::page(
                        "Organization picker",
                        "shown again after an organization was picked",
                    ))
                }
                Err(refusal) => return refusal.into_location(),
            }
        }
    }

    /// A valid refresh token for `user_id` in `organization_id`, as if the user had signed in
    /// with `openid profile email offline_access`: a fresh session id, recorded as an active
    /// [`SignIn`].
    pub fn issue_refresh_token_for(&self, user_id: &str, organization_id: &str) -> String {
        let grant = Grant {
            user_id: user_id.to_owned(),
            organization_id: Some(organization_id.to_owned()),
            scope: "openid profile email offline_access".to_owned(),
            session_id: random_id("ses_"),
            nonce: None,
        };
        let mut st = self.shared.state();
        st.start_sign_in(&grant, now());
        tokens::new_refresh_token(&mut st, &grant)
    }

    /// Revokes every refresh token of `user_id` issued so far: refreshing any of them gets
    /// `invalid_grant`.
    pub fn revoke_refresh_tokens(&self, user_id: &str) {
        self.shared
            .state()
            .refresh_tokens
            .retain(|_, r| r.grant.user_id != user_id);
    }

    /// Publishes `jwk` in `/keys` after the real keys, as given: for the conformance case of a key
    /// set holding keys a relying party cannot use (another type, encryption keys, unparseable).
    pub fn publish_extra_jwk(&self, jwk: Value) {
        self.shared.state().extra_jwks.push(jwk);
    }

    /// Every authorization code, access, ID, refresh and logout token issued so far (including
    /// client-credentials access tokens).
    pub fn issued_secrets(&self) -> Vec<String> {
        self.shared.state().issued.clone()
    }

    /// The demo users offered on the sign-in page.
    pub fn users() -> &'static [DemoUser] {
        &users::USERS
    }
}

impl Drop for DevScalekit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for DevScalekit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevScalekit")
            .field("url", &self.shared.base_url)
            .field("client_id", &self.shared.client_id)
            .finish_non_exhaustive()
    }
}

pub(crate) fn mint_idp_initiated(
    shared: &Shared,
    organization_id: Option<&str>,
    connection_id: Option<&str>,
    login_hint: Option<&str>,
    relay_state: Option<&str>,
) -> String {
    let now = now();
    let mut claims = json!({
        "iss": shared.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + IDP_INITIATED_TTL_SECS,
    });
    for (name, value) in [
        ("organization_id", organization_id),
        ("connection_id", connection_id),
        ("login_hint", login_hint),
        ("relay_state", relay_state),
    ] {
        if let Some(value) = value {
            claims[name] = json!(value);
        }
    }
    let key = shared.state().current_key();
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    jwt::encode_rs256(&header, &claims, &key)
}
