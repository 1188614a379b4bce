//! Production's ordinary faults, as they happen: several containers alive at once, a session
//! secret rotated under them, a refresh winner that takes seconds, a table writer editing rows.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use flow_tests::browser::{body_text, set_cookie_for};
use flow_tests::{Browser, Stack};
use scalekit_dev::{Endpoint, Misbehaviour};
use serde_json::json;
use shared::scalekit::unix_now;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE};
use shared::App;

use crate::call;
use crate::support::{finish_login, signed_in, start_login};

/// One Lambda container of each function the browser flow uses.
struct Container {
    login: App,
    callback: App,
    session: App,
}

fn container(stack: &Stack) -> Container {
    Container {
        login: stack.app(login::NEEDS),
        callback: stack.app(callback::NEEDS),
        session: stack.app(session::NEEDS),
    }
}

async fn sign_in(stack: &Stack, on: &Container, user: &str) -> Browser {
    let mut browser = Browser::new();
    let org = (user == "usr_alice").then_some("org_acme");
    signed_in(stack, &on.login, &on.callback, &mut browser, user, org).await;
    browser
}

async fn put_session_secret(stack: &Stack, value: &str) {
    stack
        .secrets
        .put_secret_value()
        .secret_id(&stack.env["SESSION_SECRET_ARN"])
        .secret_string(format!(r#"{{"session_secret":"{value}"}}"#))
        .send()
        .await
        .expect("rotate");
}

fn assert_signed_in(response: &lambda_http::Response<lambda_http::Body>, what: &str) {
    assert_eq!(response.status(), 200, "{what}: {}", body_text(response));
    assert!(
        set_cookie_for(response, SESSION_COOKIE).is_none(),
        "{what}: the session cookie is kept"
    );
}

#[tokio::test]
async fn warm_and_fresh_containers_serve_one_user_side_by_side_after_a_session_secret_rotation() {
    let stack = Stack::start().await;
    // GIVEN a warm container that read the session secret before the rotation
    let warm = container(&stack);
    let mut before = sign_in(&stack, &warm, "usr_alice").await;
    call!(session::handle, &warm.session, before, "session-signed-in");

    // WHEN the secret is rotated and a fresh container starts beside the warm one
    put_session_secret(&stack, "rotated-session-secret-0123456789abcdef").await;
    let fresh = container(&stack);

    // THEN a session sealed by the fresh container opens on the warm one (which re-reads the
    // secret once), and the old session keeps working on both
    let mut after = sign_in(&stack, &fresh, "usr_bob").await;
    for round in 0..2 {
        let response = call!(session::handle, &warm.session, after, "session-signed-in");
        assert_signed_in(
            &response,
            &format!("fresh session on the warm container ({round})"),
        );
        let response = call!(session::handle, &fresh.session, after, "session-signed-in");
        assert_signed_in(
            &response,
            &format!("fresh session on the fresh container ({round})"),
        );
        let response = call!(session::handle, &fresh.session, before, "session-signed-in");
        assert_signed_in(
            &response,
            &format!("old session on the fresh container ({round})"),
        );
        let response = call!(session::handle, &warm.session, before, "session-signed-in");
        assert_signed_in(
            &response,
            &format!("old session on the warm container ({round})"),
        );
    }

    // AND a login started on a fresh container finishes at a warm container's callback, and
    // the other way round
    let mut browser = Browser::new();
    let stale_callback = stack.app(callback::NEEDS);
    let stale_login = stack.app(login::NEEDS);
    // Both read the rotated secret now; roll the secret once more so they are the warm ones.
    stale_callback.session_keys.get().await.expect("secret");
    stale_login.session_keys.get().await.expect("secret");
    put_session_secret(&stack, "third-session-secret-0123456789abcdefgh").await;
    let newest = container(&stack);

    let authorize = start_login(&newest.login, &mut browser, "").await;
    let back = stack.sign_in_at_idp(&authorize, "usr_carol", None).await;
    let response = finish_login(&stale_callback, &mut browser, &back).await;
    assert_eq!(
        response.status(),
        302,
        "fresh login, warm callback: {}",
        body_text(&response)
    );

    let mut other = Browser::new();
    let authorize = start_login(&stale_login, &mut other, "").await;
    let back = stack.sign_in_at_idp(&authorize, "usr_carol", None).await;
    let response = finish_login(&newest.callback, &mut other, &back).await;
    assert_eq!(
        response.status(),
        302,
        "warm login, fresh callback: {}",
        body_text(&response)
    );

    // AND no record was deleted along the way
    assert_eq!(stack.session_items().await.len(), 4);
}

#[tokio::test]
async fn a_session_that_cannot_be_opened_signs_the_browser_out_but_its_record_is_kept() {
    let stack = Stack::start().await;
    let on = container(&stack);
    let mut browser = sign_in(&stack, &on, "usr_bob").await;
    stack
        .set_session_attributes(&[("data", AttributeValue::S("not-a-sealed-record".into()))])
        .await;
    let response = call!(session::handle, &on.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401, "{}", body_text(&response));
    assert_eq!(stack.session_items().await.len(), 1, "never deleted");
}

#[tokio::test]
async fn an_edited_session_row_is_refused_and_clear_attributes_decide_nothing() {
    let stack = Stack::start().await;
    let on = container(&stack);
    let mut alice = sign_in(&stack, &on, "usr_alice").await;
    let mut bob = sign_in(&stack, &on, "usr_bob").await;

    // A table writer adds the attributes older records had in clear: they change nothing.
    let now = unix_now();
    stack
        .edit_sessions(|record| record.expires_at = now - 1)
        .await;
    stack
        .set_session_attributes(&[
            ("expires_at", AttributeValue::N((now + 999_999).to_string())),
            ("user_id", AttributeValue::S("usr_bob".into())),
        ])
        .await;
    let response = call!(session::handle, &on.session, alice, "session-signed-in");
    assert_eq!(
        response.status(),
        401,
        "expired inside the seal: {}",
        body_text(&response)
    );

    // Moving bob's sealed record under another key, or editing its clear version, is refused.
    let mut bob2 = sign_in(&stack, &on, "usr_bob").await;
    let items = stack.session_items().await;
    assert_eq!(items.len(), 2, "alice's expired record was deleted");
    let response = call!(session::handle, &on.session, bob2, "session-signed-in");
    assert_signed_in(&response, "baseline");
    let data: Vec<_> = items.iter().map(|item| item["data"].clone()).collect();
    for (item, stolen) in items.iter().zip(data.iter().rev()) {
        stack
            .dynamo
            .update_item()
            .table_name(&stack.table)
            .key("id", item["id"].clone())
            .update_expression("SET #d = :d")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":d", stolen.clone())
            .send()
            .await
            .expect("swap");
    }
    for browser in [&mut bob, &mut bob2] {
        let response = call!(session::handle, &on.session, *browser, "session-signed-in");
        assert_eq!(
            response.status(),
            401,
            "swapped seal: {}",
            body_text(&response)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_winner_that_takes_seconds_signs_nobody_out() {
    let stack = Stack::start().await;
    let on = container(&stack);
    let (first, second) = (stack.app(session::NEEDS), stack.app(session::NEEDS));
    for app in [&first, &second] {
        app.client_secret
            .as_ref()
            .unwrap()
            .get()
            .await
            .expect("secret");
    }
    // GIVEN a session whose access token has expired, open in two tabs served by two containers
    stack.idp.misbehave(Misbehaviour::AccessTokenClaims(
        json!({"exp": unix_now() - 120, "iat": unix_now() - 420}),
    ));
    let browser = sign_in(&stack, &on, "usr_carol").await;
    stack.idp.clear_misbehaviour();
    // WHEN Scalekit spends the refresh token at once but its answer takes three seconds
    stack
        .idp
        .misbehave(Misbehaviour::TokenSlowResponse(Duration::from_secs(3)));
    let request = || crate::support::request_from(&browser, "session-signed-in");
    let slow_first = session::handle(&first, request());
    let second_later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        session::handle(&second, request()).await
    };
    let (a, b) = tokio::join!(slow_first, second_later);
    stack.idp.clear_misbehaviour();

    // THEN both tabs end signed in with the winner's access token, and one refresh was spent
    assert_signed_in(&a, "winner");
    assert_signed_in(&b, "the tab that waited");
    let token = |r| {
        let cookie = set_cookie_for(r, ACCESS_TOKEN_COOKIE).expect("a fresh access token");
        cookie.split(';').next().map(str::to_owned)
    };
    assert_eq!(
        token(&a),
        token(&b),
        "the waiting tab adopted the winner's token"
    );
    assert_eq!(
        stack.idp.requests(Endpoint::Token),
        2,
        "one code exchange, one refresh"
    );
    assert_eq!(stack.session_items().await.len(), 1);
}

#[tokio::test]
async fn a_tab_that_waits_too_long_for_a_refresh_answers_busy_and_keeps_the_session() {
    let stack = Stack::start().await;
    let on = container(&stack);
    stack.idp.misbehave(Misbehaviour::AccessTokenClaims(
        json!({"exp": unix_now() - 120, "iat": unix_now() - 420}),
    ));
    let mut browser = sign_in(&stack, &on, "usr_carol").await;
    stack.idp.clear_misbehaviour();
    // GIVEN another container holds the session's rotation lease (its refresh is in flight)
    let (store, _) = stack.session_store();
    let record = stack.sessions().await.remove(0);
    let now_ms = unix_now() * 1000;
    let lease = store
        .acquire_lease(&record, now_ms, now_ms + 60_000)
        .await
        .expect("lease");
    assert_eq!(lease, shared::session::RotationOutcome::Stored);

    // WHEN this tab needs a refresh too, THEN it waits, then answers 503 session_busy,
    // keeping the cookies and the record
    let response = call!(session::handle, &on.session, browser, "session-signed-in");
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert!(body_text(&response).contains("session_busy"));
    assert!(set_cookie_for(&response, SESSION_COOKIE).is_none());
    assert!(set_cookie_for(&response, ACCESS_TOKEN_COOKIE).is_none());
    assert_eq!(
        stack.idp.requests(Endpoint::Token),
        1,
        "the refresh token was not spent"
    );
    assert_eq!(stack.session_items().await.len(), 1);

    // AND once the lease is gone the next request refreshes
    store.release_lease(&record).await.expect("release");
    let response = call!(session::handle, &on.session, browser, "session-signed-in");
    assert_signed_in(&response, "after the lease");
}

#[tokio::test]
async fn a_foreign_cookie_with_non_ascii_bytes_hides_no_other_cookie() {
    let stack = Stack::start().await;
    let on = container(&stack);
    let foreign = "sibling_app=caf\u{e9}; theme=\u{1f319}".to_owned();

    // A login and its callback with the foreign cookie present
    let mut browser = Browser::new();
    let mut event = flow_tests::events::load("login-plain");
    let mut cookies = browser.cookies();
    cookies.push(foreign.clone());
    flow_tests::events::set_cookies(&mut event, &cookies);
    let response = login::handle(&on.login, flow_tests::events::to_request(&event)).await;
    assert_eq!(response.status(), 302);
    browser.absorb(&response);
    let authorize = flow_tests::browser::location(&response);
    let back = stack.sign_in_at_idp(&authorize, "usr_bob", None).await;
    let url = url::Url::parse(&back).unwrap();
    let mut event = flow_tests::events::load("callback-success");
    flow_tests::events::set_query(&mut event, url.query().unwrap_or(""));
    let mut cookies = browser.cookies();
    cookies.insert(0, foreign.clone());
    flow_tests::events::set_cookies(&mut event, &cookies);
    let response = callback::handle(&on.callback, flow_tests::events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    browser.absorb(&response);

    // and the session check
    let mut event = flow_tests::events::load("session-signed-in");
    let mut cookies = browser.cookies();
    cookies.push(foreign);
    flow_tests::events::set_cookies(&mut event, &cookies);
    let response = session::handle(&on.session, flow_tests::events::to_request(&event)).await;
    assert_signed_in(&response, "with a foreign cookie");
}

fn clears_the_session(response: &lambda_http::Response<lambda_http::Body>) -> bool {
    response.headers().contains_key("clear-site-data")
        || set_cookie_for(response, SESSION_COOKIE).is_some()
}

#[tokio::test]
async fn a_cross_site_logout_link_asks_first_and_a_same_site_one_signs_out() {
    let stack = Stack::start().await;
    let on = container(&stack);
    let logout_app = stack.app(logout::NEEDS);
    let mut browser = sign_in(&stack, &on, "usr_bob").await;

    let response = call!(
        logout::handle,
        &logout_app,
        browser,
        "logout-cross-site-get"
    );
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert!(
        !clears_the_session(&response),
        "nothing expired, no Clear-Site-Data"
    );
    let page = body_text(&response);
    assert!(
        page.contains(r#"<form method="post" action="/api/logout">"#),
        "{page}"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(stack.session_items().await.len(), 1, "the session lives on");
    let response = call!(session::handle, &on.session, browser, "session-signed-in");
    assert_signed_in(&response, "after the cross-site link");

    // The profile page's own link (a same-origin navigation) signs out at once.
    let mut event = flow_tests::events::load("logout-with-session");
    flow_tests::events::set_header(&mut event, "sec-fetch-site", "same-origin");
    flow_tests::events::set_cookies(&mut event, &browser.cookies());
    let response = logout::handle(&logout_app, flow_tests::events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(clears_the_session(&response));
    assert!(stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_logout_during_a_dynamodb_outage_keeps_the_cookies_so_the_user_can_retry() {
    let stack = Stack::start().await;
    let on = container(&stack);
    let proxy = flow_tests::stack::FlakyProxy::start(&stack.moto_url()).await;
    let logout_app = stack.app_via(logout::NEEDS, &proxy.url);
    logout_app.session_keys.get().await.expect("secret");
    let mut browser = sign_in(&stack, &on, "usr_bob").await;

    proxy.set_up(false);
    let response = call!(logout::handle, &logout_app, browser, "logout-post");
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert!(!clears_the_session(&response), "the cookies are kept");
    assert!(body_text(&response).contains("still signed in"));
    assert_eq!(stack.session_items().await.len(), 1);

    proxy.set_up(true);
    let response = call!(logout::handle, &logout_app, browser, "logout-post");
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(clears_the_session(&response));
    assert!(stack.session_items().await.is_empty());
}
