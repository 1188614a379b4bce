//! `lambda-bench`: cold start, invocation latency and CPU, peak memory, package size and network
//! calls of every function binary, measured the way Lambda runs them: each release binary is
//! started as a process with Lambda's environment and talks to a Runtime API emulator on
//! 127.0.0.1; Scalekit is the dev server (its own request counters), AWS is moto behind a proxy
//! that counts calls by operation and a front that keeps connections alive as AWS's endpoints
//! do. Prints one Markdown table. Run it through `./dev/bench`,
//! which builds the binaries and starts moto.

mod bench;
mod cli;
mod counts;
mod emulator;
mod flow;
mod keep_alive;
mod procfs;
mod proxy;
mod report;
mod serve;
mod stack;

// The scenarios, in the order `run` measures them.
mod cold_start;
mod decisions;
mod endings;
mod first_invocation;
mod handler_cpu;
mod memory;
mod package;
mod runtimes;
mod stalled_network;
mod vs_node;
mod warm;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use bench::{progress, Bench};
use cli::{Command, Options};

fn main() -> ExitCode {
    match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Serve(serve)) => serve::run(&serve),
        Ok(Command::Measure(options)) => measure(options),
        Err(error) => {
            eprintln!("lambda-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure(options: Options) -> ExitCode {
    // The in-process handler figures include the JSON log formatting the functions do in Lambda
    // (written nowhere). Installed before the flow tests' stack, whose log capture then stays off.
    {
        use lambda_http::tracing::subscriber::util::SubscriberInitExt;
        shared::telemetry::subscriber("JSON", None, std::io::sink).init();
    }
    // Everything in this process (the stand-ins' setup, the in-process handlers, the proxies in
    // front of each function) reaches moto through the keep-alive front.
    if let Err(error) = keep_alive_front() {
        eprintln!("lambda-bench: {error:#}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")
        .and_then(|runtime| runtime.block_on(run(options)));
    match result {
        Ok(table) => {
            print!("{table}");
            eprintln!(
                "lambda-bench: done in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lambda-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the keep-alive front for moto (`AWS_ENDPOINT_URL`) and points `AWS_ENDPOINT_URL` at
/// it. Called before any other thread reads the environment.
fn keep_alive_front() -> Result<()> {
    let moto = std::env::var("AWS_ENDPOINT_URL")
        .context("AWS_ENDPOINT_URL is not set: run ./dev/bench, which starts moto")?;
    let front = keep_alive::start(stack::socket_addr(&moto)?)?;
    std::env::set_var("AWS_ENDPOINT_URL", front);
    Ok(())
}

/// Every scenario, each adding its rows to the table.
async fn run(options: Options) -> Result<String> {
    let mut bench = Bench::prepare(options).await?;
    let n = bench.options.iterations;

    progress("cold starts");
    cold_start::stand_ins_reachable(&mut bench).await?;

    progress("handler CPU, in-process");
    let handler = handler_cpu::measure(&bench).await?;

    progress("login");
    let mut login = warm::login(&mut bench, &handler).await?;
    progress("callback (each invocation gets a fresh login through the login function)");
    let (mut callback, signed_in) = warm::callback(&mut bench, &handler, &mut login).await?;
    progress("session");
    let session_event = flow::event_with_cookies("session-signed-in", &signed_in);
    let session = warm::session(&mut bench, &handler, &session_event).await?;
    memory::warm_containers(&mut bench, [&login, &callback, &session]);
    handler_cpu::step_rows(&mut bench, &handler);

    if bench.options.compare_runtimes {
        progress(
            "runtime flavour: the same handlers on a multi-thread and a current-thread runtime",
        );
        runtimes::compare(&mut bench, &mut login.container, &session_event).await?;
    }

    progress("authorizer: decisions by session and by Bearer token (in-process, then warm)");
    let authorizer =
        decisions::measure(&mut bench, &mut login.container, &mut callback.container).await?;
    memory::after(&mut bench, &authorizer.container, n + 1);
    drop(authorizer);

    progress("back-channel logout and webhook: each invocation ends a fresh session");
    let endings =
        endings::measure(&mut bench, &mut login.container, &mut callback.container).await?;
    for ended in &endings {
        memory::after(&mut bench, &ended.container, n + 1);
    }
    drop(endings);

    progress("refresh, logout, profile, example-backend, sessions: 20 invocations each");
    memory::other_functions(&mut bench, &mut login.container, &mut callback.container).await?;
    drop((login, callback, session));

    progress("package sizes");
    package::sizes(&mut bench);

    progress("black-holed network during init");
    stalled_network::measure(&mut bench).await?;

    if bench.options.vs_node {
        progress("--vs-node: the seed's login and callback in Node beside ours");
        vs_node::compare(&mut bench).await?;
    }

    Ok(bench.report())
}
