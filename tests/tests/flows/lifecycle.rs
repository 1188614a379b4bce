use flow_tests::browser::{body_text, location, set_cookie_for};
use flow_tests::{Browser, Stack};
use scalekit_dev::{Endpoint, Misbehaviour};
use serde_json::{json, Value};
use shared::scalekit::unix_now;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE};
use shared::App;

use crate::call;
use crate::support::signed_in;

struct Apps {
    login: App,
    callback: App,
    session: App,
    refresh: App,
    logout: App,
    profile: App,
}

fn apps(stack: &Stack) -> Apps {
    Apps {
        login: stack.app(login::NEEDS),
        callback: stack.app(callback::NEEDS),
        session: stack.app(session::NEEDS),
        refresh: stack.app(refresh::NEEDS),
        logout: stack.app(logout::NEEDS),
        profile: stack.app(profile::NEEDS),
    }
}

/// Signs in, with Scalekit issuing an access token that has already expired, so the next
/// session check has to refresh.
async fn signed_in_with_expired_access_token(stack: &Stack, apps: &Apps, user: &str) -> Browser {
    stack.idp.misbehave(Misbehaviour::AccessTokenClaims(
        json!({"exp": unix_now() - 120, "iat": unix_now() - 420}),
    ));
    let browser = signed_in_browser(stack, apps, user, None).await;
    stack.idp.clear_misbehaviour();
    assert!(browser.get(ACCESS_TOKEN_COOKIE).is_some());
    browser
}

async fn signed_in_browser(stack: &Stack, apps: &Apps, user: &str, org: Option<&str>) -> Browser {
    let mut browser = Browser::new();
    signed_in(stack, &apps.login, &apps.callback, &mut browser, user, org).await;
    browser
}

fn json_body(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_str(&body_text(response)).expect("JSON body")
}

#[tokio::test]
async fn the_session_endpoint_describes_the_user_without_calling_scalekit() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_alice", Some("org_acme")).await;
    call!(session::handle, &apps.session, browser, "session-signed-in"); // warms the key cache
    let calls = (
        stack.idp.requests(Endpoint::Token),
        stack.idp.requests(Endpoint::Keys),
    );

    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
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
            stack.idp.requests(Endpoint::Token),
            stack.idp.requests(Endpoint::Keys)
        ),
        calls
    );
}

#[tokio::test]
async fn without_a_session_the_api_answers_401_and_the_profile_redirects_to_login() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = Browser::new();
    let response = call!(
        session::handle,
        &apps.session,
        browser,
        "session-signed-out"
    );
    assert_eq!(response.status(), 401);
    assert_eq!(json_body(&response), json!({"error": "unauthenticated"}));

    let response = call!(
        profile::handle,
        &apps.profile,
        browser,
        "profile-signed-out"
    );
    assert_eq!(response.status(), 302);
    assert_eq!(
        location(&response),
        "/api/login?return_to=/dashboard/profile"
    );
}

#[tokio::test]
async fn the_profile_page_shows_the_user_escaped_with_a_sign_out_button() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;
    let response = call!(profile::handle, &apps.profile, browser, "profile-signed-in");
    assert_eq!(response.status(), 200);
    let page = body_text(&response);
    for expected in [
        "Bob",
        "bob@globex.test",
        "org_globex",
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
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_with_expired_access_token(&stack, &apps, "usr_carol").await;
    let old_access = browser.get(ACCESS_TOKEN_COOKIE).map(str::to_owned);
    let version = |items: &Vec<
        std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    >| items[0]["version"].as_n().unwrap().clone();
    assert_eq!(version(&stack.session_items().await), "1");

    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let new_access =
        set_cookie_for(&response, ACCESS_TOKEN_COOKIE).expect("a new accessToken cookie");
    assert!(new_access.contains("HttpOnly") && new_access.contains("Secure"));
    assert_ne!(
        browser.get(ACCESS_TOKEN_COOKIE).map(str::to_owned),
        old_access
    );
    assert_eq!(
        stack.idp.requests(Endpoint::Token),
        2,
        "code exchange + one refresh"
    );
    assert_eq!(version(&stack.session_items().await), "2");
}

#[tokio::test]
async fn a_revoked_refresh_token_ends_the_session_cleanly() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_with_expired_access_token(&stack, &apps, "usr_bob").await;
    stack.idp.revoke_refresh_tokens("usr_bob");

    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401);
    let cleared = set_cookie_for(&response, SESSION_COOKIE).expect("session cookie cleared");
    assert!(cleared.contains("Max-Age=0"));
    assert!(set_cookie_for(&response, ACCESS_TOKEN_COOKIE)
        .unwrap()
        .contains("Max-Age=0"));
    assert!(stack.session_items().await.is_empty(), "record deleted");
}

#[tokio::test]
async fn a_scalekit_outage_during_refresh_keeps_the_session() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_with_expired_access_token(&stack, &apps, "usr_bob").await;
    stack
        .idp
        .misbehave(Misbehaviour::TokenStatus(503, json!("maintenance")));
    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 502);
    assert!(
        set_cookie_for(&response, SESSION_COOKIE).is_none(),
        "cookies kept"
    );
    stack.idp.clear_misbehaviour();
    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}

#[tokio::test]
async fn a_refreshed_id_token_for_another_user_or_issuer_is_rejected() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    for claims in [
        json!({"sub": "usr_mallory"}),
        json!({"iss": "https://evil.example"}),
    ] {
        let mut browser = signed_in_with_expired_access_token(&stack, &apps, "usr_bob").await;
        stack
            .idp
            .misbehave(Misbehaviour::IdTokenClaims(claims.clone()));
        let response = call!(session::handle, &apps.session, browser, "session-signed-in");
        stack.idp.clear_misbehaviour();
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
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;

    let response = call!(
        refresh::handle,
        &apps.refresh,
        browser,
        "refresh-cross-site"
    );
    assert_eq!(response.status(), 403);
    assert_eq!(
        stack.idp.requests(Endpoint::Token),
        1,
        "no refresh for a cross-site POST"
    );

    let response = call!(refresh::handle, &apps.refresh, browser, "refresh-signed-in");
    assert_eq!(response.status(), 204, "{}", body_text(&response));
    assert!(set_cookie_for(&response, ACCESS_TOKEN_COOKIE).is_some());
    assert_eq!(stack.idp.requests(Endpoint::Token), 2);

    let mut stranger = Browser::new();
    let response = call!(
        refresh::handle,
        &apps.refresh,
        stranger,
        "refresh-signed-in"
    );
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn logout_ends_the_session_everywhere_and_the_old_cookies_open_nothing() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_alice", Some("org_acme")).await;
    let old_cookies = browser.clone();

    let response = call!(logout::handle, &apps.logout, browser, "logout-with-session");
    assert_eq!(response.status(), 302);
    let target = location(&response);
    assert!(
        target.starts_with(&format!(
            "{}/oidc/logout?id_token_hint=eyJ",
            stack.idp.url()
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
        stack.session_items().await.is_empty(),
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
    let response = call!(session::handle, &apps.session, replay, "session-signed-in");
    assert_eq!(response.status(), 401);
    let response = call!(profile::handle, &apps.profile, replay, "profile-signed-in");
    assert_eq!(response.status(), 302);
}

#[tokio::test]
async fn logout_without_a_session_still_clears_and_redirects() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = Browser::new();
    let response = call!(
        logout::handle,
        &apps.logout,
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
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;
    let response = call!(logout::handle, &apps.logout, browser, "logout-cross-site");
    assert_eq!(response.status(), 403);
    assert_eq!(stack.session_items().await.len(), 1);
    let response = call!(logout::handle, &apps.logout, browser, "logout-post");
    assert_eq!(response.status(), 302);
    assert!(stack.session_items().await.is_empty());
}

#[tokio::test]
async fn sessions_past_their_absolute_lifetime_or_idle_timeout_are_ended_in_code() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let now = unix_now();

    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;
    stack.edit_sessions(|r| r.expires_at = now - 1).await;
    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401, "absolute lifetime");
    assert!(stack.session_items().await.is_empty());

    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;
    let idle = apps.session.idle_timeout_secs();
    stack
        .edit_sessions(|r| r.last_seen_at = now - idle - 1)
        .await;
    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 401, "idle timeout");
    assert!(stack.session_items().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_session_all_end_signed_in_with_one_refresh_token_stored() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    // Two Lambda containers of each function: separate caches, separate connection pools.
    let containers = [
        stack.app(session::NEEDS),
        stack.app(session::NEEDS),
        stack.app(refresh::NEEDS),
    ];
    for round in 0..5 {
        let mut browser = signed_in_with_expired_access_token(&stack, &apps, "usr_carol").await;
        let session_request = |b: &Browser| crate::support::request_from(b, "session-signed-in");
        let refresh_request = |b: &Browser| crate::support::request_from(b, "refresh-signed-in");
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
        call!(logout::handle, &apps.logout, browser, "logout-with-session");
    }
}

#[tokio::test]
async fn rotating_the_session_secret_logs_nobody_out() {
    let stack = Stack::start().await;
    let before = apps(&stack);
    let mut signed_in = signed_in_browser(&stack, &before, "usr_alice", Some("org_acme")).await;
    // A login started before the rotation and finished after it.
    let mut midway = Browser::new();
    let authorize = crate::support::start_login(&before.login, &mut midway, "").await;

    let rotate = |value: String| {
        let secrets = stack.secrets.clone();
        let arn = stack.env["SESSION_SECRET_ARN"].clone();
        async move {
            secrets
                .put_secret_value()
                .secret_id(arn)
                .secret_string(value)
                .send()
                .await
                .expect("rotate");
        }
    };
    rotate(format!(
        r#"{{"session_secret":"{}"}}"#,
        "second-session-secret-0123456789abcdef"
    ))
    .await;
    let after = apps(&stack); // new containers read the new secret and the previous one

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
    let back = stack.sign_in_at_idp(&authorize, "usr_bob", None).await;
    let response = crate::support::finish_login(&after.callback, &mut midway, &back).await;
    assert_eq!(
        response.status(),
        302,
        "in-flight login survives: {}",
        body_text(&response)
    );

    // Only one previous generation is kept: a second rotation ends sessions sealed two back.
    rotate(format!(
        r#"{{"session_secret":"{}"}}"#,
        "third-session-secret-0123456789abcdefgh"
    ))
    .await;
    let later = apps(&stack);
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
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;
    let page = call!(profile::handle, &apps.profile, browser, "profile-signed-in");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(&format!("form-action 'self' {}", stack.idp.url())),
        "{policy}"
    );

    let mut event = flow_tests::events::load("logout-post");
    flow_tests::events::set_header(&mut event, "origin", "null");
    flow_tests::events::set_header(&mut event, "sec-fetch-site", "same-origin");
    flow_tests::events::set_cookies(&mut event, &browser.cookies());
    let response = logout::handle(&apps.logout, flow_tests::events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(location(&response).starts_with(&stack.idp.url()));
    browser.absorb(&response);
    assert!(stack.session_items().await.is_empty());
}

#[tokio::test]
async fn a_rotated_client_secret_is_re_read_once_by_a_refresh_and_the_session_lives_on() {
    let stack = Stack::start().await;
    let apps = apps(&stack);
    let mut browser = signed_in_browser(&stack, &apps, "usr_bob", None).await;
    // The refresh container reads, and caches, the secret of the day.
    let response = call!(refresh::handle, &apps.refresh, browser, "refresh-signed-in");
    assert_eq!(response.status(), 204, "{}", body_text(&response));

    // Rotate: Scalekit and Secrets Manager now both hold the new secret.
    stack
        .rotate_client_secret("rotated-client-secret-value")
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await; // past the re-read rate limit

    let response = call!(refresh::handle, &apps.refresh, browser, "refresh-signed-in");
    assert_eq!(response.status(), 204, "{}", body_text(&response));
    assert_eq!(
        stack.idp.requests(Endpoint::Token),
        4,
        "code exchange, first refresh, the old secret refused, the retry with the new one"
    );
    let response = call!(session::handle, &apps.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}
