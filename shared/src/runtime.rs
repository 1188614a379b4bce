//! Running a handler under the Lambda runtime, as `lambda_http::run` does, with one repair and
//! one guard: a request over the size limits never reaches the handler ([`serve`]).
//!
//! lambda_http panics (an `unwrap`/`expect`, so the invocation fails: a 500) converting an HTTP
//! API event when, found by the fuzz targets:
//! - the raw query string or path holds a byte `http::Uri` refuses (control characters, space,
//!   `"`, `<`, `>`, DEL). Clients can send a raw `"` or `<`, and API Gateway forwards the query
//!   as received. Those bytes are percent-encoded first, as a browser would have sent them.
//! - `{x-forwarded-proto}://{host}{path}` is not a URL. API Gateway sets these headers itself, so
//!   this is defence in depth: the parts that break it are dropped, in order, until it parses.

use std::future::Future;

use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{service_fn, Adapter, Body, Error, LambdaEvent, Request, Response};

use crate::http;

/// Serves `handler` until the runtime stops. Expected failures are responses, so the handler
/// cannot fail.
pub async fn run<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    let handler = &handler;
    let service = service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(serve(handler, request).await)
    });
    let adapter = Adapter::from(service).map_request(|mut event: LambdaEvent<LambdaRequest>| {
        repair(&mut event.payload);
        event
    });
    lambda_http::lambda_runtime::run(adapter).await
}

/// Answers one decoded request as the deployed function does: one over the size limits gets its
/// 431 or 414 ([`http::reject_oversized`]) before any parsing, lookup or crypto is spent on it;
/// any other goes to `handler`. Tests call functions through this too.
pub async fn serve<F, Fut>(handler: &F, request: Request) -> Response<Body>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    match http::reject_oversized(&request) {
        Some(refusal) => refusal,
        None => handler(request).await,
    }
}

/// Runs `handler` on one raw HTTP API event as the deployed function does (the repair above,
/// lambda_http's decoding, [`serve`]'s size check, the handler, lambda_http's encoding of the
/// answer) and returns the JSON the runtime would send back to Lambda. The local gateway's
/// in-process stack and the tests invoke functions through it.
pub async fn invoke<F, Fut>(
    handler: &F,
    event: serde_json::Value,
) -> Result<serde_json::Value, Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    let mut payload: LambdaRequest = serde_json::from_value(event)?;
    repair(&mut payload);
    let service = service_fn(|request: Request| async move {
        Ok::<_, std::convert::Infallible>(serve(handler, request).await)
    });
    let mut adapter = Adapter::from(service);
    let event = LambdaEvent::new(payload, lambda_http::Context::default());
    let answer = adapter.ready().await?.call(event).await?;
    Ok(serde_json::to_value(answer)?)
}

/// Makes an event safe for lambda_http's conversion (see the module documentation).
pub fn repair(request: &mut LambdaRequest) {
    let LambdaRequest::ApiGatewayV2(event) = request else {
        return;
    };
    for part in [&mut event.raw_query_string, &mut event.raw_path]
        .into_iter()
        .flatten()
    {
        if part.bytes().any(unusable_in_uri) {
            *part = encode_unusable(part);
        }
    }
    let mut step = 0;
    while !converts_to_url(event) {
        match step {
            0 => drop(event.headers.remove("x-forwarded-proto")),
            1 => drop(event.headers.remove(lambda_http::http::header::HOST)),
            2 => event.request_context.domain_name = None,
            3 => event.request_context.stage = None,
            _ => {
                event.raw_path = Some("/".to_owned());
                return;
            }
        }
        step += 1;
    }
}

/// Whether lambda_http can build the request's URI from this event: it parses
/// `{x-forwarded-proto}://{host}{path}` as a `url::Url`, appends the query, and parses the result
/// as an `http::Uri` (stricter: `url` accepts a host like `a{b`, `http` does not).
fn converts_to_url(event: &lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest) -> bool {
    let header = |name| event.headers.get(name).and_then(|v| v.to_str().ok());
    let raw_path = event.raw_path.as_deref().unwrap_or_default();
    let path = match event.request_context.stage.as_deref() {
        None | Some("$default") => raw_path.to_owned(),
        Some(stage) if raw_path.starts_with(&format!("/{stage}/")) => raw_path.to_owned(),
        Some(stage) => format!("/{stage}{raw_path}"),
    };
    let query = event.raw_query_string.as_deref().unwrap_or_default();
    let builds = |base: String, path_only: bool| {
        url::Url::parse(&base).is_ok_and(|url| {
            let mut uri = if path_only {
                url.path().to_owned()
            } else {
                url.to_string()
            };
            if !query.is_empty() {
                uri.push('?');
                uri.push_str(query);
            }
            uri.parse::<lambda_http::http::Uri>().is_ok()
        })
    };
    let staged = match header("host").or(event.request_context.domain_name.as_deref()) {
        Some(host) => {
            let scheme = header("x-forwarded-proto").unwrap_or("https");
            builds(format!("{scheme}://{host}{path}"), false)
        }
        None => builds(format!("http://localhost{path}"), true),
    };
    // The unstaged path too, for AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH.
    staged && builds(format!("http://localhost{raw_path}"), true)
}

fn unusable_in_uri(byte: u8) -> bool {
    byte.is_ascii_control() || matches!(byte, b' ' | b'"' | b'<' | b'>')
}

fn encode_unusable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii() && unusable_in_uri(c as u8) {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw_query: &str) -> String {
        serde_json::json!({
            "version": "2.0", "routeKey": "GET /api/login", "rawPath": "/api/login",
            "rawQueryString": raw_query, "headers": {"host": "app.example.com"},
            "requestContext": {"http": {"method": "GET", "path": "/api/login"}, "stage": "$default",
                "requestId": "r", "routeKey": "GET /api/login", "accountId": "1", "apiId": "a",
                "domainName": "app.example.com", "domainPrefix": "app", "time": "t", "timeEpoch": 0},
            "isBase64Encoded": false
        })
        .to_string()
    }

    #[test]
    fn raw_queries_lambda_http_would_panic_on_are_repaired_into_valid_requests() {
        for raw in [
            "a=\"x\"",
            "return_to=<script>",
            "a=b c",
            "a=\u{0}\u{7f}\t\r\n",
        ] {
            let mut payload: LambdaRequest = serde_json::from_str(&event(raw)).unwrap();
            repair(&mut payload);
            let request: Request = payload.into();
            assert!(request.uri().query().is_some(), "{raw:?}");
        }
        let mut payload: LambdaRequest = serde_json::from_str(&event("return_to=<x>")).unwrap();
        repair(&mut payload);
        let request: Request = payload.into();
        use lambda_http::RequestExt;
        let params = request.query_string_parameters();
        assert_eq!(
            params.first("return_to"),
            Some("<x>"),
            "values decode to what was sent"
        );
    }

    #[test]
    fn events_whose_url_lambda_http_cannot_build_are_repaired() {
        let base: serde_json::Value = serde_json::from_str(&event("a=b")).unwrap();
        let cases = [
            ("headers", "x-forwarded-proto", "ht%2Etps"),
            ("headers", "host", "exa mple.com:99999"),
            ("headers", "host", "abc.execute-api.us-east-1.amazonaw{.com"),
            ("requestContext", "stage", "st age"),
        ];
        for (section, field, value) in cases {
            let pointer = format!("{section}.{field}");
            let mut broken = base.clone();
            broken[section][field] = serde_json::json!(value);
            let mut payload: LambdaRequest = serde_json::from_value(broken).unwrap();
            repair(&mut payload);
            let request: Request = payload.into();
            assert!(request.uri().query().is_some(), "{pointer}");
        }
    }

    #[test]
    fn valid_queries_are_left_untouched() {
        assert_eq!(encode_unusable("a=%20b&c=d"), "a=%20b&c=d");
        assert_eq!(encode_unusable("é=ü"), "é=ü");
    }
}
