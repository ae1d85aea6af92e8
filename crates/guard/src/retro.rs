//! Retro-hunts: today's detectors (built-in, curated and bursts, the configured Sigma rules and
//! any sent with the request, the account's current threat lists) over the account's stored event history since a time, in the
//! background. Findings are dated when the activity happened (`eventFirstSeen`/`eventLastSeen` are
//! the events' times), marked `service.additionalInfo.retroHunt`, aggregated with the live ones
//! and published like them; the live cursor is not moved. Progress is kept in memory.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::cloudtrail::{Context, detect};
use crate::curated::bursts::{Bursts, seconds};
use crate::engine::Engine;
use crate::sigma::{Record, SigmaRules};
use crate::store::GuardError;
use crate::view::Lite;

/// Events read per step.
const BATCH: usize = 4096;

/// Retro-hunts kept (finished ones are forgotten oldest first beyond this).
const KEPT: usize = 100;

/// One retro-hunt's progress.
pub struct RetroHunt {
    pub id: String,
    pub account: i64,
    /// Events since this time (seconds since the epoch) are hunted.
    pub since: i64,
    /// The history's last event when the hunt started: it stops there.
    pub end_seq: i64,
    pub scanned: AtomicU64,
    pub hunted: AtomicU64,
    pub signals: AtomicU64,
    pub new_findings: AtomicU64,
    pub at_seq: AtomicI64,
    pub done: AtomicBool,
    pub error: Mutex<Option<String>>,
    pub started_at: String,
    /// Sigma rules sent with the request (run beside the configured ones).
    pub rules: usize,
}

impl RetroHunt {
    /// The progress as the API shows it.
    pub fn status(&self) -> Value {
        let done = self.done.load(Ordering::Acquire);
        let error = self.error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let state = match (done, &error) {
            (_, Some(_)) => "FAILED",
            (true, None) => "COMPLETED",
            (false, None) => "RUNNING",
        };
        let since = chrono::DateTime::from_timestamp(self.since, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let end = self.end_seq.max(1);
        let at = self.at_seq.load(Ordering::Acquire).min(end);
        json!({
            "retroHuntId": self.id,
            "accountId": crate::store::account_id(self.account).map(|a| a.to_string()).unwrap_or_default(),
            "status": state,
            "since": since,
            "startedAt": self.started_at,
            "eventsScanned": self.scanned.load(Ordering::Acquire),
            "eventsHunted": self.hunted.load(Ordering::Acquire),
            "signals": self.signals.load(Ordering::Acquire),
            "newFindings": self.new_findings.load(Ordering::Acquire),
            "rules": self.rules,
            "percentDone": if done { 100.0 } else { (at as f64 * 100.0 / end as f64).floor() },
            "error": error,
        })
    }
}

/// The retro-hunts of this server run.
#[derive(Default)]
pub struct RetroHunts {
    hunts: Mutex<Vec<Arc<RetroHunt>>>,
}

impl RetroHunts {
    pub fn get(&self, account: i64, id: &str) -> Option<Arc<RetroHunt>> {
        self.hunts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|h| h.account == account && h.id == id)
            .cloned()
    }

    fn running(&self, account: i64) -> bool {
        self.hunts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|h| h.account == account && !h.done.load(Ordering::Acquire))
    }

    fn add(&self, h: Arc<RetroHunt>) {
        let mut hunts = self.hunts.lock().unwrap_or_else(|p| p.into_inner());
        if hunts.len() >= KEPT
            && let Some(i) = hunts.iter().position(|h| h.done.load(Ordering::Acquire))
        {
            hunts.remove(i);
        }
        hunts.push(h);
    }
}

/// Why a retro-hunt could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a retro-hunt is already running for this account: wait for it to finish")]
    Running,
    #[error(transparent)]
    Guard(#[from] GuardError),
}

impl mamori_core::service::ServiceError for StartError {
    fn code(&self) -> mamori_core::ErrorCode {
        match self {
            StartError::Running => mamori_core::ErrorCode::Conflict,
            StartError::Guard(g) => g.code(),
        }
    }
}

impl Engine {
    /// Starts a retro-hunt of `account`'s events since `since` (seconds) on a thread of its own.
    pub fn start_retrohunt(
        self: &Arc<Self>,
        account: i64,
        since: i64,
        rules: Option<SigmaRules>,
    ) -> Result<Arc<RetroHunt>, StartError> {
        let retro = self.retros();
        if retro.running(account) {
            return Err(StartError::Running);
        }
        let end_seq = self
            .history()
            .last_seq()
            .map_err(|e| GuardError::Invalid(e.to_string()))?;
        let hunt = Arc::new(RetroHunt {
            id: uuid::Uuid::new_v4().simple().to_string(),
            account,
            since,
            end_seq,
            scanned: AtomicU64::new(0),
            hunted: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            new_findings: AtomicU64::new(0),
            at_seq: AtomicI64::new(0),
            done: AtomicBool::new(false),
            error: Mutex::new(None),
            started_at: mamori_core::time::now_millis(),
            rules: rules.as_ref().map_or(0, |r| r.rules + r.correlations),
        });
        retro.add(hunt.clone());
        let (engine, h) = (self.clone(), hunt.clone());
        std::thread::Builder::new()
            .name("mamori-retrohunt".into())
            .spawn(move || {
                if let Err(e) = engine.run_retrohunt(&h, rules) {
                    tracing::error!(error = %e, id = %h.id, "retro-hunt failed");
                    *h.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                }
                h.done.store(true, Ordering::Release);
            })
            .map_err(|e| GuardError::Invalid(format!("cannot start the retro-hunt: {e}")))?;
        Ok(hunt)
    }

    fn run_retrohunt(&self, h: &RetroHunt, mut sent: Option<SigmaRules>) -> Result<(), GuardError> {
        let cfg = self.config();
        let mut bursts = Bursts::new(cfg);
        let mut sigma = (!cfg.sigma_rules.is_empty()).then(|| SigmaRules::load(&cfg.sigma_rules).0);
        let account_text = crate::store::account_id(h.account)?.to_string();
        let mut after = 0i64;
        loop {
            let events = self
                .history()
                .read_after(after, BATCH)
                .map_err(|e| GuardError::Invalid(e.to_string()))?;
            if events.is_empty() {
                break;
            }
            let intel = self.intel_for(h.account)?;
            let known = self.known();
            let ctx = Context {
                intel: &intel,
                instance_networks: self.instance_networks(),
                known: &known,
            };
            let mut signals = Vec::new();
            let mut finished = false;
            for ev in &events {
                if ev.seq > h.end_seq {
                    finished = true;
                    break;
                }
                after = ev.seq;
                h.scanned.fetch_add(1, Ordering::Relaxed);
                if ev.account != h.account {
                    continue;
                }
                let Ok(lite) = Lite::parse(&ev.record) else {
                    continue;
                };
                let view = lite.view();
                if seconds(view.event_time) < h.since {
                    continue;
                }
                h.hunted.fetch_add(1, Ordering::Relaxed);
                let mut found = detect(&view, &ctx);
                bursts.observe(&view, &mut found);
                for rules in [sigma.as_mut(), sent.as_mut()].into_iter().flatten() {
                    if let Ok(hits) = rules.detect_record_mut(Record::Text(&ev.record), &view) {
                        found.extend(hits);
                    }
                }
                for mut s in found {
                    s.account = account_text.clone();
                    mark(&mut s.info, &h.id);
                    signals.push((h.account, s));
                }
            }
            h.signals.fetch_add(signals.len() as u64, Ordering::Relaxed);
            let new = self.db.lock().commit_found(&signals)?;
            h.new_findings
                .fetch_add(new.len() as u64, Ordering::Relaxed);
            h.at_seq.store(after, Ordering::Release);
            if finished || after >= h.end_seq {
                break;
            }
        }
        Ok(())
    }
}

/// Marks a finding as found by a retro-hunt (`additionalInfo.retroHunt`, with its id).
fn mark(info: &mut Option<Value>, id: &str) {
    let extra = json!({"retroHunt": true, "retroHuntId": id});
    match info {
        Some(Value::Object(m)) => {
            if let Value::Object(e) = extra {
                m.extend(e);
            }
        }
        _ => *info = Some(extra),
    }
}
