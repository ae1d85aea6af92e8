//! Lookup: CloudTrail's eight lookup attributes, AND-ed (CloudTrail allows one), a time window,
//! newest first, and a position that stays valid while new events arrive.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::codec::{self, BLOCK_SLOTS};
use crate::ingest::{Attr, Limits, day_of};
use crate::staged::Stages;
use crate::store::{
    History, KEY_ALL, KEY_READ_ONLY, StoreError, blocks_table, find_id, postings_table,
};

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

impl LookupAttribute {
    /// The posting-list key and value this attribute is found under (`None` for EventId).
    fn posting(&self) -> Option<(i64, String)> {
        match self {
            LookupAttribute::EventId(_) => None,
            LookupAttribute::ReadOnly(b) => Some((KEY_READ_ONLY, b.to_string())),
            LookupAttribute::Indexed(a, v) => Some((a.code(), v.clone())),
        }
    }
}

/// The time window of a query, with the page position folded in.
#[derive(Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
    after: Position,
}

impl Window {
    fn contains(&self, t: i64, s: i64) -> bool {
        t >= self.start
            && t <= self.end
            && (t < self.after.t || (t == self.after.t && s < self.after.s))
    }
}

impl History {
    pub fn lookup(&self, q: &LookupQuery) -> Result<LookupPage, StoreError> {
        let mut event_ids: Vec<&str> = Vec::new();
        let mut keys: Vec<(i64, String)> = Vec::new();
        for a in &q.attributes {
            match a {
                LookupAttribute::EventId(id) => event_ids.push(id),
                other => keys.extend(other.posting()),
            }
        }
        keys.sort();
        keys.dedup();
        event_ids.sort_unstable();
        event_ids.dedup();
        if event_ids.len() > 1 {
            return Ok(LookupPage::default());
        }
        let after = q.after.unwrap_or(Position {
            t: i64::MAX,
            s: i64::MAX,
        });
        let w = Window {
            start: q.start_ms.unwrap_or(i64::MIN),
            end: q.end_ms.unwrap_or(i64::MAX).min(after.t),
            after,
        };
        if w.start > w.end {
            return Ok(LookupPage::default());
        }
        let want = q.max_results + 1;
        // Held for the whole lookup, so a merge cannot move events between the stage and the
        // tables underneath it.
        let staged = self.staged.read().map_err(|_| StoreError::Closed)?;
        self.reads.with(|c| {
            let mut hits: Vec<(Position, u32)> = Vec::new();
            let lo = if w.start == i64::MIN { 0 } else { day_at(w.start) };
            let hi = if w.end == i64::MAX { u32::MAX } else { day_at(w.end) };
            let days: Vec<u32> = c
                .prepare_cached("SELECT day FROM partitions WHERE day >= ?1 AND day <= ?2 ORDER BY day DESC")?
                .query_map([lo, hi], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if let Some(id) = event_ids.first() {
                if let Some((day, seq)) = find_id(c, &staged, q.account, id, &days)?
                    && let Some(text) = fetch(c, q.account, day, seq, &mut HashMap::new())?
                    && matches_record(&text, &keys, &w, seq)
                {
                    return Ok(LookupPage { events: vec![text], next: None });
                }
                return Ok(LookupPage::default());
            }
            if keys.is_empty() {
                keys.push((KEY_ALL, String::new()));
            }
            for day in days {
                let mut found = day_matches(c, &staged, q.account, day, &keys, &w)?;
                found.sort_unstable_by(|a, b| b.cmp(a));
                hits.extend(found.into_iter().map(|(t, s)| (Position { t, s }, day)));
                if hits.len() >= want {
                    break;
                }
            }
            let mut page = LookupPage::default();
            if hits.len() > q.max_results {
                hits.truncate(q.max_results);
                page.next = hits.last().map(|(p, _)| *p);
            }
            let mut blocks = HashMap::new();
            for (p, day) in hits {
                match fetch(c, q.account, day, p.s, &mut blocks)? {
                    Some(text) => page.events.push(text),
                    None => tracing::error!(day, seq = p.s, "an indexed event has no stored record"),
                }
            }
            Ok(page)
        })
        .map_err(|e| match e {
            mamori_core::db::DbError::Damaged(what) => StoreError::Damaged(what),
            other => StoreError::Db(other),
        })
    }
}

fn damaged(what: String) -> mamori_core::db::DbError {
    mamori_core::db::DbError::Damaged(what)
}

/// The (time, seq) of `day`'s events of `account` carrying every key, within the window.
fn day_matches(
    c: &Connection,
    staged: &Stages,
    account: i64,
    day: u32,
    keys: &[(i64, String)],
    w: &Window,
) -> Result<Vec<(i64, i64)>, mamori_core::db::DbError> {
    let mut lists: Vec<Vec<(i64, i64)>> = Vec::with_capacity(keys.len());
    let mut st = c.prepare_cached(&format!(
        "SELECT data FROM {} WHERE account = ?1 AND key = ?2 AND value = ?3 AND max_time >= ?4 AND min_time <= ?5",
        postings_table(day)
    ))?;
    for (key, value) in keys {
        let mut list = Vec::new();
        let mut rows = st.query(params![account, key, value, w.start, w.end])?;
        while let Some(row) = rows.next()? {
            let data = row
                .get_ref(0)?
                .as_blob()
                .map_err(|e| damaged(format!("posting list of day {day}: {e}")))?;
            let ok = codec::decode_postings(data, |t, s| {
                if w.contains(t, s) {
                    list.push((t, s));
                }
            });
            if !ok {
                return Err(damaged(format!("posting list of day {day} is damaged")));
            }
        }
        list.extend(
            staged
                .pairs(account, day, *key, value)
                .filter(|(t, s)| w.contains(*t, *s)),
        );
        if staged.merging() {
            // A merge in progress may have written some frozen pairs to the tables already.
            list.sort_unstable();
            list.dedup();
        }
        if list.is_empty() {
            return Ok(Vec::new());
        }
        lists.push(list);
    }
    lists.sort_by_key(Vec::len);
    let mut lists = lists.into_iter();
    let driver = lists.next().unwrap_or_default();
    let others: Vec<HashSet<i64>> = lists
        .map(|l| l.into_iter().map(|(_, s)| s).collect())
        .collect();
    Ok(driver
        .into_iter()
        .filter(|(_, s)| others.iter().all(|o| o.contains(s)))
        .collect())
}

/// The exact bytes of the record at `seq`, decompressing each block once per query.
fn fetch(
    c: &Connection,
    account: i64,
    day: u32,
    seq: i64,
    blocks: &mut HashMap<i64, Option<Vec<u8>>>,
) -> Result<Option<String>, mamori_core::db::DbError> {
    let (block, slot) = (
        seq.div_euclid(BLOCK_SLOTS),
        seq.rem_euclid(BLOCK_SLOTS) as usize,
    );
    let data = match blocks.entry(block) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            let data: Option<Vec<u8>> = c
                .prepare_cached(&format!(
                    "SELECT data FROM {} WHERE block = ?1 AND account = ?2",
                    blocks_table(day)
                ))?
                .query_row(params![block, account], |r| r.get(0))
                .optional()?;
            let decoded = data
                .map(|d| codec::decompress_block(&d))
                .transpose()
                .map_err(|e| damaged(format!("block {block} of day {day}: {e}")))?;
            v.insert(decoded)
        }
    };
    let Some(data) = data else {
        return Ok(None);
    };
    let Some(bytes) = codec::block_slot(data, slot) else {
        return Ok(None);
    };
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|e| damaged(format!("record {seq} of day {day}: {e}")))
}

/// Whether a record found by EventId also satisfies the other filters.
fn matches_record(text: &str, keys: &[(i64, String)], w: &Window, seq: i64) -> bool {
    let Ok(record) = serde_json::from_str::<crate::Record>(text) else {
        return false;
    };
    let Ok(p) = crate::ingest::index(
        &record,
        &Limits {
            max_event_bytes: usize::MAX,
            oldest_day: None,
        },
    ) else {
        return false;
    };
    w.contains(p.time_ms, seq)
        && keys.iter().all(|(k, v)| match *k {
            KEY_READ_ONLY => p.read_only.map(|b| b.to_string()).as_deref() == Some(v.as_str()),
            KEY_ALL => true,
            code => p.attrs.iter().any(|(a, x)| a.code() == code && x == v),
        })
}

fn day_at(ms: i64) -> u32 {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(day_of)
        .unwrap_or(if ms < 0 { 0 } else { u32::MAX })
}
