//! A minimal AWS Lambda Runtime API (`2018-06-01`) on 127.0.0.1, one per container, and the
//! container (function process) it serves.
//!
//! The function's runtime client long-polls `GET /runtime/invocation/next`; the harness decides
//! when to answer it with an event, and receives the function's `POST .../response` (or `/error`,
//! or `/init/error`). Every `next` is timestamped and carries the process's CPU time at that
//! moment, so init time (spawn → first `next`) and CPU per invocation (event handed over → next
//! `next`) need no cooperation from the function.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::procfs;

/// How long the harness waits for any step of a function before declaring it stuck.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The runtime waiting at `next`.
struct Poll {
    at: Instant,
    cpu: Duration,
    reply: oneshot::Sender<(String, Bytes)>,
}

/// What the function reported.
enum Outcome {
    Response { at: Instant, body: Bytes },
    Error { body: Bytes },
    InitError { body: Bytes },
}

struct Shared {
    pid: AtomicU32,
    function_name: String,
    polls: mpsc::UnboundedSender<Poll>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    next_id: AtomicU64,
}

/// One function process and its Runtime API.
pub struct Container {
    /// The function's name.
    pub name: String,
    child: Child,
    pid: u32,
    polls: mpsc::UnboundedReceiver<Poll>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    pending: Option<Poll>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    /// Process start until its first `GET /runtime/invocation/next`.
    pub init: Duration,
}

/// One invocation as seen from the Runtime API.
pub struct Invocation {
    /// Event handed over → response received.
    pub latency: Duration,
    /// Process CPU time from handing the event over to the runtime's next `next` (handler,
    /// runtime client, logging, and any background task that ran meanwhile).
    pub cpu: Duration,
    /// The API Gateway (payload 2.0) response the function returned.
    pub response: Value,
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let at = Instant::now();
    let cpu = procfs::process_cpu(shared.pid.load(Ordering::Acquire)).unwrap_or_default();
    let (reply, event) = oneshot::channel();
    if shared.polls.send(Poll { at, cpu, reply }).is_err() {
        return StatusCode::GONE.into_response();
    }
    let Ok((id, body)) = event.await else {
        // The harness is done with this container.
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        + 10_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            shared.function_name
        ),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-674a1b2c-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0".to_owned(),
    );
    set("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, body).into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let _ = shared.outcomes.send(Outcome::Response { at, body });
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Arc<Shared>>,
    UrlPath(_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let _ = shared.outcomes.send(Outcome::Error { body });
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let _ = shared.outcomes.send(Outcome::InitError { body });
    StatusCode::ACCEPTED
}

fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).chars().take(400).collect()
}

/// A function process to start.
pub struct Launch<'a> {
    /// The function's name.
    pub name: &'a str,
    pub binary: &'a Path,
    pub args: &'a [&'a str],
    /// Its whole environment (the Runtime API's address is added).
    pub env: &'a [(String, String)],
    /// Where its output goes.
    pub log: &'a Path,
}

impl Container {
    /// Starts a process as Lambda would and waits until it asks for its first event.
    pub async fn start(launch: Launch<'_>) -> Result<Container> {
        let Launch {
            name,
            binary,
            args,
            env,
            log,
        } = launch;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("runtime API bind")?;
        let addr = listener.local_addr().context("runtime API address")?;
        let (polls_tx, polls) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pid: AtomicU32::new(0),
            function_name: name.to_owned(),
            polls: polls_tx,
            outcomes: outcomes_tx,
            next_id: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let out = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        let err = out.try_clone().context("log")?;
        let mut command = Command::new(binary);
        command
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| binary.display().to_string())?;
        let pid = child.id();
        shared.pid.store(pid, Ordering::Release);
        let mut container = Container {
            name: name.to_owned(),
            child,
            pid,
            polls,
            outcomes,
            pending: None,
            shared,
            server,
            init: Duration::ZERO,
        };
        let first = container.wait_for_next().await?;
        container.init = first.at.duration_since(started);
        container.pending = Some(first);
        Ok(container)
    }

    async fn wait_for_next(&mut self) -> Result<Poll> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            tokio::select! {
                poll = self.polls.recv() => {
                    return poll.with_context(|| format!("{}: runtime API closed", self.name));
                }
                Some(outcome) = self.outcomes.recv() => {
                    if let Outcome::InitError { body } | Outcome::Error { body } = outcome {
                        bail!("{}: reported an error: {}", self.name, text(&body));
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    bail!("{}: no request for an event within {STEP_TIMEOUT:?}", self.name);
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        bail!("{}: exited during init ({status})", self.name);
                    }
                }
            }
        }
    }

    /// Hands `event` to the waiting runtime and returns what the function answered.
    pub async fn invoke(&mut self, event: &Value) -> Result<Invocation> {
        let poll = match self.pending.take() {
            Some(poll) => poll,
            None => self.wait_for_next().await?,
        };
        let id = format!(
            "bench-{:08}",
            self.shared.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let body = Bytes::from(event.to_string());
        let cpu_before = procfs::process_cpu(self.pid).unwrap_or(poll.cpu);
        let handed_over = Instant::now();
        poll.reply
            .send((id, body))
            .map_err(|_| anyhow!("{}: the runtime went away", self.name))?;
        let outcome = tokio::time::timeout(STEP_TIMEOUT, self.outcomes.recv())
            .await
            .map_err(|_| anyhow!("{}: no response within {STEP_TIMEOUT:?}", self.name))?
            .with_context(|| format!("{}: runtime API closed", self.name))?;
        let (at, body) = match outcome {
            Outcome::Response { at, body } => (at, body),
            Outcome::Error { body } | Outcome::InitError { body } => {
                bail!("{}: invocation error: {}", self.name, text(&body));
            }
        };
        let response: Value = serde_json::from_slice(&body)
            .with_context(|| format!("{}: response is not JSON: {}", self.name, text(&body)))?;
        let after = self.wait_for_next().await?;
        let cpu = after.cpu.saturating_sub(cpu_before);
        self.pending = Some(after);
        Ok(Invocation {
            latency: at.duration_since(handed_over),
            cpu,
            response,
        })
    }

    /// Hands `event` over without waiting for the answer; collect it with [`Self::finish`].
    pub fn deliver(&mut self, event: &Value) -> Result<Instant> {
        let poll = self
            .pending
            .take()
            .with_context(|| format!("{}: runtime not waiting", self.name))?;
        let handed_over = Instant::now();
        poll.reply
            .send(("bench-first".to_owned(), Bytes::from(event.to_string())))
            .map_err(|_| anyhow!("{}: the runtime went away", self.name))?;
        Ok(handed_over)
    }

    /// The answer to an event handed over with [`Self::deliver`], if one arrives within `wait`.
    pub async fn finish(&mut self, wait: Duration) -> Result<Option<(Instant, Value)>> {
        match tokio::time::timeout(wait, self.outcomes.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => bail!("{}: runtime API closed", self.name),
            Ok(Some(Outcome::Response { at, body })) => {
                let value = serde_json::from_slice(&body)
                    .with_context(|| format!("{}: response is not JSON", self.name))?;
                Ok(Some((at, value)))
            }
            Ok(Some(Outcome::Error { body } | Outcome::InitError { body })) => {
                bail!("{}: invocation error: {}", self.name, text(&body))
            }
        }
    }

    /// Peak resident set (VmHWM) so far, in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        procfs::peak_rss(self.pid)
    }

    /// Kills the process (Lambda's shutdown of an idle environment) and stops its Runtime API.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.server.abort();
    }
}
