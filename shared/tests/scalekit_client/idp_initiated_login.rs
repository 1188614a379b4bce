//! IdP-initiated login tokens: verified without `aud`, rejected when expired, unsigned or foreign.

use scalekit_dev::DevScalekit;
use serde_json::json;
use shared::scalekit::{unix_now, IdpInitiatedLogin, TokenError};

use crate::support::{
    assert_idp_initiated_rejected, client_for, idp_initiated_claims, patched, sign, start,
};

#[tokio::test]
async fn a_minted_idp_initiated_login_token_verifies_without_aud_and_returns_its_fields() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = idp.mint_idp_initiated_login(
        Some("org_acme"),
        Some("conn_dev_org_acme"),
        Some("alice@acme.test"),
        Some("/dashboard/reports"),
    );
    assert_eq!(
        client
            .verify_idp_initiated_login(&token)
            .await
            .expect("verifies"),
        IdpInitiatedLogin {
            organization_id: Some("org_acme".into()),
            connection_id: Some("conn_dev_org_acme".into()),
            login_hint: Some("alice@acme.test".into()),
            relay_state: Some("/dashboard/reports".into()),
        }
    );
}

#[tokio::test]
async fn an_expired_idp_initiated_login_token_is_rejected() {
    assert_idp_initiated_rejected(
        |idp| {
            let now = unix_now();
            sign(
                idp,
                patched(
                    idp_initiated_claims(idp),
                    json!({"iat": now - 600, "nbf": now - 600, "exp": now - 300}),
                ),
            )
        },
        TokenError::Expired,
    )
    .await;
}

#[tokio::test]
async fn an_idp_initiated_login_token_signed_with_hs256_is_rejected() {
    assert_idp_initiated_rejected(
        |idp| {
            idp.sign_jwt_hs256(
                json!({"alg": "HS256", "kid": idp.current_kid(), "typ": "JWT"}),
                idp_initiated_claims(idp),
                &idp.public_key_der(),
            )
        },
        TokenError::UnsupportedAlgorithm("HS256".into()),
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_idp_initiated_login_token_is_rejected() {
    assert_idp_initiated_rejected(
        |idp| DevScalekit::unsigned_jwt(idp_initiated_claims(idp)),
        TokenError::UnsupportedAlgorithm("none".into()),
    )
    .await;
}

#[tokio::test]
async fn an_idp_initiated_login_token_from_another_issuer_is_rejected() {
    assert_idp_initiated_rejected(
        |idp| {
            sign(
                idp,
                patched(
                    idp_initiated_claims(idp),
                    json!({"iss": "https://evil.scalekit.dev"}),
                ),
            )
        },
        TokenError::InvalidIssuer,
    )
    .await;
}
