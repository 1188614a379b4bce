//! The API Gateway HTTP API Lambda authorizer (payload format 2.0, simple responses) that
//! protects a team's own routes, in any language, behind the same API.
//!
//! It identifies the caller as `/api/session` does (the browser session, refreshed race-safely
//! when its access token has expired; it cannot set cookies, so a refresh lives in the session
//! record and the stale `accessToken` cookie is simply not trusted), or by an
//! `Authorization: Bearer` access token verified locally; then applies the route's policy from
//! `ROUTE_POLICIES`. API Gateway answers `403` when it says no and `500` when it fails: a
//! dependency failure is an error, not a refusal, so that clients retry rather than give up.

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_http::lambda_runtime::Diagnostic;
use serde_json::{Map, Value};
use shared::access::{identify, Credentials, Identity, Unidentified};
use shared::config::Needs;
use shared::metrics::{self, Count};
use shared::session::{Refresh, SessionError, Unavailable};
use shared::telemetry::Chain;
use shared::App;

/// Reads and refreshes sessions, verifies tokens on every request, decides by route.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
    signing_keys: true,
    route_policies: true,
    ..Needs::NONE
};

/// What API Gateway sends the authorizer.
pub type AuthorizerEvent = ApiGatewayV2CustomAuthorizerV2Request;
/// What the authorizer answers: allowed or not, and for the backend, who is calling.
pub type Decision = ApiGatewayV2CustomAuthorizerSimpleResponse<Map<String, Value>>;

/// A dependency failed, so nothing could be decided: the invocation fails and API Gateway
/// answers `500`.
#[derive(Debug, thiserror::Error)]
#[error("authorizer could not decide: {0}")]
pub struct Undecided(#[source] pub Unavailable);

impl From<Undecided> for Diagnostic {
    fn from(error: Undecided) -> Self {
        Diagnostic {
            error_type: "Undecided".into(),
            error_message: error.to_string(),
        }
    }
}

/// Decides one request.
pub async fn handle(app: &App, event: AuthorizerEvent) -> Result<Decision, Undecided> {
    let route = event
        .route_key
        .as_deref()
        .or(event.request_context.route_key.as_deref())
        .unwrap_or_default();
    let credentials = Credentials::of_event(&event.cookies, &event.headers);
    let identity = match identify(app, &credentials, Refresh::IfNeeded).await {
        Ok(identity) => identity,
        Err(Unidentified::SignedOut(SessionError::Unavailable(cause))) => {
            tracing::error!(route, error = %Chain(&cause), "authorizer undecided");
            metrics::count(Count::Authorizations, "undecided", Some(cause.kind()));
            return Err(Undecided(cause));
        }
        Err(Unidentified::SignedOut(SessionError::SignedOut)) => {
            return Ok(deny(route, "signed_out"));
        }
        // identify logged the token's fault.
        Err(Unidentified::InvalidToken(_)) => return Ok(deny(route, "invalid_token")),
    };
    let policy = app.config.route_policies.for_route(route);
    match policy.check(identity.access()) {
        Ok(()) => Ok(allow(route, &identity)),
        Err(unmet) => Ok(deny(route, unmet.reason())),
    }
}

fn allow(route: &str, identity: &Identity) -> Decision {
    let via = identity.via().as_str();
    // In front of every request of the app: counted by the metric, logged only when debugging.
    tracing::debug!(route, outcome = "allow", via);
    metrics::count(Count::Authorizations, "allowed", Some(via));
    decision(true, identity.context())
}

/// A refusal for `reason` (a constant: the metric's too).
fn deny(route: &str, reason: &'static str) -> Decision {
    tracing::info!(route, outcome = "deny", reason);
    metrics::count(Count::Authorizations, "denied", Some(reason));
    decision(false, Map::new())
}

fn decision(is_authorized: bool, context: Map<String, Value>) -> Decision {
    let mut decision = Decision::default();
    decision.is_authorized = is_authorized;
    decision.context = context;
    decision
}
