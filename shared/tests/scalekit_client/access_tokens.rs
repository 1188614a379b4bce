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
