//! `mamori trail validate`: CloudTrail's validate-logs, offline, with its holes closed.
//!
//! Like the AWS CLI: every digest's signature (key found by fingerprint) and location, the chain
//! of previous-digest hashes and signatures, and every listed log file's SHA-256 over its
//! uncompressed bytes. Beyond it:
//! - **consecutive deleted digests** are each reported: digests are written every period, empty
//!   ones too, so a chain link whose start is later than the older digest's end names every
//!   missing period (the AWS CLI reports only the first, aws-cli#7054);
//! - **injected files**: every object under the prefix must be a digest, its signature, a
//!   checkpoint, or a log file some digest lists (or newer than the newest digest, still covered
//!   by the Merkle log);
//! - **reordered or renamed files**: a log file's name carries its first leaf index, so the files
//!   must tile the Merkle log exactly;
//! - **truncation of the newest hours**: the log rebuilt from the files must reproduce the signed
//!   checkpoint in the destination and, with `--witness`, a checkpoint kept elsewhere.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::canonical::canonicalize;
use crate::dest::Destination;
use crate::digest::{self, Digest};
use crate::layout::parse_log_name;
use crate::merkle::{self, CompactTree};
use crate::signing;

/// A log file or digest larger than this once gunzipped is refused (CloudTrail caps files at 50 MB
/// compressed).
pub const MAX_UNCOMPRESSED: u64 = 1 << 30;

/// Gunzips with a cap (the history's gunzip: libdeflate, streaming when that declines); says
/// what went wrong and where.
pub fn gunzip(bytes: &[u8], what: &str) -> Result<Vec<u8>, String> {
    use mamori_trail::body::BodyError;
    let mut out = Vec::new();
    match mamori_trail::body::gunzip_into(bytes, MAX_UNCOMPRESSED as usize, &mut out) {
        Ok(()) => Ok(out),
        Err(BodyError::TooLarge { .. }) => Err(format!(
            "{what}: more than {MAX_UNCOMPRESSED} bytes uncompressed"
        )),
        Err(BodyError::Gzip(e)) => Err(format!("{what}: not valid gzip ({e})")),
        Err(e) => Err(format!("{what}: not valid gzip ({e})")),
    }
}

/// The canonical records of a delivered log file.
pub fn records_of(gz: &[u8], what: &str) -> Result<Vec<String>, String> {
    let raw = gunzip(gz, what)?;
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, rename = "Records")]
        records: Vec<&'a RawValue>,
    }
    let env: Envelope =
        serde_json::from_slice(&raw).map_err(|e| format!("{what}: invalid format ({e})"))?;
    env.records
        .iter()
        .map(|r| {
            canonicalize(r.get())
                .map_err(|e| format!("{what}: {e}"))
                .and_then(|c| String::from_utf8(c).map_err(|e| format!("{what}: {e}")))
        })
        .collect()
}

/// Public keys the validator trusts: `mamori trail public-keys --format json` output.
#[derive(Debug, Default, Deserialize)]
pub struct KeySet {
    #[serde(rename = "PublicKeyList", default)]
    pub digest_keys: Vec<KeyEntry>,
    #[serde(rename = "CheckpointKeys", default)]
    pub checkpoint_keys: Vec<CheckpointKey>,
}

#[derive(Debug, Deserialize)]
pub struct KeyEntry {
    #[serde(rename = "Fingerprint")]
    pub fingerprint: String,
    #[serde(rename = "Algorithm")]
    pub algorithm: String,
    #[serde(rename = "Value")]
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct CheckpointKey {
    #[serde(rename = "Trail")]
    pub trail: String,
    #[serde(rename = "VerifierKey")]
    pub verifier_key: String,
}

#[derive(Debug, Default)]
pub struct Options {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// A signed checkpoint kept outside the destination.
    pub witness: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    DigestFile,
    LogFile,
    Checkpoint,
    MerkleLog,
    Object,
}

impl Kind {
    pub fn label(&self) -> &'static str {
        match self {
            Kind::DigestFile => "Digest file",
            Kind::LogFile => "Log file",
            Kind::Checkpoint => "Checkpoint",
            Kind::MerkleLog => "Merkle log",
            Kind::Object => "Object",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: Kind,
    pub object: String,
    pub valid: bool,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub results: Vec<Finding>,
    pub digests_valid: usize,
    pub digests_invalid: usize,
    pub log_files_valid: usize,
    pub log_files_invalid: usize,
    pub other_invalid: usize,
    pub records: u64,
    pub bytes_hashed: u64,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.digests_invalid == 0 && self.log_files_invalid == 0 && self.other_invalid == 0
    }

    fn add(&mut self, kind: Kind, object: &str, result: Result<String, String>) {
        let valid = result.is_ok();
        match (&kind, valid) {
            (Kind::DigestFile, true) => self.digests_valid += 1,
            (Kind::DigestFile, false) => self.digests_invalid += 1,
            (Kind::LogFile, true) => self.log_files_valid += 1,
            (Kind::LogFile, false) => self.log_files_invalid += 1,
            (_, false) => self.other_invalid += 1,
            _ => {}
        }
        let message = match result {
            Ok(m) => m,
            Err(m) => format!("INVALID: {m}"),
        };
        self.results.push(Finding {
            kind,
            object: object.to_string(),
            valid,
            message,
        });
    }
}

struct DigestName {
    account: String,
    region: String,
    trail: String,
    end: DateTime<Utc>,
}

fn parse_digest_name(key: &str) -> Option<DigestName> {
    let name = key.rsplit('/').next()?.strip_suffix(".json.gz")?;
    let parts: Vec<&str> = name.split('_').collect();
    if parts.len() < 6 || parts[1] != "CloudTrail-Digest" {
        return None;
    }
    let end = NaiveDateTime::parse_from_str(parts[parts.len() - 1], "%Y%m%dT%H%M%SZ")
        .ok()?
        .and_utc();
    Some(DigestName {
        account: parts[0].into(),
        region: parts[2].into(),
        trail: parts[3..parts.len() - 2].join("_"),
        end,
    })
}

struct LoadedDigest {
    key: String,
    name: DigestName,
    /// The parsed digest, or why it could not be read.
    digest: Result<Digest, String>,
    hash: String,
    signature: Option<String>,
}

/// Validates everything under `prefix` of `dest`.
pub async fn validate(
    dest: &Destination,
    prefix: &str,
    keys: &KeySet,
    opts: &Options,
) -> Result<Report, String> {
    let prefix = prefix.trim_matches('/');
    let root = if prefix.is_empty() {
        "AWSLogs".to_string()
    } else {
        format!("{prefix}/AWSLogs")
    };
    let all = dest.list(&root).await.map_err(|e| e.to_string())?;
    let listed: HashSet<&str> = all.iter().map(String::as_str).collect();
    let mut report = Report::default();
    let in_range =
        |t: DateTime<Utc>| opts.start.is_none_or(|s| t >= s) && opts.end.is_none_or(|e| t <= e);

    // 1. Digests, chain by chain, newest first.
    let mut chains: BTreeMap<(String, String, String), Vec<LoadedDigest>> = BTreeMap::new();
    for key in all
        .iter()
        .filter(|k| k.contains("/CloudTrail-Digest/") && k.ends_with(".json.gz"))
    {
        let Some(name) = parse_digest_name(key) else {
            report.add(
                Kind::DigestFile,
                key,
                Err("name is not a digest file name".into()),
            );
            continue;
        };
        let (bytes, meta) = match dest.get(key).await.map_err(|e| e.to_string())? {
            Some(x) => x,
            None => continue,
        };
        let raw = gunzip(&bytes, "the object");
        let digest = raw.as_ref().map_err(Clone::clone).and_then(|r| {
            serde_json::from_slice::<Digest>(r).map_err(|e| format!("not a digest file: {e}"))
        });
        let hash = raw
            .as_ref()
            .map(|r| digest::sha256_hex(r))
            .unwrap_or_default();
        let signature = match meta.get(digest::META_SIGNATURE) {
            Some(s) => Some(s.clone()),
            None => dest
                .get(&digest::sig_key(key))
                .await
                .map_err(|e| e.to_string())?
                .map(|(b, _)| String::from_utf8_lossy(&b).trim().to_string()),
        };
        let chain = (
            name.account.clone(),
            name.region.clone(),
            name.trail.clone(),
        );
        chains.entry(chain).or_default().push(LoadedDigest {
            key: key.clone(),
            name,
            digest,
            hash,
            signature,
        });
        if let Ok(r) = &raw {
            report.bytes_hashed += r.len() as u64;
        }
    }
    let mut referenced: HashSet<String> = HashSet::new();
    let mut newest_digest_end: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    // Every chain of a trail gets a digest each period, empty or not, and all end together (the
    // final digests after StopLogging): a chain that stops before its siblings lost its newest.
    let mut trail_end: HashMap<String, DateTime<Utc>> = HashMap::new();
    // The digest period: the longest span of any of the trail's digests (a chain's first and a
    // final digest cover less than a period; every other covers exactly one).
    let mut trail_period: HashMap<String, i64> = HashMap::new();
    for ((_, _, trail), ds) in &chains {
        if let Some(n) = ds.iter().map(|d| d.name.end).max() {
            let e = trail_end.entry(trail.clone()).or_insert(n);
            *e = (*e).max(n);
        }
        let p = ds
            .iter()
            .filter_map(|d| d.digest.as_ref().ok().and_then(period_of))
            .max()
            .unwrap_or(0);
        let e = trail_period.entry(trail.clone()).or_insert(p);
        *e = (*e).max(p);
    }
    for ((account, region, trail), mut digests) in chains {
        digests.sort_by_key(|d| d.name.end);
        let newest = digests.last().map(|d| d.name.end);
        if let (Some(n), Some(d)) = (newest, digests.last()) {
            let siblings_end = trail_end.get(&trail).copied().unwrap_or(n);
            if n < siblings_end && in_range(siblings_end) {
                let period = trail_period.get(&trail).copied().unwrap_or(0);
                let mut end = n + chrono::Duration::seconds(period.max(1));
                let mut ends = Vec::new();
                while period > 0 && end < siblings_end && ends.len() < MAX_MISSING_LINES {
                    ends.push(end);
                    end += chrono::Duration::seconds(period);
                }
                ends.push(siblings_end);
                for end in ends {
                    report.add(
                        Kind::DigestFile,
                        &missing_digest_key(&d.key, end),
                        Err(format!(
                            "not found: the digest ending {} is missing — the chain for {region} \
                             ends at {} while the trail's other chains go on (newest digests deleted)",
                            end.to_rfc3339(),
                            n.to_rfc3339()
                        )),
                    );
                }
            }
            // Log files up to the siblings' end should have been in a digest.
            let e = newest_digest_end
                .entry((account.clone(), region.clone()))
                .or_insert(siblings_end);
            *e = (*e).max(siblings_end);
        }
        for i in (0..digests.len()).rev() {
            let d = &digests[i];
            if !in_range(d.name.end) {
                continue;
            }
            let older = i.checked_sub(1).map(|j| &digests[j]);
            let verdict = check_digest(dest, d, older, keys);
            report.add(Kind::DigestFile, &d.key, verdict.map(|_| "valid".into()));
            // Missing digests between this one and the older one in the listing.
            if let (Ok(dg), Some(o)) = (&d.digest, older)
                && let Some(prev) = &dg.previous_digest_s3_object
            {
                if prev != &o.key && !listed.contains(prev.as_str()) {
                    report.add(Kind::DigestFile, prev, Err("not found (deleted)".into()));
                }
                let period = trail_period.get(&trail).copied().filter(|p| *p > 0);
                let start = parse_time(&dg.digest_start_time);
                if let (Some(period), Some(start)) = (period, start) {
                    let mut end = o.name.end + chrono::Duration::seconds(period);
                    // Every period between the older digest and this one had a digest.
                    while end < start {
                        report.add(
                            Kind::DigestFile,
                            &missing_digest_key(&d.key, end),
                            Err(format!(
                                "not found: the digest ending {} is missing from the chain",
                                end.to_rfc3339()
                            )),
                        );
                        end += chrono::Duration::seconds(period);
                    }
                }
            }
            let Ok(dg) = &d.digest else { continue };
            for f in &dg.log_files {
                referenced.insert(f.s3_object.clone());
                let result = match dest.get(&f.s3_object).await.map_err(|e| e.to_string())? {
                    None => Err("not found".to_string()),
                    Some((gz, _)) => match gunzip(&gz, &f.s3_object) {
                        Err(e) => Err(e),
                        Ok(raw) => {
                            report.bytes_hashed += raw.len() as u64;
                            if digest::sha256_hex(&raw) == f.hash_value {
                                Ok("valid".to_string())
                            } else {
                                Err("hash value doesn't match".to_string())
                            }
                        }
                    },
                };
                report.add(Kind::LogFile, &f.s3_object, result);
            }
        }
    }

    // 2. Every other object must be accounted for.
    // Accounts whose digests are here: a log file of any other account was delivered by some
    // other trail into this destination — named as such, and kept out of this Merkle log
    // (tiled in, it read as a deleted range or a truncation).
    let digest_accounts: std::collections::HashSet<&str> =
        newest_digest_end.keys().map(|(a, _)| a.as_str()).collect();
    let mut logs: Vec<(u64, String)> = Vec::new();
    let mut checkpoints: Vec<String> = Vec::new();
    for key in &all {
        if key.contains("/CloudTrail-Digest/")
            && (key.ends_with(".json.gz") || key.ends_with(".json.gz.sig"))
        {
            continue;
        }
        if key.contains("/CloudTrail-Checkpoint/") {
            if key.ends_with("/checkpoint") {
                checkpoints.push(key.clone());
            }
            continue;
        }
        match (key.contains("/CloudTrail/"), parse_log_name(key)) {
            (true, Some(n))
                if !digest_accounts.is_empty() && !digest_accounts.contains(n.account.as_str()) =>
            {
                report.add(
                    Kind::LogFile,
                    key,
                    Err(format!(
                        "a log file of account {} — no digest here covers that account: another trail's file in this destination, not part of this log",
                        n.account
                    )),
                );
            }
            (true, Some(n)) => {
                logs.push((n.leaf_start, key.clone()));
                if !referenced.contains(key) {
                    let newest = newest_digest_end.get(&(n.account.clone(), n.region.clone()));
                    if newest.is_some_and(|e| n.at < *e - chrono::Duration::minutes(1)) {
                        report.add(
                            Kind::LogFile,
                            key,
                            Err("not listed in any digest (injected or renamed)".into()),
                        );
                    }
                }
            }
            _ => report.add(
                Kind::Object,
                key,
                Err("not a file the trail delivered (injected)".into()),
            ),
        }
    }

    // 3. The Merkle log: files must tile it, and reproduce the signed checkpoints.
    logs.sort();
    let mut tree = CompactTree::default();
    let mut roots: HashMap<u64, merkle::Hash> = HashMap::new();
    let mut wanted: HashSet<u64> = HashSet::new();
    let mut checkpoint_sizes = Vec::new();
    for key in &checkpoints {
        let trail = key.rsplit('/').nth(1).unwrap_or_default();
        // A trail name may have had several keys (a deleted trail, re-created): any may sign.
        let candidates: Vec<&CheckpointKey> = keys
            .checkpoint_keys
            .iter()
            .filter(|k| k.trail == trail)
            .collect();
        if candidates.is_empty() {
            report.add(
                Kind::Checkpoint,
                key,
                Err(format!(
                    "no verifier key for trail {trail:?} in the public keys"
                )),
            );
            continue;
        }
        let Some((note, _)) = dest.get(key).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let mut verified = Err(merkle::ProofError::Checkpoint("no key".into()));
        for vk in candidates {
            verified = merkle::verify_checkpoint(&note, &vk.verifier_key);
            if verified.is_ok() {
                break;
            }
        }
        match verified {
            Ok(cp) => {
                wanted.insert(cp.size);
                checkpoint_sizes.push((key.clone(), cp));
            }
            Err(e) => report.add(Kind::Checkpoint, key, Err(e.to_string())),
        }
    }
    let witness = match &opts.witness {
        None => None,
        Some(w) => {
            let mut found = None;
            for k in &keys.checkpoint_keys {
                if let Ok(cp) = merkle::verify_checkpoint(w, &k.verifier_key) {
                    found = Some(cp);
                }
            }
            match found {
                Some(cp) => {
                    wanted.insert(cp.size);
                    Some(cp)
                }
                None => {
                    report.add(
                        Kind::Checkpoint,
                        "witness",
                        Err("the witness checkpoint is not signed by any known log key".into()),
                    );
                    None
                }
            }
        }
    };
    let mut tiled = true;
    for (start, key) in &logs {
        if *start != tree.size() {
            tiled = false;
            report.add(
                Kind::MerkleLog,
                key,
                Err(if *start > tree.size() {
                    format!("records {}..{} of the log are missing (a log file was deleted or renamed)", tree.size(), start)
                } else {
                    format!("starts at record {start} but the log already has {} (a file was renamed or copied)", tree.size())
                }),
            );
            if *start < tree.size() {
                continue;
            }
        }
        let Some((gz, _)) = dest.get(key).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let records = match records_of(&gz, key) {
            Ok(r) => r,
            Err(e) => {
                report.add(Kind::MerkleLog, key, Err(e));
                tiled = false;
                continue;
            }
        };
        for r in records {
            if tiled {
                tree.push(merkle::leaf_hash(r.as_bytes()));
                if wanted.contains(&tree.size()) {
                    roots.insert(tree.size(), tree.root());
                }
            }
        }
    }
    report.records = tree.size();
    let check = |what: &str, key: &str, cp: &merkle::VerifiedCheckpoint, report: &mut Report| {
        let result = if cp.size > tree.size() {
            Err(format!(
                "{what} is signed for {} records but the log files hold only {}: the newest records were deleted (truncation)",
                cp.size,
                tree.size()
            ))
        } else if roots.get(&cp.size) != Some(&cp.root) {
            Err(format!(
                "{what}: the log files do not reproduce its root at size {} (records changed)",
                cp.size
            ))
        } else {
            Ok(format!(
                "valid: the log files reproduce its {} records",
                cp.size
            ))
        };
        report.add(Kind::Checkpoint, key, result);
    };
    for (key, cp) in &checkpoint_sizes {
        check("checkpoint", key, cp, &mut report);
    }
    if let Some(cp) = &witness {
        check("witness checkpoint", "witness", cp, &mut report);
    }
    Ok(report)
}

/// At most this many "missing digest" lines for one gap at the end of a chain.
const MAX_MISSING_LINES: usize = 1000;

/// How a missing digest is named: its folder and end time (its exact name is unknowable).
fn missing_digest_key(neighbour: &str, end: DateTime<Utc>) -> String {
    format!(
        "{}…_{}",
        neighbour.rsplit_once('/').map_or("", |x| x.0),
        end.format("%Y%m%dT%H%M%SZ")
    )
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn period_of(d: &Digest) -> Option<i64> {
    let s = parse_time(&d.digest_start_time)?;
    let e = parse_time(&d.digest_end_time)?;
    let p = (e - s).num_seconds();
    (p > 0).then_some(p)
}

fn check_digest(
    dest: &Destination,
    d: &LoadedDigest,
    older: Option<&LoadedDigest>,
    keys: &KeySet,
) -> Result<(), String> {
    let dg = d
        .digest
        .as_ref()
        .map_err(|e| format!("invalid format: {e}"))?;
    if dg.digest_s3_object != d.key || (dest.has_metadata && dg.digest_s3_bucket != dest.bucket) {
        return Err("has been moved from its original location".into());
    }
    let key = keys
        .digest_keys
        .iter()
        .find(|k| k.fingerprint == dg.digest_public_key_fingerprint)
        .ok_or_else(|| {
            format!(
                "public key not found for fingerprint {}",
                dg.digest_public_key_fingerprint
            )
        })?;
    let sig = d
        .signature
        .as_deref()
        .ok_or("signature not found (no metadata and no .sig object)")?;
    let sig = hex::decode(sig).map_err(|_| "signature is not hex".to_string())?;
    let der = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&key.value)
            .map_err(|e| format!("public key {} is not base64: {e}", key.fingerprint))?
    };
    // The signature covers the digest's exact bytes, so re-read them through its hash.
    let string = format!(
        "{}\n{}/{}\n{}\n{}",
        dg.digest_end_time,
        dg.digest_s3_bucket,
        dg.digest_s3_object,
        d.hash,
        dg.previous_digest_signature.as_deref().unwrap_or("null")
    );
    if !signing::verify(&key.algorithm, &der, string.as_bytes(), &sig).map_err(|e| e.to_string())? {
        return Err("signature verification failed".into());
    }
    if let (Some(o), Some(prev)) = (older, &dg.previous_digest_s3_object)
        && prev == &o.key
    {
        if dg.previous_digest_hash_value.as_deref() != Some(o.hash.as_str()) {
            return Err(format!(
                "previous digest {} does not hash to previousDigestHashValue (it was modified)",
                o.key
            ));
        }
        if dg.previous_digest_signature.as_deref() != o.signature.as_deref() {
            return Err(format!(
                "previous digest {} has a different signature than this digest recorded",
                o.key
            ));
        }
    }
    Ok(())
}
