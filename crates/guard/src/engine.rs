//! Detection on the server: every event the history accepts flows through the detectors of its
//! account (when enabled), in commit order, from a committed cursor; new findings go to the
//! account's webhook through a durable outbox (JSON POST, `X-Mamori-Signature: sha256=<HMAC>`,
//! retried with back-off).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use mamori_core::service::Shared;
use mamori_trail::history::store::History;
use sha2::Sha256;

use crate::cloudtrail::{Context, detect};
use crate::config::GuardConfig;
use crate::curated::KnownAccounts;
use crate::curated::bursts::Bursts;
use crate::dns::{DnsDetector, Query};
use crate::flow::{FlowDetector, Layout};
use crate::intel::{Intel, ListFormat, ListKind};
use crate::sigma::{Record, SigmaRules};
use crate::store::{GuardDb, GuardError};
use crate::view::Lite;

/// Events read per step.
const BATCH: usize = 4096;

/// Findings not updated for this long are removed, as GuardDuty's are.
const FINDINGS_KEPT_DAYS: i64 = 90;

/// The longest flow or DNS log line read; a longer one is rejected without being held.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The organization's account ids, read when needed.
pub type Accounts = Arc<dyn Fn() -> Vec<i64> + Send + Sync>;

/// How long the organization's account list is used before it is read again.
const KNOWN_ACCOUNTS_TTL: Duration = Duration::from_secs(60);

pub struct Engine {
    pub db: Arc<Shared<GuardDb>>,
    /// Flow and DNS detectors' windows and baselines, per account (kept in memory only: they
    /// are what detection needs, not history).
    network: Mutex<HashMap<i64, (FlowDetector, DnsDetector)>>,
    /// Curated bursts' windows per account (in memory, as the network detectors').
    bursts: Mutex<HashMap<i64, Bursts>>,
    /// The organization's accounts (read again at most once a minute) and `trusted_accounts`:
    /// what "outside the organization" is measured against.
    accounts: Accounts,
    known: Mutex<(Option<std::time::Instant>, Arc<KnownAccounts>)>,
    /// Retro-hunts started since the server did.
    retros: crate::retro::RetroHunts,
    cfg: GuardConfig,
    history: Arc<History>,
    management: i64,
    instance_networks: Vec<IpNet>,
    intel: Mutex<(String, HashMap<i64, Arc<Intel>>)>,
    /// Sigma rules per account (each its own correlation state), loaded from `sigma_rules`.
    sigma: Mutex<HashMap<i64, SigmaRules>>,
    outbound: Outbound,
}

/// The operator's walls around where findings are published: local folders and S3 buckets
/// tenants may name, and whether webhooks may call non-public addresses.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub destinations: mamori_dest::Confinement,
    pub allow_private_webhooks: bool,
}

fn parse_format(f: &str) -> ListFormat {
    match f {
        "CSV" => ListFormat::Csv,
        "STIX" => ListFormat::Stix,
        _ => ListFormat::Txt,
    }
}

impl Engine {
    pub fn new(
        db: GuardDb,
        history: Arc<History>,
        management: i64,
        cfg: GuardConfig,
        outbound: Outbound,
        accounts: Accounts,
    ) -> Result<Arc<Self>, GuardError> {
        cfg.known_accounts().map_err(GuardError::Invalid)?;
        let instance_networks: Vec<IpNet> = cfg.networks().map_err(GuardError::Invalid)?;
        if !cfg.sigma_rules.is_empty() {
            // Load once now to report bad rules at startup (each account loads its own copy).
            let (rules, errors) = SigmaRules::load(&cfg.sigma_rules);
            for e in &errors {
                tracing::warn!(error = %e, "Sigma rule rejected");
            }
            tracing::info!(
                rules = rules.rules,
                correlations = rules.correlations,
                "Sigma rules loaded"
            );
        }
        if db.cursor()?.is_none() {
            // Detection covers what arrives from now on, as GuardDuty does when enabled.
            let last = history
                .last_seq()
                .map_err(|e| GuardError::Invalid(e.to_string()))?;
            db.init_cursor(last)?;
        }
        let path = db.path().to_path_buf();
        Ok(Arc::new(Engine {
            db: Arc::new(Shared::new(db, &path)),
            network: Mutex::new(HashMap::new()),
            bursts: Mutex::new(HashMap::new()),
            accounts,
            known: Mutex::new((None, Arc::new(KnownAccounts::default()))),
            retros: crate::retro::RetroHunts::default(),
            cfg,
            history,
            management,
            instance_networks,
            intel: Mutex::new((String::new(), HashMap::new())),
            sigma: Mutex::new(HashMap::new()),
            outbound,
        }))
    }

    fn db(&self) -> std::sync::MutexGuard<'_, GuardDb> {
        self.db.lock()
    }

    /// The lists that apply to an account (its own and the organization's), cached until any
    /// list changes.
    pub(crate) fn intel_for(&self, account: i64) -> Result<Arc<Intel>, GuardError> {
        let generation = self.db().lists_generation()?;
        let mut cache = self.intel.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != generation {
            *cache = (generation, HashMap::new());
        }
        if let Some(i) = cache.1.get(&account) {
            return Ok(i.clone());
        }
        let mut accounts = vec![account];
        if account != self.management {
            accounts.push(self.management);
        }
        let mut intel = Intel::with_canaries();
        for (name, kind, format, content) in self.db().list_contents(&accounts)? {
            // Lists were checked when stored; a list that fails now is skipped, not fatal.
            let kind = match kind.parse::<ListKind>() {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(list = %name, error = %e, "stored threat list has an unknown kind; not loaded");
                    continue;
                }
            };
            if let Err(e) = intel.load(&name, kind, parse_format(&format), &content) {
                tracing::warn!(error = %e, "threat list not loaded");
            }
        }
        let intel = Arc::new(intel);
        cache.1.insert(account, intel.clone());
        Ok(intel)
    }

    pub fn retros(&self) -> &crate::retro::RetroHunts {
        &self.retros
    }

    pub(crate) fn history(&self) -> &History {
        &self.history
    }

    pub(crate) fn config(&self) -> &GuardConfig {
        &self.cfg
    }

    pub(crate) fn instance_networks(&self) -> &[IpNet] {
        &self.instance_networks
    }

    /// The organization's accounts and the trusted ones, cached for a minute.
    pub(crate) fn known(&self) -> Arc<KnownAccounts> {
        let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if k.0.is_none_or(|at| at.elapsed() > KNOWN_ACCOUNTS_TTL) {
            let mut all: Vec<String> = (self.accounts)()
                .into_iter()
                .filter_map(|a| crate::store::account_id(a).ok())
                .map(|a| a.to_string())
                .collect();
            all.extend(self.cfg.trusted_accounts.iter().cloned());
            *k = (
                Some(std::time::Instant::now()),
                Arc::new(KnownAccounts::new(all)),
            );
        }
        k.1.clone()
    }

    /// One step: the next events after the cursor through the detectors, committed with the
    /// cursor. Returns how many events were read.
    pub fn step(&self) -> Result<usize, GuardError> {
        let Some(after) = self.db().cursor()? else {
            return Ok(0);
        };
        let events = self
            .history
            .read_after(after, BATCH)
            .map_err(|e| GuardError::Invalid(e.to_string()))?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let mut enabled: HashMap<i64, bool> = HashMap::new();
        let mut signals = Vec::new();
        let known = self.known();
        let mut bursts = self.bursts.lock().unwrap_or_else(|p| p.into_inner());
        for ev in &events {
            let on = match enabled.get(&ev.account) {
                Some(v) => *v,
                None => {
                    let v = self
                        .db()
                        .reads()
                        .enabled(crate::store::account_id(ev.account)?)?;
                    enabled.insert(ev.account, v);
                    v
                }
            };
            if !on {
                continue;
            }
            let Ok(lite) = Lite::parse(&ev.record) else {
                continue; // the history only holds records it could parse
            };
            let view = lite.view();
            let intel = self.intel_for(ev.account)?;
            let ctx = Context {
                intel: &intel,
                instance_networks: &self.instance_networks,
                known: &known,
            };
            let mut found = detect(&view, &ctx);
            bursts
                .entry(ev.account)
                .or_insert_with(|| Bursts::new(&self.cfg))
                .observe(&view, &mut found);
            if !self.cfg.sigma_rules.is_empty() {
                let mut sigma = self.sigma.lock().unwrap_or_else(|p| p.into_inner());
                let rules = sigma
                    .entry(ev.account)
                    .or_insert_with(|| SigmaRules::load(&self.cfg.sigma_rules).0);
                // Most records cannot match any rule: they are not read for the rules at all.
                if let Ok(hits) = rules.detect_record_mut(Record::Text(&ev.record), &view) {
                    found.extend(hits);
                }
            }
            let account_text = crate::store::account_id(ev.account)?.to_string();
            for mut s in found {
                s.account = account_text.clone();
                signals.push((ev.account, s));
            }
        }
        let new = self.db().commit(&signals, last)?;
        if !new.is_empty() {
            metrics::counter!("mamori_guard_findings_created_total").increment(new.len() as u64);
        }
        metrics::counter!("mamori_guard_events_analyzed_total").increment(events.len() as u64);
        Ok(events.len())
    }

    /// Flow-log or DNS-log lines of an account through its detectors; findings committed (the
    /// lines themselves are not kept). Returns (records, findings signalled, bad lines with
    /// their line numbers and reasons).
    pub fn ingest_lines(
        &self,
        account: i64,
        dns: bool,
        input: impl std::io::BufRead,
    ) -> Result<(usize, usize, mamori_core::input::Rejections), GuardError> {
        use mamori_core::input::{Line, Lines, Rejections};
        if !self
            .db()
            .reads()
            .enabled(crate::store::account_id(account)?)?
        {
            return Err(GuardError::Invalid(
                "detection is not enabled for this account: `mamori guard enable` first".into(),
            ));
        }
        let account_text = crate::store::account_id(account)?.to_string();
        let intel = self.intel_for(account)?;
        let mut signals = Vec::new();
        let mut bad = Rejections::keeping(100);
        let mut records = 0;
        {
            let mut net = self.network.lock().unwrap_or_else(|p| p.into_inner());
            let (flows, queries) = net
                .entry(account)
                .or_insert_with(|| (FlowDetector::new(&self.cfg), DnsDetector::new(&self.cfg)));
            let mut layout = Layout::v2();
            let mut lines = Lines::new(input, MAX_LINE_BYTES);
            loop {
                let n = lines.number + 1;
                let line = lines
                    .next_line()
                    .map_err(|e| GuardError::Invalid(format!("reading the body: {e}")))?;
                let line = match line {
                    None => break,
                    Some(Line::Text(t)) => t.trim(),
                    Some(Line::TooLong { len }) => {
                        bad.push(|| {
                            format!("line {n}: {len} bytes, longer than {MAX_LINE_BYTES}; skipped")
                        });
                        continue;
                    }
                    Some(Line::NotUtf8 { at }) => {
                        bad.push(|| format!("line {n}: not UTF-8 at byte {at}"));
                        continue;
                    }
                };
                if line.is_empty() {
                    continue;
                }
                let found = if dns {
                    match serde_json::from_str::<Query>(line) {
                        Ok(q) => queries.detect(&q, &intel),
                        Err(e) => {
                            bad.push(|| format!("line {n}: not a resolver query log record ({e})"));
                            continue;
                        }
                    }
                } else {
                    if n == 1
                        && let Some(l) = Layout::from_header(line)
                    {
                        layout = l;
                        continue;
                    }
                    match layout.parse(line) {
                        Ok(Some(f)) => flows.detect(&f, &intel),
                        Ok(None) => Vec::new(),
                        Err(e) => {
                            bad.push(|| format!("line {n}: not a flow log record ({e})"));
                            continue;
                        }
                    }
                };
                records += 1;
                for mut s in found {
                    s.account = account_text.clone();
                    signals.push((account, s));
                }
            }
        }
        let n = signals.len();
        let cursor = self.db().cursor()?.unwrap_or(0);
        self.db().commit(&signals, cursor)?;
        Ok((records, n, bad))
    }

    /// Sends due deliveries — to the webhook (signed) and/or the destination — and queues
    /// updates of published findings every `publish_updates_minutes`. A failure is retried with
    /// back-off (2^n s, up to 1 h).
    pub async fn publish(&self) -> Result<(), GuardError> {
        self.db().queue_updates(self.cfg.publish_updates_minutes)?;
        let now = chrono::Utc::now();
        let due = self.db().due(now.timestamp(), 50)?;
        for p in due {
            match self.deliver(&p, now).await {
                Ok(()) => self.db().delivered(p.id)?,
                Err(e) => {
                    let wait = 1i64 << p.attempts.clamp(0, 12);
                    self.db()
                        .retry_later(p.id, now.timestamp() + wait.min(3600), &e)?;
                    metrics::counter!("mamori_guard_publish_failures_total").increment(1);
                }
            }
        }
        Ok(())
    }

    async fn deliver(
        &self,
        p: &crate::store::Pending,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        if !p.url.is_empty() {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(p.secret.as_bytes()).map_err(|e| e.to_string())?;
            mac.update(p.body.as_bytes());
            let sig = hex::encode(mac.finalize().into_bytes());
            // Checked again at every call (the operator may have changed the rules; DNS may
            // answer differently now), and connected to the address that was checked.
            let target = mamori_dest::outbound::check(&p.url, self.outbound.allow_private_webhooks)
                .await
                .map_err(|e| e.to_string())?;
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .resolve(&target.host, target.addr)
                .build()
                .map_err(|e| e.to_string())?;
            let resp = http
                .post(target.url)
                .header("content-type", "application/json")
                .header("x-mamori-signature", format!("sha256={sig}"))
                .header("x-mamori-delivery", p.id.to_string())
                .body(p.body.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
        }
        if let Some(d) = &p.destination {
            let account = mamori_core::AccountId::from_i64(p.account).map_err(|e| e.to_string())?;
            let dest = self
                .outbound
                .destinations
                .open(account, d)
                .map_err(|e| e.to_string())?;
            let region = serde_json::from_str::<serde_json::Value>(&p.body)
                .ok()
                .and_then(|v| v["region"].as_str().map(String::from))
                .filter(|r| {
                    !r.is_empty() && r.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                })
                .unwrap_or_else(|| "local".into());
            let key = format!(
                "{}AWSLogs/{:012}/GuardDuty/{region}/{}/{}-{}.json",
                if dest.prefix.is_empty() {
                    String::new()
                } else {
                    format!("{}/", dest.prefix)
                },
                p.account,
                now.format("%Y/%m/%d"),
                p.finding,
                p.id
            );
            dest.put(&key, p.body.clone().into_bytes(), &[])
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The operator's rules for publishing targets.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The background loop: detection every 50 ms when idle (at once while events wait), publishing
    /// after each step.
    pub async fn run(self: Arc<Self>) {
        let mut pruned_at = std::time::Instant::now() - Duration::from_secs(7200);
        loop {
            if pruned_at.elapsed() > Duration::from_secs(3600) {
                pruned_at = std::time::Instant::now();
                match self.db().prune(FINDINGS_KEPT_DAYS) {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "old findings removed"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "removing old findings failed"),
                }
            }
            let e = self.clone();
            let read = match tokio::task::spawn_blocking(move || e.step()).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "detection step failed");
                    0
                }
                Err(e) => {
                    tracing::error!(error = %e, "detection task failed");
                    0
                }
            };
            if let Err(e) = self.publish().await {
                tracing::error!(error = %e, "publishing findings failed");
            }
            if read == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
