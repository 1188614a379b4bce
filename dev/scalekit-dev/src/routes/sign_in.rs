//! `POST /dev/sign-in`: the sign-in page's form. Issues the authorization code.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{html, redirect, with_query, Params, Refusal};
use crate::pages;
use crate::random::{random_id, random_token};
use crate::state::{now, CodeGrant, Grant, PendingAuthorization, Shared, CODE_TTL_SECS};
use crate::users::{find_user, DemoUser};

enum Outcome {
    Organization(Option<String>),
    PickOrganization,
    NotAMember,
    /// The organization picked on the form is not one of the user's.
    NotOffered,
}

/// What the user does on the sign-in page.
pub(crate) enum Choice<'a> {
    /// Picks a user (and, when asked, one of their organizations).
    SignIn {
        user: Option<&'a str>,
        organization: Option<&'a str>,
    },
    /// Presses Cancel.
    Cancel,
}

/// Where a completed sign-in page leads.
pub(crate) enum Completed {
    /// Back to the client: `code` and `state`, or an `error`.
    Redirect(String),
    /// The organization picker for this user.
    PickOrganization(&'static DemoUser, Option<String>),
}

pub(crate) async fn sign_in(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    let Some(pending_id) = form.get("pending") else {
        return Refusal::page("Invalid request", "The sign-in form is incomplete.").into_response();
    };
    let choice = if form.get("cancel").is_some() {
        Choice::Cancel
    } else {
        Choice::SignIn {
            user: form.get("user"),
            organization: form.get("organization"),
        }
    };
    match complete(&shared, pending_id, choice) {
        Ok(Completed::Redirect(location)) => redirect(&location),
        Ok(Completed::PickOrganization(user, preselect)) => html(
            StatusCode::OK,
            pages::pick_organization(pending_id, user, preselect.as_deref()),
        ),
        Err(refusal) => refusal.into_response(),
    }
}

/// The user's step on the sign-in page of the pending request `pending_id`: issues the
/// authorization code, or says why not. Shared by the HTTP form and
/// [`crate::DevScalekit::authorize_as`].
pub(crate) fn complete(
    shared: &Shared,
    pending_id: &str,
    choice: Choice<'_>,
) -> Result<Completed, Refusal> {
    let pending = {
        let mut st = shared.state();
        st.forget_expired(now());
        match st.pending.get(pending_id) {
            Some(p) => p.clone(),
            None => {
                return Err(Refusal::page(
                    "Sign-in expired",
                    "This sign-in request has expired or was already used. Start again from the application.",
                ))
            }
        }
    };
    let take_pending = || shared.state().pending.remove(pending_id);
    let back_with = |error: &str, description: &str| {
        Refusal::redirect(
            &pending.redirect_uri,
            error,
            description,
            pending.state.as_deref(),
        )
        .followed()
    };

    let (user, chosen) = match choice {
        Choice::Cancel => {
            take_pending();
            return back_with("access_denied", "the user cancelled the sign-in");
        }
        Choice::SignIn { user, organization } => (user, organization),
    };
    let Some(user) = user.and_then(find_user) else {
        return Err(Refusal::page("Unknown user", "Pick one of the demo users."));
    };
    let organization = match choose_organization(&pending, user, chosen) {
        Outcome::Organization(org) => org,
        Outcome::PickOrganization => {
            return Ok(Completed::PickOrganization(
                user,
                pending.organization_id.clone(),
            ))
        }
        Outcome::NotAMember => {
            take_pending();
            return back_with(
                "access_denied",
                "the user is not a member of the requested organization",
            );
        }
        Outcome::NotOffered => {
            return Err(Refusal::page(
                "Unknown organization",
                "Pick one of the user's organizations.",
            ))
        }
    };

    let code = random_token();
    {
        let mut st = shared.state();
        st.issued.push(code.clone());
        // Single use: a second submission of the same page finds nothing.
        if st.pending.remove(pending_id).is_none() {
            return Err(Refusal::page(
                "Sign-in expired",
                "This sign-in request was already used.",
            ));
        }
        st.codes.insert(
            code.clone(),
            CodeGrant {
                redirect_uri: pending.redirect_uri.clone(),
                code_challenge: pending.code_challenge.clone(),
                expires_at: now() + CODE_TTL_SECS,
                grant: Grant {
                    user_id: user.id.to_owned(),
                    organization_id: organization,
                    scope: pending.scope.clone(),
                    session_id: random_id("ses_"),
                    nonce: pending.nonce.clone(),
                },
            },
        );
    }
    with_query(
        &pending.redirect_uri,
        &[("code", Some(&code)), ("state", pending.state.as_deref())],
    )
    .map(Completed::Redirect)
    .ok_or(Refusal::page(
        "Invalid redirect URI",
        "The redirect_uri is not a valid URL.",
    ))
}

fn choose_organization(
    pending: &PendingAuthorization,
    user: &DemoUser,
    chosen: Option<&str>,
) -> Outcome {
    if let Some(org) = chosen {
        return match user.role_in(org) {
            Some(_) => Outcome::Organization(Some(org.to_owned())),
            None => Outcome::NotOffered,
        };
    }
    let several = user.memberships.len() > 1;
    match pending.organization_id.as_deref() {
        Some(org) if user.role_in(org).is_none() => Outcome::NotAMember,
        Some(_) if several && pending.select_account => Outcome::PickOrganization,
        Some(org) => Outcome::Organization(Some(org.to_owned())),
        None if several => Outcome::PickOrganization,
        None => Outcome::Organization(user.memberships.first().map(|(id, _, _)| (*id).to_owned())),
    }
}
