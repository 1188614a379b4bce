//! The authorization request: one login transaction's secrets and the URL that starts it.

use crate::crypto::{b64url, random_token, sha256};
use crate::redacted::{CsrfState, Nonce, PkceVerifier};

/// The scopes requested by default: `offline_access` is what makes Scalekit issue a refresh token.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The `prompt` values Scalekit understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Force re-authentication.
    Login,
    /// Open the sign-up page.
    Create,
    /// Show the organization switcher.
    SelectAccount,
    /// Silent check; the callback gets `error=login_required` when there is no session.
    None,
}

impl Prompt {
    /// Parses a `prompt` query value; `None` for anything Scalekit does not define.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "login" => Some(Self::Login),
            "create" => Some(Self::Create),
            "select_account" => Some(Self::SelectAccount),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Create => "create",
            Self::SelectAccount => "select_account",
            Self::None => "none",
        }
    }
}

/// The per-transaction secrets of one login: `state`, `nonce` and the PKCE verifier.
///
/// Built only by [`AuthorizationSecrets::new_random`].
#[derive(Debug)]
pub struct AuthorizationSecrets {
    /// CSRF state, echoed back on the callback.
    pub state: CsrfState,
    /// Bound into the ID token.
    pub nonce: Nonce,
    /// Proves to the token endpoint that the code was requested by us.
    pub pkce_verifier: PkceVerifier,
}

impl AuthorizationSecrets {
    /// Fresh random state, nonce (32 bytes each) and PKCE verifier (32 bytes, 43 characters).
    pub fn new_random() -> Self {
        Self {
            state: CsrfState::new(random_token(32)),
            nonce: Nonce::new(random_token(32)),
            pkce_verifier: PkceVerifier::new(random_token(32)),
        }
    }
}

/// The S256 code challenge of a verifier: `base64url(SHA-256(verifier))`.
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    b64url(sha256(verifier.secret().as_bytes()))
}

/// Options of an authorization request, named as in Scalekit's SDKs.
#[derive(Debug, Default, Clone)]
pub struct AuthorizationRequest<'a> {
    /// Scopes; empty means [`DEFAULT_SCOPES`].
    pub scopes: &'a [&'a str],
    /// CSRF state.
    pub state: Option<&'a str>,
    /// OIDC nonce.
    pub nonce: Option<&'a str>,
    /// Email of the user, drives home-realm discovery.
    pub login_hint: Option<&'a str>,
    /// Email domain; sent as both `domain_hint` and `domain` like the Node and Go SDKs.
    pub domain_hint: Option<&'a str>,
    /// A specific SSO connection.
    pub connection_id: Option<&'a str>,
    /// A specific organization.
    pub organization_id: Option<&'a str>,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<&'a str>,
    /// A social provider (`google`, `microsoft`, ...) that skips the hosted page.
    pub provider: Option<&'a str>,
    /// The `prompt` parameter.
    pub prompt: Option<Prompt>,
}

/// Percent-encodes everything outside RFC 3986's unreserved set, as Node's `qs` does.
pub(crate) fn encode_component(value: &str, out: &mut String) {
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(byte >> 4) as usize] as char);
                out.push(HEX[(byte & 0xf) as usize] as char);
            }
        }
    }
}

/// Appends `key=value` pairs to a URL that has no query yet, skipping empty values.
pub(crate) fn append_query(url: &mut String, pairs: &[(&str, Option<&str>)]) {
    let mut first = true;
    for (key, value) in pairs {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        url.push(if first { '?' } else { '&' });
        first = false;
        url.push_str(key);
        url.push('=');
        encode_component(value, url);
    }
}

/// Builds `ENV/oauth/authorize?...` with parameters in the Node SDK's order.
pub(crate) fn authorization_url(
    environment_url: &str,
    client_id: &str,
    redirect_uri: &str,
    request: &AuthorizationRequest<'_>,
) -> String {
    let scopes = if request.scopes.is_empty() {
        DEFAULT_SCOPES
    } else {
        request.scopes
    };
    let scope = scopes.join(" ");
    let mut url = format!("{environment_url}/oauth/authorize");
    append_query(
        &mut url,
        &[
            ("response_type", Some("code")),
            ("client_id", Some(client_id)),
            ("redirect_uri", Some(redirect_uri)),
            ("scope", Some(&scope)),
            ("state", request.state),
            ("nonce", request.nonce),
            ("login_hint", request.login_hint),
            ("domain_hint", request.domain_hint),
            ("domain", request.domain_hint),
            ("connection_id", request.connection_id),
            ("organization_id", request.organization_id),
            ("code_challenge", request.code_challenge),
            (
                "code_challenge_method",
                request.code_challenge.map(|_| "S256"),
            ),
            ("provider", request.provider),
            ("prompt", request.prompt.map(Prompt::as_str)),
        ],
    );
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_matches_the_node_sdk_byte_for_byte() {
        // The query string the Node SDK 2.11.0 produced for these options (scalekit-protocol.md §2).
        let expected = "https://acme.scalekit.dev/oauth/authorize?response_type=code&client_id=skc_123&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid%20profile%20email%20offline_access&state=s%20t%2B%2F%3D&nonce=n1&login_hint=a%2Bb%40x.com&domain_hint=example.com&domain=example.com&connection_id=conn_1&organization_id=org_1&code_challenge=abc_-&code_challenge_method=S256&provider=google&prompt=select_account";
        let request = AuthorizationRequest {
            scopes: &["openid", "profile", "email", "offline_access"],
            state: Some("s t+/="),
            nonce: Some("n1"),
            login_hint: Some("a+b@x.com"),
            domain_hint: Some("example.com"),
            connection_id: Some("conn_1"),
            organization_id: Some("org_1"),
            code_challenge: Some("abc_-"),
            provider: Some("google"),
            prompt: Some(Prompt::SelectAccount),
        };
        let url = authorization_url(
            "https://acme.scalekit.dev",
            "skc_123",
            "https://app.example.com/cb",
            &request,
        );
        assert_eq!(url, expected);
    }

    #[test]
    fn defaults_request_offline_access_and_skip_absent_options() {
        let url = authorization_url(
            "https://acme.scalekit.dev",
            "skc_1",
            "https://a/cb",
            &AuthorizationRequest::default(),
        );
        assert_eq!(url, "https://acme.scalekit.dev/oauth/authorize?response_type=code&client_id=skc_1&redirect_uri=https%3A%2F%2Fa%2Fcb&scope=openid%20profile%20email%20offline_access");
    }

    #[test]
    fn pkce_challenge_is_base64url_of_sha256_of_the_verifier() {
        // Expected value computed independently with Python's hashlib and base64.
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mJ92ZyIkj-pPQlzCcNgkiHEL44rMxA");
        assert_eq!(
            pkce_challenge(&verifier),
            "-tM0qMn6IVQg0vC9MhiprvgDDCfYiSpwDebg9Y7t6eA"
        );
    }

    #[test]
    fn transactions_are_random_and_verifier_has_rfc_length() {
        let a = AuthorizationSecrets::new_random();
        let b = AuthorizationSecrets::new_random();
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.pkce_verifier, b.pkce_verifier);
        let len = a.pkce_verifier.secret().len();
        assert!((43..=128).contains(&len));
    }

    #[test]
    fn prompt_parses_only_scalekit_values() {
        for v in ["login", "create", "select_account", "none"] {
            assert_eq!(Prompt::parse(v).map(Prompt::as_str), Some(v));
        }
        assert_eq!(Prompt::parse("consent"), None);
        assert_eq!(Prompt::parse(""), None);
    }
}
