//! Scalekit's management API, as far as this product uses it: revoking every session of a user
//! ("sign out everywhere"), with a client-credentials access token from the token endpoint,
//! cached until shortly before it expires.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::body::read_capped;
use super::error::IdpError;
use super::token;
use crate::redacted::{AccessToken, ClientSecret};

/// A cached token is not used in its last minute.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// The revoke answer is small JSON.
const MAX_BODY: usize = 64 * 1024;

/// The client-credentials token, while it lasts.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    cached: tokio::sync::Mutex<Option<(AccessToken, Instant)>>,
}

impl TokenCache {
    /// The cached token, or a new one from the token endpoint.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        token_url: &str,
        client_id: &str,
        secret: &ClientSecret,
    ) -> Result<AccessToken, IdpError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, good_until)) = cached.as_ref() {
            if Instant::now() < *good_until {
                return Ok(token.clone());
            }
        }
        let tokens = token::request(
            http,
            token_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret.secret()),
            ],
        )
        .await?;
        let lifetime = Duration::from_secs(tokens.expires_in).saturating_sub(EXPIRY_MARGIN);
        *cached = Some((tokens.access_token.clone(), Instant::now() + lifetime));
        Ok(tokens.access_token)
    }

    /// Forgets the token (Scalekit no longer accepts it).
    pub(crate) async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

#[derive(Deserialize)]
struct RevokeAnswer {
    #[serde(default)]
    total_revoked: Option<u64>,
    #[serde(default)]
    revoked_sessions: Option<Vec<serde_json::Value>>,
}

/// `POST {ENV}/api/v1/users/{user_id}/sessions/revoke`; the number of sessions revoked.
pub(crate) async fn revoke_user_sessions(
    http: &reqwest::Client,
    environment_url: &str,
    token: &AccessToken,
    user_id: &str,
) -> Result<RevokeOutcome, IdpError> {
    let user: String = url::form_urlencoded::byte_serialize(user_id.as_bytes()).collect();
    let response = http
        .post(format!(
            "{environment_url}/api/v1/users/{user}/sessions/revoke"
        ))
        .bearer_auth(token.secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(IdpError::from_reqwest)?;
    let status = response.status();
    let body = read_capped(response, MAX_BODY).await?;
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Ok(RevokeOutcome::TokenRefused);
    }
    if !status.is_success() {
        return Err(IdpError::Status {
            status: status.as_u16(),
        });
    }
    let answer: RevokeAnswer = serde_json::from_slice(&body)
        .map_err(|_| IdpError::InvalidResponse("revoke answer is not the expected JSON"))?;
    let count = answer
        .total_revoked
        .or(answer.revoked_sessions.map(|s| s.len() as u64))
        .unwrap_or(0);
    Ok(RevokeOutcome::Revoked(count))
}

/// What the revoke call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeOutcome {
    /// Revoked this many sessions (zero is fine: none were active).
    Revoked(u64),
    /// `401`: the cached token is no longer accepted.
    TokenRefused,
}
