//! Handler CPU time, measured in-process: the real `handle` functions on a single-threaded
//! runtime, timed with this thread's CPU clock. Network waits cost no CPU and are not counted;
//! the client side of each call (request building, signing, parsing) is. The Lambda runtime
//! client (event JSON, HTTP to the Runtime API) is not part of it: the emulator's process-CPU
//! figure includes that.

use std::collections::HashMap;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::config::{Config, Needs};
use shared::redacted::{AccessToken, AuthorizationCode, SessionId};
use shared::scalekit::unix_now;
use shared::session::{new_session_id, session_key, SessionRecord, Transaction};
use shared::App;

use crate::flow::{self, Browser};
use crate::procfs::thread_cpu;

/// CPU per warm invocation of each handler, and of the steps inside callback and session.
pub struct HandlerCpu {
    pub login: Vec<Duration>,
    pub callback: Vec<Duration>,
    pub session: Vec<Duration>,
    /// Callback's steps, as its handler takes them, by name.
    pub callback_steps: Vec<(&'static str, Vec<Duration>)>,
    /// Session's steps.
    pub session_steps: Vec<(&'static str, Vec<Duration>)>,
}

/// CPU time of one awaited step on this thread.
async fn timed<T>(cpu: &mut Vec<Duration>, step: impl std::future::Future<Output = T>) -> T {
    let before = thread_cpu();
    let out = step.await;
    cpu.push(thread_cpu() - before);
    out
}

fn request(event: &Value) -> Result<Request, String> {
    lambda_http::request::from_str(&event.to_string()).map_err(|e| format!("event: {e}"))
}

fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn app(env: &HashMap<String, String>, needs: Needs, sdk: &aws_config::SdkConfig) -> App {
    let config = Config::from_lookup(|k| env.get(k).cloned(), needs).expect("bench configuration");
    App::new(config, Some(sdk)).expect("app builds")
}

struct Apps {
    login: App,
    callback: App,
    session: App,
    http: reqwest::Client,
    idp_url: String,
}

impl Apps {
    /// Starts a login and signs in at the IdP: the browser (with its transaction cookie) and
    /// the URL the IdP sends it back to.
    async fn until_callback(&self) -> Result<(Browser, String), String> {
        let mut browser = Browser::default();
        let response = login::handle(&self.login, request(&flow::event("login-plain"))?).await;
        let cookies = set_cookies(&response);
        browser.absorb(cookies.iter().map(String::as_str));
        let authorize = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("login gave no redirect")?
            .to_owned();
        let back = flow::sign_in_at_idp(&self.http, &self.idp_url, &authorize, "usr_bob").await?;
        Ok((browser, back))
    }

    /// A complete login; returns the callback's CPU time and the signed-in browser.
    async fn sign_in(&self) -> Result<(Duration, Browser), String> {
        let (mut browser, back) = self.until_callback().await?;
        let req = request(&flow::callback_event(&back, &browser)?)?;
        let before = thread_cpu();
        let response = callback::handle(&self.callback, req).await;
        let cpu = thread_cpu() - before;
        if response.status() != 302 {
            return Err(format!("callback answered {}", response.status()));
        }
        let cookies = set_cookies(&response);
        browser.absorb(cookies.iter().map(String::as_str));
        Ok((cpu, browser))
    }

    /// The callback's steps one by one (same calls as functions/callback), each timed.
    async fn callback_steps(&self, steps: &mut [Vec<Duration>; 4]) -> Result<(), String> {
        let (browser, back) = self.until_callback().await?;
        let query: HashMap<String, String> = url::Url::parse(&back)
            .map_err(|e| e.to_string())?
            .query_pairs()
            .into_owned()
            .collect();
        let (code, state) = (&query["code"], &query["state"]);
        let app = &self.callback;
        let keys = app.session_keys.get().await.map_err(|e| e.to_string())?;
        let secret = app
            .client_secret
            .as_ref()
            .ok_or("no client secret")?
            .get()
            .await
            .map_err(|e| e.to_string())?;
        let jar = browser.cookies();
        let pairs: Vec<(&str, &str)> = jar.iter().filter_map(|c| c.split_once('=')).collect();

        let before = thread_cpu();
        let transaction = Transaction::from_cookies(&pairs, state, &keys.transaction, unix_now())
            .map_err(|e| e.to_string())?;
        steps[0].push(thread_cpu() - before);

        let tokens = timed(
            &mut steps[1],
            app.scalekit.exchange_code(
                &secret,
                &AuthorizationCode::new(code.clone()),
                "https://abc123def4.execute-api.us-east-1.amazonaws.com/api/callback",
                &transaction.secrets.pkce_verifier,
            ),
        )
        .await
        .map_err(|e| e.to_string())?;
        let claims = timed(
            &mut steps[2],
            app.scalekit
                .verify_id_token(&tokens.id_token, Some(&transaction.secrets.nonce)),
        )
        .await
        .map_err(|e| e.to_string())?;
        let record = SessionRecord::new_login(
            &new_session_id(),
            &claims,
            &tokens,
            Some("lambda-bench"),
            unix_now(),
            app.session_lifetime_secs(),
        );
        let sessions = app.sessions.as_ref().ok_or("no session table")?;
        timed(
            &mut steps[3],
            sessions.create(&record, &keys.tokens, app.idle_timeout_secs()),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The session check's network and crypto steps, each timed.
    async fn session_steps(
        &self,
        browser: &Browser,
        steps: &mut [Vec<Duration>; 2],
    ) -> Result<(), String> {
        let app = &self.session;
        let jar = browser.cookies();
        let cookie = |name: &str| {
            jar.iter()
                .filter_map(|c| c.split_once('='))
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_owned())
                .ok_or(format!("no {name} cookie"))
        };
        let keys = app.session_keys.get().await.map_err(|e| e.to_string())?;
        let record_key = session_key(&SessionId::new(cookie("__Host-sk_session")?));
        let sessions = app.sessions.as_ref().ok_or("no session table")?;
        timed(&mut steps[0], sessions.load(&record_key, &keys.tokens))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("session not found")?;
        timed(
            &mut steps[1],
            app.scalekit
                .verify_access_token(&AccessToken::new(cookie("accessToken")?)),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Runs `iterations` measured invocations of login, callback and session (after a few
/// unmeasured ones that fill the caches), on the calling thread.
pub fn measure(
    env: HashMap<String, String>,
    iterations: usize,
    warm_up: usize,
) -> Result<HandlerCpu, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let sdk = shared::aws::sdk_config().await;
        let apps = Apps {
            login: app(&env, login::NEEDS, &sdk),
            callback: app(&env, callback::NEEDS, &sdk),
            session: app(&env, session::NEEDS, &sdk),
            http: flow::http_client(),
            idp_url: env["SCALEKIT_ENVIRONMENT_URL"].clone(),
        };

        let login_event = flow::event("login-plain");
        let mut login = Vec::with_capacity(iterations);
        for i in 0..warm_up + iterations {
            let req = request(&login_event)?;
            let before = thread_cpu();
            let response = login::handle(&apps.login, req).await;
            let cpu = thread_cpu() - before;
            if response.status() != 302 {
                return Err(format!("login answered {}", response.status()));
            }
            if i >= warm_up {
                login.push(cpu);
            }
        }

        let mut callback = Vec::with_capacity(iterations);
        let mut browser = Browser::default();
        for i in 0..warm_up + iterations {
            let (cpu, signed_in) = apps.sign_in().await?;
            if i >= warm_up {
                callback.push(cpu);
            }
            browser = signed_in;
        }

        let mut session = Vec::with_capacity(iterations);
        let session_event = flow::event_with_cookies("session-signed-in", &browser);
        for i in 0..warm_up + iterations {
            let req = request(&session_event)?;
            let before = thread_cpu();
            let response = session::handle(&apps.session, req).await;
            let cpu = thread_cpu() - before;
            if response.status() != 200 {
                return Err(format!("session answered {}", response.status()));
            }
            if i >= warm_up {
                session.push(cpu);
            }
        }
        let mut callback_steps: [Vec<Duration>; 4] = Default::default();
        for _ in 0..iterations {
            apps.callback_steps(&mut callback_steps).await?;
        }
        let mut session_steps: [Vec<Duration>; 2] = Default::default();
        for _ in 0..iterations {
            apps.session_steps(&browser, &mut session_steps).await?;
        }
        let [cookie, exchange, verify, put] = callback_steps;
        let [get, verify_access] = session_steps;
        Ok(HandlerCpu {
            login,
            callback,
            session,
            callback_steps: vec![
                ("transaction cookie", cookie),
                ("code exchange (reqwest)", exchange),
                ("ID-token verification", verify),
                ("PutItem (AWS SDK)", put),
            ],
            session_steps: vec![
                ("GetItem (AWS SDK)", get),
                ("access-token verification", verify_access),
            ],
        })
    })
}
