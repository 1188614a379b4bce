//! A browser's cookie jar, applying `Set-Cookie` headers from handler responses.

use std::collections::BTreeMap;

use lambda_http::http::header::{LOCATION, SET_COOKIE};
use lambda_http::{Body, Response};

/// Cookies as a browser would keep them (attributes checked by the tests that care).
#[derive(Debug, Default, Clone)]
pub struct Browser {
    jar: BTreeMap<String, String>,
}

impl Browser {
    /// An empty jar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies every `Set-Cookie` of a response; `Max-Age=0` deletes.
    pub fn absorb(&mut self, response: &Response<Body>) {
        self.absorb_headers(response.headers());
    }

    /// Applies the `Set-Cookie` headers among `headers` (of any response type).
    pub fn absorb_headers(&mut self, headers: &lambda_http::http::HeaderMap) {
        let set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned());
        for header in set_cookies {
            let (pair, attributes) = header.split_once(';').unwrap_or((&header, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// Stores a cookie as if a response (ours or a sibling app's) had set it.
    pub fn set(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_owned(), value.to_owned());
    }

    /// The `Cookie` header a browser sends, if it holds any cookie.
    pub fn cookie_header(&self) -> Option<String> {
        (!self.jar.is_empty()).then(|| self.cookies().join("; "))
    }

    /// The cookies to send, as API Gateway's `cookies` array.
    pub fn cookies(&self) -> Vec<String> {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// One cookie's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// Names of the cookies held.
    pub fn names(&self) -> Vec<&str> {
        self.jar.keys().map(String::as_str).collect()
    }
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// The `Set-Cookie` header for one cookie name.
pub fn set_cookie_for(response: &Response<Body>, name: &str) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|h| h.starts_with(&format!("{name}=")))
}

/// The `Location` of a redirect.
pub fn location(response: &Response<Body>) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The body as text.
pub fn body_text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Body::Empty => String::new(),
        _ => String::new(),
    }
}
