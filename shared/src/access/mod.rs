//! Who is calling and what they may do: the one check behind both the API Gateway authorizer
//! (`functions/authorizer`, for a team's routes in any language) and [`require`] (for Rust
//! functions in this workspace).
//!
//! A caller proves who they are with the browser session (the same checks as `/api/session`:
//! the record is read on every request, an expired access token is refreshed race-safely) or with
//! `Authorization: Bearer <Scalekit access token>` (verified locally: RS256 by `kid`, `iss`,
//! `aud`, `exp`/`nbf`). An explicit Bearer token wins: a request carrying one is judged by it
//! alone, never by cookies that happen to ride along.

mod credentials;
mod policy;

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

pub use credentials::Credentials;
pub use policy::{Require, RoutePolicies, Unmet};

use crate::failures;
use crate::redacted::AccessToken;
use crate::scalekit::{AccessTokenClaims, TokenError};
use crate::session::{authenticate_with, Refresh, SessionError, SignedIn, Unavailable};
use crate::App;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The browser session (cookies).
    Session,
    /// An `Authorization: Bearer` access token.
    Bearer,
}

impl Via {
    /// `session` or `bearer`, as the authorizer's context says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Bearer => "bearer",
        }
    }
}

/// A caller whose identity has been verified.
#[derive(Debug)]
pub enum Identity {
    /// Signed in with the browser session.
    Session(Box<SignedIn>),
    /// A verified Bearer access token.
    Bearer(AccessTokenClaims),
}

impl Identity {
    /// The verified access token's claims: user, organization, roles, permissions.
    pub fn access(&self) -> &AccessTokenClaims {
        match self {
            Self::Session(signed_in) => &signed_in.access,
            Self::Bearer(access) => access,
        }
    }

    /// How the caller proved it.
    pub fn via(&self) -> Via {
        match self {
            Self::Session(_) => Via::Session,
            Self::Bearer(_) => Via::Bearer,
        }
    }

    /// The e-mail address, when known: the session's ID token, or an access token configured
    /// to carry it.
    pub fn email(&self) -> Option<&str> {
        match self {
            Self::Session(signed_in) => signed_in
                .user
                .email
                .as_deref()
                .or(signed_in.access.email.as_deref()),
            Self::Bearer(access) => access.email.as_deref(),
        }
    }

    /// What the authorizer passes to the backend (`requestContext.authorizer.lambda`): the user,
    /// organization, roles and permissions (comma-separated), e-mail and `via`. Never a token,
    /// cookie or session id.
    pub fn context(&self) -> Map<String, Value> {
        let access = self.access();
        let mut context = Map::new();
        context.insert("userId".into(), access.subject.clone().into());
        if let Some(organization) = &access.organization_id {
            context.insert("organizationId".into(), organization.clone().into());
        }
        context.insert("roles".into(), access.roles.join(",").into());
        context.insert("permissions".into(), access.permissions.join(",").into());
        if let Some(email) = self.email() {
            context.insert("email".into(), email.to_owned().into());
        }
        context.insert("via".into(), self.via().as_str().into());
        context
    }

    /// Sets the refreshed `accessToken` cookie, if the session check refreshed it.
    pub fn apply_cookies(&self, response: &mut Response<Body>) {
        if let Self::Session(signed_in) = self {
            signed_in.apply_cookies(response);
        }
    }
}

/// Why nobody is identified.
#[derive(Debug)]
pub enum Unidentified {
    /// No usable session and no Bearer token.
    SignedOut(SessionError),
    /// A Bearer token that does not verify (expired, another audience or issuer, unknown key,
    /// not a token).
    InvalidToken(TokenError),
}

/// Identifies the caller. See the module documentation.
pub async fn identify(
    app: &App,
    credentials: &Credentials<'_>,
    refresh: Refresh,
) -> Result<Identity, Unidentified> {
    if let Some(token) = credentials.bearer {
        return match app
            .scalekit
            .verify_access_token(&AccessToken::new(token))
            .await
        {
            Ok(access) => Ok(Identity::Bearer(access)),
            Err(error @ TokenError::KeysUnavailable(_)) => Err(Unidentified::SignedOut(
                SessionError::Unavailable(Unavailable::Token(error)),
            )),
            Err(error) => {
                tracing::info!(outcome = "bearer_refused", reason = %error);
                Err(Unidentified::InvalidToken(error))
            }
        };
    }
    authenticate_with(app, credentials, refresh)
        .await
        .map(|signed_in| Identity::Session(Box::new(signed_in)))
        .map_err(Unidentified::SignedOut)
}

/// The one-line guard for a Rust function: the caller, if identified and meeting `rule`, else
/// the response to send (`401 unauthenticated` clearing a dead session's cookies,
/// `401 invalid_token` with `WWW-Authenticate`, `403 forbidden`, or the 5xx of a failed
/// dependency).
pub async fn require(app: &App, req: &Request, rule: &Require) -> Result<Identity, Response<Body>> {
    let identity = match identify(app, &Credentials::of_request(req), Refresh::IfNeeded).await {
        Ok(identity) => identity,
        Err(Unidentified::SignedOut(error)) => return Err(error.to_response(req)),
        Err(Unidentified::InvalidToken(_)) => {
            let mut response = failures::INVALID_TOKEN.to_response(req);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            return Err(response);
        }
    };
    match rule.check(identity.access()) {
        Ok(()) => Ok(identity),
        Err(unmet) => {
            tracing::info!(outcome = "forbidden", reason = %unmet);
            let mut response = failures::FORBIDDEN.to_response(req);
            identity.apply_cookies(&mut response);
            Err(response)
        }
    }
}
