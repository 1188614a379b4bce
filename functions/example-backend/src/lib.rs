//! An example of a team's own function behind the authorizer: `GET /api/me` for any signed-in
//! caller, `GET /api/admin` for the role `admin` (the authorizer's route policy refuses everyone
//! else with a `403` before this runs).
//!
//! It reads only what the authorizer passed in `requestContext.authorizer.lambda`: never a cookie,
//! a token or the session table. A function in any language does the same (README, "Protect your
//! own routes").

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Map, Value};
use shared::http;

/// Handles one request.
pub async fn handle(req: Request) -> Response<Body> {
    let Some(caller) = caller(&req) else {
        // Only a route deployed without the authorizer gets here: refuse, never guess.
        tracing::error!("no authorizer context: is this route behind the authorizer?");
        return http::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "unauthenticated"}),
        );
    };
    match req.uri().path() {
        "/api/me" => http::json(StatusCode::OK, &caller.to_json()),
        "/api/admin" if caller.roles.iter().any(|role| role == "admin") => http::json(
            StatusCode::OK,
            &json!({"message": "Welcome to the admin area.", "caller": caller.to_json()}),
        ),
        // Defence in depth: the route policy already requires the role.
        "/api/admin" => http::json(StatusCode::FORBIDDEN, &json!({"error": "forbidden"})),
        _ => http::json(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
    }
}

/// Who is calling, as the authorizer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub organization_id: Option<String>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    pub email: Option<String>,
    /// `session` or `bearer`.
    pub via: String,
}

impl Caller {
    fn to_json(&self) -> Value {
        json!({
            "userId": self.user_id,
            "organizationId": self.organization_id,
            "roles": self.roles,
            "permissions": self.permissions,
            "email": self.email,
            "via": self.via,
        })
    }
}

/// The authorizer's context of an HTTP API (payload 2.0) request.
pub fn caller(req: &Request) -> Option<Caller> {
    let RequestContext::ApiGatewayV2(context) = req.request_context_ref()? else {
        return None;
    };
    let fields: &std::collections::HashMap<String, Value> = &context.authorizer.as_ref()?.fields;
    let map: Map<String, Value> = fields.clone().into_iter().collect();
    let text = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
    let list = |name: &str| {
        text(name)
            .map(|joined| {
                joined
                    .split(',')
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(Caller {
        user_id: text("userId").filter(|id| !id.is_empty())?,
        organization_id: text("organizationId"),
        roles: list("roles"),
        permissions: list("permissions"),
        email: text("email"),
        via: text("via").unwrap_or_default(),
    })
}
