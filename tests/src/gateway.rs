//! The local API Gateway (`dev/gateway`) as the flow tests use it: the template's routes and
//! authorizers, and a [`Browser`]'s requests through it.

use std::sync::OnceLock;

use axum::body::Bytes;
use dev_gateway::{Api, Gateway, Invoke};
use lambda_http::http::{header, Method, Request, Response};

use crate::Browser;

/// template.yaml's HTTP API, read once.
pub fn template_api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Api::from_template(&text, &Default::default()).expect("the gateway reads template.yaml")
    })
}

/// The plain value template.yaml gives `function`'s variable `name`.
pub fn template_variable(function: &str, name: &str) -> String {
    template_api()
        .literal_variables
        .get(function)
        .and_then(|variables| variables.get(name))
        .unwrap_or_else(|| panic!("template.yaml gives {function} no literal {name}"))
        .clone()
}

/// One request from `browser` through `gateway` (its cookies sent, the ones set kept), with
/// extra `headers`.
pub async fn request<I: Invoke>(
    gateway: &Gateway<I>,
    browser: &mut Browser,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Response<Bytes> {
    send(gateway, browser, method, path, headers, Bytes::new()).await
}

/// [`request`] with a body.
pub async fn send<I: Invoke>(
    gateway: &Gateway<I>,
    browser: &mut Browser,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Bytes> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost:3000")
        .header(header::ACCEPT, "application/json");
    if let Some(cookies) = browser.cookie_header() {
        builder = builder.header(header::COOKIE, cookies);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = gateway
        .handle(builder.body(body.into()).expect("a valid request"))
        .await;
    browser.absorb_headers(response.headers());
    response
}

/// The JSON body of a gateway response.
pub fn json(response: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|_| {
        panic!(
            "{} answered no JSON: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        )
    })
}
