//! `lambda-bench --serve-function NAME FLAVOUR`: what functions/NAME's `main` does (login,
//! callback and session), on the given runtime flavour, so that [`crate::runtimes`] can run the
//! same handler on either flavour as a Lambda process.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{Flavour, Serve};
use crate::stack::needs_of;

pub fn run(serve: &Serve) -> ExitCode {
    shared::telemetry::init();
    match serve_function(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve_function(serve: &Serve) -> Result<()> {
    let runtime = match serve.flavour {
        Flavour::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Flavour::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .context("runtime")?;
    runtime.block_on(async {
        let needs = needs_of(&serve.name)?
            .with_context(|| format!("--serve-function {}: no App", serve.name))?;
        let app = shared::App::from_env(needs).await.context("start-up")?;
        let app: &'static shared::App = Box::leak(Box::new(app));
        app.warm_up();
        // As functions/*/src/main.rs serve their handler.
        let served = match serve.name.as_str() {
            "login" => shared::runtime::run(move |req| login::handle(app, req)).await,
            "callback" => shared::runtime::run(move |req| callback::handle(app, req)).await,
            "session" => shared::runtime::run(move |req| session::handle(app, req)).await,
            other => bail!("--serve-function {other}: not offered"),
        };
        served.map_err(|e| anyhow!("{e}"))
    })
}
