//! Bursts: techniques that are one call done many times — enumeration, bulk secret reads, mass
//! deletion, many instances entered or terminated, password guessing. Each event is first
//! classified without state ([`classify`]: which bursts it feeds, with which item); the counting
//! then runs in event order per principal in a window ([`Bursts`]), firing once per window when
//! the distinct items (or the attempts) reach the burst's threshold from `[guard]`.
//!
//! The split lets the offline hunt classify files in parallel and count in file order, and the
//! server count as events arrive; both give the same findings.

use std::hash::{Hash, Hasher};

use serde_json::json;

use super::base_name;
use super::policy;
use crate::cloudtrail::iam_signal;
use crate::config::GuardConfig;
use crate::finding::Signal;
use crate::view::View;
use crate::window::Distinct;

use super::Tactic;

/// A burst: the finding it raises and what it counts.
pub struct Burst {
    pub kind: &'static str,
    pub tactic: Tactic,
    pub attack: &'static [&'static str],
    pub severity: f64,
    pub title: &'static str,
    pub fires: &'static str,
    pub quiet: &'static str,
    /// What one item is ("APIs", "secrets", "objects"), for descriptions.
    pub unit: &'static str,
    /// Attempts (every call) count, not distinct items.
    pub by_attempts: bool,
}

/// Ids of [`BURSTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    Discovery = 0,
    AccessDenied,
    SecretReads,
    ParameterReads,
    PasswordData,
    UserData,
    Ses,
    ObjectDeletion,
    CustomerKeyWrites,
    InstanceAccess,
    Termination,
    ConsoleFailures,
    ModelInvocations,
    InstanceDiscovery,
    InstanceCredentials,
    BucketEnumeration,
}

pub static BURSTS: &[Burst] = &[
    Burst {
        kind: "Discovery:IAMUser/EnumerationBurst",
        tactic: Tactic::Discovery,
        attack: &["T1580", "T1526", "T1087.004"],
        severity: 2.0,
        title: "A principal called many different read-only APIs in a short time.",
        fires: "`discovery_min_apis` (30) distinct read-only APIs (List/Describe/Get…, or readOnly) by one principal in the window, outside the console",
        quiet: "the same few APIs called again and again (an application polling); console browsing",
        unit: "read-only APIs",
        by_attempts: false,
    },
    Burst {
        kind: "Discovery:IAMUser/AccessDeniedBurst",
        tactic: Tactic::Discovery,
        attack: &["T1580", "T1069.003"],
        severity: 5.0,
        title: "A principal was refused by many different APIs in a short time (probing its permissions).",
        fires: "`denied_min_apis` (10) distinct APIs answering AccessDenied / UnauthorizedOperation to one principal in the window, outside the console (its pages call what the user may not)",
        quiet: "one API refused again and again (a misconfigured application)",
        unit: "refused APIs",
        by_attempts: false,
    },
    Burst {
        kind: "CredentialAccess:SecretsManager/BulkSecretReads",
        tactic: Tactic::CredentialAccess,
        attack: &["T1555.006"],
        severity: 5.0,
        title: "A principal read many secrets in a short time.",
        fires: "GetSecretValue of `bulk_secrets_min` (5) distinct secrets by one principal in the window (Medium for users and root, Low for roles)",
        quiet: "one secret read repeatedly",
        unit: "secrets",
        by_attempts: false,
    },
    Burst {
        kind: "CredentialAccess:SSM/BulkParameterDecryption",
        tactic: Tactic::CredentialAccess,
        attack: &["T1555.006"],
        severity: 5.0,
        title: "A principal read many parameters decrypted in a short time.",
        fires: "GetParameter / GetParameters with withDecryption of `bulk_secrets_min` (5) distinct parameters by one principal in the window (Medium for users and root, Low for roles)",
        quiet: "parameters read without decryption",
        unit: "decrypted parameters",
        by_attempts: false,
    },
    Burst {
        kind: "CredentialAccess:EC2/BulkPasswordDataRetrieval",
        tactic: Tactic::CredentialAccess,
        attack: &["T1552.005"],
        severity: 5.0,
        title: "The Windows passwords of many instances were retrieved.",
        fires: "GetPasswordData (attempts too) for `password_data_min` (3) distinct instances by one principal in the window",
        quiet: "one instance's password",
        unit: "instances",
        by_attempts: false,
    },
    Burst {
        kind: "CredentialAccess:EC2/UserDataEnumeration",
        tactic: Tactic::CredentialAccess,
        attack: &["T1552.005", "T1580"],
        severity: 3.0,
        title: "The user data (startup scripts, often with secrets) of many instances was read.",
        fires: "DescribeInstanceAttribute of userData for `user_data_min` (5) distinct instances by one principal in the window",
        quiet: "DescribeInstanceAttribute of other attributes",
        unit: "instances",
        by_attempts: false,
    },
    Burst {
        kind: "Discovery:SES/Enumeration",
        tactic: Tactic::Discovery,
        attack: &["T1526"],
        severity: 2.0,
        title: "A principal surveyed the account's email sending (spam campaigns start here).",
        fires: "`ses_min_apis` (3) distinct SES read calls (GetAccountSendingEnabled, GetSendQuota, ListIdentities, GetIdentityVerificationAttributes…) by one principal in the window",
        quiet: "SendEmail alone",
        unit: "SES APIs",
        by_attempts: false,
    },
    Burst {
        kind: "Impact:S3/MassObjectDeletion",
        tactic: Tactic::Impact,
        attack: &["T1485"],
        // Low: emptying a bucket before deleting it looks the same.
        severity: 3.0,
        title: "A principal deleted many objects in a short time.",
        fires: "DeleteObject of `deletion_min_objects` (50) distinct objects by one principal in the window (data events; a DeleteObjects call counts as 10)",
        quiet: "a few deletions; lifecycle expiration (done by S3, not a principal)",
        unit: "objects",
        by_attempts: false,
    },
    Burst {
        kind: "Impact:S3/MassCustomerKeyEncryption",
        tactic: Tactic::Impact,
        attack: &["T1486"],
        severity: 8.0,
        title: "A principal rewrote many objects encrypted with its own key (SSE-C): ransomware.",
        fires: "PutObject / CopyObject with SSE-C of `sse_c_min_objects` (20) distinct objects by one principal in the window",
        quiet: "SSE-KMS or SSE-S3 writes",
        unit: "objects",
        by_attempts: false,
    },
    Burst {
        kind: "LateralMovement:EC2/ManyInstancesAccessed",
        tactic: Tactic::LateralMovement,
        attack: &["T1021.007", "T1651"],
        severity: 3.0,
        title: "A principal opened shells or ran commands on many instances.",
        fires: "StartSession, SendCommand, SendSSHPublicKey or SendSerialConsoleSSHPublicKey on `instance_access_min` (5) distinct instances by one principal in the window",
        quiet: "one instance",
        unit: "instances",
        by_attempts: false,
    },
    Burst {
        kind: "Impact:EC2/MassTermination",
        tactic: Tactic::Impact,
        attack: &["T1485", "T1489"],
        severity: 3.0,
        title: "A principal terminated many instances in a short time.",
        fires: "TerminateInstances of `termination_min` (10) distinct instances by one principal in the window, not by an AWS service (Auto Scaling)",
        quiet: "terminations by autoscaling.amazonaws.com",
        unit: "instances",
        by_attempts: false,
    },
    Burst {
        kind: "UnauthorizedAccess:IAMUser/ConsoleLoginBruteForce",
        tactic: Tactic::CredentialAccess,
        attack: &["T1110.001", "T1110.003"],
        severity: 5.0,
        title: "Many console sign-ins failed from one address.",
        fires: "`console_failures_min` (10) failed ConsoleLogin from one address in the window (one user's password guessed, or one password sprayed over many users)",
        quiet: "a few mistyped passwords",
        unit: "failed sign-ins",
        by_attempts: true,
    },
    Burst {
        kind: "Impact:Bedrock/ModelInvocationBurst",
        tactic: Tactic::Impact,
        attack: &["T1496.004"],
        severity: 3.0,
        title: "Long-term keys invoked foundation models many times (LLM-jacking).",
        fires: "`model_invocations_min` (100) InvokeModel / Converse calls (streaming too) by one IAM user or root in the window",
        quiet: "invocations by an application's role",
        unit: "invocations",
        by_attempts: true,
    },
    Burst {
        kind: "Discovery:EC2/EnumerationFromInstance",
        tactic: Tactic::Discovery,
        attack: &["T1580", "T1552.005"],
        severity: 3.0,
        title: "An instance's role called many different read-only APIs in a short time.",
        fires: "`instance_discovery_min_apis` (10) distinct read-only APIs by one instance's role session in the window (applications call a few; an intruder on the instance surveys)",
        quiet: "the SSM agent's and an application's few calls, again and again",
        unit: "read-only APIs",
        by_attempts: false,
    },
    Burst {
        kind: "UnauthorizedAccess:EC2/InstanceCredentialsUsedElsewhere",
        tactic: Tactic::CredentialAccess,
        attack: &["T1552.005", "T1078.004"],
        severity: 7.0,
        title: "An instance's role credentials were used from a second address.",
        fires: "one instance's role session (ASIA… keys of session `i-…`) calling from 2 different IP addresses within `instance_credentials_window_seconds` (6 h), calls through VPC endpoints aside; with `instance_networks` configured, InstanceCredentialExfiltration.OutsideAWS says more",
        quiet: "the instance's own calls from its one address (one of each family when dual-stack); calls through a VPC endpoint",
        unit: "addresses",
        by_attempts: false,
    },
    Burst {
        kind: "Discovery:S3/BucketEnumeration",
        tactic: Tactic::Discovery,
        attack: &["T1619", "T1580"],
        severity: 3.0,
        title: "A principal listed or probed many buckets in a short time.",
        fires: "ListObjects / ListObjectsV2 / GetBucketAcl / GetBucketPolicy / GetBucketLocation / HeadBucket (attempts too) on `bucket_enumeration_min` (20) distinct buckets by one principal in the window",
        quiet: "one bucket listed again and again",
        unit: "buckets",
        by_attempts: false,
    },
];

impl Id {
    pub fn burst(self) -> &'static Burst {
        &BURSTS[self as usize]
    }

    fn min(self, cfg: &GuardConfig) -> usize {
        match self {
            Id::Discovery => cfg.discovery_min_apis,
            Id::AccessDenied => cfg.denied_min_apis,
            Id::SecretReads | Id::ParameterReads => cfg.bulk_secrets_min,
            Id::PasswordData => cfg.password_data_min,
            Id::UserData => cfg.user_data_min,
            Id::Ses => cfg.ses_min_apis,
            Id::ObjectDeletion => cfg.deletion_min_objects,
            Id::CustomerKeyWrites => cfg.sse_c_min_objects,
            Id::InstanceAccess => cfg.instance_access_min,
            Id::Termination => cfg.termination_min,
            Id::ConsoleFailures => cfg.console_failures_min,
            Id::ModelInvocations => cfg.model_invocations_min,
            Id::InstanceDiscovery => cfg.instance_discovery_min_apis,
            Id::InstanceCredentials => 2,
            Id::BucketEnumeration => cfg.bucket_enumeration_min,
        }
    }
}

/// Events whose parameters [`classify`] reads.
pub fn reads(source: &str, name: &str) -> bool {
    matches!(
        (source, name),
        ("secretsmanager.amazonaws.com", "GetSecretValue")
            | (
                "ssm.amazonaws.com",
                "GetParameter" | "GetParameters" | "SendCommand" | "StartSession"
            )
            | (
                "ec2.amazonaws.com",
                "DescribeInstanceAttribute" | "TerminateInstances" | "GetPasswordData"
            )
            | (
                "s3.amazonaws.com",
                "DeleteObject" | "PutObject" | "CopyObject"
            )
            | (
                "ec2-instance-connect.amazonaws.com",
                "SendSSHPublicKey" | "SendSerialConsoleSSHPublicKey"
            )
            | ("signin.amazonaws.com", "ConsoleLogin")
    )
}

/// Principals and items as numbers (foldhash, fixed seed: the same in every thread; the tables
/// keyed by these numbers are randomly seeded).
fn hash(parts: &[&str]) -> u64 {
    use std::hash::BuildHasher;
    let mut h = foldhash::fast::FixedState::with_seed(0x6d61_6d6f_7269).build_hasher();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

fn read_only(r: &View<'_>, name: &str) -> bool {
    r.read_only.unwrap_or_else(|| {
        [
            "List", "Describe", "Get", "Head", "Lookup", "Search", "Scan", "Query",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    })
}

/// Is this a call an AWS service made (for the principal, or as itself)?
fn by_service(r: &View<'_>) -> bool {
    !r.invoked_by.is_empty()
        || r.identity_type == "AWSService"
        || r.user_agent.ends_with(".amazonaws.com")
        || r.user_agent == "AWS Internal"
}

/// From the AWS console (its own calls on the user's behalf)?
fn from_console(r: &View<'_>) -> bool {
    r.user_agent.contains("console.amazonaws.com")
        || r.user_agent.starts_with("Mozilla/")
        || r.user_agent == "AWS Internal"
}

/// The bursts one event feeds: (burst, principal key, item). The principal key is per account.
pub fn classify(r: &View<'_>, mut feed: impl FnMut(Id, u64, u64)) {
    let name = base_name(r.event_name);
    let source = r.event_source;
    let account = if r.recipient_account.is_empty() {
        r.identity_account
    } else {
        r.recipient_account
    };
    let who = if !r.principal_id.is_empty() {
        r.principal_id
    } else if !r.identity_arn.is_empty() {
        r.identity_arn
    } else {
        r.access_key_id
    };
    let principal = hash(&[account, who]);
    let failed = !r.error_code.is_empty();
    let human = matches!(r.identity_type, "IAMUser" | "Root");

    if name == "ConsoleLogin" && source == "signin.amazonaws.com" {
        if policy::text(&r.response_elements["ConsoleLogin"]).eq_ignore_ascii_case("Failure") {
            // Per address: guessing one user's password and spraying one password over many
            // users both come from few addresses.
            feed(
                Id::ConsoleFailures,
                hash(&["address", r.source_ip]),
                hash(&[r.event_id, r.event_time]),
            );
        }
        return;
    }
    if who.is_empty() || by_service(r) {
        return;
    }
    if failed
        && !from_console(r)
        && (r.error_code.contains("AccessDenied")
            || r.error_code.contains("UnauthorizedOperation")
            || r.error_code.contains("Unauthorized"))
    {
        feed(Id::AccessDenied, principal, hash(&[source, name]));
    }
    let instance_session = r.identity_type == "AssumedRole"
        && r.principal_id
            .rsplit_once(':')
            .is_some_and(|(_, session)| session.starts_with("i-"));
    if read_only(r, name) && !from_console(r) {
        let id = if instance_session {
            Id::InstanceDiscovery
        } else {
            Id::Discovery
        };
        feed(id, principal, hash(&[source, name]));
    }
    if instance_session
        && r.access_key_id.starts_with("ASIA")
        && r.vpc_endpoint_id.is_empty()
        && r.source_ip.parse::<std::net::IpAddr>().is_ok()
    {
        feed(
            Id::InstanceCredentials,
            // The instance's session, not one key: the SSM agent and the instance's metadata
            // service hand out different keys of the same session. Per address family: a
            // dual-stack instance calls from one IPv4 and one IPv6 address.
            hash(&[
                account,
                "instance",
                r.principal_id,
                if r.source_ip.contains(':') { "6" } else { "4" },
            ]),
            hash(&[r.source_ip]),
        );
    }
    let p = super::parameters(r);
    let text = |k: &str| policy::text(&p[k]).into_owned();
    match (source, name) {
        ("secretsmanager.amazonaws.com", "GetSecretValue") if !failed => {
            feed(Id::SecretReads, principal, hash(&[&text("secretId")]))
        }
        ("ssm.amazonaws.com", "GetParameter" | "GetParameters")
            if !failed && policy::is_true(&p["withDecryption"]) =>
        {
            for n in policy::many(&p["name"])
                .into_iter()
                .chain(policy::many(&p["names"]))
            {
                feed(Id::ParameterReads, principal, hash(&[&policy::text(n)]));
            }
        }
        ("ec2.amazonaws.com", "GetPasswordData") => {
            feed(Id::PasswordData, principal, hash(&[&text("instanceId")]))
        }
        ("ec2.amazonaws.com", "DescribeInstanceAttribute")
            if text("attribute").eq_ignore_ascii_case("userData") =>
        {
            feed(Id::UserData, principal, hash(&[&text("instanceId")]))
        }
        ("ses.amazonaws.com" | "email.amazonaws.com", _) if read_only(r, name) => {
            feed(Id::Ses, principal, hash(&[name]))
        }
        (
            "s3.amazonaws.com",
            "ListObjects" | "ListObjectsV2" | "GetBucketAcl" | "GetBucketPolicy"
            | "GetBucketLocation" | "HeadBucket",
        ) => feed(
            Id::BucketEnumeration,
            principal,
            hash(&[&text("bucketName")]),
        ),
        ("s3.amazonaws.com", "DeleteObject") if !failed => feed(
            Id::ObjectDeletion,
            principal,
            hash(&[&text("bucketName"), &text("key")]),
        ),
        ("s3.amazonaws.com", "DeleteObjects") if !failed => {
            for i in 0..10u8 {
                feed(
                    Id::ObjectDeletion,
                    principal,
                    hash(&[r.event_id, &i.to_string()]),
                );
            }
        }
        ("s3.amazonaws.com", "PutObject" | "CopyObject")
            if !failed
                && p.as_object().is_some_and(|m| {
                    m.keys().any(|k| {
                        k.eq_ignore_ascii_case("x-amz-server-side-encryption-customer-algorithm")
                    })
                }) =>
        {
            feed(
                Id::CustomerKeyWrites,
                principal,
                hash(&[&text("bucketName"), &text("key")]),
            )
        }
        ("ssm.amazonaws.com", "StartSession") if !failed => {
            feed(Id::InstanceAccess, principal, hash(&[&text("target")]))
        }
        ("ssm.amazonaws.com", "SendCommand") if !failed => {
            for i in policy::many(&p["instanceIds"]) {
                feed(Id::InstanceAccess, principal, hash(&[&policy::text(i)]));
            }
        }
        (
            "ec2-instance-connect.amazonaws.com",
            "SendSSHPublicKey" | "SendSerialConsoleSSHPublicKey",
        ) => feed(Id::InstanceAccess, principal, hash(&[&text("instanceId")])),
        ("ec2.amazonaws.com", "TerminateInstances") if !failed => {
            let mut any = false;
            policy::walk(&p, &mut |k, v| {
                if k == "instanceId" || k == "InstanceId" {
                    any = true;
                    feed(Id::Termination, principal, hash(&[&policy::text(v)]));
                }
            });
            if !any {
                for i in policy::many(&p["instanceIds"]) {
                    feed(Id::Termination, principal, hash(&[&policy::text(i)]));
                }
            }
        }
        (
            "bedrock.amazonaws.com",
            "InvokeModel" | "InvokeModelWithResponseStream" | "Converse" | "ConverseStream",
        ) if human => feed(
            Id::ModelInvocations,
            principal,
            hash(&[r.event_id, r.event_time]),
        ),
        _ => {}
    }
}

/// The parts of a record a burst's finding is built from, kept in an arena: the hunt keeps one
/// per principal and file (a finding for every principal up front cost more than the detectors;
/// an allocation each, a tenth of the hunt) and builds the finding only when a burst fires.
#[derive(Default)]
pub struct Bases {
    text: String,
    ends: Vec<u32>,
}

const BASIS_FIELDS: usize = 15;

impl Bases {
    /// Keeps the record's parts; their number.
    pub fn push(&mut self, r: &View<'_>) -> u32 {
        let n = (self.ends.len() / BASIS_FIELDS) as u32;
        for f in [
            r.event_source,
            r.event_name,
            r.event_time,
            r.event_id,
            r.aws_region,
            r.source_ip,
            r.user_agent,
            r.error_code,
            r.recipient_account,
            r.identity_type,
            r.principal_id,
            r.access_key_id,
            r.user_name,
            r.identity_account,
            r.issuer_user_name,
        ] {
            self.text.push_str(f);
            self.ends
                .push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        }
        n
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or("")
    }

    /// Record `n` as detectors read it (no parameters: a burst's finding needs none).
    pub fn view(&self, n: u32) -> Option<View<'_>> {
        let at = n as usize * BASIS_FIELDS;
        if at + BASIS_FIELDS > self.ends.len() {
            return None;
        }
        let f = |i: usize| self.field(at + i);
        Some(View {
            event_source: f(0),
            event_name: f(1),
            event_time: f(2),
            event_id: f(3),
            aws_region: f(4),
            source_ip: f(5),
            user_agent: f(6),
            error_code: f(7),
            recipient_account: f(8),
            identity_type: f(9),
            principal_id: f(10),
            access_key_id: f(11),
            user_name: f(12),
            identity_account: f(13),
            issuer_user_name: f(14),
            ..View::default()
        })
    }
}

/// What a burst counted when it fired.
#[derive(Clone, Copy, Debug)]
pub struct Count {
    pub id: Id,
    pub distinct: usize,
    pub attempts: usize,
    pub since: i64,
}

/// The counting, in event order.
pub struct Bursts {
    cfg: GuardConfig,
    windows: Distinct<(Id, u64), u64>,
    /// Instance credentials live for hours: their addresses are counted in a longer window.
    long: Distinct<(Id, u64), u64>,
}

impl Bursts {
    pub fn new(cfg: &GuardConfig) -> Bursts {
        Bursts {
            cfg: cfg.clone(),
            windows: Distinct::new(cfg.burst_window_seconds),
            long: Distinct::new(cfg.instance_credentials_window_seconds),
        }
    }

    /// Counts one item at time `t` (seconds); the count when this makes the burst fire.
    pub fn add(&mut self, id: Id, principal: u64, item: u64, t: i64) -> Option<Count> {
        let min = id.min(&self.cfg).max(1);
        let windows = if id == Id::InstanceCredentials {
            &mut self.long
        } else {
            &mut self.windows
        };
        windows
            .add((id, principal), item, t, min, id.burst().by_attempts)
            .map(|(distinct, attempts, since)| Count {
                id,
                distinct,
                attempts,
                since,
            })
    }

    /// Every burst one event makes fire (the server's way: classify and count at once).
    pub fn observe(&mut self, r: &View<'_>, out: &mut Vec<Signal>) {
        let t = seconds(r.event_time);
        let mut fired = Vec::new();
        classify(r, |id, principal, item| {
            if let Some(c) = self.add(id, principal, item, t) {
                fired.push(c);
            }
        });
        for c in fired {
            out.push(finish(template(c.id, r), c));
        }
    }
}

/// The finding a burst raises, built from one of its events (the parts that do not depend on
/// the count).
pub fn template(id: Id, r: &View<'_>) -> Signal {
    let b = id.burst();
    let mut sig = iam_signal(r, b.kind, b.severity, b.title, String::new(), "");
    if id == Id::ConsoleFailures {
        sig.resource_key = format!("console|{}", r.source_ip);
    }
    sig.info = Some(json!({
        "mitreAttack": {"tactic": b.tactic.name(), "tacticId": b.tactic.id(), "techniques": b.attack},
        "detection": "curated-burst",
    }));
    // Bulk reads by long-term keys (users, root) are worse than by a role.
    let human = matches!(r.identity_type, "IAMUser" | "Root");
    if matches!(id, Id::SecretReads | Id::ParameterReads) && !human {
        sig.severity = 3.0;
    }
    sig
}

/// The template with the count said.
pub fn finish(mut sig: Signal, c: Count) -> Signal {
    let b = c.id.burst();
    let n = if b.by_attempts {
        c.attempts
    } else {
        c.distinct
    };
    let who = sig.resource["accessKeyDetails"]["userName"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or_else(|| sig.resource["accessKeyDetails"]["principalId"].as_str())
        .unwrap_or("a principal")
        .to_string();
    let since = chrono::DateTime::from_timestamp(c.since, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    sig.description = format!(
        "{who}: {n} {} within the window starting {since} ({} calls in all).",
        b.unit, c.attempts
    );
    if let Some(info) = sig.info.as_mut() {
        info["burst"] = json!({"count": n, "calls": c.attempts, "windowStart": since});
    }
    sig
}

/// `eventTime` in seconds since the epoch (0 when unreadable: such events count together).
pub fn seconds(t: &str) -> i64 {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = b.get(r)?;
        s.iter().try_fold(0i64, |a, c| {
            c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
        })
    };
    let parts = (|| {
        Some((
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
        ))
    })();
    let Some((y, m, d, hh, mm, ss)) = parts else {
        return chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp())
            .unwrap_or(0);
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_read_as_chrono_reads_them() {
        for t in [
            "2026-11-28T10:00:00Z",
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2024-12-31T12:34:56Z",
        ] {
            let want = chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
            assert_eq!(seconds(t), want, "{t}");
        }
        assert_eq!(seconds("garbage"), 0);
        assert_eq!(seconds(""), 0);
    }

    #[test]
    fn ids_index_their_bursts() {
        for (i, id) in [
            Id::Discovery,
            Id::AccessDenied,
            Id::SecretReads,
            Id::ParameterReads,
            Id::PasswordData,
            Id::UserData,
            Id::Ses,
            Id::ObjectDeletion,
            Id::CustomerKeyWrites,
            Id::InstanceAccess,
            Id::Termination,
            Id::ConsoleFailures,
            Id::ModelInvocations,
            Id::InstanceDiscovery,
            Id::InstanceCredentials,
            Id::BucketEnumeration,
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(id as usize, i);
        }
        assert_eq!(BURSTS.len(), 16);
    }
}
