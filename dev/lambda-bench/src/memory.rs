//! Peak resident memory (VmHWM) of function processes, as Lambda's "Max Memory Used".

use anyhow::{bail, Context, Result};

use crate::bench::{Bench, Watched};
use crate::emulator::Container;
use crate::flow::{self, absorb_response, expect_status, prepared_callback, status};
use crate::proxy::Proxy;
use crate::report::mebibytes;

const MEMORY_TARGET: u64 = 20 * 1024 * 1024;
/// Invocations of refresh, logout and profile.
const OTHER_INVOCATIONS: usize = 20;

/// Login, callback and session after their warm invocations ([`crate::warm`]).
pub fn warm_containers(bench: &mut Bench, containers: [&Watched; 3]) {
    let n = bench.options.iterations;
    for watched in containers {
        let invocations = match watched.container.name.as_str() {
            // The login function also started every callback's login.
            "login" => 2 * n + 2,
            _ => n + 1,
        };
        row(bench, &watched.container, invocations);
    }
}

/// Refresh, logout and profile, each after 20 invocations of a session signed in through
/// `login` and `callback` (running containers).
pub async fn other_functions(
    bench: &mut Bench,
    login: &mut Container,
    callback: &mut Container,
) -> Result<()> {
    let aws = Proxy::start(bench.stack.moto).await.context("AWS proxy")?;
    for (name, event_name) in [
        ("refresh", "refresh-signed-in"),
        ("logout", "logout-with-session"),
        ("profile", "profile-signed-in"),
    ] {
        let (event, mut browser) = prepared_callback(login, bench.stack.idp()).await?;
        let signed = callback.invoke(&event).await?;
        expect_status(&signed.response, 302, "callback")?;
        absorb_response(&mut browser, &signed.response);
        let mut container = bench.start(name, &bench.stack.via(&aws.url)).await?;
        for _ in 0..OTHER_INVOCATIONS {
            let invocation = container
                .invoke(&flow::event_with_cookies(event_name, &browser))
                .await?;
            let code = status(&invocation.response);
            if !(200..400).contains(&code) {
                bail!("{name} answered {code}");
            }
            absorb_response(&mut browser, &invocation.response);
        }
        row(bench, &container, OTHER_INVOCATIONS);
        container.stop();
    }
    Ok(())
}

fn row(bench: &mut Bench, container: &Container, invocations: usize) {
    let peak = container.peak_rss().unwrap_or(0);
    bench.table.target(
        &container.name,
        format!(
            "peak resident memory (VmHWM; MB as Lambda's Max Memory Used, i.e. MiB) after init + {invocations} invocations"
        ),
        mebibytes(peak),
        "≤ 20 MB",
        peak > 0 && peak <= MEMORY_TARGET,
    );
}
