//! Scalekit's management API, as far as this product uses it: revoking every session of a user
//! ("sign out everywhere") and reading an organization's display name, with a client-credentials
//! access token from the token endpoint, cached until shortly before it expires.

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

#[derive(Deserialize)]
struct OrganizationAnswer {
    organization: Organization,
}

#[derive(Deserialize)]
struct Organization {
    #[serde(default)]
    display_name: Option<String>,
}

/// One authenticated call's answer: `None` when Scalekit refused the token (`401`), so that the
/// caller gets a new one and tries again.
pub(crate) type Answer<T> = Option<T>;

async fn call(
    request: reqwest::RequestBuilder,
    token: &AccessToken,
) -> Result<Answer<(reqwest::StatusCode, Vec<u8>)>, IdpError> {
    let dependency = crate::metrics::Dependency::ScalekitApi;
    crate::metrics::timed(
        dependency,
        call_untimed(request, token),
        |result| match result {
            Ok(Some((status, _))) => status.is_server_error(),
            Ok(None) => false,
            Err(error) => error.is_outage(),
        },
    )
    .await
}

async fn call_untimed(
    request: reqwest::RequestBuilder,
    token: &AccessToken,
) -> Result<Answer<(reqwest::StatusCode, Vec<u8>)>, IdpError> {
    let response = request
        .bearer_auth(token.secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(IdpError::from_reqwest)?;
    let status = response.status();
    let body = read_capped(response, MAX_BODY).await?;
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    Ok(Some((status, body)))
}

/// `POST {ENV}/api/v1/users/{user_id}/sessions/revoke`: how many sessions Scalekit revoked.
pub(crate) async fn revoke_user_sessions(
    http: &reqwest::Client,
    environment_url: &str,
    token: &AccessToken,
    user_id: &str,
) -> Result<Answer<u64>, IdpError> {
    let url = format!(
        "{environment_url}/api/v1/users/{}/sessions/revoke",
        segment(user_id)
    );
    let Some((status, body)) = call(http.post(url), token).await? else {
        return Ok(None);
    };
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
    Ok(Some(count))
}

/// `GET {ENV}/api/v1/organizations/{id}`: its display name (`None` inside when Scalekit knows
/// no such organization or it has no name).
pub(crate) async fn organization_name(
    http: &reqwest::Client,
    environment_url: &str,
    token: &AccessToken,
    organization_id: &str,
) -> Result<Answer<Option<String>>, IdpError> {
    let url = format!(
        "{environment_url}/api/v1/organizations/{}",
        segment(organization_id)
    );
    let Some((status, body)) = call(http.get(url), token).await? else {
        return Ok(None);
    };
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(Some(None));
    }
    if !status.is_success() {
        return Err(IdpError::Status {
            status: status.as_u16(),
        });
    }
    let answer: OrganizationAnswer = serde_json::from_slice(&body)
        .map_err(|_| IdpError::InvalidResponse("organization answer is not the expected JSON"))?;
    Ok(Some(
        answer
            .organization
            .display_name
            .filter(|n| !n.trim().is_empty()),
    ))
}

/// An identifier as one URL path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// Organization display names, kept for a while: they change rarely, and the profile page asks
/// on every view. A lookup that failed is remembered too, for less long, so that a slow Scalekit
/// does not hold up every view.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    /// Organization id → its name (`None`: it has none, or the lookup failed) and when that
    /// stops being used.
    names: std::sync::Mutex<std::collections::HashMap<String, (Option<String>, Instant)>>,
}

/// How long a display name is kept.
const NAME_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a failed lookup is remembered before the next view asks again.
const FAILED_LOOKUP_TTL: Duration = Duration::from_secs(60);
/// At most this many names are kept (an environment with more organizations re-reads some).
const MAX_NAMES: usize = 1024;

impl NameCache {
    pub(crate) fn get(&self, organization_id: &str) -> Option<Option<String>> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .get(organization_id)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(name, _)| name.clone())
    }

    pub(crate) fn put(&self, organization_id: &str, name: Option<String>) {
        self.keep(organization_id, name, NAME_TTL);
    }

    pub(crate) fn put_failed(&self, organization_id: &str) {
        self.keep(organization_id, None, FAILED_LOOKUP_TTL);
    }

    fn keep(&self, organization_id: &str, name: Option<String>, ttl: Duration) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= MAX_NAMES {
            let now = Instant::now();
            names.retain(|_, (_, until)| now < *until);
            if names.len() >= MAX_NAMES {
                names.clear();
            }
        }
        names.insert(organization_id.to_owned(), (name, Instant::now() + ttl));
    }
}
