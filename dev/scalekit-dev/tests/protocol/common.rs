//! Helpers shared by the protocol tests: a browser-less walk through authorize → sign-in → token.

use std::collections::HashMap;
use std::sync::LazyLock;

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{redirect::Policy, Client, Response, StatusCode};
use scalekit_dev::DevScalekit;
use serde_json::Value;

pub const REDIRECT_URI: &str = "http://app.test/api/callback";
pub const STATE: &str = "st+/ =&x";
pub const NONCE: &str = "nonce-1";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// One client for every test. Each test has its own runtime, so no connection may outlive a
/// request: pooling is off.
pub fn client() -> Client {
    static CLIENT: LazyLock<Client> = LazyLock::new(|| {
        Client::builder()
            .redirect(Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client")
    });
    CLIENT.clone()
}

/// The default authorize parameters with `overrides` applied; an empty value removes a parameter.
pub fn authorize_url(sk: &DevScalekit, overrides: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", sk.client_id()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email offline_access"),
        ("state", STATE),
        ("nonce", NONCE),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (name, value) in overrides {
        params.retain(|(k, _)| k != name);
        if !value.is_empty() {
            params.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", sk.url())).expect("url");
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

pub async fn get(url: &str) -> Response {
    client().get(url).send().await.expect("GET")
}

pub async fn text(response: Response) -> String {
    response.text().await.expect("body")
}

pub async fn json_body(response: Response) -> Value {
    serde_json::from_str(&text(response).await).expect("JSON body")
}

/// The hidden `pending` field of the sign-in page.
pub fn pending_of(page: &str) -> String {
    let start = page
        .find("name=\"pending\" value=\"")
        .expect("pending field")
        + 22;
    let end = page[start..].find('"').expect("end of pending") + start;
    page[start..end].to_owned()
}

pub async fn post_sign_in(sk: &DevScalekit, form: &[(&str, &str)]) -> Response {
    client()
        .post(format!("{}/dev/sign-in", sk.url()))
        .form(form)
        .send()
        .await
        .expect("POST sign-in")
}

/// The query parameters of a redirect's `Location`.
pub fn redirect_params(response: &Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND, "expected a 302");
    let location = response
        .headers()
        .get("location")
        .expect("Location")
        .to_str()
        .expect("ascii Location");
    url::Url::parse(location)
        .expect("absolute Location")
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Opens the authorize page and signs in as `user` (choosing `organization` if asked); returns
/// the code.
pub async fn code_for(
    sk: &DevScalekit,
    user: &str,
    organization: Option<&str>,
    overrides: &[(&str, &str)],
) -> String {
    let page = get(&authorize_url(sk, overrides)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let pending = pending_of(&text(page).await);
    let mut form = vec![("pending", pending.as_str()), ("user", user)];
    if let Some(org) = organization {
        form.push(("organization", org));
    }
    let params = redirect_params(&post_sign_in(sk, &form).await);
    params.get("code").expect("code").clone()
}

pub async fn token_request(sk: &DevScalekit, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut body = vec![
        ("client_id", sk.client_id().to_owned()),
        ("client_secret", sk.client_secret().to_owned()),
    ];
    body.extend(form.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let response = client()
        .post(format!("{}/oauth/token", sk.url()))
        .form(&body)
        .send()
        .await
        .expect("POST token");
    let status = response.status();
    (status, json_body(response).await)
}

pub async fn exchange(sk: &DevScalekit, code: &str, verifier: &str) -> (StatusCode, Value) {
    token_request(
        sk,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// A full login as `user` (organization picked if needed); returns the token response.
pub async fn login(sk: &DevScalekit, user: &str, organization: Option<&str>) -> Value {
    let code = code_for(sk, user, organization, &[]).await;
    let (status, body) = exchange(sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "token response: {body}");
    body
}

pub async fn refresh(sk: &DevScalekit, refresh_token: &str) -> (StatusCode, Value) {
    token_request(
        sk,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// `(header, claims)` of a compact JWS, unverified.
pub fn decode(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let header = decode_part(parts.next().expect("header"));
    let claims = decode_part(parts.next().expect("claims"));
    (header, claims)
}

pub fn signature_of(jwt: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jwt.rsplit('.').next().unwrap_or_default())
        .expect("base64url signature")
}

pub async fn jwks(sk: &DevScalekit) -> Vec<Value> {
    let body = json_body(get(&format!("{}/keys", sk.url())).await).await;
    body["keys"].as_array().expect("keys array").clone()
}

/// Verifies an RS256 JWT against the published JWKS entry named by its `kid`.
pub async fn verifies(sk: &DevScalekit, jwt: &str) -> bool {
    let (header, _) = decode(jwt);
    if header["alg"] != "RS256" {
        return false;
    }
    let keys = jwks(sk).await;
    let Some(jwk) = keys.iter().find(|k| k["kid"] == header["kid"]) else {
        return false;
    };
    let n = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().unwrap_or_default())
        .expect("n");
    let e = URL_SAFE_NO_PAD
        .decode(jwk["e"].as_str().unwrap_or_default())
        .expect("e");
    let input = &jwt[..jwt.rfind('.').expect("two dots")];
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &signature_of(jwt),
        )
        .is_ok()
}
