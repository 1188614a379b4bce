//! Warm invocations of login, callback and session at the Runtime API: latency, process CPU,
//! the in-process handler CPU beside them, and the network calls per invocation and at init.
//! Each callback gets a fresh login through the login function. [`invocations`] and
//! [`same_event`] serve the other functions' scenarios too.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flow_tests::Browser;
use serde_json::Value;

use crate::bench::{Bench, Watched};
use crate::counts::{exactly, Counts};
use crate::first_invocation;
use crate::flow::{self, absorb_response, expect, prepared_callback, Answer};
use crate::handler_cpu::HandlerCpu;
use crate::report::{calls, duration, median_p95, quantile};

/// What one function's invocations send and expect, and its in-process handler figures.
pub struct Plan<'a> {
    pub first_event: &'a Value,
    pub answer: Answer,
    /// Which request, after each row's measure when a function has rows for several (`""`).
    pub case: &'a str,
    /// The in-process handler CPU of the same request, if measured.
    pub handler_cpu: Option<&'a [Duration]>,
    pub handler_target: Option<Duration>,
    /// The target for the process CPU per warm invocation, if it has one.
    pub process_target: Option<Duration>,
}

/// Login: the same event every time.
pub async fn login(bench: &mut Bench, handler: &HandlerCpu) -> Result<Watched> {
    let event = flow::event("login-plain");
    let repeated = Repeated {
        name: "login",
        plan: Plan {
            first_event: &event,
            answer: Answer::Status(302),
            case: "",
            handler_cpu: Some(&handler.login),
            handler_target: Some(Duration::from_micros(50)),
            process_target: None,
        },
        condition: "",
        aws: &[],
        note: "",
    };
    same_event(bench, repeated).await
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
        answer: Answer::Status(302),
        case: "",
        handler_cpu: Some(&handler.callback),
        handler_target: Some(Duration::from_micros(300)),
        // Issue #15.
        process_target: Some(Duration::from_micros(400)),
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
        signed_in
            .get(shared::session::cookies::SESSION_COOKIE)
            .is_some(),
        "the last callback set no session cookie"
    );
    Ok((callback, signed_in))
}

/// Session, with a valid access token: the same signed-in event every time.
pub async fn session(bench: &mut Bench, handler: &HandlerCpu, event: &Value) -> Result<Watched> {
    let repeated = Repeated {
        name: "session",
        plan: Plan {
            first_event: event,
            answer: Answer::Status(200),
            case: "",
            handler_cpu: Some(&handler.session),
            handler_target: None,
            process_target: None,
        },
        condition: ", access token valid",
        // The target stays 0: the issue asks for none; the note says why there is one.
        aws: &[],
        note: " (GetItem by design: a logged-out or revoked session must fail at once)",
    };
    same_event(bench, repeated).await
}

/// A function sent the same event every time, with a target for its calls per warm invocation:
/// no Scalekit call, and exactly the AWS calls `aws` (none: `0`).
pub struct Repeated<'a> {
    pub name: &'a str,
    pub plan: Plan<'a>,
    /// After "network calls per warm invocation".
    pub condition: &'a str,
    pub aws: &'a [(&'a str, f64)],
    /// After the calls counted.
    pub note: &'a str,
}

pub async fn same_event(bench: &mut Bench, repeated: Repeated<'_>) -> Result<Watched> {
    let Repeated {
        name,
        plan,
        condition,
        aws,
        note,
    } = repeated;
    let mut watched = bench.watch(name).await?;
    let event = plan.first_event;
    let (_, counts) = invocations(bench, &mut watched, plan, async |_: &mut Bench| {
        Ok(event.clone())
    })
    .await?;
    let n = bench.options.iterations;
    let target = if aws.is_empty() {
        "0".to_owned()
    } else {
        let expected = aws.iter().map(|(op, n)| (op.to_string(), *n)).collect();
        format!("AWS: {}", calls(&expected))
    };
    bench.table.target(
        name,
        format!("network calls per warm invocation{condition} (n={n})"),
        format!("{}{note}", counts.warm()),
        target,
        exactly(&counts.scalekit_warm, &[]) && exactly(&counts.aws_warm, aws),
    );
    bench.table.info(
        name,
        format!("network calls at init + first invocation{condition}"),
        counts.init(),
    );
    Ok(watched)
}

/// The first and `--iterations` warm invocations of `watched` (just started), with their rows;
/// returns the last response and the calls.
pub async fn invocations(
    bench: &mut Bench,
    watched: &mut Watched,
    plan: Plan<'_>,
    mut next_event: impl AsyncFnMut(&mut Bench) -> Result<Value>,
) -> Result<(Value, Counts)> {
    let name = watched.container.name.clone();
    let case = plan.case;
    let (mut last, first) =
        first_invocation::measure(bench, watched, plan.first_event, plan.answer, case).await?;
    let n = bench.options.iterations;
    let mut latency = Vec::with_capacity(n);
    let mut cpu = Vec::with_capacity(n);
    for _ in 0..n {
        let event = next_event(bench).await?;
        let invocation = watched.container.invoke(&event).await?;
        expect(&invocation.response, plan.answer, &name)?;
        latency.push(invocation.latency);
        cpu.push(invocation.cpu);
        last = invocation.response;
    }
    let counts = Counts::between(&watched.started, &first, &bench.snapshot(watched), n);
    bench.table.info(
        &name,
        format!("warm invocation latency at the Runtime API{case}, stand-ins on loopback, median / p95 (n={n})"),
        median_p95(&latency),
    );
    let measure = format!(
        "process CPU per warm invocation{case}: handler + runtime client + JSON log line, median / p95"
    );
    match plan.process_target {
        Some(target) => bench.table.target(
            &name,
            measure,
            median_p95(&cpu),
            format!("≤ {}", duration(target)),
            quantile(&cpu, 0.5) <= target,
        ),
        None => bench.table.info(&name, measure, median_p95(&cpu)),
    }
    let Some(handler_cpu) = plan.handler_cpu else {
        return Ok((last, counts));
    };
    let measure = format!(
        "handler CPU per warm invocation{case}, in-process, network waits excluded, median / p95 (n={})",
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
