//! The token endpoint: code exchange, refresh, and every way an answer can fail.

use std::sync::atomic::Ordering;
use std::time::Duration;

use scalekit_dev::Misbehaviour;
use serde_json::json;
use shared::redacted::{AuthorizationCode, ClientSecret, IdToken, Nonce, RefreshToken};
use shared::scalekit::{
    AuthorizationSecrets, IdpError, OAuthError, ScalekitClient, ScalekitSettings, TokenError,
};

use crate::support::{
    client_for, client_with, code_flow, http_response, id_claims, patched, secret, sign, start,
    stub, REDIRECT_URI,
};

#[tokio::test]
async fn a_real_sign_in_exchanges_its_code_for_tokens_whose_id_token_verifies_with_the_nonce() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, tx) = code_flow(&idp, &client, "usr_bob").await;
    assert_eq!(tokens.access_token.secret().split('.').count(), 3);
    assert!(tokens
        .refresh_token
        .as_ref()
        .is_some_and(|t| !t.secret().is_empty()));
    assert_eq!(tokens.expires_in, 299);
    let id_token = &tokens.id_token;
    let claims = client
        .verify_id_token(id_token, Some(&tx.nonce))
        .await
        .expect("the ID token verifies with the login's nonce");
    let user = &claims.user;
    assert_eq!(user.id, "usr_bob");
    assert_eq!(user.email.as_deref(), Some("bob@globex.test"));
    assert_eq!(user.email_verified, Some(true));
    assert_eq!(user.name.as_deref(), Some("Bob Brown"));
    assert_eq!(user.organization_id.as_deref(), Some("org_globex"));
    assert_eq!(user.connection_id.as_deref(), Some("conn_dev_org_globex"));
    assert!(user
        .session_id
        .as_deref()
        .is_some_and(|s| s.starts_with("ses_")));
    assert_eq!(
        client
            .verify_id_token(id_token, Some(&Nonce::new("another-login")))
            .await
            .unwrap_err()
            .to_string(),
        TokenError::NonceMismatch.to_string()
    );
}

#[tokio::test]
async fn a_refresh_returns_a_new_refresh_token_an_id_token_and_expires_in() {
    let idp = start().await;
    let client = client_for(&idp);
    let first = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let tokens = client
        .refresh(&secret(&idp), &first)
        .await
        .expect("refresh succeeds");
    let second = tokens
        .refresh_token
        .as_ref()
        .expect("a rotated refresh token");
    assert_ne!(second, &first);
    assert_eq!(tokens.expires_in, 299);
    let claims = client
        .verify_refreshed_id_token(tokens.id_token.as_ref().expect("an ID token"), "usr_bob")
        .await
        .expect("the refreshed ID token belongs to the same user");
    assert_eq!(claims.user.organization_id.as_deref(), Some("org_globex"));
    client
        .verify_access_token(&tokens.access_token)
        .await
        .expect("the new access token verifies");

    // The rotated token works once too.
    client
        .refresh(&secret(&idp), second)
        .await
        .expect("the new refresh token works");
}

#[tokio::test]
async fn a_used_refresh_token_gets_invalid_grant() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    client
        .refresh(&secret(&idp), &token)
        .await
        .expect("first use");
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert!(
        matches!(
            &error,
            IdpError::OAuth {
                status: 400,
                error: OAuthError::InvalidGrant,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.oauth_error(), Some(&OAuthError::InvalidGrant));
}

#[tokio::test]
async fn a_revoked_refresh_token_gets_invalid_grant() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    idp.revoke_refresh_tokens("usr_bob");
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert_eq!(
        error.oauth_error(),
        Some(&OAuthError::InvalidGrant),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_oauth_error_body_becomes_idp_error_oauth_with_status_error_and_description() {
    let idp = start().await;
    let client = client_for(&idp);
    idp.misbehave(Misbehaviour::TokenStatus(
        400,
        json!({"error": "invalid_grant", "error_description": "x"}),
    ));
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert!(
        matches!(
            &error,
            IdpError::OAuth { status: 400, error: OAuthError::InvalidGrant, description }
                if description.as_deref() == Some("x")
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_server_error_without_an_oauth_body_becomes_idp_error_status() {
    let idp = start().await;
    let client = client_for(&idp);
    idp.misbehave(Misbehaviour::TokenStatus(
        500,
        json!({"message": "internal error", "code": 13}),
    ));
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert!(
        matches!(error, IdpError::Status { status: 500 }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_token_response_that_is_not_json_is_an_invalid_response() {
    let idp = start().await;
    let client = client_for(&idp);
    idp.misbehave(Misbehaviour::TokenNotJson);
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert!(matches!(error, IdpError::InvalidResponse(_)), "{error:?}");
}

#[tokio::test]
async fn a_token_response_that_never_ends_is_refused_as_too_large_not_read_until_the_timeout() {
    let idp = start().await;
    let client = client_with(&idp, |s| s.request_timeout = Duration::from_secs(2));
    idp.misbehave(Misbehaviour::TokenEndlessBody);
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert!(matches!(error, IdpError::TooLarge { .. }), "{error:?}");
}

#[tokio::test]
async fn a_token_endpoint_slower_than_the_request_timeout_is_a_timeout() {
    let idp = start().await;
    let client = client_with(&idp, |s| s.request_timeout = Duration::from_millis(300));
    idp.misbehave(Misbehaviour::TokenDelay(Duration::from_secs(3)));
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let started = std::time::Instant::now();
    let error = client.refresh(&secret(&idp), &token).await.unwrap_err();
    assert!(matches!(error, IdpError::Timeout), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let client =
        ScalekitClient::new(ScalekitSettings::new("http://127.0.0.1:9", "skc_1")).expect("client");
    let error = client
        .refresh(&ClientSecret::new("s"), &RefreshToken::new("r"))
        .await
        .unwrap_err();
    assert!(matches!(error, IdpError::Unreachable(_)), "{error:?}");
}

#[tokio::test]
async fn a_wrong_client_secret_gets_invalid_client() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    let error = client
        .refresh(&ClientSecret::new("not-the-secret"), &token)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            IdpError::OAuth {
                status: 401,
                error: OAuthError::InvalidClient,
                ..
            }
        ),
        "{error:?}"
    );
}

/// A token response of exactly `len` bytes.
fn token_body_of(len: usize) -> String {
    let frame = r#"{"access_token":"","expires_in":60}"#;
    frame.replace(
        r#""access_token":"""#,
        &format!(r#""access_token":"{}""#, "a".repeat(len - frame.len())),
    )
}

#[tokio::test]
async fn a_token_response_is_read_up_to_64_kib_and_refused_one_byte_past_it() {
    for (len, accepted) in [(64 * 1024, true), (64 * 1024 + 1, false)] {
        let body = token_body_of(len);
        assert_eq!(body.len(), len);
        let server =
            stub(move |_| http_response("200 OK", "Content-Type: application/json\r\n", &body));
        let client =
            ScalekitClient::new(ScalekitSettings::new(&server.url, "skc_1")).expect("client");
        let answer = client
            .refresh(&ClientSecret::new("s"), &RefreshToken::new("r"))
            .await;
        match answer {
            Ok(tokens) => assert!(accepted, "{len} bytes accepted: {tokens:?}"),
            Err(error) => assert!(
                !accepted && matches!(error, IdpError::TooLarge { limit: 65536 }),
                "{len} bytes: {error:?}"
            ),
        }
    }
}

#[tokio::test]
async fn a_code_exchange_answered_without_an_id_token_is_refused() {
    let server = stub(|_| {
        http_response(
            "200 OK",
            "Content-Type: application/json\r\n",
            r#"{"access_token":"a","refresh_token":"r","expires_in":60}"#,
        )
    });
    let client = ScalekitClient::new(ScalekitSettings::new(&server.url, "skc_1")).expect("client");
    let error = client
        .exchange_code(
            &ClientSecret::new("s"),
            &AuthorizationCode::new("c"),
            REDIRECT_URI,
            &AuthorizationSecrets::new_random().pkce_verifier,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            IdpError::InvalidResponse("no id_token in the code exchange")
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    // The dev server never redirects its token endpoint, so a stub does: following the 302
    // would reach a 200 with a usable token response.
    let server = stub(|path| {
        if path == "/oauth/token" {
            http_response("302 Found", "Location: /followed\r\n", "")
        } else {
            http_response(
                "200 OK",
                "Content-Type: application/json\r\n",
                r#"{"access_token":"followed","id_token":"followed","expires_in":60}"#,
            )
        }
    });
    let client = ScalekitClient::new(ScalekitSettings::new(&server.url, "skc_1")).expect("client");
    let error = client
        .refresh(&ClientSecret::new("s"), &RefreshToken::new("r"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, IdpError::Status { status: 302 }),
        "{error:?}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refreshed_id_token_for_another_subject_is_rejected() {
    let idp = start().await;
    let client = client_for(&idp);
    let claims = patched(id_claims(&idp), json!({"nonce": null}));
    client
        .verify_refreshed_id_token(&IdToken::new(sign(&idp, claims.clone())), "usr_alice")
        .await
        .expect("same subject verifies");
    let other = patched(claims, json!({"sub": "usr_mallory"}));
    assert_eq!(
        client
            .verify_refreshed_id_token(&IdToken::new(sign(&idp, other)), "usr_alice")
            .await
            .unwrap_err()
            .to_string(),
        TokenError::SubjectChanged.to_string()
    );
}
