//! Secrets: read from Secrets Manager lazily, cached per container with a TTL, re-read on demand
//! (when Scalekit answers `invalid_client` after a rotation); or given directly for local runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{SecretSetting, MIN_SESSION_SECRET_LEN};
use crate::crypto::{KeyRing, SealingKey};
use crate::secret::ClientSecret;

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
    #[error("Secrets Manager is unavailable: {0}")]
    Unavailable(String),
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
fn json_field(raw: &str, field: &str) -> Result<String, &'static str> {
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
}

/// One secret, cached for the life of the container.
pub struct SecretCache<T: SecretKind> {
    setting: SecretSetting,
    client: Option<aws_sdk_secretsmanager::Client>,
    cached: tokio::sync::RwLock<Option<Cached<T>>>,
}

impl<T: SecretKind> std::fmt::Debug for SecretCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCache")
            .field("setting", &self.setting)
            .finish_non_exhaustive()
    }
}

impl<T: SecretKind> SecretCache<T> {
    /// A cache for `setting`; `client` is required only for Secrets Manager settings.
    pub fn new(setting: SecretSetting, client: Option<aws_sdk_secretsmanager::Client>) -> Self {
        Self {
            setting,
            client,
            cached: tokio::sync::RwLock::new(None),
        }
    }

    /// The secret: cached while younger than [`SECRET_TTL`], read otherwise.
    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        if let Some(cached) = self.cached.read().await.as_ref() {
            if cached.read_at.elapsed() < SECRET_TTL {
                return Ok(cached.value.clone());
            }
        }
        self.load(None).await
    }

    /// Reads the secret again now (rate-limited), e.g. after Scalekit rejected the client secret.
    pub async fn refresh(&self) -> Result<Arc<T>, SecretError> {
        self.load(Some(MIN_REFRESH_INTERVAL)).await
    }

    async fn load(&self, forced_min_age: Option<Duration>) -> Result<Arc<T>, SecretError> {
        let mut slot = self.cached.write().await;
        if let Some(cached) = slot.as_ref() {
            let young_enough = match forced_min_age {
                Some(min_age) => cached.read_at.elapsed() < min_age,
                None => cached.read_at.elapsed() < SECRET_TTL,
            };
            if young_enough {
                return Ok(cached.value.clone());
            }
        }
        // Both versions at once: one round trip on a cold start, not two.
        let (raw, previous) = tokio::join!(self.read_raw(None), async {
            if T::READS_PREVIOUS {
                self.read_previous().await
            } else {
                None
            }
        });
        let raw = raw?;
        let value = Arc::new(
            T::parse(&raw, previous.as_deref())
                .map_err(|why| SecretError::Invalid(self.name(), why))?,
        );
        *slot = Some(Cached {
            value: value.clone(),
            read_at: Instant::now(),
        });
        Ok(value)
    }

    fn name(&self) -> String {
        match &self.setting {
            SecretSetting::Value(_) => "from the environment".into(),
            SecretSetting::SecretsManager(id) => id.clone(),
        }
    }

    /// The `AWSPREVIOUS` version, if there is one; its absence or failure only costs sessions
    /// sealed under it, so it never fails the read.
    async fn read_previous(&self) -> Option<String> {
        if matches!(self.setting, SecretSetting::Value(_)) {
            return None;
        }
        match self.read_raw(Some("AWSPREVIOUS")).await {
            Ok(previous) => Some(previous),
            Err(SecretError::Unavailable(reason)) if !reason.contains("ResourceNotFound") => {
                tracing::warn!(%reason, "previous secret version not read");
                None
            }
            Err(_) => None,
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
                SecretError::Unavailable(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )
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
}
