//! How each dependency failure reaches the user: the status and stable code of the design's
//! failure table. Scalekit failing gives 502/504, our own stores failing gives 503.

use lambda_http::http::StatusCode;

use crate::http::ApiError;
use crate::scalekit::{IdpError, OAuthError, TokenError};
use crate::secrets::SecretError;
use crate::session::StoreError;
use crate::telemetry::Chain;

/// Secrets Manager could not give us a secret.
pub fn secrets(error: &SecretError) -> ApiError {
    tracing::error!(error = %Chain(error), "secret unavailable");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "secrets_unavailable",
        "Sign-in is temporarily unavailable. Please try again in a moment.",
    )
}

/// A value is sealed under a session secret this container has not read yet, and reading it
/// again was rate-limited or incomplete: nothing is lost, the next attempt opens it.
pub fn secret_rotating() -> ApiError {
    tracing::warn!("sealed under a session secret not read yet");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "secret_rotating",
        "Sign-in keys are being rotated. Please try again in a moment.",
    )
}

/// Another request of this session is refreshing its tokens and did not finish in time.
pub fn session_busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "session_busy",
        "Your session is being refreshed elsewhere. Please try again.",
    )
}

/// Logout could not delete the session record: the browser keeps its cookies (the record may
/// live on, and only these cookies can end it) and is asked to try again.
pub fn logout_failed(cause: &ApiError) -> ApiError {
    tracing::warn!(code = cause.code, "logout did not complete; cookies kept");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "logout_unavailable",
        "We could not sign you out just now, and you are still signed in. Please try again in a moment.",
    )
}

/// The session table failed.
pub fn store(error: &StoreError) -> ApiError {
    tracing::error!(error = %Chain(error), "session store failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "session_store_unavailable",
        "Sessions are temporarily unavailable. Please try again in a moment.",
    )
}

/// A call to Scalekit's token endpoint failed.
pub fn idp(error: &IdpError) -> ApiError {
    tracing::warn!(error = %Chain(error), "token endpoint call failed");
    match error {
        IdpError::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "idp_timeout",
            "The identity provider did not answer in time. Please try again.",
        ),
        IdpError::OAuth {
            error: OAuthError::InvalidGrant,
            ..
        } => ApiError::bad_request(
            "invalid_grant",
            "This sign-in link has expired or was already used. Please sign in again.",
        ),
        IdpError::Unreachable(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "idp_unreachable",
            "The identity provider could not be reached. Please try again.",
        ),
        IdpError::OAuth { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "idp_error",
            "The identity provider refused the sign-in.",
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "idp_bad_response",
            "The identity provider gave an answer we could not use.",
        ),
    }
}

/// A token from Scalekit failed verification.
pub fn token(error: &TokenError) -> ApiError {
    tracing::warn!(reason = %error, "token rejected");
    match error {
        TokenError::KeysUnavailable(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "idp_keys_unavailable",
            "The identity provider's signing keys could not be fetched. Please try again.",
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "invalid_id_token",
            "The identity provider's answer did not pass verification.",
        ),
    }
}

/// Error codes Scalekit sends back in an `error=` redirect (scalekit-protocol.md §9).
const SCALEKIT_ERROR_CODES: &[&str] = &[
    "access_denied",
    "invalid_request",
    "server_error",
    "login_required",
    "invalid_redirect_uri",
    "invalid_connection_selector",
    "no_active_connections",
    "connection_not_active",
    "no_configured_connections",
    "invalid_organization_id",
    "invalid_connection_id",
    "domain_not_found",
    "invalid_user_domain",
    "invalid_client",
    "application_not_active",
    "unauthorized",
    "user_not_active",
    "mandatory_attribute_missing",
    "invalid_id_token",
    "failed_to_exchange_token",
    "user_info_retrieve_failed",
    "authentication_not_completed",
    "user_login_required",
];

/// Scalekit redirected the browser (to the callback or the initiate-login URL) with `error=`:
/// as in the seed, 401 with the error. The attacker-controllable description is never echoed,
/// and a code Scalekit does not define becomes `idp_error`.
pub fn idp_redirect_error(code: &str) -> ApiError {
    let message = match code {
        "access_denied" => "Sign-in was cancelled.",
        "login_required" => "You are not signed in. Please sign in again.",
        _ => "The identity provider could not sign you in.",
    };
    let code = SCALEKIT_ERROR_CODES
        .iter()
        .find(|known| **known == code)
        .copied()
        .unwrap_or("idp_error");
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_reduced_to_the_ones_scalekit_defines() {
        assert_eq!(idp_redirect_error("access_denied").code, "access_denied");
        assert_eq!(idp_redirect_error("<script>").code, "idp_error");
        assert_eq!(idp_redirect_error("made_up_code").code, "idp_error");
        assert_eq!(
            idp_redirect_error("access_denied").status,
            StatusCode::UNAUTHORIZED
        );
    }
}
