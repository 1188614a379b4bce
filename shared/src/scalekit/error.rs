//! Errors of the Scalekit client, named by cause.

/// Why a JWT (ID token, access token, IdP-initiated login token) was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed RS256 compact JWS.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than RS256 (`none`, `HS256`, ...).
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// No published key has the token's `kid`, even after refetching the key set.
    #[error("no signing key matches the token")]
    UnknownKey,
    /// The token has no `kid` and the key set has several keys.
    #[error("the token names no key and several keys are published")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is not the expected issuer.
    #[error("unexpected issuer")]
    InvalidIssuer,
    /// `aud` does not contain our client id.
    #[error("token was not issued for this client")]
    InvalidAudience,
    /// `azp` is present and is not our client id.
    #[error("token was issued to another party")]
    InvalidAuthorizedParty,
    /// A claim this token must have is absent or of the wrong type.
    #[error("missing or invalid claim {0}")]
    MissingClaim(&'static str),
    /// A token of another kind than the one expected (an ID token offered as an access token,
    /// an access token as an IdP-initiated login token, ...); names the kind expected.
    #[error("not {0}")]
    WrongKind(&'static str),
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iat` is older than this kind of token may be (a logout token replayed late).
    #[error("token issued too long ago")]
    IssuedTooLongAgo,
    /// `nonce` differs from the one this login sent, or is missing.
    #[error("nonce mismatch")]
    NonceMismatch,
    /// A refreshed ID token names another subject than the session's (OIDC Core §12.2).
    #[error("refreshed ID token does not belong to this session")]
    SubjectChanged,
    /// The key set could not be fetched and none is cached.
    #[error("signing keys unavailable")]
    KeysUnavailable(#[source] IdpError),
}

/// A failed call to Scalekit's token or keys endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// No answer within the client's timeout.
    #[error("Scalekit did not answer in time")]
    Timeout,
    /// The connection failed.
    #[error("Scalekit could not be reached")]
    Unreachable(#[source] reqwest::Error),
    /// An OAuth error response (`{error, error_description}`).
    #[error("Scalekit answered {status} {}", error.as_str())]
    OAuth {
        /// HTTP status.
        status: u16,
        /// The OAuth `error` code.
        error: OAuthError,
        /// `error_description`, truncated.
        description: Option<String>,
    },
    /// A non-success status without an OAuth error body.
    #[error("Scalekit answered HTTP {status}")]
    Status {
        /// HTTP status.
        status: u16,
    },
    /// The answer is longer than anything Scalekit sends there; it was not read further.
    #[error("Scalekit's answer is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// A success status with a body we cannot use.
    #[error("Scalekit's answer could not be understood: {0}")]
    InvalidResponse(&'static str),
}

impl IdpError {
    /// The OAuth error code, if Scalekit sent one.
    pub fn oauth_error(&self) -> Option<&OAuthError> {
        match self {
            Self::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether this counts against Scalekit's availability (metrics, alarms): no answer, a server
    /// error, or an answer we cannot use. A refusal (an OAuth error or other 4xx: a revoked
    /// refresh token, a replayed code, a rotated secret) is Scalekit working.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Timeout
            | Self::Unreachable(_)
            | Self::TooLarge { .. }
            | Self::InvalidResponse(_) => true,
            Self::OAuth { status, .. } | Self::Status { status } => *status >= 500,
        }
    }

    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Unreachable(error.without_url())
        }
    }
}

/// The `error` of a token-endpoint error response (RFC 6749 §5.2), parsed once where the answer
/// is read so that no caller compares text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// The code or refresh token is invalid, expired, revoked or already used.
    InvalidGrant,
    /// Client authentication failed: for us, most often a client secret rotated under a container.
    InvalidClient,
    /// The request is malformed.
    InvalidRequest,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid.
    InvalidScope,
    /// Any other code, truncated to 64 characters.
    Other(String),
}

impl OAuthError {
    /// Parses the wire value.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_grant" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            "invalid_request" => Self::InvalidRequest,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::Other(code) => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{IdpError, OAuthError};

    #[test]
    fn only_an_unusable_answer_counts_against_scalekit_a_refusal_does_not() {
        let oauth = |status, error| IdpError::OAuth {
            status,
            error,
            description: None,
        };
        // Scalekit working: it refused a revoked refresh token, a replayed code, an old secret.
        for refusal in [
            oauth(400, OAuthError::InvalidGrant),
            oauth(401, OAuthError::InvalidClient),
            IdpError::Status { status: 404 },
        ] {
            assert!(!refusal.is_outage(), "{refusal}");
        }
        // Scalekit failing: the ScalekitErrorsAlarm's business.
        for outage in [
            IdpError::Timeout,
            oauth(503, OAuthError::parse("temporarily_unavailable")),
            IdpError::Status { status: 502 },
            IdpError::TooLarge { limit: 1 },
            IdpError::InvalidResponse("not JSON"),
        ] {
            assert!(outage.is_outage(), "{outage}");
        }
    }

    #[test]
    fn oauth_error_codes_round_trip_and_unknown_ones_are_kept_truncated() {
        for code in [
            "invalid_grant",
            "invalid_client",
            "invalid_request",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "temporarily_unavailable",
        ] {
            assert_eq!(OAuthError::parse(code).as_str(), code);
        }
        assert_eq!(
            OAuthError::parse("invalid_client"),
            OAuthError::InvalidClient
        );
        assert_eq!(OAuthError::parse(&"x".repeat(100)).as_str().len(), 64);
    }
}
