//! `GET /keys` (JWKS) and `GET /.well-known/openid-configuration`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{endless_json, json_response, oauth_error};
use crate::state::Shared;
use crate::Endpoint;

pub(crate) async fn keys(State(shared): State<Arc<Shared>>) -> Response {
    shared.count(Endpoint::Keys);
    let st = shared.state();
    if st.faults.keys_down {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the key service is down (injected fault)",
        );
    }
    if st.faults.keys_endless_body {
        return endless_json("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"");
    }
    let mut keys: Vec<Value> = st.keys.iter().map(|k| k.jwk()).collect();
    keys.extend(st.extra_jwks.iter().cloned());
    json_response(StatusCode::OK, &json!({ "keys": keys }))
}

pub(crate) async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.count(Endpoint::Discovery);
    let base = &shared.base_url;
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": shared.issuer,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "jwks_uri": format!("{base}/keys"),
            "end_session_endpoint": format!("{base}/oidc/logout"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "prompt_values_supported": ["login", "create", "select_account", "none"],
        }),
    )
}
