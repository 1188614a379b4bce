//! The stand-ins and each function's environment. The stand-ins are the flow tests' own
//! [`flow_tests::Stack`]: the dev Scalekit server in this process, template.yaml's session table
//! and the secrets in moto (which `./dev/bench` starts).

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use scalekit_dev::DevScalekit;
use shared::config::Needs;

/// Every function binary, with what its crate needs configured; `None`: a team's own function
/// behind the authorizer (example-backend), which gets none of our configuration.
pub const FUNCTIONS: [(&str, Option<Needs>); 11] = [
    ("login", Some(login::NEEDS)),
    ("callback", Some(callback::NEEDS)),
    ("session", Some(session::NEEDS)),
    ("refresh", Some(refresh::NEEDS)),
    ("logout", Some(logout::NEEDS)),
    ("profile", Some(profile::NEEDS)),
    ("authorizer", Some(authorizer::NEEDS)),
    ("example-backend", None),
    ("backchannel-logout", Some(backchannel_logout::NEEDS)),
    ("webhook", Some(webhook::NEEDS)),
    ("sessions", Some(sessions::NEEDS)),
];

/// What function `name`'s crate needs configured.
pub fn needs_of(name: &str) -> Result<Option<Needs>> {
    FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, needs)| *needs)
        .with_context(|| format!("unknown function {name}"))
}

/// Where a function reaches Scalekit and AWS (the stand-ins, or proxies in front of them).
pub struct Endpoints {
    pub scalekit: String,
    pub aws: String,
}

/// The stand-ins.
pub struct Stack {
    /// The flow tests' stack. Its leak check at drop reads the log lines captured in this
    /// process; `main` installs the bench's own subscriber first, so none are.
    pub tests: flow_tests::Stack,
    /// moto, for the proxies.
    pub moto: SocketAddr,
    pub moto_url: String,
}

impl Stack {
    pub async fn start() -> Result<Stack> {
        let moto_url = std::env::var("AWS_ENDPOINT_URL")
            .context("AWS_ENDPOINT_URL is not set: run ./dev/bench, which starts moto")?;
        let moto = socket_addr(&moto_url)?;
        Ok(Stack {
            tests: flow_tests::Stack::start().await,
            moto,
            moto_url,
        })
    }

    /// The dev Scalekit server.
    pub fn idp(&self) -> &DevScalekit {
        &self.tests.idp
    }

    /// The stand-ins themselves.
    pub fn direct(&self) -> Endpoints {
        self.via(&self.moto_url)
    }

    /// The dev Scalekit server, and AWS at `aws`.
    pub fn via(&self, aws: &str) -> Endpoints {
        Endpoints {
            scalekit: self.idp().url(),
            aws: aws.to_owned(),
        }
    }

    /// What Lambda puts in a function's environment, with `AWS_ENDPOINT_URL` for the stand-in.
    pub fn lambda_env(&self, name: &str, endpoints: &Endpoints) -> Vec<(String, String)> {
        let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_owned());
        let region = var("AWS_REGION", "us-east-1");
        let env: Vec<(&str, String)> = vec![
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
            ("AWS_ENDPOINT_URL", endpoints.aws.clone()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("_HANDLER", "bootstrap".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
        ];
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// [`Self::lambda_env`] plus the function's configuration as in template.yaml (only what
    /// its crate's NEEDS reads; nothing for a team's own function).
    pub fn function_env(
        &self,
        name: &str,
        needs: Option<Needs>,
        endpoints: &Endpoints,
    ) -> Vec<(String, String)> {
        let mut env = self.lambda_env(name, endpoints);
        let Some(needs) = needs else {
            return env;
        };
        let stack = &self.tests.env;
        let mut ours: Vec<(&str, String)> = vec![
            ("SCALEKIT_ENVIRONMENT_URL", endpoints.scalekit.clone()),
            ("SCALEKIT_CLIENT_ID", self.idp().client_id().to_owned()),
            ("SESSION_SECRET_ARN", stack["SESSION_SECRET_ARN"].clone()),
            ("POST_LOGIN_REDIRECT", "/dashboard/profile".into()),
            ("POST_LOGOUT_REDIRECT", "/".into()),
        ];
        // The flow tests' stack holds each of these as template.yaml configures it.
        let configured = [
            (needs.client_secret, "SCALEKIT_CLIENT_SECRET_ARN"),
            (needs.session_table, "SESSION_TABLE"),
            (needs.route_policies, "ROUTE_POLICIES"),
            (needs.webhook_secret, "SCALEKIT_WEBHOOK_SECRET_ARN"),
        ];
        for (needed, variable) in configured {
            if needed {
                ours.push((variable, stack[variable].clone()));
            }
        }
        env.extend(ours.into_iter().map(|(k, v)| (k.to_owned(), v)));
        env
    }

    /// [`Self::function_env`] as a map, for the handlers run in this process.
    pub fn in_process_env(&self, needs: Needs) -> HashMap<String, String> {
        self.function_env("in-process", Some(needs), &self.direct())
            .into_iter()
            .collect()
    }
}

/// The address of a stand-in's URL (on 127.0.0.1).
pub fn socket_addr(url: &str) -> Result<SocketAddr> {
    let parsed = url::Url::parse(url).with_context(|| url.to_owned())?;
    let host = parsed
        .host_str()
        .with_context(|| format!("{url}: no host"))?;
    let port = parsed
        .port_or_known_default()
        .with_context(|| format!("{url}: no port"))?;
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}")
        .parse()
        .with_context(|| format!("{url} (the bench only talks to 127.0.0.1)"))
}
