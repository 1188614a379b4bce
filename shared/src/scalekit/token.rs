//! The token endpoint: authorization-code exchange and refresh.

use serde::Deserialize;

use super::body::read_capped;
use super::error::{IdpError, OAuthError};
use crate::redacted::{AccessToken, IdToken, RefreshToken};

/// Bodies larger than this are not read: a token response is a few kilobytes.
const MAX_BODY: usize = 64 * 1024;
/// Used when Scalekit leaves out `expires_in` (its default access-token lifetime is 299 s).
const DEFAULT_EXPIRES_IN: u64 = 299;

/// Tokens from the token endpoint.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token (a JWT).
    pub access_token: AccessToken,
    /// Present when `offline_access` was granted; Scalekit rotates it on every refresh.
    pub refresh_token: Option<RefreshToken>,
    /// Present on code exchange (required there) and usually on refresh.
    pub id_token: Option<IdToken>,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

/// Tokens from an authorization-code exchange, where the ID token is required.
#[derive(Debug)]
pub struct CodeTokens {
    /// The access token (a JWT).
    pub access_token: AccessToken,
    /// Present when `offline_access` was granted.
    pub refresh_token: Option<RefreshToken>,
    /// The ID token, not yet verified.
    pub id_token: IdToken,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

impl TryFrom<TokenSet> for CodeTokens {
    type Error = IdpError;

    fn try_from(tokens: TokenSet) -> Result<Self, IdpError> {
        let id_token = tokens.id_token.ok_or(IdpError::InvalidResponse(
            "no id_token in the code exchange",
        ))?;
        Ok(Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            id_token,
            expires_in: tokens.expires_in,
        })
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// POSTs a form to the token endpoint and interprets the answer (timed, as every Scalekit call).
pub(crate) async fn request(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<TokenSet, IdpError> {
    let dependency = crate::metrics::Dependency::ScalekitToken;
    crate::metrics::timed(dependency, request_untimed(http, url, form), |result| {
        result.as_ref().is_err_and(IdpError::is_outage)
    })
    .await
}

async fn request_untimed(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<TokenSet, IdpError> {
    let response = http
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(IdpError::from_reqwest)?;
    let status = response.status();
    let body = read_capped(response, MAX_BODY).await?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<OAuthErrorBody>(&body) {
            Ok(oauth) => IdpError::OAuth {
                status: status.as_u16(),
                error: OAuthError::parse(&oauth.error),
                description: oauth
                    .error_description
                    .map(|d| d.chars().take(200).collect()),
            },
            Err(_) => IdpError::Status {
                status: status.as_u16(),
            },
        });
    }
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|_| IdpError::InvalidResponse("token response is not the expected JSON"))?;
    if parsed.access_token.is_empty() {
        return Err(IdpError::InvalidResponse("empty access_token"));
    }
    Ok(TokenSet {
        access_token: AccessToken::new(parsed.access_token),
        refresh_token: parsed
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        id_token: parsed.id_token.filter(|t| !t.is_empty()).map(IdToken::new),
        expires_in: parsed.expires_in.unwrap_or(DEFAULT_EXPIRES_IN),
    })
}
