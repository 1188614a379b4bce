//! The harness the scenarios share: the options, the stand-ins, the table, and function
//! processes started as Lambda starts them, each with its own log.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

use crate::cli::Options;
use crate::counts::{scalekit_calls, Calls, Snapshot};
use crate::emulator::{Container, Launch};
use crate::proxy::Proxy;
use crate::report::{Comparison, Table};
use crate::stack::{needs_of, Endpoints, Stack, FUNCTIONS};

pub struct Bench {
    pub options: Options,
    /// Shared with the in-process measurement's thread.
    pub stack: Arc<Stack>,
    /// target/lambda-bench: logs of every function process, and the zips.
    pub work: PathBuf,
    pub table: Table,
    /// `--vs-node`: Rust and the seed's Node flow side by side.
    pub comparison: Comparison,
    log_seq: usize,
    /// Scalekit calls the harness made itself while functions were watched (the sign-ins that
    /// prepare a back-channel logout or a webhook), left out of every count: the dev server
    /// counts requests from anyone, the AWS proxies only those of their own container.
    aside: Calls,
}

/// A process to start for function `name`: `binary` (a function binary, or this one) with
/// `args`, its log named after `label`.
pub struct Process<'a> {
    pub name: &'a str,
    pub binary: PathBuf,
    pub args: &'a [&'a str],
    pub label: String,
}

/// A container whose network calls are counted: its own AWS proxy, and the calls before it
/// started.
pub struct Watched {
    pub container: Container,
    pub aws: Proxy,
    pub started: Snapshot,
}

pub fn progress(message: &str) {
    eprintln!("\x1b[1m==> {message}\x1b[0m");
}

impl Bench {
    /// Checks the binaries, makes the work folder and starts the stand-ins.
    pub async fn prepare(options: Options) -> Result<Bench> {
        for (name, _) in FUNCTIONS {
            let binary = options.bin_dir.join(name);
            ensure!(
                binary.is_file(),
                "{} not found: build with cargo build --release --bins (./dev/bench does)",
                binary.display()
            );
        }
        let work = options
            .bin_dir
            .parent()
            .unwrap_or(&options.bin_dir)
            .join("lambda-bench");
        std::fs::create_dir_all(work.join("logs")).with_context(|| work.display().to_string())?;
        progress("stand-ins: dev Scalekit server, session table and secrets in moto");
        Ok(Bench {
            options,
            stack: Arc::new(Stack::start().await?),
            work,
            table: Table::default(),
            comparison: Comparison::default(),
            log_seq: 0,
            aside: Calls::new(),
        })
    }

    /// Function `name`'s release binary.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.options.bin_dir.join(name)
    }

    /// Starts function `name`'s binary reaching the stand-ins at `endpoints`.
    pub async fn start(&mut self, name: &str, endpoints: &Endpoints) -> Result<Container> {
        let process = Process {
            name,
            binary: self.binary(name),
            args: &[],
            label: name.to_owned(),
        };
        self.launch(process, endpoints).await
    }

    /// Starts a process with function `process.name`'s environment.
    pub async fn launch(
        &mut self,
        process: Process<'_>,
        endpoints: &Endpoints,
    ) -> Result<Container> {
        let needs = needs_of(process.name)?;
        let env = self.stack.function_env(process.name, needs, endpoints);
        self.spawn(process, &env).await
    }

    /// Starts a process with the environment `env` (a function that is not one of ours).
    pub async fn spawn(
        &mut self,
        process: Process<'_>,
        env: &[(String, String)],
    ) -> Result<Container> {
        self.log_seq += 1;
        let log = self
            .work
            .join("logs")
            .join(format!("{:04}-{}.log", self.log_seq, process.label));
        Container::start(Launch {
            name: process.name,
            binary: &process.binary,
            args: process.args,
            env,
            log: &log,
        })
        .await
    }

    /// Starts function `name` reaching the dev Scalekit server and moto through a fresh
    /// counting proxy.
    pub async fn watch(&mut self, name: &str) -> Result<Watched> {
        let aws = Proxy::start(self.stack.moto).await.context("AWS proxy")?;
        let started = Snapshot::take(self.stack.idp(), &aws, &self.aside);
        let container = self.start(name, &self.stack.via(&aws.url)).await?;
        Ok(Watched {
            container,
            aws,
            started,
        })
    }

    /// The calls `watched` has seen so far.
    pub fn snapshot(&self, watched: &Watched) -> Snapshot {
        Snapshot::take(self.stack.idp(), &watched.aws, &self.aside)
    }

    /// The Scalekit calls so far, to pass to [`Self::set_aside_since`] after the harness's own.
    pub fn scalekit_mark(&self) -> Calls {
        scalekit_calls(self.stack.idp())
    }

    /// Leaves the Scalekit calls made since `mark` (by the harness) out of every count.
    pub fn set_aside_since(&mut self, mark: &Calls) {
        for (endpoint, now) in scalekit_calls(self.stack.idp()) {
            let before = mark.get(&endpoint).copied().unwrap_or(0);
            *self.aside.entry(endpoint).or_default() += now - before;
        }
    }

    /// The report: what was measured how, and the table.
    pub fn report(&self) -> String {
        let mut report = format!(
            "x86_64 release binaries (fat LTO), AWS Lambda Runtime API emulator, moto (its connections kept alive by a front, as \
             AWS's endpoints keep them) and the dev Scalekit server on 127.0.0.1; {} warm invocations, {} cold starts per function.\n\n{}",
            self.options.iterations,
            self.options.cold_starts,
            self.table.render()
        );
        if !self.comparison.is_empty() {
            report.push('\n');
            report.push_str(&self.comparison.render());
        }
        report
    }
}
