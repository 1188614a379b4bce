//! Signing keys: fetching, caching, refetching on rotation, and outages of the keys endpoint.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use scalekit_dev::{Endpoint, Misbehaviour};
use serde_json::{json, Value};
use shared::crypto::{b64url, random_token};
use shared::scalekit::{IdpError, ScalekitClient, ScalekitSettings, TokenError};

use crate::support::{
    client_for, client_with, http_response, id_claims, patched, sign, start, stub, verify_id,
};

#[tokio::test]
async fn a_token_signed_with_a_rotated_key_verifies_after_exactly_one_refetch() {
    let idp = start().await;
    let client = client_for(&idp);
    let old = sign(&idp, id_claims(&idp));
    verify_id(&client, &old).await.expect("old key verifies");
    assert_eq!(idp.requests(Endpoint::Keys), 1);

    let old_kid = idp.current_kid();
    idp.rotate_signing_key();
    assert_ne!(idp.current_kid(), old_kid);
    let new = sign(&idp, id_claims(&idp));
    verify_id(&client, &new)
        .await
        .expect("the unknown kid triggers a refetch that finds the new key");
    assert_eq!(idp.requests(Endpoint::Keys), 2);

    // Both keys are now cached: neither token causes another fetch.
    verify_id(&client, &old)
        .await
        .expect("old key still published");
    verify_id(&client, &new).await.expect("new key cached");
    assert_eq!(idp.requests(Endpoint::Keys), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_within_the_refetch_interval_causes_at_most_one_extra_fetch() {
    let idp = start().await;
    let client = Arc::new(client_with(&idp, |s| {
        s.keys_min_refetch_interval = Duration::from_secs(600);
    }));
    verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .expect("baseline verifies");
    assert_eq!(idp.requests(Endpoint::Keys), 1);

    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let token = idp.sign_jwt(
            json!({"alg": "RS256", "kid": format!("snk_{}", random_token(9)), "typ": "JWT"}),
            id_claims(&idp),
        );
        let client = Arc::clone(&client);
        flood.spawn(async move { verify_id(&client, &token).await.map(|_| ()) });
    }
    for _ in 0..10 {
        let token = idp.sign_jwt(
            json!({"alg": "RS256", "kid": format!("snk_{}", random_token(9)), "typ": "JWT"}),
            id_claims(&idp),
        );
        assert_eq!(
            verify_id(&client, &token).await.unwrap_err().to_string(),
            TokenError::UnknownKey.to_string()
        );
    }
    while let Some(result) = flood.join_next().await {
        assert_eq!(
            result.expect("task").map(drop).map_err(|e| e.to_string()),
            Err(TokenError::UnknownKey.to_string())
        );
    }
    assert!(
        idp.requests(Endpoint::Keys) <= 2,
        "{} fetches of /keys",
        idp.requests(Endpoint::Keys)
    );
}

#[tokio::test]
async fn a_rotation_after_the_refetch_interval_is_picked_up_again() {
    let idp = start().await;
    let client = client_with(&idp, |s| {
        s.keys_min_refetch_interval = Duration::from_millis(200);
    });
    let bogus = idp.sign_jwt(
        json!({"alg": "RS256", "kid": "snk_made_up", "typ": "JWT"}),
        id_claims(&idp),
    );
    assert_eq!(
        verify_id(&client, &bogus).await.unwrap_err().to_string(),
        TokenError::UnknownKey.to_string()
    );
    verify_id(&client, &bogus).await.unwrap_err();
    let fetched = idp.requests(Endpoint::Keys);
    assert!(fetched <= 2, "{fetched}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    idp.rotate_signing_key();
    verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .expect("once the interval has passed an unknown kid refetches again");
    assert_eq!(idp.requests(Endpoint::Keys), fetched + 1);
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_when_exactly_one_key_is_published() {
    let idp = start().await;
    idp.rotate_signing_key();
    idp.retire_old_keys();
    let client = client_for(&idp);
    let token = idp.sign_jwt(json!({"alg": "RS256", "typ": "JWT"}), id_claims(&idp));
    verify_id(&client, &token)
        .await
        .expect("the only published key is used");
}

#[tokio::test]
async fn a_token_without_kid_is_rejected_as_ambiguous_when_several_keys_are_published() {
    let idp = start().await;
    idp.rotate_signing_key();
    let client = client_for(&idp);
    verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .expect("the same token with its kid verifies");
    let token = idp.sign_jwt(json!({"alg": "RS256", "typ": "JWT"}), id_claims(&idp));
    assert_eq!(
        verify_id(&client, &token).await.unwrap_err().to_string(),
        TokenError::AmbiguousKey.to_string()
    );
}

#[tokio::test]
async fn keys_endpoint_down_with_nothing_cached_fails_with_keys_unavailable() {
    let idp = start().await;
    idp.misbehave(Misbehaviour::KeysDown);
    let client = client_for(&idp);
    let error = verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TokenError::KeysUnavailable(IdpError::Status { status: 503 })
        ),
        "{error:?}"
    );
    let prefetched = client.prefetch_keys().await;
    assert!(
        matches!(
            prefetched,
            Err(TokenError::KeysUnavailable(IdpError::Status {
                status: 503
            }))
        ),
        "{prefetched:?}"
    );
}

#[tokio::test]
async fn a_key_set_that_never_ends_is_refused_as_too_large_not_read_until_the_timeout() {
    let idp = start().await;
    idp.misbehave(Misbehaviour::KeysEndlessBody);
    let client = client_with(&idp, |s| s.request_timeout = Duration::from_secs(2));
    let error = client.prefetch_keys().await.unwrap_err();
    assert!(
        matches!(
            error,
            TokenError::KeysUnavailable(IdpError::TooLarge { .. })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn keys_endpoint_down_with_stale_cached_keys_still_verifies_with_the_cached_keys() {
    let idp = start().await;
    let client = client_with(&idp, |s| s.keys_ttl = Duration::from_millis(1));
    let token = sign(&idp, id_claims(&idp));
    verify_id(&client, &token).await.expect("keys fetched");
    assert_eq!(idp.requests(Endpoint::Keys), 1);

    tokio::time::sleep(Duration::from_millis(20)).await;
    idp.misbehave(Misbehaviour::KeysDown);
    verify_id(&client, &token)
        .await
        .expect("stale keys are used while the keys endpoint is down");
    assert_eq!(
        idp.requests(Endpoint::Keys),
        2,
        "the stale set was refetched"
    );
    verify_id(&client, &token)
        .await
        .expect("still verifies during the outage");
    assert_eq!(
        idp.requests(Endpoint::Keys),
        2,
        "after a failed refresh, stale keys are used without retrying for a while"
    );
}

#[tokio::test]
async fn unusable_jwks_in_the_set_are_skipped_not_fatal_nor_matched_by_kid() {
    // The dev server only publishes good keys, so a stub serves its real key behind unusable
    // entries that claim the same kid (and carry another valid RSA modulus): accepting any of
    // them would pick it first and fail the signature.
    let idp = start().await;
    idp.rotate_signing_key();
    let kid = idp.current_kid();
    let body = reqwest::get(format!("{}/keys", idp.url()))
        .await
        .expect("keys")
        .bytes()
        .await
        .expect("keys body");
    let published: Value = serde_json::from_slice(&body).expect("keys JSON");
    let keys = published["keys"].as_array().expect("keys array");
    let (old, current) = (&keys[0], &keys[1]);
    assert_eq!(current["kid"], json!(kid));
    let impostor = |patch: Value| {
        patched(
            json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": old["n"], "e": old["e"]}),
            patch,
        )
    };
    let set = json!({"keys": [
        impostor(json!({"kty": "EC", "crv": "P-256"})),
        impostor(json!({"kty": null})),
        impostor(json!({"use": "enc"})),
        impostor(json!({"alg": "RS384"})),
        impostor(json!({"n": b64url([0xC5u8; 128])})),
        impostor(json!({"n": "not base64url!"})),
        impostor(json!({"e": null})),
        42,
        "snk_text",
        current,
    ]})
    .to_string();
    let server = stub(move |_| http_response("200 OK", "Content-Type: application/json\r\n", &set));
    let client = ScalekitClient::new(ScalekitSettings {
        issuers: vec![idp.url()],
        ..ScalekitSettings::new(&server.url, idp.client_id())
    })
    .expect("client");
    verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .expect("the usable key is found behind the unusable ones");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}
