//! Arbitrary bytes as a Lambda event, decoded as the functions' runtime does
//! (`shared::runtime::repair`, then lambda_http), then everything the handlers read from a
//! request before any I/O. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lambda_http::request::LambdaRequest;
use shared::http;

fuzz_target!(|data: &str| {
    let Ok(mut payload) = serde_json::from_str::<LambdaRequest>(data) else { return };
    shared::runtime::repair(&mut payload);
    let request: lambda_http::Request = payload.into();
    let _ = http::reject_oversized(&request);
    let _ = http::request_cookies(&request);
    let _ = http::public_origin(&request, &Default::default());
    let _ = http::query_param(&request, "state");
    let _ = http::wants_html(&request);
    let _ = http::is_cross_site(&request, "https://app.example.com");
    let _ = login::LoginParams::from_request(&request);
});
