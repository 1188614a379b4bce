//! ID tokens: signature, algorithm, and each claim the verification checks.

use scalekit_dev::DevScalekit;
use serde_json::json;
use shared::crypto::b64url;
use shared::scalekit::{unix_now, TokenError, User, LEEWAY_SECS};

use crate::support::{
    assert_id_claims_rejected, assert_id_token_rejected, client_for, flip_signature_byte,
    id_claims, patched, sign, start, verify_id,
};

#[tokio::test]
async fn a_valid_rs256_id_token_is_accepted_and_mapped_to_the_node_sdk_user() {
    let idp = start().await;
    let client = client_for(&idp);
    let claims = patched(
        id_claims(&idp),
        json!({
            "azp": idp.client_id(),
            "email": "alice@acme.test",
            "email_verified": true,
            "name": "Alice Anderson",
            "given_name": "Alice",
            "family_name": "Anderson",
            "preferred_username": "alice",
            "picture": "https://img.example/alice.png",
            "locale": "en-GB",
            "phone_number": "+441234567890",
            "phone_number_verified": false,
            "zoneinfo": "Europe/London",
            "oid": "org_acme",
            "amr": ["conn_dev_org_acme", "conn_other"],
            "sid": "ses_123",
        }),
    );
    let exp = claims["exp"].as_i64().unwrap();
    let verified = verify_id(&client, &sign(&idp, claims))
        .await
        .expect("a valid ID token verifies");
    assert_eq!(
        verified.user,
        User {
            id: "usr_alice".into(),
            email: Some("alice@acme.test".into()),
            email_verified: Some(true),
            name: Some("Alice Anderson".into()),
            given_name: Some("Alice".into()),
            family_name: Some("Anderson".into()),
            username: Some("alice".into()),
            picture: Some("https://img.example/alice.png".into()),
            locale: Some("en-GB".into()),
            phone_number: Some("+441234567890".into()),
            phone_number_verified: Some(false),
            zone_info: Some("Europe/London".into()),
            organization_id: Some("org_acme".into()),
            connection_id: Some("conn_dev_org_acme".into()),
            session_id: Some("ses_123".into()),
        }
    );
    assert_eq!(verified.issuer, idp.url());
    assert_eq!(verified.expires_at, exp);
    assert_eq!(
        serde_json::to_value(&verified.user).unwrap(),
        json!({
            "id": "usr_alice", "email": "alice@acme.test", "emailVerified": true,
            "name": "Alice Anderson", "givenName": "Alice", "familyName": "Anderson",
            "username": "alice", "picture": "https://img.example/alice.png", "locale": "en-GB",
            "phoneNumber": "+441234567890", "phoneNumberVerified": false,
            "zoneInfo": "Europe/London", "organizationId": "org_acme",
            "connectionId": "conn_dev_org_acme", "sessionId": "ses_123",
        })
    );
}

#[tokio::test]
async fn an_id_token_with_one_flipped_signature_byte_is_rejected() {
    assert_id_token_rejected(
        |idp| flip_signature_byte(&sign(idp, id_claims(idp))),
        TokenError::BadSignature,
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_alg_none_id_token_is_rejected() {
    assert_id_token_rejected(
        |idp| DevScalekit::unsigned_jwt(id_claims(idp)),
        TokenError::UnsupportedAlgorithm("none".into()),
    )
    .await;
}

#[tokio::test]
async fn an_hs256_id_token_keyed_with_the_public_key_is_rejected() {
    assert_id_token_rejected(
        |idp| {
            idp.sign_jwt_hs256(
                json!({"alg": "HS256", "kid": idp.current_kid(), "typ": "JWT"}),
                id_claims(idp),
                &idp.public_key_der(),
            )
        },
        TokenError::UnsupportedAlgorithm("HS256".into()),
    )
    .await;
}

#[tokio::test]
async fn an_rs256_signature_under_an_rs512_or_es256_header_is_rejected() {
    for alg in ["RS512", "ES256"] {
        assert_id_token_rejected(
            |idp| {
                idp.sign_jwt(
                    json!({"alg": alg, "kid": idp.current_kid(), "typ": "JWT"}),
                    id_claims(idp),
                )
            },
            TokenError::UnsupportedAlgorithm(alg.into()),
        )
        .await;
    }
}

#[tokio::test]
async fn an_id_token_with_a_crit_header_is_rejected() {
    assert_id_token_rejected(
        |idp| {
            idp.sign_jwt(
                json!({"alg": "RS256", "kid": idp.current_kid(), "typ": "JWT", "crit": ["exp"]}),
                id_claims(idp),
            )
        },
        TokenError::Malformed("critical header extensions are not supported"),
    )
    .await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_rejected() {
    assert_id_claims_rejected(
        |_| json!({"iss": "https://evil.scalekit.dev"}),
        TokenError::InvalidIssuer,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_whose_issuer_has_a_trailing_slash_is_rejected() {
    assert_id_claims_rejected(
        |idp| json!({"iss": format!("{}/", idp.url())}),
        TokenError::InvalidIssuer,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_rejected_as_a_string_or_an_array() {
    assert_id_claims_rejected(|_| json!({"aud": "skc_other"}), TokenError::InvalidAudience).await;
    assert_id_claims_rejected(
        |_| json!({"aud": ["skc_other", "api://ours"]}),
        TokenError::InvalidAudience,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_that_also_names_an_audience_we_do_not_trust_is_rejected() {
    // OIDC Core 3.1.3.7: "reject ... if it contains additional audiences not trusted by the Client".
    assert_id_claims_rejected(
        |idp| json!({"aud": [idp.client_id(), "skc_other"], "azp": idp.client_id()}),
        TokenError::InvalidAudience,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_with_several_audiences_and_no_azp_is_rejected() {
    assert_id_claims_rejected(
        |idp| json!({"aud": [idp.client_id(), idp.client_id()], "azp": null}),
        TokenError::MissingClaim("azp"),
    )
    .await;
}

#[tokio::test]
async fn an_id_token_whose_audience_is_our_client_id_as_a_string_is_accepted() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = sign(
        &idp,
        patched(id_claims(&idp), json!({"aud": idp.client_id()})),
    );
    verify_id(&client, &token)
        .await
        .expect("aud as a string is valid");
}

#[tokio::test]
async fn an_id_token_without_aud_is_rejected() {
    assert_id_claims_rejected(|_| json!({"aud": null}), TokenError::InvalidAudience).await;
}

#[tokio::test]
async fn an_id_token_authorized_for_another_party_is_rejected() {
    assert_id_claims_rejected(
        |_| json!({"azp": "skc_other"}),
        TokenError::InvalidAuthorizedParty,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_expired_beyond_the_leeway_is_rejected() {
    assert_id_claims_rejected(
        |_| json!({"exp": unix_now() - LEEWAY_SECS - 60}),
        TokenError::Expired,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_expired_within_the_leeway_is_accepted() {
    let idp = start().await;
    let client = client_for(&idp);
    let token = sign(
        &idp,
        patched(
            id_claims(&idp),
            json!({"exp": unix_now() - LEEWAY_SECS / 2}),
        ),
    );
    verify_id(&client, &token)
        .await
        .expect("clock skew within the leeway is tolerated");
}

#[tokio::test]
async fn an_id_token_without_exp_is_rejected() {
    assert_id_claims_rejected(|_| json!({"exp": null}), TokenError::MissingClaim("exp")).await;
}

#[tokio::test]
async fn an_id_token_without_iat_is_rejected() {
    assert_id_claims_rejected(|_| json!({"iat": null}), TokenError::MissingClaim("iat")).await;
}

#[tokio::test]
async fn an_id_token_issued_in_the_future_is_rejected() {
    assert_id_claims_rejected(
        |_| json!({"iat": unix_now() + LEEWAY_SECS + 90}),
        TokenError::IssuedInFuture,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_not_valid_before_a_future_time_is_rejected() {
    assert_id_claims_rejected(
        |_| json!({"nbf": unix_now() + LEEWAY_SECS + 90}),
        TokenError::NotYetValid,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_without_sub_is_rejected() {
    assert_id_claims_rejected(|_| json!({"sub": null}), TokenError::MissingClaim("sub")).await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_rejected() {
    assert_id_claims_rejected(
        |_| json!({"nonce": "n-from-another-login"}),
        TokenError::NonceMismatch,
    )
    .await;
}

#[tokio::test]
async fn an_id_token_without_nonce_is_rejected_when_one_was_sent() {
    assert_id_claims_rejected(|_| json!({"nonce": null}), TokenError::NonceMismatch).await;
}

#[tokio::test]
async fn an_id_token_larger_than_16_kib_is_rejected_before_parsing() {
    assert_id_claims_rejected(
        |_| json!({"padding": "x".repeat(16 * 1024)}),
        TokenError::Malformed("token too large"),
    )
    .await;
}

#[tokio::test]
async fn strings_that_are_not_three_part_compact_jws_are_rejected() {
    let idp = start().await;
    let client = client_for(&idp);
    let valid = sign(&idp, id_claims(&idp));
    verify_id(&client, &valid)
        .await
        .expect("the baseline ID token verifies");
    let (header_and_payload, signature) = valid.rsplit_once('.').unwrap();
    let cases = [
        String::new(),
        "garbage".to_owned(),
        header_and_payload.to_owned(),
        format!("{valid}.{signature}"),
        format!("{valid}."),
    ];
    for token in cases {
        assert_eq!(
            verify_id(&client, &token).await.unwrap_err().to_string(),
            TokenError::Malformed("not a compact JWS").to_string(),
            "{token:.40}"
        );
    }
    let payload = header_and_payload.split_once('.').unwrap().1;
    assert_eq!(
        verify_id(&client, &format!("%%%.{payload}.{signature}"))
            .await
            .unwrap_err()
            .to_string(),
        TokenError::Malformed("header is not base64url").to_string()
    );
    assert_eq!(
        verify_id(&client, &format!("{}.{payload}.{signature}", b64url("[1]")))
            .await
            .unwrap_err()
            .to_string(),
        TokenError::Malformed("header is not a JSON object").to_string()
    );
}
