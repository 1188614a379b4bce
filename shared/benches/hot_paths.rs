//! Per-request hot paths, with criterion: `cargo bench -p shared --bench hot_paths`.
//!
//! What login and callback spend CPU on besides I/O: the authorization URL, the sealed
//! transaction cookie, ID-token verification (RS256, keys cached) and the encrypted session
//! record. `./dev/bench` measures the same paths end to end, through the real binaries.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use scalekit_dev::DevScalekit;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::crypto::{b64url, sha256, KeyRing, SealingKey};
use shared::redacted::{IdToken, Nonce};
use shared::scalekit::{
    pkce_challenge, unix_now, AuthorizationRequest, AuthorizationSecrets, ScalekitClient,
    ScalekitSettings,
};
use shared::session::{transaction_cookie_name, Transaction};

const SESSION_SECRET: &[u8] = b"bench-session-secret-0123456789abcdef-0123456789";

fn authorization_url(c: &mut Criterion) {
    let client = ScalekitClient::new(ScalekitSettings::new(
        "https://acme.scalekit.dev",
        "skc_58327482062864390",
    ))
    .expect("client builds");
    let tx = AuthorizationSecrets::new_random();
    let challenge = pkce_challenge(&tx.pkce_verifier);
    let request = AuthorizationRequest {
        state: Some(tx.state.secret()),
        nonce: Some(tx.nonce.secret()),
        code_challenge: Some(&challenge),
        organization_id: Some("org_59615193906282635"),
        ..Default::default()
    };
    c.bench_function("authorization_url", |b| {
        b.iter(|| {
            client.authorization_url(
                black_box("https://app.example.com/api/callback"),
                black_box(&request),
            )
        })
    });
    c.bench_function("login_transaction_new_random+pkce_challenge", |b| {
        b.iter(|| {
            let tx = AuthorizationSecrets::new_random();
            pkce_challenge(&tx.pkce_verifier)
        })
    });
}

fn transaction_cookie(c: &mut Criterion) {
    let key: KeyRing = SealingKey::derive(SESSION_SECRET, "transaction-cookie").into();
    let tx = Transaction {
        secrets: AuthorizationSecrets::new_random(),
        return_to: Some("/dashboard/settings?tab=members".to_owned()),
        created_at: unix_now(),
    };
    let cookie = tx.to_cookie(&key);
    let state = tx.secrets.state.secret().to_owned();
    let name = transaction_cookie_name(&state);
    // A browser with a session and an access token besides this login's cookie.
    let filler = "x".repeat(900);
    let cookies = [
        ("__Host-sk_session", &filler[..43]),
        ("accessToken", &filler[..]),
        (name.as_str(), cookie.value()),
    ];
    c.bench_function("transaction_cookie_seal", |b| {
        b.iter(|| black_box(&tx).to_cookie(&key))
    });
    c.bench_function("transaction_cookie_unseal", |b| {
        b.iter(|| {
            Transaction::from_cookies(black_box(&cookies), black_box(&state), &key, unix_now())
                .expect("opens")
        })
    });
}

/// An ID token as the dev server issues one, and a client that has fetched its keys.
fn signed_id_token(
    runtime: &tokio::runtime::Runtime,
) -> (DevScalekit, ScalekitClient, IdToken, Nonce) {
    runtime.block_on(async {
        let idp = DevScalekit::start().await.expect("dev server starts");
        let client = ScalekitClient::new(ScalekitSettings::new(&idp.url(), idp.client_id()))
            .expect("client builds");
        let nonce = Nonce::new(AuthorizationSecrets::new_random().nonce.secret());
        let now = unix_now();
        let token = idp.sign_jwt(
            json!({"alg": "RS256", "kid": idp.current_kid(), "typ": "JWT"}),
            json!({
                "iss": idp.url(),
                "aud": [idp.client_id()],
                "azp": idp.client_id(),
                "sub": "usr_59615193906282635",
                "oid": "org_59615193906282635",
                "amr": ["conn_59615193906282636"],
                "exp": now + 3600,
                "iat": now,
                "nonce": nonce.secret(),
                "email": "alice@acme.test",
                "email_verified": true,
                "name": "Alice Anderson",
                "given_name": "Alice",
                "family_name": "Anderson",
                "sid": "ses_59615193906282637",
                "at_hash": b64url(&sha256(b"access")[..16]),
            }),
        );
        let token = IdToken::new(token);
        // The first verification fetches the keys; the benchmark measures the cached path.
        client
            .verify_id_token(&token, Some(&nonce))
            .await
            .expect("the dev server's token verifies");
        (idp, client, token, nonce)
    })
}

fn id_token_verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_idp, client, token, nonce) = signed_id_token(&runtime);
    c.bench_function("verify_id_token (keys cached)", |b| {
        b.iter(|| {
            runtime
                .block_on(client.verify_id_token(black_box(&token), Some(&nonce)))
                .expect("verifies")
        })
    });
}

/// The shape of the session record's sealed blob (shared/src/session/record.rs).
#[derive(Serialize, Deserialize)]
struct StoredTokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    id_token: String,
}

fn session_record(c: &mut Criterion) {
    let key: KeyRing = SealingKey::derive(SESSION_SECRET, "session-tokens").into();
    let record_key = b64url(sha256(b"a session id"));
    // Sizes of real Scalekit tokens: RS256 JWTs of ~1 KB (access) and ~1.2 KB (ID), and an
    // opaque refresh token.
    let jwt = |payload_len: usize| {
        format!(
            "{}.{}.{}",
            "e".repeat(100),
            "p".repeat(payload_len),
            "s".repeat(342)
        )
    };
    let tokens = StoredTokens {
        access_token: jwt(560),
        refresh_token: Some("r".repeat(64)),
        id_token: jwt(800),
    };
    let json = serde_json::to_vec(&tokens).expect("serialises");
    let sealed = key.seal(&json, &record_key);
    c.bench_function("session_tokens_encode+seal", |b| {
        b.iter(|| {
            let json = serde_json::to_vec(black_box(&tokens)).expect("serialises");
            key.seal(&json, &record_key)
        })
    });
    c.bench_function("session_tokens_open+decode", |b| {
        b.iter(|| {
            let plain = key.open(black_box(&sealed), &record_key).expect("opens");
            serde_json::from_slice::<StoredTokens>(&plain).expect("parses")
        })
    });
}

criterion_group!(
    hot_paths,
    authorization_url,
    transaction_cookie,
    id_token_verification,
    session_record
);
criterion_main!(hot_paths);
