//! Sample API Gateway HTTP API (payload 2.0) events from `events/`, turned into `lambda_http`
//! requests exactly as the functions' runtime does (`shared::runtime`).

use lambda_http::Request;
use serde_json::Value;

/// The JSON of `events/<name>.json`.
pub fn load(name: &str) -> Value {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes an event as the functions' runtime does: lambda_http's parser, after the repair of
/// raw bytes it cannot put in a URI.
pub fn to_request(event: &Value) -> Request {
    let mut payload: lambda_http::request::LambdaRequest =
        serde_json::from_value(event.clone()).expect("a valid HTTP API v2 event");
    shared::runtime::repair(&mut payload);
    payload.into()
}

/// `events/<name>.json` as a request.
pub fn request(name: &str) -> Request {
    to_request(&load(name))
}

/// Replaces an event's query string (raw and parsed, as API Gateway fills both).
pub fn set_query(event: &mut Value, raw_query: &str) {
    event["rawQueryString"] = Value::String(raw_query.to_owned());
    let mut parsed = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let joined = match parsed.get(k.as_ref()).and_then(Value::as_str) {
            Some(previous) => format!("{previous},{v}"),
            None => v.into_owned(),
        };
        parsed.insert(k.into_owned(), Value::String(joined));
    }
    if parsed.is_empty() {
        event
            .as_object_mut()
            .expect("object")
            .remove("queryStringParameters");
    } else {
        event["queryStringParameters"] = Value::Object(parsed);
    }
}

/// Replaces an event's cookies (`name=value` strings, as API Gateway passes them).
pub fn set_cookies(event: &mut Value, cookies: &[String]) {
    if cookies.is_empty() {
        event.as_object_mut().expect("object").remove("cookies");
    } else {
        event["cookies"] = Value::from(cookies.to_vec());
    }
}

/// Sets a request header on an event.
pub fn set_header(event: &mut Value, name: &str, value: &str) {
    event["headers"][name] = Value::String(value.to_owned());
}
