//! `POST /api/scalekit/webhook`: Scalekit's webhooks, verified as Scalekit's SDKs verify them
//! (`shared::webhook`), and acted on, once per `webhook-id`, when they end sessions:
//! `user.logout` (the Scalekit session), `user.organization_membership_deleted` (the user's
//! sessions in that organization), `organization.deleted` (every session in it).
//!
//! Answers: `200` for every verified event (acted on or not: Scalekit retries failures), `401`
//! for a missing, bad or stale signature, `400` for a body that is not a Scalekit event, `413` for
//! a body over 256 KiB, `503` when the table fails (Scalekit delivers it again).

use std::time::Instant;

use lambda_http::http::{HeaderName, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::config::Needs;
use shared::http;
use shared::metrics::{self, Count};
use shared::scalekit::unix_now;
use shared::session::{end_sessions_once, Unavailable};
use shared::webhook::{parse_event, Delivery, EventError, WebhookError};
use shared::{failures, App};

/// Verifies webhooks and ends sessions.
pub const NEEDS: Needs = Needs {
    session_table: true,
    webhook_secret: true,
    ..Needs::NONE
};

/// Scalekit's events are a few kilobytes.
const MAX_BODY: usize = 256 * 1024;
/// How long a delivery's `webhook-id` is remembered: Scalekit retries a failed delivery for
/// hours with the same id.
const DEDUPE_SECS: i64 = 3 * 24 * 3600;

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let body = match http::post_body(&req, MAX_BODY) {
        Ok(body) => body,
        Err(refusal) => return refusal.to_response(&req),
    };
    let header = |name: &'static str| {
        req.headers()
            .get(HeaderName::from_static(name))
            .and_then(|v| v.to_str().ok())
    };
    let delivery = Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    };
    match verify(app, &delivery).await {
        Ok(()) => {}
        Err(Refused::Signature(error)) => {
            tracing::warn!(outcome = "webhook_refused", reason = %error);
            return refused(&req, &failures::INVALID_WEBHOOK_SIGNATURE);
        }
        Err(Refused::Secret(error)) => return refused(&req, &failures::secrets(&error)),
    }
    let event = match parse_event(body) {
        Ok(event) => event,
        Err(error @ (EventError::NotJson | EventError::NotAnEvent)) => {
            tracing::warn!(outcome = "webhook_refused", reason = %error);
            return refused(&req, &failures::INVALID_WEBHOOK_PAYLOAD);
        }
    };
    // Verified: the id is the sender's, and a signature header is present.
    let id = delivery.id.unwrap_or_default();
    match act(app, id, &event.ends).await {
        Ok(Acted::Duplicate) => {
            tracing::info!(outcome = "webhook_duplicate", kind = event.kind);
            metrics::count(Count::Webhooks, "duplicate", None);
            http::json(
                StatusCode::OK,
                &json!({"received": event.kind, "duplicate": true}),
            )
        }
        Ok(Acted::Ended(ended)) => {
            tracing::info!(outcome = "webhook", kind = event.kind, ended);
            let outcome = if event.ends.is_some() {
                "acted"
            } else {
                "ignored"
            };
            metrics::count(Count::Webhooks, outcome, None);
            http::json(
                StatusCode::OK,
                &json!({"received": event.kind, "ended": ended}),
            )
        }
        Err(cause) => refused(&req, &failures::session_unavailable(&cause)),
    }
}

/// Answers `error`, counted (`refused` for a 4xx, `failed` for a 5xx).
fn refused(req: &Request, error: &shared::http::ApiError) -> Response<Body> {
    metrics::refusal(Count::Webhooks, error);
    error.to_response(req)
}

enum Refused {
    Signature(WebhookError),
    Secret(shared::secret_cache::SecretError),
}

/// Verifies with the cached secret, and once more with a re-read one when the signature does
/// not match (the secret may have been rotated under this container; the re-read is
/// rate-limited, so forged deliveries cannot turn into a flood of Secrets Manager calls).
async fn verify(app: &App, delivery: &Delivery<'_>) -> Result<(), Refused> {
    let secrets = app.webhook_secret();
    let secret = secrets.get().await.map_err(Refused::Secret)?;
    let observed_at = Instant::now();
    match secret.verify(delivery, unix_now()) {
        Err(WebhookError::BadSignature) => {
            let reread = secrets.reread(observed_at).await.map_err(Refused::Secret)?;
            reread
                .value
                .verify(delivery, unix_now())
                .map_err(Refused::Signature)
        }
        other => other.map_err(Refused::Signature),
    }
}

enum Acted {
    Duplicate,
    Ended(usize),
}

/// Ends what the event ends, once per delivery id. An event that ends nothing is not remembered:
/// answering it again changes nothing either.
async fn act(
    app: &App,
    id: &str,
    ends: &Option<shared::session::Ending>,
) -> Result<Acted, Unavailable> {
    let Some(ending) = ends else {
        return Ok(Acted::Ended(0));
    };
    let marker = format!("webhook:{id}");
    let until = unix_now() + DEDUPE_SECS;
    Ok(
        match end_sessions_once(app, &marker, until, ending).await? {
            Some(ended) => Acted::Ended(ended),
            None => Acted::Duplicate,
        },
    )
}
