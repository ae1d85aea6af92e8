//! mamori-trail: the audit trail, CloudTrail's counterpart.
//!
//! Owns the CloudTrail record model ([`model`]), ingest ([`body`], [`ingest`]), the event
//! history engine with retention and lookup ([`history`]), importing log files ([`import`]),
//! channels for application events ([`channel`]), the self-audit sink ([`audit`]) and the
//! `/v1/trail` HTTP API ([`api`]). Depends on `mamori-core` only; knows nothing of accounts
//! beyond the [`mamori_core::Caller`] it is handed, and never touches another service's tables.
//! Its data lives in `trail.db`.

pub mod api;
pub mod audit;
pub mod body;
pub mod channel;
pub mod classify;
pub mod field;
pub mod history;
pub mod import;
pub mod ingest;
pub mod model;
#[allow(unsafe_code)] // setpriority(2)
pub mod prepare;
#[allow(unsafe_code)] // the SSE2 scanner
pub mod scan;

use std::path::Path;
use std::sync::Arc;

use crate::history::store::{History, HistoryOptions, Outcome, StoreError};
use crate::ingest::{EventResult, IngestReport, Limits, Status, StoreBatch};

pub use model::Record;

/// The trail service: its store and the settings requests are checked against.
pub struct Trail {
    pub history: Arc<History>,
    pub channels: channel::Channels,
    pub max_batch_events: usize,
    pub max_body_bytes: usize,
    /// The region of mamori's own events (`[trail] region`).
    pub region: String,
    /// Where ingest requests are decompressed and prepared (see [`prepare`]).
    pub prepare: prepare::PreparePool,
    /// Ingest requests whose bodies are read at once (2 per core): the others wait with their
    /// bodies still in the socket, not in memory.
    pub admit: tokio::sync::Semaphore,
}

impl Trail {
    pub fn open(
        data_dir: &Path,
        cfg: &mamori_core::config::TrailConfig,
    ) -> Result<Arc<Self>, StoreError> {
        let history = History::open(
            data_dir,
            HistoryOptions {
                retention_days: cfg.retention_days,
                max_event_bytes: cfg.max_event_bytes,
            },
        )?;
        let channels = channel::Channels::open(history.path())?;
        Ok(Arc::new(Self {
            history,
            channels,
            max_batch_events: cfg.max_batch_events,
            region: cfg.region.clone(),
            prepare: prepare::PreparePool::per_core(),
            admit: tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            max_body_bytes: cfg.max_body_bytes,
        }))
    }
}

/// A batch validated and compressed, waiting for the store.
pub struct PreparedBatch {
    report: IngestReport,
    /// Index in `report.results` of each prepared event, in store order.
    slots: Vec<usize>,
    batch: StoreBatch,
}

impl PreparedBatch {
    /// Validates every record and compresses them in day blocks (CPU work: call from a
    /// blocking thread).
    pub fn new(raws: &[&str], limits: &Limits, account: i64) -> Self {
        let mut report = IngestReport {
            results: Vec::with_capacity(raws.len()),
            ..Default::default()
        };
        let mut slots = Vec::with_capacity(raws.len());
        let mut events = Vec::with_capacity(raws.len());
        let mut texts = Vec::with_capacity(raws.len());
        // The dedup key of each prepared event (its eventID moves into the report).
        let mut ids = Vec::with_capacity(raws.len());
        for (index, raw) in raws.iter().enumerate() {
            match ingest::prepare(raw, limits) {
                Ok(mut p) => {
                    ids.push(history::store::id_hash(account, &p.event_id));
                    slots.push(report.results.len());
                    report.results.push(EventResult {
                        index,
                        id: None,
                        event_id: Some(std::mem::take(&mut p.event_id)),
                        status: Status::Accepted,
                        reason: None,
                    });
                    events.push(p);
                    texts.push(*raw);
                }
                Err(reason) => {
                    report.results.push(EventResult {
                        index,
                        id: None,
                        event_id: event_id_hint(raw),
                        status: Status::Rejected,
                        reason: Some(reason),
                    });
                }
            }
        }
        let blocks = ingest::build_blocks(&events, &texts);
        let postings = ingest::BatchPostings::build(&events);
        Self {
            report,
            slots,
            batch: StoreBatch {
                times: events.iter().map(|p| p.time_ms).collect(),
                days: events.iter().map(|p| p.day).collect(),
                blocks,
                ids,
                postings,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.report.results.len()
    }

    pub fn is_empty(&self) -> bool {
        self.report.results.is_empty()
    }

    /// The part the store needs; call once.
    pub fn take_store_batch(&mut self) -> StoreBatch {
        std::mem::take(&mut self.batch)
    }

    /// Fills in the store's outcomes and tallies the report.
    pub fn finish(self, outcomes: &[Outcome]) -> IngestReport {
        let mut results = self.report.results;
        for (slot, outcome) in self.slots.iter().zip(outcomes) {
            if *outcome == Outcome::Duplicate {
                results[*slot].status = Status::Duplicate;
            }
        }
        let mut report = IngestReport::default();
        for r in results {
            report.push(r);
        }
        metrics::counter!("mamori_trail_events_total", "outcome" => "accepted")
            .increment(report.accepted as u64);
        metrics::counter!("mamori_trail_events_total", "outcome" => "duplicate")
            .increment(report.duplicate as u64);
        metrics::counter!("mamori_trail_events_total", "outcome" => "rejected")
            .increment(report.rejected as u64);
        report
    }
}

/// The eventID of a record that failed validation, when one can be read, to help the sender.
fn event_id_hint(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "eventID")]
        event_id: Option<String>,
    }
    serde_json::from_str::<Id>(raw)
        .ok()?
        .event_id
        .filter(|id| id.len() <= 256)
}

/// Ingests raw records for `account` from a blocking context (file import, self-audit).
pub fn ingest_blocking(
    history: &History,
    account: i64,
    raws: &[&str],
) -> Result<IngestReport, StoreError> {
    let mut batch = PreparedBatch::new(raws, &history.limits(), account);
    let store = batch.take_store_batch();
    let outcomes = if store.is_empty() {
        Vec::new()
    } else {
        history.append_blocking(account, store)?
    };
    Ok(batch.finish(&outcomes))
}
