//! An HTTP request through the API as API Gateway's HTTP API passes it: the route, the Lambda
//! authorizer (payload 2.0, simple responses: `401` when an identity source is missing, `403` when
//! it says no, `500` when it fails, its context into `requestContext.authorizer.lambda`, decisions
//! cached by identity-source values when its TTL says so), then the route's function with a
//! payload 2.0 event, and the function's answer turned back into HTTP.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::event::{authorizer_event, http_event, http_response};
use crate::template::{Api, Authorizer};

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
        let api = Api::from_template(TEMPLATE, &Default::default()).unwrap();
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
