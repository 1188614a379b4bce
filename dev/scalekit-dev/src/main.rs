//! `scalekit-dev`: runs the dev Scalekit server until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use scalekit_dev::{DevScalekit, DevScalekitOptions, DEV_WEBHOOK_SECRET};

const USAGE: &str = "usage: scalekit-dev [--port PORT] [--client-id ID] [--client-secret SECRET] \
                     [--redirect-uri URI]... [--issuer URL] [--backchannel-logout-uri URI] \
                     [--webhook-url URL] [--webhook-secret whsec_...]\n\
                     Defaults: port 3001, client id skc_dev_client, any redirect URI, \
                     no back-channel logout or webhook delivery.";

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
            "--backchannel-logout-uri" => opts.backchannel_logout_uri = Some(value()?),
            "--webhook-url" => opts.webhook_url = Some(value()?),
            "--webhook-secret" => opts.webhook_secret = value()?,
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
    let receivers = [
        (
            "back-channel logout URI",
            opts.backchannel_logout_uri.clone(),
        ),
        ("webhook URL", opts.webhook_url.clone()),
    ];
    let server = match DevScalekit::start_with(opts).await {
        Ok(server) => server,
        Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("scalekit-dev: {error}");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("scalekit-dev: cannot listen on {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("scalekit-dev listening on {}", server.url());
    println!("client id: {}", server.client_id());
    println!(
        "demo users, active sign-ins and IdP-initiated links: {}/dev",
        server.url()
    );
    for (name, value) in receivers {
        println!("{name}: {}", value.as_deref().unwrap_or("(none)"));
    }
    if server.webhook_secret() == DEV_WEBHOOK_SECRET {
        // A fixed, public dev value: the app needs it to verify the webhooks.
        println!("webhook secret: {DEV_WEBHOOK_SECRET}");
    }

    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("scalekit-dev: cannot wait for Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<DevScalekitOptions, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn delivery_flags_set_the_receivers_and_the_webhook_secret() {
        let opts = parse(&[
            "--backchannel-logout-uri",
            "http://127.0.0.1:3000/api/backchannel-logout",
            "--webhook-url",
            "http://127.0.0.1:3000/api/webhooks/scalekit",
            "--webhook-secret",
            "whsec_c2VjcmV0",
        ])
        .expect("options");
        assert_eq!(
            opts.backchannel_logout_uri.as_deref(),
            Some("http://127.0.0.1:3000/api/backchannel-logout")
        );
        assert_eq!(
            opts.webhook_url.as_deref(),
            Some("http://127.0.0.1:3000/api/webhooks/scalekit")
        );
        assert_eq!(opts.webhook_secret, "whsec_c2VjcmV0");
        assert_eq!(opts.bind.port(), 3001);
    }

    #[test]
    fn without_flags_nothing_is_delivered_and_the_dev_secret_signs() {
        let opts = parse(&[]).expect("options");
        assert_eq!(
            (opts.backchannel_logout_uri, opts.webhook_url),
            (None, None)
        );
        assert_eq!(opts.webhook_secret, DEV_WEBHOOK_SECRET);
        assert!(parse(&["--webhook-url"]).is_err());
    }
}
