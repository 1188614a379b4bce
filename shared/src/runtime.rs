//! Running a handler under the Lambda runtime, as `lambda_http::run` does, with one repair.
//!
//! lambda_http panics while converting an HTTP API event whose raw query string or path holds a
//! byte `http::Uri` refuses (control characters, space, `"`, `<`, `>`, DEL): found by the
//! `login_query` fuzz target. Clients can send a raw `"` or `<`, and API Gateway forwards the
//! query as received, so such a request would fail the invocation (a 500). The event is repaired
//! first instead: those bytes are percent-encoded, exactly as a browser would have sent them.

use std::future::Future;

use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::{service_fn, Adapter, Body, Error, LambdaEvent, Request, Response};

/// Serves `handler` until the runtime stops. Expected failures are responses, so the handler
/// cannot fail.
pub async fn run<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    let service = service_fn(move |request: Request| {
        let response = handler(request);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    });
    let adapter = Adapter::from(service).map_request(|mut event: LambdaEvent<LambdaRequest>| {
        repair(&mut event.payload);
        event
    });
    lambda_http::lambda_runtime::run(adapter).await
}

/// Percent-encodes the bytes lambda_http cannot put in a URI.
pub fn repair(request: &mut LambdaRequest) {
    if let LambdaRequest::ApiGatewayV2(event) = request {
        for part in [&mut event.raw_query_string, &mut event.raw_path]
            .into_iter()
            .flatten()
        {
            if part.bytes().any(unusable_in_uri) {
                *part = encode_unusable(part);
            }
        }
    }
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
    fn valid_queries_are_left_untouched() {
        assert_eq!(encode_unusable("a=%20b&c=d"), "a=%20b&c=d");
        assert_eq!(encode_unusable("é=ü"), "é=ü");
    }
}
