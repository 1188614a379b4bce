//! API Gateway events and responses as the Runtime API carries them (JSON), built on the flow
//! tests' sample events and cookie jar, and the steps of a login up to its callback.

use anyhow::{bail, ensure, Context, Result};
use flow_tests::events;
use flow_tests::Browser;
use lambda_http::http::header::SET_COOKIE;
use lambda_http::http::{HeaderMap, HeaderValue};
use scalekit_dev::DevScalekit;
use serde_json::Value;

use crate::emulator::Container;

/// A demo user with a single organization (no organization picker).
pub const USER: &str = "usr_bob";

/// The sample event `events/<name>.json`.
pub fn event(name: &str) -> Value {
    events::load(name)
}

/// The sample event `name` with the browser's cookies.
pub fn event_with_cookies(name: &str, browser: &Browser) -> Value {
    let mut event = event(name);
    events::set_cookies(&mut event, &browser.cookies());
    event
}

/// The callback event for the IdP's redirect back (`https://host/api/callback?code=..&state=..`).
pub fn callback_event(redirect: &str, browser: &Browser) -> Result<Value> {
    let url = url::Url::parse(redirect).with_context(|| format!("IdP redirect {redirect}"))?;
    ensure!(
        url.path() == "/api/callback",
        "IdP redirected to {}",
        url.path()
    );
    let mut event = event_with_cookies("callback-success", browser);
    events::set_query(&mut event, url.query().unwrap_or(""));
    Ok(event)
}

/// The status code of an API Gateway (payload 2.0) response.
pub fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().unwrap_or(0)
}

/// What an invocation must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An API Gateway (payload 2.0) response with this status code.
    Status(u64),
    /// An authorizer's simple response whose `isAuthorized` is this.
    Authorized(bool),
}

/// Fails unless `what` answered `want`.
pub fn expect(response: &Value, want: Answer, what: &str) -> Result<()> {
    match want {
        Answer::Status(status) => expect_status(response, status, what),
        Answer::Authorized(authorized) => {
            let got = response["isAuthorized"].as_bool();
            ensure!(
                got == Some(authorized),
                "{what} answered isAuthorized {got:?}, expected {authorized}"
            );
            Ok(())
        }
    }
}

/// Fails unless `what` answered `want`.
pub fn expect_status(response: &Value, want: u64, what: &str) -> Result<()> {
    let got = status(response);
    if got != want {
        let body: String = response["body"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        bail!("{what} answered {got}, expected {want}: {body}");
    }
    Ok(())
}

/// Applies the `cookies` of an API Gateway (payload 2.0) response to the browser.
pub fn absorb_response(browser: &mut Browser, response: &Value) {
    let mut headers = HeaderMap::new();
    let cookies = response["cookies"].as_array().into_iter().flatten();
    for cookie in cookies.filter_map(Value::as_str) {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
    browser.absorb_headers(&headers);
}

/// Starts a login in `login` (a running login container), signs [`USER`] in at `idp` and
/// returns the callback event and the browser that carries its transaction cookie.
pub async fn prepared_callback(
    login: &mut Container,
    idp: &DevScalekit,
) -> Result<(Value, Browser)> {
    prepared_callback_as(login, idp, USER, None).await
}

/// [`prepared_callback`] for `user`, into `organization` if the IdP asks for one.
pub async fn prepared_callback_as(
    login: &mut Container,
    idp: &DevScalekit,
    user: &str,
    organization: Option<&str>,
) -> Result<(Value, Browser)> {
    let mut browser = Browser::new();
    let started = login.invoke(&event("login-plain")).await?;
    expect_status(&started.response, 302, "login")?;
    absorb_response(&mut browser, &started.response);
    let authorize = started.response["headers"]["location"]
        .as_str()
        .context("login gave no Location")?;
    let back = idp
        .authorize_as(authorize, user, organization)
        .context("sign-in at the IdP")?;
    Ok((callback_event(&back, &browser)?, browser))
}

/// A browser signed in as `user` (into `organization` if the IdP asks) through `login` and
/// `callback`, running containers.
pub async fn signed_in_as(
    login: &mut Container,
    callback: &mut Container,
    idp: &DevScalekit,
    user: &str,
    organization: Option<&str>,
) -> Result<Browser> {
    let (event, mut browser) = prepared_callback_as(login, idp, user, organization).await?;
    let signed = callback.invoke(&event).await?;
    expect_status(&signed.response, 302, "callback")?;
    absorb_response(&mut browser, &signed.response);
    ensure!(
        browser
            .get(shared::session::cookies::SESSION_COOKIE)
            .is_some(),
        "the callback set no session cookie"
    );
    Ok(browser)
}
