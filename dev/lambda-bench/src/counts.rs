//! Network calls: the dev Scalekit server's own request counters and the AWS proxy's counts by
//! operation, taken at points of a container's life, and the calls between them.

use std::collections::BTreeMap;

use scalekit_dev::{DevScalekit, Endpoint};

use crate::proxy::Proxy;
use crate::report::calls;

/// Calls so far, by endpoint or operation.
pub type Calls = BTreeMap<String, usize>;
/// Calls between two snapshots, by endpoint or operation, per invocation.
pub type PerInvocation = BTreeMap<String, f64>;

/// The calls Scalekit and AWS (through one proxy) have received so far.
pub struct Snapshot {
    scalekit: Calls,
    aws: Calls,
}

impl Snapshot {
    /// The counts now, less the Scalekit calls `aside` (made by the harness, not the function).
    pub fn take(idp: &DevScalekit, aws: &Proxy, aside: &Calls) -> Snapshot {
        let mut scalekit = scalekit_calls(idp);
        for (endpoint, n) in scalekit.iter_mut() {
            *n -= aside.get(endpoint).copied().unwrap_or(0);
        }
        Snapshot {
            scalekit,
            aws: aws.counts(),
        }
    }
}

/// The dev Scalekit server's counters of the endpoints a function calls.
pub fn scalekit_calls(idp: &DevScalekit) -> Calls {
    BTreeMap::from([
        ("Token".to_owned(), idp.requests(Endpoint::Token)),
        ("Keys".to_owned(), idp.requests(Endpoint::Keys)),
    ])
}

/// A container's calls at init + first invocation, and per warm invocation.
pub struct Counts {
    pub scalekit_init: PerInvocation,
    pub aws_init: PerInvocation,
    pub scalekit_warm: PerInvocation,
    pub aws_warm: PerInvocation,
}

impl Counts {
    /// `started`: before the container started (its init may fetch keys); `first`: after its
    /// first invocation; `last`: after `warm` more.
    pub fn between(started: &Snapshot, first: &Snapshot, last: &Snapshot, warm: usize) -> Counts {
        Counts {
            scalekit_init: delta(&first.scalekit, &started.scalekit, 1),
            aws_init: delta(&first.aws, &started.aws, 1),
            scalekit_warm: delta(&last.scalekit, &first.scalekit, warm),
            aws_warm: delta(&last.aws, &first.aws, warm),
        }
    }

    pub fn init(&self) -> String {
        format!(
            "Scalekit: {}; AWS: {}",
            calls(&self.scalekit_init),
            calls(&self.aws_init)
        )
    }

    pub fn warm(&self) -> String {
        format!(
            "Scalekit: {}; AWS: {}",
            calls(&self.scalekit_warm),
            calls(&self.aws_warm)
        )
    }
}

/// `new - old` per operation, divided by `per`.
fn delta(new: &Calls, old: &Calls, per: usize) -> PerInvocation {
    new.iter()
        .map(|(k, n)| {
            let before = old.get(k).copied().unwrap_or(0);
            (k.clone(), (n - before) as f64 / per.max(1) as f64)
        })
        .collect()
}

/// Exactly the `expected` calls per invocation, and no other.
pub fn exactly(counts: &PerInvocation, expected: &[(&str, f64)]) -> bool {
    counts.iter().all(|(name, n)| {
        let want = expected
            .iter()
            .find(|(e, _)| e == name)
            .map_or(0.0, |(_, w)| *w);
        (n - want).abs() < 1e-9
    })
}
