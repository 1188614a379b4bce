//! An HTTP request through the API as API Gateway's HTTP API passes it: the route, the Lambda
//! authorizer (payload 2.0, simple responses: `401` when an identity source is missing, `403` when
//! it says no, `500` when it fails, its context into `requestContext.authorizer.lambda`, decisions
//! cached by identity-source values when its TTL says so), then the route's function with a
//! payload 2.0 event, and the function's answer turned back into HTTP.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{
    header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode,
};
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::template::{Api, Authorizer, Route};

/// A failed invocation: the function errored, timed out or could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeError(pub String);

/// A future of an invocation's result.
pub type Invocation<'a> = Pin<Box<dyn Future<Output = Result<Value, InvokeError>> + Send + 'a>>;

/// Runs a function with an event, as Lambda's `Invoke` does: `cargo lambda watch` for the local
/// stack, the handlers in-process for tests.
pub trait Invoke: Send + Sync {
    /// Invokes `function` (its binary's name) with `event`.
    fn invoke<'a>(&'a self, function: &'a str, event: Value) -> Invocation<'a>;
}

/// How long API Gateway waits for an integration (HTTP API: 30 s).
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it waits for an authorizer (10 s).
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP API's payload limit.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// The local HTTP API.
pub struct Gateway<I> {
    api: Api,
    invoker: I,
    cache: Mutex<DecisionCache>,
}

/// Authorizer decisions by authorizer name and identity-source values, until they expire.
type DecisionCache = HashMap<(String, Vec<String>), (Instant, Decision)>;

#[derive(Debug, Clone)]
enum Decision {
    Allow(Map<String, Value>),
    Deny,
}

/// What API Gateway answers itself instead of invoking the route's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// An identity source is missing: the authorizer is not invoked.
    Unauthorized,
    /// The authorizer said no.
    Forbidden,
    /// The authorizer failed, timed out or answered something else than a simple response.
    AuthorizerFailed,
}

impl Refusal {
    fn response(self) -> Response<Bytes> {
        match self {
            Self::Unauthorized => message(StatusCode::UNAUTHORIZED, "Unauthorized"),
            Self::Forbidden => message(StatusCode::FORBIDDEN, "Forbidden"),
            Self::AuthorizerFailed => {
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

fn message(status: StatusCode, text: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(json!({ "message": text }).to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// `rand`-free request ids: time and a counter, unique within the process.
fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{:x}-{:x}", now_ms(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl<I: Invoke> Gateway<I> {
    /// A gateway for `api` that runs functions through `invoker`.
    pub fn new(api: Api, invoker: I) -> Self {
        Self {
            api,
            invoker,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The API it serves.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Answers one HTTP request as the deployed API would.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let Some((route, path_parameters)) = self.api.route(&method, &path) else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        let mut event = http_event(&request, route, &path_parameters);
        if let Some(name) = &route.authorizer {
            match self.authorize(name, &event).await {
                Ok(context) => {
                    event["requestContext"]["authorizer"] = json!({ "lambda": context });
                }
                Err(refusal) => return refusal.response(),
            }
        }
        let invocation = self.invoker.invoke(&route.function, event);
        match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
            Ok(Ok(answer)) => http_response(&answer).unwrap_or_else(|| {
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }),
            Ok(Err(error)) => {
                tracing::warn!(
                    function = route.function,
                    error = error.0,
                    "function failed"
                );
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Err(_) => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        }
    }

    /// The authorizer's context for this request, or the answer API Gateway gives instead.
    async fn authorize(
        &self,
        name: &str,
        http_event: &Value,
    ) -> Result<Map<String, Value>, Refusal> {
        let authorizer = &self.api.authorizers[name];
        let Some(identity) = identity_values(authorizer, http_event) else {
            return Err(Refusal::Unauthorized);
        };
        let cache_key = (name.to_owned(), identity.clone());
        if authorizer.ttl_seconds > 0 {
            let cached = self.cache_lock().get(&cache_key).cloned();
            if let Some((expires, decision)) = cached {
                if Instant::now() < expires {
                    return decided(decision);
                }
            }
        }
        let event = authorizer_event(http_event, authorizer, identity);
        let invocation = self.invoker.invoke(&authorizer.function, event);
        let decision = match tokio::time::timeout(AUTHORIZER_TIMEOUT, invocation).await {
            Ok(Ok(answer)) => match simple_response(&answer) {
                Some(decision) => decision,
                None => {
                    tracing::warn!(
                        authorizer = name,
                        "authorizer answer is not a simple response"
                    );
                    return Err(Refusal::AuthorizerFailed);
                }
            },
            Ok(Err(error)) => {
                tracing::warn!(authorizer = name, error = error.0, "authorizer failed");
                return Err(Refusal::AuthorizerFailed);
            }
            Err(_) => return Err(Refusal::AuthorizerFailed),
        };
        if authorizer.ttl_seconds > 0 {
            let expires = Instant::now() + Duration::from_secs(authorizer.ttl_seconds);
            self.cache_lock()
                .insert(cache_key, (expires, decision.clone()));
        }
        decided(decision)
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, DecisionCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn decided(decision: Decision) -> Result<Map<String, Value>, Refusal> {
    match decision {
        Decision::Allow(context) => Ok(context),
        Decision::Deny => Err(Refusal::Forbidden),
    }
}

/// `{"isAuthorized": bool, "context": {...}}`; anything else is an authorizer failure.
fn simple_response(answer: &Value) -> Option<Decision> {
    let allowed = answer.get("isAuthorized")?.as_bool()?;
    if !allowed {
        return Some(Decision::Deny);
    }
    match answer.get("context") {
        None | Some(Value::Null) => Some(Decision::Allow(Map::new())),
        Some(Value::Object(context)) => Some(Decision::Allow(context.clone())),
        Some(_) => None,
    }
}

/// The identity sources' values in API Gateway's order (headers, query strings, context), or
/// `None` when one is missing (`401`, the authorizer is not invoked).
fn identity_values(authorizer: &Authorizer, event: &Value) -> Option<Vec<String>> {
    let mut values = Vec::new();
    for name in &authorizer.headers {
        let name = name.to_ascii_lowercase();
        let value = if name == "cookie" {
            event["cookies"]
                .as_array()
                .filter(|cookies| !cookies.is_empty())
                .map(|cookies| {
                    cookies
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        } else {
            event["headers"][&name].as_str().map(str::to_owned)
        };
        values.push(value.filter(|v| !v.is_empty())?);
    }
    for name in &authorizer.query_strings {
        values.push(
            event["queryStringParameters"][name]
                .as_str()
                .filter(|v| !v.is_empty())?
                .to_owned(),
        );
    }
    for name in &authorizer.context {
        values.push(event["requestContext"][name].as_str()?.to_owned());
    }
    Some(values)
}

fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/xml"
}

/// The payload 2.0 event of an HTTP request on `route`.
fn http_event(
    request: &Request<Bytes>,
    route: &Route,
    path_parameters: &BTreeMap<String, String>,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in request.headers().keys() {
        let values: Vec<&str> = request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name == header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| Value::String(pair.to_owned())),
            );
        } else {
            headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
        }
    }
    let raw_query = request.uri().query().unwrap_or_default();
    let mut query = Map::new();
    for (name, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let joined = match query.get(name.as_ref()).and_then(Value::as_str) {
            Some(previous) => format!("{previous},{value}"),
            None => value.into_owned(),
        };
        query.insert(name.into_owned(), Value::String(joined));
    }
    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_owned();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = request.body();
    let (body, base64_encoded) = match std::str::from_utf8(body) {
        Ok(text) if is_text(content_type) => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let epoch_ms = now_ms();
    let route_key = route.key();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.uri().path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": request.method().as_str(),
                "path": request.uri().path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "05/Dec/2026:00:00:00 +0000",
            "timeEpoch": epoch_ms as u64,
        },
        "isBase64Encoded": base64_encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if !request.body().is_empty() {
        event["body"] = Value::String(body);
    }
    event
}

/// The payload 2.0 authorizer request for an HTTP event.
fn authorizer_event(http_event: &Value, authorizer: &Authorizer, identity: Vec<String>) -> Value {
    let context = &http_event["requestContext"];
    let method = context["http"]["method"].as_str().unwrap_or_default();
    let path = context["http"]["path"].as_str().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": format!("arn:aws:execute-api:us-east-1:000000000000:local/$default/{method}{path}"),
        "routeKey": http_event["routeKey"],
        "rawPath": http_event["rawPath"],
        "rawQueryString": http_event["rawQueryString"],
        "headers": http_event["headers"],
        "requestContext": context,
    });
    let has_sources = !authorizer.headers.is_empty()
        || !authorizer.query_strings.is_empty()
        || !authorizer.context.is_empty();
    if has_sources {
        event["identitySource"] = json!(identity);
    }
    for field in ["cookies", "queryStringParameters", "pathParameters"] {
        if let Some(value) = http_event.get(field) {
            event[field] = value.clone();
        }
    }
    event
}

/// A function's payload 2.0 answer as HTTP: a response object, or any other JSON as a `200`
/// JSON body (API Gateway's reading of a "simple" answer). `None`: not a usable answer.
fn http_response(answer: &Value) -> Option<Response<Bytes>> {
    let Some(status) = answer.get("statusCode") else {
        let mut response = Response::new(Bytes::from(answer.to_string()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Some(response);
    };
    let status = StatusCode::from_u16(u16::try_from(status.as_u64()?).ok()?).ok()?;
    let mut headers = HeaderMap::new();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value.as_str()?).ok()?,
        );
    }
    for (name, values) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for value in values.as_array()? {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value.as_str()?).ok()?,
            );
        }
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_str(cookie.as_str()?).ok()?,
        );
    }
    let body = match answer["body"].as_str() {
        None => Bytes::new(),
        Some(text) if answer["isBase64Encoded"] == true => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?,
        ),
        Some(text) => Bytes::from(text.to_owned()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Some(response)
}

/// Whether a request is one API Gateway would pass on (a method it knows).
pub fn is_http_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::HEAD
            | Method::OPTIONS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const TEMPLATE: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Open:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
          Cached:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [Cookie]
              Context: [routeKey]
              ReauthorizeEvery: 300
  AuthFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: authorizer}}
  AppFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: app}}
    Properties:
      Events:
        Me: {Type: HttpApi, Properties: {Method: GET, Path: /me, Auth: {Authorizer: Open}}}
        Cached: {Type: HttpApi, Properties: {Method: GET, Path: /cached, Auth: {Authorizer: Cached}}}
        Public: {Type: HttpApi, Properties: {Method: POST, Path: "/items/{id}"}}
"#;

    /// Records every invocation; the authorizer allows a request carrying `Cookie: ok=1`.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Value)>>);

    impl Invoke for Arc<Recorder> {
        fn invoke<'a>(&'a self, function: &'a str, event: Value) -> Invocation<'a> {
            Box::pin(async move {
                self.0
                    .lock()
                    .unwrap()
                    .push((function.to_owned(), event.clone()));
                match function {
                    "authorizer" => {
                        let allowed = event["cookies"]
                            .as_array()
                            .is_some_and(|c| c.iter().any(|c| c == "ok=1"));
                        Ok(json!({"isAuthorized": allowed, "context": {"userId": "usr_1"}}))
                    }
                    _ => Ok(json!({
                        "statusCode": 201,
                        "headers": {"content-type": "text/plain"},
                        "cookies": ["a=1; Path=/", "b=2; Path=/"],
                        "body": "aGk=",
                        "isBase64Encoded": true,
                    })),
                }
            })
        }
    }

    fn gateway() -> (Gateway<Arc<Recorder>>, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let api = Api::from_template(TEMPLATE, &BTreeMap::new()).unwrap();
        (Gateway::new(api, recorder.clone()), recorder)
    }

    fn get(path: &str, cookie: Option<&str>) -> Request<Bytes> {
        let mut builder = Request::builder()
            .method("GET")
            .uri(path)
            .header("host", "localhost:3000");
        if let Some(cookie) = cookie {
            builder = builder.header("cookie", cookie);
        }
        builder.body(Bytes::new()).unwrap()
    }

    #[tokio::test]
    async fn an_allowed_request_reaches_the_function_with_the_authorizers_context() {
        let (gateway, recorder) = gateway();
        let response = gateway
            .handle(get("/me?x=1&x=2", Some("ok=1; theme=dark")))
            .await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.body().as_ref(), b"hi");
        let set_cookies: Vec<_> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert_eq!(set_cookies.len(), 2);
        let calls = recorder.0.lock().unwrap();
        let (function, authorizer_event) = &calls[0];
        assert_eq!(function, "authorizer");
        assert_eq!(authorizer_event["type"], "REQUEST");
        assert_eq!(authorizer_event["routeKey"], "GET /me");
        assert_eq!(authorizer_event["cookies"], json!(["ok=1", "theme=dark"]));
        assert!(authorizer_event.get("identitySource").is_none());
        let (function, event) = &calls[1];
        assert_eq!(function, "app");
        assert_eq!(
            event["requestContext"]["authorizer"]["lambda"]["userId"],
            "usr_1"
        );
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        assert_eq!(event["rawQueryString"], "x=1&x=2");
        assert!(event["headers"].get("cookie").is_none());
    }

    #[tokio::test]
    async fn a_refusal_is_a_403_and_the_function_never_runs() {
        let (gateway, recorder) = gateway();
        let response = gateway.handle(get("/me", Some("theme=dark"))).await;
        assert_eq!(response.status(), 403);
        assert_eq!(response.body().as_ref(), br#"{"message":"Forbidden"}"#);
        assert_eq!(recorder.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_missing_identity_source_is_a_401_without_invoking_the_authorizer() {
        let (gateway, recorder) = gateway();
        let response = gateway.handle(get("/cached", None)).await;
        assert_eq!(response.status(), 401);
        assert!(recorder.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_cached_decision_is_reused_for_the_same_identity_and_route() {
        let (gateway, recorder) = gateway();
        for _ in 0..3 {
            assert_eq!(
                gateway.handle(get("/cached", Some("ok=1"))).await.status(),
                201
            );
        }
        let authorizer_calls = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| f == "authorizer")
            .count();
        assert_eq!(authorizer_calls, 1);
        let event = &recorder.0.lock().unwrap()[0].1;
        assert_eq!(event["identitySource"], json!(["ok=1", "GET /cached"]));
    }

    #[tokio::test]
    async fn public_routes_get_path_parameters_and_a_base64_form_body() {
        let (gateway, recorder) = gateway();
        let request = Request::builder()
            .method("POST")
            .uri("/items/42")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from_static(b"a=1"))
            .unwrap();
        assert_eq!(gateway.handle(request).await.status(), 201);
        let event = recorder.0.lock().unwrap()[0].1.clone();
        assert_eq!(event["pathParameters"]["id"], "42");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "YT0x");
        assert_eq!(gateway.handle(get("/nowhere", None)).await.status(), 404);
    }
}
