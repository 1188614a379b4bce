//! `lambda-bench`: cold start, invocation latency and CPU, peak memory, package size and network
//! calls of every function binary, measured the way Lambda runs them: each release binary is
//! started as a process with Lambda's environment and talks to a Runtime API emulator on
//! 127.0.0.1; Scalekit is the dev server (its own request counters), AWS is moto behind a proxy
//! that counts calls by operation. Prints one Markdown table. Run it through `./dev/bench`,
//! which builds the binaries and starts moto.

mod emulator;
mod flow;
mod inproc;
mod procfs;
mod proxy;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use scalekit_dev::{DevScalekit, DevScalekitOptions, Endpoint};
use serde_json::Value;
use shared::config::Needs;

use emulator::Container;
use flow::{location, status, Browser};
use proxy::{Mode, Proxy};
use report::{calls, duration, mebibytes, median_p95, megabytes, quantile, Table};

/// Every function binary, with what its crate needs configured.
const FUNCTIONS: [(&str, Needs); 6] = [
    ("login", login::NEEDS),
    ("callback", callback::NEEDS),
    ("session", session::NEEDS),
    ("refresh", refresh::NEEDS),
    ("logout", logout::NEEDS),
    ("profile", profile::NEEDS),
];
/// A demo user with a single organization (no organization picker).
const USER: &str = "usr_bob";
const SESSION_SECRET: &str = "bench-session-secret-0123456789abcdef-0123456789";
const INIT_TARGET: Duration = Duration::from_millis(10);
const MEMORY_TARGET: u64 = 20 * 1024 * 1024;
const ZIP_TARGET: u64 = 3_000_000;
/// How long the network stays black-holed after the first event is handed over.
const BLACKHOLE_FOR: Duration = Duration::from_secs(1);

struct Options {
    iterations: usize,
    cold_starts: usize,
    bin_dir: PathBuf,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        iterations: 200,
        cold_starts: 10,
        bin_dir: std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .ok_or("cannot locate the binaries; pass --bin-dir")?,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--iterations" => {
                options.iterations = value()?.parse().map_err(|e| format!("{arg}: {e}"))?;
            }
            "--cold-starts" => {
                options.cold_starts = value()?.parse().map_err(|e| format!("{arg}: {e}"))?;
            }
            "--bin-dir" => options.bin_dir = PathBuf::from(value()?),
            "-h" | "--help" => return Err(
                "usage: lambda-bench [--iterations N (200)] [--cold-starts N (10)] [--bin-dir DIR]"
                    .into(),
            ),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(1..=10_000).contains(&options.iterations) || !(1..=1000).contains(&options.cold_starts) {
        return Err("--iterations must be 1..=10000 and --cold-starts 1..=1000".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name, flavour] = &args[..] {
        if flag == "--serve-function" {
            return serve_function(name, flavour);
        }
    }
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("lambda-bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    // The in-process handler figures include the JSON log formatting the functions do in Lambda
    // (written nowhere). Set before any thread starts.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    lambda_http::tracing::init_default_subscriber_with_writer(std::io::sink);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lambda-bench: runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let result = runtime.block_on(run(options));
    match result {
        Ok(table) => {
            print!("{table}");
            eprintln!(
                "lambda-bench: done in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("lambda-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: &str) {
    eprintln!("\x1b[1m==> {message}\x1b[0m");
}

/// The stand-ins: the dev Scalekit server in this process, moto (started by `./dev/bench`), and
/// this run's table and secrets in moto.
struct Stack {
    idp: DevScalekit,
    moto: SocketAddr,
    moto_url: String,
    table: String,
    client_secret_arn: String,
    session_secret_arn: String,
}

impl Stack {
    async fn start() -> Result<Stack, String> {
        let moto_url = std::env::var("AWS_ENDPOINT_URL")
            .map_err(|_| "AWS_ENDPOINT_URL is not set: run ./dev/bench, which starts moto")?;
        let moto = socket_addr(&moto_url)?;
        let idp = DevScalekit::start()
            .await
            .map_err(|e| format!("dev Scalekit server: {e}"))?;
        let sdk = shared::aws::sdk_config().await;
        let dynamo = shared::aws::dynamodb(&sdk);
        let secrets = shared::aws::secrets_manager(&sdk);
        let suffix = shared::crypto::random_token(6).replace(['-', '_'], "x");
        let table = format!("bench-sessions-{suffix}");
        create_table(&dynamo, &table).await?;
        let client_secret_arn = create_secret(
            &secrets,
            &format!("bench-client-{suffix}"),
            idp.client_secret(),
        )
        .await?;
        let session_secret_arn = create_secret(
            &secrets,
            &format!("bench-session-{suffix}"),
            &format!(r#"{{"session_secret":"{SESSION_SECRET}"}}"#),
        )
        .await?;
        Ok(Stack {
            idp,
            moto,
            moto_url,
            table,
            client_secret_arn,
            session_secret_arn,
        })
    }

    /// What Lambda puts in a function's environment, plus the function's configuration as in
    /// template.yaml (only what its crate's NEEDS reads).
    fn function_env(
        &self,
        name: &str,
        needs: Needs,
        scalekit_url: &str,
        aws_url: &str,
    ) -> Vec<(String, String)> {
        let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_owned());
        let region = var("AWS_REGION", "us-east-1");
        let mut env: Vec<(&str, String)> = vec![
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]bench".into(),
            ),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", region.clone()),
            ("AWS_DEFAULT_REGION", region),
            ("AWS_ACCESS_KEY_ID", var("AWS_ACCESS_KEY_ID", "testing")),
            (
                "AWS_SECRET_ACCESS_KEY",
                var("AWS_SECRET_ACCESS_KEY", "testing"),
            ),
            ("AWS_SESSION_TOKEN", "bench-session-token".into()),
            ("AWS_ENDPOINT_URL", aws_url.to_owned()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("_HANDLER", "bootstrap".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
            ("SCALEKIT_ENVIRONMENT_URL", scalekit_url.to_owned()),
            ("SCALEKIT_CLIENT_ID", self.idp.client_id().to_owned()),
            ("SESSION_SECRET_ARN", self.session_secret_arn.clone()),
            ("POST_LOGIN_REDIRECT", "/dashboard/profile".into()),
            ("POST_LOGOUT_REDIRECT", "/".into()),
        ];
        if needs.client_secret {
            env.push(("SCALEKIT_CLIENT_SECRET_ARN", self.client_secret_arn.clone()));
        }
        if needs.session_table {
            env.push(("SESSION_TABLE", self.table.clone()));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

fn socket_addr(url: &str) -> Result<SocketAddr, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host = parsed.host_str().ok_or(format!("{url}: no host"))?;
    let port = parsed
        .port_or_known_default()
        .ok_or(format!("{url}: no port"))?;
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}")
        .parse()
        .map_err(|e| format!("{url}: {e} (the bench only talks to 127.0.0.1)"))
}

async fn create_table(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    let definition = AttributeDefinition::builder()
        .attribute_name("id")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| e.to_string())?;
    let key = KeySchemaElement::builder()
        .attribute_name("id")
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| e.to_string())?;
    dynamo
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition)
        .key_schema(key)
        .send()
        .await
        .map_err(|e| format!("create table in moto: {e}"))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("expiration")
        .enabled(true)
        .build()
        .map_err(|e| e.to_string())?;
    dynamo
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| format!("enable TTL in moto: {e}"))?;
    Ok(())
}

async fn create_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<String, String> {
    secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| format!("create secret in moto: {e}"))?
        .arn
        .ok_or_else(|| "moto returned no ARN".to_owned())
}

fn needs_of(name: &str) -> Result<Needs, String> {
    FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, needs)| *needs)
        .ok_or(format!("unknown function {name}"))
}

/// `lambda-bench --serve-function NAME multi-thread|current-thread`: what functions/NAME's main
/// does, on the given runtime flavour (login, callback and session).
fn serve_function(name: &str, flavour: &str) -> ExitCode {
    shared::telemetry::init();
    let runtime = match flavour {
        "current-thread" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let Ok(runtime) = runtime else {
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(async {
        let needs = needs_of(name)?;
        let app: &'static shared::App = Box::leak(Box::new(
            shared::App::from_env(needs)
                .await
                .map_err(|e| e.to_string())?,
        ));
        app.warm_up();
        // As functions/*/src/main.rs serve their handler.
        let served = match name {
            "login" => shared::runtime::run(move |req| login::handle(app, req)).await,
            "callback" => shared::runtime::run(move |req| callback::handle(app, req)).await,
            "session" => shared::runtime::run(move |req| session::handle(app, req)).await,
            other => return Err(format!("--serve-function {other}: not offered")),
        };
        served.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Calls the dev Scalekit server has received so far, by endpoint.
fn scalekit_calls(idp: &DevScalekit) -> BTreeMap<String, usize> {
    BTreeMap::from([
        ("Token".to_owned(), idp.requests(Endpoint::Token)),
        ("Keys".to_owned(), idp.requests(Endpoint::Keys)),
    ])
}

/// `new - old` per operation, divided by `per`.
fn delta(
    new: &BTreeMap<String, usize>,
    old: &BTreeMap<String, usize>,
    per: usize,
) -> BTreeMap<String, f64> {
    new.iter()
        .map(|(k, n)| {
            let before = old.get(k).copied().unwrap_or(0);
            (k.clone(), (n - before) as f64 / per.max(1) as f64)
        })
        .collect()
}

fn nothing(counts: &BTreeMap<String, f64>) -> bool {
    counts.values().all(|n| *n == 0.0)
}

fn exactly(counts: &BTreeMap<String, f64>, expected: &[(&str, f64)]) -> bool {
    counts.iter().all(|(name, n)| {
        let want = expected
            .iter()
            .find(|(e, _)| e == name)
            .map_or(0.0, |(_, w)| *w);
        (n - want).abs() < 1e-9
    })
}

fn expect_status(response: &Value, want: u64, what: &str) -> Result<(), String> {
    let got = status(response);
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what} answered {got}, expected {want}: {}",
            response["body"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>()
        ))
    }
}

fn zip_bootstrap(binary: &Path, dir: &Path) -> Result<u64, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap).map_err(|e| format!("copy: {e}"))?;
    let archive = dir.join("bootstrap.zip");
    // As cargo-lambda packages it: one entry, `bootstrap`, deflated, mode 755.
    let status = Command::new("zip")
        .args(["-q", "-X", "-j"])
        .arg(&archive)
        .arg(&bootstrap)
        .status()
        .map_err(|e| format!("zip: {e} (install the zip package)"))?;
    if !status.success() {
        return Err(format!("zip failed: {status}"));
    }
    std::fs::metadata(&archive)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

struct Bench {
    options: Options,
    stack: Stack,
    work: PathBuf,
    http: reqwest::Client,
    table: Table,
    log_seq: usize,
}

impl Bench {
    fn binary(&self, name: &str) -> PathBuf {
        self.options.bin_dir.join(name)
    }

    async fn start(
        &mut self,
        name: &str,
        scalekit_url: &str,
        aws_url: &str,
    ) -> Result<Container, String> {
        let needs = needs_of(name)?;
        let env = self.stack.function_env(name, needs, scalekit_url, aws_url);
        self.log_seq += 1;
        let log = self
            .work
            .join("logs")
            .join(format!("{:04}-{name}.log", self.log_seq));
        Container::start(&self.binary(name), &[], name, &env, &log).await
    }

    /// `name`'s handler in this binary (`--serve-function`), on a multi-thread or current-thread
    /// runtime: isolates what the runtime flavour costs per invocation.
    async fn start_variant(
        &mut self,
        name: &str,
        flavour: &str,
        aws_url: &str,
    ) -> Result<Container, String> {
        let needs = needs_of(name)?;
        let idp_url = self.stack.idp.url();
        let env = self.stack.function_env(name, needs, &idp_url, aws_url);
        self.log_seq += 1;
        let log = self
            .work
            .join("logs")
            .join(format!("{:04}-{name}-{flavour}.log", self.log_seq));
        let binary = self.binary("lambda-bench");
        Container::start(
            &binary,
            &["--serve-function", name, flavour],
            name,
            &env,
            &log,
        )
        .await
    }

    /// Process CPU of `n` warm invocations (after a first one).
    async fn warm_cpu(
        &mut self,
        container: &mut Container,
        expected: u64,
        mut next_event: impl AsyncFnMut(&mut Self) -> Result<Value, String>,
    ) -> Result<Vec<Duration>, String> {
        let mut cpu = Vec::with_capacity(self.options.iterations);
        for i in 0..=self.options.iterations {
            let event = next_event(self).await?;
            let invocation = container.invoke(&event).await?;
            expect_status(&invocation.response, expected, &container.name)?;
            if i > 0 {
                cpu.push(invocation.cpu);
            }
        }
        Ok(cpu)
    }

    /// Starts a login in `login` (a running login container), signs in at `idp_url` and
    /// returns the callback event and the browser that carries its transaction cookie.
    async fn prepared_callback(
        &self,
        login: &mut Container,
        idp_url: &str,
    ) -> Result<(Value, Browser), String> {
        let mut browser = Browser::default();
        let started = login.invoke(&flow::event("login-plain")).await?;
        expect_status(&started.response, 302, "login")?;
        browser.absorb_response(&started.response);
        let authorize = location(&started.response).ok_or("login gave no Location")?;
        let back = flow::sign_in_at_idp(&self.http, idp_url, &authorize, USER).await?;
        Ok((flow::callback_event(&back, &browser)?, browser))
    }

    async fn cold_starts(
        &mut self,
        name: &str,
        scalekit_url: &str,
        aws_url: &str,
    ) -> Result<Vec<Duration>, String> {
        let mut inits = Vec::with_capacity(self.options.cold_starts);
        for _ in 0..self.options.cold_starts {
            let container = self.start(name, scalekit_url, aws_url).await?;
            inits.push(container.init);
            container.stop();
        }
        Ok(inits)
    }

    fn init_row(&mut self, name: &str, inits: &[Duration], condition: &str) {
        let median = quantile(inits, 0.5);
        let max = quantile(inits, 1.0);
        self.table.target(
            name,
            format!(
                "init, {condition}: process start → first `GET …/invocation/next` (median / max of {})",
                inits.len()
            ),
            format!("{} / {}", duration(median), duration(max)),
            "≤ 10 ms",
            median <= INIT_TARGET,
        );
    }

    /// First and warm invocations of one container; returns the last response. `scalekit_before`
    /// is the dev server's count from before the container started (its init may fetch keys).
    #[allow(clippy::too_many_arguments)]
    async fn invocations(
        &mut self,
        scalekit_before: BTreeMap<String, usize>,
        container: &mut Container,
        first_event: &Value,
        mut next_event: impl AsyncFnMut(&mut Self) -> Result<Value, String>,
        expected: u64,
        aws: &Proxy,
        handler_cpu: &[Duration],
        handler_target: Option<Duration>,
    ) -> Result<(Value, Counts), String> {
        let name = container.name.clone();
        let first = container.invoke(first_event).await?;
        expect_status(&first.response, expected, &name)?;
        let scalekit_first = scalekit_calls(&self.stack.idp);
        let aws_first = aws.counts();
        let mut latency = Vec::with_capacity(self.options.iterations);
        let mut cpu = Vec::with_capacity(self.options.iterations);
        let mut last = first.response.clone();
        for _ in 0..self.options.iterations {
            let event = next_event(self).await?;
            let invocation = container.invoke(&event).await?;
            expect_status(&invocation.response, expected, &name)?;
            latency.push(invocation.latency);
            cpu.push(invocation.cpu);
            last = invocation.response;
        }
        let n = self.options.iterations;
        let counts = Counts {
            scalekit_init: delta(&scalekit_first, &scalekit_before, 1),
            aws_init: delta(&aws_first, &BTreeMap::new(), 1),
            scalekit_warm: delta(&scalekit_calls(&self.stack.idp), &scalekit_first, n),
            aws_warm: delta(&aws.counts(), &aws_first, n),
        };
        self.table.info(
            &name,
            "first invocation of a fresh container (waits for the warm-up reads): latency (process CPU)",
            format!("{} ({})", duration(first.latency), duration(first.cpu)),
        );
        self.table.info(
            &name,
            format!("warm invocation latency at the Runtime API, stand-ins on loopback, median / p95 (n={n})"),
            median_p95(&latency),
        );
        self.table.info(
            &name,
            "process CPU per warm invocation: handler + runtime client + JSON log line, median / p95",
            median_p95(&cpu),
        );
        let measure = format!(
            "handler CPU per warm invocation, in-process, network waits excluded, median / p95 (n={})",
            handler_cpu.len()
        );
        match handler_target {
            Some(target) => self.table.target(
                &name,
                measure,
                median_p95(handler_cpu),
                format!("≤ {}", duration(target)),
                quantile(handler_cpu, 0.5) <= target,
            ),
            None => self.table.info(&name, measure, median_p95(handler_cpu)),
        }
        Ok((last, counts))
    }

    fn memory_row(&mut self, container: &Container, invocations: usize) {
        let peak = container.peak_rss().unwrap_or(0);
        self.table.target(
            &container.name,
            format!(
                "peak resident memory (VmHWM; MB as Lambda's Max Memory Used, i.e. MiB) after init + {invocations} invocations"
            ),
            mebibytes(peak),
            "≤ 20 MB",
            peak > 0 && peak <= MEMORY_TARGET,
        );
    }
}

struct Counts {
    scalekit_init: BTreeMap<String, f64>,
    aws_init: BTreeMap<String, f64>,
    scalekit_warm: BTreeMap<String, f64>,
    aws_warm: BTreeMap<String, f64>,
}

impl Counts {
    fn init(&self) -> String {
        format!(
            "Scalekit: {}; AWS: {}",
            calls(&self.scalekit_init),
            calls(&self.aws_init)
        )
    }

    fn warm(&self) -> String {
        format!(
            "Scalekit: {}; AWS: {}",
            calls(&self.scalekit_warm),
            calls(&self.aws_warm)
        )
    }
}

async fn run(options: Options) -> Result<String, String> {
    for (name, _) in FUNCTIONS {
        let binary = options.bin_dir.join(name);
        if !binary.is_file() {
            return Err(format!(
                "{} not found: build with cargo build --release --bins (./dev/bench does)",
                binary.display()
            ));
        }
    }
    // target/lambda-bench: logs of every function process, and the zips.
    let work = options
        .bin_dir
        .parent()
        .unwrap_or(&options.bin_dir)
        .join("lambda-bench");
    std::fs::create_dir_all(work.join("logs")).map_err(|e| format!("{}: {e}", work.display()))?;
    progress("stand-ins: dev Scalekit server, session table and secrets in moto");
    let stack = Stack::start().await?;
    let mut bench = Bench {
        options,
        stack,
        work,
        http: flow::http_client(),
        table: Table::default(),
        log_seq: 0,
    };
    let n = bench.options.iterations;
    let idp_url = bench.stack.idp.url();
    let moto = bench.stack.moto;

    progress("cold starts");
    let init_proxy = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    for (name, _) in FUNCTIONS {
        let inits = bench.cold_starts(name, &idp_url, &init_proxy.url).await?;
        bench.init_row(name, &inits, "stand-ins reachable");
    }
    drop(init_proxy);

    progress("handler CPU, in-process");
    let env: HashMap<String, String> = bench
        .stack
        .function_env(
            "in-process",
            Needs {
                client_secret: true,
                session_table: true,
                ..Needs::NONE
            },
            &idp_url,
            &bench.stack.moto_url,
        )
        .into_iter()
        .collect();
    let handler = tokio::task::spawn_blocking(move || inproc::measure(env, n, 20))
        .await
        .map_err(|e| format!("in-process measurement: {e}"))??;

    progress("login");
    let login_aws = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    let scalekit_before = scalekit_calls(&bench.stack.idp);
    let mut login = bench.start("login", &idp_url, &login_aws.url).await?;
    let login_event = flow::event("login-plain");
    let (_, counts) = bench
        .invocations(
            scalekit_before,
            &mut login,
            &login_event,
            async |_: &mut Bench| Ok(flow::event("login-plain")),
            302,
            &login_aws,
            &handler.login,
            Some(Duration::from_micros(50)),
        )
        .await?;
    let login_ok = nothing(&counts.scalekit_warm) && nothing(&counts.aws_warm);
    bench.table.target(
        "login",
        format!("network calls per warm invocation (n={n})"),
        counts.warm(),
        "0",
        login_ok,
    );
    bench.table.info(
        "login",
        "network calls at init + first invocation",
        counts.init(),
    );

    progress("callback (each invocation gets a fresh login through the login function)");
    let callback_aws = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    let (first_event, _) = bench.prepared_callback(&mut login, &idp_url).await?;
    let scalekit_before = scalekit_calls(&bench.stack.idp);
    let mut callback = bench.start("callback", &idp_url, &callback_aws.url).await?;
    let mut login_for_callbacks = Some(login);
    let (signed_in, counts) = {
        let idp_url = idp_url.clone();
        let mut browser_slot: Option<Browser> = None;
        let result = bench
            .invocations(
                scalekit_before,
                &mut callback,
                &first_event,
                async |bench: &mut Bench| {
                    let login = login_for_callbacks.as_mut().expect("login container");
                    let (event, browser) = bench.prepared_callback(login, &idp_url).await?;
                    browser_slot = Some(browser);
                    Ok(event)
                },
                302,
                &callback_aws,
                &handler.callback,
                Some(Duration::from_micros(300)),
            )
            .await?;
        let mut browser = browser_slot.ok_or("no callback ran")?;
        browser.absorb_response(&result.0);
        (browser, result.1)
    };
    let mut login = login_for_callbacks.take().expect("login container");
    let callback_ok = exactly(&counts.scalekit_warm, &[("Token", 1.0)])
        && exactly(&counts.aws_warm, &[("PutItem", 1.0)]);
    bench.table.target(
        "callback",
        format!("network calls per warm invocation (n={n})"),
        counts.warm(),
        "Token 1, PutItem 1",
        callback_ok,
    );
    let keys_once = counts.scalekit_init.get("Keys").copied() == Some(1.0)
        && counts.scalekit_warm.get("Keys").copied() == Some(0.0);
    bench.table.target(
        "callback",
        "network calls at init + first invocation",
        counts.init(),
        "keys once per container",
        keys_once,
    );
    if !signed_in.has("__Host-sk_session") {
        return Err("the last callback set no session cookie".into());
    }

    progress("session");
    let session_aws = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    let session_event = flow::event_with_cookies("session-signed-in", &signed_in);
    let scalekit_before = scalekit_calls(&bench.stack.idp);
    let mut session = bench.start("session", &idp_url, &session_aws.url).await?;
    let (_, counts) = {
        let event = session_event.clone();
        bench
            .invocations(
                scalekit_before,
                &mut session,
                &session_event,
                async |_: &mut Bench| Ok(event.clone()),
                200,
                &session_aws,
                &handler.session,
                None,
            )
            .await?
    };
    let session_ok = nothing(&counts.scalekit_warm) && nothing(&counts.aws_warm);
    bench.table.target(
        "session",
        format!("network calls per warm invocation, access token valid (n={n})"),
        format!(
            "{} (GetItem by design: a logged-out or revoked session must fail at once)",
            counts.warm()
        ),
        "0",
        session_ok,
    );
    bench.table.info(
        "session",
        "network calls at init + first invocation",
        counts.init(),
    );

    for container in [&login, &callback, &session] {
        let invocations = match container.name.as_str() {
            // The login function also started every callback's login.
            "login" => 2 * n + 2,
            _ => n + 1,
        };
        bench.memory_row(container, invocations);
    }
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

    progress("runtime flavour: the same handlers on a multi-thread and a current-thread runtime");
    let flavour_aws = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    for name in ["login", "callback", "session"] {
        let mut medians = Vec::new();
        for flavour in ["multi-thread", "current-thread"] {
            let mut container = bench.start_variant(name, flavour, &flavour_aws.url).await?;
            let cpu = match name {
                "login" => {
                    bench
                        .warm_cpu(&mut container, 302, async |_: &mut Bench| {
                            Ok(flow::event("login-plain"))
                        })
                        .await?
                }
                "callback" => {
                    let login = &mut login;
                    let idp_url = idp_url.clone();
                    bench
                        .warm_cpu(&mut container, 302, async |bench: &mut Bench| {
                            Ok(bench.prepared_callback(login, &idp_url).await?.0)
                        })
                        .await?
                }
                _ => {
                    let event = session_event.clone();
                    bench
                        .warm_cpu(&mut container, 200, async |_: &mut Bench| Ok(event.clone()))
                        .await?
                }
            };
            medians.push(median_p95(&cpu));
            container.stop();
        }
        bench.table.info(
            name,
            format!(
                "process CPU per warm invocation, same handler in a bench-built binary, median / p95: multi-thread runtime → current-thread runtime (as main.rs) (n={n})"
            ),
            medians.join(" → "),
        );
    }
    drop(flavour_aws);

    progress("refresh, logout, profile: 20 invocations each, for their memory");
    let misc_aws = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    for (name, event_name) in [
        ("refresh", "refresh-signed-in"),
        ("logout", "logout-with-session"),
        ("profile", "profile-signed-in"),
    ] {
        let (event, mut browser) = bench.prepared_callback(&mut login, &idp_url).await?;
        let signed = callback.invoke(&event).await?;
        expect_status(&signed.response, 302, "callback")?;
        browser.absorb_response(&signed.response);
        let mut container = bench.start(name, &idp_url, &misc_aws.url).await?;
        for _ in 0..20 {
            let invocation = container
                .invoke(&flow::event_with_cookies(event_name, &browser))
                .await?;
            let code = status(&invocation.response);
            if !(200..400).contains(&code) {
                return Err(format!("{name} answered {code}"));
            }
            browser.absorb_response(&invocation.response);
        }
        bench.memory_row(&container, 20);
        container.stop();
    }
    for container in [login, callback, session] {
        container.stop();
    }

    progress("package sizes");
    for (name, _) in FUNCTIONS {
        let binary = bench.binary(name);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        bench.table.info(
            name,
            "release binary, x86_64 (arm64 not built: no aarch64 target on this machine)",
            megabytes(size),
        );
        match zip_bootstrap(&binary, &bench.work.join("package").join(name)) {
            Ok(zip) => bench.table.target(
                name,
                "deployment zip (`bootstrap`, deflate), x86_64",
                megabytes(zip),
                "≤ 3 MB",
                zip <= ZIP_TARGET,
            ),
            Err(error) => {
                bench
                    .table
                    .info(name, "deployment zip", format!("not measured: {error}"))
            }
        }
    }

    progress("black-holed network during init");
    blackhole(&mut bench).await?;

    Ok(format!(
        "x86_64 release binaries (fat LTO), AWS Lambda Runtime API emulator, moto and the dev Scalekit server on 127.0.0.1; \
         {n} warm invocations, {} cold starts per function.\n\n{}",
        bench.options.cold_starts,
        bench.table.render()
    ))
}

/// Init with Scalekit and AWS black-holed, and whether the first invocation works once they answer.
async fn blackhole(bench: &mut Bench) -> Result<(), String> {
    let moto = bench.stack.moto;
    let (listener, gate_url) = Proxy::bind().await.map_err(|e| e.to_string())?;
    // A second IdP whose issuer is the gate's URL, so its tokens verify behind the gate.
    let idp = DevScalekit::start_with(DevScalekitOptions {
        issuer: Some(gate_url.clone()),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("dev Scalekit server: {e}"))?;
    let scalekit_gate = Proxy::serve(listener, gate_url.clone(), socket_addr(&idp.url())?);
    let aws_gate = Proxy::start(moto).await.map_err(|e| e.to_string())?;
    let set = |mode| {
        scalekit_gate.set_mode(mode);
        aws_gate.set_mode(mode);
    };

    set(Mode::Blackhole);
    for name in ["login", "callback", "session"] {
        let inits = bench.cold_starts(name, &gate_url, &aws_gate.url).await?;
        bench.init_row(name, &inits, "Scalekit and AWS black-holed");
    }
    set(Mode::Open);

    let mut login = bench.start("login", &gate_url, &aws_gate.url).await?;
    let mut signed_in: Option<Browser> = None;
    for (stall_forever, scenario) in [
        (
            false,
            "stalled 1 s, then answering (held requests complete)",
        ),
        (
            true,
            "black-holed 1 s; requests sent meanwhile are never answered, new ones are",
        ),
    ] {
        scalekit_gate.stall_held_forever(stall_forever);
        aws_gate.stall_held_forever(stall_forever);
        for (name, expected) in [("login", 302), ("callback", 302), ("session", 200)] {
            let mut browser = None;
            let event = match name {
                "login" => flow::event("login-plain"),
                "callback" => {
                    let (event, b) = bench.prepared_callback(&mut login, &idp.url()).await?;
                    browser = Some(b);
                    event
                }
                _ => match &signed_in {
                    Some(b) => flow::event_with_cookies("session-signed-in", b),
                    None => {
                        bench.table.info(
                            name,
                            format!("first invocation, network {scenario}"),
                            "not run: no signed-in session",
                        );
                        continue;
                    }
                },
            };
            set(Mode::Blackhole);
            let mut container = bench.start(name, &gate_url, &aws_gate.url).await?;
            let init = container.init;
            container.deliver(&event)?;
            let early = container.finish(BLACKHOLE_FOR).await?;
            set(Mode::Open);
            let opened = Instant::now();
            let answer = match early {
                Some(answer) => Some(answer),
                None => container.finish(Duration::from_secs(20)).await?,
            };
            let (result, ok) = match answer {
                Some((at, response)) => {
                    let code = status(&response);
                    let when = if at < opened {
                        "while still black-holed".to_owned()
                    } else {
                        format!("{} after the network answered again", duration(at - opened))
                    };
                    if code == expected && name == "callback" {
                        if let Some(mut b) = browser.take() {
                            b.absorb_response(&response);
                            signed_in = Some(b);
                        }
                    }
                    (
                        format!("{code}, {when} (init {})", duration(init)),
                        code == expected,
                    )
                }
                None => ("no answer within 20 s".to_owned(), false),
            };
            bench.table.target(
                name,
                format!("first invocation, network {scenario}"),
                result,
                format!("works ({expected}) once the network answers"),
                ok,
            );
            container.stop();
        }
    }
    login.stop();
    Ok(())
}
