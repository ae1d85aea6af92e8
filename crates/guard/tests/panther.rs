//! Labelled cases from outside: Panther's rule unit tests (../shared/fixtures/cloudtrail/panther,
//! Apache-2.0) say of each CloudTrail event whether their rule should fire. Where a Panther rule
//! means what one of our detectors means, ours agrees with every case — the hits and the near
//! misses (failed calls, the opposite setting, another service, a missing field).
//!
//! Not compared: `AWS.Root.Activity`, which leaves out failed calls, read-only calls and
//! CreateServiceLinkedRole; GuardDuty's RootCredentialUsage (and ours) reports every call made
//! with root credentials.

use mamori_guard::cloudtrail::{Context, detect};
use mamori_guard::intel::Intel;
use mamori_guard::view::View;
use serde_json::Value;

fn cases() -> Option<String> {
    let f = mamori_core::testkit::fixtures("cloudtrail/panther/AWS.CloudTrail.jsonl")?;
    Some(std::fs::read_to_string(&f).expect("the Panther cases file reads"))
}

/// Our finding type for a Panther rule, on the events where the two mean the same.
fn ours(rule: &str, event: &Value) -> Option<&'static str> {
    let name = event["eventName"].as_str().unwrap_or("");
    let source = event["eventSource"].as_str().unwrap_or("");
    match rule {
        "AWS.CloudTrail.Stopped" => Some("Stealth:IAMUser/CloudTrailLoggingDisabled"),
        "AWS.S3.DeletePublicAccessBlock" => Some("Policy:S3/BucketBlockPublicAccessDisabled"),
        "AWS.S3.DisableBucketLogging" => Some("Stealth:S3/ServerAccessLoggingDisabled"),
        // Their rule covers many services' resource policies; ours, S3 bucket policies.
        "AWS.CloudTrail.ResourceMadePublic"
            if source == "s3.amazonaws.com" && name == "PutBucketPolicy" =>
        {
            Some("Policy:S3/BucketAnonymousAccessGranted")
        }
        // Their rule also covers versioning and MFA delete; ours, access logging.
        "AWS.S3.SecurityControlDisabling" if name == "PutBucketLogging" => {
            Some("Stealth:S3/ServerAccessLoggingDisabled")
        }
        // The curated detections where Panther's rule means the same thing.
        "AWS.CloudTrail.AttemptToLeaveOrg" => {
            Some("DefenseEvasion:Organizations/LeaveOrganization")
        }
        "AWS.CloudTrail.DNSLogsDeleted" => Some("DefenseEvasion:Route53/DnsQueryLoggingDeleted"),
        "AWS.VPCFlow.LogsDeleted" => Some("DefenseEvasion:EC2/FlowLogsDeleted"),
        // Their rule covers sharing with anyone and with one account: ours are two rules.
        "AWS.CloudTrail.SnapshotMadePublic" => Some("Exfiltration:EC2/Snapshot"),
        "AWS.CloudTrail.AMIModifiedForPublicAccess" => Some("Exfiltration:EC2/Image"),
        "AWS.RDS.SnapshotShared" => Some("Exfiltration:RDS/SnapshotSharedOutside"),
        "AWS.IAM.AttachAdminUserPolicy" | "AWS.IAM.AttachAdminRolePolicy" => {
            Some("PrivilegeEscalation:IAMUser/AdminPolicyAttached")
        }
        "AWS.Bedrock.DeleteModelInvocationLoggingConfiguration" => {
            Some("DefenseEvasion:IAMUser/BedrockLoggingDisabled")
        }
        "AWS.EC2.EBS.Encryption.Disabled" => {
            Some("DefenseEvasion:EC2/EbsDefaultEncryptionDisabled")
        }
        "AWS.S3.DeleteBucketEncryption" => Some("DefenseEvasion:S3/BucketEncryptionRemoved"),
        "AWS.KMS.CustomerManagedKeyLoss" if name == "ScheduleKeyDeletion" => {
            Some("Impact:KMS/KeyDeletionScheduled")
        }
        "AWS.CloudTrail.EventSelectorsDisabled" => {
            Some("DefenseEvasion:CloudTrail/EventSelectorsNarrowed")
        }
        "AWS.CloudTrail.ShortLifecycle" => Some("DefenseEvasion:S3/LogBucketLifecycleShortened"),
        "AWS.S3.SuspendVersioning" => Some("DefenseEvasion:S3/VersioningSuspended"),
        "AWS.RDS.InstanceMadePublic" => Some("Exfiltration:RDS/InstanceMadePublic"),
        "AWS.RDS.DeletionProtectionDisabled" => Some("Impact:RDS/DeletionProtectionDisabled"),
        "AWS.RDS.SnapshotExport" => Some("Exfiltration:RDS/SnapshotExported"),
        "AWS.RDS.MasterPasswordUpdated" => Some("CredentialAccess:RDS/MasterPasswordReset"),
        "AWS.EC2.Startup.Script.Change" => Some("Execution:EC2/UserDataModified"),
        "AWS.IAM.BackdoorRole" => Some("Persistence:IAMUser/RoleTrusts"),
        "AWS.CloudTrail.CodebuildProjectMadePublic" => {
            Some("Exfiltration:CodeBuild/ProjectMadePublic")
        }
        "AWS.CloudTrail.RootAccessKeyCreated" => Some("Persistence:IAMUser/RootAccessKeyCreated"),
        "AWS.Console.LoginWithoutMFA" => Some("UnauthorizedAccess:IAMUser/ConsoleLoginWithoutMFA"),
        "AWS.Console.RootLoginFailed" => Some("UnauthorizedAccess:IAMUser/RootConsoleLoginFailed"),
        "AWS.SecretsManager.BatchRetrieveSecrets" => {
            Some("CredentialAccess:SecretsManager/BatchSecretRetrieval")
        }
        "AWS.WAF.Disassociation" => Some("DefenseEvasion:WAF/WebACLDisassociated"),
        "AWS.EC2.Traffic.Mirroring" if name == "CreateTrafficMirrorSession" => {
            Some("Exfiltration:EC2/TrafficMirroringStarted")
        }
        "AWS.CloudTrail.EnableRegion" => Some("DefenseEvasion:Account/RegionEnabled"),
        _ => None,
    }
}

#[test]
fn our_detectors_agree_with_panthers_labelled_cases() {
    let Some(text) = cases() else { return };
    let intel = Intel::default();
    let ctx = Context {
        intel: &intel,
        instance_networks: &[],
        known: &Default::default(),
    };
    let (mut hits, mut misses, mut disagree) = (0, 0, Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let rule = case["rule_id"].as_str().unwrap();
        let event = &case["event"];
        let Some(kind) = ours(rule, event) else {
            continue;
        };
        // Their verdict hangs on a mocked helper (allow-lists, lookups): not comparable.
        if !case["mocks"].is_null() {
            continue;
        }
        let expected = case["expected_match"].as_bool().unwrap();
        let signals = detect(&View::from_value(event), &ctx);
        // A prefix names a family of ours (one of them is enough).
        let fired = signals.iter().any(|s| s.kind.starts_with(kind));
        // A refused call is an attempt: ours report the riskiest at a lower severity, theirs
        // never. Not a disagreement.
        let attempt = !event["errorCode"].is_null()
            && signals
                .iter()
                .any(|s| s.info.as_ref().is_some_and(|i| i["attempt"] == true));
        if attempt && !expected {
            continue;
        }
        if fired != expected {
            disagree.push(format!(
                "{rule} / {:?}: Panther says {expected}, {kind} {}",
                case["test_name"],
                if fired { "fired" } else { "did not fire" }
            ));
        }
        if expected {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    eprintln!("Panther cases compared: {hits} that fire, {misses} near misses");
    assert!(disagree.is_empty(), "{disagree:#?}");
    assert!(hits >= 35 && misses >= 45, "{hits} / {misses}");
}
