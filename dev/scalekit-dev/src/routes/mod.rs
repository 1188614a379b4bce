//! The HTTP routes and the response helpers they share.

pub(crate) mod authorize;
mod dev;
mod keys;
mod logout;
mod sessions;
pub(crate) mod sign_in;
mod token;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::pages;
use crate::state::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/token", post(token::token))
        .route("/keys", get(keys::keys))
        .route("/.well-known/openid-configuration", get(keys::discovery))
        .route("/oidc/logout", get(logout::logout))
        .route("/dev", get(dev::index))
        .route("/dev/idp-initiated", get(dev::idp_initiated))
        .route(
            "/api/v1/users/{user_id}/sessions/revoke",
            post(sessions::revoke_user_sessions),
        )
        .route(
            "/api/v1/sessions/{session_id}/revoke",
            post(sessions::revoke_session),
        )
        .route(
            "/api/v1/organizations/{organization_id}",
            get(sessions::organization),
        )
        .route("/dev/sign-in", post(sign_in::sign_in))
        .route("/dev/sign-ins/{session_id}/end", post(dev::end_sign_in))
        .layer(middleware::from_fn(log_request))
        .with_state(shared)
}

/// One line per request: method, path (never the query: it carries codes and tokens), status.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "request");
    response
}

/// A 200 `application/json` answer that starts with `prefix` and never ends: chunked, with no
/// `Content-Length`, as fast as the client reads it (a broken or hostile server).
pub(crate) fn endless_json(prefix: &'static str) -> Response {
    const FILLER: &[u8] = &[b'a'; 16 * 1024];
    let head = futures_util::stream::once(async move { Bytes::from_static(prefix.as_bytes()) });
    let tail = futures_util::stream::repeat_with(|| Bytes::from_static(FILLER));
    let body = head.chain(tail).map(Ok::<_, std::convert::Infallible>);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Query or form parameters. Per RFC 6749 §3.1 an empty value counts as absent.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(raw)
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn is_repeated(&self, name: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == name).count() > 1
    }

    /// The first parameter that appears more than once (RFC 6749 forbids repeats).
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.0.iter().enumerate().find_map(|(i, (k, _))| {
            self.0[..i]
                .iter()
                .any(|(earlier, _)| earlier == k)
                .then_some(k.as_str())
        })
    }
}

const NO_STORE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
];

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        NO_STORE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn error_page(title: &str, message: &str) -> Response {
    html(StatusCode::BAD_REQUEST, pages::error(title, message))
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        NO_STORE,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An RFC 6749 §5.2 error body.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// A 302 (what Scalekit sends; axum's `Redirect` has no 302 constructor).
pub(crate) fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => {
            (StatusCode::FOUND, NO_STORE, [(header::LOCATION, location)]).into_response()
        }
        Err(_) => error_page(
            "Bad redirect",
            "The redirect target is not a valid header value.",
        ),
    }
}

/// `base` with `pairs` appended to its query (keeping any query it already has).
pub(crate) fn with_query(base: &str, pairs: &[(&str, Option<&str>)]) -> Option<String> {
    let mut url = url::Url::parse(base).ok()?;
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(name, value)| value.map(|v| (*name, v)))
        .collect();
    // Opening `query_pairs_mut` with nothing to add would still leave a bare `?`.
    if !present.is_empty() {
        url.query_pairs_mut().extend_pairs(present);
    }
    Some(url.into())
}

/// Why the IdP does not send the browser on: a page of its own (the request cannot be trusted
/// to redirect), or an error redirect back to a redirect URI already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An error page on this server.
    Page {
        title: &'static str,
        message: &'static str,
    },
    /// `Location` of an error redirect (`error`, `error_description`, `state`).
    Redirect(String),
}

impl Refusal {
    pub(crate) fn page(title: &'static str, message: &'static str) -> Self {
        Self::Page { title, message }
    }

    /// Redirects an authorization error back to a redirect URI that has already been validated.
    pub(crate) fn redirect(
        redirect_uri: &str,
        error: &str,
        description: &str,
        state: Option<&str>,
    ) -> Self {
        let pairs = [
            ("error", Some(error)),
            ("error_description", Some(description)),
            ("state", state),
        ];
        match with_query(redirect_uri, &pairs) {
            Some(location) => Self::Redirect(location),
            None => Self::page(
                "Invalid redirect URI",
                "The redirect_uri is not a valid URL.",
            ),
        }
    }

    /// An error redirect is where the browser goes next, as a completed step does.
    pub(crate) fn followed(self) -> Result<sign_in::Completed, Self> {
        match self {
            Self::Redirect(location) => Ok(sign_in::Completed::Redirect(location)),
            page => Err(page),
        }
    }

    /// For [`crate::DevScalekit::authorize_as`]: an error redirect is where the browser goes.
    pub(crate) fn into_location(self) -> Result<String, crate::SignInRefused> {
        match self {
            Self::Redirect(location) => Ok(location),
            Self::Page { title, message } => Err(crate::SignInRefused::Page {
                title: title.to_owned(),
                message: message.to_owned(),
            }),
        }
    }

    pub(crate) fn into_response(self) -> Response {
        match self {
            Self::Page { title, message } => error_page(title, message),
            Self::Redirect(location) => redirect(&location),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_treat_empty_values_as_absent_and_find_repeats() {
        let p = Params::parse(b"a=1&b=&c=x%20y&a=2");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.repeated(), Some("a"));
        assert!(p.is_repeated("a") && !p.is_repeated("c"));
        assert_eq!(Params::parse(b"a=1&b=2").repeated(), None);
    }

    #[test]
    fn with_query_keeps_the_existing_query() {
        assert_eq!(
            with_query("http://h/cb?x=1", &[("code", Some("c")), ("state", None)]).as_deref(),
            Some("http://h/cb?x=1&code=c")
        );
        assert_eq!(
            with_query("http://h/bye", &[("state", None)]).as_deref(),
            Some("http://h/bye")
        );
    }
}
