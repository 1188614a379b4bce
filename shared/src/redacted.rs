//! Newtypes for values that must never reach a log line.
//!
//! Each type prints `TypeName([redacted])` under `Debug`, has no `Display`, and hands out its value
//! only through an explicit `secret()` call, so `{:?}` on any struct holding one stays safe.

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Consumes the wrapper and returns the secret value.
            pub fn into_secret(self) -> String {
                self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// The Scalekit client secret (`client_secret_post`).
    ClientSecret
);
secret_type!(
    /// An OAuth access token (a JWT issued by Scalekit).
    AccessToken
);
secret_type!(
    /// An OAuth refresh token; Scalekit rotates it on every use.
    RefreshToken
);
secret_type!(
    /// An OpenID Connect ID token.
    IdToken
);
secret_type!(
    /// A single-use authorization code from the callback.
    AuthorizationCode
);
secret_type!(
    /// The PKCE code verifier of one login transaction.
    PkceVerifier
);
secret_type!(
    /// The OAuth `state` of one login transaction (CSRF defence).
    CsrfState
);
secret_type!(
    /// The OpenID Connect `nonce` of one login transaction (replay defence).
    Nonce
);
secret_type!(
    /// The opaque session identifier held in the browser's session cookie.
    SessionId
);
secret_type!(
    /// Key material that seals cookies and encrypts tokens at rest.
    SessionSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_every_secret_type_is_redacted() {
        let rendered = [
            format!("{:?}", ClientSecret::new("s3cr3t-value")),
            format!("{:?}", AccessToken::new("s3cr3t-value")),
            format!("{:?}", RefreshToken::new("s3cr3t-value")),
            format!("{:?}", IdToken::new("s3cr3t-value")),
            format!("{:?}", AuthorizationCode::new("s3cr3t-value")),
            format!("{:?}", PkceVerifier::new("s3cr3t-value")),
            format!("{:?}", CsrfState::new("s3cr3t-value")),
            format!("{:?}", Nonce::new("s3cr3t-value")),
            format!("{:?}", SessionId::new("s3cr3t-value")),
            format!("{:?}", SessionSecret::new("s3cr3t-value")),
        ];
        for line in &rendered {
            assert!(!line.contains("s3cr3t"), "{line} leaks the secret");
            assert!(line.ends_with("([redacted])"), "{line}");
        }
        assert_eq!(rendered[0], "ClientSecret([redacted])");
    }
}
