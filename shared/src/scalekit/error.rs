//! Errors of the Scalekit client, named by cause.

/// Why a JWT (ID token, access token, IdP-initiated login token) was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    #[error("Scalekit answered {status} {error}")]
    OAuth {
        /// HTTP status.
        status: u16,
        /// The OAuth `error` code, such as `invalid_grant` or `invalid_client`.
        error: String,
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

impl PartialEq for IdpError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}
impl Eq for IdpError {}

impl IdpError {
    /// The OAuth error code, if Scalekit sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::OAuth { error, .. } => Some(error),
            _ => None,
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
