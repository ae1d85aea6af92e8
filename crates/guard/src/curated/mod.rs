//! Curated detections over audit events: one rule per cloud attack technique that leaves a
//! trace in CloudTrail, grouped by ATT&CK tactic, each with a GuardDuty-style type name
//! (`ThreatPurpose:ResourceType/Name`), its ATT&CK technique ids, a default severity, what fires
//! it and what does not. The catalogue is data ([`all`]); `docs/detections.md` is written from it
//! (`mamori guard detections`), and every entry is tested with an event that fires it and a near
//! miss that does not (`tests/curated.rs`).
//!
//! Real logs are messy, so every rule reads its event through [`Ev`]: event names without their
//! API-version suffix (`UpdateFunctionCode20150331v2` is `UpdateFunctionCode`), request
//! parameters that were written as a JSON string, policy documents as objects, JSON text or
//! URL-encoded JSON text, account ids as ids, ARNs or principals. A failed call (`errorCode`) is
//! an attempt: only the riskiest rules report attempts, one band lower than a success.
//!
//! "Outside the organization" means outside the accounts mamori knows ([`KnownAccounts`]): the
//! organization's accounts and `[guard] trusted_accounts` on the server; offline, `[guard]
//! organization_accounts` and `trusted_accounts` of `guard hunt --config`. The account the event
//! happened in is always known.
//!
//! Windowed rules (bursts: discovery, bulk secret reads, mass deletion…) are in [`bursts`]; they
//! keep state and run in event order.

pub mod bursts;
mod catalog;
pub mod policy;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::cloudtrail::iam_signal;
use crate::finding::Signal;
use crate::view::View;

/// ATT&CK Enterprise tactics, in the matrix's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tactic {
    InitialAccess,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Exfiltration,
    Impact,
}

impl Tactic {
    pub fn name(self) -> &'static str {
        match self {
            Tactic::InitialAccess => "Initial access",
            Tactic::Execution => "Execution",
            Tactic::Persistence => "Persistence",
            Tactic::PrivilegeEscalation => "Privilege escalation",
            Tactic::DefenseEvasion => "Defense evasion",
            Tactic::CredentialAccess => "Credential access",
            Tactic::Discovery => "Discovery",
            Tactic::LateralMovement => "Lateral movement",
            Tactic::Exfiltration => "Exfiltration",
            Tactic::Impact => "Impact",
        }
    }

    /// ATT&CK's id of the tactic.
    pub fn id(self) -> &'static str {
        match self {
            Tactic::InitialAccess => "TA0001",
            Tactic::Execution => "TA0002",
            Tactic::Persistence => "TA0003",
            Tactic::PrivilegeEscalation => "TA0004",
            Tactic::DefenseEvasion => "TA0005",
            Tactic::CredentialAccess => "TA0006",
            Tactic::Discovery => "TA0007",
            Tactic::LateralMovement => "TA0008",
            Tactic::Exfiltration => "TA0010",
            Tactic::Impact => "TA0040",
        }
    }
}

/// One curated detection.
pub struct Detection {
    /// The finding type (GuardDuty's own name where one exists).
    pub kind: &'static str,
    pub tactic: Tactic,
    /// ATT&CK technique ids.
    pub attack: &'static [&'static str],
    /// Default severity (GuardDuty's scale: Low 1–3.9, Medium 4–6.9, High 7–8.9).
    pub severity: f64,
    pub title: &'static str,
    /// What fires it.
    pub fires: &'static str,
    /// What does not (the near miss its test holds it to).
    pub quiet: &'static str,
    /// The events it reads: (eventSource, eventName without an API-version suffix).
    pub on: &'static [(&'static str, &'static str)],
    /// Whether a failed call (an attempt) fires it too, one band lower.
    pub attempts: bool,
    pub check: fn(&Ev<'_, '_>) -> Option<Hit>,
}

/// What a rule found in an event.
pub struct Hit {
    /// The sentence that says what happened (names, ids, values from the event).
    pub what: String,
    /// What identifies the affected resource, for aggregation (a user, a snapshot, a bucket).
    pub target: String,
    /// A severity other than the default, when the event says more (e.g. `*` vs one account).
    pub severity: Option<f64>,
    /// It is about an account outside the organization: with no organization accounts
    /// configured that cannot be told from the organization's own, so it is Low at most.
    pub outside: bool,
}

impl Hit {
    pub fn new(what: String, target: impl Into<String>) -> Hit {
        Hit {
            what,
            target: target.into(),
            severity: None,
            outside: false,
        }
    }

    /// A hit about an account outside the organization (see [`Hit::outside`]'s field).
    pub fn outside(what: String, target: impl Into<String>) -> Hit {
        Hit {
            outside: true,
            ..Hit::new(what, target)
        }
    }

    pub fn at(mut self, severity: f64) -> Hit {
        self.severity = Some(severity);
        self
    }
}

/// The accounts mamori knows: calls, trusts and shares that stay among them are inside.
#[derive(Clone, Debug, Default)]
pub struct KnownAccounts {
    accounts: HashSet<String>,
}

impl KnownAccounts {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(accounts: I) -> KnownAccounts {
        KnownAccounts {
            accounts: accounts.into_iter().map(Into::into).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn contains(&self, account: &str) -> bool {
        self.accounts.contains(account)
    }
}

/// A record as the curated rules read it.
pub struct Ev<'v, 'a> {
    pub r: &'v View<'a>,
    /// The event name without its API-version suffix.
    pub name: &'v str,
    /// `requestParameters` as an object (a JSON string parsed), `Null` when absent.
    pub params: &'v Value,
    pub response: &'v Value,
    pub extra: &'v Value,
    pub known: &'v KnownAccounts,
}

impl Ev<'_, '_> {
    /// The account the event happened in.
    pub fn account(&self) -> &str {
        if self.r.recipient_account.is_empty() {
            self.r.identity_account
        } else {
            self.r.recipient_account
        }
    }

    /// Is `account` (a 12-digit id) outside the accounts mamori knows?
    pub fn outside(&self, account: &str) -> bool {
        account != self.account()
            && account != self.r.identity_account
            && !self.known.contains(account)
    }

    /// The caller's IAM name: the user's name, or the role's for an assumed role.
    pub fn caller(&self) -> &str {
        if !self.r.user_name.is_empty() {
            self.r.user_name
        } else {
            self.r.issuer_user_name
        }
    }

    /// Who acted, for descriptions: `IAMUser alice`, `AssumedRole deployer`.
    pub fn who(&self) -> String {
        let t = if self.r.identity_type.is_empty() {
            "caller"
        } else {
            self.r.identity_type
        };
        match self.caller() {
            "" => t.to_string(),
            name => format!("{t} {name}"),
        }
    }

    /// A request parameter as text (strings as they are, numbers and booleans written out).
    pub fn text(&self, key: &str) -> Cow<'_, str> {
        policy::text(&self.params[key])
    }

    /// "; outside the accounts mamori knows" hint when none are configured.
    pub fn outside_hint(&self) -> &'static str {
        if self.known.is_empty() {
            " (no organization accounts are configured: set [guard] organization_accounts or trusted_accounts to name yours)"
        } else {
            ""
        }
    }
}

/// One row of the catalogue, for `mamori guard detections` and `docs/detections.md`: a
/// detection or a burst, in one shape.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tactic: &'static str,
    pub tactic_id: &'static str,
    pub techniques: &'static [&'static str],
    pub severity: f64,
    pub title: &'static str,
    pub fires: &'static str,
    pub quiet: &'static str,
    /// `event` (one event decides) or `burst` (counted in a window).
    pub scope: &'static str,
    pub events: Vec<String>,
    pub attempts: bool,
}

/// Every curated detection and burst, by tactic, then type.
pub fn catalogue() -> Vec<Entry> {
    let mut out: Vec<(Tactic, Entry)> = all()
        .iter()
        .map(|d| {
            (
                d.tactic,
                Entry {
                    kind: d.kind,
                    tactic: d.tactic.name(),
                    tactic_id: d.tactic.id(),
                    techniques: d.attack,
                    severity: d.severity,
                    title: d.title,
                    fires: d.fires,
                    quiet: d.quiet,
                    scope: "event",
                    events: d.on.iter().map(|(s, n)| format!("{s} {n}")).collect(),
                    attempts: d.attempts,
                },
            )
        })
        .chain(bursts::BURSTS.iter().map(|b| {
            (
                b.tactic,
                Entry {
                    kind: b.kind,
                    tactic: b.tactic.name(),
                    tactic_id: b.tactic.id(),
                    techniques: b.attack,
                    severity: b.severity,
                    title: b.title,
                    fires: b.fires,
                    quiet: b.quiet,
                    scope: "burst",
                    events: Vec::new(),
                    attempts: true,
                },
            )
        }))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.kind.cmp(b.1.kind)));
    out.into_iter().map(|(_, e)| e).collect()
}

/// The catalogue as Markdown: what `docs/detections.md` holds.
pub fn markdown() -> String {
    let entries = catalogue();
    let mut md = String::from(
        "# Curated detections\n\
         \n\
         Written by `mamori guard detections --format markdown` from the catalogue in\n\
         `crates/guard/src/curated/` (a test keeps this file current). Each runs on the server over\n\
         every enabled account's audit events and in `mamori guard hunt`; each is tested with events\n\
         that fire it and near misses that do not (`crates/guard/tests/curated.rs`). Severities are\n\
         GuardDuty's scale (Low 1–3.9, Medium 4–6.9, High 7–8.9); a failed call (an attempt) fires\n\
         only the rules marked so, one band lower. Thresholds and windows of bursts live in `[guard]`.\n\
         \"Outside the organization\" means outside the organization's accounts and\n\
         `[guard] trusted_accounts` (offline: `[guard] organization_accounts` and `trusted_accounts`\n\
         of `guard hunt --config`); with none configured, a finding about another account is Low\n\
         at most, since that account may be the organization's own.\n",
    );
    md.push_str(&format!(
        "
{} detections: {} on one event, {} bursts.
",
        entries.len(),
        entries.iter().filter(|e| e.scope == "event").count(),
        entries.iter().filter(|e| e.scope == "burst").count()
    ));
    let mut tactic = "";
    for e in &entries {
        if e.tactic != tactic {
            tactic = e.tactic;
            md.push_str(&format!(
                "
## {} ({})

| type | ATT&CK | severity | fires on | quiet on |
|---|---|---|---|---|
",
                e.tactic, e.tactic_id
            ));
        }
        let cell = |s: &str| s.replace('|', "\\|");
        md.push_str(&format!(
            "| `{}`{} | {} | {} {} | {} | {} |
",
            e.kind,
            if e.scope == "burst" { " (burst)" } else { "" },
            e.techniques.join(", "),
            crate::finding::band(e.severity),
            e.severity,
            cell(e.fires),
            cell(e.quiet)
        ));
    }
    md
}

/// The event name without an API-version suffix: `UpdateFunctionCode20150331v2` →
/// `UpdateFunctionCode`, `AddPermission20150331` → `AddPermission`.
pub fn base_name(name: &str) -> &str {
    let b = name.as_bytes();
    let mut end = b.len();
    // An optional `v<digits>`.
    let mut i = end;
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i < end && i > 0 && b[i - 1] == b'v' {
        end = i - 1;
    }
    let mut j = end;
    while j > 0 && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if end - j == 8 && j > 0 {
        &name[..j]
    } else {
        name
    }
}

/// Every curated detection, in catalogue order (by tactic).
pub fn all() -> &'static [&'static Detection] {
    &catalog::ALL
}

/// The detections by event name (without suffix).
static INDEX: LazyLock<foldhash::HashMap<&'static str, Vec<&'static Detection>>> =
    LazyLock::new(|| {
        let mut index: foldhash::HashMap<&'static str, Vec<&'static Detection>> =
            foldhash::HashMap::default();
        for &d in all() {
            for (_, name) in d.on {
                let list = index.entry(*name).or_default();
                if !list.iter().any(|x| std::ptr::eq(*x, d)) {
                    list.push(d);
                }
            }
        }
        index
    });

/// Does a curated rule (or a burst) read this event's parameters?
pub fn reads(source: &str, name: &str) -> bool {
    let name = base_name(name);
    INDEX.get(name).is_some_and(|ds| {
        ds.iter()
            .any(|d| d.on.iter().any(|(s, n)| *s == source && *n == name))
    }) || bursts::reads(source, name)
}

/// The request parameters as an object: CloudTrail writes some as a JSON string.
pub fn parameters<'v>(r: &'v View<'_>) -> Cow<'v, Value> {
    match &*r.request_parameters {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Cow::Owned(v),
            _ => Cow::Borrowed(&*r.request_parameters),
        },
        _ => Cow::Borrowed(&*r.request_parameters),
    }
}

/// The signals the curated rules raise for one record.
pub fn detect(r: &View<'_>, known: &KnownAccounts, out: &mut Vec<Signal>) {
    let name = base_name(r.event_name);
    let Some(candidates) = INDEX.get(name) else {
        return;
    };
    let params = parameters(r);
    let ev = Ev {
        r,
        name,
        params: &params,
        response: &r.response_elements,
        extra: &r.additional_event_data,
        known,
    };
    let failed = !r.error_code.is_empty();
    for d in candidates {
        if !d.on.iter().any(|(s, n)| *s == r.event_source && *n == name) {
            continue;
        }
        if failed && !d.attempts {
            continue;
        }
        let Some(hit) = (d.check)(&ev) else { continue };
        out.push(signal(d, &ev, hit, failed));
    }
}

/// A severity one band lower (High → Medium, Medium → Low), for an attempt.
fn lower(severity: f64) -> f64 {
    if severity >= 7.0 {
        5.0
    } else {
        2.0_f64.min(severity)
    }
}

fn signal(d: &Detection, ev: &Ev<'_, '_>, hit: Hit, failed: bool) -> Signal {
    let r = ev.r;
    let mut severity = hit.severity.unwrap_or(d.severity);
    if hit.outside && ev.known.is_empty() {
        // Which accounts are the organization's is not known: another account may be its own.
        severity = severity.min(3.0);
    }
    let mut description = hit.what;
    let mut title = d.title.to_string();
    if failed {
        severity = lower(severity);
        description = format!("Attempted, and refused ({}): {description}", r.error_code);
        title = format!("Attempt: {title}");
    }
    let mut sig = iam_signal(r, d.kind, severity, &title, description, "");
    if !hit.target.is_empty() {
        sig.resource_key.push('|');
        sig.resource_key.push_str(&hit.target);
    }
    sig.info = Some(json!({
        "mitreAttack": {"tactic": d.tactic.name(), "tacticId": d.tactic.id(), "techniques": d.attack},
        "detection": "curated",
        "attempt": failed,
    }));
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_suffixes_come_off_and_nothing_else() {
        for (name, want) in [
            ("UpdateFunctionCode20150331v2", "UpdateFunctionCode"),
            ("UpdateFunctionCode20150331", "UpdateFunctionCode"),
            ("AddPermission20150331v2", "AddPermission"),
            ("ListFunctions20150331", "ListFunctions"),
            ("GetObject", "GetObject"),
            ("Ec2v2", "Ec2v2"),
            ("Thing1234567", "Thing1234567"),
            ("20150331", "20150331"),
            ("", ""),
            ("v2", "v2"),
        ] {
            assert_eq!(base_name(name), want, "{name}");
        }
    }

    /// The catalogue's own rules: names unique, a tactic's id, ATT&CK ids well formed,
    /// severities on GuardDuty's scale, a sentence for what fires and what does not.
    #[test]
    fn the_catalogue_is_well_formed() {
        let mut seen = HashSet::new();
        for d in all() {
            assert!(seen.insert(d.kind), "{} twice", d.kind);
            let (purpose, rest) = d.kind.split_once(':').expect(d.kind);
            assert!(!purpose.is_empty() && rest.contains('/'), "{}", d.kind);
            assert!(!d.attack.is_empty(), "{}", d.kind);
            for t in d.attack {
                assert!(
                    t.starts_with('T') && t[1..5].bytes().all(|b| b.is_ascii_digit()),
                    "{t}"
                );
            }
            assert!((1.0..=8.9).contains(&d.severity), "{}", d.kind);
            assert!(!d.on.is_empty() && !d.fires.is_empty() && !d.quiet.is_empty());
            for (s, n) in d.on {
                assert_eq!(base_name(n), *n, "{}: {n}", d.kind);
                assert!(s.contains('.'), "{s}");
            }
        }
        assert!(all().len() >= 60, "{} curated detections", all().len());
    }
}
