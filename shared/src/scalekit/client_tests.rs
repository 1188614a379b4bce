//! The client against a live dev Scalekit server on 127.0.0.1.
//!
//! Every rejection test first shows that the unmodified baseline token verifies with the same
//! client, then changes exactly one thing, so each one fails if the check it covers is removed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use scalekit_dev::{DevScalekit, Endpoint, Misbehaviour};
use serde_json::{json, Value};

use super::*;
use crate::crypto::{b64url, b64url_decode, random_token};

const NONCE: &str = "n-0S6_WzA2Mj";
const REDIRECT_URI: &str = "http://127.0.0.1:3000/api/callback";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn start() -> DevScalekit {
    DevScalekit::start().await.expect("dev Scalekit starts")
}

fn client_for(idp: &DevScalekit) -> ScalekitClient {
    client_with(idp, |_| {})
}

fn client_with(idp: &DevScalekit, adjust: impl FnOnce(&mut ScalekitSettings)) -> ScalekitClient {
    let mut settings = ScalekitSettings::new(&idp.url(), idp.client_id());
    adjust(&mut settings);
    ScalekitClient::new(settings).expect("client builds")
}

fn secret(idp: &DevScalekit) -> ClientSecret {
    ClientSecret::new(idp.client_secret())
}

fn rs256_header(idp: &DevScalekit) -> Value {
    json!({"alg": "RS256", "kid": idp.current_kid(), "typ": "JWT"})
}

/// A valid ID token's claims: each test changes one of them.
fn id_claims(idp: &DevScalekit) -> Value {
    let now = unix_now();
    json!({
        "iss": idp.url(),
        "aud": [idp.client_id()],
        "sub": "usr_alice",
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
    })
}

/// A valid access token's claims, shaped like Scalekit's.
fn access_claims(idp: &DevScalekit) -> Value {
    let now = unix_now();
    json!({
        "iss": idp.url(),
        "aud": [idp.client_id()],
        "client_id": idp.client_id(),
        "sub": "usr_alice",
        "oid": "org_acme",
        "sid": "ses_1",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": "tkn_1",
        "roles": ["admin"],
        "permissions": ["organization:read", "organization:write"],
        "scope": "openid profile email offline_access",
    })
}

/// A valid `idp_initiated_login` token's claims (no `aud`, as Scalekit sends it).
fn idp_initiated_claims(idp: &DevScalekit) -> Value {
    let now = unix_now();
    json!({
        "iss": idp.url(),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "organization_id": "org_acme",
        "connection_id": "conn_dev_org_acme",
        "login_hint": "alice@acme.test",
    })
}

/// `base` with `patch` merged in; a JSON `null` removes the claim.
fn patched(mut base: Value, patch: Value) -> Value {
    let (Value::Object(target), Value::Object(patch)) = (&mut base, patch) else {
        panic!("claims and patch must be objects");
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(&name);
        } else {
            target.insert(name, value);
        }
    }
    base
}

fn sign(idp: &DevScalekit, claims: Value) -> String {
    idp.sign_jwt(rs256_header(idp), claims)
}

async fn verify_id(client: &ScalekitClient, token: &str) -> Result<IdTokenClaims, TokenError> {
    client
        .verify_id_token(&IdToken::new(token), Some(&Nonce::new(NONCE)))
        .await
}

/// Starts a server, checks the baseline ID token verifies, then that `make`'s token is rejected
/// with exactly `expected`.
async fn assert_id_token_rejected(make: impl FnOnce(&DevScalekit) -> String, expected: TokenError) {
    let idp = start().await;
    let client = client_for(&idp);
    let baseline = sign(&idp, id_claims(&idp));
    verify_id(&client, &baseline)
        .await
        .expect("the baseline ID token verifies");
    let token = make(&idp);
    assert_eq!(verify_id(&client, &token).await.unwrap_err(), expected);
}

/// As [`assert_id_token_rejected`] for a token that differs from the baseline in one claim.
async fn assert_id_claims_rejected(
    patch: impl FnOnce(&DevScalekit) -> Value,
    expected: TokenError,
) {
    assert_id_token_rejected(
        |idp| sign(idp, patched(id_claims(idp), patch(idp))),
        expected,
    )
    .await;
}

/// Flips one bit in the middle of the signature, keeping valid base64url.
fn flip_signature_byte(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').expect("three parts");
    let mut bytes = b64url_decode(signature).expect("base64url signature");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    format!("{input}.{}", b64url(bytes))
}

/// Signs in `user` through the dev server's authorize page and sign-in form, like a browser,
/// and exchanges the code. Returns the tokens and the login transaction they belong to.
async fn code_flow(
    idp: &DevScalekit,
    client: &ScalekitClient,
    user: &str,
) -> (CodeTokens, AuthorizationSecrets) {
    let tx = AuthorizationSecrets::new_random();
    let challenge = pkce_challenge(&tx.pkce_verifier);
    let url = client.authorization_url(
        REDIRECT_URI,
        &AuthorizationRequest {
            state: Some(tx.state.secret()),
            nonce: Some(tx.nonce.secret()),
            code_challenge: Some(&challenge),
            ..Default::default()
        },
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser client");
    let page = browser
        .get(&url)
        .send()
        .await
        .expect("authorize answers")
        .text()
        .await
        .expect("authorize page");
    let marker = "name=\"pending\" value=\"";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no form in {page}"))
        + marker.len();
    let pending = &page[start..start + page[start..].find('"').expect("closing quote")];
    let response = browser
        .post(format!("{}/dev/sign-in", idp.url()))
        .form(&[("pending", pending), ("user", user)])
        .send()
        .await
        .expect("sign-in answers");
    assert_eq!(response.status(), 302, "sign-in redirects back");
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii location");
    let location = url::Url::parse(location).expect("absolute location");
    let param = |name| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(tx.state.secret()));
    let code = param("code").unwrap_or_else(|| panic!("no code in {location}"));
    let tokens = client
        .exchange_code(
            &secret(idp),
            &AuthorizationCode::new(code),
            REDIRECT_URI,
            &tx.pkce_verifier,
        )
        .await
        .expect("code exchange succeeds");
    (tokens, tx)
}

/// A minimal HTTP/1.1 server for what the dev server cannot do: answers each request with
/// `respond(path)` (a complete HTTP response) and counts requests.
struct Stub {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn stub(respond: impl Fn(&str) -> String + Send + 'static) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").expect("stub binds");
    let url = format!("http://{}", listener.local_addr().expect("stub address"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let Ok(read_half) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read_half);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
            let mut content_length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; content_length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(respond(&path).as_bytes());
        }
    });
    Stub { url, hits }
}

fn http_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

// ---------------------------------------------------------------------------------------------
// 1. ID tokens
// ---------------------------------------------------------------------------------------------

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
            verify_id(&client, &token).await.unwrap_err(),
            TokenError::Malformed("not a compact JWS"),
            "{token:.40}"
        );
    }
    let payload = header_and_payload.split_once('.').unwrap().1;
    assert_eq!(
        verify_id(&client, &format!("%%%.{payload}.{signature}"))
            .await
            .unwrap_err(),
        TokenError::Malformed("header is not base64url")
    );
    assert_eq!(
        verify_id(&client, &format!("{}.{payload}.{signature}", b64url("[1]")))
            .await
            .unwrap_err(),
        TokenError::Malformed("header is not a JSON object")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Signing keys
// ---------------------------------------------------------------------------------------------

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
            verify_id(&client, &token).await.unwrap_err(),
            TokenError::UnknownKey
        );
    }
    while let Some(result) = flood.join_next().await {
        assert_eq!(result.expect("task"), Err(TokenError::UnknownKey));
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
        verify_id(&client, &bogus).await.unwrap_err(),
        TokenError::UnknownKey
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
        verify_id(&client, &token).await.unwrap_err(),
        TokenError::AmbiguousKey
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
    assert_eq!(
        error,
        TokenError::KeysUnavailable(IdpError::Status { status: 503 })
    );
    assert_eq!(
        client.prefetch_keys().await,
        Err(TokenError::KeysUnavailable(IdpError::Status {
            status: 503
        }))
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
        issuer: Some(idp.url()),
        ..ScalekitSettings::new(&server.url, idp.client_id())
    })
    .expect("client");
    verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .expect("the usable key is found behind the unusable ones");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Access tokens
// ---------------------------------------------------------------------------------------------

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

async fn assert_access_token_rejected(patch: Value, expected: TokenError) {
    let idp = start().await;
    let client = client_for(&idp);
    let baseline = sign(&idp, access_claims(&idp));
    client
        .verify_access_token(&AccessToken::new(baseline))
        .await
        .expect("the baseline access token verifies");
    let token = sign(&idp, patched(access_claims(&idp), patch));
    assert_eq!(
        client
            .verify_access_token(&AccessToken::new(token))
            .await
            .unwrap_err(),
        expected
    );
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

// ---------------------------------------------------------------------------------------------
// 4. IdP-initiated login tokens
// ---------------------------------------------------------------------------------------------

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
        client.verify_idp_initiated_login(&token).await,
        Ok(IdpInitiatedLogin {
            organization_id: Some("org_acme".into()),
            connection_id: Some("conn_dev_org_acme".into()),
            login_hint: Some("alice@acme.test".into()),
            relay_state: Some("/dashboard/reports".into()),
        })
    );
}

async fn assert_idp_initiated_rejected(
    make: impl FnOnce(&DevScalekit) -> String,
    expected: TokenError,
) {
    let idp = start().await;
    let client = client_for(&idp);
    let baseline = sign(&idp, idp_initiated_claims(&idp));
    client
        .verify_idp_initiated_login(&baseline)
        .await
        .expect("the baseline IdP-initiated token verifies");
    let token = make(&idp);
    assert_eq!(
        client.verify_idp_initiated_login(&token).await.unwrap_err(),
        expected
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

// ---------------------------------------------------------------------------------------------
// 4b. Token kinds: each verification refuses the environment's other signed tokens
// ---------------------------------------------------------------------------------------------

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
            .unwrap_err(),
        TokenError::WrongKind("an access token")
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
            .unwrap_err(),
        TokenError::WrongKind("an ID token")
    );
}

#[tokio::test]
async fn real_id_and_access_tokens_are_refused_as_idp_initiated_login_tokens() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, _) = code_flow(&idp, &client, "usr_bob").await;
    let id_token = tokens.id_token;
    for token in [id_token.secret(), tokens.access_token.secret()] {
        assert_eq!(
            client.verify_idp_initiated_login(token).await.unwrap_err(),
            TokenError::WrongKind("an IdP-initiated login token")
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

// ---------------------------------------------------------------------------------------------
// 5. Token endpoint
// ---------------------------------------------------------------------------------------------

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
            .unwrap_err(),
        TokenError::NonceMismatch
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
            .unwrap_err(),
        TokenError::SubjectChanged
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Logout and authorization URLs
// ---------------------------------------------------------------------------------------------

fn offline_client(environment_url: &str) -> ScalekitClient {
    ScalekitClient::new(ScalekitSettings::new(environment_url, "skc_123")).expect("client")
}

#[test]
fn the_logout_url_with_all_three_parameters_is_exact() {
    let client = offline_client("https://acme.scalekit.dev");
    let url = client.logout_url(
        Some(&IdToken::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln")),
        Some("https://app.example.com/signed-out?from=app"),
        Some("s t+/="),
    );
    assert_eq!(
        url,
        "https://acme.scalekit.dev/oidc/logout?id_token_hint=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fsigned-out%3Ffrom%3Dapp&state=s%20t%2B%2F%3D"
    );
}

#[test]
fn the_logout_url_without_parameters_has_no_query() {
    let client = offline_client("https://acme.scalekit.dev");
    assert_eq!(
        client.logout_url(None, None, None),
        "https://acme.scalekit.dev/oidc/logout"
    );
}

#[test]
fn a_trailing_slash_on_the_environment_url_is_tolerated_in_authorization_and_logout_urls() {
    let client = offline_client("https://acme.scalekit.dev/");
    assert_eq!(client.environment_url(), "https://acme.scalekit.dev");
    assert_eq!(
        client.authorization_url("https://a/cb", &AuthorizationRequest::default()),
        "https://acme.scalekit.dev/oauth/authorize?response_type=code&client_id=skc_123&redirect_uri=https%3A%2F%2Fa%2Fcb&scope=openid%20profile%20email%20offline_access"
    );
    assert_eq!(
        client.logout_url(None, Some("https://a/bye"), None),
        "https://acme.scalekit.dev/oidc/logout?post_logout_redirect_uri=https%3A%2F%2Fa%2Fbye"
    );
}

#[tokio::test]
async fn a_trailing_slash_on_a_live_environment_url_still_reaches_keys_and_token_and_matches_iss() {
    let idp = start().await;
    let client = ScalekitClient::new(ScalekitSettings::new(
        &format!("{}/", idp.url()),
        idp.client_id(),
    ))
    .expect("client");
    verify_id(&client, &sign(&idp, id_claims(&idp)))
        .await
        .expect("keys are fetched and iss matches");
    let token = RefreshToken::new(idp.issue_refresh_token_for("usr_bob", "org_globex"));
    client
        .refresh(&secret(&idp), &token)
        .await
        .expect("the token endpoint is reached");
}

// ---------------------------------------------------------------------------------------------
// 7. Debug output
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn debug_output_of_the_client_and_a_token_set_contains_no_token_or_secret() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, tx) = code_flow(&idp, &client, "usr_bob").await;
    let id_token = &tokens.id_token;
    client
        .verify_id_token(id_token, Some(&tx.nonce))
        .await
        .expect("verifies");
    let refresh_token = tokens.refresh_token.as_ref().expect("a refresh token");
    let secrets = [
        tokens.access_token.secret(),
        refresh_token.secret(),
        id_token.secret(),
        idp.client_secret(),
        tx.nonce.secret(),
        tx.pkce_verifier.secret(),
    ];
    // Signatures and payloads are the parts that matter; the shared JOSE header prefix is not secret.
    let fragments: Vec<&str> = secrets
        .iter()
        .flat_map(|s| s.split('.'))
        .filter(|part| part.len() >= 16 && !part.starts_with("eyJhbGciOi"))
        .collect();
    let client_debug = format!("{client:?}");
    let tokens_debug = format!("{tokens:?}");
    for (what, rendered) in [("client", &client_debug), ("token set", &tokens_debug)] {
        for fragment in &fragments {
            assert!(
                !rendered.contains(fragment),
                "{what} Debug leaks {fragment:.12}…: {rendered:.200}"
            );
        }
    }
    assert!(
        tokens_debug.contains("AccessToken([redacted])"),
        "{tokens_debug}"
    );
    assert!(
        tokens_debug.contains("RefreshToken([redacted])"),
        "{tokens_debug}"
    );
    assert!(
        tokens_debug.contains("IdToken([redacted])"),
        "{tokens_debug}"
    );
}
