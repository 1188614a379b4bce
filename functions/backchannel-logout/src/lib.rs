//! `POST /api/backchannel-logout`: OIDC Back-Channel Logout 1.0. Scalekit ends a session (a
//! logout in another app, an admin, the organization's session policy) and posts a signed
//! `logout_token`; every session of that Scalekit session (`sid`), or with only `sub`, every
//! session of that user, ends here too.
//!
//! The token is verified (signature by `kid`, `iss`, `aud`, `iat` recent, `exp` when present,
//! `events`, `sid` or `sub`, no `nonce`) and its `jti` remembered, so a replay ends nothing.
//! `200` with `Cache-Control: no-store` when done; anything invalid `400 invalid_request`, and
//! nothing ends; a store that fails answers `503` so that Scalekit delivers it again.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http;
use shared::metrics::{self, Count};
use shared::scalekit::{LogoutToken, TokenError, LEEWAY_SECS, LOGOUT_TOKEN_MAX_AGE};
use shared::session::{end_sessions_once, Ending, Unavailable};
use shared::{failures, App};

/// Verifies tokens and ends sessions.
pub const NEEDS: Needs = Needs {
    session_table: true,
    signing_keys: true,
    ..Needs::NONE
};

/// A logout token is a few hundred bytes; a form larger than this is not read.
const MAX_BODY: usize = 16 * 1024;

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let body = match http::post_body(&req, MAX_BODY) {
        Ok(body) => body,
        Err(refusal) => return refusal.to_response(&req),
    };
    let Some(token) = logout_token(body) else {
        tracing::info!(
            outcome = "logout_token_refused",
            reason = "no single logout_token"
        );
        return failures::INVALID_LOGOUT_TOKEN.to_response(&req);
    };
    let logout = match app.scalekit.verify_logout_token(&token).await {
        Ok(logout) => logout,
        Err(error @ TokenError::KeysUnavailable(_)) => {
            metrics::count(
                Count::BackchannelLogouts,
                "failed",
                Some("keys_unavailable"),
            );
            return failures::token(&error).to_response(&req);
        }
        Err(error) => {
            tracing::info!(outcome = "logout_token_refused", reason = %error);
            metrics::count(Count::BackchannelLogouts, "refused", Some("invalid_token"));
            return failures::INVALID_LOGOUT_TOKEN.to_response(&req);
        }
    };
    match end(app, &logout).await {
        Ok(Some(ended)) => {
            tracing::info!(outcome = "backchannel_logout", ended);
            metrics::count(Count::BackchannelLogouts, "ended", None);
            http::json(StatusCode::OK, &serde_json::json!({}))
        }
        Ok(None) => {
            tracing::warn!(outcome = "logout_token_refused", reason = "replayed jti");
            metrics::count(Count::BackchannelLogouts, "replayed", None);
            failures::INVALID_LOGOUT_TOKEN.to_response(&req)
        }
        Err(cause) => {
            metrics::count(Count::BackchannelLogouts, "failed", Some(cause.kind()));
            failures::session_unavailable(&cause).to_response(&req)
        }
    }
}

/// The form's one `logout_token` (a repeated one is refused).
fn logout_token(body: &[u8]) -> Option<String> {
    let mut values = url::form_urlencoded::parse(body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    let token = values.next().filter(|t| !t.is_empty())?;
    values.next().is_none().then_some(token)
}

/// Ends the token's sessions: `None` when its `jti` was seen before. The `jti` is remembered
/// for as long as the token's `iat` is accepted, and forgotten again if ending fails, so that
/// Scalekit's retry is not taken for a replay.
async fn end(app: &App, logout: &LogoutToken) -> Result<Option<usize>, Unavailable> {
    let marker = format!("logout-token:{}", logout.token_id);
    let until = logout.issued_at + LOGOUT_TOKEN_MAX_AGE + 2 * LEEWAY_SECS;
    let ending = match (&logout.session_id, &logout.subject) {
        (Some(session_id), user_id) => Ending::ScalekitSession {
            session_id: session_id.clone(),
            user_id: user_id.clone(),
        },
        (None, Some(user_id)) => Ending::User {
            user_id: user_id.clone(),
        },
        // Verification requires one of them.
        (None, None) => return Ok(Some(0)),
    };
    end_sessions_once(app, &marker, until, &ending).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_logout_token_is_read_from_the_form() {
        assert_eq!(
            logout_token(b"logout_token=a.b.c").as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            logout_token(b"x=1&logout_token=a%2Eb.c").as_deref(),
            Some("a.b.c")
        );
        assert_eq!(logout_token(b"logout_token=a&logout_token=b"), None);
        assert_eq!(logout_token(b"logout_token="), None);
        assert_eq!(logout_token(b"token=a.b.c"), None);
        assert_eq!(logout_token(b""), None);
    }
}
