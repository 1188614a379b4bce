//! Sessions in DynamoDB.
//!
//! Item: `id` (S, key: hash of the session id), `user_id` (S), `organization_id` (S, optional),
//! `tokens` (S, AES-GCM sealed refresh and ID tokens), `created_at`, `last_seen_at`, `expires_at`,
//! `version` (N), and `expiration` (N, the table's TTL attribute). DynamoDB's TTL deletes late
//! (up to days), so expiry is always checked in code as well.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::record::{open_tokens, seal_tokens, SessionRecord};
use crate::crypto::KeyRing;

/// A failed session-table operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// DynamoDB failed, timed out or throttled past the SDK's retries.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The item exists but cannot be read (missing attributes, or tokens sealed under another key).
    #[error("session record unreadable: {0}")]
    Corrupt(&'static str),
}

/// The outcome of a conditional token rotation.
#[derive(Debug, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Our write won.
    Stored,
    /// Another writer changed the record first (or deleted it).
    Conflict,
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
    StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())
}

/// Whether a write failed only its condition expression (another writer got there first).
fn failed_condition<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
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
        match result {
            Ok(_) => Ok(()),
            // The key is the hash of 256 fresh random bits: it exists only because an earlier
            // attempt of this same write landed and timed out before its answer (the SDK retried).
            Err(error) if failed_condition(&error) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
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
            .key("id", AttributeValue::S(record_key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(|item| from_item(&item, key)).transpose()
    }

    /// Stores rotated tokens if the record is still at `record.version - 1`.
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
        match result {
            Ok(_) => Ok(RotationOutcome::Stored),
            Err(error) if failed_condition(&error) => Ok(RotationOutcome::Conflict),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Records activity for the idle timeout (and moves the TTL), if the record is still at
    /// `version`. Best effort: a lost race means another writer just updated it anyway.
    pub async fn touch(
        &self,
        record: &SessionRecord,
        now: i64,
        idle_timeout_secs: i64,
    ) -> Result<(), StoreError> {
        let expiration = record.expires_at.min(now + idle_timeout_secs);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(record.key.clone()))
            .update_expression("SET last_seen_at = :now, expiration = :expiration")
            .condition_expression("version = :version")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expiration", n(expiration))
            .expression_attribute_values(":version", n(record.version as i64))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if failed_condition(&error) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
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
            .key("id", AttributeValue::S(record_key.to_owned()))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(version as i64))
            .send()
            .await;
        match result {
            Err(error) if !failed_condition(&error) => Err(unavailable(error)),
            _ => Ok(()),
        }
    }

    /// Deletes a session; deleting one that does not exist succeeds.
    pub async fn delete(&self, record_key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(record_key.to_owned()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn to_item(
    record: &SessionRecord,
    key: &KeyRing,
    idle_timeout_secs: i64,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), AttributeValue::S(record.key.clone())),
        (
            "user_id".to_owned(),
            AttributeValue::S(record.user_id.clone()),
        ),
        (
            "tokens".to_owned(),
            AttributeValue::S(seal_tokens(record, key)),
        ),
        ("created_at".to_owned(), n(record.created_at)),
        ("last_seen_at".to_owned(), n(record.last_seen_at)),
        ("expires_at".to_owned(), n(record.expires_at)),
        ("version".to_owned(), n(record.version as i64)),
        ("expiration".to_owned(), n(record.ttl(idle_timeout_secs))),
    ]);
    if let Some(org) = &record.organization_id {
        item.insert("organization_id".to_owned(), AttributeValue::S(org.clone()));
    }
    item
}

fn from_item(
    item: &HashMap<String, AttributeValue>,
    key: &KeyRing,
) -> Result<SessionRecord, StoreError> {
    let s = |name: &'static str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or(StoreError::Corrupt(name))
    };
    let num = |name: &'static str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or(StoreError::Corrupt(name))
    };
    let record_key = s("id")?;
    let tokens =
        open_tokens(&s("tokens")?, &record_key, key).ok_or(StoreError::Corrupt("tokens"))?;
    Ok(SessionRecord {
        user_id: s("user_id")?,
        organization_id: s("organization_id").ok(),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        id_token: tokens.id_token,
        created_at: num("created_at")?,
        last_seen_at: num("last_seen_at")?,
        expires_at: num("expires_at")?,
        version: num("version")?.max(0) as u64,
        key: record_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{AccessToken, IdToken, RefreshToken};

    #[test]
    fn items_hold_no_plaintext_token_and_round_trip() {
        let key: KeyRing = crate::crypto::SealingKey::derive(&[1u8; 32], "session-tokens").into();
        let record = SessionRecord {
            key: "k1".into(),
            user_id: "usr_1".into(),
            organization_id: Some("org_1".into()),
            access_token: AccessToken::new("at-plaintext"),
            refresh_token: Some(RefreshToken::new("rt-plaintext")),
            id_token: IdToken::new("idt-plaintext"),
            created_at: 10,
            last_seen_at: 20,
            expires_at: 1000,
            version: 3,
        };
        let item = to_item(&record, &key, 100);
        let dump = format!("{item:?}");
        assert!(
            !dump.contains("rt-plaintext") && !dump.contains("idt-plaintext"),
            "{dump}"
        );
        assert_eq!(item["expiration"], AttributeValue::N("120".into()));
        let back = from_item(&item, &key).unwrap();
        assert_eq!(back.refresh_token, record.refresh_token);
        assert_eq!(back.id_token, record.id_token);
        assert_eq!(back.version, 3);

        // Tokens sealed for one record do not open under another record's key.
        let mut moved = item.clone();
        moved.insert("id".into(), AttributeValue::S("k2".into()));
        assert!(matches!(
            from_item(&moved, &key),
            Err(StoreError::Corrupt("tokens"))
        ));
    }
}
