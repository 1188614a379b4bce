//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines: one JSON line on standard output
//! per event, which CloudWatch Logs turns into metrics with no API call from the function.
//!
//! Every dimension value is one of this product's own constant strings (an outcome, a stable
//! error code, a dependency's name): never a user id, an organization id, a token or anything else
//! a request carries, so that no one can flood the metrics with series or read data from them.
//! The namespace is `METRICS_NAMESPACE` (the template sets `ScalekitLogin/<stack name>`), else
//! `ScalekitLogin`.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "ScalekitLogin";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// A login: `started`, `completed`, `refused` (with the refusal's code), `failed` (a
    /// dependency; with its code).
    Logins,
    /// A token refresh of a session: `rotated`, `adopted` (another request's rotation),
    /// `revoked` (Scalekit refused the refresh token), `busy`, `failed` (with the cause).
    Refreshes,
    /// An authorizer decision: `allowed` (reason `session` or `bearer`), `denied` (with the
    /// reason), `undecided` (a dependency failed).
    Authorizations,
    /// A back-channel logout: `ended`, `refused`, `replayed`, `failed`.
    BackchannelLogouts,
    /// A webhook delivery: `acted`, `ignored`, `duplicate`, `refused` (with the code), `failed`.
    Webhooks,
}

impl Count {
    /// The metric's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Logins => "Logins",
            Self::Refreshes => "Refreshes",
            Self::Authorizations => "Authorizations",
            Self::BackchannelLogouts => "BackchannelLogouts",
            Self::Webhooks => "Webhooks",
        }
    }
}

/// A dependency whose calls are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// Scalekit's token endpoint.
    ScalekitToken,
    /// Scalekit's key set.
    ScalekitKeys,
    /// Scalekit's management API (session revocation, organizations).
    ScalekitApi,
    /// DynamoDB (the session table).
    DynamoDb,
    /// Secrets Manager.
    SecretsManager,
}

impl Dependency {
    /// The `Dependency` dimension's value.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScalekitToken => "scalekit_token",
            Self::ScalekitKeys => "scalekit_keys",
            Self::ScalekitApi => "scalekit_api",
            Self::DynamoDb => "dynamodb",
            Self::SecretsManager => "secrets_manager",
        }
    }
}

static NAMESPACE: OnceLock<String> = OnceLock::new();
static WRITER: OnceLock<fn(&str)> = OnceLock::new();

fn namespace() -> &'static str {
    NAMESPACE.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    })
}

/// Where the lines go: standard output (what CloudWatch Logs reads), unless a test installed
/// another writer first.
pub fn set_writer(writer: fn(&str)) {
    let _ = WRITER.set(writer);
}

fn write_line(line: &str) {
    match WRITER.get() {
        Some(writer) => writer(line),
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// One EMF line: `metrics` (name, unit, value) under `dimensions` (sets of names; each name
/// must have a value in `values`).
fn emit(metrics: &[(&str, &str, f64)], dimensions: &[&[&str]], values: &[(&str, &str)]) {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms() as u64,
            "CloudWatchMetrics": [{
                "Namespace": namespace(),
                "Dimensions": dimensions,
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in values {
        line.insert((*name).into(), Value::from(*value));
    }
    for (name, _, value) in metrics {
        line.insert((*name).into(), json!(value));
    }
    write_line(&Value::Object(line).to_string());
}

/// Counts one `what` with this `outcome` (and `reason`: one of our constant codes).
pub fn count(what: Count, outcome: &'static str, reason: Option<&'static str>) {
    let metric = [(what.name(), "Count", 1.0)];
    match reason {
        Some(reason) => emit(
            &metric,
            &[&["Outcome"], &["Outcome", "Reason"]],
            &[("Outcome", outcome), ("Reason", reason)],
        ),
        None => emit(&metric, &[&["Outcome"]], &[("Outcome", outcome)]),
    }
}

/// Counts a request answered with `error`: `refused` for a 4xx, `failed` for a 5xx (a
/// dependency), with its stable code as the reason.
pub fn refusal(what: Count, error: &crate::http::ApiError) {
    let outcome = if error.status.is_server_error() {
        "failed"
    } else {
        "refused"
    };
    count(what, outcome, Some(error.code));
}

/// Times one call to `dependency`; a failed one is counted in `DependencyErrors` too.
pub fn dependency(dependency: Dependency, elapsed: Duration, succeeded: bool) {
    let latency = (
        "DependencyLatency",
        "Milliseconds",
        elapsed.as_secs_f64() * 1000.0,
    );
    let values = [("Dependency", dependency.name())];
    if succeeded {
        emit(&[latency], &[&["Dependency"]], &values);
    } else {
        emit(
            &[latency, ("DependencyErrors", "Count", 1.0)],
            &[&["Dependency"]],
            &values,
        );
    }
}

/// Times `call` as one call to `dependency`; `failed` says whether its result counts against
/// the dependency (an answer that refuses the request is the dependency working).
pub async fn timed<T, E>(
    dependency: Dependency,
    call: impl std::future::Future<Output = Result<T, E>>,
    failed: impl FnOnce(&Result<T, E>) -> bool,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = call.await;
    self::dependency(dependency, started.elapsed(), !failed(&result));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn capture(line: &str) {
        LINES.lock().unwrap().push(line.to_owned());
    }

    #[test]
    fn lines_are_embedded_metric_format_with_constant_dimensions() {
        set_writer(capture);
        count(Count::Logins, "refused", Some("invalid_state"));
        dependency(Dependency::DynamoDb, Duration::from_micros(2500), false);
        let lines = LINES.lock().unwrap().clone();
        let parsed: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let refused = parsed
            .iter()
            .find(|l| l.get("Logins").is_some())
            .expect("the login line");
        let definition = &refused["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(definition["Namespace"], namespace());
        assert_eq!(
            definition["Dimensions"],
            json!([["Outcome"], ["Outcome", "Reason"]])
        );
        assert_eq!(
            definition["Metrics"],
            json!([{"Name": "Logins", "Unit": "Count"}])
        );
        assert_eq!(refused["Outcome"], "refused");
        assert_eq!(refused["Reason"], "invalid_state");
        assert_eq!(refused["Logins"], 1.0);
        assert!(refused["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        let timed = parsed
            .iter()
            .find(|l| l.get("DependencyLatency").is_some())
            .expect("the dependency line");
        assert_eq!(timed["Dependency"], "dynamodb");
        assert_eq!(timed["DependencyLatency"], 2.5);
        assert_eq!(timed["DependencyErrors"], 1.0);
    }
}
