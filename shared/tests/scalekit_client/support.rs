//! What every test of the client uses: a dev Scalekit server, clients of it, baseline claims
//! that each test changes in one place, and a stub server for what the dev server cannot do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use scalekit_dev::DevScalekit;
use serde_json::{json, Value};
use shared::crypto::{b64url, b64url_decode};
use shared::redacted::{AccessToken, AuthorizationCode, ClientSecret, IdToken, Nonce};
use shared::scalekit::{
    pkce_challenge, unix_now, AuthorizationRequest, AuthorizationSecrets, CodeTokens,
    IdTokenClaims, ScalekitClient, ScalekitSettings, TokenError,
};

/// The nonce the baseline ID token carries and [`verify_id`] expects.
pub const NONCE: &str = "n-0S6_WzA2Mj";
/// The redirect URI of every authorization request and code exchange.
pub const REDIRECT_URI: &str = "http://127.0.0.1:3000/api/callback";

/// A fresh dev Scalekit server on 127.0.0.1.
pub async fn start() -> DevScalekit {
    DevScalekit::start().await.expect("dev Scalekit starts")
}

/// A client of `idp` with this product's default settings.
pub fn client_for(idp: &DevScalekit) -> ScalekitClient {
    client_with(idp, |_| {})
}

/// A client of `idp` with settings changed by `adjust`.
pub fn client_with(
    idp: &DevScalekit,
    adjust: impl FnOnce(&mut ScalekitSettings),
) -> ScalekitClient {
    let mut settings = ScalekitSettings::new(&idp.url(), idp.client_id());
    adjust(&mut settings);
    ScalekitClient::new(settings).expect("client builds")
}

/// `idp`'s client secret.
pub fn secret(idp: &DevScalekit) -> ClientSecret {
    ClientSecret::new(idp.client_secret())
}

/// The JOSE header of a token signed with `idp`'s current key.
pub fn rs256_header(idp: &DevScalekit) -> Value {
    json!({"alg": "RS256", "kid": idp.current_kid(), "typ": "JWT"})
}

/// A valid ID token's claims: each test changes one of them.
pub fn id_claims(idp: &DevScalekit) -> Value {
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
pub fn access_claims(idp: &DevScalekit) -> Value {
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
pub fn idp_initiated_claims(idp: &DevScalekit) -> Value {
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
pub fn patched(mut base: Value, patch: Value) -> Value {
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

/// `claims` signed RS256 with `idp`'s current key.
pub fn sign(idp: &DevScalekit, claims: Value) -> String {
    idp.sign_jwt(rs256_header(idp), claims)
}

/// Verifies `token` as an ID token of a login that sent [`NONCE`].
pub async fn verify_id(client: &ScalekitClient, token: &str) -> Result<IdTokenClaims, TokenError> {
    client
        .verify_id_token(&IdToken::new(token), Some(&Nonce::new(NONCE)))
        .await
}

/// Starts a server, checks the baseline ID token verifies, then that `make`'s token is rejected
/// with exactly `expected`.
pub async fn assert_id_token_rejected(
    make: impl FnOnce(&DevScalekit) -> String,
    expected: TokenError,
) {
    let idp = start().await;
    let client = client_for(&idp);
    let baseline = sign(&idp, id_claims(&idp));
    verify_id(&client, &baseline)
        .await
        .expect("the baseline ID token verifies");
    let token = make(&idp);
    assert_eq!(
        verify_id(&client, &token).await.unwrap_err().to_string(),
        expected.to_string()
    );
}

/// As [`assert_id_token_rejected`] for a token that differs from the baseline in one claim.
pub async fn assert_id_claims_rejected(
    patch: impl FnOnce(&DevScalekit) -> Value,
    expected: TokenError,
) {
    assert_id_token_rejected(
        |idp| sign(idp, patched(id_claims(idp), patch(idp))),
        expected,
    )
    .await;
}

/// Starts a server, checks the baseline access token verifies, then that the token with
/// `patch` applied is rejected with exactly `expected`.
pub async fn assert_access_token_rejected(patch: Value, expected: TokenError) {
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
            .unwrap_err()
            .to_string(),
        expected.to_string()
    );
}

/// Starts a server, checks the baseline IdP-initiated login token verifies, then that `make`'s
/// token is rejected with exactly `expected`.
pub async fn assert_idp_initiated_rejected(
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
        client
            .verify_idp_initiated_login(&token)
            .await
            .unwrap_err()
            .to_string(),
        expected.to_string()
    );
}

/// Flips one bit in the middle of the signature, keeping valid base64url.
pub fn flip_signature_byte(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').expect("three parts");
    let mut bytes = b64url_decode(signature).expect("base64url signature");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    format!("{input}.{}", b64url(bytes))
}

/// Signs in `user` at the dev server (in-process, as its authorize page and sign-in form would)
/// and exchanges the code. Returns the tokens and the login transaction they belong to.
pub async fn code_flow(
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
    let location = idp
        .authorize_as(&url, user, None)
        .unwrap_or_else(|refused| panic!("sign-in as {user} redirects back: {refused}"));
    let location = url::Url::parse(&location).expect("absolute location");
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
pub struct Stub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Requests answered so far.
    pub hits: Arc<AtomicUsize>,
}

/// Starts a [`Stub`] answering every request with `respond(path)`.
pub fn stub(respond: impl Fn(&str) -> String + Send + 'static) -> Stub {
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

/// A complete HTTP/1.1 response with a `Content-Length`, closing the connection.
pub fn http_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
