//! A server-side session: who is signed in, and their tokens encrypted at rest.

use serde::{Deserialize, Serialize};

use crate::crypto::{b64url, random_token, sha256, KeyRing, OpenError};
use crate::redacted::{AccessToken, IdToken, RefreshToken, SessionId};
use crate::scalekit::{CodeTokens, IdTokenClaims};

/// A new session id: 256 random bits.
pub fn new_session_id() -> SessionId {
    SessionId::new(random_token(32))
}

/// The table key for a session id: its SHA-256, so a copy of the table cannot be replayed as cookies.
pub fn session_key(id: &SessionId) -> String {
    b64url(sha256(id.secret().as_bytes()))
}

/// The opaque handle of a session in the user's session list (`GET /api/sessions`): derived
/// from the record key (itself a hash of the session id), so it reveals neither and needs no
/// storage.
pub fn session_handle(record_key: &str) -> String {
    let digest = sha256(format!("session-handle:{record_key}").as_bytes());
    b64url(&digest[..16])
}

/// Longest user agent a record keeps (the session list shows the device).
const MAX_USER_AGENT: usize = 256;

/// One session, as the functions see it (tokens decrypted).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// [`session_key`] of the session id.
    pub key: String,
    /// Scalekit user id (`sub`).
    pub user_id: String,
    /// Organization signed in to (`oid`).
    pub organization_id: Option<String>,
    /// Scalekit's session id (`sid`): a back-channel logout or a `user.logout` webhook names it.
    pub session_id: Option<String>,
    /// The browser's `User-Agent` at sign-in (truncated), to name the device in the session list.
    pub user_agent: Option<String>,
    /// The latest access token: lets a request that lost a refresh race adopt the winner's.
    pub access_token: AccessToken,
    /// The current refresh token, if Scalekit issued one.
    pub refresh_token: Option<RefreshToken>,
    /// The latest ID token (profile claims, logout hint).
    pub id_token: IdToken,
    /// Creation time, seconds since the epoch.
    pub created_at: i64,
    /// Last use, for the idle timeout.
    pub last_seen_at: i64,
    /// Absolute end of the session.
    pub expires_at: i64,
    /// Incremented on every token rotation; writes are conditional on it.
    pub version: u64,
}

impl SessionRecord {
    /// The record of a login that just completed: the verified ID token's user, organization
    /// and Scalekit session, and the tokens of the code exchange.
    pub fn new_login(
        session_id: &SessionId,
        claims: &IdTokenClaims,
        tokens: &CodeTokens,
        user_agent: Option<&str>,
        now: i64,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            key: session_key(session_id),
            user_id: claims.user.id.clone(),
            organization_id: claims.user.organization_id.clone(),
            session_id: claims.user.session_id.clone(),
            user_agent: user_agent.map(|agent| truncate(agent, MAX_USER_AGENT).to_owned()),
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            id_token: tokens.id_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime_secs,
            version: 1,
        }
    }

    /// This session's handle in the user's session list.
    pub fn handle(&self) -> String {
        session_handle(&self.key)
    }

    /// Whether the session may still be used at `now` with the given idle timeout.
    pub fn is_active(&self, now: i64, idle_timeout_secs: i64) -> bool {
        now < self.expires_at && now < self.last_seen_at + idle_timeout_secs
    }

    /// When the table's TTL may delete the record.
    pub fn ttl(&self, idle_timeout_secs: i64) -> i64 {
        self.expires_at.min(self.last_seen_at + idle_timeout_secs)
    }
}

/// Everything that decides who a session is and how long it lives, sealed together so that a
/// table writer can neither read the tokens nor edit the user, organization, timestamps or
/// version: the item keeps in clear only what DynamoDB itself needs.
#[derive(Serialize, Deserialize)]
struct Sealed {
    user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    id_token: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    version: u64,
}

/// Seals the record, bound to its key so that it cannot be moved to another record.
pub(crate) fn seal_record(record: &SessionRecord, key: &KeyRing) -> String {
    let sealed = Sealed {
        user_id: record.user_id.clone(),
        organization_id: record.organization_id.clone(),
        session_id: record.session_id.clone(),
        user_agent: record.user_agent.clone(),
        access_token: record.access_token.secret().to_owned(),
        refresh_token: record.refresh_token.as_ref().map(|t| t.secret().to_owned()),
        id_token: record.id_token.secret().to_owned(),
        created_at: record.created_at,
        last_seen_at: record.last_seen_at,
        expires_at: record.expires_at,
        version: record.version,
    };
    key.seal(
        &serde_json::to_vec(&sealed).expect("plain struct serialises"),
        &record.key,
    )
}

/// Opens a record sealed by [`seal_record`] for `record_key`.
pub(crate) fn open_record(
    sealed: &str,
    record_key: &str,
    key: &KeyRing,
) -> Result<SessionRecord, OpenError> {
    let plaintext = key.open_checked(sealed, record_key)?;
    let sealed: Sealed = serde_json::from_slice(&plaintext).map_err(|_| OpenError::Invalid)?;
    Ok(SessionRecord {
        key: record_key.to_owned(),
        user_id: sealed.user_id,
        organization_id: sealed.organization_id,
        session_id: sealed.session_id,
        user_agent: sealed.user_agent,
        access_token: AccessToken::new(sealed.access_token),
        refresh_token: sealed.refresh_token.map(RefreshToken::new),
        id_token: IdToken::new(sealed.id_token),
        created_at: sealed.created_at,
        last_seen_at: sealed.last_seen_at,
        expires_at: sealed.expires_at,
        version: sealed.version,
    })
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
