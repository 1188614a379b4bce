//! The Scalekit client (`shared::scalekit`) through its public API, against a live dev Scalekit
//! server on 127.0.0.1.
//!
//! Every rejection test first shows that the unmodified baseline token verifies with the same
//! client, then changes exactly one thing, so each one fails if the check it covers is removed.

mod support;

// 1. ID tokens
mod id_tokens;
// 2. Signing keys
mod signing_keys;
// 3. Access tokens
mod access_tokens;
// 4. IdP-initiated login tokens
mod idp_initiated_login;
// 4b. Token kinds: each verification refuses the environment's other signed tokens
mod token_kinds;
// 5. Token endpoint
mod token_endpoint;
// 6. Logout and authorization URLs
mod urls;
// 7. Debug output
mod debug_output;
