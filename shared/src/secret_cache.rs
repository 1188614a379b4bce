//! Secrets: read from Secrets Manager lazily, cached per container with a TTL, re-read on demand
//! (when Scalekit answers `invalid_client` after a rotation); or given directly for local runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{SecretSetting, MIN_SESSION_SECRET_LEN};
use crate::crypto::{KeyRing, SealingKey};
use crate::redacted::ClientSecret;
use crate::telemetry::Chain;

/// How long a secret read from Secrets Manager is used before it is read again. Rotation is also
/// picked up immediately through [`SecretCache::refresh`]; the TTL bounds how long a container can
/// keep a secret that was rotated without any failure telling it so.
pub const SECRET_TTL: Duration = Duration::from_secs(15 * 60);
/// Forced re-reads are limited to one per this interval, so a flood of failures cannot
/// turn into a flood of Secrets Manager calls.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Secrets Manager failed or is unreachable.
    #[error("Secrets Manager is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Secrets Manager has no such secret, or no such version of it.
    #[error("secret {0} not found")]
    NotFound(String),
    /// The secret exists but is not usable (empty, too short, wrong JSON).
    #[error("secret {0} is not usable: {1}")]
    Invalid(String, &'static str),
}

/// Turns the raw secret string into the value functions use.
pub trait SecretKind: Send + Sync + 'static {
    /// Whether the secret's previous version (Secrets Manager stage `AWSPREVIOUS`) is read too.
    const READS_PREVIOUS: bool = false;

    /// Parses the secret string (bare, or JSON naming the field), and the previous version's.
    fn parse(raw: &str, previous: Option<&str>) -> Result<Self, &'static str>
    where
        Self: Sized;
}

impl SecretKind for ClientSecret {
    fn parse(raw: &str, _previous: Option<&str>) -> Result<Self, &'static str> {
        let value = json_field(raw, "client_secret")?;
        (!value.is_empty())
            .then(|| ClientSecret::new(value))
            .ok_or("empty client secret")
    }
}

/// The keys derived from the session secret (and from its previous version during a rotation).
pub struct SessionKeys {
    /// Seals per-login transaction cookies.
    pub transaction: KeyRing,
    /// Encrypts tokens stored in the session table.
    pub tokens: KeyRing,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys([redacted])")
    }
}

impl SessionKeys {
    /// Derives every purpose's key from the key material (and the previous secret's, if any).
    pub fn derive(material: &[u8], previous: Option<&[u8]>) -> Self {
        let ring = |purpose| {
            KeyRing::new(
                SealingKey::derive(material, purpose),
                previous.map(|old| SealingKey::derive(old, purpose)),
            )
        };
        Self {
            transaction: ring("transaction-cookie"),
            tokens: ring("session-tokens"),
        }
    }
}

impl SecretKind for SessionKeys {
    const READS_PREVIOUS: bool = true;

    /// The previous secret comes from the `AWSPREVIOUS` version (Secrets Manager moves it there
    /// on `put-secret-value`), or from a `previous_session_secret` field of the JSON form.
    fn parse(raw: &str, previous: Option<&str>) -> Result<Self, &'static str> {
        let value = json_field(raw, "session_secret")?;
        if value.len() < MIN_SESSION_SECRET_LEN {
            return Err("session secret must be at least 32 bytes");
        }
        let previous = match json_field(raw, "previous_session_secret") {
            Ok(old) if raw.trim_start().starts_with('{') && !old.is_empty() => Some(old),
            _ => previous
                .and_then(|p| json_field(p, "session_secret").ok())
                .filter(|old| old.len() >= MIN_SESSION_SECRET_LEN && *old != value),
        };
        Ok(SessionKeys::derive(
            value.as_bytes(),
            previous.as_deref().map(str::as_bytes),
        ))
    }
}

/// A bare secret string, or `{"<field>": "..."}`.
pub(crate) fn json_field(raw: &str, field: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim();
    if !trimmed.starts_with('{') {
        return Ok(trimmed.to_owned());
    }
    let document: serde_json::Value =
        serde_json::from_str(trimmed).map_err(|_| "secret looks like JSON but does not parse")?;
    document
        .get(field)
        .and_then(serde_json::Value::as_str)
        .map(|v| v.trim().to_owned())
        .ok_or("secret JSON has no string field with the expected name")
}

struct Cached<T> {
    value: Arc<T>,
    read_at: Instant,
    /// Whether every version asked for was read: a transient failure reading `AWSPREVIOUS` must
    /// not cost a rotation's sessions for the whole TTL, so an incomplete read is retried soon.
    complete: bool,
}

impl<T> Cached<T> {
    fn is_fresh(&self) -> bool {
        let ttl = if self.complete {
            SECRET_TTL
        } else {
            INCOMPLETE_TTL
        };
        self.read_at.elapsed() < ttl
    }
}

/// A value past its TTL is still served, while a re-read runs in the background, until it is
/// this old: a Secrets Manager blip does not turn every request into a 503.
pub const MAX_STALENESS: Duration = Duration::from_secs(60 * 60);
/// How long a read that missed the previous version is used before it is tried again.
const INCOMPLETE_TTL: Duration = Duration::from_secs(30);
/// After a failed background re-read, the next one waits this long.
const BACKGROUND_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// A value that fails to open with a secret read this recently makes the container read the
/// secret again at once (waiting out the rest of this interval if needed).
const UNKNOWN_KEY_REREAD_INTERVAL: Duration = Duration::from_secs(1);

struct RereadAttempt<T> {
    value: Arc<T>,
    fresh: bool,
    /// Rate-limited: the cached read predates the failure and a new one is due after the interval.
    complete_read_due: bool,
}

/// The result of [`SecretCache::reread`].
pub struct Reread<T> {
    /// The secret as cached now.
    pub value: Arc<T>,
    /// Whether it was read (completely) after the moment the caller gave: if not (rate limit, or
    /// `AWSPREVIOUS` unreadable), a value it cannot open may still open after a later read.
    pub fresh: bool,
}

/// The result of [`SecretCache::unseal`].
pub enum Unsealed<T, R> {
    /// Opened, with the secret that opened it.
    Opened(R, Arc<T>),
    /// Still sealed under a key the secret does not hold after re-reading it. With `fresh`, the
    /// secret was read completely just now: the key is gone (older than `AWSPREVIOUS`) or never
    /// was ours. Without, a later read may still open it: answer "try again", lose nothing.
    UnknownKey {
        /// Whether the secret was read completely after the value failed to open.
        fresh: bool,
    },
}

/// One secret, cached for the life of the container.
pub struct SecretCache<T: SecretKind> {
    inner: Arc<Inner<T>>,
}

struct Inner<T: SecretKind> {
    setting: SecretSetting,
    client: Option<aws_sdk_secretsmanager::Client>,
    cached: tokio::sync::RwLock<Option<Cached<T>>>,
    /// A background re-read is running, or failed and waits until this instant.
    background: std::sync::Mutex<Background>,
}

#[derive(Default)]
enum Background {
    #[default]
    Idle,
    Running,
    Failed(Instant),
}

impl<T: SecretKind> std::fmt::Debug for SecretCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCache")
            .field("setting", &self.inner.setting)
            .finish_non_exhaustive()
    }
}

impl<T: SecretKind> SecretCache<T> {
    /// A cache for `setting`; `client` is required only for Secrets Manager settings.
    pub fn new(setting: SecretSetting, client: Option<aws_sdk_secretsmanager::Client>) -> Self {
        Self {
            inner: Arc::new(Inner {
                setting,
                client,
                cached: tokio::sync::RwLock::new(None),
                background: std::sync::Mutex::new(Background::Idle),
            }),
        }
    }

    /// The secret: cached while younger than [`SECRET_TTL`]; past it, still served (up to
    /// [`MAX_STALENESS`]) while one background task reads it again; read now otherwise.
    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        if let Some(cached) = self.inner.cached.read().await.as_ref() {
            if cached.is_fresh() {
                return Ok(cached.value.clone());
            }
            if cached.read_at.elapsed() < MAX_STALENESS {
                self.reread_in_background();
                return Ok(cached.value.clone());
            }
        }
        let mut slot = self.inner.cached.write().await;
        match slot.as_ref() {
            Some(cached) if cached.is_fresh() => Ok(cached.value.clone()),
            _ => self.inner.load(&mut slot).await,
        }
    }

    /// Reads the secret again now (rate-limited), e.g. after Scalekit rejected the client secret.
    pub async fn refresh(&self) -> Result<Arc<T>, SecretError> {
        Ok(self.reread(Instant::now()).await?.value)
    }

    /// Reads the secret again unless it was read after `observed_at` (the moment the caller saw
    /// the cached value fail, so a burst of such callers shares one read) or less than
    /// [`MIN_REFRESH_INTERVAL`] ago (so a flood of failures is not a flood of reads).
    pub async fn reread(&self, observed_at: Instant) -> Result<Reread<T>, SecretError> {
        let reread = self
            .reread_within(observed_at, MIN_REFRESH_INTERVAL)
            .await?;
        Ok(Reread {
            value: reread.value,
            fresh: reread.fresh,
        })
    }

    async fn reread_within(
        &self,
        observed_at: Instant,
        min_interval: Duration,
    ) -> Result<RereadAttempt<T>, SecretError> {
        let mut slot = self.inner.cached.write().await;
        if let Some(cached) = slot.as_ref() {
            let read_since = cached.read_at >= observed_at;
            if read_since || cached.read_at.elapsed() < min_interval {
                return Ok(RereadAttempt {
                    value: cached.value.clone(),
                    fresh: read_since && cached.complete,
                    complete_read_due: !read_since,
                });
            }
        }
        let value = self.inner.load(&mut slot).await?;
        let fresh = slot.as_ref().is_some_and(|cached| cached.complete);
        Ok(RereadAttempt {
            value,
            fresh,
            complete_read_due: false,
        })
    }

    /// Runs `attempt` with the secret; when it answers `None` (a value sealed under a key the
    /// secret does not hold: a rotation under way elsewhere), re-reads the secret
    /// ([`SecretCache::reread`]: one read per burst, rate-limited) and tries once more.
    pub async fn unseal<R, Fut>(
        &self,
        mut attempt: impl FnMut(Arc<T>) -> Fut,
    ) -> Result<Unsealed<T, R>, SecretError>
    where
        Fut: std::future::Future<Output = Option<R>>,
    {
        let value = self.get().await?;
        let observed_at = Instant::now();
        if let Some(opened) = attempt(value.clone()).await {
            return Ok(Unsealed::Opened(opened, value));
        }
        tracing::info!("sealed under a key this container lacks: re-reading the secret");
        let mut reread = self
            .reread_within(observed_at, UNKNOWN_KEY_REREAD_INTERVAL)
            .await?;
        if !reread.fresh && reread.complete_read_due {
            // The last read came just before the value failed: it may predate the rotation.
            // Wait out the short interval rather than guess, then read once more.
            tokio::time::sleep(UNKNOWN_KEY_REREAD_INTERVAL).await;
            reread = self
                .reread_within(observed_at, UNKNOWN_KEY_REREAD_INTERVAL)
                .await?;
        }
        Ok(match attempt(reread.value.clone()).await {
            Some(opened) => Unsealed::Opened(opened, reread.value),
            None => Unsealed::UnknownKey {
                fresh: reread.fresh,
            },
        })
    }

    fn reread_in_background(&self) {
        {
            let mut background = self
                .inner
                .background
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match *background {
                Background::Running => return,
                Background::Failed(at) if at.elapsed() < BACKGROUND_RETRY_INTERVAL => return,
                _ => *background = Background::Running,
            }
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let result = {
                let mut slot = inner.cached.write().await;
                match slot.as_ref() {
                    Some(cached) if cached.is_fresh() => Ok(()),
                    _ => inner.load(&mut slot).await.map(drop),
                }
            };
            let next = match result {
                Ok(()) => Background::Idle,
                Err(error) => {
                    tracing::warn!(%error, "secret past its TTL not re-read; the cached value is still used");
                    Background::Failed(Instant::now())
                }
            };
            *inner
                .background
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
        });
    }
}

impl<T: SecretKind> Inner<T> {
    /// Reads the secret (and its previous version) into `slot`.
    async fn load(&self, slot: &mut Option<Cached<T>>) -> Result<Arc<T>, SecretError> {
        // Both versions at once: one round trip on a cold start, not two.
        let (raw, previous) = tokio::join!(self.read_raw(None), async {
            if T::READS_PREVIOUS {
                self.read_previous().await
            } else {
                Ok(None)
            }
        });
        let raw = raw?;
        let complete = previous.is_ok();
        let previous = previous.unwrap_or_default();
        let value = Arc::new(
            T::parse(&raw, previous.as_deref())
                .map_err(|why| SecretError::Invalid(self.name(), why))?,
        );
        *slot = Some(Cached {
            value: value.clone(),
            read_at: Instant::now(),
            complete,
        });
        Ok(value)
    }

    fn name(&self) -> String {
        match &self.setting {
            SecretSetting::Value(_) => "from the environment".into(),
            SecretSetting::SecretsManager(id) => id.clone(),
        }
    }

    /// The `AWSPREVIOUS` version: `Ok(None)` when there is none (or the secret is a value), an
    /// error when it could not be read. It never fails the read itself: it only costs values
    /// sealed under it.
    async fn read_previous(&self) -> Result<Option<String>, SecretError> {
        if matches!(self.setting, SecretSetting::Value(_)) {
            return Ok(None);
        }
        match self.read_raw(Some("AWSPREVIOUS")).await {
            Ok(previous) => Ok(Some(previous)),
            Err(SecretError::NotFound(_)) => Ok(None),
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "previous secret version not read");
                Err(error)
            }
        }
    }

    async fn read_raw(&self, stage: Option<&str>) -> Result<String, SecretError> {
        let id = match &self.setting {
            SecretSetting::Value(value) => return Ok(value.clone()),
            SecretSetting::SecretsManager(id) => id,
        };
        let client = self.client.as_ref().ok_or_else(|| {
            SecretError::Invalid(id.clone(), "no Secrets Manager client was configured")
        })?;
        let output = client
            .get_secret_value()
            .secret_id(id)
            .set_version_stage(stage.map(str::to_owned))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    SecretError::NotFound(id.clone())
                } else {
                    SecretError::Unavailable(Box::new(e))
                }
            })?;
        tracing::info!(secret = %id, stage = stage.unwrap_or("AWSCURRENT"), "secret read from Secrets Manager");
        output
            .secret_string
            .ok_or_else(|| SecretError::Invalid(id.clone(), "secret has no SecretString"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secret_is_read_bare_or_from_json() {
        assert_eq!(
            ClientSecret::parse(" abc \n", None).unwrap().secret(),
            "abc"
        );
        assert_eq!(
            ClientSecret::parse(r#"{"client_secret":"abc"}"#, None)
                .unwrap()
                .secret(),
            "abc"
        );
        assert!(ClientSecret::parse(r#"{"other":"abc"}"#, None).is_err());
        assert!(ClientSecret::parse("", None).is_err());
        assert!(ClientSecret::parse("{not json", None).is_err());
    }

    #[test]
    fn session_secret_must_be_long_enough() {
        assert!(SessionKeys::parse("short", None).is_err());
        assert!(SessionKeys::parse(&"k".repeat(32), None).is_ok());
        assert!(SessionKeys::parse(
            &format!(r#"{{"session_secret":"{}"}}"#, "k".repeat(40)),
            None
        )
        .is_ok());
    }

    #[tokio::test]
    async fn values_from_the_environment_need_no_client() {
        let cache: SecretCache<ClientSecret> =
            SecretCache::new(SecretSetting::Value("abc".into()), None);
        assert_eq!(cache.get().await.unwrap().secret(), "abc");
        assert_eq!(cache.refresh().await.unwrap().secret(), "abc");
    }

    /// A Secrets Manager client whose endpoint refuses every connection.
    fn unreachable_secrets_manager() -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .endpoint_url("http://127.0.0.1:1")
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    async fn cached_at(cache: &SecretCache<ClientSecret>, age: Duration, complete: bool) {
        let read_at = Instant::now()
            .checked_sub(age)
            .expect("uptime exceeds the age");
        *cache.inner.cached.write().await = Some(Cached {
            value: Arc::new(ClientSecret::new("cached")),
            read_at,
            complete,
        });
    }

    #[tokio::test]
    async fn past_its_ttl_a_secret_is_served_while_secrets_manager_fails_for_a_bounded_time() {
        let cache: SecretCache<ClientSecret> = SecretCache::new(
            SecretSetting::SecretsManager("arn:test".into()),
            Some(unreachable_secrets_manager()),
        );
        cached_at(&cache, SECRET_TTL + Duration::from_secs(60), true).await;
        assert_eq!(
            cache.get().await.expect("stale is served").secret(),
            "cached"
        );
        // The background re-read fails and is retried later, not on every request.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..3 {
            assert_eq!(cache.get().await.expect("still served").secret(), "cached");
        }
        assert!(matches!(
            *cache.inner.background.lock().unwrap(),
            Background::Failed(_)
        ));

        cached_at(&cache, MAX_STALENESS + Duration::from_secs(1), true).await;
        assert!(
            matches!(cache.get().await, Err(SecretError::Unavailable(_))),
            "staleness is bounded"
        );
    }

    #[test]
    fn a_read_that_missed_the_previous_version_is_fresh_only_briefly() {
        let cached = |age, complete| Cached {
            value: Arc::new(()),
            read_at: Instant::now().checked_sub(age).unwrap(),
            complete,
        };
        assert!(cached(INCOMPLETE_TTL / 2, false).is_fresh());
        assert!(!cached(INCOMPLETE_TTL + Duration::from_secs(1), false).is_fresh());
        assert!(cached(INCOMPLETE_TTL + Duration::from_secs(1), true).is_fresh());
    }
}
