//! Everything a function needs, built once per container in `main` and borrowed by each request.

use crate::config::{Config, ConfigError, Needs, SecretSetting};
use crate::redacted::ClientSecret;
use crate::scalekit::ScalekitClient;
use crate::secret_cache::{SecretCache, SessionKeys};
use crate::session::SessionStore;
use crate::webhook::WebhookSecret;

/// How long a cold start's prefetch may take before it gives up (and its cache's lock) to the
/// first request: a healthy read takes tens of milliseconds.
pub const PREFETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Shared, per-container state.
#[derive(Debug)]
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The Scalekit client (connection pool and key cache).
    pub scalekit: ScalekitClient,
    /// Keys derived from the session secret.
    pub session_keys: SecretCache<SessionKeys>,
    /// The client secret, for functions that call the token endpoint.
    pub client_secret: Option<SecretCache<ClientSecret>>,
    /// The webhook signing secret, for the webhook receiver.
    pub webhook_secret: Option<SecretCache<WebhookSecret>>,
    /// The session table, for functions that use sessions.
    pub sessions: Option<SessionStore>,
}

/// A failure to build the [`App`] at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad or missing configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The configuration names AWS resources (a table, a secret ARN) but no AWS SDK
    /// configuration was given to reach them.
    #[error("{0} is configured but no AWS configuration was given")]
    NoAws(&'static str),
}

impl App {
    /// Reads the environment and builds the app (no network call; AWS configuration is loaded
    /// only when a secret ARN or the session table needs it).
    pub async fn from_env(needs: Needs) -> Result<Self, StartupError> {
        let config = Config::from_env(needs)?;
        let uses_aws = config.session_table.is_some()
            || matches!(config.session_secret, SecretSetting::SecretsManager(_))
            || matches!(config.client_secret, Some(SecretSetting::SecretsManager(_)))
            || matches!(
                config.webhook_secret,
                Some(SecretSetting::SecretsManager(_))
            );
        let sdk = if uses_aws {
            Some(crate::aws::sdk_config().await)
        } else {
            None
        };
        Self::new(config, sdk.as_ref())
    }

    /// Builds the app from a configuration and, when needed, an AWS SDK configuration.
    pub fn new(config: Config, sdk: Option<&aws_config::SdkConfig>) -> Result<Self, StartupError> {
        let secrets_client = sdk.map(crate::aws::secrets_manager);
        let scalekit = ScalekitClient::new(config.scalekit.clone())?;
        let session_keys = SecretCache::new(config.session_secret.clone(), secrets_client.clone());
        let client_secret = config
            .client_secret
            .clone()
            .map(|setting| SecretCache::new(setting, secrets_client.clone()));
        let webhook_secret = config
            .webhook_secret
            .clone()
            .map(|setting| SecretCache::new(setting, secrets_client.clone()));
        let sessions = match (&config.session_table, sdk) {
            (Some(table), Some(sdk)) => {
                Some(SessionStore::new(crate::aws::dynamodb(sdk), table.clone()))
            }
            (Some(_), None) => return Err(StartupError::NoAws("SESSION_TABLE")),
            (None, _) => None,
        };
        Ok(Self {
            config,
            scalekit,
            session_keys,
            client_secret,
            webhook_secret,
            sessions,
        })
    }

    /// Starts, in the background, the reads the first request will need (the session secret, the
    /// client and webhook secrets where configured, and the signing keys when the function's [`Needs`] say it verifies tokens),
    /// so their TLS handshakes overlap with the rest of the cold start. A failure here is only
    /// logged: the request retries it. Each read gets [`PREFETCH_TIMEOUT`]: a read stuck on a
    /// stalled network would otherwise hold its cache's lock, and the first request would queue
    /// behind it for the read's whole timeout instead of trying afresh.
    pub fn warm_up(&'static self) {
        fn prefetch<T, E: std::fmt::Display>(
            what: &'static str,
            read: impl std::future::Future<Output = Result<T, E>> + Send + 'static,
        ) {
            tokio::spawn(async move {
                match tokio::time::timeout(PREFETCH_TIMEOUT, read).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, what, "not prefetched"),
                    Err(_) => {
                        tracing::warn!(what, "not prefetched in time: left to the first request")
                    }
                }
            });
        }
        prefetch("session secret", self.session_keys.get());
        if let Some(client_secret) = &self.client_secret {
            prefetch("client secret", client_secret.get());
        }
        if let Some(webhook_secret) = &self.webhook_secret {
            prefetch("webhook secret", webhook_secret.get());
        }
        if self.config.needs.signing_keys {
            prefetch("signing keys", self.scalekit.prefetch_keys());
        }
    }

    /// The session table. Present in every function whose `Needs` ask for it: the configuration
    /// requires `SESSION_TABLE` then, and [`App::new`] refuses to start without a way to reach it.
    pub fn sessions(&self) -> &SessionStore {
        self.sessions
            .as_ref()
            .expect("Needs.session_table: the configuration and App::new guarantee the table")
    }

    /// The client secret. Present in every function whose `Needs` ask for it (the configuration
    /// requires it then).
    pub fn client_secret(&self) -> &SecretCache<ClientSecret> {
        self.client_secret
            .as_ref()
            .expect("Needs.client_secret: the configuration guarantees the client secret")
    }

    /// The webhook signing secret. Present in every function whose `Needs` ask for it (the
    /// configuration requires it then).
    pub fn webhook_secret(&self) -> &SecretCache<WebhookSecret> {
        self.webhook_secret
            .as_ref()
            .expect("Needs.webhook_secret: the configuration guarantees the webhook secret")
    }

    /// Idle timeout in seconds.
    pub fn idle_timeout_secs(&self) -> i64 {
        self.config.idle_timeout.as_secs() as i64
    }

    /// Absolute session lifetime in seconds.
    pub fn session_lifetime_secs(&self) -> i64 {
        self.config.session_lifetime.as_secs() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_table_without_aws_configuration_is_refused_at_start_up() {
        let env = [
            ("SCALEKIT_ENVIRONMENT_URL", "https://acme.scalekit.dev"),
            ("SCALEKIT_CLIENT_ID", "skc_1"),
            (
                "SESSION_SECRET",
                "test-session-secret-0123456789abcdef-0123456789",
            ),
            ("SESSION_TABLE", "sessions"),
        ];
        let needs = Needs {
            session_table: true,
            ..Needs::NONE
        };
        let config = Config::from_lookup(
            |name| {
                env.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            },
            needs,
        )
        .expect("valid configuration");
        let error = App::new(config, None).err();
        assert!(
            matches!(error, Some(StartupError::NoAws("SESSION_TABLE"))),
            "{error:?}"
        );
    }
}
