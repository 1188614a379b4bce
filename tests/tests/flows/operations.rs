//! Production set-ups: a Scalekit custom domain as the issuer (during a migration, beside the
//! environment URL), and an app served from several origins.

use flow_tests::browser::{body_text, location};
use flow_tests::{events, Browser};
use scalekit_dev::DevScalekitOptions;
use serde_json::Value;

use crate::support::{assert_signed_in, query_of, Container, TestApp};

#[tokio::test]
async fn a_scalekit_custom_domain_is_accepted_as_issuer_only_when_configured() {
    let mut app = TestApp::spawn_with(DevScalekitOptions {
        issuer: Some("https://auth.acme.test".to_owned()),
        ..DevScalekitOptions::default()
    })
    .await;
    // Tokens name the custom domain; by default only the environment URL is trusted.
    let response = app.sign_in(&mut Browser::new(), "usr_bob", None).await;
    assert_eq!(response.status(), 502, "{}", body_text(&response));

    let environment = app.stack.idp.url();
    app.stack.env.insert(
        "SCALEKIT_ISSUER".to_owned(),
        format!("{environment},https://auth.acme.test"),
    );
    app.apps = Container::of(&app.stack);
    let mut browser = Browser::new();
    let response = app.sign_in(&mut browser, "usr_bob", None).await;
    assert_signed_in(&response, "usr_bob");
    let response = crate::call!(session::handle, &app.session, browser, "session-signed-in");
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}

/// `/api/login` with this `Host`.
fn login_on_host(host: &str) -> lambda_http::Request {
    let mut event = events::load("login-plain");
    events::set_header(&mut event, "host", host);
    event["requestContext"]["domainName"] = Value::String(host.to_owned());
    events::to_request(&event)
}

#[tokio::test]
async fn with_several_origins_each_host_gets_its_own_redirect_uri_and_others_are_refused() {
    let mut app = TestApp::spawn().await;
    app.stack.env.insert(
        "APP_BASE_URL".to_owned(),
        "https://app.example.com,https://tenant.example.com".to_owned(),
    );
    app.apps = Container::of(&app.stack);

    for host in ["app.example.com", "tenant.example.com"] {
        let response = login::handle(&app.login, login_on_host(host)).await;
        assert_eq!(response.status(), 302, "{}", body_text(&response));
        let redirect_uri = &query_of(&location(&response))["redirect_uri"];
        assert_eq!(redirect_uri, &format!("https://{host}/api/callback"));
    }
    for host in [
        "evil.example",
        "abc123def4.execute-api.us-east-1.amazonaws.com",
    ] {
        let response = login::handle(&app.login, login_on_host(host)).await;
        assert_eq!(response.status(), 400, "{host}");
        assert!(body_text(&response).contains("invalid_host"), "{host}");
    }
    // Without a list, the Host API Gateway delivers names the origin (what the default
    // template does: one API, its own domain).
    let mut single = TestApp::spawn().await;
    single.stack.env.remove("APP_BASE_URL");
    single.apps = Container::of(&single.stack);
    let response = login::handle(
        &single.login,
        login_on_host("abc123def4.execute-api.us-east-1.amazonaws.com"),
    )
    .await;
    assert_eq!(
        query_of(&location(&response))["redirect_uri"],
        "https://abc123def4.execute-api.us-east-1.amazonaws.com/api/callback"
    );
}
