//! Dependency faults not covered next to their features: DynamoDB throttling (bounded, jittered
//! retries inside the request budget), the keys endpoint failing with and without cached keys,
//! and answers that never end (every body read from the network is capped).

use std::time::{Duration, Instant};

use flow_tests::browser::body_text;
use flow_tests::stack::{EndlessAnswers, ThrottlingProxy};
use flow_tests::Browser;
use scalekit_dev::Misbehaviour;
use shared::session::cookies::SESSION_COOKIE;
use shared::telemetry::Chain;

use crate::support::TestApp;

#[tokio::test]
async fn brief_dynamodb_throttling_is_absorbed_by_the_sdk_retries() {
    let mut app = TestApp::spawn().await;
    let proxy = ThrottlingProxy::start(&app.stack.moto_url(), 2).await;
    app.callback = app.stack.app_via(callback::NEEDS, &proxy.url);
    let mut browser = Browser::new();
    let response = app.sign_in(&mut browser, "usr_bob", None).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert_eq!(
        proxy.dynamodb_requests(),
        3,
        "two throttled attempts, then success"
    );
    assert_eq!(app.stack.session_items().await.len(), 1);
}

#[tokio::test]
async fn sustained_dynamodb_throttling_is_a_bounded_503_with_nothing_written() {
    let mut app = TestApp::spawn().await;
    let proxy = ThrottlingProxy::start(&app.stack.moto_url(), usize::MAX).await;
    app.callback = app.stack.app_via(callback::NEEDS, &proxy.url);
    let mut browser = Browser::new();
    let started = Instant::now();
    let response = app.sign_in(&mut browser, "usr_bob", None).await;
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert!(body_text(&response).contains("session_store_unavailable"));
    assert_eq!(
        proxy.dynamodb_requests(),
        3,
        "the SDK's standard retry mode: three attempts"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "inside the function's 10 s timeout"
    );
    assert!(browser.get(SESSION_COOKIE).is_none());
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn keys_endpoint_down_before_any_key_is_cached_is_a_502_and_recovers() {
    let app = TestApp::spawn().await;
    app.stack.idp.misbehave(Misbehaviour::KeysDown);
    let mut browser = Browser::new();
    let response = app.sign_in(&mut browser, "usr_bob", None).await;
    assert_eq!(response.status(), 502, "{}", body_text(&response));
    assert!(body_text(&response).contains("idp_keys_unavailable"));
    assert!(app.stack.session_items().await.is_empty());

    app.stack.idp.clear_misbehaviour();
    let response = app.sign_in(&mut browser, "usr_bob", None).await;
    assert_eq!(
        response.status(),
        302,
        "same container recovers: {}",
        body_text(&response)
    );
}

#[tokio::test]
async fn keys_endpoint_down_with_keys_cached_does_not_stop_logins() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    app.stack.idp.misbehave(Misbehaviour::KeysDown);
    let response = app.sign_in(&mut browser, "usr_carol", None).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
}

#[tokio::test]
async fn a_token_answer_that_never_ends_is_a_502_at_the_callback_not_a_timeout() {
    let app = TestApp::spawn().await;
    let (response, _) = app.login_with(Some(Misbehaviour::TokenEndlessBody)).await;
    assert_eq!(response.status(), 502, "{}", body_text(&response));
    assert!(body_text(&response).contains("idp_bad_response"));
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_key_set_that_never_ends_is_a_502_at_the_callback() {
    let app = TestApp::spawn().await;
    let (response, _) = app.login_with(Some(Misbehaviour::KeysEndlessBody)).await;
    assert_eq!(response.status(), 502, "{}", body_text(&response));
    assert!(body_text(&response).contains("idp_keys_unavailable"));
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn aws_answers_that_never_end_are_cut_off_at_the_cap_not_read_until_the_timeout() {
    let mut app = TestApp::spawn().await;
    let endless = EndlessAnswers::start().await;
    app.session = app.stack.app_via(session::NEEDS, &endless.url);

    let error = app.session.session_keys.get().await.unwrap_err();
    let chain = Chain(&error).to_string();
    assert!(chain.contains("length limit exceeded"), "{chain}");

    let (_, keys) = app.stack.session_store();
    let store = app.session.sessions();
    let error = store.load("any-session", &keys.tokens).await.unwrap_err();
    let chain = Chain(&error).to_string();
    assert!(chain.contains("length limit exceeded"), "{chain}");

    // Each of the SDK's attempts stops near the cap; what the endpoint managed to send beyond
    // it sits in the two sockets' buffers, never in the function's memory.
    let per_attempt = (shared::aws::MAX_RESPONSE_BODY + 16 * 1024 * 1024) as u64;
    assert!(
        endless.bytes_sent() < 6 * per_attempt,
        "{} bytes sent",
        endless.bytes_sent()
    );
}
