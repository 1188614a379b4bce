//! Captures every log line the handlers write in this test process (JSON, as in Lambda), so
//! tests can prove that no token, code, cookie or secret reaches the logs.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static CAPTURED: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
static METRICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture_metric(line: &str) {
    METRICS.lock().expect("metric lines").push(line.to_owned());
}

/// Every metric line (CloudWatch EMF) written so far in this process.
pub fn metric_lines() -> Vec<String> {
    METRICS.lock().expect("metric lines").clone()
}

fn buffer() -> &'static Mutex<Vec<u8>> {
    CAPTURED.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        buffer()
            .lock()
            .expect("log buffer")
            .extend_from_slice(bytes);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(bytes)?;
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once per process, at DEBUG for every crate (stricter than
/// production's INFO).
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        shared::metrics::set_writer(capture_metric);
        let _ = lambda_http::tracing::subscriber::fmt()
            .json()
            .with_max_level(lambda_http::tracing::Level::DEBUG)
            .with_writer(|| Capture)
            .try_init();
    });
}

/// Everything logged so far.
pub fn captured() -> String {
    String::from_utf8_lossy(&buffer().lock().expect("log buffer")).into_owned()
}

/// The first 8 characters of each of `secrets` found in the captured logs or metric lines.
pub fn leaks(secrets: &[String]) -> Vec<String> {
    let logs = captured() + &metric_lines().concat();
    secrets
        .iter()
        .filter(|s| s.len() >= 8 && logs.contains(s.as_str()))
        .map(|s| format!("{}...", &s[..8]))
        .collect()
}

/// Panics if any of `secrets` appears in the captured logs.
pub fn assert_none_logged(secrets: &[&str]) {
    let logs = captured();
    assert!(
        !logs.is_empty(),
        "no log line was captured: is logs::install() called?"
    );
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !logs.contains(secret),
            "a secret value reached the logs: {}...",
            &secret[..8]
        );
    }
}

/// A writer whose bytes a test reads back.
#[derive(Clone, Default)]
struct Written(std::sync::Arc<Mutex<Vec<u8>>>);

impl Write for Written {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("written").extend_from_slice(bytes);
        // Also where the leak checks read every captured line.
        buffer()
            .lock()
            .expect("log buffer")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` with the functions' own subscriber as deployed (JSON at INFO, template.yaml's
/// `LoggingConfig`) and returns its output with what it logged.
pub async fn as_deployed<T>(work: impl std::future::Future<Output = T>) -> (T, String) {
    use lambda_http::tracing::instrument::WithSubscriber;
    let written = Written::default();
    let writer = written.clone();
    let subscriber = shared::telemetry::subscriber("JSON", Some("INFO"), move || writer.clone());
    let output = work.with_subscriber(subscriber).await;
    let logged = String::from_utf8_lossy(&written.0.lock().expect("written")).into_owned();
    (output, logged)
}
