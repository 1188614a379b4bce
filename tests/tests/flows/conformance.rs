//! The OpenID Foundation's relying-party certification tests that apply to a code-flow web
//! client (Basic RP, Config RP key rotation, RP-initiated logout, third-party-initiated login,
//! refresh), run through the real login and callback handlers against the dev Scalekit server
//! with one injected misbehaviour each. Names follow the conformance suite's module ids.
//!
//! Not applicable, and why: `userinfo-invalid-sub` (Scalekit has no UserInfo endpoint; the
//! product never calls one); `client-secret-basic` (Scalekit authenticates clients with
//! `client_secret_post` only); `discovery-*` (Scalekit's endpoints are fixed paths of the
//! environment URL; the issuer is compared exactly instead). The refresh-token cases
//! (`refresh-token-invalid-issuer`, `-invalid-sub`) are in `lifecycle.rs`.

use flow_tests::browser::{body_text, location};
use flow_tests::{events, Browser};
use lambda_http::{Body, Response};
use scalekit_dev::{Endpoint, IdTokenSigning, Misbehaviour};
use serde_json::json;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE};

use crate::support::{query_of, TestApp};

fn assert_accepted(id: &str, response: &Response<Body>, browser: &Browser) {
    assert_eq!(response.status(), 302, "{id}: {}", body_text(response));
    assert_eq!(location(response), "/dashboard/profile", "{id}");
    assert!(browser.get(SESSION_COOKIE).is_some(), "{id}");
}

async fn assert_rejected(id: &str, app: &TestApp, response: &Response<Body>, browser: &Browser) {
    assert_eq!(response.status(), 502, "{id}: {}", body_text(response));
    assert!(
        body_text(response).contains("invalid_id_token"),
        "{id}: {}",
        body_text(response)
    );
    assert!(
        browser.get(SESSION_COOKIE).is_none() && browser.get(ACCESS_TOKEN_COOKIE).is_none(),
        "{id}: no cookie"
    );
    assert!(
        app.stack.session_items().await.is_empty(),
        "{id}: no session row"
    );
}

#[tokio::test]
async fn basic_rp_id_token_negative_cases_create_no_session() {
    let cases = [
        (
            "oidcc-client-test-invalid-iss",
            Misbehaviour::IdTokenClaims(json!({"iss": "https://evil.example"})),
        ),
        (
            "oidcc-client-test-missing-sub",
            Misbehaviour::IdTokenClaims(json!({"sub": null})),
        ),
        (
            "oidcc-client-test-invalid-aud",
            Misbehaviour::IdTokenClaims(json!({"aud": ["skc_someone_else"]})),
        ),
        (
            "oidcc-client-test-missing-aud",
            Misbehaviour::IdTokenClaims(json!({"aud": null})),
        ),
        (
            "oidcc-client-test-invalid-azp",
            Misbehaviour::IdTokenClaims(json!({"azp": "skc_someone_else"})),
        ),
        (
            "oidcc-client-test-missing-iat",
            Misbehaviour::IdTokenClaims(json!({"iat": null})),
        ),
        (
            "oidcc-client-test-expired-id-token",
            Misbehaviour::IdTokenClaims(json!({"exp": 1_000_000_000})),
        ),
        (
            "oidcc-client-test-missing-exp",
            Misbehaviour::IdTokenClaims(json!({"exp": null})),
        ),
        (
            "oidcc-client-test-nonce-invalid",
            Misbehaviour::IdTokenClaims(json!({"nonce": "not-the-nonce-we-sent"})),
        ),
        (
            "oidcc-client-test-missing-nonce",
            Misbehaviour::IdTokenClaims(json!({"nonce": null})),
        ),
        (
            "oidcc-client-test-invalid-sig-rs256",
            Misbehaviour::IdTokenSignature(IdTokenSigning::Bad),
        ),
        (
            "oidcc-client-test-idtoken-sig-none",
            Misbehaviour::IdTokenSignature(IdTokenSigning::None),
        ),
        (
            "oidcc-client-test-invalid-sig-hs256",
            Misbehaviour::IdTokenSignature(IdTokenSigning::Hs256WithPublicKey),
        ),
        (
            "oidcc-client-test-invalid-sig-es256",
            Misbehaviour::IdTokenHeader(json!({"alg": "ES256"})),
        ),
        (
            "rp-id_token-unpublished-key",
            Misbehaviour::IdTokenSignature(IdTokenSigning::UnpublishedKey),
        ),
    ];
    for (id, fault) in cases {
        let app = TestApp::spawn().await;
        let (response, browser) = app.login_with(Some(fault)).await;
        assert_rejected(id, &app, &response, &browser).await;
    }
}

#[tokio::test]
async fn basic_rp_positive_cases_sign_the_user_in() {
    // oidcc-client-test / rp-response_type-code, oidcc-client-test-idtoken-sig-rs256,
    // oidcc-client-test-scope-userinfo-claims: the profile claims of the requested scopes are used.
    let app = TestApp::spawn().await;
    let (response, mut browser) = app.login_with(None).await;
    assert_accepted("oidcc-client-test", &response, &browser);
    let session = crate::call!(session::handle, &app.session, browser, "session-signed-in");
    let body: serde_json::Value = serde_json::from_str(&body_text(&session)).unwrap();
    assert_eq!(
        body["user"]["email"], "bob@globex.test",
        "oidcc-client-test-scope-userinfo-claims"
    );
    assert_eq!(body["user"]["name"], "Bob Brown");
    assert_eq!(body["user"]["givenName"], "Bob");
}

#[tokio::test]
async fn an_id_token_without_kid_is_accepted_when_one_key_is_published() {
    // oidcc-client-test-kid-absent-single-jwks
    let app = TestApp::spawn().await;
    let (response, browser) = app
        .login_with(Some(Misbehaviour::IdTokenHeader(json!({"kid": null}))))
        .await;
    assert_accepted(
        "oidcc-client-test-kid-absent-single-jwks",
        &response,
        &browser,
    );
}

#[tokio::test]
async fn an_id_token_without_kid_is_rejected_when_several_keys_are_published() {
    // oidcc-client-test-kid-absent-multiple-jwks: rejecting is one of the two passing outcomes.
    let app = TestApp::spawn().await;
    app.stack.idp.rotate_signing_key();
    let (response, browser) = app
        .login_with(Some(Misbehaviour::IdTokenHeader(json!({"kid": null}))))
        .await;
    assert_rejected(
        "oidcc-client-test-kid-absent-multiple-jwks",
        &app,
        &response,
        &browser,
    )
    .await;
}

#[tokio::test]
async fn unusable_keys_in_the_key_set_are_ignored() {
    // oidcc-client-test-ignores-unparseable-key-in-jwks (RFC 7517 §5)
    let app = TestApp::spawn().await;
    for jwk in [
        json!({"kty": "EC", "crv": "P-256", "kid": "ec-1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}),
        json!({"kty": "RSA", "kid": "enc-1", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "AKP", "kid": "pq-1", "alg": "ML-DSA-65", "pub": "not-base64!"}),
        json!({"kid": "broken"}),
    ] {
        app.stack.idp.publish_extra_jwk(jwk);
    }
    let (response, browser) = app.login_with(None).await;
    assert_accepted(
        "oidcc-client-test-ignores-unparseable-key-in-jwks",
        &response,
        &browser,
    );
}

#[tokio::test]
async fn signing_keys_rotated_between_logins_are_refetched() {
    // oidcc-client-test-signing-key-rotation / rp-key-rotation-op-sign-key
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_bob", None).await;
    app.stack.idp.rotate_signing_key();
    app.stack.idp.retire_old_keys();
    let response = app.sign_in(&mut browser, "usr_bob", None).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert_eq!(
        app.stack.idp.requests(Endpoint::Keys),
        2,
        "one fetch, one refetch for the new kid"
    );
}

#[tokio::test]
async fn signing_keys_rotated_just_before_signing_are_refetched_within_the_flow() {
    // oidcc-client-test-signing-key-rotation-just-before-signing / rp-key-rotation-op-sign-key-native
    let app = TestApp::spawn().await;
    let (warm, _) = app.login_with(None).await; // keys now cached
    assert_eq!(warm.status(), 302);
    let mut browser = Browser::new();
    let authorize = app.start_login(&mut browser, "").await;
    let back = app.at_idp(&authorize, "usr_bob", None);
    // The ID token of this very flow is signed with the new key.
    app.stack.idp.rotate_signing_key();
    let response = app.finish_login(&mut browser, &back).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
}

#[tokio::test]
async fn third_party_initiated_login_starts_a_fresh_login_and_ignores_its_target() {
    // oidcc-client-3rd-party-init-login: Scalekit's Initiate Login URL (invitations, bookmarks,
    // IdP-initiated SSO) is /api/login; iss and target_link_uri never steer the redirect.
    let app = TestApp::spawn().await;
    let mut event = events::load("login-plain");
    let query = format!(
        "iss={}&login_hint=alice%40acme.test&target_link_uri=https%3A%2F%2Fevil.example%2F",
        url::form_urlencoded::byte_serialize(app.stack.idp.url().as_bytes()).collect::<String>()
    );
    events::set_query(&mut event, &query);
    let response = login::handle(&app.login, events::to_request(&event)).await;
    assert_eq!(response.status(), 302);
    let authorize = location(&response);
    assert!(authorize.starts_with(&app.stack.idp.url()), "{authorize}");
    let params = query_of(&authorize);
    assert_eq!(params["login_hint"], "alice@acme.test");
    assert!(!authorize.contains("evil.example"), "{authorize}");
}

#[tokio::test]
async fn rp_initiated_logout_reaches_the_end_session_endpoint_and_any_returned_state_is_harmless() {
    // oidcc-client-test-rp-init-logout, -no-state, -other-state
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let response = crate::call!(logout::handle, &app.logout, browser, "logout-with-session");
    let end_session = location(&response);
    assert!(
        end_session.starts_with(&format!("{}/oidc/logout?", app.stack.idp.url())),
        "{end_session}"
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http.get(&end_session).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    assert_eq!(app.stack.idp.requests(Endpoint::Logout), 1);

    // The post-logout landing works with no state and with a state we never sent.
    for query in ["", "state=attacker-chosen"] {
        let mut event = events::load("profile-signed-out");
        events::set_query(&mut event, query);
        let response = profile::handle(&app.profile, events::to_request(&event)).await;
        assert_eq!(response.status(), 302, "{query}");
        assert_eq!(location(&response), profile::LOGIN_REDIRECT);
    }
}
