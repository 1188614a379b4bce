//! `GET /oauth/authorize`: validate the request, then show the sign-in page.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{html, Params, Refusal};
use crate::pages::{self, SignInContext};
use crate::random::random_token;
use crate::state::{now, PendingAuthorization, Shared};
use crate::users::{known_organization, org_of_connection, DemoUser, USERS};
use crate::Endpoint;

pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes());
    match begin(&shared, &params) {
        Ok(pending) => html(
            StatusCode::OK,
            pages::sign_in(&pending.id, &pending.users, &pending.context(&params)),
        ),
        Err(refusal) => refusal.into_response(),
    }
}

/// An authorization request that passed validation and waits on the sign-in page.
pub(crate) struct Begun {
    pub(crate) id: String,
    /// The users the page offers (home-realm discovery).
    pub(crate) users: Vec<&'static DemoUser>,
    organization_id: Option<&'static str>,
    create: bool,
    no_match: bool,
}

impl Begun {
    fn context<'a>(&self, params: &'a Params) -> SignInContext<'a> {
        SignInContext {
            login_hint: params.get("login_hint"),
            domain: params.get("domain").or_else(|| params.get("domain_hint")),
            organization_id: self.organization_id,
            provider: params.get("provider"),
            create: self.create,
            no_match: self.no_match,
        }
    }
}

/// Validates an authorization request as Scalekit does and records it as pending. Shared by the
/// HTTP route and [`crate::DevScalekit::authorize_as`].
pub(crate) fn begin(shared: &Shared, params: &Params) -> Result<Begun, Refusal> {
    shared.count(Endpoint::Authorize);

    // Until client_id and redirect_uri are known good, errors stay on this server (RFC 6749 §4.1.2.1).
    if params.get("client_id") != Some(shared.client_id.as_str()) {
        return Err(Refusal::page(
            "Unknown client",
            "The client_id is missing or not registered in this environment.",
        ));
    }
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|uri| shared.redirect_uri_allowed(uri))
    else {
        return Err(Refusal::page(
            "Invalid redirect URI",
            "The redirect_uri is missing or not allowed for this client.",
        ));
    };
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return Err(Refusal::page(
            "Invalid request",
            "client_id and redirect_uri must not be repeated.",
        ));
    }
    let state = params.get("state");
    let fail = |error: &str, description: &str| {
        Err(Refusal::redirect(redirect_uri, error, description, state))
    };

    if params.repeated().is_some() {
        return fail("invalid_request", "a parameter was repeated");
    }
    if params.get("response_type") != Some("code") {
        return fail("invalid_request", "response_type must be code");
    }
    let Some(scope) = params
        .get("scope")
        .filter(|s| s.split(' ').any(|scope| scope == "openid"))
    else {
        return fail("invalid_request", "scope must include openid");
    };
    let code_challenge = params.get("code_challenge");
    match (code_challenge, params.get("code_challenge_method")) {
        (None, None) => {}
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {}
        (Some(_), Some("S256")) => {
            return fail(
                "invalid_request",
                "code_challenge must be 43 base64url characters",
            )
        }
        (Some(_), _) => return fail("invalid_request", "code_challenge_method must be S256"),
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
    }
    let prompt = params.get("prompt");
    if !matches!(
        prompt,
        None | Some("login" | "create" | "select_account" | "none")
    ) {
        return fail(
            "invalid_request",
            "prompt must be login, create, select_account or none",
        );
    }

    let organization_id = match (params.get("connection_id"), params.get("organization_id")) {
        (Some(connection), requested_org) => match org_of_connection(connection) {
            Some(org) if requested_org.is_none_or(|r| r == org) => Some(org),
            Some(_) => {
                return fail(
                    "invalid_connection_id",
                    "the connection does not belong to the organization",
                )
            }
            None => return fail("invalid_connection_id", "unknown connection_id"),
        },
        (None, Some(org)) => match known_organization(org) {
            Some(org) => Some(org),
            None => return fail("invalid_organization_id", "unknown organization_id"),
        },
        (None, None) => None,
    };

    // No session is ever kept here, so a silent check can never succeed.
    if prompt == Some("none") {
        return fail("login_required", "the user is not signed in");
    }

    let login_hint = params.get("login_hint");
    let domain = params.get("domain").or_else(|| params.get("domain_hint"));
    let (users, no_match) = candidates(login_hint, domain, organization_id);

    let id = random_token();
    let now = now();
    let mut st = shared.state();
    st.forget_expired(now);
    st.pending.insert(
        id.clone(),
        PendingAuthorization {
            redirect_uri: redirect_uri.to_owned(),
            state: state.map(str::to_owned),
            nonce: params.get("nonce").map(str::to_owned),
            scope: scope.to_owned(),
            code_challenge: code_challenge.map(str::to_owned),
            organization_id: organization_id.map(str::to_owned),
            select_account: prompt == Some("select_account"),
            created_at: now,
        },
    );
    Ok(Begun {
        id,
        users,
        organization_id,
        create: prompt == Some("create"),
        no_match,
    })
}

/// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is always 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The users to offer, narrowed like Scalekit's home-realm discovery: an exact e-mail match for
/// `login_hint`, else the e-mail domain (`domain`, or the hint's domain), else organization
/// members. When nothing matches, everyone is offered (`true` in the second field).
fn candidates(
    login_hint: Option<&str>,
    domain: Option<&str>,
    organization_id: Option<&str>,
) -> (Vec<&'static DemoUser>, bool) {
    let hint_domain = login_hint.and_then(|h| h.rsplit_once('@')).map(|(_, d)| d);
    let narrowed = [
        login_hint.map(|h| pick(|u| u.email.eq_ignore_ascii_case(h))),
        domain
            .or(hint_domain)
            .map(|d| pick(|u| u.email_domain().eq_ignore_ascii_case(d))),
        organization_id.map(|o| pick(|u| u.role_in(o).is_some())),
    ];
    let asked = narrowed.iter().any(Option::is_some);
    match narrowed
        .into_iter()
        .flatten()
        .find(|users| !users.is_empty())
    {
        Some(users) => (users, false),
        None => (pick(|_| true), asked),
    }
}

fn pick(keep: impl Fn(&DemoUser) -> bool) -> Vec<&'static DemoUser> {
    USERS.iter().filter(|u| keep(u)).collect()
}
