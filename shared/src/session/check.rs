//! The one-line session check every app function uses: who is signed in, refreshing the access
//! token when it has expired, and surviving concurrent refreshes of the same session.
//!
//! Scalekit rotates the refresh token on every use and refuses the old one. When several requests
//! of one session need a refresh at once (two tabs, two Lambda instances), the first takes a
//! short *rotation lease* on the record (a conditional write) and alone calls Scalekit; the others
//! wait for its conditional write of the rotated tokens and adopt its access token, however slow
//! it is, up to [`MAX_WAIT_FOR_ROTATION`]; past that they answer `503 session_busy` and leave the
//! session intact. A request that did not spend the refresh token never deletes the record nor
//! expires the cookies. If the lease holder dies, the lease lapses and the next request takes it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cookie::Cookie;
use lambda_http::{Body, Request, Response};

use super::cookies::{access_token_cookie, session_cookie_removals};
use super::record::{session_key, SessionRecord};
use super::store::{RotationOutcome, SessionStore, StoreError};
use crate::access::Credentials;
use crate::failures;
use crate::http;
use crate::metrics::{self, Count};
use crate::redacted::{AccessToken, SessionId};
use crate::scalekit::{
    unix_now, AccessTokenClaims, IdpError, OAuthError, ScalekitClient, TokenError, User,
};
use crate::secret_cache::{SecretError, SessionKeys, Unsealed};
use crate::token_calls::{with_client_secret, TokenCallError};
use crate::App;

/// Activity is written back at most this often (seconds), for the idle timeout.
const TOUCH_INTERVAL: i64 = 15 * 60;
/// An access token this close to expiry (seconds) is refreshed rather than used: the same minute
/// the seed takes off the `accessToken` cookie's lifetime.
const EXPIRY_MARGIN: i64 = 60;
/// How long the lease holder may take to refresh and store the tokens before another request may
/// try: its own worst case (token request, key refetch and DynamoDB write, 5 s each).
const ROTATION_LEASE: Duration = Duration::from_secs(15);
/// How long a request waits for another's refresh before answering `503 session_busy`: seconds,
/// well inside the function's 10 s timeout.
pub const MAX_WAIT_FOR_ROTATION: Duration = Duration::from_secs(6);
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_millis(400);
/// After Scalekit refuses the refresh token spent under our lease, how often and how long to
/// look for a rotation stored by another request (a lease that lapsed) before calling it revoked.
const WINNER_POLLS: u32 = 4;
const WINNER_POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Whether to rotate tokens even when the access token is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Only when the access token is missing, invalid or expired.
    IfNeeded,
    /// Always (`POST /api/refresh`).
    Now,
}

/// A signed-in user.
#[derive(Debug)]
pub struct SignedIn {
    /// The profile from the session's ID token.
    pub user: User,
    /// The verified access token's claims: organization, roles, permissions, expiry.
    pub access: AccessTokenClaims,
    /// The session record.
    pub record: SessionRecord,
    new_access_cookie: Option<Cookie<'static>>,
}

impl SignedIn {
    /// Sets the refreshed `accessToken` cookie on the response, if the check refreshed it.
    pub fn apply_cookies(&self, response: &mut Response<Body>) {
        if let Some(cookie) = &self.new_access_cookie {
            http::set_cookie(response, cookie);
        }
    }
}

/// Why there is no signed-in user.
#[derive(Debug)]
pub enum SessionError {
    /// No usable session (none, expired, revoked, logged out): answer 401 or send to login,
    /// clearing the cookies with [`SessionError::apply_cookies`].
    SignedOut,
    /// A dependency failed; the session may be fine, so its cookies are kept.
    Unavailable(Unavailable),
}

/// What kept the check from deciding; `failures::session_unavailable` answers it.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The session table failed.
    #[error("session store failed")]
    Store(#[source] StoreError),
    /// Secrets Manager could not give us a secret.
    #[error("secret unavailable")]
    Secrets(#[source] SecretError),
    /// The record is sealed under a session secret not read yet, and re-reading it failed.
    #[error("sealed under a session secret not read yet")]
    SecretRotating,
    /// Another request of this session is refreshing and did not finish in time.
    #[error("session refreshed elsewhere for too long")]
    Busy,
    /// The token endpoint call failed.
    #[error("token endpoint call failed")]
    Idp(#[source] IdpError),
    /// A token from Scalekit failed verification, or its keys could not be fetched.
    #[error("token rejected")]
    Token(#[source] TokenError),
}

impl Unavailable {
    /// The cause's name, for logs and metrics (a constant: never anything a request carries).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::Secrets(_) => "secrets",
            Self::SecretRotating => "secret_rotating",
            Self::Busy => "busy",
            Self::Idp(_) => "idp",
            Self::Token(_) => "token",
        }
    }
}

impl SessionError {
    /// Clears the session cookies when signed out.
    pub fn apply_cookies(&self, response: &mut Response<Body>) {
        if matches!(self, Self::SignedOut) {
            for cookie in session_cookie_removals() {
                http::set_cookie(response, &cookie);
            }
        }
    }

    /// The JSON answer of an API route ([`failures::session`]), clearing the cookies when
    /// signed out.
    pub fn to_response(&self, req: &Request) -> Response<Body> {
        let mut response = failures::session(self).to_response(req);
        self.apply_cookies(&mut response);
        response
    }
}

impl From<Unavailable> for SessionError {
    fn from(cause: Unavailable) -> Self {
        Self::Unavailable(cause)
    }
}

/// Checks the request's session. See the module documentation.
pub async fn authenticate(
    app: &App,
    req: &Request,
    refresh: Refresh,
) -> Result<SignedIn, SessionError> {
    authenticate_with(app, &Credentials::of_request(req), refresh).await
}

/// [`authenticate`] for the session cookies of `credentials` (a Bearer token is not looked at).
pub async fn authenticate_with(
    app: &App,
    credentials: &Credentials<'_>,
    refresh: Refresh,
) -> Result<SignedIn, SessionError> {
    let session_id = credentials.session_id.ok_or(SessionError::SignedOut)?;
    let sessions = app.sessions();
    let record_key = session_key(&SessionId::new(session_id));
    let now = unix_now();
    let (record, keys) = load_session(app, sessions, &record_key).await?;
    let record = record.ok_or(SessionError::SignedOut)?;
    if !record.is_active(now, app.idle_timeout_secs()) {
        tracing::info!(outcome = "session_expired");
        end_session(app, &record.key).await;
        return Err(SessionError::SignedOut);
    }
    if refresh == Refresh::IfNeeded {
        let from_cookie = credentials.access_cookie.map(AccessToken::new);
        if let Some(token) = &from_cookie {
            if let Some(access) = usable_access_token(&app.scalekit, token, &record, now).await? {
                touch_if_idle(app, sessions, &keys, &record, now).await;
                return signed_in(record, access, None);
            }
        }
        if from_cookie.as_ref() != Some(&record.access_token) {
            if let Some(access) =
                usable_access_token(&app.scalekit, &record.access_token, &record, now).await?
            {
                let cookie = access_cookie(&record.access_token, &access, now);
                return signed_in(record, access, Some(cookie));
            }
        }
    }
    rotate(app, sessions, record, keys, now).await
}

/// Reads the session record, re-reading the session secret once if the record is sealed under
/// a key this container lacks (another container read a rotated secret first). A record that
/// cannot be opened signs the browser out but is never deleted: it may open for a container
/// that holds its key, and the table's TTL removes it otherwise.
pub(super) async fn load_session(
    app: &App,
    sessions: &SessionStore,
    record_key: &str,
) -> Result<(Option<SessionRecord>, Arc<SessionKeys>), SessionError> {
    let unsealed = app
        .session_keys
        .unseal(|keys| async move {
            match sessions.load(record_key, &keys.tokens).await {
                Err(StoreError::UnknownKey) => None,
                other => Some(other),
            }
        })
        .await
        .map_err(Unavailable::Secrets)?;
    match unsealed {
        Unsealed::Opened(Ok(record), keys) => Ok((record, keys)),
        Unsealed::Opened(Err(StoreError::Corrupt(what)), _) => {
            tracing::warn!(what, "unreadable session record: signed out, record kept");
            Err(SessionError::SignedOut)
        }
        Unsealed::Opened(Err(error), _) => Err(Unavailable::Store(error).into()),
        Unsealed::UnknownKey { fresh: true } => {
            tracing::warn!(
                "session sealed under a secret this container cannot read: signed out, record kept"
            );
            Err(SessionError::SignedOut)
        }
        Unsealed::UnknownKey { fresh: false } => Err(Unavailable::SecretRotating.into()),
    }
}

/// The claims of `token` if it is valid, belongs to this session's user and is not about to expire.
async fn usable_access_token(
    scalekit: &ScalekitClient,
    token: &AccessToken,
    record: &SessionRecord,
    now: i64,
) -> Result<Option<AccessTokenClaims>, SessionError> {
    match scalekit.verify_access_token(token).await {
        Ok(access)
            if access.subject == record.user_id && access.expires_at > now + EXPIRY_MARGIN =>
        {
            Ok(Some(access))
        }
        Ok(_) => Ok(None),
        Err(error @ TokenError::KeysUnavailable(_)) => Err(Unavailable::Token(error).into()),
        Err(_) => Ok(None),
    }
}

fn access_cookie(token: &AccessToken, access: &AccessTokenClaims, now: i64) -> Cookie<'static> {
    access_token_cookie(token.secret(), access.expires_at - now)
}

fn signed_in(
    record: SessionRecord,
    access: AccessTokenClaims,
    new_access_cookie: Option<Cookie<'static>>,
) -> Result<SignedIn, SessionError> {
    let user = ScalekitClient::claims_of_stored_id_token(&record.id_token)
        .map(|claims| claims.user)
        .ok_or(SessionError::SignedOut)?;
    Ok(SignedIn {
        user,
        access,
        record,
        new_access_cookie,
    })
}

async fn touch_if_idle(
    app: &App,
    sessions: &SessionStore,
    keys: &SessionKeys,
    record: &SessionRecord,
    now: i64,
) {
    if now - record.last_seen_at < TOUCH_INTERVAL {
        return;
    }
    let touched = SessionRecord {
        last_seen_at: now,
        ..record.clone()
    };
    if let Err(error) = sessions
        .touch(&touched, &keys.tokens, app.idle_timeout_secs())
        .await
    {
        tracing::warn!(%error, "session activity not recorded");
    }
}

/// Deletes a session record (best effort: it expires anyway).
pub async fn end_session(app: &App, record_key: &str) {
    if let Some(sessions) = &app.sessions {
        if let Err(error) = sessions.delete(record_key).await {
            tracing::warn!(%error, "session record not deleted");
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Refreshes the session's tokens: under the rotation lease if this request gets it, else by
/// waiting for the request that holds it and adopting its result.
async fn rotate(
    app: &App,
    sessions: &SessionStore,
    mut record: SessionRecord,
    mut keys: Arc<SessionKeys>,
    now: i64,
) -> Result<SignedIn, SessionError> {
    if record.refresh_token.is_none() {
        tracing::info!(outcome = "session_ended", reason = "no refresh token");
        end_session(app, &record.key).await;
        return Err(SessionError::SignedOut);
    }
    let deadline = Instant::now() + MAX_WAIT_FOR_ROTATION;
    let mut pause = FIRST_POLL;
    loop {
        let start = now_ms();
        let lease = sessions
            .acquire_lease(&record, start, start + ROTATION_LEASE.as_millis() as i64)
            .await
            .map_err(Unavailable::Store)?;
        if lease == RotationOutcome::Stored {
            return refresh_under_lease(app, sessions, record, &keys, now).await;
        }
        // Another request holds the lease, or has just stored its rotation.
        let (current, current_keys) = load_session(app, sessions, &record.key).await?;
        let current = current.ok_or(SessionError::SignedOut)?;
        keys = current_keys;
        if current.version > record.version {
            if let Some(adopted) = adopt(app, &current, now).await? {
                return Ok(adopted);
            }
            // Its access token is no longer usable either: refresh it in turn.
            record = current;
        }
        if Instant::now() + pause > deadline {
            tracing::warn!(outcome = "session_busy");
            metrics::count(Count::Refreshes, "busy", None);
            return Err(Unavailable::Busy.into());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Spends the refresh token (this request alone holds the lease) and stores the rotation.
async fn refresh_under_lease(
    app: &App,
    sessions: &SessionStore,
    record: SessionRecord,
    keys: &SessionKeys,
    now: i64,
) -> Result<SignedIn, SessionError> {
    let rotated = match refreshed_record(app, &record, now).await {
        Ok(rotated) => rotated,
        Err(Refused::Revoked) => return revoked(app, sessions, &record, keys, now).await,
        Err(Refused::Failed(error)) => {
            if let SessionError::Unavailable(cause) = &error {
                metrics::count(Count::Refreshes, "failed", Some(cause.kind()));
            }
            // Nothing stored: give the lease back so the next request need not wait it out.
            if let Err(error) = sessions.release_lease(&record).await {
                tracing::warn!(%error, "rotation lease not released");
            }
            return Err(error);
        }
    };
    let (record, access) = rotated;
    match sessions
        .store_rotation(&record, &keys.tokens, app.idle_timeout_secs())
        .await
        .map_err(Unavailable::Store)?
    {
        RotationOutcome::Stored => {
            tracing::info!(outcome = "tokens_refreshed");
            metrics::count(Count::Refreshes, "rotated", None);
            let cookie = access_cookie(&record.access_token, &access, now);
            signed_in(record, access, Some(cookie))
        }
        RotationOutcome::Conflict => {
            // Our lease lapsed under a very slow refresh and another request stored first.
            let seen = SessionRecord {
                version: record.version - 1,
                ..record
            };
            match wait_for_newer(app, sessions, keys, &seen).await? {
                Some(newer) => adopt(app, &newer, now)
                    .await?
                    .ok_or(Unavailable::Busy.into()),
                None => Err(SessionError::SignedOut),
            }
        }
    }
}

/// Why [`refreshed_record`] has no new record.
enum Refused {
    /// Scalekit refused the refresh token (`invalid_grant`).
    Revoked,
    /// Scalekit or a dependency failed; the session may be fine.
    Failed(SessionError),
}

/// The record with Scalekit's rotated tokens, verified (one retry with a re-read client secret
/// when Scalekit answers `invalid_client`: the secret was rotated).
async fn refreshed_record(
    app: &App,
    record: &SessionRecord,
    now: i64,
) -> Result<(SessionRecord, AccessTokenClaims), Refused> {
    let failed = Refused::Failed;
    let secrets = app.client_secret();
    // `rotate` ends a session without one before it gets here; this keeps that true by type.
    let Some(refresh_token) = record.refresh_token.as_ref() else {
        return Err(Refused::Revoked);
    };
    let refreshed = with_client_secret(secrets, |secret| async move {
        app.scalekit.refresh(&secret, refresh_token).await
    })
    .await;
    let tokens = match refreshed {
        Ok(tokens) => tokens,
        Err(TokenCallError::Secret(e)) => return Err(failed(Unavailable::Secrets(e).into())),
        Err(TokenCallError::Idp(IdpError::OAuth {
            error: OAuthError::InvalidGrant,
            ..
        })) => return Err(Refused::Revoked),
        Err(TokenCallError::Idp(e)) => return Err(failed(Unavailable::Idp(e).into())),
    };
    let token_failure = |e: TokenError| failed(Unavailable::Token(e).into());
    let access = app
        .scalekit
        .verify_access_token(&tokens.access_token)
        .await
        .map_err(token_failure)?;
    if access.subject != record.user_id {
        return Err(token_failure(TokenError::SubjectChanged));
    }
    let id_token = match tokens.id_token {
        Some(id_token) => {
            app.scalekit
                .verify_refreshed_id_token(&id_token, &record.user_id)
                .await
                .map_err(token_failure)?;
            id_token
        }
        None => record.id_token.clone(),
    };
    let rotated = SessionRecord {
        organization_id: access
            .organization_id
            .clone()
            .or(record.organization_id.clone()),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.or(record.refresh_token.clone()),
        id_token,
        last_seen_at: now,
        version: record.version + 1,
        ..record.clone()
    };
    Ok((rotated, access))
}

/// Scalekit refused the refresh token this request alone was allowed to spend: the session was
/// revoked or expired there, unless the lease lapsed under a very slow refresh and another
/// request rotated meanwhile. The record is deleted only if it is still the one we saw.
async fn revoked(
    app: &App,
    sessions: &SessionStore,
    record: &SessionRecord,
    keys: &SessionKeys,
    now: i64,
) -> Result<SignedIn, SessionError> {
    if let Some(newer) = wait_for_newer(app, sessions, keys, record).await? {
        return adopt(app, &newer, now)
            .await?
            .ok_or(Unavailable::Busy.into());
    }
    tracing::info!(outcome = "session_ended", reason = "refresh token rejected");
    metrics::count(Count::Refreshes, "revoked", None);
    if let Err(error) = sessions
        .delete_at_version(&record.key, record.version)
        .await
    {
        tracing::warn!(%error, "session record not deleted");
    }
    Err(SessionError::SignedOut)
}

/// Polls briefly for a rotation stored by another request since `seen`.
async fn wait_for_newer(
    app: &App,
    sessions: &SessionStore,
    keys: &SessionKeys,
    seen: &SessionRecord,
) -> Result<Option<SessionRecord>, SessionError> {
    for poll in 0..WINNER_POLLS {
        match sessions.load(&seen.key, &keys.tokens).await {
            Ok(Some(current)) if current.version > seen.version => return Ok(Some(current)),
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            // Sealed under a newer secret: written by another container, so a rotation landed.
            Err(StoreError::UnknownKey) => {
                let (current, _) = load_session(app, sessions, &seen.key).await?;
                return Ok(current.filter(|current| current.version > seen.version));
            }
            Err(StoreError::Corrupt(_)) => return Ok(None),
            Err(error) => return Err(Unavailable::Store(error).into()),
        }
        if poll + 1 < WINNER_POLLS {
            tokio::time::sleep(WINNER_POLL_INTERVAL).await;
        }
    }
    Ok(None)
}

/// Uses the access token another request stored, when it is still good.
async fn adopt(
    app: &App,
    record: &SessionRecord,
    now: i64,
) -> Result<Option<SignedIn>, SessionError> {
    match usable_access_token(&app.scalekit, &record.access_token, record, now).await? {
        Some(access) => {
            tracing::info!(outcome = "adopted_concurrent_refresh");
            metrics::count(Count::Refreshes, "adopted", None);
            let cookie = access_cookie(&record.access_token, &access, now);
            signed_in(record.clone(), access, Some(cookie)).map(Some)
        }
        None => Ok(None),
    }
}
