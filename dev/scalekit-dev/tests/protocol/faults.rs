//! Every [`Misbehaviour`] changes what the client sees, and clearing it restores normal service.

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use scalekit_dev::{DevScalekit, IdTokenSigning, Misbehaviour};
use serde_json::json;

use crate::common::*;

async fn id_token_of(sk: &DevScalekit) -> String {
    let tokens = login(sk, "usr_bob", None).await;
    tokens["id_token"].as_str().expect("id_token").to_owned()
}

#[tokio::test]
async fn token_status_answers_the_given_status_and_body() {
    let sk = DevScalekit::start().await.expect("start");
    let body = json!({"error": "server_error", "error_description": "boom"});
    sk.misbehave(Misbehaviour::TokenStatus(500, body.clone()));
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    assert_eq!(
        exchange(&sk, &code, VERIFIER).await,
        (StatusCode::INTERNAL_SERVER_ERROR, body)
    );
    sk.clear_misbehaviour();
    // The fault answered before the code was looked at, so it is still good.
    assert_eq!(exchange(&sk, &code, VERIFIER).await.0, StatusCode::OK);
}

#[tokio::test]
async fn token_not_json_answers_html() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::TokenNotJson);
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    let response = client()
        .post(format!("{}/oauth/token", sk.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "<html>oops</html>");
}

#[tokio::test]
async fn token_delay_slows_the_token_endpoint() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::TokenDelay(Duration::from_millis(300)));
    let code = code_for(&sk, "usr_bob", None, &[]).await;
    let started = Instant::now();
    let (status, _) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn keys_down_answers_503_until_cleared() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::KeysDown);
    let response = get(&format!("{}/keys", sk.url())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    sk.clear_misbehaviour();
    assert_eq!(jwks(&sk).await.len(), 1);
}

#[tokio::test]
async fn id_token_claims_are_merged_and_null_removes() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::IdTokenClaims(
        json!({"iss": "https://evil.test", "aud": "skc_other", "nonce": null, "sub": null}),
    ));
    let id_token = id_token_of(&sk).await;
    let (_, claims) = decode(&id_token);
    assert_eq!(claims["iss"], "https://evil.test");
    assert_eq!(claims["aud"], "skc_other");
    assert!(claims.get("nonce").is_none() && claims.get("sub").is_none());
    assert!(verifies(&sk, &id_token).await, "still properly signed");
}

#[tokio::test]
async fn id_token_header_is_merged() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::IdTokenHeader(
        json!({"kid": null, "typ": "at+jwt"}),
    ));
    let (header, _) = decode(&id_token_of(&sk).await);
    assert_eq!(header, json!({"alg": "RS256", "typ": "at+jwt"}));
}

#[tokio::test]
async fn a_bad_signature_does_not_verify() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::IdTokenSignature(IdTokenSigning::Bad));
    let id_token = id_token_of(&sk).await;
    assert_eq!(decode(&id_token).0["kid"], sk.current_kid());
    assert!(!verifies(&sk, &id_token).await);
}

#[tokio::test]
async fn alg_none_has_an_empty_signature() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::IdTokenSignature(IdTokenSigning::None));
    let id_token = id_token_of(&sk).await;
    assert_eq!(decode(&id_token).0["alg"], "none");
    assert!(id_token.ends_with('.'));
}

#[tokio::test]
async fn hs256_is_keyed_with_the_public_key() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::IdTokenSignature(
        IdTokenSigning::Hs256WithPublicKey,
    ));
    let id_token = id_token_of(&sk).await;
    assert_eq!(decode(&id_token).0["alg"], "HS256");
    let (input, signature) = id_token.rsplit_once('.').expect("JWS");
    let key = hmac::Key::new(hmac::HMAC_SHA256, &sk.public_key_der());
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    assert!(hmac::verify(&key, input.as_bytes(), &signature).is_ok());
    // SubjectPublicKeyInfo DER of an RSA-2048 key: a SEQUENCE of 294 bytes.
    assert_eq!(sk.public_key_der().len(), 294);
}

#[tokio::test]
async fn an_unpublished_key_signs_under_the_current_kid() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::IdTokenSignature(
        IdTokenSigning::UnpublishedKey,
    ));
    let id_token = id_token_of(&sk).await;
    assert_eq!(decode(&id_token).0["kid"], sk.current_kid());
    assert_eq!(signature_of(&id_token).len(), 256);
    assert!(!verifies(&sk, &id_token).await);
    sk.clear_misbehaviour();
    assert!(verifies(&sk, &id_token_of(&sk).await).await);
}

#[tokio::test]
async fn access_token_claims_are_merged() {
    let sk = DevScalekit::start().await.expect("start");
    sk.misbehave(Misbehaviour::AccessTokenClaims(
        json!({"exp": 1, "roles": null}),
    ));
    let tokens = login(&sk, "usr_bob", None).await;
    let (_, access) = decode(tokens["access_token"].as_str().expect("at"));
    assert_eq!(access["exp"], 1);
    assert!(access.get("roles").is_none());
    let (_, id) = decode(tokens["id_token"].as_str().expect("id"));
    assert_ne!(id["exp"], 1, "the ID token is untouched");
}

#[tokio::test]
async fn faults_apply_to_refreshes_too() {
    let sk = DevScalekit::start().await.expect("start");
    let rt = sk.issue_refresh_token_for("usr_bob", "org_globex");
    sk.misbehave(Misbehaviour::IdTokenClaims(json!({"sub": "usr_mallory"})));
    let (status, body) = refresh(&sk, &rt).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode(body["id_token"].as_str().expect("id")).1["sub"],
        "usr_mallory"
    );
}
