//! Init with Scalekit and AWS black-holed, and whether the first invocation works once they
//! answer again: after a stall whose held requests complete, and after one whose held requests
//! are never answered (only new connections are).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use flow_tests::Browser;
use scalekit_dev::{DevScalekit, DevScalekitOptions};
use serde_json::Value;

use crate::bench::Bench;
use crate::cold_start;
use crate::emulator::Container;
use crate::flow::{self, absorb_response, prepared_callback, status};
use crate::proxy::{Mode, Proxy};
use crate::report::duration;
use crate::stack::{socket_addr, Endpoints};

/// How long the network stays black-holed after the first event is handed over.
const BLACKHOLE_FOR: Duration = Duration::from_secs(1);
/// How long a first invocation may take once the network answers.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

const SCENARIOS: [(bool, &str); 2] = [
    (
        false,
        "stalled 1 s, then answering (held requests complete)",
    ),
    (
        true,
        "black-holed 1 s; requests sent meanwhile are never answered, new ones are",
    ),
];

/// Scalekit and AWS behind proxies that can black-hole them.
struct Gates {
    /// A second dev Scalekit server whose issuer is its gate's URL, so that its tokens verify
    /// behind the gate.
    idp: DevScalekit,
    scalekit: Proxy,
    aws: Proxy,
}

impl Gates {
    async fn start(bench: &Bench) -> Result<Gates> {
        let (listener, gate_url) = Proxy::bind().await.context("Scalekit gate")?;
        let idp = DevScalekit::start_with(DevScalekitOptions {
            issuer: Some(gate_url.clone()),
            ..Default::default()
        })
        .await
        .context("dev Scalekit server")?;
        let scalekit = Proxy::serve(listener, gate_url, socket_addr(&idp.url())?);
        let aws = Proxy::start(bench.stack.moto).await.context("AWS gate")?;
        Ok(Gates { idp, scalekit, aws })
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            scalekit: self.scalekit.url.clone(),
            aws: self.aws.url.clone(),
        }
    }

    fn set(&self, mode: Mode) {
        self.scalekit.set_mode(mode);
        self.aws.set_mode(mode);
    }

    fn stall_held_forever(&self, stall: bool) {
        self.scalekit.stall_held_forever(stall);
        self.aws.stall_held_forever(stall);
    }
}

pub async fn measure(bench: &mut Bench) -> Result<()> {
    let gates = Gates::start(bench).await?;
    let endpoints = gates.endpoints();

    gates.set(Mode::Blackhole);
    for name in ["login", "callback", "session"] {
        let inits = cold_start::inits(bench, name, &endpoints).await?;
        cold_start::row(bench, name, &inits, "Scalekit and AWS black-holed");
    }
    gates.set(Mode::Open);

    let mut login = bench.start("login", &endpoints).await?;
    let mut signed_in: Option<Browser> = None;
    for (stall_forever, scenario) in SCENARIOS {
        gates.stall_held_forever(stall_forever);
        for (name, expected) in [("login", 302), ("callback", 302), ("session", 200)] {
            let mut browser = None;
            let event = match name {
                "login" => flow::event("login-plain"),
                "callback" => {
                    let (event, prepared) = prepared_callback(&mut login, &gates.idp).await?;
                    browser = Some(prepared);
                    event
                }
                _ => match &signed_in {
                    Some(b) => flow::event_with_cookies("session-signed-in", b),
                    None => {
                        bench.table.info(
                            name,
                            format!("first invocation, network {scenario}"),
                            "not run: no signed-in session",
                        );
                        continue;
                    }
                },
            };
            gates.set(Mode::Blackhole);
            let container = bench.start(name, &endpoints).await?;
            let (result, answer) = first_invocation(container, &event, &gates).await?;
            let ok = answer.as_ref().is_some_and(|r| status(r) == expected);
            if let (true, Some(response), Some(mut b)) = (ok, &answer, browser.take()) {
                // Only the callback prepared a browser.
                absorb_response(&mut b, response);
                signed_in = Some(b);
            }
            bench.table.target(
                name,
                format!("first invocation, network {scenario}"),
                result,
                format!("works ({expected}) once the network answers"),
                ok,
            );
        }
    }
    login.stop();
    Ok(())
}

/// Hands `event` to `container` (started black-holed), opens the network [`BLACKHOLE_FOR`]
/// later, and describes the answer; also returns it.
async fn first_invocation(
    mut container: Container,
    event: &Value,
    gates: &Gates,
) -> Result<(String, Option<Value>)> {
    let init = container.init;
    container.deliver(event)?;
    let early = container.finish(BLACKHOLE_FOR).await?;
    gates.set(Mode::Open);
    let opened = Instant::now();
    let answer = match early {
        Some(answer) => Some(answer),
        None => container.finish(ANSWER_WITHIN).await?,
    };
    container.stop();
    Ok(match answer {
        Some((at, response)) => {
            let when = if at < opened {
                "while still black-holed".to_owned()
            } else {
                format!("{} after the network answered again", duration(at - opened))
            };
            let code = status(&response);
            (
                format!("{code}, {when} (init {})", duration(init)),
                Some(response),
            )
        }
        None => ("no answer within 20 s".to_owned(), None),
    })
}
