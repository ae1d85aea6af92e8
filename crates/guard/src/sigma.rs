//! Sigma rules (specification v2, with correlation rules: event_count, value_count, temporal…)
//! through the `rsigma` crates (MIT), pinned at 0.23 — the newest release that builds with Rust
//! 1.95. Rules run streaming (the correlation state lives across batches) and offline.
//!
//! SigmaHQ's CloudTrail rules run unmodified: their field names (`eventSource`, `eventName`,
//! `userIdentity.type`, `requestParameters.…`) are the record's own JSON names, which rsigma
//! reads by dotted path. A match becomes a finding of type `Sigma:<logsource>/<rule title>`,
//! severity from the rule's level (informational 1, low 2, medium 5, high 8, critical 9), with
//! the rule's id, author, licence and file in `service.additionalInfo`.

use std::collections::HashMap;
use std::path::PathBuf;

use rsigma_eval::{
    CompiledRule, CorrelationConfig, CorrelationEngine, Engine, Event, compile_rule, evaluate_rule,
};
use rsigma_parser::{Level, SigmaCollection, parse_sigma_yaml};
use serde_json::json;

use crate::cloudtrail::iam_signal;
use crate::finding::Signal;
use crate::gate::Gate;
use crate::lazy::LazyEvent;
use crate::view::{Members, View};
use mamori_trail::scan::Scan;

/// What a finding says about the rule that made it.
#[derive(Debug, Clone)]
struct RuleInfo {
    logsource: String,
    author: Option<String>,
    license: Option<String>,
    file: String,
}

pub struct SigmaRules {
    /// Every rule (and correlation) in one engine: streaming, and whenever there is no gate.
    engine: CorrelationEngine,
    /// Without correlations or filters: which rules a record can match…
    gate: Option<Gate>,
    /// …and each detection rule compiled (in the gate's order), to ask only those.
    singles: Vec<CompiledRule>,
    info: HashMap<String, RuleInfo>,
    pub rules: usize,
    pub correlations: usize,
}

/// A record for the rules: its text, or its members as the scanner already found them.
pub enum Record<'m, 'a> {
    Text(&'a str),
    Members(&'m mut Members<'a>),
}

impl<'a> Record<'_, 'a> {
    /// The record as Sigma rules read it: text by the scanner, or (deeper than it goes) by
    /// serde_json, which says what is wrong, if anything.
    fn event(self) -> Result<LazyEvent<'a>, String> {
        match self {
            Record::Members(m) => Ok(LazyEvent::from_members(m.drain(..))),
            Record::Text(text) => match LazyEvent::scan(&mut Scan::new(text)) {
                Ok(e) => Ok(e),
                Err(_) => LazyEvent::parse(text).map_err(|e| e.to_string()),
            },
        }
    }
}

fn level_severity(l: Option<&Level>) -> f64 {
    match l {
        Some(Level::Critical) => 9.0,
        Some(Level::High) => 8.0,
        Some(Level::Medium) => 5.0,
        Some(Level::Low) => 2.0,
        _ => 1.0,
    }
}

fn logsource_name(l: &rsigma_parser::LogSource) -> String {
    let parts: Vec<&str> = [
        l.product.as_deref(),
        l.service.as_deref(),
        l.category.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(".")
    }
}

impl SigmaRules {
    /// Loads rule files and folders. A file that does not parse or compile is rejected with its
    /// path and the reason; the others still load.
    pub fn load(paths: &[PathBuf]) -> (SigmaRules, Vec<String>) {
        // A named file is read whatever its name; in folders, `.yml` and `.yaml` files, links
        // not followed (core::files' one policy).
        let walked = mamori_core::files::walk(
            paths,
            |p| {
                let n = p.to_string_lossy();
                n.ends_with(".yml") || n.ends_with(".yaml")
            },
            |_| false,
        );
        let mut errors = walked.errors;
        let mut texts = Vec::new();
        for f in walked.files {
            let shown = f.path.display().to_string();
            match std::fs::read_to_string(&f.path) {
                Ok(t) => texts.push((shown, t)),
                Err(e) => errors.push(format!("{shown}: {e}")),
            }
        }
        let (rules, more) = SigmaRules::load_texts(texts);
        errors.extend(more);
        (rules, errors)
    }

    /// Loads rules from their texts, each named as errors should name it (a file's path, or
    /// `rules[3]` of a request). A text that does not parse or compile is rejected; the others
    /// still load.
    pub fn load_texts(texts: Vec<(String, String)>) -> (SigmaRules, Vec<String>) {
        let mut errors = Vec::new();
        let mut all = SigmaCollection::new();
        let mut info = HashMap::new();
        for (shown, text) in texts {
            let c = match parse_sigma_yaml(&text) {
                Ok(c) if c.errors.is_empty() => c,
                Ok(c) => {
                    errors.push(format!("{shown}: {}", c.errors.join("; ")));
                    continue;
                }
                Err(e) => {
                    errors.push(format!("{shown}: {e}"));
                    continue;
                }
            };
            // Detection rules compile on their own; check before they join the others.
            if !c.rules.is_empty()
                && let Err(e) = Engine::new().add_collection(&SigmaCollection {
                    rules: c.rules.clone(),
                    correlations: Vec::new(),
                    filters: Vec::new(),
                    errors: Vec::new(),
                })
            {
                errors.push(format!("{shown}: {e}"));
                continue;
            }
            for r in &c.rules {
                info.insert(
                    r.id.clone().unwrap_or_else(|| r.title.clone()),
                    RuleInfo {
                        logsource: logsource_name(&r.logsource),
                        author: r.author.clone(),
                        license: r.license.clone(),
                        file: shown.clone(),
                    },
                );
            }
            for r in &c.correlations {
                info.insert(
                    r.id.clone().unwrap_or_else(|| r.title.clone()),
                    RuleInfo {
                        logsource: "correlation".into(),
                        author: r.author.clone(),
                        license: None,
                        file: shown.clone(),
                    },
                );
            }
            all.rules.extend(c.rules);
            all.correlations.extend(c.correlations);
            all.filters.extend(c.filters);
        }
        let (rules, correlations) = (all.rules.len(), all.correlations.len());
        // With correlations every record goes to the engine (it keeps time and state); so it
        // does with filter rules, which apply across rules.
        let mut singles = Vec::new();
        if correlations == 0 && all.filters.is_empty() {
            for r in &all.rules {
                match compile_rule(r) {
                    Ok(c) => singles.push(c),
                    Err(_) => {
                        singles.clear();
                        break;
                    }
                }
            }
        }
        let gate = (singles.len() == rules && rules > 0).then(|| Gate::new(&all.rules));
        let config = CorrelationConfig {
            timestamp_fields: vec!["eventTime".into(), "query_timestamp".into()],
            ..Default::default()
        };
        let mut engine = CorrelationEngine::new(config);
        if let Err(e) = engine.add_collection(&all) {
            errors.push(format!("correlation rules: {e}"));
            engine = CorrelationEngine::new(CorrelationConfig::default());
            let detection_only = SigmaCollection {
                correlations: Vec::new(),
                ..all
            };
            let _ = engine.add_collection(&detection_only);
        }
        (
            SigmaRules {
                engine,
                gate,
                singles,
                info,
                rules,
                correlations,
            },
            errors,
        )
    }

    /// The signals of one CloudTrail record (as rules read it — a [`crate::lazy::LazyEvent`],
    /// or rsigma's `JsonEvent` — and the detectors' view of it).
    pub fn detect(&mut self, event: &impl Event, view: &View<'_>) -> Vec<Signal> {
        if self.gate.is_some() {
            return self.detect_stateless(event, view);
        }
        let t = chrono::DateTime::parse_from_rfc3339(view.event_time)
            .ok()
            .map(|d| d.timestamp())
            .unwrap_or(0);
        let results = self.engine.process_event_at(event, t);
        self.signals(results, view)
    }

    /// The detection rules alone, without correlation state: what threads can share. For rule
    /// sets without correlations it finds what [`SigmaRules::detect`] finds.
    pub fn detect_stateless(&self, event: &impl Event, view: &View<'_>) -> Vec<Signal> {
        match &self.gate {
            Some(gate) => self.routed(event, view, &gate.rules(view)),
            None => self.signals(self.engine.evaluate(event), view),
        }
    }

    /// The rules over a record (and the detectors' view of it), stateless: the record is read
    /// for the rules only when the gate lets it through.
    pub fn detect_record(
        &self,
        record: Record<'_, '_>,
        view: &View<'_>,
    ) -> Result<Vec<Signal>, String> {
        match &self.gate {
            Some(gate) => {
                let rules = gate.rules(view);
                if rules.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(self.routed(&record.event()?, view, &rules))
            }
            None => Ok(self.signals(self.engine.evaluate(&record.event()?), view)),
        }
    }

    /// As [`SigmaRules::detect_record`], keeping correlation state.
    pub fn detect_record_mut(
        &mut self,
        record: Record<'_, '_>,
        view: &View<'_>,
    ) -> Result<Vec<Signal>, String> {
        if self.gate.is_some() {
            return self.detect_record(record, view);
        }
        Ok(self.detect(&record.event()?, view))
    }

    /// The engines of `rules` (indexes from the gate) over the record.
    fn routed(&self, event: &impl Event, view: &View<'_>, rules: &[usize]) -> Vec<Signal> {
        let mut results = Vec::new();
        for &rule in rules {
            results.extend(evaluate_rule(&self.singles[rule], event));
        }
        self.signals(results, view)
    }

    /// Can any rule match a record with this view? (`false` for most records: see
    /// [`crate::gate`]. The `detect` functions ask too; callers ask first to skip reading the
    /// record for the rules at all.)
    pub fn admits(&self, view: &View<'_>) -> bool {
        self.gate.as_ref().is_none_or(|g| g.admits(view))
    }

    /// Every rule over the record, the gate not asked (what tests hold the gate to).
    pub fn detect_ungated(&self, event: &impl Event, view: &View<'_>) -> Vec<Signal> {
        self.signals(self.engine.evaluate(event), view)
    }

    /// Rules with a condition the gate checks, of all rules.
    pub fn gated(&self) -> usize {
        self.gate.as_ref().map_or(0, |g| g.gated)
    }

    fn signals(&self, results: Vec<rsigma_eval::EvaluationResult>, view: &View<'_>) -> Vec<Signal> {
        let mut out = Vec::new();
        for r in results {
            let h = &r.header;
            let key = h.rule_id.clone().unwrap_or_else(|| h.rule_title.clone());
            let info = self.info.get(&key).cloned().unwrap_or(RuleInfo {
                logsource: "any".into(),
                author: None,
                license: None,
                file: String::new(),
            });
            let kind = format!("Sigma:{}/{}", info.logsource, h.rule_title);
            let description = match r.as_detection() {
                Some(d) => format!(
                    "Sigma rule {:?} matched ({}).",
                    h.rule_title,
                    d.matched_selections.join(", ")
                ),
                None => format!("Sigma correlation {:?} fired.", h.rule_title),
            };
            let mut s = iam_signal(
                view,
                &kind,
                level_severity(h.level.as_ref()),
                &h.rule_title,
                description,
                "",
            );
            s.evidence = Some(json!({"sigma": {
                "ruleId": h.rule_id, "title": h.rule_title, "author": info.author,
                "license": info.license, "ruleFile": info.file, "tags": h.tags,
                "level": h.level.as_ref().map(|l| l.as_str()),
            }}));
            out.push(s);
        }
        out
    }
}
