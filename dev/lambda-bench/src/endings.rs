//! Back-channel logout and webhooks, each warm invocation ending one session: a fresh sign-in
//! through the login and callback functions, ended at the dev Scalekit server, which mints the
//! logout token and the signed `user.logout` webhook that announce it; the function then gets
//! one of them. The Scalekit calls of that preparation (the callback's code exchange) are left
//! out of the counts.

use anyhow::{Context, Result};
use flow_tests::events;
use serde_json::Value;

use crate::bench::{Bench, Watched};
use crate::counts::exactly;
use crate::emulator::Container;
use crate::flow::{self, Answer};
use crate::warm::{self, Plan};

/// Whose sessions are ended: a demo user no other scenario signs in, so that the IdP sign-in
/// found for it is the one just made, and its end names exactly one session (by its `sid`).
const ENDED_USER: &str = "usr_carol";

/// What ends the session.
#[derive(Clone, Copy)]
enum Delivery {
    LogoutToken,
    Webhook,
}

impl Delivery {
    fn function(self) -> &'static str {
        match self {
            Delivery::LogoutToken => "backchannel-logout",
            Delivery::Webhook => "webhook",
        }
    }

    fn case(self) -> &'static str {
        match self {
            Delivery::LogoutToken => ", a logout token ending one session",
            Delivery::Webhook => ", a user.logout webhook ending one session",
        }
    }
}

/// Both functions, with `login` and `callback` (running containers) signing in the sessions
/// they end; returns their containers.
pub async fn measure(
    bench: &mut Bench,
    login: &mut Container,
    callback: &mut Container,
) -> Result<Vec<Watched>> {
    let mut watched = Vec::new();
    for delivery in [Delivery::LogoutToken, Delivery::Webhook] {
        watched.push(one(bench, login, callback, delivery).await?);
    }
    Ok(watched)
}

async fn one(
    bench: &mut Bench,
    login: &mut Container,
    callback: &mut Container,
    delivery: Delivery,
) -> Result<Watched> {
    let first_event = prepared(bench, login, callback, delivery).await?;
    let name = delivery.function();
    let mut container = bench.watch(name).await?;
    let plan = Plan {
        first_event: &first_event,
        answer: Answer::Status(200),
        case: delivery.case(),
        handler_cpu: None,
        handler_target: None,
        process_target: None,
    };
    let (_, counts) = warm::invocations(bench, &mut container, plan, async |bench: &mut Bench| {
        prepared(bench, login, callback, delivery).await
    })
    .await?;
    let n = bench.options.iterations;
    let expected = [
        ("PutItem", 2.0),
        ("Query", 1.0),
        ("GetItem", 1.0),
        ("DeleteItem", 1.0),
    ];
    bench.table.target(
        name,
        format!(
            "network calls per warm invocation{} (n={n})",
            delivery.case()
        ),
        counts.warm(),
        "Scalekit: none; AWS: PutItem 2 (the replay marker, taken, then kept), Query 1, GetItem 1, DeleteItem 1",
        exactly(&counts.scalekit_warm, &[]) && exactly(&counts.aws_warm, &expected),
    );
    bench.table.info(
        name,
        format!(
            "network calls at init + first invocation{}",
            delivery.case()
        ),
        counts.init(),
    );
    Ok(container)
}

/// A new session of [`ENDED_USER`], ended at the IdP, and the event that delivers its end; the
/// Scalekit calls made meanwhile are set aside.
async fn prepared(
    bench: &mut Bench,
    login: &mut Container,
    callback: &mut Container,
    delivery: Delivery,
) -> Result<Value> {
    let mark = bench.scalekit_mark();
    let idp = bench.stack.idp();
    flow::signed_in_as(login, callback, idp, ENDED_USER, None).await?;
    let sign_in = idp
        .sign_ins()
        .into_iter()
        .rev()
        .find(|s| s.user_id == ENDED_USER)
        .context("no sign-in at the IdP")?;
    let ended = idp
        .end_sign_in(&sign_in.session_id)
        .context("the sign-in had already ended")?;
    bench.set_aside_since(&mark);
    Ok(match delivery {
        Delivery::LogoutToken => {
            let mut event = flow::event("backchannel-logout-signed");
            event["isBase64Encoded"] = Value::Bool(false);
            event["body"] = Value::String(format!("logout_token={}", ended.logout_token));
            event
        }
        Delivery::Webhook => {
            let mut event = flow::event("webhook-user-logout");
            for (name, value) in ended.webhook.headers() {
                events::set_header(&mut event, name, &value);
            }
            event["body"] = Value::String(ended.webhook.body);
            event
        }
    })
}
