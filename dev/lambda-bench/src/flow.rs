//! API Gateway events, a browser's cookie jar and the user's part of a login at the dev server.

use std::collections::BTreeMap;

use serde_json::Value;

/// The sample events the bench sends (`events/*.json`), built in.
pub fn event(name: &str) -> Value {
    let text = match name {
        "login-plain" => include_str!("../../../events/login-plain.json"),
        "callback-success" => include_str!("../../../events/callback-success.json"),
        "session-signed-in" => include_str!("../../../events/session-signed-in.json"),
        "profile-signed-in" => include_str!("../../../events/profile-signed-in.json"),
        "refresh-signed-in" => include_str!("../../../events/refresh-signed-in.json"),
        "logout-with-session" => include_str!("../../../events/logout-with-session.json"),
        other => panic!("no built-in event {other}"),
    };
    serde_json::from_str(text).expect("sample events are JSON")
}

/// Replaces an event's query string (raw and parsed, as API Gateway fills both).
pub fn set_query(event: &mut Value, raw_query: &str) {
    event["rawQueryString"] = Value::String(raw_query.to_owned());
    let mut parsed = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        parsed.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let object = event.as_object_mut().expect("events are objects");
    if parsed.is_empty() {
        object.remove("queryStringParameters");
    } else {
        object.insert("queryStringParameters".into(), Value::Object(parsed));
    }
}

/// Replaces an event's cookies (`name=value`, as API Gateway passes them).
pub fn set_cookies(event: &mut Value, cookies: &[String]) {
    let object = event.as_object_mut().expect("events are objects");
    if cookies.is_empty() {
        object.remove("cookies");
    } else {
        object.insert("cookies".into(), Value::from(cookies.to_vec()));
    }
}

/// The sample event `name` with the browser's cookies.
pub fn event_with_cookies(name: &str, browser: &Browser) -> Value {
    let mut event = event(name);
    set_cookies(&mut event, &browser.cookies());
    event
}

/// The callback event for the IdP's redirect back (`https://host/api/callback?code=..&state=..`).
pub fn callback_event(redirect: &str, browser: &Browser) -> Result<Value, String> {
    let url = url::Url::parse(redirect).map_err(|e| format!("IdP redirect {redirect}: {e}"))?;
    if url.path() != "/api/callback" {
        return Err(format!("IdP redirected to {}", url.path()));
    }
    let mut event = event_with_cookies("callback-success", browser);
    set_query(&mut event, url.query().unwrap_or(""));
    Ok(event)
}

/// The status code of an API Gateway (payload 2.0) response.
pub fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().unwrap_or(0)
}

/// The `Location` of an API Gateway response.
pub fn location(response: &Value) -> Option<String> {
    response["headers"]["location"].as_str().map(str::to_owned)
}

/// Cookies as a browser keeps them.
#[derive(Debug, Default, Clone)]
pub struct Browser {
    jar: BTreeMap<String, String>,
}

impl Browser {
    /// Applies `Set-Cookie` header values; `Max-Age=0` deletes.
    pub fn absorb<'a>(&mut self, set_cookies: impl IntoIterator<Item = &'a str>) {
        for header in set_cookies {
            let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if attributes.contains("Max-Age=0") {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    /// Applies the `cookies` of an API Gateway (payload 2.0) response.
    pub fn absorb_response(&mut self, response: &Value) {
        let cookies = response["cookies"].as_array().cloned().unwrap_or_default();
        self.absorb(cookies.iter().filter_map(Value::as_str));
    }

    /// The cookies to send, as API Gateway's `cookies` array.
    pub fn cookies(&self) -> Vec<String> {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Whether the jar holds `name`.
    pub fn has(&self, name: &str) -> bool {
        self.jar.contains_key(name)
    }
}

fn extract_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

/// The user's part: opens the authorization URL, signs in as `user` (a demo user with one
/// organization, so no picker) and returns where the IdP sends the browser back to.
pub async fn sign_in_at_idp(
    http: &reqwest::Client,
    idp_url: &str,
    authorize_url: &str,
    user: &str,
) -> Result<String, String> {
    let page = http
        .get(authorize_url)
        .send()
        .await
        .map_err(|e| format!("authorize: {e}"))?
        .text()
        .await
        .map_err(|e| format!("authorize page: {e}"))?;
    let pending = extract_value(&page, "pending").ok_or("no sign-in form on the IdP page")?;
    let response = http
        .post(format!("{idp_url}/dev/sign-in"))
        .form(&[("pending", pending.as_str()), ("user", user)])
        .send()
        .await
        .map_err(|e| format!("sign-in: {e}"))?;
    if !response.status().is_redirection() {
        return Err(format!("sign-in answered {}", response.status()));
    }
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "sign-in redirect without Location".to_owned())
}

/// An HTTP client that does not follow redirects (the browser's steps are taken one by one).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client builds")
}
