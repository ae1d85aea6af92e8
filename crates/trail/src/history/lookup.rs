//! Lookup: CloudTrail's eight lookup attributes, AND-ed (CloudTrail allows one), a time window,
//! newest first, and a position that stays valid while new events arrive.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::classify::Category;
use crate::history::codec::{self, BLOCK_SLOTS};
use crate::history::staged::Stages;
use crate::history::store::{
    History, ListKey, StoreError, blocks_table, find_id, lists_table, slots_table,
};
use crate::ingest::{Attr, CLASS_CATEGORY, CLASS_READ_ONLY, Limits, category_code, day_of};

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

/// The conditions a slot's class byte answers (see [`crate::ingest::class_of`]): ReadOnly, and
/// EventCategory when the value is a category CloudTrail defines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct ClassFilter {
    read_only: Option<bool>,
    category: Option<u8>,
    /// Two different values asked for one of them: nothing matches.
    never: bool,
}

impl ClassFilter {
    fn is_any(&self) -> bool {
        *self == ClassFilter::default()
    }

    fn matches(&self, class: u8) -> bool {
        !self.never
            && self
                .read_only
                .is_none_or(|ro| class & CLASS_READ_ONLY == if ro { 1 } else { 2 })
            && self
                .category
                .is_none_or(|c| (class & CLASS_CATEGORY) >> 2 == c)
    }

    fn require<T: PartialEq>(slot: &mut Option<T>, never: &mut bool, value: T) {
        match slot {
            Some(v) if *v != value => *never = true,
            _ => *slot = Some(value),
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
        // Posting-list (key, value)s, and what the slots' class bytes answer.
        let mut keys: Vec<(i64, String)> = Vec::new();
        let mut class = ClassFilter::default();
        for a in &q.attributes {
            match a {
                LookupAttribute::EventId(id) => event_ids.push(id),
                LookupAttribute::ReadOnly(b) => {
                    ClassFilter::require(&mut class.read_only, &mut class.never, *b)
                }
                LookupAttribute::Indexed(Attr::EventCategory, v)
                    if let Some(c) = Category::known(v) =>
                {
                    ClassFilter::require(&mut class.category, &mut class.never, category_code(c))
                }
                LookupAttribute::Indexed(a, v) => keys.push((a.code(), v.clone())),
            }
        }
        keys.sort();
        keys.dedup();
        event_ids.sort_unstable();
        event_ids.dedup();
        if event_ids.len() > 1 || class.never {
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
                    && matches_record(&text, &keys, &class, &w, seq)
                {
                    return Ok(LookupPage { events: vec![text], next: None });
                }
                return Ok(LookupPage::default());
            }
            let filters = Filters {
                account: q.account,
                keys: &keys,
                list_key: &self.list_key,
                class,
                w,
                want,
            };
            for day in days {
                let mut found = day_matches(c, &staged, day, &filters)?;
                // Only the newest `want` of a day can make the page (a time-only lookup finds
                // every event of the day): select them before sorting.
                if found.len() > want {
                    found.select_nth_unstable_by(want - 1, |a, b| b.cmp(a));
                    found.truncate(want);
                }
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

/// The (time, seq) of `day`'s events of `account` carrying every key and passing `class`,
/// within the window.
fn day_matches(
    c: &Connection,
    staged: &Stages,
    day: u32,
    f: &Filters<'_>,
) -> Result<Vec<(i64, i64)>, mamori_core::db::DbError> {
    if f.keys.is_empty() {
        return scan_slots(c, f.account, day, &f.class, &f.w, f.want);
    }
    // One attribute and no class to check afterwards: only the newest `want` can make the page.
    let bound = (f.keys.len() == 1 && f.class.is_any() && !staged.merging()).then_some(f.want);
    let found = posting_matches(c, staged, f.account, day, f.keys, f.list_key, &f.w, bound)?;
    if f.class.is_any() || found.is_empty() {
        return Ok(found);
    }
    filter_by_class(c, day, &f.class, found)
}

/// One lookup's filters, applied day by day.
struct Filters<'a> {
    account: i64,
    /// Posting-list (key, value)s, all required.
    keys: &'a [(i64, String)],
    list_key: &'a ListKey,
    class: ClassFilter,
    w: Window,
    /// The most events a page can use from one day (max results + 1).
    want: usize,
}

/// The newest `want` events of `day` and `account` in the window whose class passes, from the
/// slots rows (committed with their blocks, so staged events are there too).
///
/// A day can hold millions of events, and a time-only or ReadOnly lookup matches most of them:
/// collecting them all cost tens of MB and tens of ms per lookup. Blocks are read newest
/// first; the newest `want` are kept in a min-heap, and a block whose `max_time` is older than
/// the oldest of a full heap is not decoded at all — once ingest has run in time order, that
/// is nearly every block after the first few.
fn scan_slots(
    c: &Connection,
    account: i64,
    day: u32,
    class: &ClassFilter,
    w: &Window,
    want: usize,
) -> Result<Vec<(i64, i64)>, mamori_core::db::DbError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut st = c.prepare_cached(&format!(
        "SELECT block, live, max_time, data FROM {} WHERE account = ?1 AND max_time >= ?2 AND min_time <= ?3 ORDER BY block DESC",
        slots_table(day)
    ))?;
    let mut rows = st.query(params![account, w.start, w.end])?;
    let mut newest: BinaryHeap<Reverse<(i64, i64)>> = BinaryHeap::with_capacity(want + 1);
    while let Some(row) = rows.next()? {
        let (block, live, max_time): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        if newest.len() >= want
            && newest
                .peek()
                .is_some_and(|Reverse((oldest, _))| max_time < *oldest)
        {
            continue;
        }
        let data = row
            .get_ref(3)?
            .as_blob()
            .map_err(|e| damaged(format!("slots of block {block} of day {day}: {e}")))?;
        let ok = codec::decode_slots(data, |slot, t, c| {
            let seq = block * BLOCK_SLOTS + slot as i64;
            if live & (1i64 << slot) != 0 && class.matches(c) && w.contains(t, seq) {
                newest.push(Reverse((t, seq)));
                if newest.len() > want {
                    newest.pop();
                }
            }
        });
        if !ok {
            return Err(damaged(format!(
                "slots of block {block} of day {day} are damaged"
            )));
        }
    }
    Ok(newest.into_iter().map(|Reverse(p)| p).collect())
}

/// The events of `found` whose class passes, reading each block's slots row once.
fn filter_by_class(
    c: &Connection,
    day: u32,
    class: &ClassFilter,
    found: Vec<(i64, i64)>,
) -> Result<Vec<(i64, i64)>, mamori_core::db::DbError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT data FROM {} WHERE block = ?1",
        slots_table(day)
    ))?;
    let mut classes: HashMap<i64, Vec<u8>> = HashMap::new();
    let mut kept = Vec::with_capacity(found.len());
    for (t, seq) in found {
        let (block, slot) = (seq.div_euclid(BLOCK_SLOTS), seq.rem_euclid(BLOCK_SLOTS));
        let of_block = match classes.entry(block) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let data: Option<Vec<u8>> = st.query_row([block], |r| r.get(0)).optional()?;
                let mut of_block = Vec::with_capacity(BLOCK_SLOTS as usize);
                if let Some(data) = data
                    && !codec::decode_slots(&data, |_, _, c| of_block.push(c))
                {
                    return Err(damaged(format!(
                        "slots of block {block} of day {day} are damaged"
                    )));
                }
                v.insert(of_block)
            }
        };
        if of_block
            .get(slot as usize)
            .is_some_and(|&c| class.matches(c))
        {
            kept.push((t, seq));
        }
    }
    Ok(kept)
}

/// The (time, seq) of `day`'s events of `account` carrying every key, within the window.
/// With `newest: Some(n)` (one key, nothing filtered afterwards, no merge under way) only the
/// newest `n` are needed: rows are read newest first and a row whose `max_time` is older than
/// the `n`-th newest pair found so far is not decoded.
#[allow(clippy::too_many_arguments)]
fn posting_matches(
    c: &Connection,
    staged: &Stages,
    account: i64,
    day: u32,
    keys: &[(i64, String)],
    list_key: &ListKey,
    w: &Window,
    newest: Option<usize>,
) -> Result<Vec<(i64, i64)>, mamori_core::db::DbError> {
    let mut lists: Vec<Vec<(i64, i64)>> = Vec::with_capacity(keys.len());
    let mut st = c.prepare_cached(&format!(
        "SELECT data, max_time FROM {} WHERE account = ?1 AND key = ?2 AND bucket = ?3 AND max_time >= ?4 AND min_time <= ?5 ORDER BY max_time DESC",
        lists_table(day)
    ))?;
    for (key, value) in keys {
        let mut list = Vec::new();
        let bucket = list_key.bucket(*key, value);
        let mut rows = st.query(params![account, key, bucket, w.start, w.end])?;
        while let Some(row) = rows.next()? {
            if let Some(n) = newest
                && list.len() >= n
            {
                let max_time: i64 = row.get(1)?;
                // The n-th newest so far: nothing in a row older than it can make the page.
                list.select_nth_unstable_by(n - 1, |a: &(i64, i64), b| b.cmp(a));
                list.truncate(n);
                if list
                    .iter()
                    .map(|p| p.0)
                    .min()
                    .is_some_and(|oldest| max_time < oldest)
                {
                    continue;
                }
            }
            let data = row
                .get_ref(0)?
                .as_blob()
                .map_err(|e| damaged(format!("list row of day {day}: {e}")))?;
            let mut ok = true;
            let whole = codec::list_entries(data, |v, postings| {
                if v == value.as_bytes() {
                    ok &= codec::decode_postings(postings, |t, s| {
                        if w.contains(t, s) {
                            list.push((t, s));
                        }
                    });
                }
            });
            if !(ok && whole) {
                return Err(damaged(format!("a list row of day {day} is damaged")));
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
fn matches_record(
    text: &str,
    keys: &[(i64, String)],
    class: &ClassFilter,
    w: &Window,
    seq: i64,
) -> bool {
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
        && class.matches(p.class())
        && keys
            .iter()
            .all(|(k, v)| p.attrs.iter().any(|(a, x)| a.code() == *k && x == v))
}

fn day_at(ms: i64) -> u32 {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(day_of)
        .unwrap_or(if ms < 0 { 0 } else { u32::MAX })
}
