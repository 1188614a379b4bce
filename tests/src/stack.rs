//! The real stand-ins a flow test runs against: moto's server (DynamoDB, Secrets Manager), reached
//! over HTTP through `AWS_ENDPOINT_URL` as in production, and our Scalekit-compatible server.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use scalekit_dev::{DevScalekit, DevScalekitOptions};
use shared::config::{Config, Needs};
use shared::crypto::random_token;
use shared::secret_cache::SessionKeys;
use shared::session::{SessionRecord, SessionStore};
use shared::App;

use crate::iam::IamFront;
use tokio::net::{TcpListener, TcpStream};

/// A session secret for tests (the real one comes from Secrets Manager).
pub const SESSION_SECRET: &str = "test-session-secret-0123456789abcdef-0123456789";

/// One isolated environment: its own table, secrets and IdP.
pub struct Stack {
    /// The Scalekit-compatible server.
    pub idp: DevScalekit,
    /// The environment the functions are configured with.
    pub env: HashMap<String, String>,
    /// DynamoDB (moto).
    pub dynamo: aws_sdk_dynamodb::Client,
    /// Secrets Manager (moto).
    pub secrets: aws_sdk_secretsmanager::Client,
    /// This stack's session table.
    pub table: String,
    /// The AWS SDK configuration the functions use.
    pub sdk: aws_config::SdkConfig,
    /// IAM as template.yaml grants it to each function (see [`Stack::function`]).
    iam: IamFront,
}

fn require_moto() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with ./dev/test, which starts moto"
    );
}

impl Stack {
    /// Starts an IdP and creates a fresh table and secrets in moto.
    pub async fn start() -> Self {
        Self::start_with(DevScalekitOptions::default()).await
    }

    /// As [`Stack::start`], with IdP options (e.g. a short access-token lifetime).
    pub async fn start_with(options: DevScalekitOptions) -> Self {
        require_moto();
        crate::logs::install();
        let idp = DevScalekit::start_with(options)
            .await
            .expect("dev Scalekit server starts");
        let sdk = shared::aws::sdk_config().await;
        let dynamo = shared::aws::dynamodb(&sdk);
        let secrets = shared::aws::secrets_manager(&sdk);
        let suffix = random_token(6).replace(['-', '_'], "x");
        let table = format!("sessions-{suffix}");
        crate::table::create_session_table(&dynamo, &table).await;
        let client_secret_arn =
            create_secret(&secrets, &format!("client-{suffix}"), idp.client_secret()).await;
        let session_secret_arn = create_secret(
            &secrets,
            &format!("session-{suffix}"),
            &format!(r#"{{"session_secret":"{SESSION_SECRET}"}}"#),
        )
        .await;
        let webhook_secret_arn =
            create_secret(&secrets, &format!("webhook-{suffix}"), idp.webhook_secret()).await;
        let env = HashMap::from([
            ("SCALEKIT_ENVIRONMENT_URL".to_owned(), idp.url()),
            ("SCALEKIT_CLIENT_ID".to_owned(), idp.client_id().to_owned()),
            ("SCALEKIT_CLIENT_SECRET_ARN".to_owned(), client_secret_arn),
            ("SCALEKIT_WEBHOOK_SECRET_ARN".to_owned(), webhook_secret_arn),
            ("SESSION_SECRET_ARN".to_owned(), session_secret_arn),
            ("SESSION_TABLE".to_owned(), table.clone()),
            // The route policies template.yaml deploys, as dev/run gives them too.
            (
                "ROUTE_POLICIES".to_owned(),
                crate::gateway::template_variable("authorizer", "ROUTE_POLICIES"),
            ),
        ]);
        let iam =
            IamFront::start(&std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(), &env).await;
        Self {
            idp,
            env,
            dynamo,
            secrets,
            table,
            sdk,
            iam,
        }
    }

    /// moto's endpoint (`AWS_ENDPOINT_URL`), to put a fault-injecting proxy in front of.
    pub fn moto_url(&self) -> String {
        std::env::var("AWS_ENDPOINT_URL").expect("Stack::start checked it")
    }

    /// The configuration a function with `needs` gets from this stack's environment.
    pub fn config(&self, needs: Needs) -> Config {
        Config::from_lookup(|k| self.env.get(k).cloned(), needs).expect("valid test configuration")
    }

    /// A function's per-container state, as its `main` builds it.
    pub fn app(&self, needs: Needs) -> App {
        App::new(self.config(needs), Some(&self.sdk)).expect("app builds")
    }

    /// A function's per-container state, built from this stack's configuration as changed by
    /// `adjust` (e.g. a shorter timeout or another Scalekit URL).
    pub fn app_with(&self, needs: Needs, adjust: impl FnOnce(&mut Config)) -> App {
        let mut config = self.config(needs);
        adjust(&mut config);
        App::new(config, Some(&self.sdk)).expect("app builds")
    }

    /// The per-container state of the function built from crate `binary`, as deployed: its AWS
    /// calls are allowed only what template.yaml's policy grants it ([`IamFront`]).
    pub fn function(&self, binary: &str, needs: Needs) -> App {
        self.app_via(needs, &self.iam.endpoint(binary))
    }

    /// A function's state whose AWS calls go through `endpoint` instead (e.g. a [`FlakyProxy`]).
    pub fn app_via(&self, needs: Needs, endpoint: &str) -> App {
        // Without the env-derived service config, whose AWS_ENDPOINT_URL would win over ours.
        let mut builder = self.sdk.to_builder().endpoint_url(endpoint);
        builder.set_service_config(Some(NoServiceConfig));
        let sdk = builder.build();
        App::new(self.config(needs), Some(&sdk)).expect("app builds")
    }

    /// Rotates the Scalekit client secret as an operator does: Scalekit and Secrets Manager both
    /// hold `value` afterwards (warm containers still cache the old one).
    pub async fn rotate_client_secret(&self, value: &str) {
        self.idp.set_client_secret(value);
        self.put_secret("SCALEKIT_CLIENT_SECRET_ARN", value).await;
    }

    /// Rotates the session secret in Secrets Manager to `value` (warm containers still cache the
    /// old one; fresh ones keep it as the previous generation).
    pub async fn rotate_session_secret(&self, value: &str) {
        let secret = format!(r#"{{"session_secret":"{value}"}}"#);
        self.put_secret("SESSION_SECRET_ARN", &secret).await;
    }

    /// Stores a new value of the secret whose ARN the environment variable `arn_variable` holds.
    async fn put_secret(&self, arn_variable: &str, value: &str) {
        self.secrets
            .put_secret_value()
            .secret_id(&self.env[arn_variable])
            .secret_string(value)
            .send()
            .await
            .expect("rotate the secret");
    }

    /// The session table as the functions see it, with the keys of [`SESSION_SECRET`].
    pub fn session_store(&self) -> (SessionStore, SessionKeys) {
        (
            SessionStore::new(self.dynamo.clone(), self.table.clone()),
            SessionKeys::derive(SESSION_SECRET.as_bytes(), None),
        )
    }

    /// Every session record, opened as the functions open them.
    pub async fn sessions(&self) -> Vec<SessionRecord> {
        let (store, keys) = self.session_store();
        let mut records = Vec::new();
        for item in self.session_items().await {
            let key = item["id"].as_s().expect("id").clone();
            records.extend(store.load(&key, &keys.tokens).await.expect("opens"));
        }
        records
    }

    /// Changes every session record through the product's own sealed write (e.g. to age a
    /// session: the sealed timestamps cannot be edited in the table).
    pub async fn edit_sessions(&self, edit: impl Fn(&mut SessionRecord)) {
        let (store, keys) = self.session_store();
        for mut record in self.sessions().await {
            edit(&mut record);
            record.version += 1;
            let outcome = store
                .store_rotation(&record, &keys.tokens, 7 * 24 * 3600)
                .await
                .expect("write session");
            assert_eq!(outcome, shared::session::RotationOutcome::Stored);
        }
    }

    /// Stores `count` more sessions like `record`, each of its own user (`{prefix}{n}`) under a
    /// fresh session id, as that many sign-ins would.
    pub async fn store_sessions_like(&self, record: &SessionRecord, prefix: &str, count: usize) {
        let (store, keys) = self.session_store();
        for n in 0..count {
            let mut copy = record.clone();
            copy.key = shared::session::session_key(&shared::session::new_session_id());
            copy.user_id = format!("{prefix}{n}");
            store
                .create(&copy, &keys.tokens, 7 * 24 * 3600)
                .await
                .expect("store a session");
        }
    }

    /// Removes the clear attribute `name` from the item of session `record_key`: as an
    /// eventually consistent index that has not caught up with it shows it, that hint finds it not.
    pub async fn remove_session_attribute(&self, record_key: &str, name: &str) {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(record_key.to_owned()))
            .update_expression("REMOVE #name")
            .expression_attribute_names("#name", name)
            .send()
            .await
            .expect("update session");
    }

    /// Moves every replay marker's expiry `seconds` earlier: as if that much time had passed.
    pub async fn age_replay_markers(&self, seconds: i64) {
        let (markers, _) = self.items().await;
        for marker in markers {
            let expiration: i64 = marker["expiration"]
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .expect("a marker's expiration");
            self.dynamo
                .update_item()
                .table_name(&self.table)
                .key("id", marker["id"].clone())
                .update_expression("SET expiration = :e")
                .expression_attribute_values(
                    ":e",
                    AttributeValue::N((expiration - seconds).to_string()),
                )
                .send()
                .await
                .expect("age a replay marker");
        }
    }

    /// Sets attributes of every session item in clear, as a table writer could.
    pub async fn set_session_attributes(&self, values: &[(&str, AttributeValue)]) {
        for item in self.session_items().await {
            let mut update = self
                .dynamo
                .update_item()
                .table_name(&self.table)
                .key("id", item["id"].clone());
            let mut expression = Vec::new();
            for (i, (name, value)) in values.iter().enumerate() {
                expression.push(format!("#n{i} = :v{i}"));
                update = update
                    .expression_attribute_names(format!("#n{i}"), *name)
                    .expression_attribute_values(format!(":v{i}"), value.clone());
            }
            update
                .update_expression(format!("SET {}", expression.join(", ")))
                .send()
                .await
                .expect("update session");
        }
    }

    /// Every item in the session table but the replay markers it also holds (keys `seen#...`):
    /// a stray item without `data` still shows.
    pub async fn session_items(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items().await.1
    }

    /// Every item in the session table (one page: the tests' tables are small), as (replay
    /// markers, the rest).
    async fn items(&self) -> (Vec<Item>, Vec<Item>) {
        self.dynamo
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default()
            .into_iter()
            .partition(|item| {
                item.get("id")
                    .and_then(|id| id.as_s().ok())
                    .is_some_and(|id| id.starts_with("seen#"))
            })
    }
}

/// A table item.
type Item = HashMap<String, AttributeValue>;

#[derive(Debug)]
struct NoServiceConfig;

impl aws_types::service_config::LoadServiceConfig for NoServiceConfig {
    fn load_config(&self, _key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

async fn create_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> String {
    secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret in moto")
        .arn
        .expect("arn")
}

/// Every stack, when a test is done with it, proves that no code or token its IdP issued, and
/// neither secret, reached any log line captured in this process.
impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let mut secrets = self.idp.issued_secrets();
        secrets.push(self.idp.client_secret().to_owned());
        secrets.push(SESSION_SECRET.to_owned());
        let leaks = crate::logs::leaks(&secrets);
        assert!(leaks.is_empty(), "secrets reached the logs: {leaks:?}");
    }
}

/// A TCP proxy in front of a real service that can be switched off (open connections are cut,
/// new ones accepted and dropped) and on again: an outage and its recovery, in one container.
pub struct FlakyProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl FlakyProxy {
    /// A proxy to `target` (`http://host:port`), initially up.
    pub async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut down = watch.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = down.wait_for(|up| !*up) => {}
                        }
                    }
                });
            }
        });
        Self { url, up }
    }

    /// Switches the service off or on.
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// An HTTP proxy in front of moto that answers the first `throttled` DynamoDB requests with
/// `ProvisionedThroughputExceededException`, as DynamoDB does under load, then passes through.
pub struct ThrottlingProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ThrottlingProxy {
    /// Starts the proxy in front of `target` (`http://host:port`).
    pub async fn start(target: &str, throttled: usize) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let url = forwarding_proxy(target, move |_path, headers, _body| {
            let dynamodb = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("DynamoDB_"));
            (dynamodb && counter.fetch_add(1, Ordering::SeqCst) < throttled).then(|| {
                axum::response::Response::builder()
                    .status(400)
                    .header("content-type", "application/x-amz-json-1.0")
                    .body(axum::body::Body::from(r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"Rate of requests exceeds the allowed throughput."}"#))
                    .expect("static response")
            })
        })
        .await;
        Self { url, seen }
    }

    /// DynamoDB requests seen so far (throttled or passed through).
    pub fn dynamodb_requests(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An HTTP proxy in front of `target` (moto, `http://host:port`), returning its URL. `decide`
/// sees each request's path, headers and body first: its answer is sent instead, or with `None`
/// the request goes on to `target`'s root (the AWS JSON protocols post to `/`) and its answer
/// comes back.
pub async fn forwarding_proxy<D>(target: &str, decide: D) -> String
where
    D: Fn(&str, &axum::http::HeaderMap, &[u8]) -> Option<axum::response::Response>
        + Send
        + Sync
        + 'static,
{
    slow_forwarding_proxy(target, std::time::Duration::ZERO, decide).await
}

/// [`forwarding_proxy`], answering each forwarded request `latency` later (a service far away or
/// under load).
pub async fn slow_forwarding_proxy<D>(
    target: &str,
    latency: std::time::Duration,
    decide: D,
) -> String
where
    D: Fn(&str, &axum::http::HeaderMap, &[u8]) -> Option<axum::response::Response>
        + Send
        + Sync
        + 'static,
{
    use axum::body::{to_bytes, Body};
    use axum::extract::Request;
    use axum::response::Response;

    let decide = std::sync::Arc::new(decide);
    let target = format!("{target}/");
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: Request| {
        let (decide, target, http) = (decide.clone(), target.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
            if let Some(answer) = decide(parts.uri.path(), &parts.headers, &body) {
                return answer;
            }
            tokio::time::sleep(latency).await;
            let mut forward = http.request(parts.method, target);
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            match forward.body(body).send().await {
                Ok(answer) => {
                    let mut response = Response::builder().status(answer.status().as_u16());
                    for (name, value) in answer.headers() {
                        response = response.header(name, value);
                    }
                    response
                        .body(Body::from(answer.bytes().await.unwrap_or_default()))
                        .expect("forwarded response")
                }
                Err(_) => Response::builder()
                    .status(502)
                    .body(Body::empty())
                    .expect("static response"),
            }
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// An AWS endpoint that answers every request with `200` and a chunked body that never ends, as
/// fast as the client reads it (a broken proxy or endpoint). Counts what it managed to send.
pub struct EndlessAnswers {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl EndlessAnswers {
    /// Starts the endpoint.
    pub async fn start() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let sent = std::sync::Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 16 * 1024];
                    if socket.read(&mut request).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
                                transfer-encoding: chunked\r\n\r\n";
                    let mut chunk = b"4000\r\n".to_vec();
                    chunk.extend_from_slice(&[b' '; 0x4000]);
                    chunk.extend_from_slice(b"\r\n");
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    while socket.write_all(&chunk).await.is_ok() {
                        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        Self { url, sent }
    }

    /// Body bytes written so far, over every connection.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }
}
