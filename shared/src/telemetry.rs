//! Logging: JSON in Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`), level from `AWS_LAMBDA_LOG_LEVEL` or
//! `RUST_LOG`. Handlers log outcomes and reasons, never tokens, codes, cookies or query strings.
//!
//! The subscriber is the Lambda runtime's default one (`init_default_subscriber`) but for one
//! thing: a JSON line carries the invocation's span (its `requestId`) once, not again in a list of
//! every enclosing span, which the runtime's single span only duplicated. CloudWatch Logs bills
//! by the byte, and the authorizer writes its lines in front of every request of a team's app.
//! A line names only its innermost span: a span of our own opened inside an invocation would
//! hide its `requestId`, so the functions open none (the SDK's spans are below `INFO`).

use lambda_http::tracing::subscriber::filter::{EnvFilter, LevelFilter};
use lambda_http::tracing::subscriber::fmt::MakeWriter;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use tracing::Subscriber;

/// Installs the subscriber on stdout, configured from the environment as Lambda's advanced
/// logging controls set it. Call once, first thing in `main`.
pub fn init() {
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").unwrap_or_default();
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    subscriber(&format, level.ok().as_deref(), std::io::stdout).init();
}

/// The subscriber for log `format` (`JSON`, any case, or text) at `level` (default `INFO`),
/// writing to `writer`. As in lambda_runtime's default, `RUST_LOG`'s directives (e.g.
/// `shared=debug`) apply on top of `level` when it is set.
pub fn subscriber<W>(
    format: &str,
    level: Option<&str>,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let level = level
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = lambda_http::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_writer(writer);
    if format.eq_ignore_ascii_case("json") {
        Box::new(builder.json().with_span_list(false).finish())
    } else {
        Box::new(builder.finish())
    }
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
    use super::{subscriber, Chain};
    use std::sync::{Arc, Mutex};

    /// A writer whose lines a test reads back.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_names_its_invocation_once_and_debug_lines_are_off_at_info() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber("JSON", Some("INFO"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            // As lambda_runtime opens it around every invocation.
            let span = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "req-0123",
                xrayTraceId = "Root=1-0"
            );
            let _entered = span.enter();
            tracing::info!(outcome = "deny", reason = "signed_out");
            tracing::debug!(outcome = "allow");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let written: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON"))
            .collect();
        assert_eq!(written.len(), 1, "{text}");
        assert_eq!(written[0]["fields"]["outcome"], "deny");
        assert_eq!(written[0]["span"]["requestId"], "req-0123");
        assert_eq!(text.matches("req-0123").count(), 1, "{text}");
        assert!(written[0].get("spans").is_none(), "{text}");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_shows_every_cause() {
        let error = Outer(std::io::Error::other("root cause"));
        assert_eq!(Chain(&error).to_string(), "outer: root cause");
    }
}
