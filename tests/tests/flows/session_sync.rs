//! Sessions follow Scalekit: a back-channel logout or a signed webhook ends exactly the sessions
//! it names (nothing for a forgery, a replay or a stale delivery), and users see and end their
//! own sessions, here and at Scalekit. Several browsers and users side by side, through the local
//! gateway as API Gateway routes them.

use flow_tests::gateway::{json, request, send};
use flow_tests::Browser;
use lambda_http::http::Method;
use scalekit_dev::{DevScalekit, Endpoint, Misbehaviour, SignedWebhook};
use serde_json::{json, Value};
use shared::config::SecretSetting;
use shared::redacted::SessionId;
use shared::scalekit::unix_now;
use shared::session::cookies::SESSION_COOKIE;
use shared::session::session_key;

use crate::support::{get, Container, TestApp};

/// Whether `browser`'s session still works (through `/api/session`, as the app's pages check).
async fn signed_in(app: &TestApp, browser: &mut Browser) -> bool {
    let gateway = app.gateway();
    let status = request(&gateway, browser, Method::GET, "/api/session", &[])
        .await
        .status();
    assert!(status == 200 || status == 401, "{status}");
    status == 200
}

/// Scalekit's session id (`sid`) of the browser's session.
async fn sid_of(app: &TestApp, browser: &Browser) -> String {
    let key = session_key(&SessionId::new(
        browser.get(SESSION_COOKIE).expect("a session"),
    ));
    app.stack
        .sessions()
        .await
        .into_iter()
        .find(|record| record.key == key)
        .and_then(|record| record.session_id)
        .expect("the record keeps Scalekit's sid")
}

/// A logout token ending every session of `user` (it names no Scalekit session).
fn user_logout_token(app: &TestApp, user: &str) -> String {
    app.stack
        .idp
        .mint_logout_token(json!({"sub": user, "sid": null}))
}

/// Scalekit delivering a signed event of `kind` about `data`.
async fn deliver_event(
    app: &TestApp,
    kind: &str,
    data: Value,
    organization: Option<&str>,
) -> (u16, Value) {
    let body = DevScalekit::webhook_event(kind, data, organization);
    app.deliver_webhook(&app.stack.idp.sign_webhook(&body))
        .await
}

/// alice twice (two browsers: Acme, then Globex), carol and bob once each.
struct People {
    alice_acme: Browser,
    alice_globex: Browser,
    carol: Browser,
    bob: Browser,
}

async fn people(app: &TestApp) -> People {
    People {
        alice_acme: app.signed_in("usr_alice", Some("org_acme")).await,
        alice_globex: app.signed_in("usr_alice", Some("org_globex")).await,
        carol: app.signed_in("usr_carol", None).await,
        bob: app.signed_in("usr_bob", None).await,
    }
}

impl People {
    /// Asserts who is still signed in: alice (Acme), alice (Globex), carol, bob.
    async fn assert_signed_in(&mut self, app: &TestApp, expected: [bool; 4]) {
        assert_eq!(
            self.still_signed_in(app).await,
            expected,
            "signed in: alice (Acme), alice (Globex), carol, bob"
        );
    }

    async fn still_signed_in(&mut self, app: &TestApp) -> [bool; 4] {
        [
            signed_in(app, &mut self.alice_acme).await,
            signed_in(app, &mut self.alice_globex).await,
            signed_in(app, &mut self.carol).await,
            signed_in(app, &mut self.bob).await,
        ]
    }
}

#[tokio::test]
async fn ending_a_sign_in_at_scalekit_ends_exactly_that_session_by_back_channel_logout() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    people.assert_signed_in(&app, [true; 4]).await;
    let sid = sid_of(&app, &people.alice_acme).await;
    // The authorizer's container has allowed her before.
    assert_eq!(get(&app, &mut people.alice_acme, "/api/me").await.0, 200);

    let ended = app.stack.idp.end_sign_in(&sid).expect("an active sign-in");
    let (status, _) = app.backchannel_logout(&ended.logout_token).await;
    assert_eq!(status, 200);
    people
        .assert_signed_in(&app, [false, true, true, true])
        .await;
    // The authorizer agrees at once.
    assert_eq!(get(&app, &mut people.alice_acme, "/api/me").await.0, 403);
}

#[tokio::test]
async fn a_logout_token_naming_only_the_user_ends_all_their_sessions_and_only_theirs() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let token = user_logout_token(&app, "usr_alice");
    assert_eq!(app.backchannel_logout(&token).await.0, 200);
    people
        .assert_signed_in(&app, [false, false, true, true])
        .await;
}

#[tokio::test]
async fn a_logout_token_naming_only_the_scalekit_session_is_found_without_the_user() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let sid = sid_of(&app, &people.carol).await;
    let token = app
        .stack
        .idp
        .mint_logout_token(json!({"sid": sid, "sub": null}));
    assert_eq!(app.backchannel_logout(&token).await.0, 200);
    people
        .assert_signed_in(&app, [true, true, false, true])
        .await;
}

#[tokio::test]
async fn a_replayed_logout_token_ends_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let token = app
        .stack
        .idp
        .mint_logout_token(json!({"sub": "usr_alice", "sid": null, "jti": "replayed-jti"}));
    assert_eq!(app.backchannel_logout(&token).await.0, 200);
    assert!(!signed_in(&app, &mut alice).await);

    // Replayed to another container of the function: the marker is in the table, not in memory.
    let mut again = app.signed_in("usr_alice", Some("org_acme")).await;
    let (status, body) = Container::of(&app.stack).backchannel_logout(&token).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
    assert!(
        signed_in(&app, &mut again).await,
        "the replay ended a session"
    );
}

#[tokio::test]
async fn scalekits_receivers_take_posts_of_a_bounded_size_only() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let sid = sid_of(&app, &people.alice_acme).await;
    // A signed user.logout padded past 256 KiB: refused before it is read, nothing ends.
    let padding = "x".repeat(300 * 1024);
    let (status, body) = deliver_event(
        &app,
        "user.logout",
        json!({"user_session": {"session_id": sid}, "padding": padding}),
        None,
    )
    .await;
    assert_eq!((status, &body["error"]), (413, &json!("payload_too_large")));
    let token = app.stack.idp.mint_logout_token(json!({ "sid": sid }));
    let (status, _) = app
        .backchannel_logout(&format!("{token}&padding={}", "x".repeat(20 * 1024)))
        .await;
    assert_eq!(status, 413);
    people.assert_signed_in(&app, [true; 4]).await;
    // Another method: the handlers answer 405 (the gateway routes only POST to them).
    let as_get = |name| {
        let mut event = flow_tests::events::load(name);
        event["requestContext"]["http"]["method"] = json!("GET");
        event
    };
    let logout = |r| backchannel_logout::handle(&app.backchannel_logout, r);
    let answer = shared::runtime::invoke(&logout, as_get("backchannel-logout-signed")).await;
    assert_eq!(answer.expect("an answer")["statusCode"], 405);
    let webhook = |r| webhook::handle(&app.webhook, r);
    let answer = shared::runtime::invoke(&webhook, as_get("webhook-user-logout")).await;
    assert_eq!(answer.expect("an answer")["statusCode"], 405);
}

/// Containers that verify what Scalekit sends but cannot end sessions: the session secret they
/// are configured with cannot be read.
fn containers_that_cannot_end_sessions(app: &TestApp) -> Container {
    let broken = |needs| {
        app.stack.app_with(needs, |config| {
            config.session_secret = SecretSetting::SecretsManager("no-such-secret".into());
        })
    };
    let mut containers = Container::of(&app.stack);
    containers.backchannel_logout = broken(backchannel_logout::NEEDS);
    containers.webhook = broken(webhook::NEEDS);
    containers
}

#[tokio::test]
async fn a_logout_or_webhook_that_failed_half_way_is_acted_on_when_scalekit_retries() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let broken = containers_that_cannot_end_sessions(&app);

    // The token verifies and its jti is remembered; ending fails: forgotten again, a 5xx.
    let token = user_logout_token(&app, "usr_carol");
    let (status, body) = broken.backchannel_logout(&token).await;
    assert_eq!(status, 503, "{body}");
    let sid = sid_of(&app, &people.alice_globex).await;
    let ended = app.stack.idp.end_sign_in(&sid).expect("an active sign-in");
    let (status, body) = broken.deliver_webhook(&ended.webhook).await;
    assert_eq!(status, 503, "{body}");
    people.assert_signed_in(&app, [true; 4]).await;

    // Scalekit retries, reaching a container that can: neither is taken for a replay.
    assert_eq!(app.backchannel_logout(&token).await.0, 200);
    let (status, body) = app.deliver_webhook(&ended.webhook).await;
    assert_eq!((status, &body["ended"]), (200, &json!(1)), "{body}");
    people
        .assert_signed_in(&app, [true, false, false, true])
        .await;
}

#[tokio::test]
async fn a_logout_that_ended_some_sessions_before_dynamodb_failed_ends_the_rest_when_retried() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    // DynamoDB deletes one item, then fails every delete (its retries included).
    let deletes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = deletes.clone();
    let failing = flow_tests::stack::forwarding_proxy(&app.stack.moto_url(), move |_, headers, _| {
        let delete = headers
            .get("x-amz-target")
            .is_some_and(|t| t == "DynamoDB_20120810.DeleteItem");
        (delete && counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1).then(|| {
            axum::response::Response::builder()
                .status(500)
                .header("content-type", "application/x-amz-json-1.0")
                .body(axum::body::Body::from(
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
                ))
                .expect("static response")
        })
    })
    .await;
    let mut broken = Container::of(&app.stack);
    broken.backchannel_logout = app.stack.app_via(backchannel_logout::NEEDS, &failing);

    // alice has two sessions: one ends, then the store fails, and so does forgetting the jti
    // (a delete too): a 5xx, and the jti is remembered only as long as an invocation can run.
    let token = user_logout_token(&app, "usr_alice");
    let (status, body) = broken.backchannel_logout(&token).await;
    assert_eq!(status, 503, "{body}");
    let still = people.still_signed_in(&app).await;
    assert_eq!(still[..2].iter().filter(|s| **s).count(), 1, "{still:?}");

    // Scalekit retries later: the same token ends the other one.
    app.stack
        .age_replay_markers(shared::session::MARKER_LEASE_SECS + 1)
        .await;
    assert_eq!(app.backchannel_logout(&token).await.0, 200);
    people
        .assert_signed_in(&app, [false, false, true, true])
        .await;
}

#[tokio::test]
async fn a_logout_token_signed_with_a_rotated_key_is_verified_after_one_key_refetch() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    // The container has the key set cached.
    let carol = app.stack.idp.mint_logout_token(json!({"sub": "usr_carol"}));
    assert_eq!(app.backchannel_logout(&carol).await.0, 200);
    let fetched = app.stack.idp.requests(Endpoint::Keys);

    app.stack.idp.rotate_signing_key();
    let bob = app.stack.idp.mint_logout_token(json!({"sub": "usr_bob"}));
    assert_eq!(app.backchannel_logout(&bob).await.0, 200);
    assert_eq!(app.stack.idp.requests(Endpoint::Keys), fetched + 1);
    people
        .assert_signed_in(&app, [true, true, false, false])
        .await;
}

#[tokio::test]
async fn one_logout_token_sent_to_two_containers_at_once_is_taken_once() {
    let app = TestApp::spawn().await;
    let _alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let token = user_logout_token(&app, "usr_alice");
    let other = Container::of(&app.stack);
    let (here, there) = tokio::join!(
        app.backchannel_logout(&token),
        other.backchannel_logout(&token)
    );
    let mut statuses = [here.0, there.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{here:?} {there:?}");
}

#[tokio::test]
async fn every_check_of_a_logout_token_refuses_and_ends_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let sid = sid_of(&app, &alice).await;
    let idp = &app.stack.idp;
    // Every case carries the valid token's jti: a refusal that remembered it would make the
    // valid token a replay at the end.
    let base = json!({"sid": sid, "sub": "usr_alice", "jti": "jti-of-the-valid-token"});
    let patched = |patch: Value| {
        let mut claims = base.clone();
        for (name, value) in patch.as_object().unwrap() {
            claims[name] = value.clone();
        }
        idp.mint_logout_token(claims)
    };
    let now = unix_now();
    // One character in the middle of the signature changed (the last one may carry only
    // padding bits, which a base64 decoder ignores).
    let valid = patched(json!({}));
    let middle = valid.rfind('.').unwrap() + (valid.len() - valid.rfind('.').unwrap()) / 2;
    let flipped = if &valid[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let forged = format!("{}{flipped}{}", &valid[..middle], &valid[middle + 1..]);
    let cases: Vec<(&str, String)> = vec![
        ("a bad signature", forged),
        (
            "another issuer",
            patched(json!({"iss": "https://evil.example"})),
        ),
        ("another audience", patched(json!({"aud": ["skc_other"]}))),
        ("a nonce", patched(json!({"nonce": "n"}))),
        ("no events", patched(json!({"events": null}))),
        (
            "another event",
            patched(json!({"events": {"https://example.com/other": {}}})),
        ),
        ("no jti", patched(json!({"jti": null}))),
        ("no iat", patched(json!({"iat": null}))),
        ("an old iat", patched(json!({"iat": now - 3600}))),
        ("a future iat", patched(json!({"iat": now + 3600}))),
        ("an expired exp", patched(json!({"exp": now - 600}))),
        (
            "neither sid nor sub",
            patched(json!({"sid": null, "sub": null})),
        ),
        (
            "an unknown key",
            idp.mint_logout_token_with_header(json!({"kid": "snk_unpublished"}), base.clone()),
        ),
        ("an ID token", {
            let header = json!({"alg": "RS256", "kid": idp.current_kid(), "typ": "JWT"});
            idp.sign_jwt(
                header,
                json!({"iss": idp.url(), "aud": [idp.client_id()], "sub": "usr_alice",
                "iat": now, "exp": now + 300, "nonce": "n", "sid": sid}),
            )
        }),
        ("not a JWT", "garbage".to_owned()),
        ("an empty token", String::new()),
    ];
    for (what, token) in cases {
        let (status, body) = app.backchannel_logout(&token).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            signed_in(&app, &mut alice).await,
            "{what} ended the session"
        );
    }
    // A form without the field, or with it twice.
    let gateway = app.gateway();
    for body in [
        String::from("token=x"),
        format!("logout_token={valid}&logout_token={valid}"),
    ] {
        let response = send(
            &gateway,
            &mut Browser::new(),
            Method::POST,
            "/api/backchannel-logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await;
        assert_eq!(response.status(), 400);
    }
    assert!(signed_in(&app, &mut alice).await);
    // The valid token still works: the refusals above remembered nothing.
    assert_eq!(app.backchannel_logout(&valid).await.0, 200);
    assert!(!signed_in(&app, &mut alice).await);
}

#[tokio::test]
async fn a_signed_user_logout_webhook_ends_that_session_and_a_redelivery_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let sid = sid_of(&app, &people.alice_globex).await;
    let ended = app.stack.idp.end_sign_in(&sid).expect("an active sign-in");

    let (status, body) = app.deliver_webhook(&ended.webhook).await;
    assert_eq!(
        (status, &body["received"], &body["ended"]),
        (200, &json!("user.logout"), &json!(1))
    );
    people
        .assert_signed_in(&app, [true, false, true, true])
        .await;
    // Scalekit retries with the same webhook-id, reaching another container: acknowledged,
    // done once.
    let (status, body) = Container::of(&app.stack)
        .deliver_webhook(&ended.webhook)
        .await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)));
}

#[tokio::test]
async fn one_webhook_delivered_to_two_containers_at_once_is_acted_on_once() {
    let app = TestApp::spawn().await;
    let people = people(&app).await;
    let sid = sid_of(&app, &people.alice_globex).await;
    let ended = app.stack.idp.end_sign_in(&sid).expect("an active sign-in");
    let other = Container::of(&app.stack);
    let (here, there) = tokio::join!(
        app.deliver_webhook(&ended.webhook),
        other.deliver_webhook(&ended.webhook)
    );
    let duplicates = [&here, &there]
        .iter()
        .filter(|(status, body)| *status == 200 && body["duplicate"] == json!(true))
        .count();
    let acted = [&here, &there]
        .iter()
        .filter(|(status, body)| *status == 200 && body["ended"] == json!(1))
        .count();
    assert_eq!((acted, duplicates), (1, 1), "{here:?} {there:?}");
}

#[tokio::test]
async fn a_forged_stale_or_edited_webhook_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let idp = &app.stack.idp;
    let sid = sid_of(&app, &people.alice_acme).await;
    let body = DevScalekit::webhook_event(
        "user.logout",
        json!({"user": {"id": "usr_alice"}, "user_session": {"session_id": sid, "user_id": "usr_alice"}}),
        Some("org_acme"),
    );
    let good = idp.sign_webhook(&body);
    let now = unix_now() as u64;
    let stale = idp.sign_webhook_at(&body, now - 600);
    let future = idp.sign_webhook_at(&body, now + 600);
    /// What is refused, the headers and the body delivered.
    type Case = (&'static str, Vec<(&'static str, String)>, String);
    let headers = |w: &SignedWebhook| w.headers();
    let as_refs = |h: &[(&'static str, String); 3]| -> Vec<(&'static str, String)> { h.to_vec() };
    let mut cases: Vec<Case> = vec![
        ("a stale timestamp", as_refs(&headers(&stale)), body.clone()),
        (
            "a future timestamp",
            as_refs(&headers(&future)),
            body.clone(),
        ),
        (
            "an edited body",
            as_refs(&headers(&good)),
            body.replace("usr_alice", "usr_carol"),
        ),
        ("no headers", Vec::new(), body.clone()),
    ];
    let mut wrong_id = as_refs(&headers(&good));
    wrong_id[0].1 = "msg_other".into();
    cases.push(("another webhook-id", wrong_id, body.clone()));
    let mut unsigned = as_refs(&headers(&good));
    unsigned[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    cases.push(("a forged signature", unsigned, body.clone()));
    for (what, headers, body) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, answer) = app.deliver_raw(&headers, body).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["error"], "invalid_signature", "{what}");
    }
    people.assert_signed_in(&app, [true; 4]).await;
    // The genuine delivery still acts: the refusals remembered nothing.
    assert_eq!(app.deliver_webhook(&good).await.0, 200);
    people
        .assert_signed_in(&app, [false, true, true, true])
        .await;
}

#[tokio::test]
async fn verified_webhooks_that_end_nothing_are_acknowledged_and_a_body_that_is_not_an_event_is_400(
) {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let idp = &app.stack.idp;
    let (status, body) = deliver_event(
        &app,
        "user.login",
        json!({"user": {"id": "usr_alice"}}),
        None,
    )
    .await;
    assert_eq!((status, &body["ended"]), (200, &json!(0)));
    for not_an_event in [
        "not json",
        r#"{"data": {}}"#,
        r#"{"type": "user.logout", "data": {}}"#,
    ] {
        let (status, body) = app.deliver_webhook(&idp.sign_webhook(not_an_event)).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_payload")),
            "{not_an_event}"
        );
    }
    people.assert_signed_in(&app, [true; 4]).await;
}

#[tokio::test]
async fn a_removed_membership_ends_the_users_sessions_in_that_organization_only() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let (status, answer) = deliver_event(
        &app,
        "user.organization_membership_deleted",
        json!({"user": {"id": "usr_alice"}, "organization": {"id": "org_acme"}}),
        Some("org_acme"),
    )
    .await;
    assert_eq!((status, &answer["ended"]), (200, &json!(1)));
    people
        .assert_signed_in(&app, [false, true, true, true])
        .await;
}

/// Scalekit telling the app that Acme was deleted.
async fn acme_deleted(app: &TestApp) -> (u16, Value) {
    deliver_event(
        app,
        "organization.deleted",
        json!({"id": "org_acme", "display_name": "Acme Corp"}),
        Some("org_acme"),
    )
    .await
}

#[tokio::test]
async fn a_deleted_organization_ends_every_session_in_it() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let (status, answer) = acme_deleted(&app).await;
    assert_eq!((status, &answer["ended"]), (200, &json!(2)));
    people
        .assert_signed_in(&app, [false, true, false, true])
        .await;
}

/// Lambda ends an invocation at the function's timeout (template.yaml's), whatever it is doing.
async fn within_the_function_timeout<T>(invocation: impl std::future::Future<Output = T>) -> T {
    let seconds = flow_tests::template::template()["Globals"]["Function"]["Timeout"]
        .as_u64()
        .expect("a Timeout in Globals");
    tokio::time::timeout(std::time::Duration::from_secs(seconds), invocation)
        .await
        .expect("the invocation finished within the function's timeout")
}

#[tokio::test]
async fn a_deleted_organization_with_hundreds_of_sessions_ends_them_all_within_the_timeout() {
    let mut app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let mut bob = app.signed_in("usr_bob", None).await;
    let record = app
        .stack
        .sessions()
        .await
        .into_iter()
        .find(|record| record.organization_id.as_deref() == Some("org_acme"))
        .expect("alice's session");
    app.stack
        .store_sessions_like(&record, "usr_member_", 240)
        .await;
    // DynamoDB 40 ms away: each session read and delete one after another would take 19 s.
    let far = flow_tests::stack::slow_forwarding_proxy(
        &app.stack.moto_url(),
        std::time::Duration::from_millis(40),
        |_, _, _| None,
    )
    .await;
    app.webhook = app.stack.app_via(webhook::NEEDS, &far);

    let (status, answer) = within_the_function_timeout(acme_deleted(&app)).await;
    assert_eq!((status, &answer["ended"]), (200, &json!(241)));
    assert!(!signed_in(&app, &mut alice).await);
    assert!(signed_in(&app, &mut bob).await);
    let left = app.stack.sessions().await;
    assert!(
        left.iter()
            .all(|record| record.organization_id.as_deref() != Some("org_acme")),
        "every session in the organization ended"
    );
}

/// `sid` and `oid` are index keys, and DynamoDB refuses an empty string as one: a token carrying
/// an empty claim must not make every write of its session fail.
#[tokio::test]
async fn a_session_whose_organization_or_scalekit_session_is_empty_is_stored() {
    let app = TestApp::spawn().await;
    let _alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let mut record = app.stack.sessions().await.remove(0);
    record.organization_id = Some(String::new());
    record.session_id = Some(String::new());
    app.stack
        .store_sessions_like(&record, "usr_empty_", 1)
        .await;
    let stored = app.stack.sessions().await;
    assert!(stored.iter().any(|r| r.user_id == "usr_empty_0"));
}

#[tokio::test]
async fn a_lookup_hint_edited_in_the_table_ends_no_other_users_session() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = TestApp::spawn().await;
    let mut carol = app.signed_in("usr_carol", None).await;
    // A table writer points carol's row at alice (the clear hint): the seal still says carol.
    app.stack
        .set_session_attributes(&[("uid", AttributeValue::S("usr_alice".into()))])
        .await;
    let token = user_logout_token(&app, "usr_alice");
    assert_eq!(app.backchannel_logout(&token).await.0, 200);
    assert!(signed_in(&app, &mut carol).await);
}

async fn my_sessions(app: &TestApp, browser: &mut Browser) -> Vec<Value> {
    let gateway = app.gateway();
    let response = request(&gateway, browser, Method::GET, "/api/sessions", &[]).await;
    assert_eq!(response.status(), 200);
    json(&response)["sessions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_session_list_is_newest_first() {
    let app = TestApp::spawn().await;
    let mut browsers = Vec::new();
    for organization in ["org_acme", "org_globex"].repeat(3) {
        browsers.push(app.signed_in("usr_alice", Some(organization)).await);
    }
    // Sign-ins minutes apart, in no order the table keeps them in (the list reads its records
    // several at once, in whatever order they answer).
    let edited = std::sync::atomic::AtomicUsize::new(0);
    app.stack
        .edit_sessions(|record| {
            let n = edited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            record.created_at -= 60 * [3, 0, 5, 1, 4, 2][n];
        })
        .await;
    let created: Vec<i64> = my_sessions(&app, &mut browsers[0])
        .await
        .iter()
        .map(|session| session["createdAt"].as_i64().expect("createdAt"))
        .collect();
    assert_eq!(created.len(), 6);
    assert!(created.windows(2).all(|w| w[0] > w[1]), "{created:?}");
}

async fn delete(app: &TestApp, browser: &mut Browser, path: &str, headers: &[(&str, &str)]) -> u16 {
    let gateway = app.gateway();
    request(&gateway, browser, Method::DELETE, path, headers)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn users_see_their_own_sessions_and_end_one_on_another_device() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let listed = my_sessions(&app, &mut people.alice_acme).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let current: Vec<bool> = listed.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1);
    let other = listed.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["organizationId"], "org_globex");
    assert_eq!(
        other["organizationName"], "Globex",
        "from Scalekit's Organizations API"
    );
    assert_eq!(other["device"], "Chrome on Linux");
    for session in &listed {
        let id = session["id"].as_str().unwrap();
        assert_eq!(id.len(), 22);
        for cookie in people.alice_acme.cookies() {
            assert!(!cookie.contains(id), "the handle is not the cookie");
        }
        assert!(session["createdAt"].as_i64().unwrap() > 0);
    }

    // carol cannot end alice's session with its handle.
    let handle = other["id"].as_str().unwrap().to_owned();
    let path = format!("/api/sessions/{handle}");
    assert_eq!(delete(&app, &mut people.carol, &path, &[]).await, 404);
    // Nor can another site, with alice's cookies.
    let cross = [("sec-fetch-site", "cross-site")];
    assert_eq!(
        delete(&app, &mut people.alice_acme, &path, &cross).await,
        403
    );
    people.assert_signed_in(&app, [true; 4]).await;

    assert_eq!(delete(&app, &mut people.alice_acme, &path, &[]).await, 204);
    people
        .assert_signed_in(&app, [true, false, true, true])
        .await;
    let listed = my_sessions(&app, &mut people.alice_acme).await;
    assert_eq!(listed.len(), 1);

    // Ending the current one signs this browser out, and the browser is told to drop its cookies.
    let current = format!("/api/sessions/{}", listed[0]["id"].as_str().unwrap());
    let gateway = app.gateway();
    let response = request(
        &gateway,
        &mut people.alice_acme,
        Method::DELETE,
        &current,
        &[],
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["clear-site-data"], "\"cookies\"");
    assert!(people.alice_acme.get(SESSION_COOKIE).is_none());
    people
        .assert_signed_in(&app, [false, false, true, true])
        .await;
}

#[tokio::test]
async fn a_slow_organizations_api_costs_the_session_list_its_names_not_its_answer() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let _alice_globex = app.signed_in("usr_alice", Some("org_globex")).await;
    // Slower than any client timeout: Scalekit hanging, as production's slow dependencies are.
    app.stack
        .idp
        .misbehave(Misbehaviour::ApiDelay(std::time::Duration::from_secs(8)));
    // Each name is waited for at most 1 s, both at once: the page does not wait once per
    // organization.
    let listed = tokio::time::timeout(
        std::time::Duration::from_millis(1900),
        my_sessions(&app, &mut alice),
    )
    .await
    .expect("the list answers within one name's wait");
    assert_eq!(listed.len(), 2);
    for session in &listed {
        assert_eq!(session["organizationName"], Value::Null, "the id stands in");
    }
    let asked = app.stack.idp.requests(Endpoint::Organization);
    assert_eq!(asked, 2);
    // The failed lookups are remembered for a while: the next views do not wait for them again.
    for _ in 0..2 {
        assert_eq!(my_sessions(&app, &mut alice).await.len(), 2);
    }
    assert_eq!(app.stack.idp.requests(Endpoint::Organization), asked);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_here_and_at_scalekit() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    let at_idp = |user: &str| {
        app.stack
            .idp
            .sign_ins()
            .into_iter()
            .filter(|s| s.user_id == user)
            .count()
    };
    assert_eq!(at_idp("usr_alice"), 2);

    // Scalekit down: her other device is signed out here at once all the same (a lost laptop is
    // locked out whatever Scalekit's state); this browser stays signed in, so that she can try
    // again, and the answer says Scalekit failed.
    app.stack
        .idp
        .misbehave(Misbehaviour::TokenStatus(503, json!({})));
    assert_eq!(
        delete(&app, &mut people.alice_globex, "/api/sessions", &[]).await,
        502
    );
    app.stack.idp.clear_misbehaviour();
    people
        .assert_signed_in(&app, [false, true, true, true])
        .await;
    assert_eq!(at_idp("usr_alice"), 2);

    let cross = [("sec-fetch-site", "cross-site")];
    assert_eq!(
        delete(&app, &mut people.alice_globex, "/api/sessions", &cross).await,
        403
    );

    let revocations = app.stack.idp.requests(Endpoint::RevokeSessions);
    assert_eq!(
        delete(&app, &mut people.alice_globex, "/api/sessions", &[]).await,
        204
    );
    assert_eq!(
        app.stack.idp.requests(Endpoint::RevokeSessions),
        revocations + 1
    );
    assert_eq!(at_idp("usr_alice"), 0, "Scalekit revoked them");
    assert_eq!(at_idp("usr_carol"), 1);
    people
        .assert_signed_in(&app, [false, false, true, true])
        .await;
    assert!(
        people.alice_globex.get(SESSION_COOKIE).is_none(),
        "this browser is signed out"
    );
}

#[tokio::test]
async fn the_management_token_is_fetched_once_and_reused_until_it_expires() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let mut bob = app.signed_in("usr_bob", None).await;
    let signed_in = app.stack.idp.requests(Endpoint::Token);
    // The first organization-name lookup gets a client-credentials token...
    assert_eq!(my_sessions(&app, &mut alice).await.len(), 1);
    assert_eq!(app.stack.idp.requests(Endpoint::Token), signed_in + 1);
    // ...which the same container's other calls reuse: another name, two revocations.
    assert_eq!(my_sessions(&app, &mut bob).await.len(), 1);
    for browser in [&mut alice, &mut bob] {
        assert_eq!(delete(&app, browser, "/api/sessions", &[]).await, 204);
    }
    assert_eq!(app.stack.idp.requests(Endpoint::Token), signed_in + 1);
    assert_eq!(app.stack.idp.requests(Endpoint::RevokeSessions), 2);
}

#[tokio::test]
async fn signing_out_everywhere_while_scalekit_hangs_ends_the_other_devices_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    let mut people = people(&app).await;
    // The sessions page was just shown: its name lookups cached a management token, so the
    // revoke call itself is what hangs, for longer than the client waits.
    my_sessions(&app, &mut people.alice_globex).await;
    app.stack
        .idp
        .misbehave(Misbehaviour::ApiDelay(std::time::Duration::from_secs(8)));
    assert_eq!(
        delete(&app, &mut people.alice_globex, "/api/sessions", &[]).await,
        504
    );
    app.stack.idp.clear_misbehaviour();
    people
        .assert_signed_in(&app, [false, true, true, true])
        .await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_this_session_even_before_the_index_shows_it() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("usr_alice", Some("org_acme")).await;
    let copy = browser.clone();
    // Signed in a moment ago: the by-user index has not caught up with this session yet.
    let key = session_key(&SessionId::new(
        browser.get(SESSION_COOKIE).expect("a session"),
    ));
    app.stack.remove_session_attribute(&key, "uid").await;

    assert_eq!(delete(&app, &mut browser, "/api/sessions", &[]).await, 204);
    assert!(
        browser.get(SESSION_COOKIE).is_none(),
        "this browser is signed out"
    );
    let mut replayed = copy;
    assert!(
        !signed_in(&app, &mut replayed).await,
        "its session ended, not only its cookies"
    );
}

#[tokio::test]
async fn signing_out_everywhere_survives_a_rotated_client_secret() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    // The sessions container reads, and caches, the secret of the day (and a management token:
    // the list asks for the organization's name).
    assert_eq!(my_sessions(&app, &mut alice).await.len(), 1);
    app.stack
        .rotate_client_secret("rotated-client-secret-0123456789")
        .await;
    // Its management token expires: the revocation needs a new one, with the client secret.
    app.stack.idp.forget_api_tokens();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await; // past the re-read rate limit
    let token_calls = app.stack.idp.requests(Endpoint::Token);

    assert_eq!(delete(&app, &mut alice, "/api/sessions", &[]).await, 204);
    assert!(app.stack.idp.sign_ins().is_empty());
    assert_eq!(
        app.stack.idp.requests(Endpoint::Token) - token_calls,
        2,
        "the old secret refused, the retry with the re-read one"
    );
}

#[tokio::test]
async fn the_sample_events_answer_as_the_readme_says_outside_the_tests() {
    use dev_gateway::Invoke;
    let app = TestApp::spawn().await;
    let invoker = crate::support::InProcess(&app.apps);
    for (name, status) in [
        ("backchannel-logout-signed", 400),
        ("backchannel-logout-missing-token", 400),
        ("webhook-user-logout", 401),
        ("webhook-unsigned", 401),
        ("sessions-list", 401),
        ("sessions-end-one", 401),
        ("sessions-end-all", 401),
        ("sessions-cross-site", 403),
    ] {
        let event = flow_tests::events::load(name);
        let answer = invoker
            .invoke(crate::support::function_of(name), event)
            .await
            .unwrap();
        assert_eq!(answer["statusCode"], status, "{name}: {answer}");
    }
}
