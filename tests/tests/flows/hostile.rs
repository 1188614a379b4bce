//! Hostile input through the real handlers: never a panic, never a 5xx, never a session.

use flow_tests::browser::{body_text, set_cookie_for};
use flow_tests::{events, logs, Stack};
use serde_json::Value;

use dev_gateway::Invoke;

use crate::support::{function_of, Container, InProcess, TestApp};

fn with_cookie(name: &str, cookie: &str) -> lambda_http::Request {
    let mut event = events::load(name);
    events::set_cookies(&mut event, &[cookie.to_owned()]);
    events::to_request(&event)
}

#[tokio::test]
async fn oversized_cookies_and_queries_get_a_4xx_from_every_function() {
    let app = TestApp::spawn().await;
    let huge_cookie = format!("__Host-sk_session={}", "A".repeat(16 * 1024));
    let mut statuses = Vec::new();
    for event in [
        "login-plain",
        "callback-missing-cookie",
        "session-signed-out",
        "refresh-signed-in",
        "logout-without-session",
        "profile-signed-out",
        "example-backend-me",
        "backchannel-logout-missing-token",
        "webhook-unsigned",
        "sessions-list",
    ] {
        let response = serve_event(&app.stack, event, with_cookie(event, &huge_cookie)).await;
        statuses.push(response.status());
    }
    assert!(statuses.iter().all(|s| s.as_u16() == 431), "{statuses:?}");

    let mut event = events::load("login-plain");
    events::set_query(&mut event, &format!("login_hint={}", "a".repeat(10_000)));
    let response = serve_event(&app.stack, "login-plain", events::to_request(&event)).await;
    assert_eq!(response.status(), 414);
}

/// Answers `request` with a fresh container of the function the sample event `name` is for, as
/// the deployed function does: through `shared::runtime::serve`.
async fn serve_event(
    stack: &Stack,
    name: &str,
    request: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    use shared::runtime::serve;
    let on = Container::of(stack);
    match function_of(name) {
        "login" => serve(&|r| login::handle(&on.login, r), request).await,
        "callback" => serve(&|r| callback::handle(&on.callback, r), request).await,
        "session" => serve(&|r| session::handle(&on.session, r), request).await,
        "refresh" => serve(&|r| refresh::handle(&on.refresh, r), request).await,
        "logout" => serve(&|r| logout::handle(&on.logout, r), request).await,
        "profile" => serve(&|r| profile::handle(&on.profile, r), request).await,
        "example-backend" => serve(&example_backend::handle, request).await,
        "backchannel-logout" => {
            let handler = |r| backchannel_logout::handle(&on.backchannel_logout, r);
            serve(&handler, request).await
        }
        "webhook" => serve(&|r| webhook::handle(&on.webhook, r), request).await,
        "sessions" => serve(&|r| sessions::handle(&on.sessions, r), request).await,
        other => panic!("event {name}: {other} takes no HTTP request"),
    }
}

#[tokio::test]
async fn raw_quotes_brackets_and_control_bytes_in_the_query_get_a_4xx_not_a_failed_invocation() {
    // lambda_http alone panics converting these events (found by the login_query fuzz target).
    let app = TestApp::spawn().await;
    for raw in [
        "return_to=/\"><script>",
        "login_hint=a\tb",
        "organization_id=\u{0}",
        "prompt=<x>",
    ] {
        let mut event = events::load("login-plain");
        event["rawQueryString"] = Value::String(raw.to_owned());
        let response = login::handle(&app.login, events::to_request(&event)).await;
        assert_eq!(response.status(), 400, "{raw:?}: {}", body_text(&response));
        assert!(!body_text(&response).contains("<script>"));
    }
}

#[tokio::test]
async fn garbage_session_and_transaction_cookies_are_treated_as_absent() {
    let app = TestApp::spawn().await;
    for garbage in [
        "",
        "x",
        "%%%",
        "AAAA.BBBB",
        "\u{1F600}",
        "__Host-sk_session",
        &"z".repeat(2000),
    ] {
        let cookie = format!("__Host-sk_session={garbage}");
        let response =
            session::handle(&app.session, with_cookie("session-signed-in", &cookie)).await;
        assert_eq!(response.status(), 401, "{garbage:?}");
        let cookie = format!("accessToken={garbage}");
        let response =
            session::handle(&app.session, with_cookie("session-signed-in", &cookie)).await;
        assert_eq!(response.status(), 401, "{garbage:?}");
    }
    let mut event = events::load("callback-state-mismatch");
    events::set_cookies(
        &mut event,
        &[
            "__Host-sk_txn_x=%ZZ".to_owned(),
            "=".to_owned(),
            ";;".to_owned(),
        ],
    );
    let response = callback::handle(&app.callback, events::to_request(&event)).await;
    assert_eq!(response.status(), 400);
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn malformed_and_repeated_callback_parameters_are_refused_without_reaching_scalekit() {
    let app = TestApp::spawn().await;
    let queries = [
        "",
        "code=",
        "state=",
        "code=a",
        "state=a",
        "code=a&code=b&state=s",
        "code=a&state=s&state=t",
        "code=%00&state=%0d%0a",
        "error=%3Cscript%3E",
        "error=access_denied&error=x",
        "code=a&state=",
        "idp_initiated_login=not-a-jwt",
    ];
    for query in queries {
        let mut event = events::load("callback-missing-cookie");
        events::set_query(&mut event, query);
        let response = callback::handle(&app.callback, events::to_request(&event)).await;
        let status = response.status().as_u16();
        assert!(
            (300..500).contains(&status),
            "{query:?} -> {status}: {}",
            body_text(&response)
        );
        assert!(!body_text(&response).contains("<script>"), "{query:?}");
    }
    assert_eq!(app.stack.idp.requests(scalekit_dev::Endpoint::Token), 0);
}

#[tokio::test]
async fn every_sample_event_decodes_as_lambda_delivers_it_and_gets_an_answer_below_500() {
    let app = TestApp::spawn().await;
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    names.sort();
    assert!(names.len() >= 36, "{names:?}");
    let invoker = InProcess(&app.apps);
    for name in names {
        let event: Value = events::load(&name);
        assert_eq!(event["version"], "2.0", "{name}");
        let function = function_of(&name);
        let answer = invoker
            .invoke(function, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", e.0));
        if function == "authorizer" {
            // The sample cookies and tokens name nothing real: always a refusal.
            assert_eq!(answer["isAuthorized"], false, "{name}: {answer}");
        } else {
            let status = answer["statusCode"].as_u64().unwrap_or_default();
            assert!((200..500).contains(&status), "{name}: {answer}");
        }
    }
}

#[test]
fn hostile_authorizer_requests_never_authorize_and_never_fail_the_function() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let header_value = "[ -~]{0,80}";
    let jwt_like = "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}";
    let cookies = proptest::collection::vec(
        prop_oneof![
            header_value.prop_map(|v| format!("__Host-sk_session={v}")),
            jwt_like.prop_map(|v| format!("accessToken={v}")),
            "[ -~]{0,40}",
        ],
        0..4,
    );
    let authorization = proptest::option::of(prop_oneof![
        jwt_like.prop_map(|t| format!("Bearer {t}")),
        header_value,
    ]);
    let route = prop_oneof![
        Just("GET /api/admin".to_owned()),
        Just("GET /api/me".to_owned()),
        "[ -~]{0,30}",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    runner
        .run(
            &(cookies, authorization, route),
            |(cookies, authorization, route)| {
                let mut event = events::load("authorizer-no-credentials");
                event["cookies"] = serde_json::json!(cookies);
                event["routeKey"] = Value::String(route.clone());
                event["requestContext"]["routeKey"] = Value::String(route);
                if let Some(value) = authorization {
                    event["headers"]["authorization"] = Value::String(value);
                }
                let answer = runtime.block_on(InProcess(&app.apps).invoke("authorizer", event));
                match answer {
                    Ok(answer) => prop_assert_eq!(&answer["isAuthorized"], &Value::Bool(false)),
                    // An event the runtime cannot decode is an invocation error: API Gateway's 500.
                    Err(error) => prop_assert!(error.0.contains("authorizer event"), "{}", error.0),
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn the_log_capture_would_catch_a_leaked_token() {
    logs::install();
    let fake = "eyJhbGciOiJSUzI1NiJ9.leaked-for-the-detector-self-test";
    tracing_probe(fake);
    assert_eq!(
        logs::leaks(&[fake.to_owned()]).len(),
        1,
        "the leak detector must see log lines"
    );
}

fn tracing_probe(value: &str) {
    // Logged through the same `tracing` the handlers use.
    lambda_http::tracing::info!(probe = value, "log capture self-test");
}

#[tokio::test]
async fn an_access_token_from_another_users_session_is_not_accepted() {
    let app = TestApp::spawn().await;
    let alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let bob = app.signed_in("usr_bob", None).await;

    // Alice's session cookie with Bob's (valid, correctly signed) access token.
    let mixed = format!(
        "__Host-sk_session={}; accessToken={}",
        alice.get("__Host-sk_session").unwrap(),
        bob.get("accessToken").unwrap()
    );
    let mut event = events::load("session-signed-in");
    events::set_cookies(&mut event, &[]);
    events::set_header(&mut event, "cookie", &mixed);
    let response = session::handle(&app.session, events::to_request(&event)).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let body: Value = serde_json::from_str(&body_text(&response)).unwrap();
    assert_eq!(
        body["user"]["id"], "usr_alice",
        "the session decides who this is"
    );
    assert_eq!(body["roles"], serde_json::json!(["admin"]));
    let replaced = set_cookie_for(&response, "accessToken").expect("Bob's token replaced");
    assert!(!replaced.contains(bob.get("accessToken").unwrap()));
}
