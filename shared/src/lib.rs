//! The library every login Lambda function shares: a strict Scalekit OAuth 2.0 / OpenID Connect
//! client, login transactions and sessions (cookies, DynamoDB), secrets (Secrets Manager),
//! configuration and HTTP helpers.

#![warn(missing_docs)]

pub mod access;
pub mod app;
pub mod aws;
pub mod config;
pub mod crypto;
pub mod failures;
pub mod http;
pub mod metrics;
pub mod redacted;
pub mod return_to;
pub mod runtime;
pub mod scalekit;
pub mod secret_cache;
pub mod session;
pub mod telemetry;
pub mod tls;
pub mod token_calls;
pub mod webhook;

pub use app::App;

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a compact JWS as the verifier does, up to (not including) the key lookup; returns
    /// whether it would be passed on to signature verification.
    pub fn parse_jwt(token: &str) -> bool {
        crate::scalekit::fuzz_parse_jwt(token)
    }
}
