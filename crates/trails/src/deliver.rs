//! Delivery: from the history's commit order (a committed cursor per trail) to gzip log files,
//! the Merkle log, signed checkpoints and hourly digests.
//!
//! One delivery, crash-safe in three steps:
//! 1. **plan** — read events after the cursor, keep the ones the trail selects, cut them into
//!    files per (account, region) and give each record its leaf index; the plan (keys and seqs)
//!    is committed to `trails.db` before anything is written out;
//! 2. **put** the files (keys are deterministic: a redo writes identical bytes to the same key);
//! 3. **commit** — leaves, stored tree hashes, the files' rows for the next digest, the new
//!    cursor and the signed checkpoint, in one transaction; then put the checkpoint.
//!
//! A crash or a destination outage between 1 and 3 leaves the plan in place and the next attempt
//! redoes exactly it, so no event is skipped or delivered twice. Failures are retried with
//! back-off and shown in the trail's status and in metrics.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use mamori_core::AccountId;
use mamori_trail::Record;
use mamori_trail::history::store::History;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex as AsyncMutex;

use crate::canonical::canonicalize;
use crate::dest::Destination;
use crate::digest::{self, Digest, LogFileEntry};
use crate::layout::{Layout, safe_region};
use crate::merkle;
use crate::selectors::Selection;
use crate::spec::TrailSpec;
use crate::store::{ChainLink, DeliveredFile, TrailRow, TrailsDb, TrailsError};

/// Events read from the history per delivery step.
const READ_BATCH: usize = 50_000;
/// Digests written per trail in one pass (a long outage catches up over several passes).
const MAX_DIGESTS_PER_PASS: usize = 200;

#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    /// Events with `from < seq <= to` were considered.
    from: i64,
    to: i64,
    files: Vec<PlanFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlanFile {
    account: String,
    region: String,
    key: String,
    leaf_start: u64,
    seqs: Vec<i64>,
}

/// One built log file.
struct Built {
    key: String,
    account: String,
    region: String,
    gz: Vec<u8>,
    hash: String,
    oldest: Option<String>,
    newest: Option<String>,
    leaves: Vec<(merkle::Hash, String)>,
}

/// What one `flush` did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReport {
    pub files: usize,
    pub events: usize,
    pub digests: usize,
    pub tree_size: u64,
}

pub struct Engine {
    pub db: Arc<TrailsDb>,
    pub history: Arc<History>,
    pub org: String,
    /// One delivery at a time (the background loop and `flush` share it).
    lock: AsyncMutex<()>,
    /// The operator's walls around the destinations trails name.
    pub confinement: mamori_dest::Confinement,
    dests: std::sync::Mutex<HashMap<(AccountId, String), Arc<Destination>>>,
    backoff: std::sync::Mutex<HashMap<i64, (Instant, u32)>>,
}

pub fn layout(t: &TrailRow, dest: &Destination, org: &str) -> Layout {
    let prefix = [dest.prefix.as_str(), t.spec.key_prefix.trim_matches('/')]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    Layout {
        prefix,
        org: t.spec.is_organization_trail.then(|| org.to_string()),
    }
}

/// The 12-digit text of an account id read from the event history.
fn account_text(a: i64) -> Result<String, TrailsError> {
    AccountId::from_i64(a)
        .map(|a| a.to_string())
        .map_err(|e| TrailsError::Damaged(e.to_string()))
}

impl Engine {
    pub fn new(
        db: Arc<TrailsDb>,
        history: Arc<History>,
        org: String,
        confinement: mamori_dest::Confinement,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            history,
            org,
            lock: AsyncMutex::new(()),
            confinement,
            dests: Default::default(),
            backoff: Default::default(),
        })
    }

    /// Opens a trail's destination for its account, inside the operator's walls.
    pub fn destination(
        &self,
        account: AccountId,
        spec_dest: &str,
    ) -> Result<Arc<Destination>, TrailsError> {
        let key = (account, spec_dest.to_string());
        let mut cache = self.dests.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = cache.get(&key) {
            return Ok(d.clone());
        }
        let d = Arc::new(
            self.confinement
                .open(account, spec_dest)
                .map_err(|e| TrailsError::Invalid(e.to_string()))?,
        );
        cache.insert(key, d.clone());
        Ok(d)
    }

    /// Checks a trail's destination before it is saved: inside the walls, and not sharing its
    /// place (destination and key prefix) with a trail of another account, whose validation it
    /// would otherwise break.
    pub fn check_destination(
        &self,
        account: AccountId,
        spec: &TrailSpec,
    ) -> Result<(), TrailsError> {
        let target = self.target(account, spec)?;
        for other in self.db.list(None)? {
            if other.account == account {
                continue;
            }
            let Ok(theirs) = self.target(other.account, &other.spec) else {
                continue;
            };
            if target.overlaps(&theirs) {
                return Err(TrailsError::Conflict(format!(
                    "destination {:?} with key prefix {:?} shares its place with a trail of \
                     another account; give a destination or key prefix of this account's own",
                    spec.destination, spec.key_prefix
                )));
            }
        }
        Ok(())
    }

    /// Where a trail's objects go: its destination, then its key prefix.
    fn target(
        &self,
        account: AccountId,
        spec: &TrailSpec,
    ) -> Result<mamori_dest::Target, TrailsError> {
        let t = self
            .confinement
            .resolve(account, &spec.destination)
            .map_err(|e| TrailsError::Invalid(e.to_string()))?;
        let kp = spec.key_prefix.trim_matches('/');
        Ok(match t {
            _ if kp.is_empty() => t,
            mamori_dest::Target::Dir(d) => mamori_dest::Target::Dir(d.join(kp)),
            mamori_dest::Target::S3 { bucket, prefix } if prefix.is_empty() => {
                mamori_dest::Target::S3 {
                    bucket,
                    prefix: kp.to_string(),
                }
            }
            mamori_dest::Target::S3 { bucket, prefix } => mamori_dest::Target::S3 {
                bucket,
                prefix: format!("{prefix}/{kp}"),
            },
        })
    }

    /// The background loop: every second, each trail whose delivery or digest is due.
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let trails = match self.db.list(None) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "cannot list trails");
                    continue;
                }
            };
            for t in trails {
                let waiting = self
                    .backoff
                    .lock()
                    .ok()
                    .and_then(|b| b.get(&t.id).map(|(at, _)| *at > Instant::now()))
                    .unwrap_or(false);
                if waiting {
                    continue;
                }
                if let Err(e) = self.step(t.id, false).await {
                    let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
                    let n = b.get(&t.id).map_or(0, |x| x.1) + 1;
                    let wait = Duration::from_secs((1u64 << n.min(8)).min(300));
                    b.insert(t.id, (Instant::now() + wait, n));
                    tracing::warn!(trail = %t.spec.name, error = %e, retry_in = ?wait, "trail delivery failed");
                } else if let Ok(mut b) = self.backoff.lock() {
                    b.remove(&t.id);
                }
            }
        }
    }

    /// Delivers what is due for one trail (everything, when `force`) and writes due digests.
    pub async fn step(&self, trail: i64, force: bool) -> Result<DeliveryReport, TrailsError> {
        let _one = self.lock.lock().await;
        let mut report = DeliveryReport::default();
        loop {
            let t = self.db.get_by_id(trail)?;
            let now = Utc::now();
            if !self.delivery_due(&t, now, force)? {
                break;
            }
            let dest = self.destination(t.account, &t.spec.destination)?;
            match self.deliver(&t, &dest, now).await {
                Ok((files, events, more)) => {
                    report.files += files;
                    report.events += events;
                    if !more {
                        break;
                    }
                }
                Err(e) => {
                    self.set_error(t.id, "latest_delivery_error", &e.to_string(), now)?;
                    metrics::counter!("mamori_trail_delivery_failures_total").increment(1);
                    return Err(e);
                }
            }
        }
        let t = self.db.get_by_id(trail)?;
        let dest = self.destination(t.account, &t.spec.destination)?;
        self.put_checkpoint(&t, &dest).await?;
        match self.digests(&t, &dest, Utc::now()).await {
            Ok(n) => report.digests = n,
            Err(e) => {
                self.set_error(t.id, "latest_digest_error", &e.to_string(), Utc::now())?;
                metrics::counter!("mamori_trail_digest_failures_total").increment(1);
                return Err(e);
            }
        }
        report.tree_size = self.db.get_by_id(trail)?.leaves;
        Ok(report)
    }

    fn set_error(
        &self,
        id: i64,
        column: &'static str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TrailsError> {
        self.db.set_error(id, column, message, now)
    }

    fn delivery_due(
        &self,
        t: &TrailRow,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<bool, TrailsError> {
        if t.pending.is_some() {
            return Ok(true);
        }
        let active = t.logging || t.stop_seq.is_some_and(|s| s > t.cursor);
        if !active {
            return Ok(false);
        }
        let last = self.history.last_seq()?;
        if last <= t.cursor {
            return Ok(false);
        }
        if force || t.stop_seq.is_some() {
            return Ok(true);
        }
        let since = t
            .latest_delivery_attempt
            .as_deref()
            .or(t.latest_delivery_time.as_deref())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| (now - d.with_timezone(&Utc)).num_seconds())
            .unwrap_or(i64::MAX);
        // The backlog in seqs over-counts (other accounts, unselected events): cutting early is
        // harmless, waiting past the threshold is not.
        let backlog = last - t.cursor;
        Ok(since >= t.spec.delivery_interval_seconds as i64
            || backlog >= t.spec.max_file_events as i64)
    }

    /// One plan → put → commit round. Returns (files, events, more waiting).
    async fn deliver(
        &self,
        t: &TrailRow,
        dest: &Arc<Destination>,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize, bool), TrailsError> {
        let layout = layout(t, dest, &self.org);
        let (plan, built) = match &t.pending {
            Some(p) => {
                let plan: Plan = serde_json::from_str(p).map_err(|e| {
                    TrailsError::Damaged(format!("pending delivery of trail {}: {e}", t.spec.name))
                })?;
                let built = self.rebuild(&plan).await?;
                (plan, built)
            }
            None => {
                let (plan, built) = self.plan(t, &layout, now).await?;
                self.db.set_pending(
                    t.id,
                    &serde_json::to_string(&plan)
                        .map_err(|e| TrailsError::Damaged(e.to_string()))?,
                )?;
                (plan, built)
            }
        };
        for b in &built {
            dest.put(&b.key, b.gz.clone(), &[]).await.map_err(|e| {
                TrailsError::Invalid(format!("delivery to {} failed: {e}", dest.display))
            })?;
        }
        let events: usize = built.iter().map(|b| b.leaves.len()).sum();
        let files = built.len();
        let db = self.db.clone();
        let trail = t.clone();
        let to = plan.to;
        tokio::task::spawn_blocking(move || commit(&db, &trail, &built, to, now))
            .await
            .map_err(|e| TrailsError::Damaged(e.to_string()))??;
        metrics::counter!("mamori_trail_delivered_events_total").increment(events as u64);
        metrics::counter!("mamori_trail_delivered_files_total").increment(files as u64);
        let more = self.history.last_seq()? > to && t.stop_seq.is_none_or(|s| s > to);
        Ok((files, events, more))
    }

    async fn plan(
        &self,
        t: &TrailRow,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<(Plan, Vec<Built>), TrailsError> {
        let history = self.history.clone();
        let t = t.clone();
        let layout = layout.clone();
        tokio::task::spawn_blocking(move || {
            let selection = t.spec.validate().map_err(TrailsError::Invalid)?;
            let mut events = history.read_after(t.cursor, READ_BATCH)?;
            if let Some(stop) = t.stop_seq {
                events.retain(|e| e.seq <= stop);
            }
            let to = events.last().map_or(t.cursor, |e| e.seq);
            type Group = ((String, String), Vec<(i64, String)>);
            let mut groups: Vec<Group> = Vec::new();
            let mut index: HashMap<(String, String), usize> = HashMap::new();
            for e in events {
                if !t.spec.is_organization_trail && e.account != t.account.as_i64() {
                    continue;
                }
                let Some(region) = selected(&selection, &e.record, &t.spec.home_region) else {
                    continue;
                };
                let k = (account_text(e.account)?, region);
                let i = *index.entry(k.clone()).or_insert_with(|| {
                    groups.push((k, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push((e.seq, e.record));
            }
            let mut leaf = t.leaves;
            let mut files = Vec::new();
            let mut built = Vec::new();
            for ((account, region), records) in groups {
                for chunk in records.chunks(t.spec.max_file_events) {
                    let key = layout.log_key(&account, &region, now, leaf);
                    let raws: Vec<&str> = chunk.iter().map(|(_, r)| r.as_str()).collect();
                    built.push(build_file(&key, &account, &region, &raws)?);
                    files.push(PlanFile {
                        account: account.clone(),
                        region: region.clone(),
                        key,
                        leaf_start: leaf,
                        seqs: chunk.iter().map(|(s, _)| *s).collect(),
                    });
                    leaf += chunk.len() as u64;
                }
            }
            Ok((
                Plan {
                    from: t.cursor,
                    to,
                    files,
                },
                built,
            ))
        })
        .await
        .map_err(|e| TrailsError::Damaged(e.to_string()))?
    }

    /// Rebuilds the files of a pending plan from the history, byte for byte.
    async fn rebuild(&self, plan: &Plan) -> Result<Vec<Built>, TrailsError> {
        let history = self.history.clone();
        let files: Vec<(String, String, String, Vec<i64>)> = plan
            .files
            .iter()
            .map(|f| {
                (
                    f.key.clone(),
                    f.account.clone(),
                    f.region.clone(),
                    f.seqs.clone(),
                )
            })
            .collect();
        let (from, to) = (plan.from, plan.to);
        tokio::task::spawn_blocking(move || {
            let mut records: HashMap<i64, String> = HashMap::new();
            let mut after = from;
            while after < to {
                let got = history.read_after(after, READ_BATCH)?;
                let Some(last) = got.last().map(|e| e.seq) else { break };
                for e in got {
                    if e.seq <= to {
                        records.insert(e.seq, e.record);
                    }
                }
                after = last;
            }
            files
                .iter()
                .map(|(key, account, region, seqs)| {
                    let raws = seqs
                        .iter()
                        .map(|s| {
                            records.get(s).map(String::as_str).ok_or_else(|| {
                                TrailsError::Damaged(format!(
                                    "event {s} of a pending delivery is no longer in the history (retention ran?)"
                                ))
                            })
                        })
                        .collect::<Result<Vec<&str>, _>>()?;
                    build_file(key, account, region, &raws)
                })
                .collect()
        })
        .await
        .map_err(|e| TrailsError::Damaged(e.to_string()))?
    }

    /// Puts the newest checkpoint if the destination does not have it yet.
    async fn put_checkpoint(&self, t: &TrailRow, dest: &Destination) -> Result<(), TrailsError> {
        if t.checkpoint_put >= t.leaves && t.leaves > 0 || t.leaves == 0 {
            return Ok(());
        }
        let Some(note) = self.db.checkpoint_at(t.id, t.leaves)? else {
            return Ok(());
        };
        let layout = layout(t, dest, &self.org);
        let owner = t.account.to_string();
        let fail = |e: crate::dest::DestError| {
            TrailsError::Invalid(format!("checkpoint delivery failed: {e}"))
        };
        dest.put(
            &layout.checkpoint_history_key(&owner, &t.spec.name, t.leaves),
            note.clone().into_bytes(),
            &[],
        )
        .await
        .map_err(fail)?;
        dest.put(
            &layout.checkpoint_key(&owner, &t.spec.name),
            note.into_bytes(),
            &[],
        )
        .await
        .map_err(fail)?;
        self.db.set_checkpoint_put(t.id, t.leaves)
    }

    /// Writes every digest whose period has ended (and the final one after StopLogging).
    async fn digests(
        &self,
        t: &TrailRow,
        dest: &Destination,
        now: DateTime<Utc>,
    ) -> Result<usize, TrailsError> {
        let mut written = 0;
        let period = t.spec.digest_interval_seconds as i64;
        let mut t = t.clone();
        loop {
            let final_digest =
                !t.logging && t.stop_seq.is_some() && t.cursor >= t.stop_seq.unwrap_or(0);
            let end = if t.logging && t.next_digest_at <= now.timestamp() {
                t.next_digest_at
            } else if final_digest {
                t.logging_stopped_at
                    .as_deref()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map_or(now.timestamp(), |d| d.timestamp())
            } else {
                break;
            };
            self.digest_period(&t, dest, end, period).await?;
            written += 1;
            let next = if final_digest {
                i64::MAX / 2
            } else {
                end + period
            };
            self.db.digests_written(t.id, next, final_digest)?;
            t = self.db.get_by_id(t.id)?;
            if final_digest || written >= MAX_DIGESTS_PER_PASS {
                break;
            }
        }
        Ok(written)
    }

    /// The digests of every chain of the trail for the period ending at `end`.
    async fn digest_period(
        &self,
        t: &TrailRow,
        dest: &Destination,
        end: i64,
        period: i64,
    ) -> Result<(), TrailsError> {
        let (chains, files) = {
            let (mut chains, files) = self.db.digest_inputs(t.id, end)?;
            let mut add = |account: &str, region: &str| {
                if !chains.iter().any(|c| c.0 == account && c.1 == region) {
                    chains.push((
                        account.into(),
                        region.into(),
                        None,
                        None,
                        None,
                        None,
                        end - period,
                    ));
                }
            };
            add(&t.account.to_string(), &t.spec.home_region);
            for f in &files {
                add(&f.0, &f.1);
            }
            (chains, files)
        };
        let layout = layout(t, dest, &self.org);
        let end_time = Utc.timestamp_opt(end, 0).single().unwrap_or_else(Utc::now);
        for (account, region, pb, po, ph, ps, last_end) in chains {
            let mine: Vec<_> = files
                .iter()
                .filter(|f| f.0 == account && f.1 == region)
                .collect();
            let (key, fp) = self.db.digest_key(t, &region, Utc::now())?;
            let object = layout.digest_key(
                &account,
                &region,
                &t.spec.name,
                &t.spec.home_region,
                end_time,
            );
            let start = Utc.timestamp_opt(last_end, 0).single().unwrap_or(end_time);
            let d = Digest {
                aws_account_id: account.clone(),
                digest_start_time: start.to_rfc3339_opts(SecondsFormat::Secs, true),
                digest_end_time: end_time.to_rfc3339_opts(SecondsFormat::Secs, true),
                digest_s3_bucket: dest.bucket.clone(),
                digest_s3_object: object.clone(),
                digest_public_key_fingerprint: fp,
                digest_signature_algorithm: key.algorithm().to_string(),
                newest_event_time: mine.iter().filter_map(|f| f.5.clone()).max(),
                oldest_event_time: mine.iter().filter_map(|f| f.4.clone()).min(),
                previous_digest_s3_bucket: pb,
                previous_digest_s3_object: po,
                previous_digest_hash_algorithm: ph.as_ref().map(|_| "SHA-256".to_string()),
                previous_digest_hash_value: ph,
                previous_digest_signature: ps,
                log_files: mine
                    .iter()
                    .map(|f| LogFileEntry {
                        s3_bucket: dest.bucket.clone(),
                        s3_object: f.2.clone(),
                        hash_value: f.3.clone(),
                        hash_algorithm: "SHA-256".into(),
                        newest_event_time: f.5.clone(),
                        oldest_event_time: f.4.clone(),
                    })
                    .collect(),
            };
            let bytes = serde_json::to_vec(&d).map_err(|e| TrailsError::Damaged(e.to_string()))?;
            let signature = hex::encode(key.sign(digest::string_to_sign(&d, &bytes).as_bytes()));
            let fail = |e: crate::dest::DestError| {
                TrailsError::Invalid(format!("digest delivery failed: {e}"))
            };
            dest.put(
                &object,
                gzip(&bytes)?,
                &[
                    (digest::META_SIGNATURE, signature.clone()),
                    (digest::META_ALGORITHM, key.algorithm().to_string()),
                ],
            )
            .await
            .map_err(fail)?;
            if !dest.has_metadata {
                dest.put(
                    &digest::sig_key(&object),
                    format!("{signature}\n").into_bytes(),
                    &[],
                )
                .await
                .map_err(fail)?;
            }
            let digested: Vec<&str> = mine.iter().map(|f| f.2.as_str()).collect();
            self.db.record_digest(
                t.id,
                &digested,
                &ChainLink {
                    account: &account,
                    region: &region,
                    bucket: &dest.bucket,
                    object: &object,
                    hash: &digest::sha256_hex(&bytes),
                    signature: &signature,
                    end,
                },
            )?;
            metrics::counter!("mamori_trail_digests_total").increment(1);
        }
        Ok(())
    }
}

/// The region a selected record is filed under, or `None` when the trail does not select it.
fn selected(selection: &Selection, raw: &str, home: &str) -> Option<String> {
    let r: Record = serde_json::from_str(raw).ok()?;
    if !selection.matches(&r) {
        return None;
    }
    Some(safe_region(r.aws_region.as_deref().unwrap_or(home)))
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, TrailsError> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::new(5),
    );
    enc.write_all(bytes)
        .map_err(|e| TrailsError::Damaged(e.to_string()))?;
    enc.finish()
        .map_err(|e| TrailsError::Damaged(e.to_string()))
}

/// The two fields a log file needs of each record besides its canonical bytes (a full parse
/// here cost as much as the canonicalization).
#[derive(serde::Deserialize)]
struct TimeAndId<'a> {
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<std::borrow::Cow<'a, str>>,
}

/// `{"Records":[…]}` of canonical records, its SHA-256 (over the uncompressed bytes, as digests
/// want), gzip, the event-time range, and each record's leaf hash and eventID.
fn build_file(key: &str, account: &str, region: &str, raws: &[&str]) -> Result<Built, TrailsError> {
    let mut body = Vec::with_capacity(raws.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(b"{\"Records\":[");
    let mut leaves = Vec::with_capacity(raws.len());
    let (mut oldest, mut newest): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
    for (i, raw) in raws.iter().enumerate() {
        let c = canonicalize(raw).map_err(|e| TrailsError::Damaged(e.to_string()))?;
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&c);
        let r: TimeAndId<'_> =
            serde_json::from_str(raw).map_err(|e| TrailsError::Damaged(e.to_string()))?;
        if let Some(t) = r
            .event_time
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            let t = t.with_timezone(&Utc);
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
        leaves.push((
            merkle::leaf_hash(&c),
            r.event_id.as_deref().unwrap_or("").to_string(),
        ));
    }
    body.extend_from_slice(b"]}");
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(Built {
        key: key.to_string(),
        account: account.to_string(),
        region: region.to_string(),
        hash: digest::sha256_hex(&body),
        gz: gzip(&body)?,
        oldest: oldest.map(fmt),
        newest: newest.map(fmt),
        leaves,
    })
}

/// Step 3: the delivery becomes durable state in one transaction.
fn commit(
    db: &TrailsDb,
    t: &TrailRow,
    built: &[Built],
    to: i64,
    now: DateTime<Utc>,
) -> Result<(), TrailsError> {
    let files: Vec<DeliveredFile<'_>> = built
        .iter()
        .map(|b| DeliveredFile {
            account: &b.account,
            region: &b.region,
            key: &b.key,
            hash: &b.hash,
            oldest: b.oldest.as_deref(),
            newest: b.newest.as_deref(),
            leaves: &b.leaves,
        })
        .collect();
    db.commit_delivery(t, &files, to, now, |n, root| {
        let origin = note_origin(&t.note_vkey);
        let text = merkle::checkpoint_text(&origin, n, root)?;
        let signer = signed_note::StandardSigner::new(&t.note_skey).map_err(|e| {
            TrailsError::Damaged(format!("checkpoint key of trail {}: {e}", t.spec.name))
        })?;
        let mut note =
            signed_note::Note::new(&text, &[]).map_err(|e| TrailsError::Damaged(e.to_string()))?;
        note.add_sigs(&[&signer])
            .map_err(|e| TrailsError::Damaged(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| TrailsError::Damaged(e.to_string()))
    })
}

/// The log's origin line: the name in its verifier key (`<name>+<id>+<key>`).
pub fn note_origin(vkey: &str) -> String {
    vkey.split('+').next().unwrap_or_default().to_string()
}
