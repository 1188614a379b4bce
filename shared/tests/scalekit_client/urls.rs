//! Logout and authorization URLs, and a trailing slash on the environment URL.

use shared::redacted::{IdToken, RefreshToken};
use shared::scalekit::{AuthorizationRequest, ScalekitClient, ScalekitSettings};

use crate::support::{id_claims, secret, sign, start, verify_id};

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
