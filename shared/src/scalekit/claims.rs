//! Typed views of verified tokens' claims: the user's profile, an access token's grants, where an
//! IdP-initiated login goes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::numeric_date;

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(one)) => one.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The signed-in user, with the Node SDK's field names plus the organization, connection and
/// Scalekit session the login went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// `sub`: Scalekit's user id (`usr_...`).
    pub id: String,
    /// `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email_verified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `given_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `family_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// `preferred_username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `picture`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// `locale`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `phone_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// `phone_number_verified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// `zoneinfo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_info: Option<String>,
    /// `oid`: the organization the user signed in to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// `amr[0]`: the connection used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// `sid`: Scalekit's session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

impl User {
    /// Maps verified ID-token claims to the profile.
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Self {
        let s = |name| string_claim(claims, name);
        let b = |name| claims.get(name).and_then(Value::as_bool);
        Self {
            id: s("sub").unwrap_or_default(),
            email: s("email"),
            email_verified: b("email_verified"),
            name: s("name"),
            given_name: s("given_name"),
            family_name: s("family_name"),
            username: s("preferred_username"),
            picture: s("picture"),
            locale: s("locale"),
            phone_number: s("phone_number"),
            phone_number_verified: b("phone_number_verified"),
            zone_info: s("zoneinfo"),
            organization_id: s("oid"),
            connection_id: string_list(claims.get("amr")).into_iter().next(),
            session_id: s("sid"),
        }
    }

    /// The best name to greet the user with.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.given_name.as_deref())
            .or(self.email.as_deref())
            .unwrap_or(&self.id)
    }
}

/// A verified ID token.
#[derive(Debug, Clone)]
pub struct IdTokenClaims {
    /// The profile.
    pub user: User,
    /// `iss`.
    pub issuer: String,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
}

impl IdTokenClaims {
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Self {
        Self {
            user: User::from_claims(claims),
            issuer: string_claim(claims, "iss").unwrap_or_default(),
            expires_at: claims.get("exp").and_then(numeric_date).unwrap_or(0),
        }
    }
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessTokenClaims {
    /// `sub`.
    pub subject: String,
    /// `oid`.
    pub organization_id: Option<String>,
    /// `sid`.
    pub session_id: Option<String>,
    /// `roles`.
    pub roles: Vec<String>,
    /// `permissions`.
    pub permissions: Vec<String>,
    /// `scope` (space-separated string, user tokens) or `scopes` (array, M2M tokens).
    pub scopes: Vec<String>,
    /// `email`, when the environment adds it to access tokens as a custom claim.
    pub email: Option<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
}

impl AccessTokenClaims {
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Self {
        let scopes = match claims.get("scope") {
            Some(scope) => string_list(Some(scope)),
            None => string_list(claims.get("scopes")),
        };
        Self {
            subject: string_claim(claims, "sub").unwrap_or_default(),
            organization_id: string_claim(claims, "oid"),
            session_id: string_claim(claims, "sid"),
            roles: string_list(claims.get("roles")),
            permissions: string_list(claims.get("permissions")),
            scopes,
            email: string_claim(claims, "email"),
            expires_at: claims.get("exp").and_then(numeric_date).unwrap_or(0),
        }
    }
}

/// A verified back-channel logout token: which Scalekit session (`sid`) or user (`sub`) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// `sid`.
    pub session_id: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `jti`: remembered so that a replay ends nothing.
    pub token_id: String,
    /// `iat`, seconds since the epoch.
    pub issued_at: i64,
}

impl LogoutToken {
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Self {
        let s = |name| string_claim(claims, name).filter(|v| !v.is_empty());
        Self {
            session_id: s("sid"),
            subject: s("sub"),
            token_id: s("jti").unwrap_or_default(),
            issued_at: claims.get("iat").and_then(numeric_date).unwrap_or(0),
        }
    }
}

/// The claims of a verified `idp_initiated_login` token: where the IdP wants the login to go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdpInitiatedLogin {
    /// `organization_id`.
    pub organization_id: Option<String>,
    /// `connection_id`.
    pub connection_id: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `relay_state`: never used as OAuth `state`; at most a return path after validation.
    pub relay_state: Option<String>,
}

impl IdpInitiatedLogin {
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Self {
        let s = |name| string_claim(claims, name).filter(|v| !v.is_empty());
        Self {
            organization_id: s("organization_id"),
            connection_id: s("connection_id"),
            login_hint: s("login_hint"),
            relay_state: s("relay_state"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn user_profile_uses_node_sdk_field_names() {
        let user = User::from_claims(&claims(json!({
            "sub": "usr_1", "email": "a@b.c", "email_verified": true, "name": "Ann",
            "given_name": "Ann", "family_name": "Lee", "preferred_username": "ann",
            "oid": "org_1", "amr": ["conn_9"], "sid": "ses_1", "locale": "en"
        })));
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(
            json,
            json!({"id": "usr_1", "email": "a@b.c", "emailVerified": true, "name": "Ann",
                   "givenName": "Ann", "familyName": "Lee", "username": "ann", "locale": "en",
                   "organizationId": "org_1", "connectionId": "conn_9", "sessionId": "ses_1"})
        );
    }

    #[test]
    fn access_token_scopes_come_from_scope_string_or_scopes_array() {
        let a = AccessTokenClaims::from_claims(&claims(
            json!({"sub": "u", "scope": "openid email", "roles": ["admin"], "permissions": ["p:r"]}),
        ));
        assert_eq!(a.scopes, ["openid", "email"]);
        assert_eq!(a.roles, ["admin"]);
        let b = AccessTokenClaims::from_claims(&claims(json!({"sub": "u", "scopes": ["a", "b"]})));
        assert_eq!(b.scopes, ["a", "b"]);
    }
}
