//! The failure catalogue: every expected failure a request can end in, with its status, stable
//! code and message, in this one file (README, "Failure behaviour", is its table). Requests we
//! refuse are 4xx; Scalekit failing gives 502/504; our own stores failing gives 503. Handlers and
//! the session check return causes; this module alone turns them into answers (and logs them).

use lambda_http::http::StatusCode;

use crate::http::ApiError;
use crate::scalekit::{IdpError, OAuthError, TokenError};
use crate::secret_cache::SecretError;
use crate::session::{SessionError, StoreError, TransactionError, Unavailable};
use crate::telemetry::Chain;

// Requests we refuse ------------------------------------------------------------------------

/// A query parameter appears more than once (a repeated `state` or `code` is never legitimate).
pub const REPEATED_PARAMETER: ApiError = ApiError::bad_request(
    "invalid_request",
    "A query parameter was given more than once.",
);

/// No `APP_BASE_URL` and no usable `Host` header to build our own URLs from.
pub const INVALID_HOST: ApiError =
    ApiError::bad_request("invalid_host", "The request has no usable Host header.");

/// A state-changing request from another site.
pub const CROSS_SITE_REQUEST: ApiError = ApiError::new(
    StatusCode::FORBIDDEN,
    "cross_site_request",
    "Cross-site requests are not allowed.",
);

/// A header (a `Cookie` header included) larger than any this product produces.
pub const HEADER_TOO_LARGE: ApiError = ApiError::new(
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    "request_header_too_large",
    "A request header or cookie is too large.",
);

/// A query string larger than any this product produces.
pub const URI_TOO_LONG: ApiError = ApiError::new(
    StatusCode::URI_TOO_LONG,
    "uri_too_long",
    "The request URL is too long.",
);

/// A route that takes only `POST` (refresh, back-channel logout, webhook) with another method.
pub const POST_ONLY: ApiError = ApiError::new(
    StatusCode::METHOD_NOT_ALLOWED,
    "method_not_allowed",
    "Use POST.",
);

/// No usable session: none, expired, revoked or logged out.
pub const SIGNED_OUT: ApiError =
    ApiError::unauthorized("unauthenticated", "You are not signed in.");

/// An `Authorization: Bearer` token that does not verify (RFC 6750 `invalid_token`).
pub const INVALID_TOKEN: ApiError = ApiError::unauthorized(
    "invalid_token",
    "The access token is expired, revoked or not issued for this application.",
);

/// Signed in, but without the role, permission or organization the route requires.
pub const FORBIDDEN: ApiError = ApiError::new(
    StatusCode::FORBIDDEN,
    "forbidden",
    "You do not have access to this resource.",
);

/// Login parameters (`/api/login`), each refused before it reaches Scalekit.
pub mod login {
    use crate::http::ApiError;

    /// `prompt` other than Scalekit's four values.
    pub const INVALID_PROMPT: ApiError = ApiError::bad_request(
        "invalid_prompt",
        "prompt must be one of login, create, select_account or none.",
    );
    // The message names the limit.
    const _: () = assert!(crate::return_to::MAX_LEN == 512);
    /// `return_to` that is not a same-site path, or is too long.
    pub const INVALID_RETURN_TO: ApiError = ApiError::bad_request(
        "invalid_return_to",
        "return_to must be a path on this site of at most 512 characters, such as /dashboard.",
    );
    /// `organization_id` that is not a Scalekit identifier.
    pub const INVALID_ORGANIZATION_ID: ApiError =
        parameter("organization_id is not a valid identifier.");
    /// `connection_id` that is not a Scalekit identifier.
    pub const INVALID_CONNECTION_ID: ApiError =
        parameter("connection_id is not a valid identifier.");
    /// `login_hint` that cannot be an email address.
    pub const INVALID_LOGIN_HINT: ApiError = parameter("login_hint must be an email address.");
    /// `domain_hint` that is not a domain name.
    pub const INVALID_DOMAIN_HINT: ApiError = parameter("domain_hint must be a domain name.");
    /// `provider` that is not a provider name.
    pub const INVALID_PROVIDER: ApiError = parameter("provider is not a valid provider name.");

    const fn parameter(message: &'static str) -> ApiError {
        ApiError::bad_request("invalid_parameter", message)
    }
}

/// A request body larger than any this route accepts.
pub const BODY_TOO_LARGE: ApiError = ApiError::new(
    StatusCode::PAYLOAD_TOO_LARGE,
    "payload_too_large",
    "The request body is too large.",
);

/// Back-channel logout (`POST /api/backchannel-logout`): no `logout_token`, or one that fails a
/// check, or a replay. OIDC Back-Channel Logout 1.0 §2.8: `400`, and nothing ends.
pub const INVALID_LOGOUT_TOKEN: ApiError = ApiError::bad_request(
    "invalid_request",
    "The logout token is missing, invalid or was already used.",
);

/// A webhook whose signature headers are missing or do not verify, or whose timestamp is not
/// within five minutes of now.
pub const INVALID_WEBHOOK_SIGNATURE: ApiError = ApiError::unauthorized(
    "invalid_signature",
    "The webhook signature is missing, invalid or stale.",
);

/// A verified webhook whose body is not a Scalekit event.
pub const INVALID_WEBHOOK_PAYLOAD: ApiError = ApiError::bad_request(
    "invalid_payload",
    "The webhook body is not a Scalekit event.",
);

/// `DELETE /api/sessions/{id}` naming no session of the caller's.
pub const SESSION_NOT_FOUND: ApiError =
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such session.");

/// A method the route does not take.
pub const METHOD_NOT_ALLOWED: ApiError = ApiError::new(
    StatusCode::METHOD_NOT_ALLOWED,
    "method_not_allowed",
    "This route does not take that method.",
);

/// The callback without its `code` or `state`.
pub const CALLBACK_INCOMPLETE: ApiError = ApiError::bad_request(
    "invalid_request",
    "The sign-in response is missing its code or state.",
);

/// The callback's login transaction cookie is missing, expired or does not match `state`.
pub fn transaction(error: &TransactionError) -> ApiError {
    tracing::warn!(reason = %error, "login transaction rejected");
    match error {
        TransactionError::Missing => ApiError::bad_request(
            "missing_transaction",
            "This sign-in was not started in this browser, or it took too long. Please sign in again.",
        ),
        TransactionError::Expired => ApiError::bad_request(
            "transaction_expired",
            "This sign-in took too long. Please sign in again.",
        ),
        TransactionError::Unreadable
        | TransactionError::UnknownKey
        | TransactionError::StateMismatch => ApiError::bad_request(
            "invalid_state",
            "This sign-in response does not match the sign-in this browser started.",
        ),
    }
}

// Dependencies failing ----------------------------------------------------------------------

/// What a failed session check answers: `401 signed_out`, or why it could not decide.
pub fn session(error: &SessionError) -> ApiError {
    match error {
        SessionError::SignedOut => SIGNED_OUT,
        SessionError::Unavailable(cause) => session_unavailable(cause),
    }
}

/// Why the session check could not decide (the session may be fine, its cookies are kept).
pub fn session_unavailable(cause: &Unavailable) -> ApiError {
    match cause {
        Unavailable::Store(error) => store(error),
        Unavailable::Secrets(error) => secrets(error),
        Unavailable::SecretRotating => secret_rotating(),
        Unavailable::Busy => session_busy(),
        Unavailable::Idp(error) => idp(error),
        Unavailable::Token(error) => token(error),
    }
}

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

// Scalekit saying no -----------------------------------------------------------------------

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
