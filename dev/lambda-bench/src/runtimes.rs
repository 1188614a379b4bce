//! `--compare-runtimes`: process CPU of the same handlers, in this binary
//! (`--serve-function`, see [`crate::serve`]), on a multi-thread and on a current-thread
//! runtime. Settled (every function's `main` uses current-thread), so off unless asked for.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::bench::{Bench, Process};
use crate::cli::Flavour;
use crate::emulator::Container;
use crate::flow::{self, expect_status, prepared_callback};
use crate::proxy::Proxy;
use crate::report::median_p95;

/// Login, callback (its logins started in `login`, a running container) and session (with
/// `session_event`) on each flavour.
pub async fn compare(
    bench: &mut Bench,
    login: &mut Container,
    session_event: &Value,
) -> Result<()> {
    let aws = Proxy::start(bench.stack.moto).await.context("AWS proxy")?;
    let login_event = flow::event("login-plain");
    let n = bench.options.iterations;
    for name in ["login", "callback", "session"] {
        let mut medians = Vec::new();
        for flavour in Flavour::ALL {
            let args = ["--serve-function", name, flavour.name()];
            let process = Process {
                name,
                binary: bench.binary("lambda-bench"),
                args: &args,
                label: format!("{name}-{}", flavour.name()),
            };
            let mut container = bench.launch(process, &bench.stack.via(&aws.url)).await?;
            let cpu = match name {
                "login" => {
                    warm_cpu(bench, &mut container, 302, async |_: &mut Bench| {
                        Ok(login_event.clone())
                    })
                    .await?
                }
                "callback" => {
                    warm_cpu(bench, &mut container, 302, async |bench: &mut Bench| {
                        Ok(prepared_callback(login, bench.stack.idp()).await?.0)
                    })
                    .await?
                }
                _ => {
                    warm_cpu(bench, &mut container, 200, async |_: &mut Bench| {
                        Ok(session_event.clone())
                    })
                    .await?
                }
            };
            medians.push(median_p95(&cpu));
            container.stop();
        }
        bench.table.info(
            name,
            format!(
                "process CPU per warm invocation, same handler in a bench-built binary, median / p95: multi-thread runtime → current-thread runtime (as main.rs) (n={n})"
            ),
            medians.join(" → "),
        );
    }
    Ok(())
}

/// Process CPU of `--iterations` warm invocations (after a first one).
async fn warm_cpu(
    bench: &mut Bench,
    container: &mut Container,
    expected: u64,
    mut next_event: impl AsyncFnMut(&mut Bench) -> Result<Value>,
) -> Result<Vec<Duration>> {
    let mut cpu = Vec::with_capacity(bench.options.iterations);
    for i in 0..=bench.options.iterations {
        let event = next_event(bench).await?;
        let invocation = container.invoke(&event).await?;
        expect_status(&invocation.response, expected, &container.name)?;
        if i > 0 {
            cpu.push(invocation.cpu);
        }
    }
    Ok(cpu)
}
