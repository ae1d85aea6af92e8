//! Defense evasion: any log or monitor silenced or narrowed (trail selectors and scope, the log
//! bucket's lifecycle, flow logs, DNS query logs, Config, GuardDuty and mamori's own detector,
//! log groups, alarms, Security Hub, Macie, Inspector, Access Analyzer, Bedrock logging),
//! protections removed (encryption, versioning, MFA devices, WAF), unused regions enabled, and
//! leaving the organization.

use serde_json::Value;

use super::super::policy;
use super::super::{Detection, Ev, Hit, Tactic};
use super::called;

const TRAIL: &str = "cloudtrail.amazonaws.com";
const S3: &str = "s3.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const GD: &str = "guardduty.amazonaws.com";

fn is_false(v: &Value) -> bool {
    matches!(v, Value::Bool(false)) || policy::text(v).eq_ignore_ascii_case("false")
}

fn selectors_narrowed(ev: &Ev<'_, '_>) -> Option<Hit> {
    let trail = ev.text("trailName").into_owned();
    let mut why = Vec::new();
    for s in policy::many(&ev.params["eventSelectors"]) {
        if is_false(&s["includeManagementEvents"]) {
            why.push("management events excluded".to_string());
        }
        let rw = policy::text(&s["readWriteType"]);
        if !rw.is_empty() && !rw.eq_ignore_ascii_case("All") {
            why.push(format!("only {rw} events kept"));
        }
        if !policy::many(&s["excludeManagementEventSources"]).is_empty() {
            why.push("management events of some services excluded".to_string());
        }
    }
    let advanced = policy::many(&ev.params["advancedEventSelectors"]);
    if !advanced.is_empty() {
        let management = advanced.iter().any(|a| {
            policy::many(&a["fieldSelectors"]).iter().any(|f| {
                policy::text(&f["field"]) == "eventCategory"
                    && policy::many(&f["equals"])
                        .iter()
                        .any(|v| policy::text(v) == "Management")
            })
        });
        if !management {
            why.push("no advanced selector keeps management events".to_string());
        }
    }
    if why.is_empty() {
        return None;
    }
    why.dedup();
    Some(Hit::new(
        format!(
            "{} narrowed what trail {trail:?} records: {}.",
            ev.who(),
            why.join("; ")
        ),
        trail,
    ))
}

fn trail_narrowed(ev: &Ev<'_, '_>) -> Option<Hit> {
    let trail = ev.text("name").into_owned();
    let mut why = Vec::new();
    if is_false(&ev.params["isMultiRegionTrail"]) {
        why.push("other regions no longer recorded");
    }
    if is_false(&ev.params["includeGlobalServiceEvents"]) {
        why.push("global services (IAM, STS) no longer recorded");
    }
    if is_false(&ev.params["enableLogFileValidation"]) {
        why.push("digest files (log validation) turned off");
    }
    (!why.is_empty()).then(|| {
        Hit::new(
            format!("{} changed trail {trail:?}: {}.", ev.who(), why.join("; ")),
            trail,
        )
    })
}

/// The shortest expiration (days) of enabled lifecycle rules, current or noncurrent versions.
fn shortest_expiry(cfg: &Value) -> Option<i64> {
    let mut best: Option<i64> = None;
    for rule in policy::many(&cfg["Rule"])
        .into_iter()
        .chain(policy::many(&cfg["Rules"]))
    {
        if policy::text(&rule["Status"]).eq_ignore_ascii_case("Disabled") {
            continue;
        }
        for days in [
            &rule["Expiration"]["Days"],
            &rule["NoncurrentVersionExpiration"]["NoncurrentDays"],
        ] {
            if let Ok(d) = policy::text(days).parse::<i64>() {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
        }
    }
    best
}

fn short_lifecycle(ev: &Ev<'_, '_>) -> Option<Hit> {
    let bucket = ev.text("bucketName").into_owned();
    let days = shortest_expiry(&ev.params["LifecycleConfiguration"])?;
    (days <= 7).then(|| {
        Hit::new(
            format!(
                "{} set objects of bucket {bucket:?} to expire after {days} day(s): logs kept there would vanish.",
                ev.who()
            ),
            bucket,
        )
    })
}

fn detector_disabled(ev: &Ev<'_, '_>) -> Option<Hit> {
    if ev.name == "UpdateDetector" && !is_false(&ev.params["enable"]) {
        return None;
    }
    called(ev, &["detectorId", "accountIds"])
}

fn findings_suppressed(ev: &Ev<'_, '_>) -> Option<Hit> {
    ev.text("action")
        .eq_ignore_ascii_case("ARCHIVE")
        .then(|| called(ev, &["name", "filterName"]))
        .flatten()
}

fn short_retention(ev: &Ev<'_, '_>) -> Option<Hit> {
    if ev.name == "PutRetentionPolicy" {
        let days = ev.text("retentionInDays").parse::<i64>().ok()?;
        if days > 1 {
            return None;
        }
    }
    called(ev, &["logGroupName", "logStreamName"])
}

fn macie_paused(ev: &Ev<'_, '_>) -> Option<Hit> {
    if ev.name == "UpdateMacieSession" && !ev.text("status").eq_ignore_ascii_case("PAUSED") {
        return None;
    }
    called(ev, &[])
}

fn versioning_off(ev: &Ev<'_, '_>) -> Option<Hit> {
    let cfg = &ev.params["VersioningConfiguration"];
    let status = policy::text(&cfg["Status"]);
    let mfa = policy::text(&cfg["MfaDelete"]);
    let bucket = ev.text("bucketName").into_owned();
    // "Disabled" is not a status S3 accepts, but producers write it.
    let what =
        if status.eq_ignore_ascii_case("Suspended") || status.eq_ignore_ascii_case("Disabled") {
            "suspended versioning of"
        } else if mfa.eq_ignore_ascii_case("Disabled") {
            "turned off MFA delete on"
        } else {
            return None;
        };
    Some(Hit::new(
        format!(
            "{} {what} bucket {bucket:?}: deleted or overwritten objects can no longer be recovered.",
            ev.who()
        ),
        bucket,
    ))
}

fn any(ev: &Ev<'_, '_>) -> Option<Hit> {
    called(
        ev,
        &[
            "name",
            "trailName",
            "bucketName",
            "logGroupName",
            "analyzerName",
            "regionName",
            "webACLArn",
            "resourceArn",
            "serialNumber",
            "userName",
            "configurationRecorderName",
            "deliveryChannelName",
            "resolverQueryLogConfigId",
            "id",
            "eventDataStore",
        ],
    )
}

fn flow_logs(ev: &Ev<'_, '_>) -> Option<Hit> {
    // `{"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-…", "tag": 1}}}` as CloudTrail
    // writes it, or `flowLogIds` as newer SDKs do.
    let mut ids = Vec::new();
    policy::walk(ev.params, &mut |k, v| {
        if matches!(k, "content" | "FlowLogId" | "flowLogIds" | "item")
            && let Value::String(s) = v
            && s.starts_with("fl-")
        {
            ids.push(s.clone());
        }
    });
    let target = ids.join(",");
    Some(Hit::new(
        format!(
            "{} deleted flow log(s) {}: network traffic of those interfaces is no longer recorded.",
            ev.who(),
            if ids.is_empty() {
                "(unnamed)".to_string()
            } else {
                target.clone()
            }
        ),
        target,
    ))
}

fn mfa_off(ev: &Ev<'_, '_>) -> Option<Hit> {
    let user = ev.text("userName");
    let serial = ev.text("serialNumber");
    Some(Hit::new(
        format!(
            "{} removed MFA device {serial:?}{} ({}).",
            ev.who(),
            if user.is_empty() {
                String::new()
            } else {
                format!(" of user {user:?}")
            },
            ev.name
        ),
        serial.into_owned(),
    ))
}

fn leave(ev: &Ev<'_, '_>) -> Option<Hit> {
    Some(Hit::new(
        format!(
            "{} asked for account {} to leave its organization: its guardrails (SCPs), central trails and delegated security services would no longer apply.",
            ev.who(),
            ev.account()
        ),
        ev.account().to_string(),
    ))
}

fn is_trusted_list(ev: &Ev<'_, '_>) -> Option<Hit> {
    if ev.name == "UpdateIPSet" && is_false(&ev.params["activate"]) {
        return None;
    }
    called(ev, &["name", "ipSetId", "location"])
}

pub static LIST: &[Detection] = &[
    Detection {
        kind: "DefenseEvasion:CloudTrail/EventSelectorsNarrowed",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 3.0,
        title: "A trail was told to record less.",
        fires: "PutEventSelectors excluding management events (includeManagementEvents false, readWriteType other than All, excludeManagementEventSources), or advanced selectors none of which keeps eventCategory Management",
        quiet: "selectors adding data events while keeping all management events",
        on: &[(TRAIL, "PutEventSelectors")],
        attempts: false,
        check: selectors_narrowed,
    },
    Detection {
        kind: "DefenseEvasion:CloudTrail/TrailNarrowed",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 2.0,
        title: "A trail's scope or validation was reduced.",
        fires: "UpdateTrail with isMultiRegionTrail, includeGlobalServiceEvents or enableLogFileValidation false",
        quiet: "UpdateTrail changing the bucket prefix or turning those settings on",
        on: &[(TRAIL, "UpdateTrail")],
        attempts: false,
        check: trail_narrowed,
    },
    Detection {
        kind: "DefenseEvasion:CloudTrail/EventDataStoreStopped",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 2.0,
        title: "A CloudTrail Lake event data store stopped ingesting or was deleted.",
        fires: "StopEventDataStoreIngestion, DeleteEventDataStore",
        quiet: "StartEventDataStoreIngestion",
        on: &[
            (TRAIL, "StopEventDataStoreIngestion"),
            (TRAIL, "DeleteEventDataStore"),
        ],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:S3/LogBucketLifecycleShortened",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008", "T1485"],
        severity: 3.0,
        title: "A bucket's objects were set to expire within a week.",
        fires: "PutBucketLifecycle with an enabled rule expiring current or noncurrent objects after 7 days or fewer (how a trail's log bucket is emptied quietly)",
        quiet: "expiration after 30 days or more, or a disabled rule",
        on: &[(S3, "PutBucketLifecycle")],
        attempts: false,
        check: short_lifecycle,
    },
    Detection {
        kind: "DefenseEvasion:EC2/FlowLogsDeleted",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 3.0,
        title: "VPC flow logs were deleted.",
        fires: "DeleteFlowLogs",
        quiet: "CreateFlowLogs, DescribeFlowLogs",
        on: &[(EC2, "DeleteFlowLogs")],
        attempts: false,
        check: flow_logs,
    },
    Detection {
        kind: "DefenseEvasion:Route53/DnsQueryLoggingDeleted",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 3.0,
        title: "DNS query logging was removed.",
        fires: "DeleteResolverQueryLogConfig, DisassociateResolverQueryLogConfig, DeleteQueryLoggingConfig",
        quiet: "CreateResolverQueryLogConfig",
        on: &[
            (
                "route53resolver.amazonaws.com",
                "DeleteResolverQueryLogConfig",
            ),
            (
                "route53resolver.amazonaws.com",
                "DisassociateResolverQueryLogConfig",
            ),
            ("route53.amazonaws.com", "DeleteQueryLoggingConfig"),
        ],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:Config/RecorderStopped",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 3.0,
        title: "AWS Config stopped recording.",
        fires: "StopConfigurationRecorder, DeleteConfigurationRecorder, DeleteDeliveryChannel",
        quiet: "StartConfigurationRecorder, PutDeliveryChannel",
        on: &[
            ("config.amazonaws.com", "StopConfigurationRecorder"),
            ("config.amazonaws.com", "DeleteConfigurationRecorder"),
            ("config.amazonaws.com", "DeleteDeliveryChannel"),
        ],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:GuardDuty/DetectorDisabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 5.0,
        title: "Threat detection was turned off.",
        fires: "GuardDuty DeleteDetector, UpdateDetector with enable false, DisassociateFromMasterAccount / DisassociateFromAdministratorAccount, StopMonitoringMembers, DeleteMembers; mamori's own DisableDetector; attempts too",
        quiet: "UpdateDetector changing the publishing frequency only",
        on: &[
            (GD, "DeleteDetector"),
            (GD, "UpdateDetector"),
            (GD, "DisassociateFromMasterAccount"),
            (GD, "DisassociateFromAdministratorAccount"),
            (GD, "StopMonitoringMembers"),
            (GD, "DeleteMembers"),
            ("mamori.guard", "DisableDetector"),
        ],
        attempts: true,
        check: detector_disabled,
    },
    Detection {
        kind: "DefenseEvasion:GuardDuty/TrustedIPListChanged",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 3.0,
        title: "A trusted address list was added or changed: its addresses raise no findings.",
        fires: "GuardDuty CreateIPSet, UpdateIPSet (unless deactivating it)",
        quiet: "UpdateIPSet with activate false; CreateThreatIntelSet",
        on: &[(GD, "CreateIPSet"), (GD, "UpdateIPSet")],
        attempts: false,
        check: is_trusted_list,
    },
    Detection {
        kind: "DefenseEvasion:GuardDuty/FindingsSuppressed",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 3.0,
        title: "A suppression rule now archives findings as they arrive.",
        fires: "GuardDuty CreateFilter or UpdateFilter with action ARCHIVE; mamori's CreateFilter with action ARCHIVE",
        quiet: "a filter with action NOOP (a saved search)",
        on: &[
            (GD, "CreateFilter"),
            (GD, "UpdateFilter"),
            ("mamori.guard", "CreateFilter"),
        ],
        attempts: false,
        check: findings_suppressed,
    },
    Detection {
        kind: "DefenseEvasion:CloudWatch/LogsDeleted",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008", "T1070"],
        severity: 3.0,
        title: "Log groups or streams were deleted or made to expire at once.",
        fires: "DeleteLogGroup, DeleteLogStream, DeleteSubscriptionFilter, PutRetentionPolicy of 1 day",
        quiet: "PutRetentionPolicy of 30 days",
        on: &[
            ("logs.amazonaws.com", "DeleteLogGroup"),
            ("logs.amazonaws.com", "DeleteLogStream"),
            ("logs.amazonaws.com", "DeleteSubscriptionFilter"),
            ("logs.amazonaws.com", "PutRetentionPolicy"),
        ],
        attempts: false,
        check: short_retention,
    },
    Detection {
        kind: "DefenseEvasion:CloudWatch/AlarmsSilenced",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 2.0,
        title: "Alarms were deleted or their actions disabled.",
        fires: "DisableAlarmActions, DeleteAlarms",
        quiet: "EnableAlarmActions, PutMetricAlarm",
        on: &[
            ("monitoring.amazonaws.com", "DisableAlarmActions"),
            ("monitoring.amazonaws.com", "DeleteAlarms"),
        ],
        attempts: false,
        check: |ev| called(ev, &["alarmNames"]),
    },
    Detection {
        kind: "DefenseEvasion:SecurityHub/Disabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 3.0,
        title: "Security Hub or its standards were turned off.",
        fires: "DisableSecurityHub, BatchDisableStandards, DisableImportFindingsForProduct",
        quiet: "EnableSecurityHub, GetFindings",
        on: &[
            ("securityhub.amazonaws.com", "DisableSecurityHub"),
            ("securityhub.amazonaws.com", "BatchDisableStandards"),
            (
                "securityhub.amazonaws.com",
                "DisableImportFindingsForProduct",
            ),
        ],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:Macie/Disabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 3.0,
        title: "Macie was turned off or paused.",
        fires: "DisableMacie, UpdateMacieSession with status PAUSED",
        quiet: "UpdateMacieSession with status ENABLED",
        on: &[
            ("macie2.amazonaws.com", "DisableMacie"),
            ("macie2.amazonaws.com", "UpdateMacieSession"),
        ],
        attempts: false,
        check: macie_paused,
    },
    Detection {
        kind: "DefenseEvasion:Inspector/Disabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 2.0,
        title: "Vulnerability scanning was turned off.",
        fires: "Inspector Disable, DisableDelegatedAdminAccount",
        quiet: "Inspector Enable",
        on: &[
            ("inspector2.amazonaws.com", "Disable"),
            ("inspector2.amazonaws.com", "DisableDelegatedAdminAccount"),
        ],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:AccessAnalyzer/AnalyzerDeleted",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 2.0,
        title: "An IAM Access Analyzer was deleted.",
        fires: "DeleteAnalyzer",
        quiet: "CreateAnalyzer",
        on: &[("access-analyzer.amazonaws.com", "DeleteAnalyzer")],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:IAMUser/BedrockLoggingDisabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.008"],
        severity: 5.0,
        title: "Bedrock model invocation logging was removed.",
        fires: "DeleteModelInvocationLoggingConfiguration; attempts too",
        quiet: "PutModelInvocationLoggingConfiguration",
        on: &[(
            "bedrock.amazonaws.com",
            "DeleteModelInvocationLoggingConfiguration",
        )],
        attempts: true,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:Organizations/LeaveOrganization",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1666"],
        severity: 8.0,
        title: "An account tried to leave its organization.",
        fires: "LeaveOrganization; attempts too (Medium)",
        quiet: "DescribeOrganization",
        on: &[("organizations.amazonaws.com", "LeaveOrganization")],
        attempts: true,
        check: leave,
    },
    Detection {
        kind: "DefenseEvasion:S3/BucketEncryptionRemoved",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 2.0,
        title: "A bucket's default encryption was removed.",
        fires: "DeleteBucketEncryption",
        quiet: "PutBucketEncryption",
        on: &[(S3, "DeleteBucketEncryption")],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:S3/VersioningSuspended",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1490"],
        severity: 3.0,
        title: "A bucket's versioning or MFA delete was turned off.",
        fires: "PutBucketVersioning with Status Suspended or MfaDelete Disabled",
        quiet: "PutBucketVersioning with Status Enabled",
        on: &[(S3, "PutBucketVersioning")],
        attempts: false,
        check: versioning_off,
    },
    Detection {
        kind: "DefenseEvasion:EC2/EbsDefaultEncryptionDisabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 2.0,
        title: "EBS encryption by default was turned off.",
        fires: "DisableEbsEncryptionByDefault",
        quiet: "EnableEbsEncryptionByDefault",
        on: &[(EC2, "DisableEbsEncryptionByDefault")],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:WAF/WebACLDisassociated",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1562.001"],
        severity: 2.0,
        title: "A web ACL was taken off a resource.",
        fires: "DisassociateWebACL (WAFv2 and WAF Regional), DeleteWebACL",
        quiet: "AssociateWebACL, ListWebACLs",
        on: &[
            ("wafv2.amazonaws.com", "DisassociateWebACL"),
            ("wafv2.amazonaws.com", "DeleteWebACL"),
            ("waf-regional.amazonaws.com", "DisassociateWebACL"),
        ],
        attempts: false,
        check: any,
    },
    Detection {
        kind: "DefenseEvasion:IAMUser/MFADeviceRemoved",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1556.006"],
        severity: 3.0,
        title: "An MFA device was deactivated or deleted.",
        fires: "DeactivateMFADevice, DeleteVirtualMFADevice",
        quiet: "EnableMFADevice, CreateVirtualMFADevice",
        on: &[
            ("iam.amazonaws.com", "DeactivateMFADevice"),
            ("iam.amazonaws.com", "DeleteVirtualMFADevice"),
        ],
        attempts: false,
        check: mfa_off,
    },
    Detection {
        kind: "DefenseEvasion:Account/RegionEnabled",
        tactic: Tactic::DefenseEvasion,
        attack: &["T1535"],
        severity: 2.0,
        title: "An opt-in region was enabled.",
        fires: "EnableRegion (unused regions are where attackers run what they hope nobody watches)",
        quiet: "ListRegions, DisableRegion",
        on: &[
            ("account.amazonaws.com", "EnableRegion"),
            // Some producers write the event under CloudTrail's source.
            ("cloudtrail.amazonaws.com", "EnableRegion"),
        ],
        attempts: false,
        check: |ev| {
            let region = ev.text("RegionName");
            let region = if region.is_empty() {
                ev.text("regionName")
            } else {
                region
            };
            Some(Hit::new(
                format!("{} enabled region {region:?}.", ev.who()),
                region.into_owned(),
            ))
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shortest_enabled_expiry_counts() {
        let cfg = json!({"Rule": [
            {"Status": "Enabled", "Expiration": {"Days": 90}},
            {"Status": "Disabled", "Expiration": {"Days": 1}},
            {"Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": "3"}}
        ]});
        assert_eq!(shortest_expiry(&cfg), Some(3));
        assert_eq!(
            shortest_expiry(&json!({"Rule": {"Status": "Enabled"}})),
            None
        );
        assert!(is_false(&json!("False")) && !is_false(&json!(null)));
    }
}
