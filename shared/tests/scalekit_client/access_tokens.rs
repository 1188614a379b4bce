//! Access tokens: the claims they yield and the audience rules.

use serde_json::json;
use shared::redacted::AccessToken;
use shared::scalekit::{unix_now, TokenError};

use crate::support::{
    access_claims, assert_access_token_rejected, client_for, code_flow, patched, sign, start,
};

#[tokio::test]
async fn an_access_token_from_a_real_code_flow_yields_roles_permissions_and_scopes() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, _) = code_flow(&idp, &client, "usr_bob").await;
    let claims = client
        .verify_access_token(&tokens.access_token)
        .await
        .expect("the access token verifies");
    assert_eq!(claims.subject, "usr_bob");
    assert_eq!(claims.organization_id.as_deref(), Some("org_globex"));
    assert!(claims
        .session_id
        .as_deref()
        .is_some_and(|s| s.starts_with("ses_")));
    assert_eq!(claims.roles, ["admin"]);
    assert_eq!(
        claims.permissions,
        ["organization:read", "organization:write"]
    );
    assert_eq!(
        claims.scopes,
        ["openid", "profile", "email", "offline_access"]
    );
    assert!(claims.expires_at > unix_now());
}

#[tokio::test]
async fn an_access_token_with_a_scopes_array_yields_those_scopes() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = sign(
        &idp,
        patched(
            access_claims(&idp),
            json!({"scope": null, "scopes": ["read:users", "write:users"]}),
        ),
    );
    let claims = client
        .verify_access_token(&AccessToken::new(token))
        .await
        .expect("verifies");
    assert_eq!(claims.scopes, ["read:users", "write:users"]);
    assert_eq!(claims.roles, ["admin"]);
    assert_eq!(
        claims.permissions,
        ["organization:read", "organization:write"]
    );
    assert_eq!(claims.organization_id.as_deref(), Some("org_acme"));
    assert_eq!(claims.session_id.as_deref(), Some("ses_1"));
}

#[tokio::test]
async fn an_access_token_from_another_issuer_is_rejected() {
    assert_access_token_rejected(
        json!({"iss": "https://evil.scalekit.dev"}),
        TokenError::InvalidIssuer,
    )
    .await;
}

#[tokio::test]
async fn an_access_token_for_another_clients_audience_is_rejected_even_with_our_client_id() {
    assert_access_token_rejected(json!({"aud": ["skc_other"]}), TokenError::InvalidAudience).await;
}

#[tokio::test]
async fn an_access_token_without_aud_is_accepted_when_its_client_id_claim_is_ours() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = sign(&idp, patched(access_claims(&idp), json!({"aud": null})));
    let claims = client
        .verify_access_token(&AccessToken::new(token))
        .await
        .expect("client_id stands in for aud");
    assert_eq!(claims.subject, "usr_alice");
}

#[tokio::test]
async fn an_access_token_without_aud_for_another_client_id_is_rejected() {
    assert_access_token_rejected(
        json!({"aud": null, "client_id": "skc_other"}),
        TokenError::InvalidAudience,
    )
    .await;
}

/// A container remembers which access tokens' signatures it verified (the same token comes with
/// every request of its user), but every claim is checked on every use: a remembered token still
/// expires.
#[tokio::test]
async fn a_remembered_access_token_is_refused_once_it_expires() {
    use shared::scalekit::LEEWAY_SECS;
    let idp = start().await;
    let client = client_for(&idp);
    // Valid for about two more seconds (its expiry plus the clock-skew leeway).
    let exp = unix_now() - LEEWAY_SECS + 2;
    let token = AccessToken::new(sign(
        &idp,
        patched(access_claims(&idp), json!({"exp": exp})),
    ));
    client.verify_access_token(&token).await.expect("valid now");
    client
        .verify_access_token(&token)
        .await
        .expect("still valid; remembered from here on");
    while unix_now() < exp + LEEWAY_SECS {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refused = client.verify_access_token(&token).await.err();
    assert!(matches!(refused, Some(TokenError::Expired)), "{refused:?}");
}

/// What is remembered is the whole token: the claims of a verified token under its signature are
/// another token, verified afresh and refused.
#[tokio::test]
async fn an_edited_copy_of_a_remembered_access_token_is_verified_afresh_and_refused() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = sign(&idp, access_claims(&idp));
    let claims = client
        .verify_access_token(&AccessToken::new(token.clone()))
        .await
        .expect("valid");
    assert_eq!(claims.roles, ["admin"]);
    let [header, _, signature] = token.split('.').collect::<Vec<_>>()[..] else {
        panic!("a JWT has three parts");
    };
    let elevated = patched(access_claims(&idp), json!({"sub": "usr_mallory"}));
    let payload = shared::crypto::b64url(elevated.to_string().as_bytes());
    let edited = AccessToken::new(format!("{header}.{payload}.{signature}"));
    let refused = client.verify_access_token(&edited).await.err();
    assert!(
        matches!(refused, Some(TokenError::BadSignature)),
        "{refused:?}"
    );
}

/// Remembering a verification does not outlive the key: once a refetched key set no longer holds
/// the token's key, the token is refused, as it would be without the memory.
#[tokio::test]
async fn a_remembered_access_token_is_refused_once_its_key_is_withdrawn() {
    let idp = start().await;
    let client = client_for(&idp);
    let old = AccessToken::new(sign(&idp, access_claims(&idp)));
    client.verify_access_token(&old).await.expect("valid");
    client
        .verify_access_token(&old)
        .await
        .expect("valid; remembered from here on");

    idp.rotate_signing_key();
    idp.retire_old_keys();
    let new = AccessToken::new(sign(&idp, access_claims(&idp)));
    client
        .verify_access_token(&new)
        .await
        .expect("its unknown kid refetches the key set");
    let refused = client.verify_access_token(&old).await.err();
    assert!(
        matches!(refused, Some(TokenError::UnknownKey)),
        "{refused:?}"
    );
}
