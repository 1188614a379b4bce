//! The one-line session check every app function uses: who is signed in, refreshing the access
//! token when it has expired, and surviving concurrent refreshes of the same session.
//!
//! Scalekit rotates the refresh token on every use and refuses the old one. When two requests of
//! one session refresh at once (two tabs, two Lambda instances), one wins the conditional write;
//! the other re-reads the record and adopts the winner's access token instead of failing, so
//! both end signed in and exactly one refresh token is stored.

use cookie::Cookie;
use lambda_http::{Body, Request, Response};

use super::cookies::{build_cookie, session_cookie_removals, ACCESS_TOKEN_COOKIE, SESSION_COOKIE};
use super::record::{session_key, SessionRecord};
use super::store::{RotationOutcome, StoreError};
use crate::failures;
use crate::http::{self, ApiError};
use crate::scalekit::{unix_now, AccessTokenClaims, IdpError, ScalekitClient, TokenError, User};
use crate::secret::{AccessToken, SessionId};
use crate::secrets::SessionKeys;
use crate::App;

/// Activity is written back at most this often (seconds), for the idle timeout.
const TOUCH_INTERVAL: i64 = 15 * 60;
/// An access token this close to expiry (seconds) is refreshed rather than used: the same minute
/// the seed takes off the `accessToken` cookie's lifetime.
const EXPIRY_MARGIN: i64 = 60;
/// After Scalekit refuses a refresh token, how often and how long to look for a concurrent
/// request's rotation (its token call succeeded, its write may not have landed yet).
const WINNER_POLLS: u32 = 4;
const WINNER_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(150);
/// Rounds of refresh / conflict resolution before giving up on a very contended session.
const MAX_ROTATION_ATTEMPTS: usize = 3;

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
    Unavailable(ApiError),
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
}

fn unavailable_store(error: &StoreError) -> SessionError {
    SessionError::Unavailable(failures::store(error))
}

/// Checks the request's session. See the module documentation.
pub async fn authenticate(
    app: &App,
    req: &Request,
    refresh: Refresh,
) -> Result<SignedIn, SessionError> {
    let session_id = http::request_cookie(req, SESSION_COOKIE).ok_or(SessionError::SignedOut)?;
    let sessions = app
        .sessions
        .as_ref()
        .expect("functions that check sessions need the table");
    let keys = app
        .session_keys
        .get()
        .await
        .map_err(|e| SessionError::Unavailable(failures::secrets(&e)))?;
    let record_key = session_key(&SessionId::new(session_id));
    let now = unix_now();
    let record = match sessions.load(&record_key, &keys.tokens).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(SessionError::SignedOut),
        Err(StoreError::Corrupt(what)) => {
            tracing::warn!(what, "unreadable session record ended");
            end_session(app, &record_key).await;
            return Err(SessionError::SignedOut);
        }
        Err(error) => return Err(unavailable_store(&error)),
    };
    if !record.is_active(now, app.idle_timeout_secs()) {
        tracing::info!(outcome = "session_expired");
        end_session(app, &record.key).await;
        return Err(SessionError::SignedOut);
    }
    if refresh == Refresh::IfNeeded {
        let from_cookie = http::request_cookie(req, ACCESS_TOKEN_COOKIE).map(AccessToken::new);
        if let Some(token) = &from_cookie {
            if let Some(access) = usable_access_token(&app.scalekit, token, &record, now).await? {
                touch_if_idle(app, &record, now).await;
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
    rotate(app, record, &keys, now).await
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
        Err(error @ TokenError::KeysUnavailable(_)) => {
            Err(SessionError::Unavailable(failures::token(&error)))
        }
        Err(_) => Ok(None),
    }
}

fn access_cookie(token: &AccessToken, access: &AccessTokenClaims, now: i64) -> Cookie<'static> {
    build_cookie(
        ACCESS_TOKEN_COOKIE,
        token.secret(),
        access.expires_at - now - 60,
    )
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

async fn touch_if_idle(app: &App, record: &SessionRecord, now: i64) {
    if now - record.last_seen_at < TOUCH_INTERVAL {
        return;
    }
    let sessions = app.sessions.as_ref().expect("checked by authenticate");
    if let Err(error) = sessions.touch(record, now, app.idle_timeout_secs()).await {
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

/// Uses the refresh token and stores the rotated tokens, resolving races with other requests.
async fn rotate(
    app: &App,
    mut record: SessionRecord,
    keys: &SessionKeys,
    now: i64,
) -> Result<SignedIn, SessionError> {
    let sessions = app.sessions.as_ref().expect("checked by authenticate");
    let secrets = app
        .client_secret
        .as_ref()
        .expect("functions that refresh need the client secret");
    let mut secret = secrets
        .get()
        .await
        .map_err(|e| SessionError::Unavailable(failures::secrets(&e)))?;
    let mut reread_secret = false;
    for _ in 0..MAX_ROTATION_ATTEMPTS {
        let Some(refresh_token) = record.refresh_token.clone() else {
            tracing::info!(outcome = "session_ended", reason = "no refresh token");
            end_session(app, &record.key).await;
            return Err(SessionError::SignedOut);
        };
        let tokens = match app.scalekit.refresh(&secret, &refresh_token).await {
            Ok(tokens) => tokens,
            Err(IdpError::OAuth { error, .. }) if error == "invalid_client" && !reread_secret => {
                reread_secret = true;
                secret = secrets
                    .refresh()
                    .await
                    .map_err(|e| SessionError::Unavailable(failures::secrets(&e)))?;
                continue;
            }
            Err(IdpError::OAuth { error, .. }) if error == "invalid_grant" => {
                // Revoked, expired, or already used by a concurrent request: the record tells which.
                match wait_for_newer(app, keys, &record).await? {
                    Some(newer) => {
                        if let Some(adopted) = adopt(app, &newer, now).await? {
                            return Ok(adopted);
                        }
                        record = newer;
                        continue;
                    }
                    None => {
                        tracing::info!(
                            outcome = "session_ended",
                            reason = "refresh token rejected"
                        );
                        end_session(app, &record.key).await;
                        return Err(SessionError::SignedOut);
                    }
                }
            }
            Err(error) => return Err(SessionError::Unavailable(failures::idp(&error))),
        };
        let access = app
            .scalekit
            .verify_access_token(&tokens.access_token)
            .await
            .map_err(|e| SessionError::Unavailable(failures::token(&e)))?;
        if access.subject != record.user_id {
            return Err(SessionError::Unavailable(failures::token(
                &TokenError::SubjectChanged,
            )));
        }
        let id_token = match tokens.id_token {
            Some(id_token) => {
                app.scalekit
                    .verify_refreshed_id_token(&id_token, &record.user_id)
                    .await
                    .map_err(|e| SessionError::Unavailable(failures::token(&e)))?;
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
        match sessions
            .store_rotation(&rotated, &keys.tokens, app.idle_timeout_secs())
            .await
            .map_err(|e| unavailable_store(&e))?
        {
            RotationOutcome::Stored => {
                tracing::info!(outcome = "tokens_refreshed");
                let cookie = access_cookie(&rotated.access_token, &access, now);
                return signed_in(rotated, access, Some(cookie));
            }
            RotationOutcome::Conflict => {
                // Another request stored its rotation first; ours is discarded.
                let Some(newer) = reload_newer(app, keys, &record).await? else {
                    return Err(SessionError::SignedOut);
                };
                if let Some(adopted) = adopt(app, &newer, now).await? {
                    return Ok(adopted);
                }
                record = newer;
            }
        }
    }
    Err(SessionError::Unavailable(ApiError::new(
        lambda_http::http::StatusCode::SERVICE_UNAVAILABLE,
        "session_busy",
        "Your session is being refreshed elsewhere. Please try again.",
    )))
}

/// Polls briefly for a rotation by a concurrent request.
async fn wait_for_newer(
    app: &App,
    keys: &SessionKeys,
    seen: &SessionRecord,
) -> Result<Option<SessionRecord>, SessionError> {
    for poll in 0..WINNER_POLLS {
        if let Some(newer) = reload_newer(app, keys, seen).await? {
            return Ok(Some(newer));
        }
        if poll + 1 < WINNER_POLLS {
            tokio::time::sleep(WINNER_POLL_INTERVAL).await;
        }
    }
    Ok(None)
}

/// The record as stored now, if another request rotated it since `seen`.
async fn reload_newer(
    app: &App,
    keys: &SessionKeys,
    seen: &SessionRecord,
) -> Result<Option<SessionRecord>, SessionError> {
    let sessions = app.sessions.as_ref().expect("checked by authenticate");
    match sessions.load(&seen.key, &keys.tokens).await {
        Ok(Some(current)) if current.version > seen.version => Ok(Some(current)),
        Ok(_) => Ok(None),
        Err(StoreError::Corrupt(_)) => Ok(None),
        Err(error) => Err(unavailable_store(&error)),
    }
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
            let cookie = access_cookie(&record.access_token, &access, now);
            signed_in(record.clone(), access, Some(cookie)).map(Some)
        }
        None => Ok(None),
    }
}
