//! The first invocation of a fresh container: it waits for the warm-up reads its init started
//! (secrets, signing keys), so it is slower than the warm ones.

use anyhow::Result;
use serde_json::Value;

use crate::bench::{Bench, Watched};
use crate::counts::Snapshot;
use crate::flow::expect_status;
use crate::report::duration;

/// Invokes `watched` (just started) with `event`, which must answer `status`; returns the
/// response and the calls made until then (init + first invocation).
pub async fn measure(
    bench: &mut Bench,
    watched: &mut Watched,
    event: &Value,
    status: u64,
) -> Result<(Value, Snapshot)> {
    let container = &mut watched.container;
    let first = container.invoke(event).await?;
    expect_status(&first.response, status, &container.name)?;
    bench.table.info(
        &container.name,
        "first invocation of a fresh container (waits for the warm-up reads): latency (process CPU)",
        format!("{} ({})", duration(first.latency), duration(first.cpu)),
    );
    Ok((first.response, bench.snapshot(watched)))
}
