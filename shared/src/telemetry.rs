//! Logging: JSON in Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`), level from `AWS_LAMBDA_LOG_LEVEL` or
//! `RUST_LOG`. Handlers log outcomes and reasons, never tokens, codes, cookies or query strings.

/// Installs the Lambda runtime's default subscriber. Call once, first thing in `main`.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}

/// An error and its causes, `outer: cause: root cause`, for log fields: the SDKs keep what went
/// wrong (a timeout, a refused connection, a throttle) in the source chain, not the message.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_shows_every_cause() {
        let error = Outer(std::io::Error::other("root cause"));
        assert_eq!(Chain(&error).to_string(), "outer: root cause");
    }
}
