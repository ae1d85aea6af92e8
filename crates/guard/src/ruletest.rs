//! Detections as code: rules that carry their own example events, checked by
//! `mamori guard test DIR` for CI pipelines (exit 1 on a miss or a false match).
//!
//! Beside a Sigma rule file `NAME.yml` (or `.yaml`) stands `NAME.tests.json`:
//!
//! ```json
//! {"tests": [
//!   {"name": "an outside account is trusted", "match": true, "event": {"eventName": "…", …}},
//!   {"name": "an organization account is not", "match": false, "event": {…}}
//! ]}
//! ```
//!
//! (a bare array of tests is read too). `"organizationAccounts": ["…"]` beside `"tests"` names
//! the accounts the examples take for the organization's. An example expects the file's rules to raise a finding
//! (`match: true`) or none (`match: false`). With `"type": "Persistence:IAMUser/RoleTrustsAnyone"`
//! it expects (or not) a finding of that type from the file's rules *and* the built-in
//! detections — the way the built-ins are held to examples too; a tests file with no rule file
//! beside it tests the built-ins alone. Examples of one file run in order through one rule set,
//! so correlation rules are tested across their examples.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloudtrail::{Context, detect};
use crate::curated::KnownAccounts;
use crate::sigma::{Record, SigmaRules};
use crate::view::View;

/// The suffix of a tests file.
pub const TESTS_SUFFIX: &str = ".tests.json";

/// The largest tests file read (examples are small; a huge one is a mistake).
const MAX_TESTS_FILE: u64 = 16 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    name: String,
    #[serde(rename = "match")]
    expect: bool,
    /// A finding type to look for (the file's rules and the built-ins); any of the file's
    /// rules' findings when absent.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    event: Value,
}

/// One example's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The tests file.
    pub file: String,
    pub name: String,
    pub passed: bool,
    /// What went wrong (empty when it passed).
    pub why: String,
}

/// Every example of every tests file under `paths`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// Rule files with no tests file beside them.
    pub untested: Vec<String>,
    /// Files that could not be read or loaded (they fail the run).
    pub errors: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed).count()
    }
}

fn is_rule(p: &Path) -> bool {
    let n = p.to_string_lossy();
    n.ends_with(".yml") || n.ends_with(".yaml")
}

fn is_tests(p: &Path) -> bool {
    p.to_string_lossy().ends_with(TESTS_SUFFIX)
}

/// The rule file a tests file belongs to, if there is one.
fn rule_of(tests: &Path) -> Option<PathBuf> {
    let name = tests.file_name()?.to_string_lossy();
    let stem = name.strip_suffix(TESTS_SUFFIX)?;
    ["yml", "yaml"]
        .iter()
        .map(|e| tests.with_file_name(format!("{stem}.{e}")))
        .find(|p| p.is_file())
}

/// Runs every tests file under `paths` (files or folders) against its rule file and the
/// built-in detections of `ctx`.
pub fn run(paths: &[PathBuf], ctx: &Context<'_>) -> Report {
    let walked = mamori_core::files::walk(paths, |p| is_rule(p) || is_tests(p), |_| false);
    let mut report = Report {
        errors: walked.errors,
        ..Report::default()
    };
    let files: Vec<PathBuf> = walked.files.into_iter().map(|f| f.path).collect();
    for f in files.iter().filter(|f| is_rule(f)) {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        let has_tests = name.is_some_and(|n| {
            let stem = n
                .rsplit_once('.')
                .map_or(n.as_str(), |(s, _)| s)
                .to_string();
            f.with_file_name(format!("{stem}{TESTS_SUFFIX}")).is_file()
        });
        if !has_tests {
            report.untested.push(f.display().to_string());
        }
    }
    for tests in files.iter().filter(|f| is_tests(f)) {
        run_file(tests, ctx, &mut report);
    }
    report
}

/// The built-in detections' own examples (one event each; bursts are tested in order in
/// `tests/curated.rs`), kept current by a test from the cases there.
pub const BUILTIN: &str = include_str!("../testdata/builtin.tests.json");

/// Runs the built-in detections' examples.
pub fn run_builtin(ctx: &Context<'_>) -> Report {
    let mut report = Report::default();
    match parse_tests(BUILTIN) {
        Ok((examples, org)) => check("(built-in examples)", examples, org, None, ctx, &mut report),
        Err(e) => report.errors.push(format!("(built-in examples): {e}")),
    }
    report
}

fn run_file(tests: &Path, ctx: &Context<'_>, report: &mut Report) {
    let shown = tests.display().to_string();
    let (examples, org) = match read_tests(tests) {
        Ok(e) => e,
        Err(e) => {
            report.errors.push(format!("{shown}: {e}"));
            return;
        }
    };
    let rules = match rule_of(tests) {
        Some(rule) => {
            let (rules, errors) = SigmaRules::load(std::slice::from_ref(&rule));
            if !errors.is_empty() {
                report.errors.extend(errors);
                return;
            }
            Some(rules)
        }
        None => None,
    };
    check(&shown, examples, org, rules, ctx, report);
}

fn check(
    shown: &str,
    examples: Vec<Example>,
    org: Option<KnownAccounts>,
    mut rules: Option<SigmaRules>,
    ctx: &Context<'_>,
    report: &mut Report,
) {
    let ctx = Context {
        intel: ctx.intel,
        instance_networks: ctx.instance_networks,
        known: org.as_ref().unwrap_or(ctx.known),
    };
    let ctx = &ctx;
    for ex in examples {
        let outcome = |passed: bool, why: String| Outcome {
            file: shown.to_string(),
            name: ex.name.clone(),
            passed,
            why,
        };
        if !ex.event.is_object() {
            report
                .outcomes
                .push(outcome(false, "the event is not a JSON object".into()));
            continue;
        }
        if rules.is_none() && ex.kind.is_none() {
            report.outcomes.push(outcome(
                false,
                "no rule file beside the tests file, and no \"type\" to look for in the built-in detections".into(),
            ));
            continue;
        }
        let text = ex.event.to_string();
        let view = View::from_value(&ex.event);
        let mut kinds: Vec<String> = Vec::new();
        if let Some(r) = rules.as_mut() {
            match r.detect_record_mut(Record::Text(&text), &view) {
                Ok(signals) => kinds.extend(signals.into_iter().map(|s| s.kind)),
                Err(e) => {
                    report.outcomes.push(outcome(
                        false,
                        format!("the rules could not read the event: {e}"),
                    ));
                    continue;
                }
            }
        }
        let fired = match &ex.kind {
            Some(kind) => {
                kinds.extend(detect(&view, ctx).into_iter().map(|s| s.kind));
                kinds.iter().any(|k| k == kind)
            }
            None => !kinds.is_empty(),
        };
        let what = ex.kind.as_deref().unwrap_or("a finding");
        let result = match (ex.expect, fired) {
            (true, true) | (false, false) => outcome(true, String::new()),
            (true, false) => outcome(
                false,
                format!(
                    "expected {what}, got {}",
                    if kinds.is_empty() {
                        "none".to_string()
                    } else {
                        kinds.join(", ")
                    }
                ),
            ),
            (false, true) => outcome(
                false,
                format!("expected no {what}, got {}", kinds.join(", ")),
            ),
        };
        report.outcomes.push(result);
    }
}

type Parsed = (Vec<Example>, Option<KnownAccounts>);

fn read_tests(path: &Path) -> Result<Parsed, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_TESTS_FILE {
        return Err(format!(
            "{len} bytes; a tests file may hold {MAX_TESTS_FILE} at most"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    parse_tests(&text)
}

fn parse_tests(text: &str) -> Result<Parsed, String> {
    let shape = "expected {\"tests\": [{\"name\": …, \"match\": true|false, \"event\": {…}}]}";
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e}); {shape}"))?;
    let (list, org) = match v {
        Value::Array(a) => (a, None),
        Value::Object(mut o) => {
            let org = match o.remove("organizationAccounts") {
                None => None,
                Some(accounts) => {
                    let accounts: Vec<String> = serde_json::from_value(accounts)
                        .map_err(|e| format!("organizationAccounts: {e}"))?;
                    if let Some(bad) = accounts
                        .iter()
                        .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return Err(format!(
                            "organizationAccounts: {bad:?} is not a 12-digit account id"
                        ));
                    }
                    Some(KnownAccounts::new(accounts))
                }
            };
            match o.remove("tests") {
                Some(Value::Array(a)) => (a, org),
                _ => return Err(format!("no \"tests\" array; {shape}")),
            }
        }
        _ => return Err(shape.to_string()),
    };
    let examples = list
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::from_value::<Example>(t)
                .map_err(|e| format!("test {}: {e}; {shape}", i + 1))
        })
        .collect::<Result<_, _>>()?;
    Ok((examples, org))
}
