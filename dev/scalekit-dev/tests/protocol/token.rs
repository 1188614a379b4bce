//! `/oauth/token`: code exchange, PKCE, client authentication, refresh rotation.

use reqwest::StatusCode;
use scalekit_dev::{DevScalekit, DevScalekitOptions, Endpoint};
use serde_json::json;

use crate::common::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test]
async fn code_exchange_with_pkce_returns_verifiable_tokens_with_scalekit_claims() {
    let sk = DevScalekit::start().await.expect("start");
    let tokens = login(&sk, "usr_bob", None).await;

    assert_eq!(tokens["expires_in"], 299);
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let access_token = tokens["access_token"].as_str().expect("access_token");
    assert!(verifies(&sk, id_token).await);
    assert!(verifies(&sk, access_token).await);

    let (header, id) = decode(id_token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": sk.current_kid(), "typ": "JWT"})
    );
    assert_eq!(id["iss"], sk.url());
    assert_eq!(id["aud"], json!([sk.client_id()]));
    assert_eq!(id["azp"], sk.client_id());
    assert_eq!(id["sub"], "usr_bob");
    assert_eq!(id["oid"], "org_globex");
    assert_eq!(id["nonce"], NONCE);
    assert_eq!(id["email"], "bob@globex.test");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Bob Brown");
    assert_eq!(id["given_name"], "Bob");
    assert_eq!(id["family_name"], "Brown");
    assert_eq!(id["amr"], json!(["conn_dev_org_globex"]));
    assert!(id["sid"].as_str().expect("sid").starts_with("ses_"));
    let iat = id["iat"].as_i64().expect("iat");
    assert!((iat - now()).abs() <= 5);
    assert_eq!(id["exp"].as_i64().expect("exp") - iat, 3600);

    let (_, access) = decode(access_token);
    assert_eq!(access["iss"], sk.url());
    assert_eq!(access["aud"], json!([sk.client_id()]));
    assert_eq!(access["client_id"], sk.client_id());
    assert_eq!(access["sub"], "usr_bob");
    assert_eq!(access["oid"], "org_globex");
    assert_eq!(access["sid"], id["sid"]);
    assert_eq!(access["roles"], json!(["admin"]));
    assert_eq!(
        access["permissions"],
        json!(["organization:read", "organization:write"])
    );
    assert_eq!(access["scope"], "openid profile email offline_access");
    assert!(access["jti"].as_str().expect("jti").starts_with("tkn_"));
    assert_eq!(access["nbf"], access["iat"]);
    assert_eq!(
        access["exp"].as_i64().expect("exp") - access["iat"].as_i64().expect("iat"),
        299
    );
    assert_eq!(sk.requests(Endpoint::Token), 1);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access_and_ttl_is_configurable() {
    let sk = DevScalekit::start_with(DevScalekitOptions {
        access_token_ttl_secs: 60,
        issuer: Some("https://acme.scalekit.test".to_owned()),
        ..DevScalekitOptions::default()
    })
    .await
    .expect("start");
    let code = code_for(&sk, "usr_carol", None, &[("scope", "openid email")]).await;
    let (status, tokens) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tokens.get("refresh_token").is_none());
    assert_eq!(tokens["expires_in"], 60);
    let (_, id) = decode(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["iss"], "https://acme.scalekit.test");
}

#[tokio::test]
async fn a_wrong_or_missing_code_verifier_is_rejected() {
    let sk = DevScalekit::start().await.expect("start");
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    let (status, body) = exchange(&sk, &code, &"a".repeat(43)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());

    let code = code_for(&sk, "usr_bob", None, &[]).await;
    let (status, body) = token_request(
        &sk,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_rejected_but_none_is_fine() {
    let sk = DevScalekit::start().await.expect("start");
    let no_pkce = [("code_challenge", ""), ("code_challenge_method", "")];
    let code = code_for(&sk, "usr_bob", None, &no_pkce).await;
    let (status, body) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    let code = code_for(&sk, "usr_bob", None, &no_pkce).await;
    let (status, _) = token_request(
        &sk,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_authorization_code_works_once() {
    let sk = DevScalekit::start().await.expect("start");
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    let (status, tokens) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    // The replay also revokes what the code produced (RFC 6749 §4.1.2).
    let (status, body) = refresh(&sk, tokens["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
}

#[tokio::test]
async fn the_redirect_uri_must_match_the_authorization_request() {
    let sk = DevScalekit::start().await.expect("start");
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    let (status, body) = token_request(
        &sk,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://app.test/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn wrong_client_credentials_get_invalid_client_and_rotation_retires_the_old_secret() {
    let sk = DevScalekit::start().await.expect("start");
    let response = client()
        .post(format!("{}/oauth/token", sk.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", sk.client_id()),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_body(response).await["error"], "invalid_client");

    let old_secret = sk.client_secret().to_owned();
    let refresh_token = sk.issue_refresh_token_for("usr_bob", "org_globex");
    sk.set_client_secret("rotated-secret");
    assert_eq!(sk.client_secret(), "rotated-secret");
    let response = client()
        .post(format!("{}/oauth/token", sk.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", sk.client_id()),
            ("client_secret", old_secret.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_body(response).await["error"], "invalid_client");
    let (status, _) = refresh(&sk, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_grant_types_and_non_form_bodies_are_rejected() {
    let sk = DevScalekit::start().await.expect("start");
    let (status, body) = token_request(&sk, &[("grant_type", "password")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");

    let response = client()
        .post(format!("{}/oauth/token", sk.url()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(response).await["error"], "invalid_request");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_keeps_the_session() {
    let sk = DevScalekit::start().await.expect("start");
    let first = login(&sk, "usr_bob", None).await;
    let first_rt = first["refresh_token"].as_str().expect("rt");
    let (_, first_id) = decode(first["id_token"].as_str().expect("id"));

    let (status, second) = refresh(&sk, first_rt).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_rt = second["refresh_token"].as_str().expect("new rt");
    assert_ne!(second_rt, first_rt);
    assert_eq!(second["expires_in"], 299);
    let (_, id) = decode(second["id_token"].as_str().expect("id"));
    for claim in ["sub", "iss", "aud", "sid", "oid"] {
        assert_eq!(id[claim], first_id[claim], "{claim}");
    }
    assert!(id.get("nonce").is_none());
    assert!(verifies(&sk, second["access_token"].as_str().expect("at")).await);

    let (status, body) = refresh(&sk, first_rt).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, _) = refresh(&sk, second_rt).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_refresh_tokens_get_invalid_grant() {
    let sk = DevScalekit::start().await.expect("start");
    let alice = sk.issue_refresh_token_for("usr_alice", "org_acme");
    let bob = sk.issue_refresh_token_for("usr_bob", "org_globex");
    let (status, body) = refresh(&sk, &alice).await;
    assert_eq!(status, StatusCode::OK);
    let (_, access) = decode(body["access_token"].as_str().expect("at"));
    assert_eq!(
        (&access["sub"], &access["oid"]),
        (&json!("usr_alice"), &json!("org_acme"))
    );
    let alice = body["refresh_token"].as_str().expect("rt").to_owned();

    sk.revoke_refresh_tokens("usr_alice");
    let (status, body) = refresh(&sk, &alice).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, _) = refresh(&sk, &bob).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&sk, "never-issued").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
}
