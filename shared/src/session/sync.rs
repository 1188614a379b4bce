//! Sessions that follow Scalekit, and the user's own list of them: finding a user's sessions by
//! the table's lookup hints, checking each against its sealed record, and ending the ones an
//! event names (a back-channel logout, a `user.logout` webhook, a removed membership, a deleted
//! organization, the user's own "sign out").

use futures_util::{stream, StreamExt, TryStreamExt};

use super::check::load_session;
use super::record::session_handle;
use super::store::{Hint, Hinted};
use super::{SessionError, SessionRecord, Unavailable};
use crate::scalekit::unix_now;
use crate::telemetry::Chain;
use crate::App;

/// Which of our sessions to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The sessions of one Scalekit session (`sid`), of this user when the event names one.
    ScalekitSession {
        /// `sid`.
        session_id: String,
        /// `sub`, when known.
        user_id: Option<String>,
    },
    /// Every session of a user.
    User {
        /// `sub`.
        user_id: String,
    },
    /// Every session of a user but one (signing out everywhere before Scalekit has revoked).
    UserExcept {
        /// `sub`.
        user_id: String,
        /// The record key of the session kept.
        kept: String,
    },
    /// A user's sessions in one organization (the membership was removed).
    Membership {
        /// `sub`.
        user_id: String,
        /// `oid`.
        organization_id: String,
    },
    /// Every session in an organization (it was deleted).
    Organization {
        /// `oid`.
        organization_id: String,
    },
}

impl Ending {
    /// Whether an opened record is one of them: decided by the sealed record, never by the
    /// clear hints that led to it.
    pub fn matches(&self, record: &SessionRecord) -> bool {
        let user = |id: &str| record.user_id == id;
        let organization = |id: &str| record.organization_id.as_deref() == Some(id);
        match self {
            Self::ScalekitSession {
                session_id,
                user_id,
            } => {
                record.session_id.as_deref() == Some(session_id.as_str())
                    && user_id.as_deref().is_none_or(user)
            }
            Self::User { user_id } => user(user_id),
            Self::UserExcept { user_id, kept } => user(user_id) && record.key != *kept,
            Self::Membership {
                user_id,
                organization_id,
            } => user(user_id) && organization(organization_id),
            Self::Organization { organization_id } => organization(organization_id),
        }
    }

    /// Whether a hint could lead to a match (a cheap pre-filter; the seal decides).
    fn may_match(&self, hinted: &Hinted) -> bool {
        match self {
            Self::ScalekitSession { session_id, .. } => {
                hinted.session_id.as_deref() == Some(session_id.as_str())
            }
            Self::Membership {
                organization_id, ..
            } => hinted.organization_id.as_deref() == Some(organization_id.as_str()),
            Self::UserExcept { kept, .. } => hinted.key != *kept,
            Self::User { .. } | Self::Organization { .. } => true,
        }
    }
}

/// The sessions that may be `ending`, by the index of the narrowest hint it names.
async fn candidates(app: &App, ending: &Ending) -> Result<Vec<Hinted>, Unavailable> {
    let (hint, value) = match ending {
        Ending::ScalekitSession { session_id, .. } => (Hint::ScalekitSession, session_id),
        Ending::User { user_id }
        | Ending::UserExcept { user_id, .. }
        | Ending::Membership { user_id, .. } => (Hint::User, user_id),
        Ending::Organization { organization_id } => (Hint::Organization, organization_id),
    };
    let found = app
        .sessions()
        .hinted(hint, value)
        .await
        .map_err(Unavailable::Store)?;
    Ok(found.into_iter().filter(|h| ending.may_match(h)).collect())
}

/// Opens the record behind a hint: `None` when it is gone or cannot be opened (never trusted,
/// never deleted for that).
async fn open(app: &App, key: &str) -> Result<Option<SessionRecord>, Unavailable> {
    match load_session(app, app.sessions(), key).await {
        Ok((record, _)) => Ok(record),
        Err(SessionError::SignedOut) => {
            tracing::warn!("a session named by a lookup hint cannot be opened: left alone");
            Ok(None)
        }
        Err(SessionError::Unavailable(cause)) => Err(cause),
    }
}

/// How long a replay marker holds before the sessions it guards have ended: longer than any
/// invocation runs (template.yaml's `Timeout`, 10 s; a template test keeps it so), so that a
/// delivery racing the first is a duplicate; short, so that when the first fails and cannot even
/// forget its marker (DynamoDB failing, Lambda ending the invocation), the sender's later retries
/// are acted on.
pub const MARKER_LEASE_SECS: i64 = 15;

/// [`end_sessions`] once per `marker` (a logout token's `jti`, a webhook's id): `None` when the
/// marker is already remembered, a replay or a redelivery. The marker is taken for
/// [`MARKER_LEASE_SECS`], kept until `until` (seconds since the epoch) once the sessions have
/// ended, and forgotten if ending fails, so that the sender's retry is not taken for a replay.
pub async fn end_sessions_once(
    app: &App,
    marker: &str,
    until: i64,
    ending: &Ending,
) -> Result<Option<usize>, Unavailable> {
    let sessions = app.sessions();
    let now = unix_now();
    if !sessions
        .remember_once(marker, now, now + MARKER_LEASE_SECS)
        .await
        .map_err(Unavailable::Store)?
    {
        return Ok(None);
    }
    match end_sessions(app, ending).await {
        Ok(ended) => {
            if let Err(error) = sessions.remember_until(marker, until).await {
                tracing::warn!(error = %Chain(&error), "replay marker not kept: a redelivery after its lease would act again");
            }
            Ok(Some(ended))
        }
        Err(cause) => {
            if let Err(error) = sessions.forget(marker).await {
                tracing::warn!(error = %Chain(&error), "replay marker not forgotten: a retry within its lease will be taken for a replay");
            }
            Err(cause)
        }
    }
}

/// How many records are opened (and ended) at once: a deleted organization may name hundreds of
/// sessions, and one after another they would outlast the function.
const CONCURRENT_RECORDS: usize = 16;

/// Ends every session `ending` names; returns how many.
pub async fn end_sessions(app: &App, ending: &Ending) -> Result<usize, Unavailable> {
    let ended = stream::iter(candidates(app, ending).await?)
        .map(|hinted| end_one(app, ending, hinted))
        .buffer_unordered(CONCURRENT_RECORDS)
        .try_fold(0, |ended, one| async move { Ok(ended + usize::from(one)) })
        .await?;
    tracing::info!(outcome = "sessions_ended", count = ended);
    Ok(ended)
}

/// Ends the session behind `hinted` if its sealed record is one `ending` names.
async fn end_one(app: &App, ending: &Ending, hinted: Hinted) -> Result<bool, Unavailable> {
    let Some(record) = open(app, &hinted.key).await? else {
        return Ok(false);
    };
    if !ending.matches(&record) {
        tracing::warn!("a lookup hint disagrees with its sealed record: left alone");
        return Ok(false);
    }
    app.sessions()
        .delete(&record.key)
        .await
        .map_err(Unavailable::Store)?;
    Ok(true)
}

/// The user's sessions that are still usable, newest first.
pub async fn sessions_of(
    app: &App,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRecord>, Unavailable> {
    let ending = &Ending::User {
        user_id: user_id.to_owned(),
    };
    let mut found: Vec<SessionRecord> = stream::iter(candidates(app, ending).await?)
        .map(|hinted| async move { open_active(app, &hinted.key, ending, now).await })
        .buffer_unordered(CONCURRENT_RECORDS)
        .try_filter_map(|record| async move { Ok(record) })
        .try_collect()
        .await?;
    found.sort_by_key(|record| std::cmp::Reverse(record.created_at));
    Ok(found)
}

/// The active session of `user_id` whose [`SessionRecord::handle`] is `handle`: the user's keys
/// from the by-user index, then only that record.
pub async fn session_of(
    app: &App,
    user_id: &str,
    handle: &str,
    now: i64,
) -> Result<Option<SessionRecord>, Unavailable> {
    let ending = Ending::User {
        user_id: user_id.to_owned(),
    };
    let candidates = candidates(app, &ending).await?;
    match candidates.iter().find(|h| session_handle(&h.key) == handle) {
        Some(hinted) => open_active(app, &hinted.key, &ending, now).await,
        None => Ok(None),
    }
}

/// The record at `key` if it opens, `ending` names it (the sealed record agrees with the hint)
/// and it is active.
async fn open_active(
    app: &App,
    key: &str,
    ending: &Ending,
    now: i64,
) -> Result<Option<SessionRecord>, Unavailable> {
    Ok(open(app, key)
        .await?
        .filter(|record| ending.matches(record) && record.is_active(now, app.idle_timeout_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redacted::{AccessToken, IdToken};

    fn record(user: &str, org: Option<&str>, sid: Option<&str>) -> SessionRecord {
        SessionRecord {
            key: "k".into(),
            user_id: user.into(),
            organization_id: org.map(str::to_owned),
            session_id: sid.map(str::to_owned),
            user_agent: None,
            access_token: AccessToken::new("a"),
            refresh_token: None,
            id_token: IdToken::new("i"),
            created_at: 0,
            last_seen_at: 0,
            expires_at: 1,
            version: 1,
        }
    }

    #[test]
    fn an_ending_matches_by_the_sealed_record_alone() {
        let alice_acme = record("usr_alice", Some("org_acme"), Some("ses_1"));
        let mut alice_globex = record("usr_alice", Some("org_globex"), Some("ses_2"));
        alice_globex.key = "k2".into();
        let carol = record("usr_carol", Some("org_acme"), Some("ses_3"));
        let sid = |s: &str, u: Option<&str>| Ending::ScalekitSession {
            session_id: s.into(),
            user_id: u.map(str::to_owned),
        };
        let cases = [
            (sid("ses_1", None), [true, false, false]),
            (sid("ses_1", Some("usr_alice")), [true, false, false]),
            (sid("ses_1", Some("usr_carol")), [false, false, false]),
            (
                Ending::User {
                    user_id: "usr_alice".into(),
                },
                [true, true, false],
            ),
            (
                Ending::UserExcept {
                    user_id: "usr_alice".into(),
                    kept: "k2".into(),
                },
                [true, false, false],
            ),
            (
                Ending::Membership {
                    user_id: "usr_alice".into(),
                    organization_id: "org_acme".into(),
                },
                [true, false, false],
            ),
            (
                Ending::Organization {
                    organization_id: "org_acme".into(),
                },
                [true, false, true],
            ),
        ];
        for (ending, expected) in cases {
            let got = [&alice_acme, &alice_globex, &carol].map(|r| ending.matches(r));
            assert_eq!(got, expected, "{ending:?}");
        }
        assert!(!sid("ses_1", None).matches(&record("usr_alice", None, None)));
    }
}
