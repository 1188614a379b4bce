//! `dev-gateway`: serves the template's HTTP API on 127.0.0.1, invoking the functions through a
//! running `cargo lambda watch`, until Ctrl-C. One log line per request: method, path, status,
//! latency (never the query string: it carries codes, states and hints).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::Request;
use axum::http::{Response, StatusCode};
use dev_gateway::gateway::MAX_BODY;
use dev_gateway::invoke::WatchInvoker;
use dev_gateway::{Api, Gateway};

const USAGE: &str = "usage: dev-gateway --port PORT --lambda URL [--template PATH] \
                     [--parameter NAME=VALUE]...\n\
                     Serves template.yaml's HTTP API on 127.0.0.1:PORT, invoking functions through \
                     cargo lambda watch at URL; requests to /2015-03-31/ are passed to it as they are.";

struct Options {
    port: u16,
    lambda: String,
    template: String,
    parameters: BTreeMap<String, String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let (mut port, mut lambda) = (None, None);
    let mut template = "template.yaml".to_owned();
    let mut parameters = BTreeMap::new();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                port = Some(
                    text.parse()
                        .map_err(|_| format!("--port: not a port: {text}"))?,
                );
            }
            "--lambda" => lambda = Some(value()?),
            "--template" => template = value()?,
            "--parameter" => {
                let text = value()?;
                let (name, value) = text
                    .split_once('=')
                    .ok_or_else(|| format!("--parameter {text}: use NAME=VALUE"))?;
                parameters.insert(name.to_owned(), value.to_owned());
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Options {
        port: port.ok_or("--port is required")?,
        lambda: lambda.ok_or("--lambda is required")?,
        template,
        parameters,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("dev-gateway: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_target(false).init();
    let api = match std::fs::read_to_string(&options.template)
        .map_err(|e| format!("{}: {e}", options.template))
        .and_then(|text| Api::from_template(&text, &options.parameters))
    {
        Ok(api) => api,
        Err(message) => {
            eprintln!("dev-gateway: {message}");
            return ExitCode::FAILURE;
        }
    };
    let invoker = match WatchInvoker::new(&options.lambda) {
        Ok(invoker) => invoker,
        Err(error) => {
            eprintln!("dev-gateway: {error}");
            return ExitCode::FAILURE;
        }
    };
    let gateway = Arc::new(Gateway::new(api, invoker));
    let passthrough = reqwest::Client::new();
    let lambda = options.lambda.trim_end_matches('/').to_owned();
    let app = axum::Router::new().fallback(move |request: Request| {
        let (gateway, passthrough, lambda) = (gateway.clone(), passthrough.clone(), lambda.clone());
        async move { serve(&gateway, &passthrough, &lambda, request).await }
    });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "dev-gateway: cannot listen on 127.0.0.1:{}: {error}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    println!("dev-gateway listening on http://127.0.0.1:{}", options.port);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("dev-gateway: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn serve(
    gateway: &Gateway<WatchInvoker>,
    passthrough: &reqwest::Client,
    lambda: &str,
    request: Request,
) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"message":"Request Entity Too Large"}"#,
        );
    };
    let response = if path.starts_with("/2015-03-31/") {
        // `cargo lambda invoke -P <this port>` reaches the emulator through here.
        forward(passthrough, lambda, &parts, body).await
    } else {
        let response = gateway
            .handle(axum::http::Request::from_parts(parts, body))
            .await;
        response.map(Body::from)
    };
    println!(
        "{method} {path} {} {} ms",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

async fn forward(
    http: &reqwest::Client,
    lambda: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Response<Body> {
    let url = format!(
        "{lambda}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let answer = http
        .request(parts.method.clone(), url)
        .headers(parts.headers.clone())
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response
                .body(Body::from(bytes))
                .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "{}"))
        }
        Err(_) => plain(
            StatusCode::BAD_GATEWAY,
            r#"{"message":"emulator unreachable"}"#,
        ),
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
}
