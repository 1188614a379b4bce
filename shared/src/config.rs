//! Configuration from the environment, read once at start-up. A missing or malformed variable
//! fails the cold start with a message that names it.

use std::time::Duration;

use crate::access::RoutePolicies;
use crate::return_to::safe_return_to;
use crate::scalekit::ScalekitSettings;
use crate::secret_cache::SecretKind;
use crate::webhook::WebhookSecret;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("missing configuration: set {0}")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("invalid configuration {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong, never the value itself.
        reason: &'static str,
    },
    /// One entry of a structured variable (`ROUTE_POLICIES`) is unusable.
    #[error("invalid configuration {name}: {entry}: {reason}")]
    InvalidEntry {
        /// The variable.
        name: &'static str,
        /// Which entry (a route key, say).
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSetting {
    /// The value itself (local runs): `SCALEKIT_CLIENT_SECRET`, `SESSION_SECRET`.
    Value(String),
    /// A Secrets Manager secret id or ARN: `SCALEKIT_CLIENT_SECRET_ARN`, `SESSION_SECRET_ARN`.
    SecretsManager(String),
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value([redacted])"),
            Self::SecretsManager(arn) => f.debug_tuple("SecretsManager").field(arn).finish(),
        }
    }
}

/// What a function needs beyond the Scalekit environment and the session secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// It calls the token endpoint.
    pub client_secret: bool,
    /// It reads or writes sessions.
    pub session_table: bool,
    /// It verifies tokens on most requests: the signing keys are fetched during the cold start.
    pub signing_keys: bool,
    /// It decides routes by `ROUTE_POLICIES` (the authorizer).
    pub route_policies: bool,
    /// It verifies Scalekit webhooks (`SCALEKIT_WEBHOOK_SECRET[_ARN]`).
    pub webhook_secret: bool,
}

impl Needs {
    /// Nothing beyond the Scalekit environment and the session secret (`..Needs::NONE` in a
    /// function's constant).
    pub const NONE: Needs = Needs {
        client_secret: false,
        session_table: false,
        signing_keys: false,
        route_policies: false,
        webhook_secret: false,
    };

    /// The environment variables a function with these needs reads (for the template check).
    pub fn variables(self) -> Vec<&'static str> {
        let mut names = vec![
            "SCALEKIT_ENVIRONMENT_URL",
            "SCALEKIT_ISSUER",
            "SCALEKIT_CLIENT_ID",
            "SESSION_SECRET",
            "SESSION_SECRET_ARN",
            "APP_BASE_URL",
            "POST_LOGIN_REDIRECT",
            "POST_LOGOUT_REDIRECT",
            "METRICS_NAMESPACE",
        ];
        if self.client_secret {
            names.extend(["SCALEKIT_CLIENT_SECRET", "SCALEKIT_CLIENT_SECRET_ARN"]);
        }
        if self.session_table {
            names.extend([
                "SESSION_TABLE",
                "SESSION_LIFETIME_SECONDS",
                "SESSION_IDLE_TIMEOUT_SECONDS",
            ]);
        }
        if self.route_policies {
            names.push("ROUTE_POLICIES");
        }
        if self.webhook_secret {
            names.extend(["SCALEKIT_WEBHOOK_SECRET", "SCALEKIT_WEBHOOK_SECRET_ARN"]);
        }
        names
    }
}

/// The configuration of one function.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Scalekit environment.
    pub scalekit: ScalekitSettings,
    /// `SCALEKIT_CLIENT_SECRET[_ARN]`, when the function needs it.
    pub client_secret: Option<SecretSetting>,
    /// `SESSION_SECRET[_ARN]`.
    pub session_secret: SecretSetting,
    /// `SCALEKIT_WEBHOOK_SECRET[_ARN]`, when the function needs it.
    pub webhook_secret: Option<SecretSetting>,
    /// `SESSION_TABLE`, when the function needs it.
    pub session_table: Option<String>,
    /// `APP_BASE_URL`: the public origins the app is served from.
    pub app_origins: AppOrigins,
    /// `POST_LOGIN_REDIRECT`, a same-site path.
    pub post_login_redirect: String,
    /// `POST_LOGOUT_REDIRECT`, a same-site path or an absolute URL.
    pub post_logout_redirect: String,
    /// `SESSION_LIFETIME_SECONDS`: absolute session lifetime (default 30 days).
    pub session_lifetime: Duration,
    /// `SESSION_IDLE_TIMEOUT_SECONDS`: idle timeout (default 7 days).
    pub idle_timeout: Duration,
    /// `ROUTE_POLICIES`: what each protected route requires (the authorizer; empty elsewhere).
    pub route_policies: RoutePolicies,
    /// Which of them this function uses.
    pub needs: Needs,
}

/// `APP_BASE_URL`: the origins (`https://app.example.com`) the app is served from, comma-separated.
///
/// - none: the origin comes from the request's `Host`, which API Gateway sets to the domain the
///   request reached it by (its `execute-api` domain, or a custom domain mapped to the API): a
///   `Host` no domain of the API answers to never reaches a function;
/// - one: always that origin, whatever the `Host` (a CDN in front may rewrite it);
/// - several (preview and per-tenant domains): the request's `Host` must be one of them, and the
///   redirect URI and cookies follow it; any other `Host` is refused (`400 invalid_host`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppOrigins(pub Vec<String>);

impl AppOrigins {
    /// The configured origins.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Minimum length of the session secret's key material.
pub const MIN_SESSION_SECRET_LEN: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env(needs: Needs) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), needs)
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        needs: Needs,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let environment_url = required("SCALEKIT_ENVIRONMENT_URL")?;
        let environment_url =
            validate_origin_url(&environment_url, "SCALEKIT_ENVIRONMENT_URL", true)?;
        let client_id = required("SCALEKIT_CLIENT_ID")?;

        let client_secret = if needs.client_secret {
            Some(secret_setting(
                get("SCALEKIT_CLIENT_SECRET_ARN"),
                get("SCALEKIT_CLIENT_SECRET"),
                "SCALEKIT_CLIENT_SECRET or SCALEKIT_CLIENT_SECRET_ARN",
                None,
            )?)
        } else {
            None
        };
        let session_secret = secret_setting(
            get("SESSION_SECRET_ARN"),
            get("SESSION_SECRET"),
            "SESSION_SECRET or SESSION_SECRET_ARN",
            Some(("SESSION_SECRET", MIN_SESSION_SECRET_LEN)),
        )?;
        let webhook_secret = if needs.webhook_secret {
            let setting = secret_setting(
                get("SCALEKIT_WEBHOOK_SECRET_ARN"),
                get("SCALEKIT_WEBHOOK_SECRET"),
                "SCALEKIT_WEBHOOK_SECRET or SCALEKIT_WEBHOOK_SECRET_ARN",
                None,
            )?;
            if let SecretSetting::Value(value) = &setting {
                if <WebhookSecret as SecretKind>::parse(value, None).is_err() {
                    return Err(ConfigError::Invalid {
                        name: "SCALEKIT_WEBHOOK_SECRET",
                        reason: "must be the whsec_... signing secret from the Scalekit dashboard",
                    });
                }
            }
            Some(setting)
        } else {
            None
        };
        let session_table = if needs.session_table {
            Some(required("SESSION_TABLE")?)
        } else {
            None
        };
        let app_origins = match get("APP_BASE_URL") {
            None => AppOrigins::default(),
            Some(list) => AppOrigins(
                list.split(',')
                    .map(|url| validate_origin_url(url.trim(), "APP_BASE_URL", false))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let post_login_redirect =
            get("POST_LOGIN_REDIRECT").unwrap_or_else(|| "/dashboard/profile".into());
        if safe_return_to(&post_login_redirect).is_none() {
            return Err(ConfigError::Invalid {
                name: "POST_LOGIN_REDIRECT",
                reason: "must be a path on this site, such as /dashboard/profile",
            });
        }
        let post_logout_redirect = get("POST_LOGOUT_REDIRECT").unwrap_or_else(|| "/".into());
        if safe_return_to(&post_logout_redirect).is_none()
            && validate_absolute_url(&post_logout_redirect).is_none()
        {
            return Err(ConfigError::Invalid {
                name: "POST_LOGOUT_REDIRECT",
                reason: "must be a path on this site or an absolute http(s) URL",
            });
        }
        let mut scalekit = ScalekitSettings::new(&environment_url, &client_id);
        if let Some(list) = get("SCALEKIT_ISSUER") {
            scalekit.issuers = list
                .split(',')
                .map(|issuer| validate_origin_url(issuer.trim(), "SCALEKIT_ISSUER", true))
                .collect::<Result<_, _>>()?;
        }
        Ok(Self {
            scalekit,
            client_secret,
            session_secret,
            webhook_secret,
            session_table,
            app_origins,
            post_login_redirect,
            post_logout_redirect,
            session_lifetime: seconds(&get, "SESSION_LIFETIME_SECONDS", 30 * 24 * 3600)?,
            idle_timeout: seconds(&get, "SESSION_IDLE_TIMEOUT_SECONDS", 7 * 24 * 3600)?,
            route_policies: match (needs.route_policies, get("ROUTE_POLICIES")) {
                (true, Some(text)) => RoutePolicies::parse(&text)?,
                _ => RoutePolicies::default(),
            },
            needs,
        })
    }
}

fn secret_setting(
    arn: Option<String>,
    value: Option<String>,
    names: &'static str,
    min_len: Option<(&'static str, usize)>,
) -> Result<SecretSetting, ConfigError> {
    match (arn, value) {
        (Some(arn), _) => Ok(SecretSetting::SecretsManager(arn)),
        (None, Some(value)) => {
            if let Some((name, min)) = min_len {
                if value.len() < min {
                    return Err(ConfigError::Invalid {
                        name,
                        reason: "must be at least 32 bytes of random key material",
                    });
                }
            }
            Ok(SecretSetting::Value(value))
        }
        (None, None) => Err(ConfigError::Missing(names)),
    }
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    match get(name) {
        None => Ok(Duration::from_secs(default)),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|&s| s >= 60)
            .map(Duration::from_secs)
            .ok_or(ConfigError::Invalid {
                name,
                reason: "must be a whole number of seconds, at least 60",
            }),
    }
}

fn validate_absolute_url(value: &str) -> Option<url::Url> {
    let url = url::Url::parse(value).ok()?;
    (matches!(url.scheme(), "https" | "http") && url.host_str().is_some()).then_some(url)
}

/// An `https` origin (or `http` on a loopback host, for local runs), returned without a trailing `/`.
fn validate_origin_url(
    value: &str,
    name: &'static str,
    allow_path: bool,
) -> Result<String, ConfigError> {
    let invalid = |reason| ConfigError::Invalid { name, reason };
    let url = validate_absolute_url(value).ok_or(invalid("must be an absolute http(s) URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "http" && !loopback {
        return Err(invalid(
            "must use https (http is allowed only for localhost)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("must not have a query, fragment or credentials"));
    }
    if !allow_path && url.path() != "/" {
        return Err(invalid(
            "must be an origin such as https://app.example.com, without a path",
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)], needs: Needs) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned(), needs)
    }

    const BASE: &[(&str, &str)] = &[
        ("SCALEKIT_ENVIRONMENT_URL", "https://acme.scalekit.dev/"),
        ("SCALEKIT_CLIENT_ID", "skc_1"),
        ("SESSION_SECRET", "0123456789abcdef0123456789abcdef"),
    ];
    const ALL: Needs = Needs {
        client_secret: true,
        session_table: true,
        ..Needs::NONE
    };

    #[test]
    fn minimal_login_configuration_loads_with_defaults() {
        let config = load(BASE, Needs::default()).unwrap();
        assert_eq!(config.scalekit.environment_url, "https://acme.scalekit.dev");
        assert_eq!(config.post_login_redirect, "/dashboard/profile");
        assert_eq!(config.post_logout_redirect, "/");
        assert_eq!(config.session_lifetime, Duration::from_secs(2_592_000));
        assert_eq!(config.idle_timeout, Duration::from_secs(604_800));
        assert!(config.client_secret.is_none() && config.session_table.is_none());
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (i, (name, _)) in BASE.iter().enumerate() {
            let mut vars = BASE.to_vec();
            vars.remove(i);
            let err = load(&vars, Needs::default()).unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
        let err = load(BASE, ALL).unwrap_err().to_string();
        assert!(err.contains("SCALEKIT_CLIENT_SECRET"), "{err}");
        let mut vars = BASE.to_vec();
        vars.push(("SCALEKIT_CLIENT_SECRET", "x"));
        let err = load(&vars, ALL).unwrap_err().to_string();
        assert!(err.contains("SESSION_TABLE"), "{err}");
    }

    #[test]
    fn malformed_values_are_rejected_without_echoing_them() {
        let cases: &[(&str, &str)] = &[
            ("SCALEKIT_ENVIRONMENT_URL", "acme.scalekit.dev"),
            ("SCALEKIT_ENVIRONMENT_URL", "http://acme.scalekit.dev"),
            ("SESSION_SECRET", "too-short-secret"),
            ("APP_BASE_URL", "https://app.example.com/path"),
            ("POST_LOGIN_REDIRECT", "https://evil.example"),
            ("POST_LOGOUT_REDIRECT", "//evil.example"),
            ("SESSION_LIFETIME_SECONDS", "forever"),
        ];
        for (name, value) in cases {
            let mut vars: Vec<(&str, &str)> =
                BASE.iter().filter(|(k, _)| k != name).copied().collect();
            vars.push((name, value));
            let err = load(&vars, Needs::default()).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
            assert!(!err.contains(value), "{err} echoes the value");
        }
    }

    #[test]
    fn arns_win_over_values_and_secret_values_are_not_printed() {
        let mut vars = BASE.to_vec();
        vars.extend([
            (
                "SESSION_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            ),
            ("SCALEKIT_CLIENT_SECRET", "client-secret-value"),
            ("SESSION_TABLE", "sessions"),
        ]);
        let config = load(&vars, ALL).unwrap();
        assert_eq!(
            config.session_secret,
            SecretSetting::SecretsManager("arn:aws:secretsmanager:eu-west-1:1:secret:s".into())
        );
        assert!(!format!("{config:?}").contains("client-secret-value"));
    }

    #[test]
    fn a_list_of_issuers_is_accepted_for_a_custom_domain_migration() {
        let mut vars = BASE.to_vec();
        vars.push((
            "SCALEKIT_ISSUER",
            "https://acme.scalekit.dev, https://auth.acme.com",
        ));
        let config = load(&vars, Needs::default()).unwrap();
        assert_eq!(
            config.scalekit.issuers,
            ["https://acme.scalekit.dev", "https://auth.acme.com"]
        );
        let mut bad = BASE.to_vec();
        bad.push(("SCALEKIT_ISSUER", "https://auth.acme.com,not-a-url"));
        let error = load(&bad, Needs::default()).unwrap_err().to_string();
        assert!(error.contains("SCALEKIT_ISSUER"), "{error}");
        let config = load(BASE, Needs::default()).unwrap();
        assert!(
            config.scalekit.issuers.is_empty(),
            "default: the environment URL"
        );
    }

    #[test]
    fn several_app_origins_are_read_and_each_validated() {
        let mut vars = BASE.to_vec();
        vars.push((
            "APP_BASE_URL",
            "https://app.example.com, https://tenant.example.com/",
        ));
        let config = load(&vars, Needs::default()).unwrap();
        assert_eq!(
            config.app_origins.as_slice(),
            ["https://app.example.com", "https://tenant.example.com"]
        );
        let mut bad = BASE.to_vec();
        bad.push((
            "APP_BASE_URL",
            "https://app.example.com,http://tenant.example.com",
        ));
        assert!(load(&bad, Needs::default()).is_err());
    }

    #[test]
    fn localhost_may_use_http() {
        let mut vars: Vec<(&str, &str)> = BASE[1..].to_vec();
        vars.push(("SCALEKIT_ENVIRONMENT_URL", "http://127.0.0.1:3001"));
        vars.push(("APP_BASE_URL", "http://localhost:3000/"));
        let config = load(&vars, Needs::default()).unwrap();
        assert_eq!(config.app_origins.as_slice(), ["http://localhost:3000"]);
    }
}
