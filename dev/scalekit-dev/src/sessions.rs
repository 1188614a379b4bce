//! Sign-ins at the IdP (Scalekit's sessions) and how they end: revoked through the Sessions API,
//! or ended at the IdP with a back-channel logout token and a `user.logout` webhook.

use serde_json::{json, Value};

use crate::state::Shared;
use crate::time::{now_precise, rfc3339};
use crate::tokens::logout_token;
use crate::webhooks::{self, SignedWebhook};
use crate::DevScalekit;

/// An active sign-in at the IdP: one Scalekit session, started when an authorization code was
/// redeemed (or by [`DevScalekit::issue_refresh_token_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The session id (`ses_...`): the `sid` claim of its tokens.
    pub session_id: String,
    /// The user signed in (`sub`).
    pub user_id: String,
    /// The organization signed in to (`oid`), if any.
    pub organization_id: Option<String>,
    /// When it started, Unix seconds.
    pub created_at: u64,
}

/// A sign-in ended at the IdP and what Scalekit would send about it, not yet delivered (see
/// [`DevScalekit::deliver`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSignIn {
    /// The sign-in that ended.
    pub sign_in: SignIn,
    /// An OIDC Back-Channel Logout 1.0 logout token for its session.
    pub logout_token: String,
    /// The signed `user.logout` webhook.
    pub webhook: SignedWebhook,
}

/// A `RevokedSessionDetails` of the Sessions API for `sign_in`, revoked at `revoked_at`.
pub(crate) fn revoked_details(sign_in: &SignIn, revoked_at: u64) -> Value {
    let mut details = json!({
        "session_id": sign_in.session_id,
        "user_id": sign_in.user_id,
        "status": "revoked",
        "created_at": rfc3339(sign_in.created_at),
        "updated_at": rfc3339(revoked_at),
        "last_active_at": rfc3339(sign_in.created_at),
        "expired_at": rfc3339(revoked_at),
    });
    if let Some(org) = &sign_in.organization_id {
        details["organization_id"] = json!(org);
    }
    details
}

/// Ends the active sign-in `session_id` (its refresh tokens stop working) and mints what
/// Scalekit sends about it. `None` if there is no such active sign-in.
pub(crate) fn end_sign_in(shared: &Shared, session_id: &str) -> Option<EndedSignIn> {
    let at = now_precise();
    let (sign_in, logout_token) = {
        let mut st = shared.state();
        let sign_in = st.end_sign_ins(|s| s.session_id == session_id).pop()?;
        let claims = json!({"sid": sign_in.session_id, "sub": sign_in.user_id});
        let token = logout_token(shared, &st, &json!({}), &claims);
        st.issued.push(token.clone());
        (sign_in, token)
    };
    let body = webhooks::user_logout(&sign_in, at);
    let webhook = webhooks::sign(&shared.webhook_key, &body, at.0);
    tracing::info!(session_id = %sign_in.session_id, "sign-in ended at the IdP");
    Some(EndedSignIn {
        sign_in,
        logout_token,
        webhook,
    })
}

impl DevScalekit {
    /// The active sign-ins at the IdP, oldest first.
    pub fn sign_ins(&self) -> Vec<SignIn> {
        self.shared.state().sign_ins.clone()
    }

    /// Ends the sign-in `session_id` at the IdP, as Scalekit does when a session ends (an
    /// administrator, a logout elsewhere, a session policy): it leaves [`Self::sign_ins`], its
    /// refresh tokens get `invalid_grant`, and the logout token and `user.logout` webhook that
    /// announce it are returned, not delivered. `None` if no such sign-in is active.
    pub fn end_sign_in(&self, session_id: &str) -> Option<EndedSignIn> {
        end_sign_in(&self.shared, session_id)
    }

    /// A logout token signed with the current key, with `claims_patch` merged into the standard
    /// claims (`iss`, `aud`, `iat`, `exp` = now + 120 s, `jti`, `events`): give `sid` and `sub`
    /// there; a JSON `null` removes a claim.
    pub fn mint_logout_token(&self, claims_patch: Value) -> String {
        self.mint_logout_token_with_header(json!({}), claims_patch)
    }

    /// [`Self::mint_logout_token`] with `header_patch` also merged into the header
    /// `{"alg":"RS256","kid":...,"typ":"logout+jwt"}` (a `null` removes a member). The token
    /// is always signed RS256 with the current key, whatever the header says.
    pub fn mint_logout_token_with_header(
        &self,
        header_patch: Value,
        claims_patch: Value,
    ) -> String {
        let st = self.shared.state();
        logout_token(&self.shared, &st, &header_patch, &claims_patch)
    }
}
