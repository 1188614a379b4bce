//! `POST /dev/sign-in`: the sign-in page's form. Issues the authorization code.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{error_page, error_redirect, html, redirect, with_query, Params};
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

pub(crate) async fn sign_in(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    let Some(pending_id) = form.get("pending") else {
        return error_page("Invalid request", "The sign-in form is incomplete.");
    };
    let pending = {
        let mut st = shared.state();
        st.forget_expired(now());
        match st.pending.get(pending_id) {
            Some(p) => p.clone(),
            None => {
                return error_page(
                    "Sign-in expired",
                    "This sign-in request has expired or was already used. Start again from the application.",
                )
            }
        }
    };
    let take_pending = || shared.state().pending.remove(pending_id);

    if form.get("cancel").is_some() {
        take_pending();
        return error_redirect(
            &pending.redirect_uri,
            "access_denied",
            "the user cancelled the sign-in",
            pending.state.as_deref(),
        );
    }
    let Some(user) = form.get("user").and_then(find_user) else {
        return error_page("Unknown user", "Pick one of the demo users.");
    };
    let organization = match choose_organization(&pending, user, form.get("organization")) {
        Outcome::Organization(org) => org,
        Outcome::PickOrganization => {
            return html(
                StatusCode::OK,
                pages::pick_organization(pending_id, user, pending.organization_id.as_deref()),
            )
        }
        Outcome::NotAMember => {
            take_pending();
            return error_redirect(
                &pending.redirect_uri,
                "access_denied",
                "the user is not a member of the requested organization",
                pending.state.as_deref(),
            );
        }
        Outcome::NotOffered => {
            return error_page(
                "Unknown organization",
                "Pick one of the user's organizations.",
            )
        }
    };

    let code = random_token();
    {
        let mut st = shared.state();
        st.issued.push(code.clone());
        // Single use: a second submission of the same page finds nothing.
        if st.pending.remove(pending_id).is_none() {
            return error_page("Sign-in expired", "This sign-in request was already used.");
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
    match with_query(
        &pending.redirect_uri,
        &[("code", Some(&code)), ("state", pending.state.as_deref())],
    ) {
        Some(location) => redirect(&location),
        None => error_page(
            "Invalid redirect URI",
            "The redirect_uri is not a valid URL.",
        ),
    }
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
