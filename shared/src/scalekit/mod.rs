//! A strict client for Scalekit's OAuth 2.0 / OpenID Connect endpoints.
//!
//! Built once per container and shared by reference: it holds one HTTP connection pool and the
//! signing-key cache. Unlike Scalekit's SDKs it verifies every ID token (signature, `iss`, `aud`,
//! `exp`, `iat`, `nonce`, `sub`) and refetches signing keys when Scalekit rotates them.

mod authorize;
mod body;
mod claims;
mod error;
mod jwks;
mod jwt;
mod management;
mod rules;
mod token;
mod verified;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use authorize::{
    pkce_challenge, AuthorizationRequest, AuthorizationSecrets, Prompt, DEFAULT_SCOPES,
};
pub use claims::{AccessTokenClaims, IdTokenClaims, IdpInitiatedLogin, LogoutToken, User};
pub use error::{IdpError, OAuthError, TokenError};
pub use rules::{LEEWAY_SECS, LOGOUT_TOKEN_MAX_AGE};
pub use token::{CodeTokens, TokenSet};

use jwks::JwksCache;
use jwt::UnverifiedJwt;
use rules::Expectations;
use verified::VerifiedTokens;

use crate::redacted::{
    AccessToken, AuthorizationCode, ClientSecret, IdToken, Nonce, PkceVerifier, RefreshToken,
};

/// How to reach and trust one Scalekit environment.
#[derive(Debug, Clone)]
pub struct ScalekitSettings {
    /// `SCALEKIT_ENVIRONMENT_URL`; a trailing `/` is removed.
    pub environment_url: String,
    /// `SCALEKIT_CLIENT_ID`.
    pub client_id: String,
    /// The `iss` values tokens may carry, each compared exactly (`SCALEKIT_ISSUER`: a custom
    /// domain, or both it and the environment URL during a migration); defaults to the
    /// environment URL.
    pub issuers: Vec<String>,
    /// Total time allowed for one call to Scalekit (connect included).
    pub request_timeout: Duration,
    /// How long fetched signing keys are trusted before a background-free refetch on next use.
    pub keys_ttl: Duration,
    /// Minimum time between key refetches caused by unknown `kid`s.
    pub keys_min_refetch_interval: Duration,
}

impl ScalekitSettings {
    /// Settings with this product's defaults: 5 s per request, keys trusted for 15 minutes,
    /// at most one unknown-`kid` refetch every 10 seconds.
    pub fn new(environment_url: &str, client_id: &str) -> Self {
        Self {
            environment_url: environment_url.to_owned(),
            client_id: client_id.to_owned(),
            issuers: Vec::new(),
            request_timeout: Duration::from_secs(5),
            keys_ttl: Duration::from_secs(15 * 60),
            keys_min_refetch_interval: Duration::from_secs(10),
        }
    }
}

/// The Scalekit client. See the module documentation.
#[derive(Debug)]
pub struct ScalekitClient {
    environment_url: String,
    issuers: Vec<String>,
    client_id: String,
    token_url: String,
    http: reqwest::Client,
    keys: JwksCache,
    management_token: management::TokenCache,
    organization_names: management::NameCache,
    verified_access_tokens: VerifiedTokens,
}

/// Access tokens whose verified signature a container remembers (see [`verified`]): enough for
/// the users one container serves within a key-cache TTL, a few hundred KB at most.
const VERIFIED_ACCESS_TOKENS: usize = 512;

#[doc(hidden)]
pub fn fuzz_parse_jwt(token: &str) -> bool {
    UnverifiedJwt::parse(token).is_ok()
}

/// The current time as seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl ScalekitClient {
    /// Builds the client; no network call is made until a method needs one.
    pub fn new(settings: ScalekitSettings) -> Result<Self, reqwest::Error> {
        let environment_url = settings.environment_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::scalekit_client_config())
            // Following redirects from the IdP's back channel would open the client to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("scalekit-lambda-login/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            issuers: if settings.issuers.is_empty() {
                vec![environment_url.clone()]
            } else {
                settings.issuers
            },
            client_id: settings.client_id,
            token_url: format!("{environment_url}/oauth/token"),
            keys: JwksCache::new(
                format!("{environment_url}/keys"),
                settings.keys_ttl,
                settings.keys_min_refetch_interval,
            ),
            http,
            environment_url,
            management_token: management::TokenCache::default(),
            organization_names: management::NameCache::default(),
            verified_access_tokens: VerifiedTokens::new(VERIFIED_ACCESS_TOKENS),
        })
    }

    /// The environment URL without a trailing slash.
    pub fn environment_url(&self) -> &str {
        &self.environment_url
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `ENV/oauth/authorize?...` for this request, parameters in the Node SDK's order.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        request: &AuthorizationRequest<'_>,
    ) -> String {
        authorize::authorization_url(
            &self.environment_url,
            &self.client_id,
            redirect_uri,
            request,
        )
    }

    /// `ENV/oidc/logout?...`: where the browser goes to end the Scalekit session too.
    pub fn logout_url(
        &self,
        id_token_hint: Option<&IdToken>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> String {
        let mut url = format!("{}/oidc/logout", self.environment_url);
        authorize::append_query(
            &mut url,
            &[
                ("id_token_hint", id_token_hint.map(IdToken::secret)),
                ("post_logout_redirect_uri", post_logout_redirect_uri),
                ("state", state),
            ],
        );
        url
    }

    /// Exchanges an authorization code (`client_secret_post` with the PKCE verifier).
    /// The answer must include an ID token; verify it with [`ScalekitClient::verify_id_token`].
    pub async fn exchange_code(
        &self,
        secret: &ClientSecret,
        code: &AuthorizationCode,
        redirect_uri: &str,
        verifier: &PkceVerifier,
    ) -> Result<CodeTokens, IdpError> {
        let tokens = token::request(
            &self.http,
            &self.token_url,
            &[
                ("code", code.secret()),
                ("redirect_uri", redirect_uri),
                ("grant_type", "authorization_code"),
                ("client_id", &self.client_id),
                ("client_secret", secret.secret()),
                ("code_verifier", verifier.secret()),
            ],
        )
        .await?;
        tokens.try_into()
    }

    /// Uses a refresh token. Scalekit invalidates it and returns a new one.
    pub async fn refresh(
        &self,
        secret: &ClientSecret,
        refresh_token: &RefreshToken,
    ) -> Result<TokenSet, IdpError> {
        token::request(
            &self.http,
            &self.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.client_id),
                ("client_secret", secret.secret()),
                ("refresh_token", refresh_token.secret()),
            ],
        )
        .await
    }

    /// Revokes every Scalekit session of `user_id` (Sessions API). Returns how many sessions
    /// Scalekit revoked.
    pub async fn revoke_user_sessions(
        &self,
        secret: &ClientSecret,
        user_id: &str,
    ) -> Result<u64, IdpError> {
        self.with_management_token(secret, |token| async move {
            management::revoke_user_sessions(&self.http, &self.environment_url, &token, user_id)
                .await
        })
        .await
    }

    /// The display name of an organization, when Scalekit has one (kept for 15 minutes).
    pub async fn organization_name(
        &self,
        secret: &ClientSecret,
        organization_id: &str,
    ) -> Result<Option<String>, IdpError> {
        if let Some(name) = self.organization_names.get(organization_id) {
            return Ok(name);
        }
        let name = self
            .with_management_token(secret, |token| async move {
                management::organization_name(
                    &self.http,
                    &self.environment_url,
                    &token,
                    organization_id,
                )
                .await
            })
            .await?;
        self.organization_names.put(organization_id, name.clone());
        Ok(name)
    }

    /// Remembers for a while that `organization_id`'s name could not be read, so that the next
    /// pages show its id without asking again.
    pub fn organization_name_unavailable(&self, organization_id: &str) {
        self.organization_names.put_failed(organization_id);
    }

    /// Runs one management-API call with the client-credentials token, cached until it expires;
    /// a token Scalekit no longer accepts is replaced once.
    async fn with_management_token<T, F, Fut>(
        &self,
        secret: &ClientSecret,
        call: F,
    ) -> Result<T, IdpError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<management::Answer<T>, IdpError>>,
    {
        for _attempt in 0..2 {
            let token = self
                .management_token
                .token(&self.http, &self.token_url, &self.client_id, secret)
                .await?;
            match call(token).await? {
                Some(answer) => return Ok(answer),
                None => self.management_token.forget().await,
            }
        }
        Err(IdpError::Status { status: 401 })
    }

    /// Verifies an ID token: RS256 signature by `kid`, `iss`, `aud`/`azp`, `exp`, `iat`, `nbf`,
    /// `sub`, and `nonce` when one was sent.
    pub async fn verify_id_token(
        &self,
        token: &IdToken,
        nonce: Option<&Nonce>,
    ) -> Result<IdTokenClaims, TokenError> {
        let rules = Expectations::id_token(&self.issuers, &self.client_id, nonce);
        let claims = self.verify(token.secret(), &rules).await?;
        Ok(IdTokenClaims::from_claims(&claims))
    }

    /// Verifies an ID token obtained by refresh and checks it belongs to the session's user
    /// (OpenID Connect Core §12.2; the issuer is already checked exactly by verification).
    pub async fn verify_refreshed_id_token(
        &self,
        token: &IdToken,
        original_subject: &str,
    ) -> Result<IdTokenClaims, TokenError> {
        let claims = self.verify_id_token(token, None).await?;
        if claims.user.id != original_subject {
            return Err(TokenError::SubjectChanged);
        }
        Ok(claims)
    }

    /// Verifies an access token issued to this client. Its signature is verified once per
    /// container and key set (the same token comes with every request of its user); its claims,
    /// expiry included, on every call.
    pub async fn verify_access_token(
        &self,
        token: &AccessToken,
    ) -> Result<AccessTokenClaims, TokenError> {
        let rules = Expectations::access_token(&self.issuers, &self.client_id);
        // Read before verifying: a verification that refetched the keys is remembered under the
        // set it found, which is then no longer current, so it is not used.
        let keys = self.keys.fresh_since();
        let remembered =
            keys.and_then(|keys| self.verified_access_tokens.get(token.secret(), keys));
        let claims = match remembered {
            Some(claims) => {
                rules::check(&claims, &rules, unix_now())?;
                claims
            }
            None => {
                let claims = std::sync::Arc::new(self.verify(token.secret(), &rules).await?);
                if let Some(keys) = keys {
                    self.verified_access_tokens
                        .put(token.secret(), claims.clone(), keys);
                }
                claims
            }
        };
        Ok(AccessTokenClaims::from_claims(&claims))
    }

    /// Verifies an `idp_initiated_login` token: signature, `iss`, `exp` (it carries no `aud`).
    pub async fn verify_idp_initiated_login(
        &self,
        token: &str,
    ) -> Result<IdpInitiatedLogin, TokenError> {
        let rules = Expectations::idp_initiated_login(&self.issuers);
        let claims = self.verify(token, &rules).await?;
        Ok(IdpInitiatedLogin::from_claims(&claims))
    }

    /// Verifies an OIDC Back-Channel Logout 1.0 logout token (signature by `kid`, with the same
    /// key refetch as every token; `iss`, `aud`, `iat` recent, `exp` when present, `events`,
    /// `sid` or `sub`, `jti`, no `nonce`). Whether its `jti` was seen before is the caller's to
    /// check.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutToken, TokenError> {
        let rules = Expectations::logout_token(&self.issuers, &self.client_id);
        let claims = self.verify(token, &rules).await?;
        Ok(LogoutToken::from_claims(&claims))
    }

    /// Loads the signing keys now, so the first login of a container does not wait for them.
    pub async fn prefetch_keys(&self) -> Result<(), TokenError> {
        self.keys.ensure_loaded(&self.http).await
    }

    /// The claims of an ID token this product verified before storing it in a session. The store
    /// seals tokens with AEAD, so the token is known unchanged; never use this on request input.
    pub fn claims_of_stored_id_token(token: &IdToken) -> Option<IdTokenClaims> {
        let payload = token.secret().split('.').nth(1)?;
        let bytes = crate::crypto::b64url_decode(payload)?;
        let claims = serde_json::from_slice(&bytes).ok()?;
        Some(IdTokenClaims::from_claims(&claims))
    }

    async fn verify(
        &self,
        token: &str,
        rules: &Expectations<'_>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
        let jwt = UnverifiedJwt::parse(token)?;
        let key = self.keys.key_for(&self.http, jwt.kid.as_deref()).await?;
        jwt.verify_signature(&key)?;
        rules::check(&jwt.claims, rules, unix_now())?;
        Ok(jwt.claims)
    }
}
