//! Channels: applications send their own audit events, as with CloudTrail Lake's
//! PutAuditEvents. Each item's `eventData` is the application's event; it is wrapped into a
//! CloudTrail record (eventSource from the channel, `eventCategory: ActivityAuditLog`) and then
//! takes the same ingest path as every other record.

use std::sync::Mutex;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::history::store::StoreError;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub name: String,
    /// The eventSource of every record received on this channel.
    pub source: String,
    pub created_at: String,
}

/// One item of a PutAuditEvents-style request.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditEventItem {
    pub id: String,
    pub event_data: String,
    #[serde(default)]
    pub event_data_checksum: Option<String>,
}

pub struct Channels {
    conn: Mutex<Connection>,
}

/// Channel names: 1–128 of `[A-Za-z0-9._-]`. Sources: 1–256 printable characters without spaces.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "channel name {name:?} must be 1 to 128 characters of A-Z a-z 0-9 . _ -"
        ));
    }
    Ok(())
}

pub fn check_source(source: &str) -> Result<(), String> {
    if source.is_empty() || source.len() > 256 || !source.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "channel source {source:?} must be 1 to 256 printable characters without spaces"
        ));
    }
    Ok(())
}

impl Channels {
    pub fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            conn: Mutex::new(mamori_core::db::open(path)?),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Closed)
    }

    /// Creates a channel; `Ok(None)` when the account already has one of that name.
    pub fn create(
        &self,
        account: i64,
        name: &str,
        source: &str,
    ) -> Result<Option<Channel>, StoreError> {
        let ch = Channel {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            source: source.to_string(),
            created_at: mamori_core::time::format_cloudtrail(Utc::now()),
        };
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO channels (id, account, name, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ch.id, account, ch.name, ch.source, ch.created_at],
        )?;
        Ok((n == 1).then_some(ch))
    }

    pub fn list(&self, account: i64) -> Result<Vec<Channel>, StoreError> {
        let conn = self.conn()?;
        let mut st = conn.prepare(
            "SELECT id, name, source, created_at FROM channels WHERE account = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([account], row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The channel, only if it belongs to `account`.
    pub fn get(&self, account: i64, id: &str) -> Result<Option<Channel>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT id, name, source, created_at FROM channels WHERE account = ?1 AND id = ?2",
                params![account, id],
                row,
            )
            .optional()?)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        name: r.get(1)?,
        source: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// A stable eventID for (channel, item id): a retried item is a duplicate, not a second event.
fn event_id(channel: &Channel, item_id: &str) -> String {
    let h = Sha256::digest(format!("{}\u{0}{}", channel.id, item_id).as_bytes());
    let x = hex::encode(&h[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Wraps one item into a CloudTrail record (JSON text), or says why it is rejected.
pub fn wrap(
    channel: &Channel,
    account: &str,
    region: &str,
    item: &AuditEventItem,
    max_bytes: usize,
) -> Result<String, String> {
    if item.id.is_empty()
        || item.id.len() > 128
        || !item
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err("id must be 1 to 128 characters of A-Z a-z 0-9 - _".into());
    }
    if item.event_data.len() > max_bytes {
        return Err(format!(
            "eventData is {} bytes; the limit is {max_bytes}",
            item.event_data.len()
        ));
    }
    if let Some(sum) = &item.event_data_checksum {
        let actual = hex::encode(Sha256::digest(item.event_data.as_bytes()));
        if !sum.eq_ignore_ascii_case(&actual) {
            return Err("eventDataChecksum does not match the SHA-256 of eventData".into());
        }
    }
    let data: Map<String, Value> = serde_json::from_str(&item.event_data)
        .map_err(|e| format!("eventData is not a JSON object: {e}"))?;
    let text = |k: &str| data.get(k).and_then(Value::as_str);
    let event_name = text("eventName").ok_or("eventData.eventName is missing")?;
    let event_time = text("eventTime").ok_or("eventData.eventTime is missing")?;
    let mut r = Map::new();
    r.insert("eventVersion".into(), "1.11".into());
    if let Some(u) = data.get("userIdentity") {
        r.insert("userIdentity".into(), u.clone());
    }
    r.insert("eventTime".into(), event_time.into());
    r.insert("eventSource".into(), channel.source.clone().into());
    r.insert("eventName".into(), event_name.into());
    r.insert("awsRegion".into(), region.into());
    for k in [
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
    ] {
        if let Some(v) = data.get(k) {
            r.insert(k.into(), v.clone());
        }
    }
    r.insert("eventID".into(), event_id(channel, &item.id).into());
    r.insert("eventType".into(), "ActivityLog".into());
    r.insert("recipientAccountId".into(), account.into());
    r.insert("eventCategory".into(), "ActivityAuditLog".into());
    r.insert("channelId".into(), channel.id.clone().into());
    r.insert("eventData".into(), Value::Object(data));
    serde_json::to_string(&r).map_err(|e| format!("cannot build the record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch() -> Channel {
        Channel {
            id: "c1".into(),
            name: "app".into(),
            source: "app.example.com".into(),
            created_at: String::new(),
        }
    }

    #[test]
    fn wraps_with_the_channel_source_and_a_stable_id() {
        let data = r#"{"version":"1","eventName":"Login","eventTime":"2026-11-28T10:00:00Z","UID":"u1","eventSource":"ignored"}"#;
        let item = AuditEventItem {
            id: "i-1".into(),
            event_data: data.into(),
            event_data_checksum: Some(hex::encode(Sha256::digest(data))),
        };
        let a: Value = serde_json::from_str(
            &wrap(&ch(), "123456789012", "eu-west-1", &item, 1 << 20).unwrap(),
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            &wrap(&ch(), "123456789012", "eu-west-1", &item, 1 << 20).unwrap(),
        )
        .unwrap();
        assert_eq!(a["eventSource"], "app.example.com");
        assert_eq!(a["eventCategory"], "ActivityAuditLog");
        assert_eq!(a["eventData"]["UID"], "u1");
        assert_eq!(a["eventID"], b["eventID"]);
        assert_eq!(
            a["awsRegion"], "eu-west-1",
            "the server's region, not \"local\""
        );
    }

    #[test]
    fn checksum_and_shape_are_verified() {
        let bad = AuditEventItem {
            id: "i".into(),
            event_data: "{}".into(),
            event_data_checksum: Some("00".into()),
        };
        assert!(
            wrap(&ch(), "1", "eu-west-1", &bad, 1 << 20)
                .unwrap_err()
                .contains("eventDataChecksum")
        );
        let missing = AuditEventItem {
            id: "i".into(),
            event_data: "{}".into(),
            event_data_checksum: None,
        };
        assert!(
            wrap(&ch(), "1", "eu-west-1", &missing, 1 << 20)
                .unwrap_err()
                .contains("eventName")
        );
        let traversal = AuditEventItem {
            id: "../x".into(),
            event_data: "{}".into(),
            event_data_checksum: None,
        };
        assert!(wrap(&ch(), "1", "eu-west-1", &traversal, 1 << 20).is_err());
    }
}
