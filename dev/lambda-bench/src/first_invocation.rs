//! The first invocation of a fresh container: it waits for the warm-up reads its init started
//! (secrets, signing keys), so it is slower than the warm ones.

use anyhow::Result;
use serde_json::Value;

use crate::bench::{Bench, Watched};
use crate::counts::Snapshot;
use crate::flow::{expect, Answer};
use crate::report::duration;

/// Invokes `watched` (just started) with `event`, which must answer `answer`; returns the
/// response and the calls made until then (init + first invocation). `case` follows the row's
/// measure (which request, when a function has several rows).
pub async fn measure(
    bench: &mut Bench,
    watched: &mut Watched,
    event: &Value,
    answer: Answer,
    case: &str,
) -> Result<(Value, Snapshot)> {
    let container = &mut watched.container;
    let first = container.invoke(event).await?;
    expect(&first.response, answer, &container.name)?;
    bench.table.info(
        &container.name,
        format!("first invocation of a fresh container (waits for the warm-up reads){case}: latency (process CPU)"),
        format!("{} ({})", duration(first.latency), duration(first.cpu)),
    );
    Ok((first.response, bench.snapshot(watched)))
}
