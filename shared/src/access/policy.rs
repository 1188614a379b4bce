//! What a route requires of its caller: roles, permissions, organizations (any-of or all-of),
//! as Rust guards ([`Require`]) and as the authorizer's configuration ([`RoutePolicies`],
//! `ROUTE_POLICIES` in `template.yaml`, keyed by API Gateway's `routeKey`).

use std::collections::HashMap;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::config::ConfigError;
use crate::scalekit::AccessTokenClaims;

/// What a caller must hold. Every part that is set must hold; an empty `Require` asks only for a
/// signed-in caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Require {
    any_role: Vec<String>,
    all_roles: Vec<String>,
    any_permission: Vec<String>,
    all_permissions: Vec<String>,
    any_organization: Vec<String>,
}

/// The part of a [`Require`] a caller does not meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unmet {
    /// None, or not all, of the roles.
    #[error("a required role is missing")]
    Role,
    /// None, or not all, of the permissions.
    #[error("a required permission is missing")]
    Permission,
    /// Signed in to another organization (or none).
    #[error("signed in to another organization")]
    Organization,
}

impl Unmet {
    /// The requirement's name, for logs and metrics: `role`, `permission`, `organization`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Permission => "permission",
            Self::Organization => "organization",
        }
    }
}

fn owned<I, S>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    names.into_iter().map(Into::into).collect()
}

impl Require {
    /// Any signed-in caller.
    pub fn signed_in() -> Self {
        Self::default()
    }

    /// The role `name` (Scalekit's `roles` claim).
    pub fn role(name: impl Into<String>) -> Self {
        Self::any_role([name])
    }

    /// At least one of these roles.
    pub fn any_role<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            any_role: owned(names),
            ..Self::default()
        }
    }

    /// Every one of these roles.
    pub fn all_roles<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            all_roles: owned(names),
            ..Self::default()
        }
    }

    /// The permission `name` (Scalekit's `permissions` claim, `resource:action`).
    pub fn permission(name: impl Into<String>) -> Self {
        Self::all_permissions([name])
    }

    /// At least one of these permissions.
    pub fn any_permission<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            any_permission: owned(names),
            ..Self::default()
        }
    }

    /// Every one of these permissions.
    pub fn all_permissions<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            all_permissions: owned(names),
            ..Self::default()
        }
    }

    /// Signed in to the organization `id` (the `oid` claim).
    pub fn organization(id: impl Into<String>) -> Self {
        Self::any_organization([id])
    }

    /// Signed in to one of these organizations.
    pub fn any_organization<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> Self {
        Self {
            any_organization: owned(ids),
            ..Self::default()
        }
    }

    /// Both this and `other`.
    pub fn and(mut self, other: Require) -> Self {
        self.any_role.extend(other.any_role);
        self.all_roles.extend(other.all_roles);
        self.any_permission.extend(other.any_permission);
        self.all_permissions.extend(other.all_permissions);
        self.any_organization.extend(other.any_organization);
        self
    }

    /// Whether the verified access token's claims meet every part.
    pub fn check(&self, access: &AccessTokenClaims) -> Result<(), Unmet> {
        let holds = |held: &[String], wanted: &String| held.contains(wanted);
        let any = |held: &[String], wanted: &[String]| {
            wanted.is_empty() || wanted.iter().any(|w| holds(held, w))
        };
        let all = |held: &[String], wanted: &[String]| wanted.iter().all(|w| holds(held, w));
        if !any(&access.roles, &self.any_role) || !all(&access.roles, &self.all_roles) {
            return Err(Unmet::Role);
        }
        if !any(&access.permissions, &self.any_permission)
            || !all(&access.permissions, &self.all_permissions)
        {
            return Err(Unmet::Permission);
        }
        let organization_ok = self.any_organization.is_empty()
            || access
                .organization_id
                .as_ref()
                .is_some_and(|org| self.any_organization.contains(org));
        if !organization_ok {
            return Err(Unmet::Organization);
        }
        Ok(())
    }
}

/// `ROUTE_POLICIES`: a JSON object from API Gateway route keys (`"GET /api/admin"`) to what the
/// route requires, each a JSON object of `anyRole`, `allRoles`, `anyPermission`,
/// `allPermissions` and `anyOrganization` lists:
///
/// ```json
/// {"GET /api/admin": {"anyRole": ["admin"]},
///  "DELETE /api/projects/{id}": {"allPermissions": ["projects:delete"], "anyOrganization": ["org_acme"]}}
/// ```
///
/// A route not listed requires a signed-in caller. Parsed at start-up: a bad entry stops the
/// cold start with a message naming it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePolicies(HashMap<String, Require>);

const VARIABLE: &str = "ROUTE_POLICIES";
const FIELDS: &str = "anyRole, allRoles, anyPermission, allPermissions, anyOrganization";
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

impl RoutePolicies {
    /// What `route_key` requires: its entry, or a signed-in caller.
    pub fn for_route(&self, route_key: &str) -> Require {
        self.0.get(route_key).cloned().unwrap_or_default()
    }

    /// The route keys that have an entry.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Parses and validates `ROUTE_POLICIES`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let entries = parse_entries(text).map_err(|reason| invalid("(the whole value)", reason))?;
        let mut policies = HashMap::new();
        for (route, rule) in entries {
            if !is_route_key(&route) {
                return Err(invalid(
                    &route,
                    "not an API Gateway route key such as \"GET /api/admin\"".into(),
                ));
            }
            let require = parse_rule(&rule).map_err(|reason| invalid(&route, reason))?;
            if policies.insert(route.clone(), require).is_some() {
                return Err(invalid(&route, "listed twice".into()));
            }
        }
        Ok(Self(policies))
    }
}

fn invalid(entry: &str, reason: String) -> ConfigError {
    ConfigError::InvalidEntry {
        name: VARIABLE,
        entry: entry.to_owned(),
        reason,
    }
}

/// `METHOD /path` (path parameters as `{name}`, a greedy `{name+}`) or `$default`.
fn is_route_key(key: &str) -> bool {
    if key == "$default" {
        return true;
    }
    let Some((method, path)) = key.split_once(' ') else {
        return false;
    };
    METHODS.contains(&method)
        && path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#'))
}

fn parse_rule(rule: &Value) -> Result<Require, String> {
    let Value::Object(fields) = rule else {
        return Err(format!("must be an object of {FIELDS}"));
    };
    let mut require = Require::default();
    for (field, value) in fields {
        let names = names(value)
            .ok_or_else(|| format!("{field} must be a non-empty list of non-empty strings"))?;
        let slot = match field.as_str() {
            "anyRole" => &mut require.any_role,
            "allRoles" => &mut require.all_roles,
            "anyPermission" => &mut require.any_permission,
            "allPermissions" => &mut require.all_permissions,
            "anyOrganization" => &mut require.any_organization,
            other => return Err(format!("unknown requirement {other:?} (use {FIELDS})")),
        };
        *slot = names;
    }
    Ok(require)
}

fn names(value: &Value) -> Option<Vec<String>> {
    let items = value.as_array().filter(|items| !items.is_empty())?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .filter(|name| !name.trim().is_empty() && !name.contains(','))
                .map(str::to_owned)
        })
        .collect()
}

/// The top-level object's entries in order, refusing a repeated key (serde_json's map would keep
/// the last one silently).
fn parse_entries(text: &str) -> Result<Vec<(String, Value)>, String> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(String, Value)>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object from route keys to requirements")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries: Vec<(String, Value)> = Vec::new();
            while let Some((key, value)) = map.next_entry::<String, Value>()? {
                if entries.iter().any(|(seen, _)| *seen == key) {
                    return Err(de::Error::custom(format!("{key} is listed twice")));
                }
                entries.push((key, value));
            }
            Ok(entries)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let entries = deserializer
        .deserialize_map(Entries)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(roles: &[&str], permissions: &[&str], org: Option<&str>) -> AccessTokenClaims {
        AccessTokenClaims {
            subject: "usr_1".into(),
            organization_id: org.map(str::to_owned),
            session_id: None,
            roles: owned(roles.iter().copied()),
            permissions: owned(permissions.iter().copied()),
            scopes: Vec::new(),
            email: None,
            expires_at: 0,
        }
    }

    #[test]
    fn each_kind_of_requirement_holds_or_names_what_is_missing() {
        let admin = access(&["admin"], &["p:read", "p:write"], Some("org_acme"));
        let member = access(&["member"], &["p:read"], Some("org_globex"));
        let cases = [
            (Require::signed_in(), Ok(()), Ok(())),
            (Require::role("admin"), Ok(()), Err(Unmet::Role)),
            (Require::any_role(["admin", "member"]), Ok(()), Ok(())),
            (
                Require::all_roles(["admin", "member"]),
                Err(Unmet::Role),
                Err(Unmet::Role),
            ),
            (
                Require::permission("p:write"),
                Ok(()),
                Err(Unmet::Permission),
            ),
            (
                Require::any_permission(["p:write", "p:read"]),
                Ok(()),
                Ok(()),
            ),
            (
                Require::all_permissions(["p:write", "p:read"]),
                Ok(()),
                Err(Unmet::Permission),
            ),
            (
                Require::organization("org_acme"),
                Ok(()),
                Err(Unmet::Organization),
            ),
            (
                Require::role("member").and(Require::organization("org_globex")),
                Err(Unmet::Role),
                Ok(()),
            ),
        ];
        for (require, for_admin, for_member) in cases {
            assert_eq!(
                require.check(&admin),
                for_admin,
                "{require:?} for the admin"
            );
            assert_eq!(
                require.check(&member),
                for_member,
                "{require:?} for the member"
            );
        }
        let no_org = access(&["admin"], &[], None);
        assert_eq!(
            Require::organization("org_acme").check(&no_org),
            Err(Unmet::Organization)
        );
    }

    #[test]
    fn route_policies_parse_into_the_same_guards() {
        let policies = RoutePolicies::parse(
            r#"{"GET /api/admin": {"anyRole": ["admin"]},
                "DELETE /api/projects/{id}": {"allPermissions": ["p:delete", "p:write"], "anyOrganization": ["org_acme"]},
                "GET /api/me": {}}"#,
        )
        .unwrap();
        assert_eq!(policies.for_route("GET /api/admin"), Require::role("admin"));
        assert_eq!(
            policies.for_route("DELETE /api/projects/{id}"),
            Require::all_permissions(["p:delete", "p:write"])
                .and(Require::organization("org_acme"))
        );
        assert_eq!(policies.for_route("GET /api/me"), Require::signed_in());
        assert_eq!(policies.for_route("GET /unlisted"), Require::signed_in());
    }

    #[test]
    fn a_bad_entry_is_refused_naming_the_route_and_what_is_wrong() {
        let cases = [
            ("[]", "(the whole value)", "object"),
            ("{", "(the whole value)", "EOF"),
            (r#"{"GET /a": {}} x"#, "(the whole value)", "trailing"),
            (r#"{"/api/admin": {}}"#, "/api/admin", "route key"),
            (r#"{"FETCH /a": {}}"#, "FETCH /a", "route key"),
            (r#"{"GET /a?x=1": {}}"#, "GET /a?x=1", "route key"),
            (r#"{"GET /a": ["admin"]}"#, "GET /a", "must be an object"),
            (
                r#"{"GET /a": {"anyRoles": ["admin"]}}"#,
                "GET /a",
                "unknown requirement \"anyRoles\"",
            ),
            (r#"{"GET /a": {"anyRole": []}}"#, "GET /a", "non-empty list"),
            (
                r#"{"GET /a": {"anyRole": "admin"}}"#,
                "GET /a",
                "non-empty list",
            ),
            (
                r#"{"GET /a": {"anyRole": [""]}}"#,
                "GET /a",
                "non-empty strings",
            ),
            (
                r#"{"GET /a": {"anyRole": ["a,b"]}}"#,
                "GET /a",
                "non-empty strings",
            ),
            (
                r#"{"GET /a": {}, "GET /a": {"anyRole": ["x"]}}"#,
                "(the whole value)",
                "listed twice",
            ),
        ];
        for (text, entry, reason) in cases {
            let error = RoutePolicies::parse(text).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("ROUTE_POLICIES"), "{text}: {message}");
            assert!(
                matches!(&error, ConfigError::InvalidEntry { entry: e, .. } if e == entry),
                "{text}: {message}"
            );
            assert!(message.contains(reason), "{text}: {message}");
        }
    }
}
