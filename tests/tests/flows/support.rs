//! The flow tests' harness: [`TestApp`] (the stand-ins and one container of each function, as
//! zero2prod's `spawn_app`) and the verbs a test speaks in (`sign_in`, `start_login`, ...).

use dev_gateway::{Gateway, Invocation, Invoke, InvokeError};
use flow_tests::browser::{body_text, location};
use flow_tests::gateway::{json, send, template_api};
use flow_tests::{events, Browser, Stack};
use lambda_http::http::Method;
use lambda_http::{Body, Response};
use scalekit_dev::{DevScalekitOptions, Misbehaviour, SignedWebhook};
use serde_json::{json, Value};
use shared::runtime::invoke;
use shared::scalekit::unix_now;
use shared::session::cookies::ACCESS_TOKEN_COOKIE;
use shared::App;

/// One container of each function (as its `main` builds it), against one [`Stack`].
pub struct Container {
    pub login: App,
    pub callback: App,
    pub session: App,
    pub refresh: App,
    pub logout: App,
    pub profile: App,
    pub authorizer: App,
    pub backchannel_logout: App,
    pub webhook: App,
    pub sessions: App,
}

impl Container {
    /// Fresh containers of every function, configured from `stack`, each allowed the AWS calls
    /// template.yaml's policy grants it.
    pub fn of(stack: &Stack) -> Self {
        Self {
            login: stack.function("login", login::NEEDS),
            callback: stack.function("callback", callback::NEEDS),
            session: stack.function("session", session::NEEDS),
            refresh: stack.function("refresh", refresh::NEEDS),
            logout: stack.function("logout", logout::NEEDS),
            profile: stack.function("profile", profile::NEEDS),
            authorizer: stack.function("authorizer", authorizer::NEEDS),
            backchannel_logout: stack.function("backchannel-logout", backchannel_logout::NEEDS),
            webhook: stack.function("webhook", webhook::NEEDS),
            sessions: stack.function("sessions", sessions::NEEDS),
        }
    }

    /// The HTTP API in front of these containers, routed and authorized as template.yaml
    /// declares it: the local gateway of `dev/run`, invoking the handlers in-process.
    pub fn gateway(&self) -> Gateway<InProcess<'_>> {
        Gateway::new(template_api().clone(), InProcess(self))
    }

    /// Scalekit posting `token` to the back-channel logout URL: the status and body (the answer
    /// is checked to be `no-store`, as every one must be).
    pub async fn backchannel_logout(&self, token: &str) -> (u16, String) {
        let response = send(
            &self.gateway(),
            &mut Browser::new(),
            Method::POST,
            "/api/backchannel-logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("logout_token={token}"),
        )
        .await;
        let cache = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok());
        assert_eq!(cache, Some("no-store"));
        (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }

    /// Scalekit delivering a signed webhook: the status and JSON body.
    pub async fn deliver_webhook(&self, webhook: &SignedWebhook) -> (u16, Value) {
        let headers = webhook.headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.deliver_raw(&headers, webhook.body.clone()).await
    }

    /// A POST to the webhook URL with these headers and body: the status and JSON body.
    pub async fn deliver_raw(&self, headers: &[(&str, &str)], body: String) -> (u16, Value) {
        let mut headers = headers.to_vec();
        headers.push(("content-type", "application/json"));
        let response = send(
            &self.gateway(),
            &mut Browser::new(),
            Method::POST,
            "/api/scalekit/webhook",
            &headers,
            body,
        )
        .await;
        (response.status().as_u16(), json(&response))
    }
}

/// A GET of `path` in `browser` through the gateway in front of `app`: the status and JSON body.
pub async fn get(app: &Container, browser: &mut Browser, path: &str) -> (u16, Value) {
    get_with(app, browser, path, &[]).await
}

/// [`get`] with extra request headers.
pub async fn get_with(
    app: &Container,
    browser: &mut Browser,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let gateway = app.gateway();
    let response =
        flow_tests::gateway::request(&gateway, browser, Method::GET, path, headers).await;
    (response.status().as_u16(), json(&response))
}

/// The function a sample event is for: `events/<function>-<case>.json`.
pub fn function_of(event_name: &str) -> &'static str {
    const FUNCTIONS: [&str; 11] = [
        "login",
        "callback",
        "sessions",
        "session",
        "refresh",
        "logout",
        "profile",
        "authorizer",
        "example-backend",
        "backchannel-logout",
        "webhook",
    ];
    FUNCTIONS
        .into_iter()
        .find(|function| {
            event_name
                .strip_prefix(function)
                .is_some_and(|case| case.starts_with('-'))
        })
        .unwrap_or_else(|| panic!("event {event_name} names no function"))
}

/// Invokes functions in-process as Lambda invokes their binaries: a raw event in, the runtime's
/// JSON answer out, through the same decoding and encoding (`shared::runtime::invoke`).
pub struct InProcess<'a>(pub &'a Container);

impl Invoke for InProcess<'_> {
    fn invoke<'a>(&'a self, function: &'a str, event: Value) -> Invocation<'a> {
        let apps = self.0;
        Box::pin(async move {
            let answer = match function {
                "authorizer" => {
                    let event = serde_json::from_value(event)
                        .map_err(|e| InvokeError(format!("authorizer event: {e}")))?;
                    let decision = authorizer::handle(&apps.authorizer, event)
                        .await
                        .map_err(|e| InvokeError(e.to_string()))?;
                    return serde_json::to_value(decision).map_err(|e| InvokeError(e.to_string()));
                }
                "example-backend" => invoke(&example_backend::handle, event).await,
                "login" => invoke(&|r| login::handle(&apps.login, r), event).await,
                "callback" => invoke(&|r| callback::handle(&apps.callback, r), event).await,
                "session" => invoke(&|r| session::handle(&apps.session, r), event).await,
                "refresh" => invoke(&|r| refresh::handle(&apps.refresh, r), event).await,
                "logout" => invoke(&|r| logout::handle(&apps.logout, r), event).await,
                "profile" => invoke(&|r| profile::handle(&apps.profile, r), event).await,
                "backchannel-logout" => {
                    let handler = |r| backchannel_logout::handle(&apps.backchannel_logout, r);
                    invoke(&handler, event).await
                }
                "webhook" => invoke(&|r| webhook::handle(&apps.webhook, r), event).await,
                "sessions" => invoke(&|r| sessions::handle(&apps.sessions, r), event).await,
                other => return Err(InvokeError(format!("no function {other}"))),
            };
            answer.map_err(|e| InvokeError(e.to_string()))
        })
    }
}

/// A deployment under test: the stand-ins and one container of each function. Tests that need
/// several containers side by side make more with [`Container::of`]; a test that needs one
/// container configured otherwise replaces it (`app.callback = app.stack.app_via(...)`).
pub struct TestApp {
    pub stack: Stack,
    pub apps: Container,
}

impl std::ops::Deref for TestApp {
    type Target = Container;

    fn deref(&self) -> &Container {
        &self.apps
    }
}

impl std::ops::DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut Container {
        &mut self.apps
    }
}

impl TestApp {
    /// A fresh table, fresh secrets and a fresh IdP.
    pub async fn spawn() -> Self {
        Self::spawn_with(DevScalekitOptions::default()).await
    }

    /// As [`TestApp::spawn`], with IdP options (e.g. a short access-token lifetime).
    pub async fn spawn_with(options: DevScalekitOptions) -> Self {
        let stack = Stack::start_with(options).await;
        let apps = Container::of(&stack);
        Self { stack, apps }
    }

    /// Runs `/api/login` with `query` in `browser`, returning the authorization URL.
    pub async fn start_login(&self, browser: &mut Browser, query: &str) -> String {
        start_login_on(&self.login, browser, query).await
    }

    /// Sends the browser back to `/api/callback` with the query the IdP redirected to.
    pub async fn finish_login(&self, browser: &mut Browser, idp_redirect: &str) -> Response<Body> {
        finish_login_on(&self.callback, browser, idp_redirect).await
    }

    /// Plays the user on the IdP's sign-in page (picking `organization` if asked); returns where
    /// the IdP sends the browser back to.
    pub fn at_idp(&self, authorize_url: &str, user: &str, organization: Option<&str>) -> String {
        at_idp(&self.stack, authorize_url, user, organization)
    }

    /// A complete sign-in of `browser` as `user` (into `organization` if the IdP asks), through
    /// this app's login and callback; returns the callback's response.
    pub async fn sign_in(
        &self,
        browser: &mut Browser,
        user: &str,
        organization: Option<&str>,
    ) -> Response<Body> {
        sign_in_on(&self.stack, &self.apps, browser, user, organization).await
    }

    /// Signs `browser` in as `user`, asserting the login completed.
    pub async fn sign_in_asserted(
        &self,
        browser: &mut Browser,
        user: &str,
        organization: Option<&str>,
    ) {
        assert_signed_in(&self.sign_in(browser, user, organization).await, user);
    }

    /// A new browser signed in as `user`, asserting the login completed.
    pub async fn signed_in(&self, user: &str, organization: Option<&str>) -> Browser {
        signed_in_on(&self.stack, &self.apps, user, organization).await
    }

    /// A new browser signed in as `user`, with Scalekit issuing an access token that has already
    /// expired, so the next session check has to refresh.
    pub async fn signed_in_with_expired_access_token(&self, user: &str) -> Browser {
        self.stack.idp.misbehave(Misbehaviour::AccessTokenClaims(
            json!({"exp": unix_now() - 120, "iat": unix_now() - 420}),
        ));
        let browser = self.signed_in(user, None).await;
        self.stack.idp.clear_misbehaviour();
        assert!(browser.get(ACCESS_TOKEN_COOKIE).is_some());
        browser
    }

    /// One login as bob, with `fault` active while Scalekit answers the token request.
    pub async fn login_with(&self, fault: Option<Misbehaviour>) -> (Response<Body>, Browser) {
        let mut browser = Browser::new();
        let authorize = self.start_login(&mut browser, "").await;
        let back = self.at_idp(&authorize, "usr_bob", None);
        if let Some(fault) = fault {
            self.stack.idp.misbehave(fault);
        }
        let response = self.finish_login(&mut browser, &back).await;
        self.stack.idp.clear_misbehaviour();
        (response, browser)
    }
}

/// [`TestApp::at_idp`] at `stack`'s IdP.
pub fn at_idp(
    stack: &Stack,
    authorize_url: &str,
    user: &str,
    organization: Option<&str>,
) -> String {
    stack
        .idp
        .authorize_as(authorize_url, user, organization)
        .unwrap_or_else(|refused| panic!("sign-in as {user} at the IdP: {refused}"))
}

/// [`TestApp::sign_in`] through the given containers (of the same stack).
pub async fn sign_in_on(
    stack: &Stack,
    on: &Container,
    browser: &mut Browser,
    user: &str,
    organization: Option<&str>,
) -> Response<Body> {
    let authorize = start_login_on(&on.login, browser, "").await;
    let back = at_idp(stack, &authorize, user, organization);
    finish_login_on(&on.callback, browser, &back).await
}

/// [`TestApp::signed_in`] through the given containers (of the same stack).
pub async fn signed_in_on(
    stack: &Stack,
    on: &Container,
    user: &str,
    organization: Option<&str>,
) -> Browser {
    let mut browser = Browser::new();
    let response = sign_in_on(stack, on, &mut browser, user, organization).await;
    assert_signed_in(&response, user);
    browser
}

/// Asserts that a callback's response completed the sign-in of `user`.
pub fn assert_signed_in(response: &Response<Body>, user: &str) {
    assert_eq!(
        response.status(),
        302,
        "sign-in as {user}: {}",
        body_text(response)
    );
}

/// [`TestApp::start_login`] on a given login container.
pub async fn start_login_on(login_app: &App, browser: &mut Browser, query: &str) -> String {
    let mut event = events::load("login-plain");
    events::set_query(&mut event, query);
    events::set_cookies(&mut event, &browser.cookies());
    let response = login::handle(login_app, events::to_request(&event)).await;
    assert_eq!(response.status(), 302, "{:?}", response.body());
    browser.absorb(&response);
    location(&response)
}

/// [`TestApp::finish_login`] on a given callback container.
pub async fn finish_login_on(
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
