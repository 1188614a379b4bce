//! The authorizer's decisions (API Gateway HTTP API Lambda authorizer, payload 2.0 simple
//! responses), in-process and at the Runtime API: for a browser session whose access token is
//! valid (one DynamoDB read, the session record, so that a logout or a revocation counts at
//! once) and for a Bearer access token (verified locally: no network call at all).

use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use authorizer::AuthorizerEvent;
use flow_tests::events;
use serde_json::Value;
use shared::session::cookies::ACCESS_TOKEN_COOKIE;

use crate::bench::{Bench, Watched};
use crate::emulator::Container;
use crate::flow::{self, Answer, USER};
use crate::handler_cpu::{self, WARM_UP};
use crate::procfs::thread_cpu;
use crate::stack::Stack;
use crate::warm::{self, Plan, Repeated};

/// Issue #15: a warm session decision within 150 µs of handler CPU.
const SESSION_DECISION_TARGET: Duration = Duration::from_micros(150);

const SESSION_CASE: &str = ", session cookie, access token valid";
const BEARER_CASE: &str = ", Bearer access token";

/// Signs a user in through `login` and `callback` (running containers), then measures the
/// authorizer's decisions for that session and for its access token as a Bearer token; returns
/// the container that made the session decisions.
pub async fn measure(
    bench: &mut Bench,
    login: &mut Container,
    callback: &mut Container,
) -> Result<Watched> {
    let browser = flow::signed_in_as(login, callback, bench.stack.idp(), USER, None).await?;
    let session_event = flow::event_with_cookies("authorizer-session", &browser);
    // A real Scalekit access token, as a client that signed in would send it.
    let token = browser
        .get(ACCESS_TOKEN_COOKIE)
        .context("the callback set no accessToken cookie")?;
    let mut bearer_event = flow::event("authorizer-bearer");
    events::set_header(
        &mut bearer_event,
        "authorization",
        &format!("Bearer {token}"),
    );

    let (session_cpu, bearer_cpu) = in_process(bench, &session_event, &bearer_event).await?;

    let session = warm::same_event(
        bench,
        Repeated {
            name: "authorizer",
            plan: Plan {
                first_event: &session_event,
                answer: Answer::Authorized(true),
                case: SESSION_CASE,
                handler_cpu: Some(&session_cpu),
                handler_target: Some(SESSION_DECISION_TARGET),
                process_target: None,
            },
            condition: SESSION_CASE,
            aws: &[("GetItem", 1.0)],
            note: "",
        },
    )
    .await?;
    warm::same_event(
        bench,
        Repeated {
            name: "authorizer",
            plan: Plan {
                first_event: &bearer_event,
                answer: Answer::Authorized(true),
                case: BEARER_CASE,
                handler_cpu: Some(&bearer_cpu),
                handler_target: None,
                process_target: None,
            },
            condition: BEARER_CASE,
            aws: &[],
            note: "",
        },
    )
    .await?;
    Ok(session)
}

/// Handler CPU of the session and the Bearer decisions, in-process on a thread of its own (as
/// [`handler_cpu::measure`] does for the other handlers).
async fn in_process(
    bench: &Bench,
    session_event: &Value,
    bearer_event: &Value,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let stack = bench.stack.clone();
    let iterations = bench.options.iterations;
    let events = [session_event.clone(), bearer_event.clone()];
    tokio::task::spawn_blocking(move || decide_here(&stack, iterations, &events))
        .await
        .context("in-process authorizer")?
}

fn decide_here(
    stack: &Stack,
    iterations: usize,
    [session_event, bearer_event]: &[Value; 2],
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    runtime.block_on(async move {
        // The SDK's connections belong to this thread's runtime.
        let sdk = shared::aws::sdk_config().await;
        let env = stack.in_process_env(authorizer::NEEDS);
        let app = handler_cpu::app(&env, authorizer::NEEDS, &sdk)?;
        let session = decisions(&app, session_event, iterations).await?;
        let bearer = decisions(&app, bearer_event, iterations).await?;
        Ok((session, bearer))
    })
}

/// CPU of `authorizer::handle` allowing `event`, [`WARM_UP`] times unmeasured, then
/// `iterations` times; the event is decoded before the clock starts, as the runtime does.
async fn decisions(app: &shared::App, event: &Value, iterations: usize) -> Result<Vec<Duration>> {
    let mut cpu = Vec::with_capacity(iterations);
    for i in 0..WARM_UP + iterations {
        let decoded: AuthorizerEvent =
            serde_json::from_value(event.clone()).context("an authorizer event")?;
        let before = thread_cpu();
        let decision = authorizer::handle(app, decoded).await;
        let spent = thread_cpu() - before;
        let decision = decision.map_err(|e| anyhow!("authorizer: {e}"))?;
        ensure!(decision.is_authorized, "the authorizer refused");
        if i >= WARM_UP {
            cpu.push(spent);
        }
    }
    Ok(cpu)
}
