//! The payload 2.0 events API Gateway builds from an HTTP request (for the route's function and
//! for its authorizer), and a function's payload 2.0 answer turned back into HTTP.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::template::{Authorizer, Route};

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
pub(crate) fn http_event(
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
pub(crate) fn authorizer_event(
    http_event: &Value,
    authorizer: &Authorizer,
    identity: Vec<String>,
) -> Value {
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
pub(crate) fn http_response(answer: &Value) -> Option<Response<Bytes>> {
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
