//! The authorizer in front of a team's own routes, through the local gateway exactly as API
//! Gateway puts it there (template.yaml's routes and `Auth.Authorizers`): browser sessions,
//! Bearer tokens, the route policy, revocation, refresh, failures and hostile input.

use flow_tests::stack::{FlakyProxy, ThrottlingProxy};
use flow_tests::Browser;
use scalekit_dev::{Endpoint, Misbehaviour};
use serde_json::{json, Value};
use shared::scalekit::unix_now;
use shared::session::cookies::ACCESS_TOKEN_COOKIE;

use crate::call;
use crate::support::{get, get_with, Container, TestApp};

/// A valid access token's claims for `user`, shaped like Scalekit's; a test changes one.
fn access_claims(app: &TestApp, user: &str, roles: &[&str]) -> Value {
    let now = unix_now();
    json!({
        "iss": app.stack.idp.url(),
        "aud": [app.stack.idp.client_id()],
        "client_id": app.stack.idp.client_id(),
        "sub": user,
        "oid": "org_acme",
        "sid": "ses_bearer",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "tkn_bearer",
        "roles": roles,
        "permissions": ["organization:read"],
        "scope": "openid profile email offline_access",
    })
}

fn sign(app: &TestApp, claims: Value) -> String {
    let header = json!({"alg": "RS256", "kid": app.stack.idp.current_kid(), "typ": "JWT"});
    app.stack.idp.sign_jwt(header, claims)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn an_admin_and_a_member_see_what_their_roles_allow() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let mut carol = app.signed_in("usr_carol", None).await;

    let (status, me) = get(&app, &mut alice, "/api/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userId"], "usr_alice");
    assert_eq!(me["organizationId"], "org_acme");
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["email"], "alice@acme.test");
    assert_eq!(me["via"], "session");
    let (status, admin) = get(&app, &mut alice, "/api/admin").await;
    assert_eq!(status, 200, "{admin}");
    assert_eq!(admin["caller"]["userId"], "usr_alice");

    let (status, me) = get(&app, &mut carol, "/api/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userId"], "usr_carol");
    assert_eq!(me["roles"], json!(["member"]));
    // The refusal is API Gateway's own (the route policy), not the backend's defence in depth.
    let (status, refused) = get(&app, &mut carol, "/api/admin").await;
    assert_eq!((status, refused), (403, json!({"message": "Forbidden"})));
}

#[tokio::test]
async fn the_backend_receives_who_is_calling_and_never_a_cookie_token_or_session_id() {
    let app = TestApp::spawn().await;
    let browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let event = flow_tests::events::load("authorizer-session");
    let mut event = event;
    flow_tests::events::set_cookies(&mut event, &browser.cookies());
    let decision = authorizer::handle(
        &app.authorizer,
        serde_json::from_value(event).expect("an authorizer event"),
    )
    .await
    .expect("decided");
    assert!(decision.is_authorized);
    let context = serde_json::to_value(&decision.context).unwrap();
    let mut keys: Vec<&str> = context
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "email",
            "organizationId",
            "permissions",
            "roles",
            "userId",
            "via"
        ]
    );
    assert_eq!(context["roles"], "admin");
    assert_eq!(
        context["permissions"],
        "organization:read,organization:write"
    );
    let dump = context.to_string();
    for cookie in browser.cookies() {
        let value = cookie.split_once('=').unwrap().1;
        assert!(!dump.contains(value), "a cookie value reached the context");
    }
}

#[tokio::test]
async fn without_credentials_the_authorizer_says_no() {
    let app = TestApp::spawn().await;
    let mut stranger = Browser::new();
    for path in ["/api/me", "/api/admin"] {
        let (status, body) = get(&app, &mut stranger, path).await;
        assert_eq!((status, body), (403, json!({"message": "Forbidden"})));
    }
    // A session cookie that names no session is no better.
    stranger.set("__Host-sk_session", "forged-session-id");
    assert_eq!(get(&app, &mut stranger, "/api/me").await.0, 403);
}

#[tokio::test]
async fn a_logout_revokes_access_at_once_even_for_a_replayed_cookie() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let copied = browser.clone();
    assert_eq!(get(&app, &mut browser, "/api/me").await.0, 200);

    let response = call!(logout::handle, &app.logout, browser, "logout-post");
    assert_eq!(response.status(), 302);

    let mut replayed = copied;
    assert_eq!(get(&app, &mut replayed, "/api/me").await.0, 403);
    assert_eq!(get(&app, &mut browser, "/api/me").await.0, 403);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_through_the_authorizer_and_stored_in_the_record() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in_with_expired_access_token("usr_bob").await;
    let stale_cookie = browser.get(ACCESS_TOKEN_COOKIE).unwrap().to_owned();
    let version = app.stack.sessions().await[0].version;
    let tokens = app.stack.idp.requests(Endpoint::Token);

    let (status, me) = get(&app, &mut browser, "/api/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(app.stack.idp.requests(Endpoint::Token), tokens + 1);
    let record = app.stack.sessions().await.remove(0);
    assert_eq!(record.version, version + 1, "the rotation is stored");
    assert_ne!(record.access_token.secret(), stale_cookie);
    // An authorizer cannot set cookies: the browser keeps its stale one, which is not trusted...
    assert_eq!(
        browser.get(ACCESS_TOKEN_COOKIE),
        Some(stale_cookie.as_str())
    );
    // ...and the next request uses the record's fresh token without refreshing again.
    assert_eq!(get(&app, &mut browser, "/api/me").await.0, 200);
    assert_eq!(app.stack.idp.requests(Endpoint::Token), tokens + 1);
}

#[tokio::test]
async fn a_warm_session_decision_reads_the_session_once_and_calls_nothing_else() {
    let app = TestApp::spawn().await;
    let proxy = ThrottlingProxy::start(&app.stack.moto_url(), 0).await;
    let mut containers = Container::of(&app.stack);
    containers.authorizer = app.stack.app_via(authorizer::NEEDS, &proxy.url);
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    assert_eq!(get(&containers, &mut browser, "/api/me").await.0, 200); // warms keys and secrets
    let (dynamodb, keys, tokens) = (
        proxy.dynamodb_requests(),
        app.stack.idp.requests(Endpoint::Keys),
        app.stack.idp.requests(Endpoint::Token),
    );

    for _ in 0..5 {
        assert_eq!(get(&containers, &mut browser, "/api/me").await.0, 200);
    }
    assert_eq!(proxy.dynamodb_requests(), dynamodb + 5, "one GetItem each");
    assert_eq!(app.stack.idp.requests(Endpoint::Keys), keys);
    assert_eq!(app.stack.idp.requests(Endpoint::Token), tokens);
}

#[tokio::test]
async fn a_valid_bearer_token_is_verified_locally_with_no_network_call() {
    let app = TestApp::spawn().await;
    let proxy = ThrottlingProxy::start(&app.stack.moto_url(), 0).await;
    let mut containers = Container::of(&app.stack);
    containers.authorizer = app.stack.app_via(authorizer::NEEDS, &proxy.url);
    let token = sign(&app, access_claims(&app, "usr_carol", &["member"]));
    let mut client = Browser::new();
    let header = bearer(&token);
    let headers = [("authorization", header.as_str())];
    assert_eq!(
        get_with(&containers, &mut client, "/api/me", &headers)
            .await
            .0,
        200
    );
    let (dynamodb, keys) = (
        proxy.dynamodb_requests(),
        app.stack.idp.requests(Endpoint::Keys),
    );

    let (status, me) = get_with(&containers, &mut client, "/api/me", &headers).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userId"], "usr_carol");
    assert_eq!(me["via"], "bearer");
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(
        get_with(&containers, &mut client, "/api/admin", &headers)
            .await
            .0,
        403
    );
    assert_eq!(proxy.dynamodb_requests(), dynamodb, "no session read");
    assert_eq!(app.stack.idp.requests(Endpoint::Keys), keys, "cached keys");

    // The scopes array of machine tokens is read as well as the scope string.
    let mut claims = access_claims(&app, "usr_alice", &["admin"]);
    claims.as_object_mut().unwrap().remove("scope");
    claims["scopes"] = json!(["reports:read"]);
    let header = bearer(&sign(&app, claims));
    let (status, admin) = get_with(
        &containers,
        &mut client,
        "/api/admin",
        &[("authorization", &header)],
    )
    .await;
    assert_eq!(status, 200, "{admin}");
}

#[tokio::test]
async fn a_real_access_token_from_a_sign_in_works_as_a_bearer_token() {
    let app = TestApp::spawn().await;
    let _browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let token = app.stack.sessions().await[0]
        .access_token
        .secret()
        .to_owned();
    let header = bearer(&token);
    let (status, me) = get_with(
        &app,
        &mut Browser::new(),
        "/api/admin",
        &[("authorization", &header)],
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["caller"]["via"], "bearer");
}

#[tokio::test]
async fn bearer_tokens_that_fail_any_check_are_refused() {
    let app = TestApp::spawn().await;
    let good = access_claims(&app, "usr_alice", &["admin"]);
    let baseline = bearer(&sign(&app, good.clone()));
    let mut client = Browser::new();
    assert_eq!(
        get_with(
            &app,
            &mut client,
            "/api/me",
            &[("authorization", &baseline)]
        )
        .await
        .0,
        200,
        "the baseline token is accepted"
    );
    let now = unix_now();
    let patched = |name: &str, value: Value| {
        let mut claims = good.clone();
        claims[name] = value;
        claims
    };
    let unknown_kid = app.stack.idp.sign_jwt(
        json!({"alg": "RS256", "kid": "snk_unpublished", "typ": "JWT"}),
        good.clone(),
    );
    let cases: Vec<(&str, String)> = vec![
        ("expired", sign(&app, patched("exp", json!(now - 600)))),
        (
            "not yet valid",
            sign(&app, patched("nbf", json!(now + 600))),
        ),
        (
            "another audience",
            sign(&app, patched("aud", json!(["skc_other"]))),
        ),
        (
            "another issuer",
            sign(&app, patched("iss", json!("https://evil.example"))),
        ),
        ("an unknown key", unknown_kid),
        (
            "unsigned",
            scalekit_dev::DevScalekit::unsigned_jwt(good.clone()),
        ),
        ("garbage", "not-a-jwt".to_owned()),
        ("an ID token", {
            let mut id = good.clone();
            id["nonce"] = json!("n");
            sign(&app, id)
        }),
    ];
    for (what, token) in cases {
        let header = bearer(&token);
        let (status, body) =
            get_with(&app, &mut client, "/api/me", &[("authorization", &header)]).await;
        assert_eq!(
            (status, body),
            (403, json!({"message": "Forbidden"})),
            "{what}"
        );
    }
}

#[tokio::test]
async fn an_invalid_bearer_token_is_not_rescued_by_a_valid_session_cookie() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    assert_eq!(get(&app, &mut browser, "/api/me").await.0, 200);
    let (status, _) = get_with(
        &app,
        &mut browser,
        "/api/me",
        &[("authorization", "Bearer not-a-jwt")],
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_dependency_failure_is_an_authorizer_error_not_a_refusal_and_recovers() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let proxy = FlakyProxy::start(&app.stack.moto_url()).await;
    let mut containers = Container::of(&app.stack);
    containers.authorizer = app.stack.app_via(authorizer::NEEDS, &proxy.url);
    assert_eq!(get(&containers, &mut browser, "/api/me").await.0, 200);

    proxy.set_up(false);
    let (status, body) = get(&containers, &mut browser, "/api/me").await;
    assert_eq!(
        (status, body),
        (500, json!({"message": "Internal Server Error"}))
    );
    proxy.set_up(true);
    assert_eq!(get(&containers, &mut browser, "/api/me").await.0, 200);

    // Signing keys unavailable with none cached: the same, for a Bearer token.
    let fresh = Container::of(&app.stack);
    app.stack.idp.misbehave(Misbehaviour::KeysDown);
    let header = bearer(&sign(&app, access_claims(&app, "usr_alice", &["admin"])));
    let (status, _) = get_with(
        &fresh,
        &mut Browser::new(),
        "/api/me",
        &[("authorization", &header)],
    )
    .await;
    assert_eq!(status, 500);
}

/// A Rust function of a team's own, guarded in one line by `shared::access::require`.
async fn admin_only(
    app: &shared::App,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    use shared::access::{require, Require};
    match require(app, &req, &Require::role("admin")).await {
        Ok(identity) => {
            let body = json!({"userId": identity.access().subject, "via": identity.via().as_str()});
            let mut response = shared::http::json(lambda_http::http::StatusCode::OK, &body);
            identity.apply_cookies(&mut response);
            response
        }
        Err(refusal) => refusal,
    }
}

#[tokio::test]
async fn the_rust_guard_gives_the_same_answers_as_the_authorizer_with_stable_codes() {
    use flow_tests::browser::body_text;
    use flow_tests::events;

    let app = TestApp::spawn().await;
    let guarded = |browser: &Browser, authorization: Option<&str>| {
        let mut event = events::load("session-signed-in");
        events::set_cookies(&mut event, &browser.cookies());
        if let Some(value) = authorization {
            events::set_header(&mut event, "authorization", value);
        }
        events::to_request(&event)
    };
    let alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let carol = app.signed_in("usr_carol", None).await;

    let response = admin_only(&app.session, guarded(&alice, None)).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let response = admin_only(&app.session, guarded(&carol, None)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body_text(&response)).unwrap()["error"],
        "forbidden"
    );
    let response = admin_only(&app.session, guarded(&Browser::new(), None)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body_text(&response)).unwrap()["error"],
        "unauthenticated"
    );
    let response = admin_only(&app.session, guarded(&Browser::new(), Some("Bearer nope"))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let token = sign(&app, access_claims(&app, "usr_alice", &["admin"]));
    let response = admin_only(
        &app.session,
        guarded(&Browser::new(), Some(&bearer(&token))),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert!(body_text(&response).contains("\"via\":\"bearer\""));
}

/// The authorizer runs in front of every request of a team's app, and CloudWatch Logs bills by
/// the byte: an allowed request is counted (a metric) but logged only at DEBUG; a refusal is
/// logged with its reason.
#[tokio::test]
async fn an_allowed_request_logs_nothing_at_info_and_a_refusal_says_why() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    assert_eq!(get(&app, &mut alice, "/api/me").await.0, 200);

    let ((status, _), logged) =
        flow_tests::logs::as_deployed(get(&app, &mut alice, "/api/me")).await;
    assert_eq!(status, 200);
    assert!(logged.is_empty(), "nothing but metric lines: {logged}");

    let mut stranger = Browser::new();
    let ((status, _), logged) =
        flow_tests::logs::as_deployed(get(&app, &mut stranger, "/api/me")).await;
    assert_eq!(status, 403);
    assert!(
        logged.contains(r#""outcome":"deny","reason":"signed_out""#),
        "{logged}"
    );
}
