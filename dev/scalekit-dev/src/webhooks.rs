//! Scalekit webhook events: the envelope, the `user.logout` payload, and the Standard Webhooks
//! (Svix) signature Scalekit's SDKs verify.
//!
//! Signature: HMAC-SHA256 keyed with the base64-decoded part of the `whsec_...` secret after
//! `whsec_`, over `"{webhook-id}.{webhook-timestamp}.{body}"`, sent as
//! `webhook-signature: v1,<standard base64>`.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::random::{random_id, random_numeric_id};
use crate::time::{now_precise, rfc3339, rfc3339_nanos};
use crate::users::find_user;
use crate::{DevScalekit, SignIn};

/// The default webhook signing secret: a fixed, public dev value (`whsec_` and the base64 of
/// 32 bytes), so that a locally run app can be configured once.
pub const DEV_WEBHOOK_SECRET: &str = "whsec_ZGV2LW9ubHkgd2ViaG9vayBzZWNyZXQsIHB1YmxpYyE=";

/// The `environment_id` of every event.
pub(crate) const ENVIRONMENT_ID: &str = "env_dev";

/// When the demo users were created, as `create_time` in user payloads.
const DEMO_USERS_CREATED: &str = "2025-01-01T00:00:00Z";

/// A webhook body with the three headers that sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// The `webhook-id` header: a delivery id, `msg_...` (not the event's `evt_...` id).
    pub id: String,
    /// The `webhook-timestamp` header: Unix seconds.
    pub timestamp: u64,
    /// The `webhook-signature` header: `v1,<base64 HMAC-SHA256>`.
    pub signature: String,
    /// The raw JSON body, exactly as signed.
    pub body: String,
}

impl SignedWebhook {
    /// The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, in that order.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
        ]
    }
}

/// The HMAC key of a `whsec_<base64>` secret.
pub(crate) fn webhook_key(secret: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or("the webhook secret must start with whsec_")?;
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err("the webhook secret must be whsec_ followed by standard base64"),
    }
}

/// Signs `body` for delivery at `timestamp` under a fresh `msg_...` id.
pub(crate) fn sign(key: &[u8], body: &str, timestamp: u64) -> SignedWebhook {
    let id = random_id("msg_");
    SignedWebhook {
        signature: signature(key, &id, timestamp, body),
        id,
        timestamp,
        body: body.to_owned(),
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
fn signature(key: &[u8], id: &str, timestamp: u64, body: &str) -> String {
    let content = format!("{id}.{timestamp}.{body}");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), content.as_bytes());
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

/// `object` and `display_name` of the event types in Scalekit's OpenAPI `webhooks` section.
const EVENTS: &[(&str, &str, &str)] = &[
    (
        "organization.created",
        "Organization",
        "Organization Created",
    ),
    (
        "organization.updated",
        "Organization",
        "Organization Updated",
    ),
    (
        "organization.deleted",
        "Organization",
        "Organization Deleted",
    ),
    (
        "organization.domain_created",
        "Organization",
        "Organization Domain Created",
    ),
    (
        "organization.domain_deleted",
        "Organization",
        "Organization Domain Deleted",
    ),
    (
        "organization.domain_dns_verification_success",
        "Organization",
        "Organization Domain DNS Verification Success",
    ),
    (
        "organization.domain_dns_verification_failed",
        "Organization",
        "Organization Domain DNS Verification Failed",
    ),
    ("user.signup", "OrgMembership", "User Signup"),
    ("user.login", "User", "User Login"),
    ("user.logout", "User", "User Logout"),
    (
        "user.organization_invitation",
        "OrgMembership",
        "User Organization Invitation",
    ),
    (
        "user.organization_membership_created",
        "OrgMembership",
        "User Organization Membership Created",
    ),
    (
        "user.organization_membership_updated",
        "OrgMembership",
        "User Organization Membership Updated",
    ),
    (
        "user.organization_membership_deleted",
        "OrgMembership",
        "User Organization Membership Deleted",
    ),
    (
        "organization.directory_enabled",
        "Directory",
        "Directory Enabled",
    ),
    (
        "organization.directory_disabled",
        "Directory",
        "Directory Disabled",
    ),
    (
        "organization.directory.user_created",
        "DirectoryUser",
        "Directory User Created",
    ),
    (
        "organization.directory.user_updated",
        "DirectoryUser",
        "Directory User Updated",
    ),
    (
        "organization.directory.user_deleted",
        "DirectoryUser",
        "Directory User Deleted",
    ),
    (
        "organization.directory.group_created",
        "DirectoryGroup",
        "Directory Group Created",
    ),
    (
        "organization.directory.group_updated",
        "DirectoryGroup",
        "Directory Group Updated",
    ),
    (
        "organization.directory.group_deleted",
        "DirectoryGroup",
        "Directory Group Deleted",
    ),
    (
        "organization.sso_created",
        "Connection",
        "SSO Connection Created",
    ),
    (
        "organization.sso_enabled",
        "Connection",
        "SSO Connection Enabled",
    ),
    (
        "organization.sso_disabled",
        "Connection",
        "SSO Connection Disabled",
    ),
    (
        "organization.sso_deleted",
        "Connection",
        "SSO Connection Deleted",
    ),
    ("role.created", "Role", "Role Created"),
    ("role.updated", "Role", "Role Updated"),
    ("role.deleted", "Role", "Role Deleted"),
    ("permission.created", "Permission", "Permission Created"),
    ("permission.updated", "Permission", "Permission Updated"),
    ("permission.deleted", "Permission", "Permission Deleted"),
];

/// `object` and (if known) `display_name` for `event_type`; types outside the table get an
/// `object` from their prefix.
fn describe(event_type: &str) -> (&'static str, Option<&'static str>) {
    if let Some((_, object, name)) = EVENTS.iter().find(|(t, _, _)| *t == event_type) {
        return (object, Some(name));
    }
    let object = match event_type.split('.').next() {
        Some("user") => "User",
        Some("role") => "Role",
        Some("permission") => "Permission",
        Some("connected_account") => "ConnectedAccount",
        _ => "Organization",
    };
    (object, None)
}

/// The event envelope as JSON: `spec_version`, `id`, `type`, `object`, `occurred_at`,
/// `environment_id`, `organization_id` (when given), `data`, `display_name` (when known).
pub(crate) fn envelope(
    event_type: &str,
    data: Value,
    organization_id: Option<&str>,
    occurred_at: (u64, u32),
) -> String {
    let (object, display_name) = describe(event_type);
    let mut event = Map::new();
    event.insert("spec_version".into(), json!("1"));
    event.insert("id".into(), json!(random_numeric_id("evt_")));
    event.insert("type".into(), json!(event_type));
    event.insert("object".into(), json!(object));
    event.insert(
        "occurred_at".into(),
        json!(rfc3339_nanos(occurred_at.0, occurred_at.1)),
    );
    event.insert("environment_id".into(), json!(ENVIRONMENT_ID));
    if let Some(org) = organization_id {
        event.insert("organization_id".into(), json!(org));
    }
    event.insert("data".into(), data);
    if let Some(name) = display_name {
        event.insert("display_name".into(), json!(name));
    }
    Value::Object(event).to_string()
}

/// `data.user` of an auth event: the demo user's record, or just the id for a user outside the
/// directory.
fn user_record(user_id: &str, last_login: u64) -> Value {
    let Some(user) = find_user(user_id) else {
        return json!({"id": user_id, "metadata": {}});
    };
    json!({
        "id": user.id,
        "email": user.email,
        "create_time": DEMO_USERS_CREATED,
        "update_time": DEMO_USERS_CREATED,
        "last_login_time": rfc3339(last_login),
        "metadata": {},
        "user_profile": {
            "id": format!("usp_{}", user.id.trim_start_matches("usr_")),
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email_verified": true,
        },
    })
}

/// The `user.logout` event for `sign_in`, ended (revoked) at `at`.
pub(crate) fn user_logout(sign_in: &SignIn, at: (u64, u32)) -> String {
    let ended = rfc3339(at.0);
    let started = rfc3339(sign_in.created_at);
    let mut session = json!({
        "session_id": sign_in.session_id,
        "user_id": sign_in.user_id,
        "status": "REVOKED",
        "created_at": started,
        "updated_at": ended,
        "last_active_at": started,
        "logout_at": ended,
        "expired_at": null,
    });
    if let Some(org) = &sign_in.organization_id {
        session["organization_id"] = json!(org);
        session["authenticated_organizations"] = json!([org]);
    }
    let data = json!({
        "user": user_record(&sign_in.user_id, sign_in.created_at),
        "user_session": session,
    });
    envelope("user.logout", data, sign_in.organization_id.as_deref(), at)
}

impl DevScalekit {
    /// The webhook signing secret (`whsec_...`), as configured.
    pub fn webhook_secret(&self) -> &str {
        &self.shared.webhook_secret
    }

    /// Signs `body` as Scalekit signs a webhook delivered now (fresh `msg_...` id).
    pub fn sign_webhook(&self, body: &str) -> SignedWebhook {
        self.sign_webhook_at(body, now_precise().0)
    }

    /// Signs `body` as a webhook delivered at `timestamp` (Unix seconds): for stale or future
    /// timestamps.
    pub fn sign_webhook_at(&self, body: &str, timestamp: u64) -> SignedWebhook {
        sign(&self.shared.webhook_key, body, timestamp)
    }

    /// An event in Scalekit's envelope, as JSON: `spec_version` `"1"`, a fresh `evt_...` id,
    /// `type`, the `object` and `display_name` Scalekit documents for that type, `occurred_at`
    /// now, `environment_id` `env_dev`, `organization_id` when given, and `data` as given.
    pub fn webhook_event(event_type: &str, data: Value, organization_id: Option<&str>) -> String {
        envelope(event_type, data, organization_id, now_precise())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_secret_is_32_bytes_of_standard_base64() {
        assert_eq!(webhook_key(DEV_WEBHOOK_SECRET).map(|k| k.len()), Ok(32));
        assert!(webhook_key("ZGV2").is_err());
        assert!(webhook_key("whsec_").is_err());
        assert!(webhook_key("whsec_not base64!").is_err());
    }

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The Standard Webhooks specification's example (also Svix's documentation).
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let signed = sign(&key, body, 1_614_265_330);
        assert!(signed.id.starts_with("msg_"));
        assert_eq!(
            signed.signature,
            signature(&key, &signed.id, signed.timestamp, body)
        );
    }

    #[test]
    fn event_types_get_scalekit_s_object_and_display_name() {
        assert_eq!(describe("user.logout"), ("User", Some("User Logout")));
        assert_eq!(
            describe("organization.directory.user_deleted"),
            ("DirectoryUser", Some("Directory User Deleted"))
        );
        assert_eq!(describe("user.something_new"), ("User", None));
    }
}
