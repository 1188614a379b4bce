//! Peak resident memory (VmHWM) of function processes, as Lambda's "Max Memory Used".

use anyhow::{bail, Context, Result};

use crate::bench::{Bench, Watched};
use crate::emulator::Container;
use crate::flow::{self, absorb_response, signed_in_as, status, USER};
use crate::proxy::Proxy;
use crate::report::mebibytes;

const MEMORY_TARGET: u64 = 20 * 1024 * 1024;
/// Invocations of the functions measured for their memory only.
const OTHER_INVOCATIONS: usize = 20;

/// Who is signed in (`user`, `organization` when the IdP asks for one).
type Who = (&'static str, Option<&'static str>);

/// The functions measured for their memory only: the sample event each gets, and who is signed
/// in for it (`None`: nobody; the example backend gets what the authorizer put in its event).
const OTHERS: [(&str, &str, Option<Who>); 5] = [
    ("refresh", "refresh-signed-in", Some((USER, None))),
    ("logout", "logout-with-session", Some((USER, None))),
    ("profile", "profile-signed-in", Some((USER, None))),
    ("example-backend", "example-backend-me", None),
    // Not the user every warm callback signed in: the list would hold hundreds of sessions.
    (
        "sessions",
        "sessions-list",
        Some(("usr_alice", Some("org_acme"))),
    ),
];

/// Login, callback and session after their warm invocations ([`crate::warm`]).
pub fn warm_containers(bench: &mut Bench, containers: [&Watched; 3]) {
    let n = bench.options.iterations;
    for watched in containers {
        let invocations = match watched.container.name.as_str() {
            // The login function also started every callback's login.
            "login" => 2 * n + 2,
            _ => n + 1,
        };
        after(bench, &watched.container, invocations);
    }
}

/// The functions in [`OTHERS`], each after 20 invocations, signed in through `login` and
/// `callback` (running containers) where they need a session.
pub async fn other_functions(
    bench: &mut Bench,
    login: &mut Container,
    callback: &mut Container,
) -> Result<()> {
    let aws = Proxy::start(bench.stack.moto).await.context("AWS proxy")?;
    for (name, event_name, signed_in) in OTHERS {
        let mut browser = match signed_in {
            Some((user, organization)) => {
                signed_in_as(login, callback, bench.stack.idp(), user, organization).await?
            }
            None => flow_tests::Browser::new(),
        };
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
        after(bench, &container, OTHER_INVOCATIONS);
        container.stop();
    }
    Ok(())
}

/// The row of `container`'s peak memory after init and `invocations` invocations.
pub fn after(bench: &mut Bench, container: &Container, invocations: usize) {
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
