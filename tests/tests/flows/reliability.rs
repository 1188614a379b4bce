//! Production's ordinary faults, as they happen: several containers alive at once, a session
//! secret rotated under them, a refresh winner that takes seconds, a table writer editing rows.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use flow_tests::browser::{body_text, location, set_cookie_for};
use flow_tests::stack::FlakyProxy;
use flow_tests::{events, Browser};
use scalekit_dev::{Endpoint, Misbehaviour};
use shared::scalekit::unix_now;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE};

use crate::call;
use crate::support::{finish_login_on, request_from, signed_in_on, start_login_on};
use crate::support::{Container, TestApp};

/// Asserts that a session check answered for the signed-in user and kept the session cookie.
fn assert_still_signed_in(response: &lambda_http::Response<lambda_http::Body>, what: &str) {
    assert_eq!(response.status(), 200, "{what}: {}", body_text(response));
    assert!(
        set_cookie_for(response, SESSION_COOKIE).is_none(),
        "{what}: the session cookie is kept"
    );
}

#[tokio::test]
async fn warm_and_fresh_containers_serve_one_user_side_by_side_after_a_session_secret_rotation() {
    // GIVEN a warm container (the app's own) that read the session secret before the rotation
    let app = TestApp::spawn().await;
    let warm = &app.apps;
    let mut before = app.signed_in("usr_alice", Some("org_acme")).await;
    call!(session::handle, &warm.session, before, "session-signed-in");

    // WHEN the secret is rotated and a fresh container starts beside the warm one
    app.stack
        .rotate_session_secret("rotated-session-secret-0123456789abcdef")
        .await;
    let fresh = Container::of(&app.stack);

    // THEN a session sealed by the fresh container opens on the warm one (which re-reads the
    // secret once), and the old session keeps working on both
    let mut after = signed_in_on(&app.stack, &fresh, "usr_bob", None).await;
    for round in 0..2 {
        let response = call!(session::handle, &warm.session, after, "session-signed-in");
        assert_still_signed_in(
            &response,
            &format!("fresh session on the warm container ({round})"),
        );
        let response = call!(session::handle, &fresh.session, after, "session-signed-in");
        assert_still_signed_in(
            &response,
            &format!("fresh session on the fresh container ({round})"),
        );
        let response = call!(session::handle, &fresh.session, before, "session-signed-in");
        assert_still_signed_in(
            &response,
            &format!("old session on the fresh container ({round})"),
        );
        let response = call!(session::handle, &warm.session, before, "session-signed-in");
        assert_still_signed_in(
            &response,
            &format!("old session on the warm container ({round})"),
        );
    }

    // AND a login started on a fresh container finishes at a warm container's callback, and
    // the other way round
    let mut browser = Browser::new();
    let stale = Container::of(&app.stack);
    // Both read the rotated secret now; roll the secret once more so they are the warm ones.
    stale.callback.session_keys.get().await.expect("secret");
    stale.login.session_keys.get().await.expect("secret");
    app.stack
        .rotate_session_secret("third-session-secret-0123456789abcdefgh")
        .await;
    let newest = Container::of(&app.stack);

    let authorize = start_login_on(&newest.login, &mut browser, "").await;
    let back = app.at_idp(&authorize, "usr_carol", None);
    let response = finish_login_on(&stale.callback, &mut browser, &back).await;
    assert_eq!(
        response.status(),
        302,
        "fresh login, warm callback: {}",
        body_text(&response)
    );

    let mut other = Browser::new();
    let authorize = start_login_on(&stale.login, &mut other, "").await;
    let back = app.at_idp(&authorize, "usr_carol", None);
    let response = finish_login_on(&newest.callback, &mut other, &back).await;
    assert_eq!(
        response.status(),
        302,
        "warm login, fresh callback: {}",
        body_text(&response)
    );

    // AND no record was deleted along the way
    assert_eq!(app.stack.session_items().await.len(), 4);
}

#[tokio::test]
async fn a_session_that_cannot_be_opened_signs_the_browser_out_but_its_record_is_kept() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    app.stack
        .set_session_attributes(&[("data", AttributeValue::S("not-a-sealed-record".into()))])
        .await;
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401, "{}", body_text(&response));
    assert_eq!(app.stack.session_items().await.len(), 1, "never deleted");
}

#[tokio::test]
async fn an_edited_session_row_is_refused_and_clear_attributes_decide_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let mut bob = app.signed_in("usr_bob", None).await;

    // A table writer adds the attributes older records had in clear: they change nothing.
    let now = unix_now();
    app.stack
        .edit_sessions(|record| record.expires_at = now - 1)
        .await;
    app.stack
        .set_session_attributes(&[
            ("expires_at", AttributeValue::N((now + 999_999).to_string())),
            ("user_id", AttributeValue::S("usr_bob".into())),
        ])
        .await;
    let response = call!(session::handle, &app.session, alice, "session-signed-in");
    assert_eq!(
        response.status(),
        401,
        "expired inside the seal: {}",
        body_text(&response)
    );

    // Moving bob's sealed record under another key, or editing its clear version, is refused.
    let mut bob2 = app.signed_in("usr_bob", None).await;
    let items = app.stack.session_items().await;
    assert_eq!(items.len(), 2, "alice's expired record was deleted");
    let response = call!(session::handle, &app.session, bob2, "session-signed-in");
    assert_still_signed_in(&response, "baseline");
    let data: Vec<_> = items.iter().map(|item| item["data"].clone()).collect();
    for (item, stolen) in items.iter().zip(data.iter().rev()) {
        app.stack
            .dynamo
            .update_item()
            .table_name(&app.stack.table)
            .key("id", item["id"].clone())
            .update_expression("SET #d = :d")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":d", stolen.clone())
            .send()
            .await
            .expect("swap");
    }
    for browser in [&mut bob, &mut bob2] {
        let response = call!(session::handle, &app.session, *browser, "session-signed-in");
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
    let app = TestApp::spawn().await;
    let (first, second) = (app.stack.app(session::NEEDS), app.stack.app(session::NEEDS));
    for session_app in [&first, &second] {
        session_app
            .client_secret
            .as_ref()
            .unwrap()
            .get()
            .await
            .expect("secret");
    }
    // GIVEN a session whose access token has expired, open in two tabs served by two containers
    let browser = app.signed_in_with_expired_access_token("usr_carol").await;
    // WHEN Scalekit spends the refresh token at once but its answer takes three seconds
    app.stack
        .idp
        .misbehave(Misbehaviour::TokenSlowResponse(Duration::from_secs(3)));
    let request = || request_from(&browser, "session-signed-in");
    let slow_first = session::handle(&first, request());
    let second_later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        session::handle(&second, request()).await
    };
    let (a, b) = tokio::join!(slow_first, second_later);
    app.stack.idp.clear_misbehaviour();

    // THEN both tabs end signed in with the winner's access token, and one refresh was spent
    assert_still_signed_in(&a, "winner");
    assert_still_signed_in(&b, "the tab that waited");
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
        app.stack.idp.requests(Endpoint::Token),
        2,
        "one code exchange, one refresh"
    );
    assert_eq!(app.stack.session_items().await.len(), 1);
}

#[tokio::test]
async fn a_tab_that_waits_too_long_for_a_refresh_answers_busy_and_keeps_the_session() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in_with_expired_access_token("usr_carol").await;
    // GIVEN another container holds the session's rotation lease (its refresh is in flight)
    let (store, _) = app.stack.session_store();
    let record = app.stack.sessions().await.remove(0);
    let now_ms = unix_now() * 1000;
    let lease = store
        .acquire_lease(&record, now_ms, now_ms + 60_000)
        .await
        .expect("lease");
    assert_eq!(lease, shared::session::RotationOutcome::Stored);

    // WHEN this tab needs a refresh too, THEN it waits, then answers 503 session_busy,
    // keeping the cookies and the record
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert!(body_text(&response).contains("session_busy"));
    assert!(set_cookie_for(&response, SESSION_COOKIE).is_none());
    assert!(set_cookie_for(&response, ACCESS_TOKEN_COOKIE).is_none());
    assert_eq!(
        app.stack.idp.requests(Endpoint::Token),
        1,
        "the refresh token was not spent"
    );
    assert_eq!(app.stack.session_items().await.len(), 1);

    // AND once the lease is gone the next request refreshes
    store.release_lease(&record).await.expect("release");
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_still_signed_in(&response, "after the lease");
}

#[tokio::test]
async fn a_foreign_cookie_with_non_ascii_bytes_hides_no_other_cookie() {
    let app = TestApp::spawn().await;
    let foreign = "sibling_app=caf\u{e9}; theme=\u{1f319}".to_owned();

    // A login and its callback with the foreign cookie present
    let mut browser = Browser::new();
    let mut event = events::load("login-plain");
    let mut cookies = browser.cookies();
    cookies.push(foreign.clone());
    events::set_cookies(&mut event, &cookies);
    let response = login::handle(&app.login, events::to_request(&event)).await;
    assert_eq!(response.status(), 302);
    browser.absorb(&response);
    let authorize = location(&response);
    let back = app.at_idp(&authorize, "usr_bob", None);
    let url = url::Url::parse(&back).unwrap();
    let mut event = events::load("callback-success");
    events::set_query(&mut event, url.query().unwrap_or(""));
    let mut cookies = browser.cookies();
    cookies.insert(0, foreign.clone());
    events::set_cookies(&mut event, &cookies);
    let response = callback::handle(&app.callback, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    browser.absorb(&response);

    // and the session check
    let mut event = events::load("session-signed-in");
    let mut cookies = browser.cookies();
    cookies.push(foreign);
    events::set_cookies(&mut event, &cookies);
    let response = session::handle(&app.session, events::to_request(&event)).await;
    assert_still_signed_in(&response, "with a foreign cookie");
}

fn clears_the_session(response: &lambda_http::Response<lambda_http::Body>) -> bool {
    response.headers().contains_key("clear-site-data")
        || set_cookie_for(response, SESSION_COOKIE).is_some()
}

#[tokio::test]
async fn a_cross_site_logout_link_asks_first_and_a_same_site_one_signs_out() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;

    let response = call!(
        logout::handle,
        &app.logout,
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
    assert_eq!(
        app.stack.session_items().await.len(),
        1,
        "the session lives on"
    );
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_still_signed_in(&response, "after the cross-site link");

    // The profile page's own link (a same-origin navigation) signs out at once.
    let mut event = events::load("logout-with-session");
    events::set_header(&mut event, "sec-fetch-site", "same-origin");
    events::set_cookies(&mut event, &browser.cookies());
    let response = logout::handle(&app.logout, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(clears_the_session(&response));
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_logout_during_a_dynamodb_outage_keeps_the_cookies_so_the_user_can_retry() {
    let mut app = TestApp::spawn().await;
    let proxy = FlakyProxy::start(&app.stack.moto_url()).await;
    app.logout = app.stack.app_via(logout::NEEDS, &proxy.url);
    app.logout.session_keys.get().await.expect("secret");
    let mut browser = app.signed_in("usr_bob", None).await;

    proxy.set_up(false);
    let response = call!(logout::handle, &app.logout, browser, "logout-post");
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert!(!clears_the_session(&response), "the cookies are kept");
    assert!(body_text(&response).contains("still signed in"));
    assert_eq!(app.stack.session_items().await.len(), 1);

    proxy.set_up(true);
    let response = call!(logout::handle, &app.logout, browser, "logout-post");
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(clears_the_session(&response));
    assert!(app.stack.session_items().await.is_empty());
}

/// The flow tests' functions run under their template policies: a call the policy grants reaches
/// moto, one it does not is refused as IAM refuses it.
#[tokio::test]
async fn a_call_outside_a_functions_policy_is_refused_as_iam_refuses_it() {
    let app = TestApp::spawn().await;
    let store = app.callback.sessions();
    let keys = app.stack.session_store().1;
    // The callback may delete a session (DeleteItem), not read one (GetItem).
    store
        .delete("no-such-session")
        .await
        .expect("DeleteItem is granted");
    let refused = store
        .load("no-such-session", &keys.tokens)
        .await
        .expect_err("GetItem is not granted");
    let chain = shared::telemetry::Chain(&refused).to_string();
    assert!(chain.contains("AccessDeniedException"), "{chain}");
}
