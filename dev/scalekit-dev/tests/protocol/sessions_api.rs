//! The client-credentials grant, sign-ins at the IdP, and the Sessions API's revocations.

use reqwest::StatusCode;
use scalekit_dev::{DevScalekit, Endpoint, SignIn};
use serde_json::{json, Value};

use crate::common::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// An access token for Scalekit's API, from the client-credentials grant.
async fn api_token(sk: &DevScalekit) -> String {
    let (status, body) = token_request(sk, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// `POST {path}` with `authorization` as the `Authorization` header, if any.
async fn post_api(
    sk: &DevScalekit,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = client().post(format!("{}{path}", sk.url()));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    (status, json_body(response).await)
}

fn sid_of(tokens: &Value) -> String {
    let (_, claims) = decode(tokens["id_token"].as_str().expect("id_token"));
    claims["sid"].as_str().expect("sid").to_owned()
}

fn refresh_token_of(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh_token")
}

#[tokio::test]
async fn the_client_credentials_grant_returns_a_day_long_api_token_and_nothing_else() {
    let sk = DevScalekit::start().await.expect("start");
    let (status, body) = token_request(&sk, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut members: Vec<&String> = body.as_object().expect("object").keys().collect();
    members.sort();
    assert_eq!(members, ["access_token", "expires_in", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86399);

    let token = body["access_token"].as_str().expect("access_token");
    assert!(verifies(&sk, token).await);
    let (header, claims) = decode(token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": sk.current_kid(), "typ": "JWT"})
    );
    assert_eq!(claims["iss"], sk.url());
    assert_eq!(claims["aud"], json!([sk.client_id()]));
    assert_eq!(claims["client_id"], sk.client_id());
    assert_eq!(claims["sub"], sk.client_id());
    assert_eq!(claims["scopes"], json!([]));
    assert!(claims["jti"].as_str().expect("jti").starts_with("tkn_"));
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((iat - now()).abs() <= 5);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 86399);
    assert!(claims.get("sid").is_none());

    assert!(sk.issued_secrets().iter().any(|s| s == token));
    assert_eq!(sk.requests(Endpoint::Token), 1);
    assert!(sk.sign_ins().is_empty());
}

#[tokio::test]
async fn the_client_credentials_grant_needs_the_client_secret() {
    let sk = DevScalekit::start().await.expect("start");
    for form in [
        &[
            ("grant_type", "client_credentials"),
            ("client_id", sk.client_id()),
            ("client_secret", "wrong"),
        ][..],
        &[
            ("grant_type", "client_credentials"),
            ("client_id", sk.client_id()),
        ],
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "skc_other"),
            ("client_secret", sk.client_secret()),
        ],
    ] {
        let response = client()
            .post(format!("{}/oauth/token", sk.url()))
            .form(form)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{form:?}");
        assert_eq!(json_body(response).await["error"], "invalid_client");
    }
    assert!(sk.issued_secrets().is_empty());
}

#[tokio::test]
async fn redeeming_a_code_starts_a_sign_in_under_the_tokens_sid() {
    let sk = DevScalekit::start().await.expect("start");
    assert!(sk.sign_ins().is_empty());
    let code = code_for(&sk, "usr_alice", Some("org_globex"), &[]).await;
    assert!(sk.sign_ins().is_empty(), "a code alone is not a sign-in");
    let (status, tokens) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);

    let sign_ins = sk.sign_ins();
    assert_eq!(sign_ins.len(), 1);
    let SignIn {
        session_id,
        user_id,
        organization_id,
        created_at,
    } = &sign_ins[0];
    assert_eq!(session_id, &sid_of(&tokens));
    assert!(session_id.starts_with("ses_"));
    assert_eq!(user_id, "usr_alice");
    assert_eq!(organization_id.as_deref(), Some("org_globex"));
    assert!((*created_at as i64 - now()).abs() <= 5);

    // A refresh continues the same sign-in.
    let (status, _) = refresh(&sk, refresh_token_of(&tokens)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sk.sign_ins(), sign_ins);

    login(&sk, "usr_bob", None).await;
    sk.issue_refresh_token_for("usr_carol", "org_acme");
    let users: Vec<String> = sk.sign_ins().into_iter().map(|s| s.user_id).collect();
    assert_eq!(users, ["usr_alice", "usr_bob", "usr_carol"]);
}

#[tokio::test]
async fn replaying_a_code_ends_the_sign_in_it_started() {
    let sk = DevScalekit::start().await.expect("start");
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    assert_eq!(exchange(&sk, &code, VERIFIER).await.0, StatusCode::OK);
    assert_eq!(sk.sign_ins().len(), 1);
    assert_eq!(
        exchange(&sk, &code, VERIFIER).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(sk.sign_ins().is_empty());
}

#[tokio::test]
async fn the_sessions_api_wants_an_unexpired_client_credentials_token() {
    let sk = DevScalekit::start().await.expect("start");
    let tokens = login(&sk, "usr_bob", None).await;
    let sid = sid_of(&tokens);
    let user_access_token = tokens["access_token"].as_str().expect("access_token");
    let api = api_token(&sk).await;
    let not_issued_here = sk.sign_jwt(
        json!({"alg": "RS256", "kid": sk.current_kid()}),
        decode(&api).1,
    );
    let paths = [
        "/api/v1/users/usr_bob/sessions/revoke".to_owned(),
        format!("/api/v1/sessions/{sid}/revoke"),
    ];
    for path in &paths {
        for authorization in [
            None,
            Some(format!("Bearer {user_access_token}")),
            Some(format!("Bearer {not_issued_here}")),
            Some(format!("Basic {api}")),
            Some("Bearer".to_owned()),
            Some(format!("Bearer {api}x")),
        ] {
            let (status, body) = post_api(&sk, path, authorization.as_deref()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {authorization:?}");
            assert_eq!(body, json!({"code": 16, "message": "unauthenticated"}));
        }
    }
    assert_eq!(sk.sign_ins().len(), 1);
    assert_eq!(sk.requests(Endpoint::RevokeSessions), 12);
    let (status, _) = refresh(&sk, refresh_token_of(&tokens)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_user_s_sessions_ends_their_sign_ins_and_refresh_tokens() {
    let sk = DevScalekit::start().await.expect("start");
    let acme = login(&sk, "usr_alice", Some("org_acme")).await;
    let globex = login(&sk, "usr_alice", Some("org_globex")).await;
    let bob = login(&sk, "usr_bob", None).await;
    // A rotated refresh token belongs to the same session.
    let (_, rotated) = refresh(&sk, refresh_token_of(&acme)).await;
    let api = api_token(&sk).await;

    let (status, body) = post_api(
        &sk,
        "/api/v1/users/usr_alice/sessions/revoke",
        Some(&format!("bearer {api}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_revoked"], 2);
    let revoked = body["revoked_sessions"]
        .as_array()
        .expect("revoked_sessions");
    let summary: Vec<_> = revoked
        .iter()
        .map(|s| {
            (
                s["session_id"].clone(),
                s["user_id"].clone(),
                s["organization_id"].clone(),
                s["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                json!(sid_of(&acme)),
                json!("usr_alice"),
                json!("org_acme"),
                json!("revoked")
            ),
            (
                json!(sid_of(&globex)),
                json!("usr_alice"),
                json!("org_globex"),
                json!("revoked")
            ),
        ]
    );
    assert!(revoked[0]["expired_at"]
        .as_str()
        .expect("expired_at")
        .ends_with('Z'));

    let remaining: Vec<String> = sk.sign_ins().into_iter().map(|s| s.session_id).collect();
    assert_eq!(remaining, [sid_of(&bob)]);
    for token in [refresh_token_of(&rotated), refresh_token_of(&globex)] {
        let (status, body) = refresh(&sk, token).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
    }
    assert_eq!(refresh(&sk, refresh_token_of(&bob)).await.0, StatusCode::OK);

    let (status, body) = post_api(
        &sk,
        "/api/v1/users/usr_alice/sessions/revoke",
        Some(&format!("Bearer {api}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"revoked_sessions": [], "total_revoked": 0}));
    assert_eq!(sk.requests(Endpoint::RevokeSessions), 2);
}

#[tokio::test]
async fn revoking_one_session_ends_that_sign_in_only() {
    let sk = DevScalekit::start().await.expect("start");
    let first = login(&sk, "usr_carol", None).await;
    let second = login(&sk, "usr_carol", None).await;
    let api = format!("Bearer {}", api_token(&sk).await);
    let path = format!("/api/v1/sessions/{}/revoke", sid_of(&first));

    let (status, body) = post_api(&sk, &path, Some(&api)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let revoked = &body["revoked_session"];
    assert_eq!(revoked["session_id"], sid_of(&first));
    assert_eq!(revoked["user_id"], "usr_carol");
    assert_eq!(revoked["organization_id"], "org_acme");
    assert_eq!(revoked["status"], "revoked");

    let remaining: Vec<String> = sk.sign_ins().into_iter().map(|s| s.session_id).collect();
    assert_eq!(remaining, [sid_of(&second)]);
    let (status, body) = refresh(&sk, refresh_token_of(&first)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert_eq!(
        refresh(&sk, refresh_token_of(&second)).await.0,
        StatusCode::OK
    );

    for path in [path.as_str(), "/api/v1/sessions/ses_unknown/revoke"] {
        let (status, body) = post_api(&sk, path, Some(&api)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"code": 5, "message": "session not found"}));
    }
}
