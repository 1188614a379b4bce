//! The command line: the measurement options, or `--serve-function` (see [`crate::serve`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

const USAGE: &str =
    "usage: lambda-bench [--iterations N (200)] [--cold-starts N (10)] [--bin-dir DIR] \
                     [--compare-runtimes] [--vs-node]";

/// What to measure.
pub struct Options {
    /// Warm invocations per measured function.
    pub iterations: usize,
    /// Cold starts per function.
    pub cold_starts: usize,
    /// Where the release binaries are.
    pub bin_dir: PathBuf,
    /// Also run login, callback and session on a multi-thread and a current-thread runtime (a
    /// settled question: every function uses current-thread).
    pub compare_runtimes: bool,
    /// Also run the seed's Node login and callback (dev/node-seed, its packages installed) beside
    /// ours, in a table of their own.
    pub vs_node: bool,
}

/// A Tokio runtime flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    MultiThread,
    CurrentThread,
}

impl Flavour {
    pub const ALL: [Flavour; 2] = [Flavour::MultiThread, Flavour::CurrentThread];

    pub fn name(self) -> &'static str {
        match self {
            Flavour::MultiThread => "multi-thread",
            Flavour::CurrentThread => "current-thread",
        }
    }

    fn parse(name: &str) -> Result<Flavour> {
        Flavour::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .with_context(|| format!("unknown runtime flavour {name}"))
    }
}

/// `--serve-function NAME FLAVOUR`: one function's handler, served as its binary does.
pub struct Serve {
    pub name: String,
    pub flavour: Flavour,
}

/// What this process is asked to do.
pub enum Command {
    Measure(Options),
    Serve(Serve),
}

/// Reads the arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let args: Vec<String> = args.into_iter().collect();
    if let [flag, name, flavour] = &args[..] {
        if flag == "--serve-function" {
            return Ok(Command::Serve(Serve {
                name: name.clone(),
                flavour: Flavour::parse(flavour)?,
            }));
        }
    }
    let mut options = Options {
        iterations: 200,
        cold_starts: 10,
        bin_dir: std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .context("cannot locate the binaries; pass --bin-dir")?,
        compare_runtimes: false,
        vs_node: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--iterations" => options.iterations = value()?.parse().context("--iterations")?,
            "--cold-starts" => options.cold_starts = value()?.parse().context("--cold-starts")?,
            "--bin-dir" => options.bin_dir = PathBuf::from(value()?),
            "--compare-runtimes" => options.compare_runtimes = true,
            "--vs-node" => options.vs_node = true,
            "-h" | "--help" => bail!(USAGE),
            other => bail!("unknown argument {other}"),
        }
    }
    ensure!(
        (1..=10_000).contains(&options.iterations) && (1..=1000).contains(&options.cold_starts),
        "--iterations must be 1..=10000 and --cold-starts 1..=1000"
    );
    Ok(Command::Measure(options))
}
