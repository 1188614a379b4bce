//! Logging: JSON in Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`), level from `AWS_LAMBDA_LOG_LEVEL` or
//! `RUST_LOG`. Handlers log outcomes and reasons, never tokens, codes, cookies or query strings.

/// Installs the Lambda runtime's default subscriber. Call once, first thing in `main`.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
