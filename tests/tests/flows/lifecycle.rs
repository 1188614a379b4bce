use flow_tests::browser::{body_text, location, set_cookie_for};
use flow_tests::{events, Browser};
use scalekit_dev::{Endpoint, Misbehaviour};
use serde_json::{json, Value};
use shared::scalekit::unix_now;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE};

use crate::call;
use crate::support::{finish_login_on, request_from, Container, TestApp};

fn json_body(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_str(&body_text(response)).expect("JSON body")
}

#[tokio::test]
async fn the_session_endpoint_describes_the_user_without_calling_scalekit() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    call!(session::handle, &app.session, browser, "session-signed-in"); // warms the key cache
    let calls = (
        app.stack.idp.requests(Endpoint::Token),
        app.stack.idp.requests(Endpoint::Keys),
    );

    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json_body(&response);
    assert_eq!(body["user"]["id"], "usr_alice");
    assert_eq!(body["user"]["email"], "alice@acme.test");
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(body["organizationId"], "org_acme");
    assert_eq!(body["roles"], json!(["admin"]));
    assert!(body["permissions"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert!(body["accessTokenExpiresAt"].as_i64().unwrap() > unix_now());
    assert!(
        set_cookie_for(&response, ACCESS_TOKEN_COOKIE).is_none(),
        "nothing to refresh"
    );
    assert_eq!(
        (
            app.stack.idp.requests(Endpoint::Token),
            app.stack.idp.requests(Endpoint::Keys)
        ),
        calls
    );
}

#[tokio::test]
async fn without_a_session_the_api_answers_401_and_the_profile_redirects_to_login() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    let response = call!(session::handle, &app.session, browser, "session-signed-out");
    assert_eq!(response.status(), 401);
    assert_eq!(json_body(&response), json!({"error": "unauthenticated"}));

    let response = call!(profile::handle, &app.profile, browser, "profile-signed-out");
    assert_eq!(response.status(), 302);
    assert_eq!(
        location(&response),
        "/api/login?return_to=/dashboard/profile"
    );
}

#[tokio::test]
async fn the_profile_page_shows_the_user_escaped_with_a_sign_out_button() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    let response = call!(profile::handle, &app.profile, browser, "profile-signed-in");
    assert_eq!(response.status(), 200);
    let page = body_text(&response);
    for expected in [
        "Bob",
        "bob@globex.test",
        "org_globex",
        "Globex",
        "admin",
        "action=\"/api/logout\"",
        "id=\"sign-out\"",
    ] {
        assert!(page.contains(expected), "{expected} missing from {page}");
    }
    assert!(response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_transparently_and_the_refresh_token_rotated() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in_with_expired_access_token("usr_carol").await;
    let old_access = browser.get(ACCESS_TOKEN_COOKIE).map(str::to_owned);
    let version = |items: &Vec<
        std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    >| items[0]["version"].as_n().unwrap().clone();
    assert_eq!(version(&app.stack.session_items().await), "1");

    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let new_access =
        set_cookie_for(&response, ACCESS_TOKEN_COOKIE).expect("a new accessToken cookie");
    assert!(new_access.contains("HttpOnly") && new_access.contains("Secure"));
    assert_ne!(
        browser.get(ACCESS_TOKEN_COOKIE).map(str::to_owned),
        old_access
    );
    assert_eq!(
        app.stack.idp.requests(Endpoint::Token),
        2,
        "code exchange + one refresh"
    );
    assert_eq!(version(&app.stack.session_items().await), "2");
}

#[tokio::test]
async fn a_revoked_refresh_token_ends_the_session_cleanly() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in_with_expired_access_token("usr_bob").await;
    app.stack.idp.revoke_refresh_tokens("usr_bob");

    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401);
    let cleared = set_cookie_for(&response, SESSION_COOKIE).expect("session cookie cleared");
    assert!(cleared.contains("Max-Age=0"));
    assert!(set_cookie_for(&response, ACCESS_TOKEN_COOKIE)
        .unwrap()
        .contains("Max-Age=0"));
    assert!(app.stack.session_items().await.is_empty(), "record deleted");
}

#[tokio::test]
async fn a_scalekit_outage_during_refresh_keeps_the_session() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in_with_expired_access_token("usr_bob").await;
    app.stack
        .idp
        .misbehave(Misbehaviour::TokenStatus(503, json!("maintenance")));
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 502);
    assert!(
        set_cookie_for(&response, SESSION_COOKIE).is_none(),
        "cookies kept"
    );
    app.stack.idp.clear_misbehaviour();
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}

#[tokio::test]
async fn a_refreshed_id_token_for_another_user_or_issuer_is_rejected() {
    let app = TestApp::spawn().await;
    for claims in [
        json!({"sub": "usr_mallory"}),
        json!({"iss": "https://evil.example"}),
    ] {
        let mut browser = app.signed_in_with_expired_access_token("usr_bob").await;
        app.stack
            .idp
            .misbehave(Misbehaviour::IdTokenClaims(claims.clone()));
        let response = call!(session::handle, &app.session, browser, "session-signed-in");
        app.stack.idp.clear_misbehaviour();
        assert_eq!(response.status(), 502, "{claims}: {}", body_text(&response));
        assert!(
            body_text(&response).contains("invalid_id_token"),
            "{claims}"
        );
        assert!(
            set_cookie_for(&response, ACCESS_TOKEN_COOKIE).is_none(),
            "{claims}"
        );
    }
}

#[tokio::test]
async fn refresh_rotates_on_demand_and_refuses_cross_site_posts() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;

    let response = call!(refresh::handle, &app.refresh, browser, "refresh-cross-site");
    assert_eq!(response.status(), 403);
    assert_eq!(
        app.stack.idp.requests(Endpoint::Token),
        1,
        "no refresh for a cross-site POST"
    );

    let response = call!(refresh::handle, &app.refresh, browser, "refresh-signed-in");
    assert_eq!(response.status(), 204, "{}", body_text(&response));
    assert!(set_cookie_for(&response, ACCESS_TOKEN_COOKIE).is_some());
    assert_eq!(app.stack.idp.requests(Endpoint::Token), 2);

    let mut stranger = Browser::new();
    let response = call!(refresh::handle, &app.refresh, stranger, "refresh-signed-in");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn logout_ends_the_session_everywhere_and_the_old_cookies_open_nothing() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let old_cookies = browser.clone();

    let response = call!(logout::handle, &app.logout, browser, "logout-with-session");
    assert_eq!(response.status(), 302);
    let target = location(&response);
    assert!(
        target.starts_with(&format!(
            "{}/oidc/logout?id_token_hint=eyJ",
            app.stack.idp.url()
        )),
        "{target}"
    );
    assert!(target.contains("post_logout_redirect_uri=https%3A%2F%2Fabc123def4.execute-api.us-east-1.amazonaws.com%2F"), "{target}");
    assert_eq!(response.headers()["clear-site-data"], "\"cookies\"");
    for name in [SESSION_COOKIE, ACCESS_TOKEN_COOKIE] {
        assert!(
            set_cookie_for(&response, name)
                .unwrap()
                .contains("Max-Age=0"),
            "{name}"
        );
    }
    assert!(browser.get(SESSION_COOKIE).is_none());
    assert!(
        app.stack.session_items().await.is_empty(),
        "nothing of the session remains"
    );

    // Scalekit accepts the logout request we built.
    let idp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = idp.get(&target).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{:?}", answer.text().await);

    // The old cookies, replayed, open nothing.
    let mut replay = old_cookies;
    let response = call!(session::handle, &app.session, replay, "session-signed-in");
    assert_eq!(response.status(), 401);
    let response = call!(profile::handle, &app.profile, replay, "profile-signed-in");
    assert_eq!(response.status(), 302);
}

#[tokio::test]
async fn logout_without_a_session_still_clears_and_redirects() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    let response = call!(
        logout::handle,
        &app.logout,
        browser,
        "logout-without-session"
    );
    assert_eq!(response.status(), 302);
    let target = location(&response);
    assert!(!target.contains("id_token_hint"), "{target}");
    assert!(set_cookie_for(&response, SESSION_COOKIE)
        .unwrap()
        .contains("Max-Age=0"));
}

#[tokio::test]
async fn a_cross_site_logout_post_is_refused_and_a_same_site_one_works() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    let response = call!(logout::handle, &app.logout, browser, "logout-cross-site");
    assert_eq!(response.status(), 403);
    assert_eq!(app.stack.session_items().await.len(), 1);
    let response = call!(logout::handle, &app.logout, browser, "logout-post");
    assert_eq!(response.status(), 302);
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn sessions_past_their_absolute_lifetime_or_idle_timeout_are_ended_in_code() {
    let app = TestApp::spawn().await;
    let now = unix_now();

    let mut browser = app.signed_in("usr_bob", None).await;
    app.stack.edit_sessions(|r| r.expires_at = now - 1).await;
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401, "absolute lifetime");
    assert!(app.stack.session_items().await.is_empty());

    let mut browser = app.signed_in("usr_bob", None).await;
    let idle = app.session.idle_timeout_secs();
    app.stack
        .edit_sessions(|r| r.last_seen_at = now - idle - 1)
        .await;
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401, "idle timeout");
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_session_all_end_signed_in_with_one_refresh_token_stored() {
    let app = TestApp::spawn().await;
    // Two Lambda containers of each function: separate caches, separate connection pools.
    let containers = [
        app.stack.app(session::NEEDS),
        app.stack.app(session::NEEDS),
        app.stack.app(refresh::NEEDS),
    ];
    for round in 0..5 {
        let mut browser = app.signed_in_with_expired_access_token("usr_carol").await;
        let session_request = |b: &Browser| request_from(b, "session-signed-in");
        let refresh_request = |b: &Browser| request_from(b, "refresh-signed-in");
        let (a, b, c) = tokio::join!(
            session::handle(&containers[0], session_request(&browser)),
            session::handle(&containers[1], session_request(&browser)),
            refresh::handle(&containers[2], refresh_request(&browser)),
        );
        assert_eq!(a.status(), 200, "round {round}: {}", body_text(&a));
        assert_eq!(b.status(), 200, "round {round}: {}", body_text(&b));
        assert_eq!(c.status(), 204, "round {round}: {}", body_text(&c));
        for response in [&a, &b, &c] {
            assert!(
                set_cookie_for(response, ACCESS_TOKEN_COOKIE).is_some(),
                "round {round}: every tab gets a fresh access token"
            );
            assert!(
                set_cookie_for(response, SESSION_COOKIE).is_none(),
                "round {round}: nobody was signed out"
            );
        }
        // The stored refresh token is the one valid token: using it works.
        browser.absorb(&c);
        let response = call!(
            refresh::handle,
            &containers[2],
            browser,
            "refresh-signed-in"
        );
        assert_eq!(
            response.status(),
            204,
            "round {round}: the stored refresh token is valid: {}",
            body_text(&response)
        );
        call!(logout::handle, &app.logout, browser, "logout-with-session");
    }
}

#[tokio::test]
async fn rotating_the_session_secret_logs_nobody_out() {
    // The app's own containers are the ones from before the rotation.
    let app = TestApp::spawn().await;
    let mut signed_in = app.signed_in("usr_alice", Some("org_acme")).await;
    // A login started before the rotation and finished after it.
    let mut midway = Browser::new();
    let authorize = app.start_login(&mut midway, "").await;

    app.stack
        .rotate_session_secret("second-session-secret-0123456789abcdef")
        .await;
    // New containers read the new secret and the previous one.
    let after = Container::of(&app.stack);

    let response = call!(
        session::handle,
        &after.session,
        signed_in,
        "session-signed-in"
    );
    assert_eq!(
        response.status(),
        200,
        "existing session survives: {}",
        body_text(&response)
    );
    let back = app.at_idp(&authorize, "usr_bob", None);
    let response = finish_login_on(&after.callback, &mut midway, &back).await;
    assert_eq!(
        response.status(),
        302,
        "in-flight login survives: {}",
        body_text(&response)
    );

    // Only one previous generation is kept: a second rotation ends sessions sealed two back.
    app.stack
        .rotate_session_secret("third-session-secret-0123456789abcdefgh")
        .await;
    let later = Container::of(&app.stack);
    let response = call!(
        session::handle,
        &later.session,
        signed_in,
        "session-signed-in"
    );
    assert_eq!(response.status(), 401, "{}", body_text(&response));
    let response = call!(session::handle, &later.session, midway, "session-signed-in");
    assert_eq!(
        response.status(),
        200,
        "sealed under the second secret: {}",
        body_text(&response)
    );
}

#[tokio::test]
async fn the_profile_pages_sign_out_form_works_as_a_browser_sends_it() {
    // Chromium posts a same-origin form from a no-referrer page with Origin: null, and applies
    // the page's CSP form-action to the redirect that follows the post.
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    let page = call!(profile::handle, &app.profile, browser, "profile-signed-in");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(&format!("form-action 'self' {}", app.stack.idp.url())),
        "{policy}"
    );

    let mut event = events::load("logout-post");
    events::set_header(&mut event, "origin", "null");
    events::set_header(&mut event, "sec-fetch-site", "same-origin");
    events::set_cookies(&mut event, &browser.cookies());
    let response = logout::handle(&app.logout, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(location(&response).starts_with(&app.stack.idp.url()));
    browser.absorb(&response);
    assert!(app.stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_rotated_client_secret_is_re_read_once_by_a_refresh_and_the_session_lives_on() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    // The refresh container reads, and caches, the secret of the day.
    let response = call!(refresh::handle, &app.refresh, browser, "refresh-signed-in");
    assert_eq!(response.status(), 204, "{}", body_text(&response));

    // Rotate: Scalekit and Secrets Manager now both hold the new secret.
    app.stack
        .rotate_client_secret("rotated-client-secret-value")
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await; // past the re-read rate limit

    let response = call!(refresh::handle, &app.refresh, browser, "refresh-signed-in");
    assert_eq!(response.status(), 204, "{}", body_text(&response));
    assert_eq!(
        app.stack.idp.requests(Endpoint::Token),
        4,
        "code exchange, first refresh, the old secret refused, the retry with the new one"
    );
    let response = call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}

#[tokio::test]
async fn the_profile_page_names_the_organization_and_shows_its_id_when_scalekit_cannot() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_carol", None).await;
    let response = call!(profile::handle, &app.profile, browser, "profile-signed-in");
    let page = body_text(&response);
    assert!(
        page.contains("id=\"organization-name\">Acme Corp<"),
        "{page}"
    );
    // A fresh container, with Scalekit's token endpoint down: the page still renders.
    let fresh = app.stack.app(profile::NEEDS);
    app.stack
        .idp
        .misbehave(Misbehaviour::TokenStatus(503, json!({})));
    let response = call!(profile::handle, &fresh, browser, "profile-signed-in");
    app.stack.idp.clear_misbehaviour();
    assert_eq!(response.status(), 200);
    let page = body_text(&response);
    assert!(page.contains("id=\"organization\">org_acme<"), "{page}");
    assert!(!page.contains("Acme Corp"));
}
