//! Handler CPU time, measured in-process: the real `handle` functions on a single-threaded
//! runtime, timed with this thread's CPU clock. Network waits cost no CPU and are not counted;
//! the client side of each call (request building, signing, parsing) is. The Lambda runtime
//! client (event JSON, HTTP to the Runtime API) is not part of it: the emulator's process-CPU
//! figure includes that.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use flow_tests::browser::location;
use flow_tests::events::to_request;
use flow_tests::Browser;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::config::{Config, Needs};
use shared::redacted::{AccessToken, AuthorizationCode, SessionId};
use shared::scalekit::unix_now;
use shared::session::cookies::{ACCESS_TOKEN_COOKIE, SESSION_COOKIE};
use shared::session::{new_session_id, session_key, SessionRecord, Transaction};
use shared::App;

use crate::bench::Bench;
use crate::flow::{self, USER};
use crate::procfs::thread_cpu;
use crate::report::{duration, quantile};
use crate::stack::Stack;

/// Unmeasured invocations of each handler first, to fill the caches.
pub const WARM_UP: usize = 20;

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

/// Measures on a thread of its own, with the bench's stand-ins.
pub async fn measure(bench: &Bench) -> Result<HandlerCpu> {
    let stack = bench.stack.clone();
    let iterations = bench.options.iterations;
    tokio::task::spawn_blocking(move || measure_here(&stack, iterations))
        .await
        .context("in-process measurement")?
}

/// The rows of callback's and session's steps.
pub fn step_rows(bench: &mut Bench, handler: &HandlerCpu) {
    let n = bench.options.iterations;
    for (name, steps) in [
        ("callback", &handler.callback_steps),
        ("session", &handler.session_steps),
    ] {
        let parts: Vec<String> = steps
            .iter()
            .map(|(step, cpu)| format!("{step} {}", duration(quantile(cpu, 0.5))))
            .collect();
        bench.table.info(
            name,
            format!("handler CPU by step, in-process, medians (n={n})"),
            parts.join(", "),
        );
    }
}

/// CPU time of one awaited step on this thread.
async fn timed<T>(cpu: &mut Vec<Duration>, step: impl std::future::Future<Output = T>) -> T {
    let before = thread_cpu();
    let out = step.await;
    cpu.push(thread_cpu() - before);
    out
}

pub fn app(
    env: &HashMap<String, String>,
    needs: Needs,
    sdk: &aws_config::SdkConfig,
) -> Result<App> {
    let config = Config::from_lookup(|k| env.get(k).cloned(), needs).context("configuration")?;
    App::new(config, Some(sdk)).context("app")
}

struct Apps<'a> {
    login: App,
    callback: App,
    session: App,
    stack: &'a Stack,
    iterations: usize,
}

impl Apps<'_> {
    /// CPU of `handle` answering `status` to `event`, [`WARM_UP`] times unmeasured, then
    /// `iterations` times.
    async fn same_event(
        &self,
        event: &Value,
        status: u16,
        mut handle: impl AsyncFnMut(Request) -> Response<Body>,
    ) -> Result<Vec<Duration>> {
        let mut cpu = Vec::with_capacity(self.iterations);
        for i in 0..WARM_UP + self.iterations {
            let request = to_request(event);
            let before = thread_cpu();
            let response = handle(request).await;
            let spent = thread_cpu() - before;
            let got = response.status();
            let path = event["rawPath"].as_str().unwrap_or("the handler");
            ensure!(got == status, "{path} answered {got}");
            if i >= WARM_UP {
                cpu.push(spent);
            }
        }
        Ok(cpu)
    }

    /// Starts a login and signs in at the IdP: the browser (with its transaction cookie) and
    /// the URL the IdP sends it back to.
    async fn until_callback(&self) -> Result<(Browser, String)> {
        let mut browser = Browser::new();
        let response = login::handle(&self.login, to_request(&flow::event("login-plain"))).await;
        browser.absorb(&response);
        let back = self
            .stack
            .idp()
            .authorize_as(&location(&response), USER, None)
            .context("sign-in at the IdP")?;
        Ok((browser, back))
    }

    /// A complete login; returns the callback's CPU time and the signed-in browser.
    async fn sign_in(&self) -> Result<(Duration, Browser)> {
        let (mut browser, back) = self.until_callback().await?;
        let req = to_request(&flow::callback_event(&back, &browser)?);
        let before = thread_cpu();
        let response = callback::handle(&self.callback, req).await;
        let cpu = thread_cpu() - before;
        ensure!(
            response.status() == 302,
            "callback answered {}",
            response.status()
        );
        browser.absorb(&response);
        Ok((cpu, browser))
    }

    /// The callback's steps one by one (same calls as functions/callback), each timed.
    async fn callback_steps(&self, steps: &mut [Vec<Duration>; 4]) -> Result<()> {
        let (browser, back) = self.until_callback().await?;
        let query: HashMap<String, String> = url::Url::parse(&back)
            .context("IdP redirect")?
            .query_pairs()
            .into_owned()
            .collect();
        let (code, state) = (&query["code"], &query["state"]);
        let app = &self.callback;
        let keys = app.session_keys.get().await.context("session keys")?;
        let secret = app
            .client_secret
            .as_ref()
            .context("no client secret")?
            .get()
            .await
            .context("client secret")?;
        let jar = browser.cookies();
        let pairs: Vec<(&str, &str)> = jar.iter().filter_map(|c| c.split_once('=')).collect();

        let before = thread_cpu();
        let transaction = Transaction::from_cookies(&pairs, state, &keys.transaction, unix_now())
            .map_err(|e| anyhow!("transaction cookie: {e}"))?;
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
        .context("code exchange")?;
        let claims = timed(
            &mut steps[2],
            app.scalekit
                .verify_id_token(&tokens.id_token, Some(&transaction.secrets.nonce)),
        )
        .await
        .context("ID-token verification")?;
        let record = SessionRecord::new_login(
            &new_session_id(),
            &claims,
            &tokens,
            Some("lambda-bench"),
            unix_now(),
            app.session_lifetime_secs(),
        );
        let sessions = app.sessions.as_ref().context("no session table")?;
        timed(
            &mut steps[3],
            sessions.create(&record, &keys.tokens, app.idle_timeout_secs()),
        )
        .await
        .context("PutItem")?;
        Ok(())
    }

    /// The session check's network and crypto steps, each timed.
    async fn session_steps(&self, browser: &Browser, steps: &mut [Vec<Duration>; 2]) -> Result<()> {
        let app = &self.session;
        let cookie = |name: &str| {
            browser
                .get(name)
                .map(str::to_owned)
                .with_context(|| format!("no {name} cookie"))
        };
        let keys = app.session_keys.get().await.context("session keys")?;
        let record_key = session_key(&SessionId::new(cookie(SESSION_COOKIE)?));
        let sessions = app.sessions.as_ref().context("no session table")?;
        timed(&mut steps[0], sessions.load(&record_key, &keys.tokens))
            .await
            .context("GetItem")?
            .context("session not found")?;
        timed(
            &mut steps[1],
            app.scalekit
                .verify_access_token(&AccessToken::new(cookie(ACCESS_TOKEN_COOKIE)?)),
        )
        .await
        .context("access-token verification")?;
        Ok(())
    }
}

/// Runs `iterations` measured invocations of login, callback and session (after [`WARM_UP`]
/// unmeasured ones), on the calling thread.
fn measure_here(stack: &Stack, iterations: usize) -> Result<HandlerCpu> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    runtime.block_on(async move {
        // The SDK's connections belong to this thread's runtime.
        let sdk = shared::aws::sdk_config().await;
        let env = stack.in_process_env(Needs {
            client_secret: true,
            session_table: true,
            ..Needs::NONE
        });
        let apps = Apps {
            login: app(&env, login::NEEDS, &sdk)?,
            callback: app(&env, callback::NEEDS, &sdk)?,
            session: app(&env, session::NEEDS, &sdk)?,
            stack,
            iterations,
        };

        let login_event = flow::event("login-plain");
        let login = apps
            .same_event(&login_event, 302, async |request| {
                login::handle(&apps.login, request).await
            })
            .await?;

        let mut callback = Vec::with_capacity(iterations);
        let mut browser = Browser::new();
        for i in 0..WARM_UP + iterations {
            let (cpu, signed_in) = apps.sign_in().await?;
            if i >= WARM_UP {
                callback.push(cpu);
            }
            browser = signed_in;
        }

        let session_event = flow::event_with_cookies("session-signed-in", &browser);
        let session = apps
            .same_event(&session_event, 200, async |request| {
                session::handle(&apps.session, request).await
            })
            .await?;

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
