//! Scalekit webhooks: signature verification as Scalekit's SDKs do it (`verifyWebhookPayload`,
//! the Svix / Standard Webhooks scheme), and the events that end sessions.
//!
//! Headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (a
//! space-separated list of `v1,<base64 HMAC-SHA256>`); the signed content is
//! `"{id}.{timestamp}.{raw body}"`; the key is the base64-decoded part after `whsec_` of the
//! signing secret; the timestamp must be within five minutes of now, either way; signatures are
//! compared in constant time.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::crypto::constant_time_eq;
use crate::secret_cache::{json_field, SecretKind};
use crate::session::Ending;

/// How far a webhook's timestamp may be from now, either way (Scalekit's SDKs: 5 minutes).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A webhook signing secret (`whsec_...`), and during a rotation the previous one.
pub struct WebhookSecret {
    keys: Vec<hmac::Key>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// The key of a `whsec_<base64>` secret, as the SDKs read it: the second `_`-separated part,
/// base64-decoded.
fn key_of(secret: &str) -> Option<hmac::Key> {
    let encoded = secret.trim().split('_').nth(1)?;
    let bytes = STANDARD.decode(encoded).ok().filter(|b| !b.is_empty())?;
    Some(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

impl WebhookSecret {
    /// Verifies a delivery (see the module documentation); `now` in Unix seconds.
    pub fn verify(&self, delivery: &Delivery<'_>, now: i64) -> Result<(), WebhookError> {
        let (Some(id), Some(timestamp), Some(signatures)) =
            (delivery.id, delivery.timestamp, delivery.signature)
        else {
            return Err(WebhookError::MissingHeaders);
        };
        // Digits only: the SDKs re-serialise the parsed number, so "0123" would be signed as
        // "123"; refusing non-canonical forms keeps both readings the same.
        let canonical = !timestamp.is_empty()
            && timestamp.bytes().all(|b| b.is_ascii_digit())
            && !(timestamp.len() > 1 && timestamp.starts_with('0'));
        let sent_at: i64 = match timestamp.parse() {
            Ok(value) if canonical => value,
            _ => return Err(WebhookError::BadTimestamp),
        };
        if now - sent_at > TOLERANCE_SECS {
            return Err(WebhookError::TooOld);
        }
        if sent_at - now > TOLERANCE_SECS {
            return Err(WebhookError::TooNew);
        }
        let mut signed = Vec::with_capacity(id.len() + timestamp.len() + delivery.body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(delivery.body);
        let expected: Vec<hmac::Tag> = self.keys.iter().map(|k| hmac::sign(k, &signed)).collect();
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, signature)| STANDARD.decode(signature).ok())
            .any(|received| {
                expected
                    .iter()
                    .any(|tag| constant_time_eq(tag.as_ref(), &received))
            });
        if matches {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

impl SecretKind for WebhookSecret {
    /// A delivery signed just before a rotation still verifies with the previous secret.
    const READS_PREVIOUS: bool = true;

    fn parse(raw: &str, previous: Option<&str>) -> Result<Self, &'static str> {
        let current = key_of(&json_field(raw, "webhook_secret")?)
            .ok_or("the webhook secret must be whsec_ followed by base64")?;
        let previous = previous
            .and_then(|old| json_field(old, "webhook_secret").ok())
            .and_then(|old| key_of(&old));
        Ok(Self {
            keys: std::iter::once(current).chain(previous).collect(),
        })
    }
}

/// What a webhook delivery carries: its three headers and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `webhook-id`.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub signature: Option<&'a str>,
    /// The body exactly as received.
    pub body: &'a [u8],
}

/// Why a delivery is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A signature header is missing.
    #[error("missing webhook headers")]
    MissingHeaders,
    /// `webhook-timestamp` is not a number of seconds.
    #[error("invalid webhook timestamp")]
    BadTimestamp,
    /// Sent more than five minutes ago.
    #[error("webhook timestamp too old")]
    TooOld,
    /// Sent more than five minutes from now.
    #[error("webhook timestamp too new")]
    TooNew,
    /// No `v1` signature matches.
    #[error("invalid webhook signature")]
    BadSignature,
}

/// A verified webhook event, as far as this product reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `type` (`user.logout`, ...).
    pub kind: String,
    /// The sessions it ends, if it ends any.
    pub ends: Option<Ending>,
}

/// Why a verified body is not an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("the body is not JSON")]
    NotJson,
    /// JSON, but not a Scalekit event (no `type`), or an event that must end sessions without
    /// the fields that say which.
    #[error("the body is not a Scalekit event")]
    NotAnEvent,
}

/// Reads a verified body: its type and, for the events that end sessions, which ones.
///
/// - `user.logout`: the Scalekit session `data.user_session.session_id` (of
///   `data.user_session.user_id`, else `data.user.id`, when given);
/// - `user.organization_membership_deleted`: the sessions of `data.user.id` in
///   `data.organization.id`;
/// - `organization.deleted`: every session in `data.id`.
///
/// Scalekit documents no user-deleted event; other events end nothing.
pub fn parse_event(body: &[u8]) -> Result<Event, EventError> {
    let event: Value = serde_json::from_slice(body).map_err(|_| EventError::NotJson)?;
    let text = |pointer: &str| {
        event
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let kind = text("/type").ok_or(EventError::NotAnEvent)?;
    let required = |pointer: &str| text(pointer).ok_or(EventError::NotAnEvent);
    let ends = match kind.as_str() {
        "user.logout" => Some(Ending::ScalekitSession {
            session_id: required("/data/user_session/session_id")?,
            user_id: text("/data/user_session/user_id").or_else(|| text("/data/user/id")),
        }),
        "user.organization_membership_deleted" => Some(Ending::Membership {
            user_id: required("/data/user/id")?,
            organization_id: required("/data/organization/id")?,
        }),
        "organization.deleted" => Some(Ending::Organization {
            organization_id: required("/data/id")?,
        }),
        _ => None,
    };
    Ok(Event { kind, ends })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NOW: i64 = 1_800_000_000;

    fn sign(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
        let key = key_of(secret).unwrap();
        let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    fn delivery<'a>(
        id: &'a str,
        timestamp: &'a str,
        signature: &'a str,
        body: &'a str,
    ) -> Delivery<'a> {
        Delivery {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
            body: body.as_bytes(),
        }
    }

    #[test]
    fn a_delivery_signed_as_the_sdks_sign_verifies_and_any_change_is_refused() {
        let secret = <WebhookSecret as SecretKind>::parse(SECRET, None).unwrap();
        let body = r#"{"type":"user.logout"}"#;
        let ts = NOW.to_string();
        let good = sign(SECRET, "msg_1", &ts, body);
        assert_eq!(
            secret.verify(&delivery("msg_1", &ts, &good, body), NOW),
            Ok(())
        );
        // Several signatures (a rotation): any v1 match will do; other versions are skipped.
        let listed = format!("v2,AAAA v1,bm90LWl0 {good}");
        assert_eq!(
            secret.verify(&delivery("msg_1", &ts, &listed, body), NOW),
            Ok(())
        );

        let edited = r#"{"type":"user.login"}"#;
        let other_version = good.replacen("v1,", "v2,", 1);
        let other_key = sign("whsec_b3RoZXIta2V5", "msg_1", &ts, body);
        let padded = format!("0{ts}");
        let cases = [
            (
                delivery("msg_1", &ts, &good, edited),
                WebhookError::BadSignature,
            ),
            (
                delivery("msg_2", &ts, &good, body),
                WebhookError::BadSignature,
            ),
            (
                delivery("msg_1", &ts, &other_version, body),
                WebhookError::BadSignature,
            ),
            (
                delivery("msg_1", &ts, "v1,not base64!", body),
                WebhookError::BadSignature,
            ),
            (delivery("msg_1", &ts, "", body), WebhookError::BadSignature),
            (
                delivery("msg_1", &ts, &other_key, body),
                WebhookError::BadSignature,
            ),
            (
                delivery("msg_1", "soon", &good, body),
                WebhookError::BadTimestamp,
            ),
            (
                delivery("msg_1", "-1", &good, body),
                WebhookError::BadTimestamp,
            ),
            (
                delivery("msg_1", &padded, &good, body),
                WebhookError::BadTimestamp,
            ),
        ];
        for (delivery, expected) in cases {
            assert_eq!(secret.verify(&delivery, NOW), Err(expected), "{delivery:?}");
        }
        let missing = Delivery {
            signature: None,
            ..delivery("msg_1", &ts, &good, body)
        };
        assert_eq!(
            secret.verify(&missing, NOW),
            Err(WebhookError::MissingHeaders)
        );
    }

    #[test]
    fn the_secret_is_read_bare_or_as_json_like_the_other_secrets() {
        let json = format!(r#"{{"webhook_secret": "{SECRET}"}}"#);
        for raw in [SECRET, json.as_str()] {
            assert!(
                <WebhookSecret as SecretKind>::parse(raw, None).is_ok(),
                "{raw}"
            );
        }
        for raw in [
            r#"{"client_secret": "whsec_MfKQ9r8G"}"#,
            "{not json",
            "whsec_",
            "secret",
        ] {
            assert!(
                <WebhookSecret as SecretKind>::parse(raw, None).is_err(),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_timestamp_must_be_within_five_minutes_either_way() {
        let secret = <WebhookSecret as SecretKind>::parse(SECRET, None).unwrap();
        let body = "{}";
        for (offset, expected) in [
            (-TOLERANCE_SECS, Ok(())),
            (TOLERANCE_SECS, Ok(())),
            (-TOLERANCE_SECS - 1, Err(WebhookError::TooOld)),
            (TOLERANCE_SECS + 1, Err(WebhookError::TooNew)),
        ] {
            let ts = (NOW + offset).to_string();
            let signature = sign(SECRET, "msg_1", &ts, body);
            assert_eq!(
                secret.verify(&delivery("msg_1", &ts, &signature, body), NOW),
                expected,
                "{offset}"
            );
        }
    }

    #[test]
    fn during_a_rotation_the_previous_secret_still_verifies() {
        let old = "whsec_b2xkLXNlY3JldC1rZXk=";
        let secret = <WebhookSecret as SecretKind>::parse(SECRET, Some(old)).unwrap();
        let ts = NOW.to_string();
        let by_old = sign(old, "msg_1", &ts, "{}");
        assert_eq!(
            secret.verify(&delivery("msg_1", &ts, &by_old, "{}"), NOW),
            Ok(())
        );
        assert!(<WebhookSecret as SecretKind>::parse("not-a-secret", None).is_err());
        assert!(!format!("{secret:?}").contains("MfKQ"));
    }

    #[test]
    fn the_events_that_end_sessions_say_which() {
        let logout = json!({"id": "evt_1", "type": "user.logout", "data": {
            "user": {"id": "usr_other"},
            "user_session": {"session_id": "ses_1", "user_id": "usr_1"}}});
        let membership = json!({"id": "evt_2", "type": "user.organization_membership_deleted",
            "data": {"user": {"id": "usr_1"}, "organization": {"id": "org_1"}}});
        let organization =
            json!({"id": "evt_3", "type": "organization.deleted", "data": {"id": "org_1"}});
        let parse = |value: Value| parse_event(value.to_string().as_bytes()).map(|e| e.ends);
        assert_eq!(
            parse(logout),
            Ok(Some(Ending::ScalekitSession {
                session_id: "ses_1".into(),
                user_id: Some("usr_1".into())
            }))
        );
        assert_eq!(
            parse(membership),
            Ok(Some(Ending::Membership {
                user_id: "usr_1".into(),
                organization_id: "org_1".into()
            }))
        );
        assert_eq!(
            parse(organization),
            Ok(Some(Ending::Organization {
                organization_id: "org_1".into()
            }))
        );
        assert_eq!(
            parse(json!({"id": "evt_4", "type": "user.login", "data": {}})),
            Ok(None)
        );
        assert_eq!(
            parse(json!({"type": "user.logout", "data": {}})),
            Err(EventError::NotAnEvent)
        );
        assert_eq!(parse(json!({"data": {}})), Err(EventError::NotAnEvent));
        assert_eq!(
            parse_event(b"not json").map(|e| e.ends),
            Err(EventError::NotJson)
        );
    }
}
