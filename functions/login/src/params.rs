//! The query parameters `/api/login` accepts, each validated before it reaches Scalekit.

use lambda_http::Request;
use shared::failures;
use shared::http::{query_param, ApiError};
use shared::return_to::safe_return_to;
use shared::scalekit::{IdpInitiatedLogin, Prompt};

/// Validated login parameters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoginParams {
    /// `organization_id`.
    pub organization_id: Option<String>,
    /// `connection_id`.
    pub connection_id: Option<String>,
    /// `login_hint` (an email).
    pub login_hint: Option<String>,
    /// `domain_hint`.
    pub domain_hint: Option<String>,
    /// `provider`.
    pub provider: Option<String>,
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `return_to`, a same-site path.
    pub return_to: Option<String>,
    /// `idp_initiated_login`, unverified.
    pub idp_initiated_login: Option<String>,
    /// `error` sent by Scalekit (see `shared::failures::idp_redirect_error`).
    pub error: Option<String>,
}

impl LoginParams {
    /// The parameters as a query would carry them, to repeat this login from a form.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("organization_id", self.organization_id.as_deref()),
            ("connection_id", self.connection_id.as_deref()),
            ("login_hint", self.login_hint.as_deref()),
            ("domain_hint", self.domain_hint.as_deref()),
            ("provider", self.provider.as_deref()),
            ("prompt", self.prompt.map(Prompt::as_str)),
            ("return_to", self.return_to.as_deref()),
            ("idp_initiated_login", self.idp_initiated_login.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

/// Scalekit identifiers: `org_...`, `conn_...`.
fn is_identifier(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_provider(value: &str) -> bool {
    (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_login_hint(value: &str) -> bool {
    (1..=320).contains(&value.len()) && !value.chars().any(char::is_control)
}

fn is_domain(value: &str) -> bool {
    (1..=253).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

impl LoginParams {
    /// Reads and validates the query string.
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        let get = |name: &'static str| query_param(req, name);
        let checked = |name: &'static str, valid: fn(&str) -> bool, refusal: ApiError| {
            let value = get(name)?;
            match value {
                Some(v) if !valid(&v) => Err(refusal),
                other => Ok(other),
            }
        };
        let prompt = match get("prompt")? {
            None => None,
            Some(value) => Some(Prompt::parse(&value).ok_or(failures::login::INVALID_PROMPT)?),
        };
        let return_to = match get("return_to")? {
            None => None,
            Some(value) => Some(
                safe_return_to(&value)
                    .ok_or(failures::login::INVALID_RETURN_TO)?
                    .to_owned(),
            ),
        };
        Ok(Self {
            organization_id: checked(
                "organization_id",
                is_identifier,
                failures::login::INVALID_ORGANIZATION_ID,
            )?,
            connection_id: checked(
                "connection_id",
                is_identifier,
                failures::login::INVALID_CONNECTION_ID,
            )?,
            login_hint: checked(
                "login_hint",
                is_login_hint,
                failures::login::INVALID_LOGIN_HINT,
            )?,
            domain_hint: checked(
                "domain_hint",
                is_domain,
                failures::login::INVALID_DOMAIN_HINT,
            )?,
            provider: checked("provider", is_provider, failures::login::INVALID_PROVIDER)?,
            prompt,
            return_to,
            idp_initiated_login: get("idp_initiated_login")?,
            error: get("error")?,
        })
    }

    /// Routes the login as a verified IdP-initiated token asks. Its `relay_state` is used only as
    /// a return path, and only when it is a safe same-site path and none was given.
    pub fn apply_idp_initiated(&mut self, claims: IdpInitiatedLogin) {
        let valid = |value: Option<String>, check: fn(&str) -> bool| value.filter(|v| check(v));
        if let Some(org) = valid(claims.organization_id, is_identifier) {
            self.organization_id = Some(org);
        }
        if let Some(conn) = valid(claims.connection_id, is_identifier) {
            self.connection_id = Some(conn);
        }
        if let Some(hint) = valid(claims.login_hint, is_login_hint) {
            self.login_hint = Some(hint);
        }
        if self.return_to.is_none() {
            self.return_to = claims
                .relay_state
                .as_deref()
                .and_then(safe_return_to)
                .map(str::to_owned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    fn request(query: &[(&str, &str)]) -> Request {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in query {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        Request::default().with_query_string_parameters(map)
    }

    #[test]
    fn every_routing_parameter_is_read() {
        let params = LoginParams::from_request(&request(&[
            ("organization_id", "org_1"),
            ("connection_id", "conn_1"),
            ("login_hint", "a+b@x.com"),
            ("domain_hint", "x.com"),
            ("provider", "google"),
            ("prompt", "select_account"),
            ("return_to", "/settings?tab=2"),
            ("ignored", "x"),
        ]))
        .unwrap();
        assert_eq!(params.organization_id.as_deref(), Some("org_1"));
        assert_eq!(params.connection_id.as_deref(), Some("conn_1"));
        assert_eq!(params.login_hint.as_deref(), Some("a+b@x.com"));
        assert_eq!(params.domain_hint.as_deref(), Some("x.com"));
        assert_eq!(params.provider.as_deref(), Some("google"));
        assert_eq!(params.prompt, Some(Prompt::SelectAccount));
        assert_eq!(params.return_to.as_deref(), Some("/settings?tab=2"));
    }

    #[test]
    fn malformed_parameters_are_refused_with_a_stable_code() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("return_to", "//evil.com")], "invalid_return_to"),
            (&[("return_to", "https://evil.com")], "invalid_return_to"),
            (&[("prompt", "consent")], "invalid_prompt"),
            (&[("organization_id", "org 1")], "invalid_parameter"),
            (&[("connection_id", "conn_1&x=y")], "invalid_parameter"),
            (&[("provider", "Google<")], "invalid_parameter"),
            (&[("domain_hint", "x.com/evil")], "invalid_parameter"),
            (&[("login_hint", "a\r\nb")], "invalid_parameter"),
            (
                &[("organization_id", "org_1"), ("organization_id", "org_2")],
                "invalid_request",
            ),
        ];
        for (query, code) in cases {
            let err = LoginParams::from_request(&request(query)).unwrap_err();
            assert_eq!(err.code, *code, "{query:?}");
        }
    }

    #[test]
    fn idp_initiated_claims_route_the_login_and_relay_state_is_only_a_safe_path() {
        let mut params = LoginParams::default();
        params.apply_idp_initiated(IdpInitiatedLogin {
            organization_id: Some("org_9".into()),
            connection_id: Some("conn_9".into()),
            login_hint: Some("u@x.com".into()),
            relay_state: Some("/reports".into()),
        });
        assert_eq!(params.organization_id.as_deref(), Some("org_9"));
        assert_eq!(params.connection_id.as_deref(), Some("conn_9"));
        assert_eq!(params.return_to.as_deref(), Some("/reports"));

        let mut params = LoginParams::default();
        params.apply_idp_initiated(IdpInitiatedLogin {
            relay_state: Some("https://evil.com".into()),
            organization_id: Some("bad id".into()),
            ..Default::default()
        });
        assert_eq!(params.return_to, None);
        assert_eq!(params.organization_id, None);
    }
}

#[cfg(test)]
mod hostile_input {
    use super::*;
    use lambda_http::RequestExt;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn arbitrary_query_parameters_are_parsed_or_refused_never_forwarded_unsafely(
            pairs in proptest::collection::vec(("(organization_id|connection_id|login_hint|domain_hint|provider|prompt|return_to|error|x)", "\\PC{0,60}"), 0..8)
        ) {
            let mut map: HashMap<String, Vec<String>> = HashMap::new();
            for (k, v) in pairs {
                map.entry(k).or_default().push(v);
            }
            let request = Request::default().with_query_string_parameters(map);
            if let Ok(params) = LoginParams::from_request(&request) {
                if let Some(path) = &params.return_to {
                    prop_assert!(safe_return_to(path).is_some());
                }
                for value in [&params.organization_id, &params.connection_id].into_iter().flatten() {
                    prop_assert!(is_identifier(value));
                }
                if let Some(hint) = &params.login_hint {
                    prop_assert!(!hint.chars().any(char::is_control));
                }
            }
        }
    }
}
