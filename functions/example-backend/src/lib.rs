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

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(event: &str, edit: impl FnOnce(&mut Value)) -> (u16, Value) {
        let mut event: Value = serde_json::from_str(event).unwrap();
        edit(&mut event);
        let answer = shared::runtime::invoke(&handle, event).await.unwrap();
        let body = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        (answer["statusCode"].as_u64().unwrap() as u16, body)
    }

    const ME: &str = include_str!("../../../events/example-backend-me.json");
    const ADMIN: &str = include_str!("../../../events/example-backend-admin.json");
    const ADMIN_AS_MEMBER: &str =
        include_str!("../../../events/example-backend-admin-as-member.json");

    #[tokio::test]
    async fn it_answers_with_the_callers_identity_from_the_authorizers_context() {
        let (status, body) = answer(ME, |_| {}).await;
        assert_eq!(status, 200);
        assert_eq!(body["userId"], "usr_alice");
        assert_eq!(body["roles"], json!(["admin"]));
        assert_eq!(
            body["permissions"],
            json!(["organization:read", "organization:write"])
        );
        assert_eq!(body["via"], "session");
        let (status, body) = answer(ADMIN, |_| {}).await;
        assert_eq!(
            (status, &body["caller"]["userId"]),
            (200, &json!("usr_alice"))
        );
    }

    #[tokio::test]
    async fn the_admin_route_checks_the_role_again_and_a_route_without_the_authorizer_is_refused() {
        let (status, body) = answer(ADMIN_AS_MEMBER, |_| {}).await;
        assert_eq!((status, body), (403, json!({"error": "forbidden"})));
        let (status, body) = answer(ME, |event| {
            event["requestContext"]
                .as_object_mut()
                .unwrap()
                .remove("authorizer");
        })
        .await;
        assert_eq!((status, body), (401, json!({"error": "unauthenticated"})));
        let (status, _) = answer(ME, |event| {
            event["requestContext"]["authorizer"]["lambda"]["userId"] = json!("");
        })
        .await;
        assert_eq!(status, 401);
    }
}
