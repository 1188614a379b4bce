//! Sessions in DynamoDB.
//!
//! Item: `id` (S, key: hash of the session id), `data` (S: the whole record, AES-GCM sealed and
//! bound to `id`, see [`super::record`]), `version` (N, a copy of the sealed version for
//! conditional writes, checked against it on every read), `expiration` (N, the table's TTL
//! attribute) and, while a refresh is in flight, `lease_until` (N, milliseconds). Nothing in clear
//! decides who a session is or how long it lives. DynamoDB's TTL deletes late (up to days), so
//! expiry is always checked in code as well.
//!
//! To find a user's sessions (their session list, "sign out everywhere", a Scalekit logout) the
//! item also carries lookup hints in clear, each the key of a global secondary index: `uid` (the
//! user, [`USER_INDEX`], which projects `sid` and `oid` too), `sid` (Scalekit's session id,
//! [`SCALEKIT_SESSION_INDEX`]) and `oid` (the organization, [`ORGANIZATION_INDEX`]). A hint only
//! says where to look: every record found is opened and its sealed user, session and
//! organization are checked before anything is done to it.
//!
//! The same table keeps replay markers ([`SessionStore::remember_once`]): items whose key starts
//! with `seen#`, with nothing but an `expiration`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::record::{open_record, seal_record, SessionRecord};
use crate::crypto::{KeyRing, OpenError};

/// A failed session-table operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// DynamoDB failed, timed out or throttled past the SDK's retries.
    #[error("session store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The item exists but cannot be read: missing attributes, edited, or not one of ours.
    #[error("session record unreadable: {0}")]
    Corrupt(&'static str),
    /// The item is sealed under a session secret this container does not hold (a rotation is
    /// under way): re-read the secret and try again; the record is not known to be bad.
    #[error("session record sealed under a key this container does not hold")]
    UnknownKey,
}

/// The outcome of a conditional write.
#[derive(Debug, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Our write won.
    Stored,
    /// Another writer changed the record first (or deleted it, or holds its rotation lease).
    Conflict,
}

/// The global secondary index by user: partition key `uid`, projecting `sid` and `oid`.
pub const USER_INDEX: &str = "by-user";

/// The global secondary index by Scalekit session: partition key `sid`, keys only.
pub const SCALEKIT_SESSION_INDEX: &str = "by-sid";

/// The global secondary index by organization: partition key `oid`, keys only.
pub const ORGANIZATION_INDEX: &str = "by-organization";

/// A session found through a lookup hint: its record key and the hints themselves (unverified
/// until the record is opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hinted {
    /// The record key.
    pub key: String,
    /// `sid` in clear.
    pub session_id: Option<String>,
    /// `oid` in clear.
    pub organization_id: Option<String>,
}

/// A lookup hint kept in clear, and the index keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// `uid`: the user ([`USER_INDEX`]).
    User,
    /// `sid`: Scalekit's session ([`SCALEKIT_SESSION_INDEX`]).
    ScalekitSession,
    /// `oid`: the organization ([`ORGANIZATION_INDEX`]).
    Organization,
}

impl Hint {
    fn attribute(self) -> &'static str {
        match self {
            Self::User => "uid",
            Self::ScalekitSession => "sid",
            Self::Organization => "oid",
        }
    }

    fn index(self) -> &'static str {
        match self {
            Self::User => USER_INDEX,
            Self::ScalekitSession => SCALEKIT_SESSION_INDEX,
            Self::Organization => ORGANIZATION_INDEX,
        }
    }
}

/// The session table.
#[derive(Debug, Clone)]
pub struct SessionStore {
    client: Client,
    table: String,
}

fn unavailable<E>(error: SdkError<E>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Unavailable(Box::new(error))
}

/// Whether a write failed only its condition expression (another writer got there first).
fn failed_condition<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

/// A conditional write's result: `Conflict` when only the condition failed.
fn outcome<T, E>(result: Result<T, SdkError<E>>) -> Result<RotationOutcome, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(RotationOutcome::Stored),
        Err(error) if failed_condition(&error) => Ok(RotationOutcome::Conflict),
        Err(error) => Err(unavailable(error)),
    }
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key_of(record_key: &str) -> AttributeValue {
    AttributeValue::S(record_key.to_owned())
}

impl SessionStore {
    /// The store for `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes a new session; never overwrites an existing key.
    pub async fn create(
        &self,
        record: &SessionRecord,
        key: &KeyRing,
        idle_timeout_secs: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record, key, idle_timeout_secs)))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        // A failed condition: the key is the hash of 256 fresh random bits, so it exists only
        // because an earlier attempt of this same write landed and timed out before its answer
        // (the SDK retried).
        outcome(result).map(drop)
    }

    /// Reads a session (strongly consistent, so a rotation just made elsewhere is seen).
    pub async fn load(
        &self,
        record_key: &str,
        key: &KeyRing,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", key_of(record_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(|item| from_item(&item, key)).transpose()
    }

    /// Stores rotated tokens if the record is still at `record.version - 1`; the write also ends
    /// the rotation lease.
    pub async fn store_rotation(
        &self,
        record: &SessionRecord,
        key: &KeyRing,
        idle_timeout_secs: i64,
    ) -> Result<RotationOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record, key, idle_timeout_secs)))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(record.version as i64 - 1))
            .send()
            .await;
        outcome(result)
    }

    /// Marks the record at `version` as being refreshed by us until `until_ms` (milliseconds
    /// since the epoch), unless another request holds an unexpired lease or the version moved.
    /// Only the lease holder calls Scalekit, so a refresh token is never spent twice by us.
    pub async fn acquire_lease(
        &self,
        record: &SessionRecord,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<RotationOutcome, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", key_of(&record.key))
            .update_expression("SET lease_until = :until")
            .condition_expression(
                "version = :version AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_values(":version", n(record.version as i64))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":until", n(until_ms))
            .send()
            .await;
        outcome(result)
    }

    /// Gives a lease back after a refresh that stored nothing (Scalekit failed), so the next
    /// request need not wait for it to lapse. Best effort: a lease also lapses by itself.
    pub async fn release_lease(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", key_of(&record.key))
            .update_expression("REMOVE lease_until")
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(record.version as i64))
            .send()
            .await;
        outcome(result).map(drop)
    }

    /// Records activity for the idle timeout (and moves the TTL): rewrites the record with
    /// `record.last_seen_at`, if it is still at its version and no refresh is in flight. Best
    /// effort: a lost race means another writer just updated it anyway.
    pub async fn touch(
        &self,
        record: &SessionRecord,
        key: &KeyRing,
        idle_timeout_secs: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record, key, idle_timeout_secs)))
            .condition_expression("version = :version AND attribute_not_exists(lease_until)")
            .expression_attribute_values(":version", n(record.version as i64))
            .send()
            .await;
        outcome(result).map(drop)
    }

    /// Deletes a session only if it is still at `version` (nobody rotated it meanwhile).
    pub async fn delete_at_version(
        &self,
        record_key: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", key_of(record_key))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(version as i64))
            .send()
            .await;
        outcome(result).map(drop)
    }

    /// The sessions whose clear hint `hint` is `value`, through that hint's index (eventually
    /// consistent, as every global secondary index is; a table scan would read every session of
    /// every user, and no function is allowed one).
    pub async fn hinted(&self, hint: Hint, value: &str) -> Result<Vec<Hinted>, StoreError> {
        all_pages(|start| async move {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(hint.index())
                .key_condition_expression("#hint = :value")
                .expression_attribute_names("#hint", hint.attribute())
                .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
        })
        .await
    }

    /// Records `marker` (a `jti`, a webhook id) until `until` (seconds since the epoch); `false`
    /// when it was already recorded and has not expired: a replay.
    pub async fn remember_once(
        &self,
        marker: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", key_of(&marker_key(marker)))
            .item("expiration", n(until))
            .condition_expression("attribute_not_exists(id) OR expiration < :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        outcome(result).map(|outcome| outcome == RotationOutcome::Stored)
    }

    /// Keeps a marker recorded by [`SessionStore::remember_once`] until `until` (seconds since
    /// the epoch): the work it guarded is done.
    pub async fn remember_until(&self, marker: &str, until: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", key_of(&marker_key(marker)))
            .item("expiration", n(until))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Forgets a marker recorded by [`SessionStore::remember_once`] (the work it guarded failed,
    /// so a retry must not be taken for a replay).
    pub async fn forget(&self, marker: &str) -> Result<(), StoreError> {
        self.delete(&marker_key(marker)).await
    }

    /// Deletes a session; deleting one that does not exist succeeds.
    pub async fn delete(&self, record_key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", key_of(record_key))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// The key of a replay marker: a hash, so that what it marks is not kept in clear and cannot
/// collide with a session's key (a hash of 256 random bits, without the prefix).
fn marker_key(marker: &str) -> String {
    format!(
        "seen#{}",
        crate::crypto::b64url(crate::crypto::sha256(marker.as_bytes()))
    )
}

type Item = HashMap<String, AttributeValue>;

/// Every page of a query (`page` reads one from its start key), as hints.
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<Hinted>, StoreError>
where
    F: FnMut(Option<Item>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Item>, Option<Item>), StoreError>>,
{
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let (items, next) = page(start).await?;
        found.extend(items.iter().filter_map(hinted));
        match next {
            Some(next) => start = Some(next),
            None => return Ok(found),
        }
    }
}

fn hinted(item: &HashMap<String, AttributeValue>) -> Option<Hinted> {
    let text = |name| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(Hinted {
        key: text("id")?,
        session_id: text("sid"),
        organization_id: text("oid"),
    })
}

fn to_item(
    record: &SessionRecord,
    key: &KeyRing,
    idle_timeout_secs: i64,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), key_of(&record.key)),
        (
            "data".to_owned(),
            AttributeValue::S(seal_record(record, key)),
        ),
        ("version".to_owned(), n(record.version as i64)),
        ("expiration".to_owned(), n(record.ttl(idle_timeout_secs))),
    ]);
    // Each hint is an index key, and DynamoDB refuses an empty string as one: an empty claim is
    // no hint (the sealed record keeps it as it came).
    let hints = [
        ("uid", Some(&record.user_id)),
        ("sid", record.session_id.as_ref()),
        ("oid", record.organization_id.as_ref()),
    ];
    for (name, value) in hints {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            item.insert(name.to_owned(), AttributeValue::S(value.clone()));
        }
    }
    item
}

fn from_item(
    item: &HashMap<String, AttributeValue>,
    key: &KeyRing,
) -> Result<SessionRecord, StoreError> {
    let text = |name: &'static str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or(StoreError::Corrupt(name))
    };
    let record_key = text("id")?;
    let record = match open_record(text("data")?, record_key, key) {
        Ok(record) => record,
        Err(OpenError::UnknownKey) => return Err(StoreError::UnknownKey),
        Err(OpenError::Invalid) => return Err(StoreError::Corrupt("data")),
    };
    // Conditional writes compare the clear copy: it must say what the seal says.
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if version != Some(record.version) {
        return Err(StoreError::Corrupt("version"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SealingKey;
    use crate::redacted::{AccessToken, IdToken, RefreshToken};

    fn key() -> KeyRing {
        SealingKey::derive(&[1u8; 32], "session-tokens").into()
    }

    fn record() -> SessionRecord {
        SessionRecord {
            key: "k1".into(),
            user_id: "usr_1".into(),
            organization_id: Some("org_1".into()),
            session_id: Some("ses_1".into()),
            user_agent: Some("Firefox".into()),
            access_token: AccessToken::new("at-plaintext"),
            refresh_token: Some(RefreshToken::new("rt-plaintext")),
            id_token: IdToken::new("idt-plaintext"),
            created_at: 10,
            last_seen_at: 20,
            expires_at: 1000,
            version: 3,
        }
    }

    #[test]
    fn items_hold_nothing_in_clear_but_what_dynamodb_needs_and_round_trip() {
        let record = record();
        let item = to_item(&record, &key(), 100);
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["data", "expiration", "id", "oid", "sid", "uid", "version"]
        );
        // In clear: the lookup hints (user, Scalekit session, organization). Sealed: the tokens
        // and the user agent, and the copies of the hints that decide.
        assert_eq!(item["uid"], AttributeValue::S("usr_1".into()));
        let sealed = format!("{:?}", item["data"]);
        let dump = format!("{item:?}");
        for plaintext in ["at-plaintext", "rt-plaintext", "idt-plaintext", "Firefox"] {
            assert!(!dump.contains(plaintext), "{plaintext} in {dump}");
        }
        for hint in ["usr_1", "org_1", "ses_1"] {
            assert!(!sealed.contains(hint), "{hint} in the seal's clear text");
        }
        assert_eq!(item["expiration"], AttributeValue::N("120".into()));
        let back = from_item(&item, &key()).unwrap();
        assert_eq!(back.refresh_token, record.refresh_token);
        assert_eq!(back.id_token, record.id_token);
        assert_eq!(back.user_id, "usr_1");
        assert_eq!(back.organization_id.as_deref(), Some("org_1"));
        assert_eq!(back.session_id.as_deref(), Some("ses_1"));
        assert_eq!(back.user_agent.as_deref(), Some("Firefox"));
        assert_eq!(
            (
                back.created_at,
                back.last_seen_at,
                back.expires_at,
                back.version
            ),
            (10, 20, 1000, 3)
        );
    }

    #[test]
    fn an_edited_item_is_refused() {
        let item = to_item(&record(), &key(), 100);

        // A record sealed for one key does not open under another record's key.
        let mut moved = item.clone();
        moved.insert("id".into(), AttributeValue::S("k2".into()));
        assert!(matches!(
            from_item(&moved, &key()),
            Err(StoreError::Corrupt("data"))
        ));

        // The clear version (used by conditional writes) must match the sealed one.
        let mut bumped = item.clone();
        bumped.insert("version".into(), AttributeValue::N("4".into()));
        assert!(matches!(
            from_item(&bumped, &key()),
            Err(StoreError::Corrupt("version"))
        ));

        let mut flipped = item.clone();
        let mut data = item["data"].as_s().unwrap().clone().into_bytes();
        let middle = data.len() / 2;
        data[middle] = if data[middle] == b'A' { b'B' } else { b'A' };
        flipped.insert(
            "data".into(),
            AttributeValue::S(String::from_utf8(data).unwrap()),
        );
        assert!(matches!(
            from_item(&flipped, &key()),
            Err(StoreError::Corrupt("data"))
        ));

        // Sealed under a secret this container lacks: not corrupt, unknown.
        let other: KeyRing = SealingKey::derive(&[2u8; 32], "session-tokens").into();
        assert!(matches!(
            from_item(&item, &other),
            Err(StoreError::UnknownKey)
        ));
    }
}
