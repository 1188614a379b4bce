//! The signing-key cache: one per container, refreshed on a TTL and once, rate-limited, when a
//! token names a key we have not seen (Scalekit rotated its keys). Scalekit's own SDKs fetch the
//! key set once per process and never again.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::body::read_capped;
use super::error::{IdpError, TokenError};
use super::jwt::RsaKey;

#[derive(Debug)]
struct KeySet {
    keys: Arc<[RsaKey]>,
    fetched_at: Instant,
    /// After a failed refresh of stale keys, they are used as they are until then.
    retry_after: Option<Instant>,
}

/// How long stale keys are used without retrying after the keys endpoint failed, so an outage
/// (or a hanging endpoint) costs one request timeout per interval, not one per login.
const STALE_RETRY_BACKOFF: Duration = Duration::from_secs(30);

/// A key set is a few kilobytes per key; this leaves room for dozens of keys mid-rotation.
const MAX_KEY_SET: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) struct JwksCache {
    url: String,
    ttl: Duration,
    min_refetch_interval: Duration,
    current: RwLock<Option<KeySet>>,
    /// Serialises fetches; holds the time of the last refetch caused by an unknown `kid`.
    last_forced: tokio::sync::Mutex<Option<Instant>>,
}

enum Lookup {
    Found(RsaKey),
    Missing,
}

impl JwksCache {
    pub fn new(url: String, ttl: Duration, min_refetch_interval: Duration) -> Self {
        Self {
            url,
            ttl,
            min_refetch_interval,
            current: RwLock::new(None),
            last_forced: tokio::sync::Mutex::new(None),
        }
    }

    /// The key a token with this `kid` must be verified with.
    pub async fn key_for(
        &self,
        http: &reqwest::Client,
        kid: Option<&str>,
    ) -> Result<RsaKey, TokenError> {
        let (fresh, lookup) = match self.lookup(kid)? {
            Some((fresh, lookup)) => (fresh, lookup),
            None => {
                // Nothing cached: this is the first use in the container.
                self.refetch(http, None, false).await?;
                return self.cached_key(kid);
            }
        };
        match (fresh, lookup) {
            (true, Lookup::Found(key)) => Ok(key),
            (false, found) => {
                // Stale: try to refresh, but keep using the cached keys if the keys endpoint is down.
                let seen = self.fetched_at();
                match self.refetch(http, seen, false).await {
                    Ok(()) => self.cached_key(kid),
                    Err(reason) => {
                        tracing::warn!(%reason, "signing keys not refreshed; using cached keys");
                        self.back_off_stale_refresh();
                        found.into()
                    }
                }
            }
            (true, Lookup::Missing) => {
                // Possibly a rotation: refetch, but at most once per interval so a flood of
                // tokens with made-up `kid`s cannot turn into a flood of calls to Scalekit.
                let seen = self.fetched_at();
                self.refetch(http, seen, true).await?;
                self.cached_key(kid)
            }
        }
    }

    /// Fetches the key set if none is cached yet.
    pub async fn ensure_loaded(&self, http: &reqwest::Client) -> Result<(), TokenError> {
        match self.fetched_at() {
            Some(_) => Ok(()),
            None => self.refetch(http, None, false).await,
        }
    }

    fn back_off_stale_refresh(&self) {
        if let Some(set) = self
            .current
            .write()
            .expect("key cache lock poisoned")
            .as_mut()
        {
            set.retry_after = Some(Instant::now() + STALE_RETRY_BACKOFF);
        }
    }

    /// When the cached key set was fetched, while it is fresh (its TTL not passed): the
    /// generation a verification made with it belongs to.
    pub fn fresh_since(&self) -> Option<Instant> {
        self.fetched_at()
            .filter(|fetched_at| fetched_at.elapsed() < self.ttl)
    }

    fn fetched_at(&self) -> Option<Instant> {
        self.current
            .read()
            .expect("key cache lock poisoned")
            .as_ref()
            .map(|set| set.fetched_at)
    }

    /// The cached key for `kid`, after a fetch.
    fn cached_key(&self, kid: Option<&str>) -> Result<RsaKey, TokenError> {
        self.lookup(kid)?
            .map_or(Err(TokenError::UnknownKey), |(_, lookup)| lookup.into())
    }

    /// `None` when nothing is cached; otherwise whether the set is fresh and what it holds for `kid`.
    fn lookup(&self, kid: Option<&str>) -> Result<Option<(bool, Lookup)>, TokenError> {
        let guard = self.current.read().expect("key cache lock poisoned");
        let Some(set) = guard.as_ref() else {
            return Ok(None);
        };
        let fresh = set.fetched_at.elapsed() < self.ttl
            || set.retry_after.is_some_and(|until| Instant::now() < until);
        let lookup = match kid {
            Some(kid) => set
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .cloned()
                .map_or(Lookup::Missing, Lookup::Found),
            None => match &set.keys[..] {
                [only] => Lookup::Found(only.clone()),
                [] => Lookup::Missing,
                _ => return Err(TokenError::AmbiguousKey),
            },
        };
        Ok(Some((fresh, lookup)))
    }

    /// Fetches the key set unless another task already replaced the one seen at `seen`; a
    /// `forced` (unknown-`kid`) refetch is skipped within the minimum interval of the last one.
    async fn refetch(
        &self,
        http: &reqwest::Client,
        seen: Option<Instant>,
        forced: bool,
    ) -> Result<(), TokenError> {
        let mut last_forced = self.last_forced.lock().await;
        if self.fetched_at() != seen {
            return Ok(());
        }
        if forced {
            if last_forced.is_some_and(|at| at.elapsed() < self.min_refetch_interval) {
                return Err(TokenError::UnknownKey);
            }
            *last_forced = Some(Instant::now());
        }
        let keys = crate::metrics::timed(
            crate::metrics::Dependency::ScalekitKeys,
            fetch(http, &self.url),
            Result::is_err,
        )
        .await
        .map_err(TokenError::KeysUnavailable)?;
        tracing::info!(keys = keys.len(), "signing keys fetched");
        *self.current.write().expect("key cache lock poisoned") = Some(KeySet {
            keys: keys.into(),
            fetched_at: Instant::now(),
            retry_after: None,
        });
        Ok(())
    }
}

impl From<Lookup> for Result<RsaKey, TokenError> {
    fn from(lookup: Lookup) -> Self {
        match lookup {
            Lookup::Found(key) => Ok(key),
            Lookup::Missing => Err(TokenError::UnknownKey),
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<RsaKey>, IdpError> {
    let response = http.get(url).send().await.map_err(IdpError::from_reqwest)?;
    let status = response.status();
    if !status.is_success() {
        return Err(IdpError::Status {
            status: status.as_u16(),
        });
    }
    let body = read_capped(response, MAX_KEY_SET).await?;
    let document: Value = serde_json::from_slice(&body)
        .map_err(|_| IdpError::InvalidResponse("keys are not JSON"))?;
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(IdpError::InvalidResponse("keys document has no keys array"))?;
    Ok(keys.iter().filter_map(RsaKey::from_jwk).collect())
}
