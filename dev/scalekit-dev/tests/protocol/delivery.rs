//! Delivering an ended sign-in to a stub app (`DevScalekit::deliver`), and ending one from the
//! `/dev` page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::Request;
use reqwest::StatusCode;
use scalekit_dev::{Delivery, DevScalekit, DevScalekitOptions};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::common::*;

/// One request the stub app received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// A stub app: answers `POST /backchannel-logout` with 200 and `POST /webhooks` with 204
/// (anything else 404), and keeps every request.
struct StubApp {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl StubApp {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        let app = axum::Router::new().fallback(move |request: Request| {
            let store = Arc::clone(&store);
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.expect("body");
                let path = parts.uri.path().to_owned();
                let status = match path.as_str() {
                    "/backchannel-logout" => StatusCode::OK,
                    "/webhooks" => StatusCode::NO_CONTENT,
                    _ => StatusCode::NOT_FOUND,
                };
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Received {
                        method: parts.method.to_string(),
                        path,
                        headers: parts
                            .headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                status
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("stub app");
        });
        Self {
            url,
            received,
            task,
        }
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// A dev Scalekit that delivers to this app.
    async fn idp(&self) -> DevScalekit {
        DevScalekit::start_with(DevScalekitOptions {
            backchannel_logout_uri: Some(format!("{}/backchannel-logout", self.url)),
            webhook_url: Some(format!("{}/webhooks", self.url)),
            ..DevScalekitOptions::default()
        })
        .await
        .expect("start")
    }
}

impl Drop for StubApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sid_of(tokens: &Value) -> String {
    let (_, claims) = decode(tokens["id_token"].as_str().expect("id_token"));
    claims["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn deliver_posts_the_logout_token_as_a_form_and_the_webhook_as_signed_json() {
    let app = StubApp::start().await;
    let sk = app.idp().await;
    let sid = sid_of(&login(&sk, "usr_bob", None).await);
    let ended = sk.end_sign_in(&sid).expect("ended");

    let delivery = sk.deliver(&ended).await;
    assert_eq!(
        delivery,
        Delivery {
            backchannel_logout: Some(Ok(200)),
            webhook: Some(Ok(204)),
        }
    );

    let logout = app.received("/backchannel-logout");
    assert_eq!(logout.len(), 1);
    assert_eq!(logout[0].method, "POST");
    assert_eq!(
        logout[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(logout[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form,
        [("logout_token".to_owned(), ended.logout_token.clone())]
    );

    let webhooks = app.received("/webhooks");
    assert_eq!(webhooks.len(), 1);
    let webhook = &webhooks[0];
    assert_eq!(webhook.method, "POST");
    assert_eq!(webhook.headers["content-type"], "application/json");
    assert_eq!(webhook.headers["webhook-id"], ended.webhook.id);
    assert_eq!(
        webhook.headers["webhook-timestamp"],
        ended.webhook.timestamp.to_string()
    );
    assert_eq!(
        webhook.headers["webhook-signature"],
        ended.webhook.signature
    );
    assert_eq!(webhook.body, ended.webhook.body);
}

#[tokio::test]
async fn deliver_reports_unconfigured_receivers_errors_and_statuses() {
    let unconfigured = DevScalekit::start().await.expect("start");
    let sid = sid_of(&login(&unconfigured, "usr_bob", None).await);
    let ended = unconfigured.end_sign_in(&sid).expect("ended");
    assert_eq!(
        unconfigured.deliver(&ended).await,
        Delivery {
            backchannel_logout: None,
            webhook: None,
        }
    );

    // A port nobody listens on, and a path the stub app answers 404.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed_url = format!("http://{}/logout", closed.local_addr().expect("addr"));
    drop(closed);
    let app = StubApp::start().await;
    let sk = DevScalekit::start_with(DevScalekitOptions {
        backchannel_logout_uri: Some(closed_url),
        webhook_url: Some(format!("{}/elsewhere", app.url)),
        ..DevScalekitOptions::default()
    })
    .await
    .expect("start");
    let sid = sid_of(&login(&sk, "usr_bob", None).await);
    let delivery = sk.deliver(&sk.end_sign_in(&sid).expect("ended")).await;
    assert!(
        matches!(&delivery.backchannel_logout, Some(Err(error)) if !error.is_empty()),
        "{delivery:?}"
    );
    assert_eq!(delivery.webhook, Some(Ok(404)));
}

#[tokio::test]
async fn the_dev_page_lists_active_sign_ins_and_ends_one_at_the_idp() {
    let app = StubApp::start().await;
    let sk = app.idp().await;
    let index = text(get(&format!("{}/dev", sk.url())).await).await;
    assert!(index.contains("Active sign-ins") && index.contains("No active sign-ins."));

    let alice = sid_of(&login(&sk, "usr_alice", Some("org_globex")).await);
    let bob_tokens = login(&sk, "usr_bob", None).await;
    let bob = sid_of(&bob_tokens);
    let index = text(get(&format!("{}/dev", sk.url())).await).await;
    for expected in [
        "Alice Anderson &lt;alice@acme.test&gt;",
        "Globex (<code>org_globex</code>)",
        &format!("<code>{alice}</code>"),
        &format!("action=\"/dev/sign-ins/{alice}/end\""),
        &format!("id=\"end-{alice}\""),
        "Bob Brown &lt;bob@globex.test&gt;",
        &format!("id=\"end-{bob}\""),
        &format!("{}/backchannel-logout", app.url),
    ] {
        assert!(index.contains(expected), "{expected} in {index}");
    }
    assert!(!index.contains("No active sign-ins."));

    let response = client()
        .post(format!("{}/dev/sign-ins/{bob}/end", sk.url()))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    let page = text(response).await;
    assert!(page.contains("Sign-in ended"), "{page}");
    assert!(page.contains(&format!("<code>{bob}</code>")));
    assert!(page.contains("Bob Brown &lt;bob@globex.test&gt;"));
    assert!(
        page.contains("HTTP 200") && page.contains("HTTP 204"),
        "{page}"
    );
    assert!(page.contains("href=\"/dev\""));

    let logout = app.received("/backchannel-logout");
    assert_eq!(logout.len(), 1);
    let token = logout[0].body.strip_prefix("logout_token=").expect("form");
    assert_eq!(decode(token).1["sid"], bob);
    let webhooks = app.received("/webhooks");
    assert_eq!(webhooks.len(), 1);
    let event: Value = serde_json::from_str(&webhooks[0].body).expect("JSON");
    assert_eq!(event["data"]["user_session"]["session_id"], bob);

    let remaining: Vec<String> = sk.sign_ins().into_iter().map(|s| s.session_id).collect();
    assert_eq!(remaining, [alice.as_str()]);
    let (status, _) = refresh(&sk, bob_tokens["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let index = text(get(&format!("{}/dev", sk.url())).await).await;
    assert!(!index.contains(&bob) && index.contains(&alice));

    let again = client()
        .post(format!("{}/dev/sign-ins/{bob}/end", sk.url()))
        .send()
        .await
        .expect("POST");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.received("/webhooks").len(), 1);
}

#[tokio::test]
async fn an_rp_initiated_logout_ends_the_hinted_sign_in_and_tells_the_app_as_every_logout_does() {
    let app = StubApp::start().await;
    let sk = app.idp().await;
    let tokens = login(&sk, "usr_bob", None).await;
    let sid = sid_of(&tokens);
    let other = login(&sk, "usr_carol", None).await;
    assert_eq!(sk.sign_ins().len(), 2);

    let hint = tokens["id_token"].as_str().expect("id_token");
    let url = format!(
        "{}/oidc/logout?id_token_hint={hint}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%2Fbye",
        sk.url()
    );
    assert_eq!(get(&url).await.status(), StatusCode::FOUND);
    let active: Vec<String> = sk.sign_ins().into_iter().map(|s| s.session_id).collect();
    assert_eq!(
        active,
        [sid_of(&other)],
        "bob's sign-in ended, carol's did not"
    );

    // The deliveries go out in the background: wait for them.
    for _ in 0..50 {
        if !app.received("/backchannel-logout").is_empty() && !app.received("/webhooks").is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let logout = app.received("/backchannel-logout");
    assert_eq!(logout.len(), 1);
    let token = logout[0]
        .body
        .strip_prefix("logout_token=")
        .expect("a form");
    let (_, claims) = decode(token);
    assert_eq!(claims["sid"], sid.as_str());
    let webhook = app.received("/webhooks");
    assert_eq!(webhook.len(), 1);
    assert!(webhook[0].body.contains(&sid));
    // Bob's refresh token is spent with his sign-in.
    let (status, _) = refresh(&sk, tokens["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
