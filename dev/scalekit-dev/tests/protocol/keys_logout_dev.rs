//! `/keys`, discovery, `/oidc/logout`, IdP-initiated login JWTs, the `/dev` pages and the JWT helpers.

use reqwest::StatusCode;
use scalekit_dev::{DevScalekit, Endpoint};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn keys_are_published_and_rotation_keeps_the_old_key_until_retired() {
    let sk = DevScalekit::start().await.expect("start");
    let keys = jwks(&sk).await;
    assert_eq!(keys.len(), 1);
    let old_kid = sk.current_kid();
    assert!(old_kid.starts_with("snk_"));
    assert_eq!(keys[0]["kid"], old_kid);
    assert_eq!(
        (&keys[0]["kty"], &keys[0]["alg"], &keys[0]["use"]),
        (&json!("RSA"), &json!("RS256"), &json!("sig"))
    );
    assert_eq!(keys[0]["e"], "AQAB");
    let old_token = login(&sk, "usr_bob", None).await["id_token"]
        .as_str()
        .expect("id")
        .to_owned();

    sk.rotate_signing_key();
    let new_kid = sk.current_kid();
    assert_ne!(new_kid, old_kid);
    let kids: Vec<_> = jwks(&sk).await.iter().map(|k| k["kid"].clone()).collect();
    assert_eq!(kids, vec![json!(old_kid), json!(new_kid)]);
    let new_token = login(&sk, "usr_bob", None).await["id_token"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(decode(&new_token).0["kid"], new_kid);
    assert!(verifies(&sk, &old_token).await && verifies(&sk, &new_token).await);

    sk.retire_old_keys();
    assert_eq!(jwks(&sk).await.len(), 1);
    assert!(!verifies(&sk, &old_token).await);
    assert!(verifies(&sk, &new_token).await);
    assert_eq!(sk.requests(Endpoint::Keys), 7);
}

#[tokio::test]
async fn discovery_describes_the_environment() {
    let sk = DevScalekit::start().await.expect("start");
    let doc = json_body(get(&format!("{}/.well-known/openid-configuration", sk.url())).await).await;
    let url = sk.url();
    assert_eq!(doc["issuer"], url);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{url}/oauth/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{url}/oauth/token"));
    assert_eq!(doc["jwks_uri"], format!("{url}/keys"));
    assert_eq!(doc["end_session_endpoint"], format!("{url}/oidc/logout"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post"])
    );
    assert_eq!(sk.requests(Endpoint::Discovery), 1);
    assert!(!url.ends_with('/'));
}

fn logout_url(sk: &DevScalekit, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/oidc/logout", sk.url())).expect("url");
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

#[tokio::test]
async fn logout_redirects_to_the_post_logout_uri_with_state() {
    let sk = DevScalekit::start().await.expect("start");
    let id_token = login(&sk, "usr_bob", None).await["id_token"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = get(&logout_url(
        &sk,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "http://app.test/?a=1"),
            ("state", "s 1"),
        ],
    ))
    .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with("http://app.test/?a=1&state="));
    assert_eq!(redirect_params(&response)["state"], "s 1");

    // An expired hint is still a good hint.
    let expired = sk.sign_jwt(
        json!({"alg": "RS256", "kid": sk.current_kid()}),
        json!({"sub": "usr_bob", "exp": 1}),
    );
    let response = get(&logout_url(
        &sk,
        &[
            ("id_token_hint", &expired),
            ("post_logout_redirect_uri", "https://app.test/bye"),
        ],
    ))
    .await;
    assert_eq!(location(&response), "https://app.test/bye");

    let response = get(&logout_url(&sk, &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.contains("You are signed out"));
    assert_eq!(sk.requests(Endpoint::Logout), 3);
}

#[tokio::test]
async fn logout_rejects_relative_uris_and_foreign_hints() {
    let sk = DevScalekit::start().await.expect("start");
    let other = DevScalekit::start().await.expect("other");
    let foreign = other.sign_jwt(
        json!({"alg": "RS256", "kid": other.current_kid()}),
        json!({}),
    );
    let hs = sk.sign_jwt_hs256(json!({"alg": "HS256"}), json!({}), &sk.public_key_der());
    for params in [
        &[("post_logout_redirect_uri", "/after")][..],
        &[("post_logout_redirect_uri", "javascript:alert(1)")],
        &[("id_token_hint", "garbage")],
        &[("id_token_hint", &foreign)],
        &[("id_token_hint", &hs)],
        &[(
            "id_token_hint",
            &DevScalekit::unsigned_jwt(json!({"sub": "x"})),
        )],
    ] {
        let response = get(&logout_url(&sk, params)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn idp_initiated_login_jwt_has_no_aud_and_lives_300_seconds() {
    let sk = DevScalekit::start().await.expect("start");
    let jwt = sk.mint_idp_initiated_login(
        Some("org_acme"),
        Some("conn_dev_org_acme"),
        Some("alice@acme.test"),
        Some("/dashboard"),
    );
    assert!(verifies(&sk, &jwt).await);
    let (header, claims) = decode(&jwt);
    assert_eq!(header["kid"], sk.current_kid());
    assert!(claims.get("aud").is_none());
    assert_eq!(claims["iss"], sk.url());
    assert_eq!(claims["organization_id"], "org_acme");
    assert_eq!(claims["connection_id"], "conn_dev_org_acme");
    assert_eq!(claims["login_hint"], "alice@acme.test");
    assert_eq!(claims["relay_state"], "/dashboard");
    assert_eq!(claims["nbf"], claims["iat"]);
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 300);

    let (_, claims) =
        decode(&sk.mint_idp_initiated_login(None, Some("conn_dev_org_acme"), None, None));
    assert!(claims.get("organization_id").is_none() && claims.get("relay_state").is_none());
}

#[tokio::test]
async fn the_dev_pages_mint_idp_initiated_links() {
    let sk = DevScalekit::start().await.expect("start");
    let index = text(get(&format!("{}/dev", sk.url())).await).await;
    assert!(index.contains("alice@acme.test") && index.contains("action=\"/dev/idp-initiated\""));

    let mut url = url::Url::parse(&format!("{}/dev/idp-initiated", sk.url())).expect("url");
    url.query_pairs_mut().extend_pairs([
        ("initiate_login_url", "http://app.test/api/login?x=1"),
        ("organization_id", "org_globex"),
        ("connection_id", ""),
        ("login_hint", "bob@globex.test"),
        ("go", "1"),
    ]);
    let response = get(url.as_str()).await;
    assert!(location(&response).starts_with("http://app.test/api/login?x=1&idp_initiated_login="));
    let jwt = redirect_params(&response)["idp_initiated_login"].clone();
    assert!(verifies(&sk, &jwt).await);
    let claims = decode(&jwt).1;
    assert_eq!(
        (&claims["organization_id"], &claims["login_hint"]),
        (&json!("org_globex"), &json!("bob@globex.test"))
    );
    assert!(claims.get("connection_id").is_none());

    let page = get(&format!(
        "{}/dev/idp-initiated?initiate_login_url=http%3A%2F%2Fapp.test%2Flogin",
        sk.url()
    ))
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(text(page)
        .await
        .contains("http://app.test/login?idp_initiated_login="));
    let bad = get(&format!(
        "{}/dev/idp-initiated?initiate_login_url=%2Flogin",
        sk.url()
    ))
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sign_jwt_uses_the_header_as_given() {
    let sk = DevScalekit::start().await.expect("start");
    let jwt = sk.sign_jwt(json!({"alg": "RS256"}), json!({"sub": "usr_x"}));
    assert_eq!(
        decode(&jwt),
        (json!({"alg": "RS256"}), json!({"sub": "usr_x"}))
    );
    let with_kid = sk.sign_jwt(json!({"alg": "RS256", "kid": sk.current_kid()}), json!({}));
    assert!(verifies(&sk, &with_kid).await);

    let unsigned = DevScalekit::unsigned_jwt(json!({"sub": "usr_x"}));
    assert_eq!(decode(&unsigned).0["alg"], "none");
    assert!(unsigned.ends_with('.'));
}

#[tokio::test]
async fn the_demo_users_match_the_documented_directory() {
    let users = DevScalekit::users();
    let alice = users.iter().find(|u| u.id == "usr_alice").expect("alice");
    assert_eq!(alice.email, "alice@acme.test");
    assert_eq!(
        alice.memberships,
        &[
            ("org_acme", "Acme Corp", "admin"),
            ("org_globex", "Globex", "member")
        ]
    );
    let bob = users.iter().find(|u| u.id == "usr_bob").expect("bob");
    assert_eq!(bob.memberships, &[("org_globex", "Globex", "admin")]);
    let carol = users.iter().find(|u| u.id == "usr_carol").expect("carol");
    assert_eq!(carol.memberships, &[("org_acme", "Acme Corp", "member")]);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let sk = DevScalekit::start().await.expect("start");
    let url = format!("{}/keys", sk.url());
    assert_eq!(get(&url).await.status(), StatusCode::OK);
    drop(sk);
    tokio::task::yield_now().await;
    // A new connection is refused once the listener is gone.
    let result = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .get(&url)
        .send()
        .await;
    assert!(result.is_err());
}
