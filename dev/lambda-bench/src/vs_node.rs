//! `--vs-node`: our login and callback beside the seed's (Scalekit's "Implement user login"
//! guide for Node/Express), ported to two Node Lambda handlers in dev/node-seed that run under a
//! plain-JS custom-runtime loop: the same Runtime API emulator, the same dev Scalekit server and
//! the same procedure for both. Init, warm latency, process CPU per warm invocation and peak
//! memory, and the ratios Node / Rust, in a table of their own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::bench::{Bench, Process};
use crate::emulator::Container;
use crate::flow::{self, expect_status, prepared_callback};
use crate::report::{duration, mebibytes, quantile};

/// Where the sample events say the API is: the Node callback's redirect URI.
const REDIRECT_URI: &str = "https://abc123def4.execute-api.us-east-1.amazonaws.com/api/callback";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Rust,
    Node,
}

/// The seed's port: `node`, and dev/node-seed with its packages installed.
struct Seed {
    node: PathBuf,
    dir: PathBuf,
    /// `node --version` and the SDK's version, for the table's intro.
    versions: String,
}

impl Seed {
    fn locate() -> Result<Seed> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node-seed");
        let dir = dir
            .canonicalize()
            .with_context(|| dir.display().to_string())?;
        let sdk = dir.join("node_modules/@scalekit-sdk/node/package.json");
        let sdk: serde_json::Value = std::fs::read_to_string(&sdk)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .context("dev/node-seed has no node_modules: run ./dev/bench --vs-node (npm ci)")?;
        let node = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|path| path.join("node"))
            .find(|path| path.is_file())
            .context("no node on PATH (--vs-node needs Node 20)")?;
        let version = Command::new(&node)
            .arg("--version")
            .output()
            .context("node --version")?;
        ensure!(version.status.success(), "node --version failed");
        let versions = format!(
            "Node {}, @scalekit-sdk/node {}",
            String::from_utf8_lossy(&version.stdout).trim(),
            sdk["version"].as_str().unwrap_or("?")
        );
        Ok(Seed {
            node,
            dir,
            versions,
        })
    }
}

/// One function's figures on one side.
#[derive(Default)]
struct Figures {
    inits: Vec<Duration>,
    latency: Vec<Duration>,
    cpu: Vec<Duration>,
    peak: u64,
    invocations: usize,
}

pub async fn compare(bench: &mut Bench) -> Result<()> {
    let seed = Seed::locate()?;
    let mut rust = [Figures::default(), Figures::default()];
    let mut node = [Figures::default(), Figures::default()];
    for (side, figures) in [(Side::Rust, &mut rust), (Side::Node, &mut node)] {
        for (name, f) in ["login", "callback"].into_iter().zip(figures.iter_mut()) {
            for _ in 0..bench.options.cold_starts {
                f.inits.push(start(bench, &seed, side, name).await?.init);
            }
        }
        warm(bench, &seed, side, figures).await?;
    }
    let n = bench.options.iterations;
    bench.comparison.intro = format!(
        "Rust beside the seed's Node flow (`./dev/bench --vs-node`; {}): login and callback, the \
         same Runtime API emulator and dev Scalekit server, the same procedure for both; medians. \
         The Node port does what the seed does, which is less than ours: no state, nonce or PKCE, \
         the ID token decoded but not verified, the refresh token kept in the container's memory \
         (the seed's database), no session record (ours: a DynamoDB PutItem per callback).",
        seed.versions
    );
    for (i, name) in ["login", "callback"].into_iter().enumerate() {
        let (r, o) = (&rust[i], &node[i]);
        let table = &mut bench.comparison;
        let cold = format!(
            "init: process start → first `GET …/invocation/next` (median of {})",
            r.inits.len()
        );
        row_of(table, name, cold, &r.inits, &o.inits);
        let latency = format!("warm invocation latency at the Runtime API (n={n})");
        row_of(table, name, latency, &r.latency, &o.latency);
        let cpu = format!("process CPU per warm invocation (n={n})");
        row_of(table, name, cpu, &r.cpu, &o.cpu);
        table.row(
            name,
            format!(
                "peak resident memory (VmHWM, MiB) after init + {} invocations",
                r.invocations
            ),
            (mebibytes(r.peak), mebibytes(o.peak)),
            (r.peak as f64, o.peak as f64),
        );
    }
    Ok(())
}

fn row_of(
    table: &mut crate::report::Comparison,
    name: &str,
    measure: String,
    rust: &[Duration],
    node: &[Duration],
) {
    let (r, o) = (quantile(rust, 0.5), quantile(node, 0.5));
    table.row(
        name,
        measure,
        (duration(r), duration(o)),
        (r.as_secs_f64(), o.as_secs_f64()),
    );
}

/// Warm login (the same event) and callback (each with a fresh code, from a login through the
/// same side's login function) invocations, after one unmeasured first invocation each.
async fn warm(
    bench: &mut Bench,
    seed: &Seed,
    side: Side,
    figures: &mut [Figures; 2],
) -> Result<()> {
    let n = bench.options.iterations;
    let [login_figures, callback_figures] = figures;
    let mut login = start(bench, seed, side, "login").await?;
    let event = flow::event("login-plain");
    for i in 0..=n {
        let invocation = login.invoke(&event).await?;
        expect_status(&invocation.response, 302, &login.name)?;
        if i > 0 {
            login_figures.latency.push(invocation.latency);
            login_figures.cpu.push(invocation.cpu);
        }
    }
    let mut callback = start(bench, seed, side, "callback").await?;
    for i in 0..=n {
        let (event, _) = prepared_callback(&mut login, bench.stack.idp()).await?;
        let invocation = callback.invoke(&event).await?;
        expect_status(&invocation.response, 302, &callback.name)?;
        if i > 0 {
            callback_figures.latency.push(invocation.latency);
            callback_figures.cpu.push(invocation.cpu);
        }
    }
    for (figures, container) in [(login_figures, &login), (callback_figures, &callback)] {
        figures.peak = container.peak_rss().unwrap_or(0);
        // The login function also started every callback's login.
        figures.invocations = if container.name == "login" {
            2 * n + 2
        } else {
            n + 1
        };
    }
    Ok(())
}

/// A fresh container of `name` on `side`: our binary, or `node runtime.js` with the seed's
/// handler and its configuration (the client secret in the environment, as the seed reads it).
async fn start(bench: &mut Bench, seed: &Seed, side: Side, name: &str) -> Result<Container> {
    let endpoints = bench.stack.direct();
    if side == Side::Rust {
        return bench.start(name, &endpoints).await;
    }
    let idp = bench.stack.idp();
    let mut env: Vec<(String, String)> = bench
        .stack
        .lambda_env(name, &endpoints)
        .into_iter()
        .filter(|(k, _)| k != "LAMBDA_TASK_ROOT" && k != "_HANDLER")
        .collect();
    let seed_dir = seed.dir.display().to_string();
    for (k, v) in [
        ("LAMBDA_TASK_ROOT", seed_dir),
        ("_HANDLER", format!("{name}.handler")),
        ("NODE_ENV", "production".to_owned()),
        ("SCALEKIT_ENVIRONMENT_URL", idp.url()),
        ("SCALEKIT_CLIENT_ID", idp.client_id().to_owned()),
        ("SCALEKIT_CLIENT_SECRET", idp.client_secret().to_owned()),
        ("REDIRECT_URI", REDIRECT_URI.to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    let runtime = seed.dir.join("runtime.js").display().to_string();
    let args = [runtime.as_str()];
    let process = Process {
        name,
        binary: seed.node.clone(),
        args: &args,
        label: format!("node-{name}"),
    };
    bench.spawn(process, &env).await
}
