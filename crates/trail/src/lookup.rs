//! Lookup: CloudTrail's eight lookup attributes, AND-ed (CloudTrail allows one), a time window,
//! newest first, and a position that stays valid while new events arrive.

use rusqlite::types::Value as Sql;
use serde::{Deserialize, Serialize};

use crate::ingest::{Attr, day_of};
use crate::store::{History, StoreError, attrs_table, events_table};

/// The attribute keys of CloudTrail's LookupEvents.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LookupAttribute {
    EventId(String),
    ReadOnly(bool),
    Indexed(Attr, String),
}

pub const ATTRIBUTE_KEYS: &[&str] = &[
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
    "EventCategory",
];

impl LookupAttribute {
    /// Parses `Key=Value` with CloudTrail's key names (plus EventCategory).
    pub fn parse(key: &str, value: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > 2000 {
            return Err(format!(
                "lookup attribute {key} needs a value of 1 to 2000 characters"
            ));
        }
        let indexed = |a| Ok(LookupAttribute::Indexed(a, value.to_string()));
        match key {
            "EventId" => Ok(LookupAttribute::EventId(value.to_string())),
            "ReadOnly" => match value {
                "true" => Ok(LookupAttribute::ReadOnly(true)),
                "false" => Ok(LookupAttribute::ReadOnly(false)),
                _ => Err(format!("ReadOnly must be true or false, not {value:?}")),
            },
            "EventName" => indexed(Attr::EventName),
            "EventSource" => indexed(Attr::EventSource),
            "Username" => indexed(Attr::Username),
            "ResourceType" => indexed(Attr::ResourceType),
            "ResourceName" => indexed(Attr::ResourceName),
            "AccessKeyId" => indexed(Attr::AccessKeyId),
            "EventCategory" => indexed(Attr::EventCategory),
            other => Err(format!(
                "unknown lookup attribute {other:?}; expected one of {}",
                ATTRIBUTE_KEYS.join(", ")
            )),
        }
    }

    fn canonical(&self) -> String {
        match self {
            LookupAttribute::EventId(v) => format!("EventId={v}"),
            LookupAttribute::ReadOnly(v) => format!("ReadOnly={v}"),
            LookupAttribute::Indexed(a, v) => format!("{a:?}={v}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LookupQuery {
    pub account: i64,
    pub attributes: Vec<LookupAttribute>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub max_results: usize,
    /// Exclusive upper bound (time_ms, seq) from a previous page.
    pub after: Option<Position>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub t: i64,
    pub s: i64,
}

#[derive(Debug, Default)]
pub struct LookupPage {
    /// Each record's exact bytes, newest first.
    pub events: Vec<String>,
    pub next: Option<Position>,
}

impl LookupQuery {
    /// Everything that defines the result set (not the page size or position): a token
    /// issued for one query is refused for another.
    pub fn canonical(&self) -> String {
        let mut attrs: Vec<String> = self
            .attributes
            .iter()
            .map(LookupAttribute::canonical)
            .collect();
        attrs.sort();
        format!(
            "{}|{:?}|{:?}|{}",
            self.account,
            self.start_ms,
            self.end_ms,
            attrs.join("\u{1f}")
        )
    }
}

/// The attribute that drives the index scan: the one most likely to be selective.
fn driving(attrs: &[(Attr, String)]) -> Option<usize> {
    const ORDER: [Attr; 7] = [
        Attr::AccessKeyId,
        Attr::ResourceName,
        Attr::Username,
        Attr::EventName,
        Attr::ResourceType,
        Attr::EventSource,
        Attr::EventCategory,
    ];
    ORDER
        .iter()
        .find_map(|want| attrs.iter().position(|(a, _)| a == want))
}

impl History {
    pub fn lookup(&self, q: &LookupQuery) -> Result<LookupPage, StoreError> {
        let mut event_ids = Vec::new();
        let mut read_only = None;
        let mut indexed = Vec::new();
        for a in &q.attributes {
            match a {
                LookupAttribute::EventId(id) => event_ids.push(id.clone()),
                LookupAttribute::ReadOnly(b) => {
                    if read_only.is_some_and(|x| x != *b) {
                        return Ok(LookupPage::default());
                    }
                    read_only = Some(*b);
                }
                LookupAttribute::Indexed(attr, v) => indexed.push((*attr, v.clone())),
            }
        }
        event_ids.dedup();
        if event_ids.len() > 1 {
            return Ok(LookupPage::default());
        }
        let start = q.start_ms.unwrap_or(i64::MIN);
        let mut end = q.end_ms.unwrap_or(i64::MAX);
        let mut after = q.after.unwrap_or(Position {
            t: i64::MAX,
            s: i64::MAX,
        });
        if after.t < end {
            end = after.t;
        } else {
            after = Position {
                t: end,
                s: i64::MAX,
            };
        }
        if start > end {
            return Ok(LookupPage::default());
        }
        let want = q.max_results + 1;
        let mut rows: Vec<(Position, Vec<u8>)> = Vec::with_capacity(want);
        self.reads.with(|c| {
            let mut seq_filter = None;
            let days: Vec<u32> = if let Some(id) = event_ids.first() {
                let found = c
                    .query_row(
                        "SELECT day, seq FROM event_ids WHERE account = ?1 AND event_id = ?2",
                        rusqlite::params![q.account, id],
                        |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .map(Some)
                    .or_else(|e| {
                        if e == rusqlite::Error::QueryReturnedNoRows {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    })?;
                match found {
                    Some((day, seq)) => {
                        seq_filter = Some(seq);
                        vec![day]
                    }
                    None => vec![],
                }
            } else {
                let lo = if start == i64::MIN { 0 } else { day_at(start) };
                let hi = if end == i64::MAX {
                    u32::MAX
                } else {
                    day_at(end)
                };
                let mut st = c.prepare_cached(
                    "SELECT day FROM partitions WHERE day >= ?1 AND day <= ?2 ORDER BY day DESC",
                )?;
                st.query_map([lo, hi], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            for day in days {
                if rows.len() >= want {
                    break;
                }
                let (sql, params) = day_query(
                    day,
                    q.account,
                    &indexed,
                    read_only,
                    seq_filter,
                    start,
                    end,
                    after,
                    want - rows.len(),
                );
                let mut st = c.prepare(&sql)?;
                let found = st.query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((
                        Position {
                            s: r.get(0)?,
                            t: r.get(1)?,
                        },
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })?;
                for row in found {
                    rows.push(row?);
                }
            }
            Ok(())
        })?;
        let mut page = LookupPage::default();
        if rows.len() > q.max_results {
            rows.truncate(q.max_results);
            page.next = rows.last().map(|(p, _)| *p);
        }
        for (_, blob) in rows {
            let bytes = zstd::decode_all(&blob[..]).map_err(|e| {
                StoreError::Db(mamori_core::db::DbError::Sql(
                    rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
                ))
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                StoreError::Db(mamori_core::db::DbError::Sql(rusqlite::Error::Utf8Error(
                    e.utf8_error(),
                )))
            })?;
            page.events.push(text);
        }
        Ok(page)
    }
}

fn day_at(ms: i64) -> u32 {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(day_of)
        .unwrap_or(if ms < 0 { 0 } else { u32::MAX })
}

/// Builds the query for one day partition.
#[allow(clippy::too_many_arguments)]
fn day_query(
    day: u32,
    account: i64,
    indexed: &[(Attr, String)],
    read_only: Option<bool>,
    seq: Option<i64>,
    start: i64,
    end: i64,
    after: Position,
    limit: usize,
) -> (String, Vec<Sql>) {
    let (e, a) = (events_table(day), attrs_table(day));
    let mut params: Vec<Sql> = vec![
        Sql::Integer(account),
        Sql::Integer(start),
        Sql::Integer(end),
        Sql::Integer(after.t),
        Sql::Integer(after.s),
    ];
    let drive = if seq.is_none() {
        driving(indexed)
    } else {
        None
    };
    let mut sql = match drive {
        Some(i) => {
            params.push(Sql::Integer(indexed[i].0.code()));
            params.push(Sql::Text(indexed[i].1.clone()));
            format!(
                "SELECT e.seq, e.time_ms, e.record FROM {a} d CROSS JOIN {e} e ON e.seq = d.seq
                 WHERE d.account = ?1 AND d.key = ?6 AND d.value = ?7 AND d.time_ms >= ?2 AND d.time_ms <= ?3
                   AND (d.time_ms < ?4 OR (d.time_ms = ?4 AND d.seq < ?5))"
            )
        }
        None => "SELECT e.seq, e.time_ms, e.record FROM {e} e
                 WHERE e.account = ?1 AND e.time_ms >= ?2 AND e.time_ms <= ?3
                   AND (e.time_ms < ?4 OR (e.time_ms = ?4 AND e.seq < ?5))"
            .replace("{e}", &e),
    };
    if let Some(s) = seq {
        params.push(Sql::Integer(s));
        sql.push_str(&format!(" AND e.seq = ?{}", params.len()));
    }
    if let Some(ro) = read_only {
        params.push(Sql::Integer(ro as i64));
        sql.push_str(&format!(" AND e.read_only = ?{}", params.len()));
    }
    for (i, (attr, value)) in indexed.iter().enumerate() {
        if Some(i) == drive {
            continue;
        }
        params.push(Sql::Integer(attr.code()));
        params.push(Sql::Text(value.clone()));
        let (k, v) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM {a} x WHERE x.account = ?1 AND x.key = ?{k} AND x.value = ?{v} AND x.time_ms = e.time_ms AND x.seq = e.seq)"
        ));
    }
    let order = if drive.is_some() {
        "d.time_ms DESC, d.seq DESC"
    } else {
        "e.time_ms DESC, e.seq DESC"
    };
    params.push(Sql::Integer(limit as i64));
    sql.push_str(&format!(" ORDER BY {order} LIMIT ?{}", params.len()));
    (sql, params)
}
