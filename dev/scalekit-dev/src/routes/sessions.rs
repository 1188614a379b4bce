//! The Sessions API's revocations (REST, as in Scalekit's OpenAPI):
//! `POST /api/v1/users/{user_id}/sessions/revoke` and `POST /api/v1/sessions/{session_id}/revoke`,
//! authenticated with a client-credentials access token.

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
    shared.count(Endpoint::RevokeSessions);
    let now = now();
    if !authenticated(&shared, &headers, now) {
        return unauthenticated();
    }
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
    shared.count(Endpoint::RevokeSessions);
    let now = now();
    if !authenticated(&shared, &headers, now) {
        return unauthenticated();
    }
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
