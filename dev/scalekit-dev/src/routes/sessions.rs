//! The management API as far as the app uses it (REST, as in Scalekit's OpenAPI), authenticated
//! with a client-credentials access token: the Sessions API's revocations
//! (`POST /api/v1/users/{user_id}/sessions/revoke`, `POST /api/v1/sessions/{session_id}/revoke`)
//! and reading an organization (`GET /api/v1/organizations/{id}`, for its display name).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::json_response;
use crate::sessions::revoked_details;
use crate::state::{now, Shared};
use crate::Endpoint;

pub(crate) async fn revoke_user_sessions(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let now = match admit(&shared, &headers, Endpoint::RevokeSessions).await {
        Ok(now) => now,
        Err(refused) => return refused,
    };
    let ended = shared.state().end_sign_ins(|s| s.user_id == user_id);
    let revoked: Vec<Value> = ended.iter().map(|s| revoked_details(s, now)).collect();
    json_response(
        StatusCode::OK,
        &json!({"revoked_sessions": revoked, "total_revoked": revoked.len()}),
    )
}

pub(crate) async fn revoke_session(
    State(shared): State<Arc<Shared>>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let now = match admit(&shared, &headers, Endpoint::RevokeSessions).await {
        Ok(now) => now,
        Err(refused) => return refused,
    };
    let ended = shared.state().end_sign_ins(|s| s.session_id == session_id);
    match ended.first() {
        Some(sign_in) => json_response(
            StatusCode::OK,
            &json!({"revoked_session": revoked_details(sign_in, now)}),
        ),
        // gRPC NOT_FOUND.
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"code": 5, "message": "session not found"}),
        ),
    }
}

pub(crate) async fn organization(
    State(shared): State<Arc<Shared>>,
    Path(organization_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = admit(&shared, &headers, Endpoint::Organization).await {
        return refused;
    }
    match crate::users::ORGS
        .iter()
        .find(|(id, _)| *id == organization_id)
    {
        Some((id, name)) => json_response(
            StatusCode::OK,
            &json!({"organization": {"id": id, "display_name": name, "external_id": null,
                "region_code": "US", "metadata": {}}}),
        ),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"code": 5, "message": "organization not found"}),
        ),
    }
}

/// What every management-API call does first: counts it, waits out an injected
/// [`crate::Misbehaviour::ApiDelay`], and requires a client-credentials token; the time, in
/// seconds, or the refusal to send.
async fn admit(shared: &Shared, headers: &HeaderMap, endpoint: Endpoint) -> Result<u64, Response> {
    shared.count(endpoint);
    let delay = shared.state().faults.api_delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let now = now();
    if authenticated(shared, headers, now) {
        Ok(now)
    } else {
        Err(unauthenticated())
    }
}

/// `Authorization: Bearer <token>` with a client-credentials access token issued here that has
/// not expired.
fn authenticated(shared: &Shared, headers: &HeaderMap, now: u64) -> bool {
    let Some((scheme, token)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && shared.state().api_token_valid(token.trim(), now)
}

/// gRPC UNAUTHENTICATED, as grpc-gateway maps it.
fn unauthenticated() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"code": 16, "message": "unauthenticated"}),
    )
}
