//! Cold starts: process start → first `GET …/invocation/next`, Lambda's Init phase as the
//! function's own code spends it.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::bench::Bench;
use crate::proxy::Proxy;
use crate::report::{duration, quantile};
use crate::stack::{Endpoints, FUNCTIONS};

/// The init target of every function (issue #15; the authorizer's cold start is paid on top of
/// the backend's it guards).
const INIT_TARGET: Duration = Duration::from_millis(4);

/// Every function, with the stand-ins answering.
pub async fn stand_ins_reachable(bench: &mut Bench) -> Result<()> {
    let aws = Proxy::start(bench.stack.moto).await.context("AWS proxy")?;
    let endpoints = bench.stack.via(&aws.url);
    for (name, _) in FUNCTIONS {
        let inits = inits(bench, name, &endpoints).await?;
        row(bench, name, &inits, "stand-ins reachable");
    }
    Ok(())
}

/// The init times of `--cold-starts` fresh containers of `name`.
pub async fn inits(bench: &mut Bench, name: &str, endpoints: &Endpoints) -> Result<Vec<Duration>> {
    let mut inits = Vec::with_capacity(bench.options.cold_starts);
    for _ in 0..bench.options.cold_starts {
        let container = bench.start(name, endpoints).await?;
        inits.push(container.init);
        container.stop();
    }
    Ok(inits)
}

/// The row of `inits`, under `condition`.
pub fn row(bench: &mut Bench, name: &str, inits: &[Duration], condition: &str) {
    let median = quantile(inits, 0.5);
    let max = quantile(inits, 1.0);
    let target = INIT_TARGET;
    bench.table.target(
        name,
        format!(
            "init, {condition}: process start → first `GET …/invocation/next` (median / max of {})",
            inits.len()
        ),
        format!("{} / {}", duration(median), duration(max)),
        format!("≤ {} ms", target.as_millis()),
        median <= target,
    );
}
