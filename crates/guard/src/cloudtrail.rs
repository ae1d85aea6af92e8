//! Detectors over audit events (CloudTrail records and mamori's own management events), with
//! GuardDuty's finding-type names and default severities. Each says what triggers it; each is
//! tested with an event that fires it and a near miss that does not (`tests/detectors.rs`).
//!
//! | type | fires on | severity |
//! |---|---|---|
//! | `Stealth:IAMUser/CloudTrailLoggingDisabled` | a successful `StopLogging` or `DeleteTrail` of CloudTrail — or of a mamori trail | Low 2.0 |
//! | `Policy:IAMUser/RootCredentialUsage` | a call made with the root user's credentials, not by an AWS service on its behalf | Low 2.0 |
//! | `Stealth:IAMUser/PasswordPolicyChange` | a successful `UpdateAccountPasswordPolicy` / `DeleteAccountPasswordPolicy` | Low 2.0 |
//! | `Policy:S3/BucketBlockPublicAccessDisabled` | `PutBucketPublicAccessBlock` turning any setting off, or `DeleteBucketPublicAccessBlock` | Low 2.0 |
//! | `Policy:S3/AccountBlockPublicAccessDisabled` | the same at account level (`PutAccountPublicAccessBlock`, `DeleteAccountPublicAccessBlock`) | Low 2.0 |
//! | `Policy:S3/BucketAnonymousAccessGranted` | a bucket ACL granting AllUsers (or canned `public-read[-write]`), or a policy allowing principal `*` without a condition | High 8.0 |
//! | `Policy:S3/BucketPublicAccessGranted` | a bucket ACL granting AuthenticatedUsers (any AWS account), or canned `authenticated-read` | High 8.0 |
//! | `Stealth:S3/ServerAccessLoggingDisabled` | `PutBucketLogging` without a `LoggingEnabled` target | Low 2.0 |
//! | `PenTest:IAMUser/KaliLinux`, `ParrotLinux`, `PentooLinux` | a call whose user agent names that penetration-testing distribution as its platform | Medium 5.0 |
//! | `Recon:IAMUser/MaliciousIPCaller[.Custom]` | a read-only call (List/Describe/Get…, or `readOnly`) from an address on a threat list (`.Custom`: your lists; without: the built-in set) | Medium 5.0 |
//! | `UnauthorizedAccess:IAMUser/MaliciousIPCaller[.Custom]` | any other call from such an address | Medium 5.0 |
//! | `Recon:IAMUser/TorIPCaller`, `UnauthorizedAccess:IAMUser/TorIPCaller` | the same, from a Tor exit node (a list loaded as `tor`) | Medium 5.0 |
//! | `Discovery:S3/…`, `Exfiltration:S3/…`, `Impact:S3/…`, `UnauthorizedAccess:S3/…` `MaliciousIPCaller[.Custom]`, `TorIPCaller`; `PenTest:S3/KaliLinux`… | the same callers and user agents on S3 calls (data events above all), by what the call does: listing and reading settings (Discovery; Tor Medium 5.0), reading objects (Exfiltration), writing or deleting (Impact), anything but discovery from a custom list or Tor (UnauthorizedAccess) | High 8.0 |
//! | `UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS` | an EC2 instance role's session credentials used from a public address outside the account's configured instance networks (`[guard] instance_networks`) — off until they are configured | High 8.0 |
//!
//! Beyond these foundational types, [`crate::curated`] holds the curated detections, one per
//! attack technique; [`detect`] runs them too.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

use crate::finding::Signal;
use crate::intel::{Intel, ListKind, is_public};
use crate::view::View;

/// What the detectors need besides the event.
pub struct Context<'a> {
    pub intel: &'a Intel,
    /// The account's own instance addresses, for InstanceCredentialExfiltration.OutsideAWS.
    pub instance_networks: &'a [IpNet],
    /// The accounts inside the organization, for the curated detections.
    pub known: &'a crate::curated::KnownAccounts,
}

fn failed(r: &View<'_>) -> bool {
    !r.error_code.is_empty()
}

fn access_key(r: &View<'_>) -> Value {
    let user_name = if r.user_name.is_empty() {
        r.issuer_user_name
    } else {
        r.user_name
    };
    json!({
        "accessKeyId": r.access_key_id,
        "principalId": r.principal_id,
        "userName": user_name,
        "userType": r.identity_type,
    })
}

fn api_call(r: &View<'_>, remote: Option<&str>) -> Value {
    let mut a = json!({
        "api": r.event_name,
        "serviceName": r.event_source,
        "callerType": if remote.is_some() { "Remote IP" } else { "AWS Service" },
        "userAgent": {"fullUserAgent": r.user_agent},
    });
    if !r.error_code.is_empty() {
        a["errorCode"] = Value::String(r.error_code.into());
    }
    if let Some(ip) = remote {
        let key = if ip.contains(':') {
            "ipAddressV6"
        } else {
            "ipAddressV4"
        };
        a["remoteIpDetails"] = json!({ key: ip });
    }
    json!({"actionType": "AWS_API_CALL", "awsApiCallAction": a})
}

fn account_of(r: &View<'_>) -> String {
    if r.recipient_account.is_empty() {
        r.identity_account.to_string()
    } else {
        r.recipient_account.to_string()
    }
}

fn source_ip<'a>(r: &View<'a>) -> Option<&'a str> {
    r.source_ip.parse::<IpAddr>().is_ok().then_some(r.source_ip)
}

/// The base of an IAM signal for a record (its access key as the resource), for detectors
/// outside this module (Sigma rules).
pub fn iam_signal(
    r: &View<'_>,
    kind: &str,
    severity: f64,
    title: &str,
    description: String,
    actor: &str,
) -> Signal {
    Builder { r }.iam(kind, severity, title, description, actor)
}

struct Builder<'r, 'a> {
    r: &'r View<'a>,
}

impl Builder<'_, '_> {
    fn iam(
        &self,
        kind: &str,
        severity: f64,
        title: &str,
        description: String,
        actor: &str,
    ) -> Signal {
        let key = access_key(self.r);
        let resource_key = format!(
            "{}|{}",
            key["accessKeyId"].as_str().unwrap_or(""),
            key["principalId"].as_str().unwrap_or("")
        );
        Signal {
            kind: kind.into(),
            severity,
            title: title.into(),
            description,
            account: account_of(self.r),
            region: self.r.aws_region.to_string(),
            resource: json!({"resourceType": "AccessKey", "accessKeyDetails": key}),
            resource_key,
            actor: actor.to_string(),
            action: api_call(self.r, source_ip(self.r)),
            resource_role: "TARGET",
            evidence: None,
            info: None,
            event_id: (!self.r.event_id.is_empty()).then(|| self.r.event_id.to_string()),
            time: self.r.event_time.to_string(),
        }
    }

    fn s3(&self, kind: &str, severity: f64, title: &str, description: String) -> Signal {
        let bucket = self.r.request_parameters["bucketName"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut sig = self.iam(kind, severity, title, description, "");
        sig.resource = json!({
            "resourceType": "S3Bucket",
            "accessKeyDetails": access_key(self.r),
            "s3BucketDetails": [{"name": bucket, "arn": format!("arn:aws:s3:::{bucket}"), "type": "Destination"}],
        });
        sig.resource_key = format!("bucket|{bucket}");
        sig
    }
}

fn who(r: &View<'_>) -> String {
    let k = access_key(r);
    let name = k["userName"].as_str().unwrap_or("");
    let t = k["userType"].as_str().unwrap_or("");
    if name.is_empty() {
        t.to_string()
    } else {
        format!("{t} {name}")
    }
}

fn read_only(r: &View<'_>) -> bool {
    if let Some(ro) = r.read_only {
        return ro;
    }
    [
        "List", "Describe", "Get", "Head", "Lookup", "Search", "Scan", "Query",
    ]
    .iter()
    .any(|p| r.event_name.starts_with(p))
}

/// The penetration-testing distribution a user agent names as its platform, if any.
fn pentest_distro(ua: &str) -> Option<&'static str> {
    // This runs on every event: first, whether a distribution's name is anywhere at all.
    if !names_a_distro(ua) {
        return None;
    }
    // The platform tokens of the user agent (`linux/…`, `os/…`, `…distrib#…`), compared
    // without regard to case and without copying.
    let hash = memchr::memchr(b'#', ua.as_bytes()).is_some();
    let platform = ua.split_ascii_whitespace().filter(|t| {
        starts_with_ci(t, "linux/")
            || starts_with_ci(t, "os/")
            || (hash && contains_ci(t, "distrib#"))
    });
    for t in platform {
        for (needle, name) in [
            ("kali", "KaliLinux"),
            ("parrot", "ParrotLinux"),
            ("pentoo", "PentooLinux"),
        ] {
            if contains_ci(t, needle) {
                return Some(name);
            }
        }
    }
    None
}

/// Does the user agent contain `kali`, `parrot` or `pentoo` in any case? (Necessary for
/// [`pentest_distro`] to name one; most user agents are told "no" with a lowercased copy on
/// the stack and a vectorised search for `k` and `p`.)
fn names_a_distro(ua: &str) -> bool {
    let mut buf = [0u8; 512];
    let Some(low) = buf.get_mut(..ua.len()) else {
        return true; // longer than the buffer: the careful way decides
    };
    for (l, b) in low.iter_mut().zip(ua.as_bytes()) {
        *l = b.to_ascii_lowercase();
    }
    let low = &*low;
    memchr::memchr2_iter(b'k', b'p', low).any(|i| {
        let rest = &low[i..];
        rest.starts_with(b"kali") || rest.starts_with(b"parrot") || rest.starts_with(b"pentoo")
    })
}

fn starts_with_ci(t: &str, prefix: &str) -> bool {
    t.len() >= prefix.len() && t.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Does `t` contain `needle` (lowercase ASCII), ignoring case?
fn contains_ci(t: &str, needle: &str) -> bool {
    t.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn acl_grant(p: &Value) -> Option<&'static str> {
    let text = p.to_string();
    let canned = p["x-amz-acl"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .or_else(|| p["x-amz-acl"].as_str())
        .unwrap_or("");
    if text.contains("acs.amazonaws.com/groups/global/AllUsers")
        || matches!(canned, "public-read" | "public-read-write")
    {
        Some("Policy:S3/BucketAnonymousAccessGranted")
    } else if text.contains("acs.amazonaws.com/groups/global/AuthenticatedUsers")
        || canned == "authenticated-read"
    {
        Some("Policy:S3/BucketPublicAccessGranted")
    } else {
        None
    }
}

fn policy_public(p: &Value) -> bool {
    let policy = match &p["bucketPolicy"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    };
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![policy["Statement"].clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|st| {
        let star = |v: &Value| match v {
            Value::String(s) => s == "*",
            Value::Array(a) => a.iter().any(|x| x == "*"),
            _ => false,
        };
        st["Effect"] == "Allow"
            && st["Condition"].is_null()
            && (star(&st["Principal"]) || star(&st["Principal"]["AWS"]))
    })
}

/// GuardDuty's S3 type for a call from a listed address: discovery (listing, reading bucket
/// settings), exfiltration (reading or copying objects), impact (writing or deleting), or
/// unauthorized access (custom lists and Tor, for anything but discovery); with its severity.
fn s3_caller_type(r: &View<'_>, tor: bool, builtin: bool) -> (String, f64) {
    let name = r.event_name;
    let reads_objects = matches!(
        name,
        "GetObject" | "GetObjectVersion" | "CopyObject" | "SelectObjectContent" | "RestoreObject"
    );
    let discovery = read_only(r) && !reads_objects;
    let (purpose, family, severity) = match (tor, builtin) {
        (true, _) if discovery => ("Discovery", "TorIPCaller", 5.0),
        (true, _) => ("UnauthorizedAccess", "TorIPCaller", 8.0),
        (false, true) if discovery => ("Discovery", "MaliciousIPCaller", 8.0),
        (false, true) if reads_objects => ("Exfiltration", "MaliciousIPCaller", 8.0),
        (false, true) => ("Impact", "MaliciousIPCaller", 8.0),
        (false, false) if discovery => ("Discovery", "MaliciousIPCaller.Custom", 8.0),
        (false, false) => ("UnauthorizedAccess", "MaliciousIPCaller.Custom", 8.0),
    };
    (format!("{purpose}:S3/{family}"), severity)
}

/// Every signal one record raises.
pub fn detect(r: &View<'_>, ctx: &Context<'_>) -> Vec<Signal> {
    let mut out = Vec::new();
    let b = Builder { r };
    let source = r.event_source;
    let name = r.event_name;
    let ok = !failed(r);
    let ip = r.source_ip;

    if ok
        && matches!(source, "cloudtrail.amazonaws.com" | "mamori.trail")
        && matches!(name, "StopLogging" | "DeleteTrail")
    {
        let trail = r.request_parameters["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut sig = b.iam(
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            2.0,
            "The audit trail was disabled.",
            format!("{} called {name} on trail {trail:?} ({source}).", who(r)),
            "",
        );
        sig.resource_key.push_str(&format!("|trail|{trail}"));
        out.push(sig);
    }

    if r.identity_type == "Root" && r.invoked_by.is_empty() && r.event_type != "AwsServiceEvent" {
        out.push(b.iam(
            "Policy:IAMUser/RootCredentialUsage",
            2.0,
            "API was invoked using root credentials.",
            format!("The root user's credentials called {name} on {source} from {ip}."),
            "",
        ));
    }

    if ok
        && source == "iam.amazonaws.com"
        && matches!(
            name,
            "UpdateAccountPasswordPolicy" | "DeleteAccountPasswordPolicy"
        )
    {
        out.push(b.iam(
            "Stealth:IAMUser/PasswordPolicyChange",
            2.0,
            "The account's password policy was weakened or removed.",
            format!("{} called {name}.", who(r)),
            "",
        ));
    }

    if ok && source == "s3.amazonaws.com" {
        let params: &Value = &r.request_parameters;
        let bpa_off = |cfg: &Value| {
            [
                "BlockPublicAcls",
                "IgnorePublicAcls",
                "BlockPublicPolicy",
                "RestrictPublicBuckets",
            ]
            .iter()
            .any(|k| cfg[k] == false || cfg[k] == "false")
        };
        match name {
            "PutBucketPublicAccessBlock" if bpa_off(&params["PublicAccessBlockConfiguration"]) => {
                out.push(b.s3(
                    "Policy:S3/BucketBlockPublicAccessDisabled",
                    2.0,
                    "Block Public Access was turned off for a bucket.",
                    format!(
                        "{} turned off Block Public Access settings of a bucket.",
                        who(r)
                    ),
                ))
            }
            "DeleteBucketPublicAccessBlock" => out.push(b.s3(
                "Policy:S3/BucketBlockPublicAccessDisabled",
                2.0,
                "Block Public Access was removed from a bucket.",
                format!(
                    "{} deleted the Block Public Access configuration of a bucket.",
                    who(r)
                ),
            )),
            "PutAccountPublicAccessBlock" | "DeleteAccountPublicAccessBlock"
                if name.starts_with("Delete")
                    || bpa_off(&params["PublicAccessBlockConfiguration"]) =>
            {
                let mut sig = b.iam(
                    "Policy:S3/AccountBlockPublicAccessDisabled",
                    2.0,
                    "Block Public Access was turned off for the account.",
                    format!(
                        "{} called {name}: S3 buckets of the account may become public.",
                        who(r)
                    ),
                    "",
                );
                sig.resource_key = format!("account-bpa|{}", account_of(r));
                out.push(sig);
            }
            "PutBucketAcl" | "CreateBucket" => {
                if let Some(kind) = acl_grant(params) {
                    out.push(b.s3(
                        kind,
                        8.0,
                        "A bucket was made readable by anyone.",
                        format!(
                            "{} granted public access to a bucket through its ACL ({name}).",
                            who(r)
                        ),
                    ));
                }
            }
            "PutBucketPolicy" if policy_public(params) => out.push(b.s3(
                "Policy:S3/BucketAnonymousAccessGranted",
                8.0,
                "A bucket policy allows anyone.",
                format!(
                    "{} set a bucket policy allowing principal \"*\" without a condition.",
                    who(r)
                ),
            )),
            "PutBucketLogging"
                if params["BucketLoggingStatus"]["LoggingEnabled"].is_null()
                    && !params["BucketLoggingStatus"].is_null() =>
            {
                out.push(b.s3(
                    "Stealth:S3/ServerAccessLoggingDisabled",
                    2.0,
                    "Server access logging was turned off for a bucket.",
                    format!("{} disabled server access logging of a bucket.", who(r)),
                ))
            }
            _ => {}
        }
    }

    // S3 calls (data events above all) raise GuardDuty's S3 protection types, about the bucket.
    let s3 = source == "s3.amazonaws.com";
    if let Some(distro) = pentest_distro(r.user_agent) {
        let description = format!(
            "{} called {name} with the user agent {:?}.",
            who(r),
            r.user_agent
        );
        let title = "An API was invoked from a penetration-testing distribution.";
        out.push(if s3 {
            let mut sig = b.s3(&format!("PenTest:S3/{distro}"), 5.0, title, description);
            sig.actor = distro.to_string();
            sig
        } else {
            b.iam(
                &format!("PenTest:IAMUser/{distro}"),
                5.0,
                title,
                description,
                distro,
            )
        });
    }

    if let Some(hit) = ctx.intel.check_ip(ip) {
        let purpose = if read_only(r) {
            "Recon"
        } else {
            "UnauthorizedAccess"
        };
        let (family, what) = match hit.list.kind {
            ListKind::Tor => ("TorIPCaller".to_string(), "a Tor exit node"),
            _ if hit.list.builtin => ("MaliciousIPCaller".to_string(), "a known malicious address"),
            _ => (
                "MaliciousIPCaller.Custom".to_string(),
                "an address on a threat list",
            ),
        };
        let mut sig = b.iam(
            &format!("{purpose}:IAMUser/{family}"),
            5.0,
            &format!("An API was invoked from {what}."),
            format!(
                "{} called {name} on {source} from {ip} ({}, list {}).",
                who(r),
                hit.entry,
                hit.list.name
            ),
            ip,
        );
        if s3 {
            let (kind, severity) =
                s3_caller_type(r, hit.list.kind == ListKind::Tor, hit.list.builtin);
            let mut s3_sig = b.s3(&kind, severity, &sig.title, sig.description.clone());
            s3_sig.actor = ip.to_string();
            sig = s3_sig;
        }
        sig.evidence = Some(json!({"threatIntelligenceDetails": [{
            "threatListName": hit.list.name, "threatNames": [hit.entry]}]}));
        out.push(sig);
    }

    if !ctx.instance_networks.is_empty()
        && r.identity_type == "AssumedRole"
        && r.access_key_id.starts_with("ASIA")
        && let Some((_, session)) = r.principal_id.rsplit_once(':')
        && session.starts_with("i-")
        && let Ok(addr) = ip.parse::<IpAddr>()
        && is_public(addr)
        && !ctx.intel.is_trusted_ip(ip)
        && !ctx.instance_networks.iter().any(|n| n.contains(&addr))
    {
        out.push(b.iam(
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            8.0,
            "Credentials created for an EC2 instance were used from outside it.",
            format!(
                "The session credentials of instance {session} called {name} from {ip}, outside the account's instance networks."
            ),
            ip,
        ));
    }
    crate::curated::detect(r, ctx.known, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefilter never hides a distribution the token check would name: any case, at the
    /// very end, in a user agent longer than its buffer.
    #[test]
    fn the_distribution_prefilter_is_only_a_shortcut() {
        let long = format!("{} Linux/6.5-KALI", "x".repeat(600));
        for (ua, want) in [
            (
                "aws-cli/2 Python/3 Linux/6.5.0-kali3-amd64",
                Some("KaliLinux"),
            ),
            ("aws-cli/2 Python/3 LINUX/6.5.0-PARROT", Some("ParrotLinux")),
            ("Boto3/1.34 os/PenToo#1", Some("PentooLinux")),
            ("aws-cli/2 distrib#pentoo", Some("PentooLinux")),
            (long.as_str(), Some("KaliLinux")),
            (
                "aws-cli/2 Python/3 Linux/6.1 exe/x86_64.debian prompt/off",
                None,
            ),
            ("kalimba/1.0 (aws-sdk-go/1.44) Linux/6.1", None),
            ("", None),
            ("Linux/6.1-kal", None),
        ] {
            assert_eq!(pentest_distro(ua), want, "{ua}");
        }
        assert!(!names_a_distro("aws-cli/2 Python/3 Linux/6.1 prompt/off"));
        assert!(names_a_distro("x-KaLi"));
    }
}
