//! What each kind of token must prove once its signature is verified: the rule sets for ID
//! tokens, access tokens and IdP-initiated login tokens, and the one function that applies them.

use serde_json::{Map, Value};

use super::error::TokenError;
use crate::crypto::constant_time_eq;
use crate::redacted::Nonce;

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
    /// OIDC Back-Channel Logout 1.0 §2.4: `events` holds the back-channel logout member (an
    /// object), `sid` or `sub` is present, `jti` is present, and there is no `nonce` (so that an
    /// ID token can never pass for one).
    Logout,
}

/// The member of a logout token's `events` claim (Back-Channel Logout 1.0 §2.4).
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

impl TokenKind {
    fn name(self) -> &'static str {
        match self {
            Self::Id => "an ID token",
            Self::Access => "an access token",
            Self::IdpInitiatedLogin => "an IdP-initiated login token",
            Self::Logout => "a logout token",
        }
    }

    fn check(self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        let has = |name: &str| claims.contains_key(name);
        let wrong = match self {
            // `events` marks a logout token, which has no nonce either (BCL 1.0 section 2.4).
            Self::Id => has("scope") || has("scopes") || has("events"),
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
            Self::Logout => {
                let text = |name: &str| claims.get(name).and_then(Value::as_str);
                let event = claims
                    .get("events")
                    .and_then(Value::as_object)
                    .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
                if !event.is_some_and(Value::is_object) {
                    return Err(TokenError::MissingClaim("events"));
                }
                if text("jti").is_none_or(str::is_empty) {
                    return Err(TokenError::MissingClaim("jti"));
                }
                if text("sid").is_none_or(str::is_empty) && text("sub").is_none_or(str::is_empty) {
                    return Err(TokenError::MissingClaim("sid"));
                }
                has("nonce")
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
    /// The accepted issuers (`iss` must equal one exactly).
    pub issuers: &'a [String],
    pub audience: AudienceRule<'a>,
    pub nonce: Option<&'a Nonce>,
    pub require_iat: bool,
    pub require_sub: bool,
    /// Whether `exp` must be present (it is checked whenever it is).
    pub require_exp: bool,
    /// How old (`iat`, seconds) a token of this kind may be at most.
    pub max_age: Option<i64>,
}

impl<'a> Expectations<'a> {
    /// An ID token from the code exchange (`nonce` as sent) or a refresh (`None`): OIDC Core
    /// 3.1.3.7, with `iat` and `sub` required and no audience but ours.
    pub(crate) fn id_token(
        issuers: &'a [String],
        client_id: &'a str,
        nonce: Option<&'a Nonce>,
    ) -> Self {
        Self {
            kind: TokenKind::Id,
            issuers,
            audience: AudienceRule::Only(client_id),
            nonce,
            require_iat: true,
            require_sub: true,
            require_exp: true,
            max_age: None,
        }
    }

    /// An access token issued to this client (a session's, or a Bearer token).
    pub(crate) fn access_token(issuers: &'a [String], client_id: &'a str) -> Self {
        Self {
            kind: TokenKind::Access,
            issuers,
            audience: AudienceRule::ContainsOrClientIdClaim(client_id),
            nonce: None,
            require_iat: false,
            require_sub: true,
            require_exp: true,
            max_age: None,
        }
    }

    /// An `idp_initiated_login` token: signature, `iss`, `exp`; it carries no `aud`.
    pub(crate) fn idp_initiated_login(issuers: &'a [String]) -> Self {
        Self {
            kind: TokenKind::IdpInitiatedLogin,
            issuers,
            audience: AudienceRule::Unchecked,
            nonce: None,
            require_iat: false,
            require_sub: false,
            require_exp: true,
            max_age: None,
        }
    }

    /// A Back-Channel Logout 1.0 logout token: `iss`, `aud` and `iat` checked as for ID tokens,
    /// `iat` at most [`LOGOUT_TOKEN_MAX_AGE`] old, `exp` checked when present.
    pub(crate) fn logout_token(issuers: &'a [String], client_id: &'a str) -> Self {
        Self {
            kind: TokenKind::Logout,
            issuers,
            audience: AudienceRule::Only(client_id),
            nonce: None,
            require_iat: true,
            require_sub: false,
            require_exp: false,
            max_age: Some(LOGOUT_TOKEN_MAX_AGE),
        }
    }
}

/// How old a logout token may be (seconds since its `iat`): the window in which its `jti` is
/// remembered, so that a replay is refused either way.
pub const LOGOUT_TOKEN_MAX_AGE: i64 = 5 * 60;

/// Applies `expectations` to the claims of a token whose signature has been verified.
pub(crate) fn check(
    claims: &Map<String, Value>,
    expectations: &Expectations<'_>,
    now: i64,
) -> Result<(), TokenError> {
    let text = |name| claims.get(name).and_then(Value::as_str);
    let number = |name| claims.get(name).and_then(numeric_date);

    let issuer = text("iss");
    if !expectations
        .issuers
        .iter()
        .any(|accepted| Some(accepted.as_str()) == issuer)
    {
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
    match number("exp") {
        Some(exp) if now >= exp.saturating_add(LEEWAY_SECS) => return Err(TokenError::Expired),
        Some(_) => {}
        None if expectations.require_exp || claims.contains_key("exp") => {
            return Err(TokenError::MissingClaim("exp"))
        }
        None => {}
    }
    match number("iat") {
        Some(iat) if iat > now + LEEWAY_SECS => return Err(TokenError::IssuedInFuture),
        Some(iat)
            if expectations
                .max_age
                .is_some_and(|max| iat < now - max - LEEWAY_SECS) =>
        {
            return Err(TokenError::IssuedTooLongAgo)
        }
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
pub(crate) fn numeric_date(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::check`] with its error as text: `TokenError` has no equality (one of its variants
    /// holds a transport error), and each variant's text names what failed.
    fn check(
        claims: &Map<String, Value>,
        expectations: &Expectations<'_>,
        now: i64,
    ) -> Result<(), String> {
        super::check(claims, expectations, now).map_err(|e| e.to_string())
    }

    fn err(error: TokenError) -> Result<(), String> {
        Err(error.to_string())
    }
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    /// The accepted issuers of these tests.
    static ENV: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["https://env".to_owned()]);

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn id_token_claims() -> Value {
        json!({"iss": "https://env", "aud": ["skc_1"], "sub": "usr_1", "exp": NOW + 300, "iat": NOW, "nonce": "n-1"})
    }

    fn id_rules(nonce: &Nonce) -> Expectations<'_> {
        Expectations::id_token(&ENV, "skc_1", Some(nonce))
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
                err(expected),
                "{claim} = {value}"
            );
        }
    }

    fn logout_claims() -> Value {
        json!({"iss": "https://env", "aud": "skc_1", "iat": NOW, "jti": "j-1", "sid": "ses_1",
               "sub": "usr_1", "events": {BACKCHANNEL_LOGOUT_EVENT: {}}})
    }

    #[test]
    fn each_logout_token_rule_rejects_its_violation() {
        let rules = Expectations::logout_token(&ENV, "skc_1");
        assert_eq!(check(&claims(logout_claims()), &rules, NOW), Ok(()));
        let only_sid = with(logout_claims(), "sub", Value::Null);
        assert_eq!(check(&only_sid, &rules, NOW), Ok(()));
        let only_sub = with(logout_claims(), "sid", Value::Null);
        assert_eq!(check(&only_sub, &rules, NOW), Ok(()));
        let cases = [
            ("iss", json!("https://evil"), TokenError::InvalidIssuer),
            ("aud", json!("skc_other"), TokenError::InvalidAudience),
            ("aud", Value::Null, TokenError::InvalidAudience),
            ("iat", Value::Null, TokenError::MissingClaim("iat")),
            ("iat", json!(NOW + 3600), TokenError::IssuedInFuture),
            (
                "iat",
                json!(NOW - LOGOUT_TOKEN_MAX_AGE - LEEWAY_SECS - 1),
                TokenError::IssuedTooLongAgo,
            ),
            ("exp", json!(NOW - LEEWAY_SECS), TokenError::Expired),
            ("exp", json!("later"), TokenError::MissingClaim("exp")),
            ("jti", Value::Null, TokenError::MissingClaim("jti")),
            ("events", Value::Null, TokenError::MissingClaim("events")),
            (
                "events",
                json!({"other": {}}),
                TokenError::MissingClaim("events"),
            ),
            (
                "events",
                json!({BACKCHANNEL_LOGOUT_EVENT: "yes"}),
                TokenError::MissingClaim("events"),
            ),
            ("nonce", json!("n"), TokenError::WrongKind("a logout token")),
        ];
        for (claim, value, expected) in cases {
            let token = with(logout_claims(), claim, value.clone());
            assert_eq!(
                check(&token, &rules, NOW),
                err(expected),
                "{claim} = {value}"
            );
        }
        let without_sid = Value::Object(with(logout_claims(), "sid", Value::Null));
        let neither = with(without_sid, "sub", Value::Null);
        assert_eq!(
            check(&neither, &rules, NOW),
            err(TokenError::MissingClaim("sid"))
        );
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
        let rules = Expectations::access_token(&ENV, "skc_1");
        let base = json!({"iss": "https://env", "sub": "usr_1", "exp": NOW + 60, "client_id": "skc_1", "jti": "tkn_1"});
        assert_eq!(check(&claims(base.clone()), &rules, NOW), Ok(()));
        let other = with(base.clone(), "client_id", json!("skc_2"));
        assert_eq!(check(&other, &rules, NOW), err(TokenError::InvalidAudience));
        let wrong_aud = with(base, "aud", json!(["api://other"]));
        assert_eq!(
            check(&wrong_aud, &rules, NOW),
            err(TokenError::InvalidAudience)
        );
    }
}
