//! `scalekit-dev`: runs the dev Scalekit server until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use scalekit_dev::{DevScalekit, DevScalekitOptions};

const USAGE: &str = "usage: scalekit-dev [--port PORT] [--client-id ID] [--client-secret SECRET] \
                     [--redirect-uri URI]... [--issuer URL]\n\
                     Defaults: port 3001, client id skc_dev_client, any redirect URI.";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<DevScalekitOptions, String> {
    let mut opts = DevScalekitOptions {
        bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3001),
        ..DevScalekitOptions::default()
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let value = value()?;
                let port = value
                    .parse()
                    .map_err(|_| format!("--port: not a port number: {value}"))?;
                opts.bind.set_port(port);
            }
            "--client-id" => opts.client_id = value()?,
            "--client-secret" => opts.client_secret = value()?,
            "--redirect-uri" => opts.redirect_uris.push(value()?),
            "--issuer" => opts.issuer = Some(value()?),
            _ => return Err(format!("unknown argument: {flag}")),
        }
    }
    Ok(opts)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("scalekit-dev: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    tracing_subscriber::fmt().with_target(false).init();

    let bind = opts.bind;
    let server = match DevScalekit::start_with(opts).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("scalekit-dev: cannot listen on {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("scalekit-dev listening on {}", server.url());
    println!("client id: {}", server.client_id());
    println!("demo users and IdP-initiated links: {}/dev", server.url());

    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("scalekit-dev: cannot wait for Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
