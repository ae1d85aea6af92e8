//! Impact: resource hijacking with unusual instance types, keys scheduled for deletion or
//! disabled, ransom notes and customer-key encryption in buckets, buckets and backups deleted,
//! deletion protection removed, domains transferred away, model access requested (LLM-jacking).
//! Mass deletions are counted in `bursts`.

use super::super::policy;
use super::super::{Detection, Ev, Hit, Tactic};
use super::{called, param};

const RDS: &str = "rds.amazonaws.com";
const S3: &str = "s3.amazonaws.com";

/// Instance families bought for their GPUs, accelerators or sheer size: what miners and model
/// thieves launch.
fn unusual_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    let family = t.split('.').next().unwrap_or("");
    let accelerated = [
        "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6", "g3", "g4dn", "g4ad", "g5",
        "g5g", "g6", "g6e", "gr6", "inf1", "inf2", "trn1", "trn1n", "trn2", "dl1", "dl2q", "f1",
        "f2", "vt1", "x1", "x1e", "x2idn", "x2iedn", "u-6tb1", "u-12tb1", "hpc6a", "hpc7g",
    ]
    .contains(&family);
    let huge = ["24xlarge", "32xlarge", "48xlarge", "metal"]
        .iter()
        .any(|s| t.ends_with(s) || t.contains(&format!("{s}-")));
    accelerated || huge
}

fn unusual_instances(ev: &Ev<'_, '_>) -> Option<Hit> {
    let mut kind = ev.text("instanceType").into_owned();
    let mut count = 0i64;
    policy::walk(ev.params, &mut |k, v| match k {
        "instanceType" | "InstanceType" if kind.is_empty() => kind = policy::text(v).into_owned(),
        "maxCount" | "MaxCount" => count = count.max(policy::text(v).parse().unwrap_or(0)),
        _ => {}
    });
    if !unusual_type(&kind) {
        return None;
    }
    let count = count.max(1);
    let hit = Hit::new(
        format!(
            "{} launched {count} instance(s) of type {kind}, a type bought for GPUs or size (resource hijacking).",
            ev.who()
        ),
        kind,
    );
    Some(if count >= 10 { hit.at(5.0) } else { hit })
}

/// Object names ransomware leaves behind.
fn ransom_note(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let name = k.rsplit('/').next().unwrap_or(&k);
    let text = [".txt", ".html", ".htm", ".md", ".hta"]
        .iter()
        .any(|e| name.ends_with(e));
    let words = [
        "ransom",
        "decrypt",
        "recover_files",
        "recover-files",
        "restore_files",
        "restore-files",
        "how_to_recover",
        "how-to-recover",
        "your_files",
        "your-files",
        "files_encrypted",
        "read_me_to_recover",
        "readme_for_decrypt",
    ];
    text && words.iter().any(|w| name.contains(w))
}

fn ransom(ev: &Ev<'_, '_>) -> Option<Hit> {
    let key = ev.text("key").into_owned();
    let bucket = ev.text("bucketName").into_owned();
    ransom_note(&key).then(|| {
        Hit::new(
            format!(
                "{} wrote {key:?} to bucket {bucket:?}: the name of a ransom note.",
                ev.who()
            ),
            bucket,
        )
    })
}

fn customer_key_write(ev: &Ev<'_, '_>) -> Option<Hit> {
    let sse_c = ev.params.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| k.eq_ignore_ascii_case("x-amz-server-side-encryption-customer-algorithm"))
    }) || !ev.extra["SSECustomerAlgorithm"].is_null();
    if !sse_c {
        return None;
    }
    let bucket = ev.text("bucketName").into_owned();
    Some(Hit::new(
        format!(
            "{} wrote object {:?} to bucket {bucket:?} encrypted with a key of its own (SSE-C): without that key the object cannot be read ({}).",
            ev.who(),
            ev.text("key"),
            ev.name
        ),
        bucket,
    ))
}

fn protection_off(ev: &Ev<'_, '_>) -> Option<Hit> {
    let v = &ev.params["deletionProtection"];
    let off = matches!(v, serde_json::Value::Bool(false)) || policy::text(v) == "false";
    off.then(|| called(ev, &["dBInstanceIdentifier", "dBClusterIdentifier"]))
        .flatten()
}

fn no_final_snapshot(ev: &Ev<'_, '_>) -> Option<Hit> {
    if !policy::is_true(&ev.params["skipFinalSnapshot"]) {
        return None;
    }
    let db = param(ev, &["dBInstanceIdentifier", "dBClusterIdentifier"]);
    Some(Hit::new(
        format!(
            "{} deleted database {db:?} without a final snapshot ({}).",
            ev.who(),
            ev.name
        ),
        db,
    ))
}

fn domain_transfer(ev: &Ev<'_, '_>) -> Option<Hit> {
    let domain = ev.text("domainName").into_owned();
    let to = ev.text("accountId");
    Some(Hit::new(
        format!(
            "{} started transferring domain {domain:?} to account {to:?}.",
            ev.who()
        ),
        domain,
    ))
}

pub static LIST: &[Detection] = &[
    Detection {
        kind: "Impact:EC2/UnusualInstanceType",
        tactic: Tactic::Impact,
        attack: &["T1496.001"],
        severity: 3.0,
        title: "Instances of a GPU, accelerator or very large type were launched.",
        fires: "RunInstances of an accelerated (p, g, inf, trn, dl, f…), memory-giant (x, u-) or 24xlarge-and-up type (Low; Medium for 10 or more at once); attempts too",
        quiet: "RunInstances of t3.micro or m5.large",
        on: &[("ec2.amazonaws.com", "RunInstances")],
        attempts: true,
        check: unusual_instances,
    },
    Detection {
        kind: "Impact:KMS/KeyDeletionScheduled",
        tactic: Tactic::Impact,
        attack: &["T1485", "T1486"],
        severity: 3.0,
        title: "A key was scheduled for deletion: what it encrypts becomes unreadable.",
        fires: "ScheduleKeyDeletion; attempts too",
        quiet: "CancelKeyDeletion",
        on: &[("kms.amazonaws.com", "ScheduleKeyDeletion")],
        attempts: true,
        check: |ev| called(ev, &["keyId"]),
    },
    Detection {
        kind: "Impact:KMS/KeyDisabled",
        tactic: Tactic::Impact,
        attack: &["T1485"],
        severity: 2.0,
        title: "A key was disabled.",
        fires: "DisableKey",
        quiet: "EnableKey",
        on: &[("kms.amazonaws.com", "DisableKey")],
        attempts: false,
        check: |ev| called(ev, &["keyId"]),
    },
    Detection {
        kind: "Impact:S3/RansomNoteUploaded",
        tactic: Tactic::Impact,
        attack: &["T1486"],
        severity: 8.0,
        title: "An object named like a ransom note was written.",
        fires: "PutObject (data events) of a text or HTML object whose name says ransom, decrypt, recover or restore files",
        quiet: "README.md, index.html",
        on: &[(S3, "PutObject")],
        attempts: false,
        check: ransom,
    },
    Detection {
        kind: "Impact:S3/CustomerKeyEncryptionWrite",
        tactic: Tactic::Impact,
        attack: &["T1486"],
        severity: 3.0,
        title: "An object was written encrypted with a key the account does not hold (SSE-C).",
        fires: "PutObject or CopyObject (data events) with x-amz-server-side-encryption-customer-algorithm",
        quiet: "SSE-S3 or SSE-KMS writes",
        on: &[(S3, "PutObject"), (S3, "CopyObject")],
        attempts: false,
        check: customer_key_write,
    },
    Detection {
        kind: "Impact:S3/BucketDeleted",
        tactic: Tactic::Impact,
        attack: &["T1485"],
        severity: 2.0,
        title: "A bucket was deleted.",
        fires: "DeleteBucket",
        quiet: "DeleteObject (counted by the mass-deletion burst)",
        on: &[(S3, "DeleteBucket")],
        attempts: false,
        check: |ev| called(ev, &["bucketName"]),
    },
    Detection {
        kind: "Impact:RDS/DeletionProtectionDisabled",
        tactic: Tactic::Impact,
        attack: &["T1485"],
        severity: 2.0,
        title: "A database's deletion protection was turned off.",
        fires: "ModifyDBInstance or ModifyDBCluster with deletionProtection false",
        quiet: "deletionProtection true",
        on: &[(RDS, "ModifyDBInstance"), (RDS, "ModifyDBCluster")],
        attempts: false,
        check: protection_off,
    },
    Detection {
        kind: "Impact:RDS/DeletedWithoutFinalSnapshot",
        tactic: Tactic::Impact,
        attack: &["T1485"],
        severity: 3.0,
        title: "A database was deleted without a final snapshot.",
        fires: "DeleteDBInstance or DeleteDBCluster with skipFinalSnapshot true",
        quiet: "deletion keeping a final snapshot",
        on: &[(RDS, "DeleteDBInstance"), (RDS, "DeleteDBCluster")],
        attempts: false,
        check: no_final_snapshot,
    },
    Detection {
        kind: "Impact:RDS/BackupsDeleted",
        tactic: Tactic::Impact,
        attack: &["T1490"],
        severity: 3.0,
        title: "Database backups or snapshots were deleted.",
        fires: "DeleteDBInstanceAutomatedBackup, DeleteDBClusterAutomatedBackup, DeleteDBSnapshot, DeleteDBClusterSnapshot",
        quiet: "CreateDBSnapshot",
        on: &[
            (RDS, "DeleteDBInstanceAutomatedBackup"),
            (RDS, "DeleteDBClusterAutomatedBackup"),
            (RDS, "DeleteDBSnapshot"),
            (RDS, "DeleteDBClusterSnapshot"),
        ],
        attempts: false,
        check: |ev| {
            called(
                ev,
                &[
                    "dBSnapshotIdentifier",
                    "dBClusterSnapshotIdentifier",
                    "dbiResourceId",
                    "dbClusterResourceId",
                ],
            )
        },
    },
    Detection {
        kind: "Impact:Backup/RecoveryPointsDeleted",
        tactic: Tactic::Impact,
        attack: &["T1490"],
        severity: 3.0,
        title: "Backups or their vaults and plans were deleted.",
        fires: "AWS Backup DeleteRecoveryPoint, DeleteBackupVault, DeleteBackupPlan, DeleteBackupSelection, DeleteBackupVaultLockConfiguration",
        quiet: "StartBackupJob",
        on: &[
            ("backup.amazonaws.com", "DeleteRecoveryPoint"),
            ("backup.amazonaws.com", "DeleteBackupVault"),
            ("backup.amazonaws.com", "DeleteBackupPlan"),
            ("backup.amazonaws.com", "DeleteBackupSelection"),
            ("backup.amazonaws.com", "DeleteBackupVaultLockConfiguration"),
        ],
        attempts: false,
        check: |ev| called(ev, &["backupVaultName", "backupPlanId", "recoveryPointArn"]),
    },
    Detection {
        kind: "Impact:Route53/DomainTransferredOut",
        tactic: Tactic::Impact,
        attack: &["T1584.001"],
        severity: 8.0,
        title: "A domain is being transferred to another account.",
        fires: "TransferDomainToAnotherAwsAccount; attempts too",
        quiet: "AcceptDomainTransferFromAnotherAwsAccount",
        on: &[(
            "route53domains.amazonaws.com",
            "TransferDomainToAnotherAwsAccount",
        )],
        attempts: true,
        check: domain_transfer,
    },
    Detection {
        kind: "Impact:Bedrock/ModelAccessRequested",
        tactic: Tactic::Impact,
        attack: &["T1496.004"],
        severity: 2.0,
        title: "Access to foundation models was requested (how LLM-jacking starts).",
        fires: "PutUseCaseForModelAccess, PutFoundationModelEntitlement, CreateFoundationModelAgreement; attempts too",
        quiet: "ListFoundationModels",
        on: &[
            ("bedrock.amazonaws.com", "PutUseCaseForModelAccess"),
            ("bedrock.amazonaws.com", "PutFoundationModelEntitlement"),
            ("bedrock.amazonaws.com", "CreateFoundationModelAgreement"),
        ],
        attempts: true,
        check: |ev| called(ev, &["modelId"]),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_types_and_ransom_notes() {
        for t in [
            "p2.xlarge",
            "G5.12XLARGE",
            "m5.24xlarge",
            "c5.metal",
            "x1e.xlarge",
        ] {
            assert!(unusual_type(t), "{t}");
        }
        for t in ["t3.micro", "m5.large", "c6i.4xlarge", "", "gp3"] {
            assert!(!unusual_type(t), "{t}");
        }
        assert!(ransom_note("backups/HOW_TO_RECOVER_FILES.txt"));
        assert!(ransom_note("ransom-note.html"));
        assert!(!ransom_note("README.md") && !ransom_note("decrypt.py"));
    }
}
