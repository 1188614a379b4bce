use flow_tests::browser::{body_text, location, set_cookies};
use flow_tests::stack::FlakyProxy;
use flow_tests::{events, Browser};
use scalekit_dev::Endpoint;
use shared::session::cookies::{SESSION_COOKIE, TRANSACTION_COOKIE_PREFIX};

use crate::support::{query_of, TestApp};

#[tokio::test]
async fn login_redirects_to_scalekit_with_state_nonce_pkce_and_a_sealed_transaction_cookie() {
    // GIVEN a fresh app, WHEN the sample plain-login event arrives
    let app = TestApp::spawn().await;
    let response = login::handle(&app.login, events::request("login-plain")).await;

    // THEN it redirects to the authorization endpoint with every protocol parameter
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let url = location(&response);
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", app.stack.idp.url())),
        "{url}"
    );
    let query = query_of(&url);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], app.stack.idp.client_id());
    assert_eq!(
        query["redirect_uri"],
        "https://abc123def4.execute-api.us-east-1.amazonaws.com/api/callback"
    );
    assert_eq!(query["scope"], "openid profile email offline_access");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);
    for absent in ["organization_id", "connection_id", "prompt", "login_hint"] {
        assert!(
            !query.contains_key(absent),
            "{absent} sent without being asked for"
        );
    }

    // AND the transaction travels in one sealed, protected cookie
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with(TRANSACTION_COOKIE_PREFIX), "{cookie}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Max-Age=600",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains(&query["state"]) && !cookie.contains(&query["nonce"]),
        "transaction must be sealed"
    );
    assert_eq!(app.stack.idp.requests(Endpoint::Token), 0);
}

#[tokio::test]
async fn organization_connection_and_hints_are_forwarded_to_scalekit() {
    let app = TestApp::spawn().await;

    let with_org =
        location(&login::handle(&app.login, events::request("login-with-organization")).await);
    let query = query_of(&with_org);
    assert_eq!(query["organization_id"], "org_acme");
    assert_eq!(query["prompt"], "select_account");

    let with_conn =
        location(&login::handle(&app.login, events::request("login-with-connection")).await);
    let query = query_of(&with_conn);
    assert_eq!(query["connection_id"], "conn_acme_okta");
    assert_eq!(query["login_hint"], "alice@acme.test");

    let mut browser = Browser::new();
    let url = app
        .start_login(&mut browser, "domain_hint=acme.test&provider=google")
        .await;
    let query = query_of(&url);
    assert_eq!(query["domain_hint"], "acme.test");
    assert_eq!(query["domain"], "acme.test");
    assert_eq!(query["provider"], "google");
}

#[tokio::test]
async fn an_unsafe_return_to_is_refused_and_sets_nothing() {
    let app = TestApp::spawn().await;
    let response = login::handle(&app.login, events::request("login-bad-return-to")).await;
    assert_eq!(response.status(), 400);
    assert!(set_cookies(&response).is_empty());
    let page = body_text(&response);
    assert!(page.contains("invalid_return_to"), "{page}");
    assert!(
        !page.contains("evil.example"),
        "input must not be reflected: {page}"
    );
}

#[tokio::test]
async fn a_forged_idp_initiated_token_is_ignored_and_a_plain_login_starts() {
    let app = TestApp::spawn().await;
    let response = login::handle(&app.login, events::request("login-idp-initiated")).await;
    assert_eq!(response.status(), 302);
    let query = query_of(&location(&response));
    assert!(!query.contains_key("organization_id") && !query.contains_key("connection_id"));
    assert!(
        !query.values().any(|v| v == "/reports"),
        "relay_state must not be forwarded"
    );
}

#[tokio::test]
async fn a_verified_idp_initiated_login_becomes_a_fresh_sp_initiated_login() {
    let app = TestApp::spawn().await;
    let token = app.stack.idp.mint_idp_initiated_login(
        Some("org_acme"),
        Some("conn_dev_org_acme"),
        Some("alice@acme.test"),
        Some("/reports"),
    );

    let mut browser = Browser::new();
    let authorize = app
        .start_login(&mut browser, &format!("idp_initiated_login={token}"))
        .await;
    let query = query_of(&authorize);
    assert_eq!(query["organization_id"], "org_acme");
    assert_eq!(query["connection_id"], "conn_dev_org_acme");
    assert_eq!(query["login_hint"], "alice@acme.test");
    assert_ne!(
        query["state"], "/reports",
        "relay_state is never the OAuth state"
    );

    // relay_state, a safe path, is where the user lands.
    let back = app.at_idp(&authorize, "usr_alice", Some("org_acme"));
    let response = app.finish_login(&mut browser, &back).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert_eq!(location(&response), "/reports");
}

#[tokio::test]
async fn a_warm_login_makes_no_network_call() {
    let mut app = TestApp::spawn().await;
    let proxy = FlakyProxy::start(&app.stack.moto_url()).await;
    app.login = app.stack.app_via(login::NEEDS, &proxy.url);
    let mut browser = Browser::new();
    app.start_login(&mut browser, "").await; // cold: reads the session secret

    proxy.set_up(false); // AWS unreachable from now on
    let idp_calls =
        app.stack.idp.requests(Endpoint::Keys) + app.stack.idp.requests(Endpoint::Token);
    let response = login::handle(&app.login, events::request("login-with-organization")).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert_eq!(
        app.stack.idp.requests(Endpoint::Keys) + app.stack.idp.requests(Endpoint::Token),
        idp_calls
    );
}

#[tokio::test]
async fn two_tabs_can_log_in_at_the_same_time() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();

    let first = app.start_login(&mut browser, "return_to=/first").await;
    let second = app.start_login(&mut browser, "return_to=/second").await;
    let transactions = browser
        .names()
        .into_iter()
        .filter(|n| n.starts_with(TRANSACTION_COOKIE_PREFIX))
        .count();
    assert_eq!(transactions, 2, "one cookie per transaction");

    // Finish them in the opposite order.
    let back_second = app.at_idp(&second, "usr_bob", None);
    let back_first = app.at_idp(&first, "usr_carol", None);
    let done_second = app.finish_login(&mut browser, &back_second).await;
    assert_eq!(location(&done_second), "/second");
    let done_first = app.finish_login(&mut browser, &back_first).await;
    assert_eq!(location(&done_first), "/first");
    assert!(
        browser
            .names()
            .iter()
            .all(|n| !n.starts_with(TRANSACTION_COOKIE_PREFIX)),
        "transactions are cleared"
    );
}

#[tokio::test]
async fn an_error_sent_to_the_initiate_login_url_is_reported_like_the_callbacks() {
    let app = TestApp::spawn().await;
    for (query, code) in [
        (
            "error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "access_denied",
        ),
        ("error=%3Cb%3Emade_up%3C%2Fb%3E", "idp_error"),
    ] {
        let mut event = events::load("login-plain");
        events::set_query(&mut event, query);
        let response = login::handle(&app.login, events::to_request(&event)).await;
        assert_eq!(response.status(), 401, "{query}");
        let page = body_text(&response);
        assert!(page.contains(code), "{query}: {page}");
        assert!(
            !page.contains("<script>") && !page.contains("<b>"),
            "{page}"
        );
        assert!(set_cookies(&response).is_empty(), "no login starts");
    }
}

#[tokio::test]
async fn a_cross_site_login_link_asks_before_replacing_a_signed_in_session() {
    // GIVEN bob signed in, WHEN another site sends his browser to /api/login?connection_id=...
    // (an IdP that signs in without a prompt would otherwise swap his session for another account)
    let app = TestApp::spawn().await;
    let browser = app.signed_in("usr_bob", None).await;
    let session = browser.get(SESSION_COOKIE).map(str::to_owned);
    let mut event = events::load("login-cross-site-signed-in");
    events::set_cookies(&mut event, &browser.cookies());
    let response = login::handle(&app.login, events::to_request(&event)).await;

    // THEN nothing starts: a page asks, its form repeats the login on this site, and bob's
    // session is untouched
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert!(
        set_cookies(&response).is_empty(),
        "{:?}",
        set_cookies(&response)
    );
    let page = body_text(&response);
    assert!(
        page.contains(r#"<form method="get" action="/api/login">"#),
        "{page}"
    );
    assert!(
        page.contains(r#"name="connection_id" value="conn_acme_okta""#),
        "{page}"
    );
    assert!(
        page.contains(r#"name="login_hint" value="alice@acme.test""#),
        "{page}"
    );
    assert_eq!(
        app.stack.idp.requests(Endpoint::Token),
        1,
        "only bob's own sign-in"
    );
    assert_eq!(browser.get(SESSION_COOKIE).map(str::to_owned), session);

    // WHEN he confirms (the form is same-origin), THEN the login starts
    events::set_header(&mut event, "sec-fetch-site", "same-origin");
    let response = login::handle(&app.login, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(query_of(&location(&response)).contains_key("state"));
}

#[tokio::test]
async fn a_cross_site_login_link_without_a_session_starts_at_once() {
    // Invitations and IdP-initiated SSO arrive from other sites: a browser with no session
    // has nothing to lose and is not asked.
    let app = TestApp::spawn().await;
    let mut event = events::load("login-cross-site-signed-in");
    events::set_cookies(&mut event, &[]);
    let response = login::handle(&app.login, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(set_cookies(&response)
        .iter()
        .any(|c| c.starts_with(TRANSACTION_COOKIE_PREFIX)));
}
