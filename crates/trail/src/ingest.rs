//! Ingest: one code path for the HTTP API, channels and file import.
//!
//! raw record → typed [`Record`] (validated) → [`Prepared`] (lookup attributes + compressed raw
//! bytes) → [`crate::history::store::History::append`] (durable, deduplicated on eventID per account).

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::classify::{self, Category};
use crate::history::staged::Map;
use crate::model::Record;

/// The lookup attributes kept in the attribute index (EventId and ReadOnly are columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum Attr {
    EventName = 1,
    EventSource = 2,
    Username = 3,
    ResourceType = 4,
    ResourceName = 5,
    AccessKeyId = 6,
    EventCategory = 7,
}

impl Attr {
    pub fn code(self) -> i64 {
        self as u8 as i64
    }
}

/// Limits checked on every record.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_event_bytes: usize,
    /// Days (YYYYMMDD) before this one are outside the retention window.
    pub oldest_day: Option<u32>,
}

/// A validated record, ready for the store.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub event_id: String,
    pub time_ms: i64,
    /// The UTC day of eventTime as YYYYMMDD: the history's partition.
    pub day: u32,
    pub read_only: Option<bool>,
    pub category: Category,
    pub attrs: Attrs,
}

/// The lookup attribute values of one record, kept in one string (a record has ~7 of them; a
/// `String` each cost as much to allocate and free as the rest of the indexing).
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    text: String,
    /// (attribute, end of its value in `text`).
    items: Vec<(Attr, usize)>,
}

impl Attrs {
    pub fn iter(&self) -> impl Iterator<Item = (Attr, &str)> {
        let mut start = 0;
        self.items.iter().map(move |&(attr, end)| {
            let value = self.text.get(start..end).unwrap_or("");
            start = end;
            (attr, value)
        })
    }

    pub fn contains(&self, attr: Attr, value: &str) -> bool {
        self.iter().any(|(a, v)| a == attr && v == value)
    }

    fn push(&mut self, attr: Attr, value: &str) {
        self.text.push_str(value);
        self.items.push((attr, self.text.len()));
    }
}

/// Up to [`crate::history::codec::BLOCK_SLOTS`] records of one day, in eventTime order, compressed together.
#[derive(Clone, Debug)]
pub struct PreparedBlock {
    pub day: u32,
    /// Index into [`StoreBatch::events`] of the record in each slot.
    pub members: Vec<usize>,
    /// [`crate::history::codec::compress_block`] of [`crate::history::codec::encode_block`] over the records' exact
    /// bytes.
    pub data: Vec<u8>,
    /// [`crate::history::codec::encode_slots`] of each slot's (eventTime ms, [`class_of`]).
    pub slots: Vec<u8>,
    /// Earliest and latest eventTime (ms) in the block.
    pub min_time: i64,
    pub max_time: i64,
}

/// A record's class byte, kept per slot beside its block: ReadOnly in bits 0–1 (0 absent,
/// 1 true, 2 false) and the category in bits 2–4 ([`category_code`]). Time-only, ReadOnly and
/// EventCategory lookups read these instead of posting lists: each of those lists held every
/// event of the day (or half of it), and building, merging and writing them cost import a
/// tenth of its time.
pub fn class_of(read_only: Option<bool>, category: Category) -> u8 {
    let ro = match read_only {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    };
    ro | category_code(category) << 2
}

/// The category's code in a class byte. `Other` (an eventCategory CloudTrail does not define)
/// keeps the record's own value in the EventCategory posting list.
pub fn category_code(category: Category) -> u8 {
    match category {
        Category::Management => 1,
        Category::Data => 2,
        Category::Insight => 3,
        Category::NetworkActivity => 4,
        Category::ActivityAuditLog => 5,
        Category::Other => 6,
    }
}

/// The bits of [`class_of`] that hold ReadOnly and the category.
pub const CLASS_READ_ONLY: u8 = 0b11;
pub const CLASS_CATEGORY: u8 = 0b111 << 2;

impl Prepared {
    pub fn class(&self) -> u8 {
        class_of(self.read_only, self.category)
    }
}

/// What the store receives for one request or file. Only what the writer needs travels: the
/// validated records themselves stay (and are freed) on the preparing thread.
#[derive(Clone, Debug, Default)]
pub struct StoreBatch {
    /// eventTime (ms since the epoch) of each event.
    pub times: Vec<i64>,
    /// The day partition (YYYYMMDD) of each event.
    pub days: Vec<u32>,
    pub blocks: Vec<PreparedBlock>,
    /// The dedup key of each event: 128 bits of SHA-256 over (account, eventID).
    pub ids: Vec<(i64, i64)>,
    /// The batch's events grouped by lookup attribute value, so that the store's single writer
    /// thread does one map update per value rather than one per event and attribute.
    pub postings: BatchPostings,
}

impl StoreBatch {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

/// The events of a batch grouped by (day, posting key, value), laid out flat (one string of
/// values, one array of members) so that a batch is a handful of allocations, not one per
/// group. Groups are ordered by [`posting_hash`]: the stage keeps batches as they are and finds
/// a value in each by binary search, and a merge brings equal values of all batches together
/// by sorting hashes instead of probing a map per value.
#[derive(Clone, Debug, Default)]
pub struct BatchPostings {
    values: String,
    members: Vec<u32>,
    groups: Vec<GroupEnd>,
}

#[derive(Clone, Copy, Debug)]
struct GroupEnd {
    hash: u64,
    value_end: u32,
    members_end: u32,
    day: u32,
    key: u8,
}

/// One group of [`BatchPostings`]: the events (indexes into the batch) that carry `value` under
/// `key` on `day`.
#[derive(Clone, Copy, Debug)]
pub struct BatchPosting<'a> {
    pub hash: u64,
    pub day: u32,
    pub key: i64,
    pub value: &'a str,
    pub members: &'a [u32],
}

impl BatchPosting<'_> {
    pub fn is(&self, day: u32, key: i64, value: &str) -> bool {
        self.day == day && self.key == key && self.value == value
    }
}

/// The hash that orders posting groups: one seeded hasher for the whole process (batches built
/// on different threads are compared), seeded at random so that crafted values cannot aim
/// collisions (which are handled anyway, only slower).
pub fn posting_hash(day: u32, key: i64, value: &str) -> u64 {
    use std::hash::BuildHasher;
    static STATE: std::sync::LazyLock<foldhash::fast::RandomState> =
        std::sync::LazyLock::new(foldhash::fast::RandomState::default);
    STATE.hash_one((day, key, value))
}

/// Numbers (event, value) pairs with their group for [`BatchPostings::build`].
struct Grouper<'a> {
    /// (hash, day, key, end of the value in `values`) of each group.
    groups: Vec<(u64, u32, i64, usize)>,
    /// Each group's value, in group order: a hit compares against these few kilobytes rather
    /// than against the first event's own attribute text (a cache miss per hit).
    values: String,
    /// (group, event) of each pair.
    pairs: Vec<(u32, u32)>,
    /// Groups whose hash collides with an earlier group's (practically never).
    collided: Map<(u32, i64, &'a str), u32>,
}

impl<'a> Grouper<'a> {
    fn value(&self, group: u32) -> &str {
        let g = group as usize;
        let start = if g == 0 { 0 } else { self.groups[g - 1].3 };
        self.values.get(start..self.groups[g].3).unwrap_or("")
    }

    fn push(&mut self, hash: u64, day: u32, key: i64, value: &str) -> u32 {
        self.values.push_str(value);
        self.groups.push((hash, day, key, self.values.len()));
        self.groups.len() as u32 - 1
    }

    fn add(
        &mut self,
        index: &mut Map<u64, u32>,
        (day, key, value): (u32, i64, &'a str),
        member: u32,
    ) {
        use std::collections::hash_map::Entry;
        let hash = posting_hash(day, key, value);
        let same = |g: &Self, group: u32| {
            let (_, d, k, _) = g.groups[group as usize];
            d == day && k == key && g.value(group) == value
        };
        let group = match index.entry(hash) {
            Entry::Vacant(v) => {
                v.insert(self.groups.len() as u32);
                self.push(hash, day, key, value)
            }
            Entry::Occupied(o) if same(self, *o.get()) => *o.get(),
            Entry::Occupied(_) => match self.collided.get(&(day, key, value)) {
                Some(&group) => group,
                None => {
                    let group = self.push(hash, day, key, value);
                    self.collided.insert((day, key, value), group);
                    group
                }
            },
        };
        self.pairs.push((group, member));
    }
}

impl BatchPostings {
    /// Groups events by (day, posting key, value): each event under each of its lookup
    /// attributes, except EventCategory when the category is one CloudTrail defines (that, and
    /// ReadOnly, is in the event's class byte: see [`class_of`]).
    ///
    /// Each (event, value) pair is numbered with its group through a table kept by the thread
    /// across batches (keyed by the hash, the value itself compared on every hit), then groups
    /// are ordered by hash and the members laid out group by group with a counting sort: no
    /// allocation per group, and no table to grow (and fault in) per batch.
    pub fn build(events: &[Prepared]) -> Self {
        thread_local! {
            static INDEX: std::cell::RefCell<Map<u64, u32>> =
                std::cell::RefCell::new(Map::default());
        }
        let mut g = Grouper {
            groups: Vec::new(),
            values: String::new(),
            pairs: Vec::with_capacity(events.len() * 9),
            collided: Map::default(),
        };
        INDEX.with(|index| {
            let mut index = index.borrow_mut();
            index.clear();
            for (i, p) in events.iter().enumerate() {
                let i = i as u32;
                for (attr, value) in p.attrs.iter() {
                    if attr == Attr::EventCategory && p.category != Category::Other {
                        continue;
                    }
                    g.add(&mut index, (p.day, attr.code(), value), i);
                }
            }
        });
        // Groups in hash order: `order[r]` is the group at rank r.
        let mut order: Vec<u32> = (0..g.groups.len() as u32).collect();
        order.sort_unstable_by_key(|&i| g.groups[i as usize].0);
        let mut rank = vec![0u32; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        // Counting sort of the pairs by rank; members stay in event order within a group.
        let mut ends = vec![0u32; order.len()];
        for &(grp, _) in &g.pairs {
            ends[rank[grp as usize] as usize] += 1;
        }
        let mut total = 0;
        for end in ends.iter_mut() {
            total += *end;
            *end = total;
        }
        let mut next = ends.clone();
        let mut members = vec![0u32; g.pairs.len()];
        for &(grp, m) in g.pairs.iter().rev() {
            let r = rank[grp as usize] as usize;
            next[r] -= 1;
            members[next[r] as usize] = m;
        }
        let mut out = BatchPostings {
            values: String::with_capacity(g.values.len()),
            members,
            groups: Vec::with_capacity(order.len()),
        };
        for (&i, &members_end) in order.iter().zip(&ends) {
            let (hash, day, key, _) = g.groups[i as usize];
            out.values.push_str(g.value(i));
            out.groups.push(GroupEnd {
                hash,
                value_end: out.values.len() as u32,
                members_end,
                day,
                key: key as u8,
            });
        }
        out
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Group `i` (in hash order).
    pub fn get(&self, i: usize) -> Option<BatchPosting<'_>> {
        let g = self.groups.get(i)?;
        let (v0, m0) = match i.checked_sub(1).and_then(|p| self.groups.get(p)) {
            Some(p) => (p.value_end as usize, p.members_end as usize),
            None => (0, 0),
        };
        Some(BatchPosting {
            hash: g.hash,
            day: g.day,
            key: i64::from(g.key),
            value: self.values.get(v0..g.value_end as usize).unwrap_or(""),
            members: self.members.get(m0..g.members_end as usize).unwrap_or(&[]),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = BatchPosting<'_>> {
        (0..self.groups.len()).filter_map(|i| self.get(i))
    }

    /// The members of the group of (day, key, value), found by binary search on its hash.
    pub fn find(&self, day: u32, key: i64, value: &str) -> &[u32] {
        let hash = posting_hash(day, key, value);
        let first = self.groups.partition_point(|g| g.hash < hash);
        (first..self.groups.len())
            .map_while(|i| self.get(i).filter(|p| p.hash == hash))
            .find(|p| p.is(day, key, value))
            .map_or(&[], |p| p.members)
    }
}

/// Groups validated records into day blocks (eventTime order) and compresses each block.
/// `texts[i]` is the exact text of `events[i]`.
pub fn build_blocks(events: &[Prepared], texts: &[&str]) -> Vec<PreparedBlock> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].day, events[i].time_ms, i));
    let mut blocks = Vec::new();
    let mut plain = Vec::new();
    for run in order.chunk_by(|&a, &b| events[a].day == events[b].day) {
        for chunk in run.chunks(crate::history::codec::BLOCK_SLOTS as usize) {
            let slots: Vec<Option<&[u8]>> =
                chunk.iter().map(|&i| Some(texts[i].as_bytes())).collect();
            crate::history::codec::encode_block_into(&mut plain, &slots);
            let times = || chunk.iter().map(|&i| events[i].time_ms);
            blocks.push(PreparedBlock {
                day: events[chunk[0]].day,
                members: chunk.to_vec(),
                data: crate::history::codec::compress_block(&plain),
                slots: crate::history::codec::encode_slots(
                    chunk
                        .iter()
                        .map(|&i| (events[i].time_ms, events[i].class())),
                ),
                min_time: times().min().unwrap_or(0),
                max_time: times().max().unwrap_or(0),
            });
        }
    }
    blocks
}

/// Longest eventID accepted (CloudTrail's are 36-character GUIDs).
const MAX_EVENT_ID: usize = 256;
/// Longest value kept in the attribute index; longer values are still in the record.
const MAX_ATTR_VALUE: usize = 2048;

/// Validates one raw record and prepares it for the store. The error is the reason shown to the
/// sender, naming the field.
pub fn prepare(text: &str, limits: &Limits) -> Result<Prepared, String> {
    if text.len() > limits.max_event_bytes {
        return Err(format!(
            "event is {} bytes; the limit is {} bytes (CloudTrail's 256 KB per event)",
            text.len(),
            limits.max_event_bytes
        ));
    }
    if !text.starts_with('{') {
        return Err("record is not a JSON object".into());
    }
    let record: Record = serde_json::from_str(text)
        .map_err(|e| format!("record does not match the CloudTrail record schema: {e}"))?;
    index(&record, limits)
}

/// Derives everything the store indexes from a typed record (no compression).
pub fn index(record: &Record, limits: &Limits) -> Result<Prepared, String> {
    let event_time = match &record.event_time {
        crate::field::Field::Value(t) => t,
        _ => {
            let (name, source) = classify::name_and_source(record);
            return Err(if name.is_none() && source.is_none() {
                "eventTime is missing, and so are eventName and eventSource: not a CloudTrail record"
                    .into()
            } else {
                "eventTime is missing".into()
            });
        }
    };
    let time: DateTime<Utc> = DateTime::parse_from_rfc3339(event_time)
        .map_err(|_| {
            format!("eventTime {event_time:?} is not an RFC 3339 time such as 2026-11-28T10:00:00Z")
        })?
        .with_timezone(&Utc);
    let day = day_of(time);
    if let Some(oldest) = limits.oldest_day
        && day < oldest
    {
        return Err(format!(
            "eventTime {event_time} is older than the retention window (oldest day kept: {oldest}); raise [trail] retention_days to keep older events"
        ));
    }
    let event_id = match record.event_id.as_deref() {
        Some(id) if !id.is_empty() && id.len() <= MAX_EVENT_ID => id.to_string(),
        Some("") | None => derived_event_id(record),
        Some(_) => return Err(format!("eventID is longer than {MAX_EVENT_ID} characters")),
    };
    let category = classify::category(record);
    let (name, source) = classify::name_and_source(record);
    if category != Category::Insight {
        if name.is_none() {
            return Err("eventName is missing".into());
        }
        if source.is_none() {
            return Err("eventSource is missing".into());
        }
    }
    let mut attrs = Attrs {
        text: String::with_capacity(256),
        items: Vec::with_capacity(8),
    };
    let mut push = |attr: Attr, v: &str| {
        if !v.is_empty() && v.len() <= MAX_ATTR_VALUE && !attrs.contains(attr, v) {
            attrs.push(attr, v);
        }
    };
    if let Some(n) = name {
        push(Attr::EventName, n);
    }
    if let Some(s) = source {
        push(Attr::EventSource, s);
    }
    push(Attr::EventCategory, category_text(record, category));
    if let Some(u) = classify::username(record) {
        push(Attr::Username, &u);
    }
    if let Some(k) = record
        .user_identity
        .get()
        .and_then(|u| u.access_key_id.as_deref())
    {
        push(Attr::AccessKeyId, k);
    }
    if let Some(resources) = record.resources.get() {
        for r in resources {
            if let Some(t) = r.resource_type.as_deref() {
                push(Attr::ResourceType, t);
            }
            if let Some(arn) = r.arn.as_deref() {
                push(Attr::ResourceName, arn);
                if let Some(short) = short_name(arn) {
                    push(Attr::ResourceName, short);
                }
            }
        }
    }
    Ok(Prepared {
        event_id,
        time_ms: time.timestamp_millis(),
        day,
        read_only: record.read_only.get().and_then(|f| f.value()),
        category,
        attrs,
    })
}

/// Records older than eventVersion 1.01 have no eventID. They get a stable one derived from
/// their content (the typed record serialized: field order and whitespace do not matter), so a
/// re-import is still recognised as a duplicate. The stored record is left as given.
fn derived_event_id(record: &Record) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    format!("mamori-{}", hex::encode(&Sha256::digest(&bytes)[..16]))
}

fn category_text(record: &Record, category: Category) -> &str {
    match category {
        Category::Other => record.event_category.as_deref().unwrap_or("Other"),
        c => c.as_str(),
    }
}

/// The resource's own name inside its ARN (`arn:aws:s3:::bucket` → `bucket`,
/// `arn:aws:iam::1:role/path/R` → `R`), which Event history also matches on.
fn short_name(arn: &str) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    let resource = arn.splitn(6, ':').nth(5)?;
    let short = resource.rsplit(['/', ':']).next()?;
    (!short.is_empty() && short != arn).then_some(short)
}

pub fn day_of(t: DateTime<Utc>) -> u32 {
    (t.year().clamp(0, 9999) as u32) * 10_000 + t.month() * 100 + t.day()
}

/// What happened to one event of a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EventResult {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Duplicate,
    Rejected,
}

/// The answer to an ingest request or one imported file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

impl IngestReport {
    pub fn push(&mut self, r: EventResult) {
        match r.status {
            Status::Accepted => self.accepted += 1,
            Status::Duplicate => self.duplicate += 1,
            Status::Rejected => self.rejected += 1,
        }
        self.results.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_event_bytes: 256 * 1024,
            oldest_day: None,
        }
    }

    fn prep(json: &str) -> Result<Prepared, String> {
        prepare(json, &limits())
    }

    #[test]
    fn a_normal_record_is_indexed() {
        let p = prep(r#"{"eventVersion":"1.08","eventTime":"2023-07-10T11:42:36Z","eventSource":"iam.amazonaws.com","eventName":"CreateRole","eventID":"e1","readOnly":false,
            "userIdentity":{"type":"IAMUser","userName":"alice","accessKeyId":"AKIA1"},
            "resources":[{"ARN":"arn:aws:iam::123456789012:role/path/R","type":"AWS::IAM::Role"}]}"#)
        .unwrap();
        assert_eq!(p.day, 20230710);
        assert_eq!(p.read_only, Some(false));
        assert_eq!(p.category, Category::Management);
        for (a, v) in [
            (Attr::EventName, "CreateRole"),
            (Attr::Username, "alice"),
            (Attr::AccessKeyId, "AKIA1"),
            (Attr::ResourceType, "AWS::IAM::Role"),
            (Attr::ResourceName, "arn:aws:iam::123456789012:role/path/R"),
            (Attr::ResourceName, "R"),
        ] {
            assert!(p.attrs.contains(a, v), "{a:?}={v} missing in {:?}", p.attrs);
        }
    }

    #[test]
    fn missing_and_wrong_fields_are_named() {
        let base = r#""eventSource":"s","eventName":"n","eventID":"e""#;
        assert_eq!(
            prep(&format!("{{{base}}}")).unwrap_err(),
            "eventTime is missing"
        );
        assert!(
            prep(&format!(r#"{{{base},"eventTime":"yesterday"}}"#))
                .unwrap_err()
                .contains("not an RFC 3339")
        );
        assert_eq!(
            prep(r#"{"eventTime":"2023-07-10T11:42:36Z","eventSource":"s","eventID":"e"}"#)
                .unwrap_err(),
            "eventName is missing"
        );
        assert!(
            prep(&format!(
                r#"{{{base},"eventTime":"2023-07-10T11:42:36Z","readOnly":5}}"#
            ))
            .unwrap_err()
            .contains("schema")
        );
        assert_eq!(prep("[1]").unwrap_err(), "record is not a JSON object");
        assert!(
            prep(r#"{"hello":"world"}"#)
                .unwrap_err()
                .contains("not a CloudTrail record"),
            "some other JSON is named as such"
        );
        // No eventID (eventVersion 1.0): a stable id from the content, whatever the layout.
        let a = prep(r#"{"eventTime":"2013-11-01T00:00:00Z","eventSource":"s","eventName":"n"}"#)
            .unwrap();
        let b = prep("{ \"eventName\" : \"n\",\n \"eventSource\":\"s\", \"eventTime\":\"2013-11-01T00:00:00Z\" }").unwrap();
        assert!(a.event_id.starts_with("mamori-"));
        assert_eq!(a.event_id, b.event_id);
    }

    #[test]
    fn insight_records_take_name_from_details() {
        let p = prep(r#"{"eventVersion":"1.07","eventTime":"2020-07-21T20:56:00Z","eventID":"i1","eventType":"AwsCloudTrailInsight","eventCategory":"Insight",
            "insightDetails":{"state":"Start","eventSource":"autoscaling.amazonaws.com","eventName":"CompleteLifecycleAction","insightType":"ApiCallRateInsight"}}"#)
        .unwrap();
        assert!(p.attrs.contains(Attr::EventName, "CompleteLifecycleAction"));
        assert_eq!(p.category, Category::Insight);
    }

    #[test]
    fn batch_postings_group_every_event_under_each_of_its_values() {
        let events: Vec<Prepared> = (0..500)
            .map(|i| {
                prep(&format!(
                    r#"{{"eventTime":"2023-07-{:02}T11:42:36Z","eventSource":"s{}","eventName":"n{}","eventID":"e{i}","readOnly":{},"userIdentity":{{"type":"IAMUser","userName":"u{}"}}}}"#,
                    10 + i % 3,
                    i % 4,
                    i % 50,
                    i % 2 == 0,
                    i % 7
                ))
                .unwrap()
            })
            .collect();
        let built = BatchPostings::build(&events);
        assert!(
            built.iter().map(|p| p.hash).is_sorted(),
            "groups in hash order"
        );
        let day = events[0].day;
        let want_u3: Vec<u32> = (0..500).filter(|i| i % 3 == 0 && i % 7 == 3).collect();
        assert_eq!(built.find(day, Attr::Username.code(), "u3"), &want_u3[..]);
        assert!(built.find(day, Attr::Username.code(), "u8").is_empty());
        assert!(built.find(day, Attr::EventName.code(), "u3").is_empty());
        let mut got: Vec<(u32, i64, String, Vec<u32>)> = built
            .iter()
            .map(|p| (p.day, p.key, p.value.to_string(), p.members.to_vec()))
            .collect();
        got.sort();
        // The same grouping, the obvious way.
        let mut want: std::collections::BTreeMap<(u32, i64, String), Vec<u32>> = Default::default();
        for (i, p) in events.iter().enumerate() {
            let mut add = |key: i64, v: &str| {
                want.entry((p.day, key, v.to_string()))
                    .or_default()
                    .push(i as u32)
            };
            for (a, v) in p.attrs.iter() {
                if a != Attr::EventCategory {
                    add(a.code(), v);
                }
            }
        }
        let want: Vec<(u32, i64, String, Vec<u32>)> = want
            .into_iter()
            .map(|((d, k, v), m)| (d, k, v, m))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn only_an_event_category_cloudtrail_does_not_define_gets_a_posting_group() {
        let events: Vec<Prepared> = ["Management", "Data", "Weird"]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                prep(&format!(
                    r#"{{"eventTime":"2023-07-10T11:42:36Z","eventSource":"s","eventName":"n","eventID":"e{i}","eventCategory":"{c}"}}"#
                ))
                .unwrap()
            })
            .collect();
        let built = BatchPostings::build(&events);
        let day = events[0].day;
        let code = Attr::EventCategory.code();
        assert_eq!(built.find(day, code, "Weird"), &[2]);
        assert!(built.find(day, code, "Management").is_empty());
        assert!(built.find(day, code, "Data").is_empty());
        // The defined ones are in the class byte instead.
        assert_eq!(
            events.iter().map(|p| p.class() >> 2).collect::<Vec<_>>(),
            vec![1, 2, 6]
        );
    }

    #[test]
    fn a_value_whose_hash_collides_gets_its_own_group() {
        let mut index: Map<u64, u32> = Map::default();
        let mut g = Grouper {
            groups: Vec::new(),
            values: String::new(),
            pairs: Vec::new(),
            collided: Map::default(),
        };
        g.add(&mut index, (1, 2, "a"), 0);
        // Make "b" look like "a" to the hash table.
        index.insert(posting_hash(1, 2, "b"), 0);
        g.add(&mut index, (1, 2, "b"), 1);
        g.add(&mut index, (1, 2, "a"), 2);
        g.add(&mut index, (1, 2, "b"), 3);
        assert_eq!(g.groups.len(), 2);
        assert_eq!((g.value(0), g.value(1)), ("a", "b"));
        assert_eq!(g.pairs, vec![(0, 0), (1, 1), (0, 2), (1, 3)]);
    }

    #[test]
    fn retention_window_is_enforced_at_the_door() {
        let raw = r#"{"eventTime":"2020-01-01T00:00:00Z","eventSource":"s","eventName":"n","eventID":"e"}"#;
        let err = prepare(
            raw,
            &Limits {
                max_event_bytes: 1 << 20,
                oldest_day: Some(20260101),
            },
        )
        .unwrap_err();
        assert!(err.contains("retention"), "{err}");
    }
}
