use std::time::Duration;

use flow_tests::browser::{body_text, location, set_cookie_for, set_cookies};
use flow_tests::stack::{FlakyProxy, SESSION_SECRET};
use flow_tests::{events, logs, Browser};
use scalekit_dev::{Endpoint, Misbehaviour};
use serde_json::json;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE, TRANSACTION_COOKIE_PREFIX};

use crate::support::{finish_login_on, query_of, TestApp};

#[tokio::test]
async fn a_completed_login_creates_one_encrypted_session_and_sets_the_seed_cookies() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();

    let authorize = app.start_login(&mut browser, "").await;
    let back = app.at_idp(&authorize, "usr_alice", Some("org_globex"));
    let code = query_of(&back)["code"].clone();
    let response = app.finish_login(&mut browser, &back).await;

    // THEN the browser lands on the post-login page
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert_eq!(location(&response), "/dashboard/profile");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");

    // AND carries the session and access-token cookies, the transaction cookie cleared
    let session = set_cookie_for(&response, SESSION_COOKIE).expect("session cookie");
    let access = set_cookie_for(&response, ACCESS_TOKEN_COOKIE).expect("accessToken cookie");
    for cookie in [&session, &access] {
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
    }
    assert!(
        access.contains("Max-Age=239"),
        "expires_in 299 - 60: {access}"
    );
    let cleared = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with(TRANSACTION_COOKIE_PREFIX))
        .expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let session_id = browser.get(SESSION_COOKIE).unwrap().to_owned();
    assert!(session_id.len() >= 22, "at least 128 bits");

    // AND exactly one session row, keyed by a hash, holding no plaintext token
    let items = app.stack.session_items().await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_ne!(
        item["id"].as_s().unwrap(),
        &session_id,
        "the table must not hold the session id itself"
    );
    assert!(item.contains_key("expiration") && item.contains_key("data"));
    let record = &app.stack.sessions().await[0];
    assert_eq!(record.user_id, "usr_alice");
    assert_eq!(record.organization_id.as_deref(), Some("org_globex"));
    let dump = format!("{item:?}");
    let access_token = browser.get(ACCESS_TOKEN_COOKIE).unwrap();
    assert!(!dump.contains(access_token));
    assert!(!dump.contains("eyJ"), "no JWT in plaintext: {dump}");
    assert_eq!(app.stack.idp.requests(Endpoint::Token), 1);

    // AND nothing secret was logged
    logs::assert_none_logged(&[
        &code,
        &session_id,
        access_token,
        app.stack.idp.client_secret(),
        SESSION_SECRET,
    ]);
}

#[tokio::test]
async fn an_error_from_scalekit_is_reported_without_reflecting_its_description() {
    let app = TestApp::spawn().await;
    let response = callback::handle(&app.callback, events::request("callback-error-param")).await;
    assert_eq!(response.status(), 401);
    let page = body_text(&response);
    assert!(page.contains("access_denied"), "{page}");
    assert!(
        !page.contains("<script>") && !page.contains("alert(1)"),
        "{page}"
    );

    let mut json_event = events::load("callback-error-param");
    events::set_header(&mut json_event, "accept", "application/json");
    let response = callback::handle(&app.callback, events::to_request(&json_event)).await;
    let body: serde_json::Value = serde_json::from_str(&body_text(&response)).unwrap();
    assert_eq!(body["error"], "access_denied");
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_state_without_its_transaction_cookie_never_reaches_scalekit() {
    let app = TestApp::spawn().await;
    for (event, code) in [
        ("callback-state-mismatch", "missing_transaction"),
        ("callback-missing-cookie", "missing_transaction"),
    ] {
        let response = callback::handle(&app.callback, events::request(event)).await;
        assert_eq!(response.status(), 400, "{event}");
        assert!(
            body_text(&response).contains(code),
            "{event}: {}",
            body_text(&response)
        );
        assert!(set_cookie_for(&response, SESSION_COOKIE).is_none());
    }
    assert_eq!(app.stack.idp.requests(Endpoint::Token), 0);
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_callback_whose_state_differs_from_the_browsers_transaction_is_refused() {
    // GIVEN a browser that started a login, and a callback URL for another login (login CSRF)
    let app = TestApp::spawn().await;
    let mut victim = Browser::new();
    app.start_login(&mut victim, "").await;
    let mut attacker = Browser::new();
    let attacker_authorize = app.start_login(&mut attacker, "").await;
    let attacker_back = app.at_idp(&attacker_authorize, "usr_bob", None);

    // WHEN the victim's browser is sent the attacker's callback
    let response = app.finish_login(&mut victim, &attacker_back).await;

    // THEN nothing is exchanged and no session exists
    assert_eq!(response.status(), 400);
    assert_eq!(app.stack.idp.requests(Endpoint::Token), 0);
    assert!(victim.get(SESSION_COOKIE).is_none());
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_replayed_callback_creates_no_second_session() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    let authorize = app.start_login(&mut browser, "").await;
    let before_callback = browser.clone();
    let back = app.at_idp(&authorize, "usr_carol", None);
    assert_eq!(app.finish_login(&mut browser, &back).await.status(), 302);

    // Replay with the transaction cookie still present: Scalekit refuses the used code.
    let mut replay = before_callback;
    let response = app.finish_login(&mut replay, &back).await;
    assert_eq!(response.status(), 400);
    assert!(
        body_text(&response).contains("invalid_grant"),
        "{}",
        body_text(&response)
    );
    assert_eq!(app.stack.session_items().await.len(), 1);
}

#[tokio::test]
async fn token_endpoint_failures_map_to_stable_gateway_errors() {
    let mut app = TestApp::spawn().await;
    app.callback = app.stack.app_with(callback::NEEDS, |config| {
        config.scalekit.request_timeout = Duration::from_millis(800);
    });
    let cases = [
        (
            Misbehaviour::TokenStatus(500, json!({"error": "server_error"})),
            502,
            "idp_error",
        ),
        (
            Misbehaviour::TokenStatus(503, json!("down")),
            502,
            "idp_bad_response",
        ),
        (Misbehaviour::TokenNotJson, 502, "idp_bad_response"),
        (
            Misbehaviour::TokenDelay(Duration::from_secs(3)),
            504,
            "idp_timeout",
        ),
    ];
    for (fault, status, code) in cases {
        let label = format!("{fault:?}");
        let (response, browser) = app.login_with(Some(fault)).await;
        assert_eq!(
            response.status(),
            status,
            "{label}: {}",
            body_text(&response)
        );
        let body = body_text(&response);
        assert!(body.contains(code), "{label}: {body}");
        assert!(browser.get(SESSION_COOKIE).is_none(), "{label}");
    }
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn an_unreachable_scalekit_is_a_502() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    let authorize = app.start_login(&mut browser, "").await;
    let back = app.at_idp(&authorize, "usr_bob", None);
    let unreachable = app.stack.app_with(callback::NEEDS, |config| {
        config.scalekit.environment_url = "http://127.0.0.1:9".into(); // discard port: refused
    });
    let response = finish_login_on(&unreachable, &mut browser, &back).await;
    assert_eq!(response.status(), 502);
    assert!(body_text(&response).contains("idp_unreachable"));
}

#[tokio::test]
async fn a_rotated_client_secret_is_re_read_once_and_the_login_completes() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    // Warm the container's secret cache with the old secret.
    app.sign_in_asserted(&mut browser, "usr_bob", None).await;

    // Rotate: Scalekit and Secrets Manager now both hold the new secret.
    app.stack
        .rotate_client_secret("rotated-client-secret-value")
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await; // past the re-read rate limit

    app.sign_in_asserted(&mut browser, "usr_carol", None).await;
    logs::assert_none_logged(&["rotated-client-secret-value"]);
}

#[tokio::test]
async fn dynamodb_down_is_a_503_with_nothing_written_and_the_next_request_recovers() {
    let mut app = TestApp::spawn().await;
    let proxy = FlakyProxy::start(&app.stack.moto_url()).await;
    app.callback = app.stack.app_via(callback::NEEDS, &proxy.url);
    // Secrets are read while AWS is up; then DynamoDB (same endpoint) goes down.
    app.signed_in("usr_bob", None).await;
    let rows_before = app.stack.session_items().await.len();

    proxy.set_up(false);
    let mut browser = Browser::new();
    let response = app.sign_in(&mut browser, "usr_carol", None).await;
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert!(body_text(&response).contains("session_store_unavailable"));
    assert!(browser.get(SESSION_COOKIE).is_none() && browser.get(ACCESS_TOKEN_COOKIE).is_none());
    assert_eq!(app.stack.session_items().await.len(), rows_before);

    proxy.set_up(true);
    let mut browser = Browser::new();
    let response = app.sign_in(&mut browser, "usr_carol", None).await;
    assert_eq!(
        response.status(),
        302,
        "same container recovers: {}",
        body_text(&response)
    );
    assert_eq!(app.stack.session_items().await.len(), rows_before + 1);
}

#[tokio::test]
async fn secrets_manager_down_at_cold_start_is_a_503_and_recovers() {
    let mut app = TestApp::spawn().await;
    let proxy = FlakyProxy::start(&app.stack.moto_url()).await;
    proxy.set_up(false);
    app.login = app.stack.app_via(login::NEEDS, &proxy.url);
    let response = login::handle(&app.login, events::request("login-plain")).await;
    assert_eq!(response.status(), 503);
    assert!(body_text(&response).contains("secrets_unavailable"));
    assert!(set_cookies(&response).is_empty());

    proxy.set_up(true);
    let response = login::handle(&app.login, events::request("login-plain")).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
}
