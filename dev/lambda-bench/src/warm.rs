//! Warm invocations of login, callback and session at the Runtime API: latency, process CPU,
//! the in-process handler CPU beside them, and the network calls per invocation and at init.
//! Each callback gets a fresh login through the login function.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flow_tests::Browser;
use serde_json::Value;

use crate::bench::{Bench, Watched};
use crate::counts::{exactly, Counts};
use crate::first_invocation;
use crate::flow::{self, absorb_response, expect_status, prepared_callback};
use crate::handler_cpu::HandlerCpu;
use crate::report::{duration, median_p95, quantile};

/// What one function's invocations send and expect, and its in-process handler figures.
struct Plan<'a> {
    first_event: &'a Value,
    status: u64,
    handler_cpu: &'a [Duration],
    handler_target: Option<Duration>,
}

/// Login: the same event every time.
pub async fn login(bench: &mut Bench, handler: &HandlerCpu) -> Result<Watched> {
    let event = flow::event("login-plain");
    let quiet = Quiet {
        name: "login",
        plan: Plan {
            first_event: &event,
            status: 302,
            handler_cpu: &handler.login,
            handler_target: Some(Duration::from_micros(50)),
        },
        condition: "",
        note: "",
    };
    same_event(bench, quiet).await
}

/// Callback, each invocation completing a fresh login started in `login`; returns the callback
/// container and the browser its last invocation signed in.
pub async fn callback(
    bench: &mut Bench,
    handler: &HandlerCpu,
    login: &mut Watched,
) -> Result<(Watched, Browser)> {
    let (first_event, _) = prepared_callback(&mut login.container, bench.stack.idp()).await?;
    let mut callback = bench.watch("callback").await?;
    let plan = Plan {
        first_event: &first_event,
        status: 302,
        handler_cpu: &handler.callback,
        handler_target: Some(Duration::from_micros(300)),
    };
    let mut browser = None;
    let (last, counts) = invocations(bench, &mut callback, plan, async |bench: &mut Bench| {
        let (event, prepared) = prepared_callback(&mut login.container, bench.stack.idp()).await?;
        browser = Some(prepared);
        Ok(event)
    })
    .await?;
    let mut signed_in = browser.context("no callback ran")?;
    absorb_response(&mut signed_in, &last);
    let n = bench.options.iterations;
    bench.table.target(
        "callback",
        format!("network calls per warm invocation (n={n})"),
        counts.warm(),
        "Token 1, PutItem 1",
        exactly(&counts.scalekit_warm, &[("Token", 1.0)])
            && exactly(&counts.aws_warm, &[("PutItem", 1.0)]),
    );
    let keys_once = counts.scalekit_init.get("Keys").copied() == Some(1.0)
        && counts.scalekit_warm.get("Keys").copied() == Some(0.0);
    bench.table.target(
        "callback",
        "network calls at init + first invocation",
        counts.init(),
        "keys once per container",
        keys_once,
    );
    ensure!(
        signed_in.get("__Host-sk_session").is_some(),
        "the last callback set no session cookie"
    );
    Ok((callback, signed_in))
}

/// Session, with a valid access token: the same signed-in event every time.
pub async fn session(bench: &mut Bench, handler: &HandlerCpu, event: &Value) -> Result<Watched> {
    let quiet = Quiet {
        name: "session",
        plan: Plan {
            first_event: event,
            status: 200,
            handler_cpu: &handler.session,
            handler_target: None,
        },
        condition: ", access token valid",
        note: " (GetItem by design: a logged-out or revoked session must fail at once)",
    };
    same_event(bench, quiet).await
}

/// A function sent the same event every time, which should make no network call when warm.
struct Quiet<'a> {
    name: &'a str,
    plan: Plan<'a>,
    /// After "network calls per warm invocation".
    condition: &'a str,
    /// After the calls counted.
    note: &'a str,
}

async fn same_event(bench: &mut Bench, quiet: Quiet<'_>) -> Result<Watched> {
    let Quiet {
        name,
        plan,
        condition,
        note,
    } = quiet;
    let mut watched = bench.watch(name).await?;
    let event = plan.first_event;
    let (_, counts) = invocations(bench, &mut watched, plan, async |_: &mut Bench| {
        Ok(event.clone())
    })
    .await?;
    let n = bench.options.iterations;
    bench.table.target(
        name,
        format!("network calls per warm invocation{condition} (n={n})"),
        format!("{}{note}", counts.warm()),
        "0",
        counts.warm_calls_none(),
    );
    bench.table.info(
        name,
        "network calls at init + first invocation",
        counts.init(),
    );
    Ok(watched)
}

/// The first and `--iterations` warm invocations of `watched` (just started), with their rows;
/// returns the last response and the calls.
async fn invocations(
    bench: &mut Bench,
    watched: &mut Watched,
    plan: Plan<'_>,
    mut next_event: impl AsyncFnMut(&mut Bench) -> Result<Value>,
) -> Result<(Value, Counts)> {
    let name = watched.container.name.clone();
    let (mut last, first) =
        first_invocation::measure(bench, watched, plan.first_event, plan.status).await?;
    let n = bench.options.iterations;
    let mut latency = Vec::with_capacity(n);
    let mut cpu = Vec::with_capacity(n);
    for _ in 0..n {
        let event = next_event(bench).await?;
        let invocation = watched.container.invoke(&event).await?;
        expect_status(&invocation.response, plan.status, &name)?;
        latency.push(invocation.latency);
        cpu.push(invocation.cpu);
        last = invocation.response;
    }
    let counts = Counts::between(&watched.started, &first, &bench.snapshot(watched), n);
    bench.table.info(
        &name,
        format!("warm invocation latency at the Runtime API, stand-ins on loopback, median / p95 (n={n})"),
        median_p95(&latency),
    );
    bench.table.info(
        &name,
        "process CPU per warm invocation: handler + runtime client + JSON log line, median / p95",
        median_p95(&cpu),
    );
    let handler_cpu = plan.handler_cpu;
    let measure = format!(
        "handler CPU per warm invocation, in-process, network waits excluded, median / p95 (n={})",
        handler_cpu.len()
    );
    match plan.handler_target {
        Some(target) => bench.table.target(
            &name,
            measure,
            median_p95(handler_cpu),
            format!("≤ {}", duration(target)),
            quantile(handler_cpu, 0.5) <= target,
        ),
        None => bench.table.info(&name, measure, median_p95(handler_cpu)),
    }
    Ok((last, counts))
}
