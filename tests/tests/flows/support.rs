//! Steps shared by the flow tests.

use flow_tests::browser::location;
use flow_tests::{events, Browser, Stack};
use lambda_http::{Body, Response};
use scalekit_dev::Misbehaviour;
use shared::App;

/// Runs `/api/login` with `query` in `browser`, returning the authorization URL.
pub async fn start_login(login_app: &App, browser: &mut Browser, query: &str) -> String {
    let mut event = events::load("login-plain");
    events::set_query(&mut event, query);
    events::set_cookies(&mut event, &browser.cookies());
    let response = login::handle(login_app, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{:?}", response.body());
    browser.absorb(&response);
    location(&response)
}

/// Sends the browser back to `/api/callback` with the query the IdP redirected to.
pub async fn finish_login(
    callback_app: &App,
    browser: &mut Browser,
    idp_redirect: &str,
) -> Response<Body> {
    let url = url::Url::parse(idp_redirect).expect("absolute redirect");
    assert_eq!(url.path(), "/api/callback");
    let mut event = events::load("callback-success");
    events::set_query(&mut event, url.query().unwrap_or(""));
    events::set_cookies(&mut event, &browser.cookies());
    let response = callback::handle(callback_app, events::to_request(&event)).await;
    browser.absorb(&response);
    response
}

/// A complete sign-in as `user`; returns the callback's response.
pub async fn sign_in(
    stack: &Stack,
    login_app: &App,
    callback_app: &App,
    browser: &mut Browser,
    user: &str,
    org: Option<&str>,
) -> Response<Body> {
    let authorize = start_login(login_app, browser, "").await;
    let back = stack.sign_in_at_idp(&authorize, user, org).await;
    finish_login(callback_app, browser, &back).await
}

/// Signs `browser` in as `user`, asserting the login completed.
pub async fn signed_in(
    stack: &Stack,
    login_app: &App,
    callback_app: &App,
    browser: &mut Browser,
    user: &str,
    org: Option<&str>,
) {
    let response = sign_in(stack, login_app, callback_app, browser, user, org).await;
    assert_eq!(
        response.status(),
        302,
        "sign-in as {user}: {}",
        flow_tests::browser::body_text(&response)
    );
}

/// One login as bob, with `fault` active while Scalekit answers the token request.
pub async fn login_with(
    stack: &Stack,
    login_app: &App,
    callback_app: &App,
    fault: Option<Misbehaviour>,
) -> (Response<Body>, Browser) {
    let mut browser = Browser::new();
    let authorize = start_login(login_app, &mut browser, "").await;
    let back = stack.sign_in_at_idp(&authorize, "usr_bob", None).await;
    if let Some(fault) = fault {
        stack.idp.misbehave(fault);
    }
    let response = finish_login(callback_app, &mut browser, &back).await;
    stack.idp.clear_misbehaviour();
    (response, browser)
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The sample event `name` as a request carrying the browser's cookies.
pub fn request_from(browser: &Browser, name: &str) -> lambda_http::Request {
    let mut event = events::load(name);
    events::set_cookies(&mut event, &browser.cookies());
    events::to_request(&event)
}

/// Runs `handler` on the sample event with the browser's cookies and keeps the cookies it sets.
#[macro_export]
macro_rules! call {
    ($handler:path, $app:expr, $browser:expr, $event:expr) => {{
        let request = $crate::support::request_from(&$browser, $event);
        let response = $handler($app, request).await;
        $browser.absorb(&response);
        response
    }};
}
