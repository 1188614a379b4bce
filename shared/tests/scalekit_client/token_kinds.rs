//! Token kinds: each verification refuses the environment's other signed tokens.

use serde_json::json;
use shared::redacted::{AccessToken, IdToken};
use shared::scalekit::TokenError;

use crate::support::{
    assert_access_token_rejected, assert_idp_initiated_rejected, client_for, code_flow,
    idp_initiated_claims, patched, sign, start,
};

#[tokio::test]
async fn a_real_id_token_is_refused_where_an_access_token_is_expected() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, _) = code_flow(&idp, &client, "usr_bob").await;
    let id_token = tokens.id_token;
    assert_eq!(
        client
            .verify_access_token(&AccessToken::new(id_token.secret()))
            .await
            .unwrap_err()
            .to_string(),
        TokenError::WrongKind("an access token").to_string()
    );
}

#[tokio::test]
async fn an_access_token_carrying_an_id_token_claim_is_refused() {
    for claim in ["nonce", "at_hash", "c_hash"] {
        assert_access_token_rejected(
            json!({ claim: "x" }),
            TokenError::WrongKind("an access token"),
        )
        .await;
    }
}

#[tokio::test]
async fn an_access_token_without_jti_is_refused() {
    assert_access_token_rejected(json!({"jti": null}), TokenError::MissingClaim("jti")).await;
}

#[tokio::test]
async fn a_real_access_token_is_refused_where_an_id_token_is_expected() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, _) = code_flow(&idp, &client, "usr_bob").await;
    let as_id_token = IdToken::new(tokens.access_token.secret());
    assert_eq!(
        client
            .verify_refreshed_id_token(&as_id_token, "usr_bob")
            .await
            .unwrap_err()
            .to_string(),
        TokenError::WrongKind("an ID token").to_string()
    );
}

#[tokio::test]
async fn a_logout_token_is_refused_where_an_id_token_is_expected() {
    // A logout token has no nonce, like a refreshed ID token: only its `events` claim tells them
    // apart (OIDC Back-Channel Logout 1.0 section 2.4), whatever its header's `typ`.
    let idp = start().await;
    let client = client_for(&idp);
    for typ in [json!(null), json!("JWT")] {
        let logout_token =
            idp.mint_logout_token_with_header(json!({ "typ": typ }), json!({"sub": "usr_bob"}));
        assert_eq!(
            client
                .verify_refreshed_id_token(&IdToken::new(&logout_token), "usr_bob")
                .await
                .unwrap_err()
                .to_string(),
            TokenError::WrongKind("an ID token").to_string()
        );
    }
}

#[tokio::test]
async fn real_id_and_access_tokens_are_refused_as_idp_initiated_login_tokens() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, _) = code_flow(&idp, &client, "usr_bob").await;
    let id_token = tokens.id_token;
    for token in [id_token.secret(), tokens.access_token.secret()] {
        assert_eq!(
            client
                .verify_idp_initiated_login(token)
                .await
                .unwrap_err()
                .to_string(),
            TokenError::WrongKind("an IdP-initiated login token").to_string()
        );
    }
}

#[tokio::test]
async fn an_idp_initiated_login_token_with_sub_or_aud_or_naming_nothing_is_refused() {
    for patch in [
        json!({"sub": "usr_alice"}),
        json!({"aud": "skc_1"}),
        json!({"organization_id": null, "connection_id": null, "login_hint": null}),
    ] {
        assert_idp_initiated_rejected(
            |idp| sign(idp, patched(idp_initiated_claims(idp), patch)),
            TokenError::WrongKind("an IdP-initiated login token"),
        )
        .await;
    }
}
