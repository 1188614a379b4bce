//! What each kind of token must prove, and the typed views of their claims.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::TokenError;
use crate::crypto::constant_time_eq;
use crate::secret::Nonce;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// How the `aud` claim is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AudienceRule<'a> {
    /// ID tokens (OIDC Core 3.1.3.7): `aud` (string or array) holds the client id and no other
    /// audience (we trust none), several audiences need `azp`, and `azp`, when present, must
    /// equal the client id.
    Only(&'a str),
    /// Access tokens: `aud` must contain the client id (an API may be another audience) and
    /// `azp`, when present, must equal it; a token without `aud` passes when its `client_id` claim is ours
    /// (Scalekit access tokens carry `client_id`).
    ContainsOrClientIdClaim(&'a str),
    /// Not checked: Scalekit's IdP-initiated login token has no audience.
    Unchecked,
}

/// The kinds of token one Scalekit environment signs with the same keys. Each verification names
/// the kind it expects, so none of the others passes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Has ID-token claims (`nonce`, `at_hash`, `c_hash`) at most; never `scope`, which every
    /// Scalekit access token carries.
    Id,
    /// Carries `jti` (Scalekit's `tkn_...`) and none of the claims OIDC Core defines for ID
    /// tokens only (`nonce`, `at_hash`, `c_hash`).
    Access,
    /// Names what to sign in to (`organization_id`, `connection_id` or `login_hint`) and has
    /// neither `sub` nor `aud`, which ID and access tokens always have.
    IdpInitiatedLogin,
}

impl TokenKind {
    fn name(self) -> &'static str {
        match self {
            Self::Id => "an ID token",
            Self::Access => "an access token",
            Self::IdpInitiatedLogin => "an IdP-initiated login token",
        }
    }

    fn check(self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        let has = |name: &str| claims.contains_key(name);
        let wrong = match self {
            Self::Id => has("scope") || has("scopes"),
            Self::Access => {
                if ["nonce", "at_hash", "c_hash"].into_iter().any(has) {
                    return Err(TokenError::WrongKind(self.name()));
                }
                if claims
                    .get("jti")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(TokenError::MissingClaim("jti"));
                }
                false
            }
            Self::IdpInitiatedLogin => {
                has("sub")
                    || has("aud")
                    || !["organization_id", "connection_id", "login_hint"]
                        .into_iter()
                        .any(has)
            }
        };
        if wrong {
            return Err(TokenError::WrongKind(self.name()));
        }
        Ok(())
    }
}

/// The rules one verification applies on top of the signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expectations<'a> {
    pub kind: TokenKind,
    pub issuer: &'a str,
    pub audience: AudienceRule<'a>,
    pub nonce: Option<&'a Nonce>,
    pub require_iat: bool,
    pub require_sub: bool,
}

/// Applies `expectations` to the claims of a token whose signature has been verified.
pub(crate) fn check(
    claims: &Map<String, Value>,
    expectations: &Expectations<'_>,
    now: i64,
) -> Result<(), TokenError> {
    let text = |name| claims.get(name).and_then(Value::as_str);
    let number = |name| claims.get(name).and_then(numeric_date);

    if text("iss") != Some(expectations.issuer) {
        return Err(TokenError::InvalidIssuer);
    }
    expectations.kind.check(claims)?;
    match expectations.audience {
        AudienceRule::Unchecked => {}
        AudienceRule::Only(client_id) => {
            check_audience(claims, client_id)?;
            if let Some(Value::Array(audiences)) = claims.get("aud") {
                if audiences.iter().any(|a| a.as_str() != Some(client_id)) {
                    return Err(TokenError::InvalidAudience);
                }
                if audiences.len() > 1 && !claims.contains_key("azp") {
                    return Err(TokenError::MissingClaim("azp"));
                }
            }
        }
        AudienceRule::ContainsOrClientIdClaim(client_id) => {
            if claims.contains_key("aud") {
                check_audience(claims, client_id)?;
            } else if text("client_id") != Some(client_id) {
                return Err(TokenError::InvalidAudience);
            }
        }
    }
    let exp = number("exp").ok_or(TokenError::MissingClaim("exp"))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    match number("iat") {
        Some(iat) if iat > now + LEEWAY_SECS => return Err(TokenError::IssuedInFuture),
        Some(_) => {}
        None if expectations.require_iat => return Err(TokenError::MissingClaim("iat")),
        None => {}
    }
    if claims.contains_key("nbf") {
        let nbf = number("nbf").ok_or(TokenError::MissingClaim("nbf"))?;
        if nbf > now + LEEWAY_SECS {
            return Err(TokenError::NotYetValid);
        }
    }
    if expectations.require_sub && text("sub").is_none_or(str::is_empty) {
        return Err(TokenError::MissingClaim("sub"));
    }
    if let Some(expected) = expectations.nonce {
        let actual = text("nonce").ok_or(TokenError::NonceMismatch)?;
        if !constant_time_eq(actual.as_bytes(), expected.secret().as_bytes()) {
            return Err(TokenError::NonceMismatch);
        }
    }
    Ok(())
}

fn check_audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), TokenError> {
    let contains = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !contains {
        return Err(TokenError::InvalidAudience);
    }
    match claims.get("azp") {
        None => Ok(()),
        Some(azp) if azp.as_str() == Some(client_id) => Ok(()),
        Some(_) => Err(TokenError::InvalidAuthorizedParty),
    }
}

/// A JSON NumericDate (seconds, possibly fractional) as whole seconds.
fn numeric_date(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

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
            expires_at: claims.get("exp").and_then(numeric_date).unwrap_or(0),
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

    const NOW: i64 = 1_800_000_000;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn id_token_claims() -> Value {
        json!({"iss": "https://env", "aud": ["skc_1"], "sub": "usr_1", "exp": NOW + 300, "iat": NOW, "nonce": "n-1"})
    }

    fn id_rules(nonce: &Nonce) -> Expectations<'_> {
        Expectations {
            kind: TokenKind::Id,
            issuer: "https://env",
            audience: AudienceRule::Only("skc_1"),
            nonce: Some(nonce),
            require_iat: true,
            require_sub: true,
        }
    }

    fn with(mut base: Value, key: &str, value: Value) -> Map<String, Value> {
        if value.is_null() {
            base.as_object_mut().unwrap().remove(key);
        } else {
            base[key] = value;
        }
        claims(base)
    }

    #[test]
    fn a_valid_id_token_passes() {
        let nonce = Nonce::new("n-1");
        assert_eq!(
            check(&claims(id_token_claims()), &id_rules(&nonce), NOW),
            Ok(())
        );
    }

    #[test]
    fn each_id_token_rule_rejects_its_violation() {
        let nonce = Nonce::new("n-1");
        let rules = id_rules(&nonce);
        let cases = [
            ("iss", json!("https://evil"), TokenError::InvalidIssuer),
            ("iss", json!("https://env/"), TokenError::InvalidIssuer),
            ("iss", Value::Null, TokenError::InvalidIssuer),
            ("aud", json!(["skc_other"]), TokenError::InvalidAudience),
            (
                "aud",
                json!(["other", "skc_1"]),
                TokenError::InvalidAudience,
            ),
            (
                "aud",
                json!(["skc_1", "skc_other"]),
                TokenError::InvalidAudience,
            ),
            (
                "aud",
                json!(["skc_1", "skc_1"]),
                TokenError::MissingClaim("azp"),
            ),
            ("aud", json!("skc_other"), TokenError::InvalidAudience),
            ("aud", Value::Null, TokenError::InvalidAudience),
            (
                "azp",
                json!("skc_other"),
                TokenError::InvalidAuthorizedParty,
            ),
            ("exp", Value::Null, TokenError::MissingClaim("exp")),
            ("exp", json!(NOW - LEEWAY_SECS), TokenError::Expired),
            ("exp", json!(i64::MIN), TokenError::Expired),
            ("exp", json!("soon"), TokenError::MissingClaim("exp")),
            ("iat", Value::Null, TokenError::MissingClaim("iat")),
            ("iat", json!(NOW + 3600), TokenError::IssuedInFuture),
            ("nbf", json!(NOW + 3600), TokenError::NotYetValid),
            ("sub", Value::Null, TokenError::MissingClaim("sub")),
            ("sub", json!(""), TokenError::MissingClaim("sub")),
            ("nonce", json!("n-2"), TokenError::NonceMismatch),
            ("nonce", Value::Null, TokenError::NonceMismatch),
        ];
        for (claim, value, expected) in cases {
            let token = with(id_token_claims(), claim, value.clone());
            assert_eq!(
                check(&token, &rules, NOW),
                Err(expected),
                "{claim} = {value}"
            );
        }
    }

    #[test]
    fn leeway_and_audience_forms_are_accepted() {
        let nonce = Nonce::new("n-1");
        let rules = id_rules(&nonce);
        let ok = [
            ("aud", json!("skc_1")),
            ("aud", json!(["skc_1"])),
            ("azp", json!("skc_1")),
            ("exp", json!(NOW - LEEWAY_SECS + 1)),
            ("iat", json!(NOW + LEEWAY_SECS)),
            ("nbf", json!(NOW + LEEWAY_SECS)),
            ("exp", json!((NOW + 300) as f64 + 0.5)),
            ("exp", json!(i64::MAX)),
        ];
        for (claim, value) in ok {
            assert_eq!(
                check(&with(id_token_claims(), claim, value.clone()), &rules, NOW),
                Ok(()),
                "{claim} = {value}"
            );
        }
    }

    #[test]
    fn access_tokens_may_name_the_client_in_client_id_instead_of_aud() {
        let rules = Expectations {
            kind: TokenKind::Access,
            issuer: "https://env",
            audience: AudienceRule::ContainsOrClientIdClaim("skc_1"),
            nonce: None,
            require_iat: false,
            require_sub: true,
        };
        let base = json!({"iss": "https://env", "sub": "usr_1", "exp": NOW + 60, "client_id": "skc_1", "jti": "tkn_1"});
        assert_eq!(check(&claims(base.clone()), &rules, NOW), Ok(()));
        let other = with(base.clone(), "client_id", json!("skc_2"));
        assert_eq!(check(&other, &rules, NOW), Err(TokenError::InvalidAudience));
        let wrong_aud = with(base, "aud", json!(["api://other"]));
        assert_eq!(
            check(&wrong_aud, &rules, NOW),
            Err(TokenError::InvalidAudience)
        );
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
