//! Calls to Scalekit with the cached client secret, for every function that makes one (the
//! callback's code exchange, the session check's refresh, the management API's calls).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::redacted::ClientSecret;
use crate::scalekit::{IdpError, OAuthError};
use crate::secret_cache::{SecretCache, SecretError};

/// Why a token call with the client secret failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenCallError {
    /// The client secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Scalekit refused or failed the call.
    #[error(transparent)]
    Idp(#[from] IdpError),
}

/// Runs `call` with the client secret. When Scalekit answers `invalid_client`, the secret may
/// have been rotated under this container: it is read again (once) and the call retried.
pub async fn with_client_secret<T, F, Fut>(
    secrets: &SecretCache<ClientSecret>,
    call: F,
) -> Result<T, TokenCallError>
where
    F: Fn(Arc<ClientSecret>) -> Fut,
    Fut: Future<Output = Result<T, IdpError>>,
{
    let secret = secrets.get().await?;
    match call(secret).await {
        Err(error) if error.oauth_error() == Some(&OAuthError::InvalidClient) => {
            tracing::warn!("client secret rejected; re-reading it");
            let secret = secrets.refresh().await?;
            Ok(call(secret).await?)
        }
        other => Ok(other?),
    }
}

/// How long a page waits for an organization's display name before showing its id instead.
const ORGANIZATION_NAME_TIMEOUT: Duration = Duration::from_secs(1);

/// An organization's display name for a page, best effort: `None` (logged) when Scalekit cannot
/// say within [`ORGANIZATION_NAME_TIMEOUT`]; the page shows the organization id instead, and
/// the next pages do too for a while without asking.
pub async fn organization_name(app: &crate::App, organization_id: &str) -> Option<String> {
    let lookup = with_client_secret(app.client_secret(), |secret| async move {
        app.scalekit
            .organization_name(&secret, organization_id)
            .await
    });
    match tokio::time::timeout(ORGANIZATION_NAME_TIMEOUT, lookup).await {
        Ok(Ok(name)) => return name,
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::telemetry::Chain(&error), "organization name unavailable")
        }
        Err(_) => tracing::warn!("organization name unavailable: Scalekit did not answer in time"),
    }
    app.scalekit.organization_name_unavailable(organization_id);
    None
}

/// [`organization_name`] of each of `organization_ids`, looked up side by side: a page waits at
/// most [`ORGANIZATION_NAME_TIMEOUT`] for all of them, not once per organization.
pub async fn organization_names<'a>(
    app: &crate::App,
    organization_ids: impl IntoIterator<Item = &'a str>,
) -> std::collections::HashMap<&'a str, Option<String>> {
    let mut distinct: Vec<&str> = organization_ids.into_iter().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let names = futures_util::future::join_all(
        distinct
            .iter()
            .map(|organization_id| organization_name(app, organization_id)),
    )
    .await;
    distinct.into_iter().zip(names).collect()
}
