//! Delivering what an ended sign-in announces: the logout token to the back-channel logout URI
//! and the `user.logout` webhook to the webhook URL.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::Client;

use crate::sessions::EndedSignIn;
use crate::state::Shared;
use crate::DevScalekit;

/// How long one delivery may take, connection included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`DevScalekit::deliver`] got back from each receiver: `None` when its URL is not
/// configured, else the HTTP status or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The logout token `POST`ed to the back-channel logout URI.
    pub backchannel_logout: Option<Result<u16, String>>,
    /// The `user.logout` webhook `POST`ed to the webhook URL.
    pub webhook: Option<Result<u16, String>>,
}

fn client(shared: &Shared) -> Result<&Client, String> {
    shared
        .http
        .get_or_init(|| {
            Client::builder()
                .timeout(DELIVERY_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|error| describe(&error))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The error and its causes, e.g. `error sending request for url (...): ...: Connection refused`.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn outcome(what: &str, url: &str, sent: reqwest::Result<reqwest::Response>) -> Result<u16, String> {
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            tracing::info!(%url, status, "delivered {what}");
            Ok(status)
        }
        Err(error) => {
            let error = describe(&error);
            tracing::warn!(%url, %error, "could not deliver {what}");
            Err(error)
        }
    }
}

pub(crate) async fn deliver(shared: &Shared, ended: &EndedSignIn) -> Delivery {
    let http = client(shared);
    let backchannel = async {
        let uri = shared.backchannel_logout_uri.as_deref()?;
        let http = match &http {
            Ok(http) => http,
            Err(error) => return Some(Err(error.clone())),
        };
        let sent = http
            .post(uri)
            .form(&[("logout_token", ended.logout_token.as_str())])
            .send()
            .await;
        Some(outcome("the logout token", uri, sent))
    };
    let webhook = async {
        let url = shared.webhook_url.as_deref()?;
        let http = match &http {
            Ok(http) => http,
            Err(error) => return Some(Err(error.clone())),
        };
        let mut request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(ended.webhook.body.clone());
        for (name, value) in ended.webhook.headers() {
            request = request.header(name, value);
        }
        Some(outcome(
            "the user.logout webhook",
            url,
            request.send().await,
        ))
    };
    let (backchannel_logout, webhook) = tokio::join!(backchannel, webhook);
    Delivery {
        backchannel_logout,
        webhook,
    }
}

impl DevScalekit {
    /// Delivers `ended` as Scalekit would, to the receivers configured in
    /// [`crate::DevScalekitOptions`], at the same time, each within 5 s:
    /// - the logout token to `backchannel_logout_uri`, `POST`
    ///   `application/x-www-form-urlencoded` `logout_token=...`;
    /// - the webhook to `webhook_url`, `POST` `application/json` with the `webhook-id`,
    ///   `webhook-timestamp` and `webhook-signature` headers.
    ///
    /// Redirects are not followed.
    pub async fn deliver(&self, ended: &EndedSignIn) -> Delivery {
        deliver(&self.shared, ended).await
    }
}
