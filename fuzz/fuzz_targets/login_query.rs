//! An arbitrary query string on `/api/login`, decoded from an HTTP API event exactly as the
//! functions' runtime does (`shared::runtime::repair`, then lambda_http): never a panic, never an
//! unsafe `return_to` or identifier accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lambda_http::request::LambdaRequest;
use shared::return_to::safe_return_to;

fuzz_target!(|raw_query: &str| {
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "GET /api/login", "rawPath": "/api/login",
        "rawQueryString": raw_query, "headers": {"host": "app.example.com"},
        "requestContext": {"http": {"method": "GET", "path": "/api/login"}, "stage": "$default",
            "requestId": "r", "routeKey": "GET /api/login", "accountId": "1", "apiId": "a",
            "domainName": "app.example.com", "domainPrefix": "app", "time": "t", "timeEpoch": 0},
        "isBase64Encoded": false
    });
    let Ok(mut payload) = serde_json::from_value::<LambdaRequest>(event) else { return };
    shared::runtime::repair(&mut payload);
    let request: lambda_http::Request = payload.into();
    if let Ok(params) = login::LoginParams::from_request(&request) {
        if let Some(path) = &params.return_to {
            assert!(safe_return_to(path).is_some());
        }
        for id in [&params.organization_id, &params.connection_id].into_iter().flatten() {
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        }
    }
});
