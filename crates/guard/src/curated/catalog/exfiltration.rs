//! Exfiltration: snapshots, images and database snapshots shared outside the organization or
//! with everyone; bucket, key, repository, secret, queue, topic and search-domain policies that
//! let outsiders in; replication to outside buckets; databases and ports opened to the internet;
//! traffic mirroring; snapshot exports; public build projects.

use super::super::policy;
use super::super::{Detection, Ev, Hit, Tactic};
use super::{called, opened, param};

const EC2: &str = "ec2.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";

/// What kind of thing a share request is about, and its id.
fn shared_thing(ev: &Ev<'_, '_>) -> (&'static str, String) {
    match ev.name {
        "ModifySnapshotAttribute" => ("snapshot", param(ev, &["snapshotId"])),
        "ModifyImageAttribute" => ("image", param(ev, &["imageId"])),
        _ => (
            "database snapshot",
            param(ev, &["dBSnapshotIdentifier", "dBClusterSnapshotIdentifier"]),
        ),
    }
}

/// The part of a share request that grants: EC2's `createVolumePermission` /
/// `launchPermission` (other attributes of the same call share nothing), RDS's `restore`.
fn grant(ev: &Ev<'_, '_>) -> Option<(Vec<String>, bool)> {
    let part = match ev.name {
        "ModifySnapshotAttribute" => &ev.params["createVolumePermission"],
        "ModifyImageAttribute" => &ev.params["launchPermission"],
        _ if ev.text("attributeName").eq_ignore_ascii_case("restore") => ev.params,
        _ => return None,
    };
    Some(policy::shares(part))
}

fn shared_outside(ev: &Ev<'_, '_>) -> Option<Hit> {
    let (accounts, _) = grant(ev)?;
    let strangers: Vec<String> = accounts.into_iter().filter(|a| ev.outside(a)).collect();
    if strangers.is_empty() {
        return None;
    }
    let (what, id) = shared_thing(ev);
    Some(Hit::outside(
        format!(
            "{} shared {what} {id:?} with account(s) {} outside the organization{}.",
            ev.who(),
            strangers.join(", "),
            ev.outside_hint()
        ),
        id,
    ))
}

fn shared_publicly(ev: &Ev<'_, '_>) -> Option<Hit> {
    let (_, public) = grant(ev)?;
    if !public {
        return None;
    }
    let (what, id) = shared_thing(ev);
    Some(Hit::new(
        format!(
            "{} made {what} {id:?} public: any AWS account can copy it.",
            ev.who()
        ),
        id,
    ))
}

fn bucket_policy_outside(ev: &Ev<'_, '_>) -> Option<Hit> {
    let bucket = ev.text("bucketName").into_owned();
    let hit = opened(ev, &ev.params["bucketPolicy"], "bucket", bucket, 8.0, 8.0)?;
    // Principal "*" is Policy:S3/BucketAnonymousAccessGranted's; this rule is about accounts.
    (!hit.what.contains("(\"*\")")).then_some(hit)
}

fn replication_outside(ev: &Ev<'_, '_>) -> Option<Hit> {
    let bucket = ev.text("bucketName").into_owned();
    let cfg = &ev.params["ReplicationConfiguration"];
    let mut strangers = Vec::new();
    for rule in policy::many(&cfg["Rule"])
        .into_iter()
        .chain(policy::many(&cfg["Rules"]))
    {
        let account = policy::text(&rule["Destination"]["Account"]);
        if let Some(a) = policy::account_of(&account)
            && ev.outside(a)
        {
            strangers.push(format!(
                "{} in account {a}",
                policy::text(&rule["Destination"]["Bucket"])
            ));
        }
    }
    (!strangers.is_empty()).then(|| {
        Hit::outside(
            format!(
                "{} set bucket {bucket:?} to replicate every new object to {} outside the organization{}.",
                ev.who(),
                strangers.join(", "),
                ev.outside_hint()
            ),
            bucket,
        )
    })
}

fn key_policy(ev: &Ev<'_, '_>) -> Option<Hit> {
    let key = ev.text("keyId").into_owned();
    opened(ev, &ev.params["policy"], "key", key, 8.0, 6.0)
}

fn key_grant(ev: &Ev<'_, '_>) -> Option<Hit> {
    let key = ev.text("keyId").into_owned();
    let grantee = ev.text("granteePrincipal");
    let account = policy::account_of(&grantee)?;
    ev.outside(account).then(|| {
        Hit::outside(
            format!(
                "{} granted {grantee} (account {account}, outside the organization{}) use of key {key:?}.",
                ev.who(),
                ev.outside_hint()
            ),
            key,
        )
    })
}

fn repository_policy(ev: &Ev<'_, '_>) -> Option<Hit> {
    let repo = ev.text("repositoryName").into_owned();
    opened(ev, &ev.params["policyText"], "repository", repo, 8.0, 6.0)
}

fn secret_policy(ev: &Ev<'_, '_>) -> Option<Hit> {
    let secret = ev.text("secretId").into_owned();
    opened(ev, &ev.params["resourcePolicy"], "secret", secret, 8.0, 6.0)
}

fn queue_or_topic_policy(ev: &Ev<'_, '_>) -> Option<Hit> {
    if ev.name == "SetQueueAttributes" {
        let queue = ev.text("queueUrl").into_owned();
        return opened(
            ev,
            &ev.params["attributes"]["Policy"],
            "queue",
            queue,
            6.0,
            5.0,
        );
    }
    if ev.text("attributeName") != "Policy" {
        return None;
    }
    let topic = ev.text("topicArn").into_owned();
    opened(ev, &ev.params["attributeValue"], "topic", topic, 6.0, 5.0)
}

fn domain_policy(ev: &Ev<'_, '_>) -> Option<Hit> {
    let domain = ev.text("domainName").into_owned();
    opened(
        ev,
        &ev.params["accessPolicies"],
        "search domain",
        domain,
        6.0,
        5.0,
    )
}

fn database_public(ev: &Ev<'_, '_>) -> Option<Hit> {
    if !policy::is_true(&ev.params["publiclyAccessible"]) {
        return None;
    }
    let db = param(ev, &["dBInstanceIdentifier", "dBClusterIdentifier"]);
    Some(Hit::new(
        format!(
            "{} made database {db:?} reachable from the internet ({}).",
            ev.who(),
            ev.name
        ),
        db,
    ))
}

/// Ports whose exposure to the internet is an incident, not a choice: databases, caches, search
/// and the Docker API (Medium).
const DATA_PORTS: &[u32] = &[
    1433, 1521, 2375, 2376, 3306, 5432, 6379, 9200, 9300, 11211, 27017,
];

/// Remote shells (Low: EC2's launch wizard opens SSH to the world by default, so administrators
/// do it every day; it is still worth knowing).
const SHELL_PORTS: &[u32] = &[22, 23, 445, 3389, 5900, 5985, 5986];

fn world_ingress(ev: &Ev<'_, '_>) -> Option<Hit> {
    let group = param(ev, &["groupId", "groupName"]);
    let mut worst: Option<(u32, u32)> = None;
    let (mut data, mut shell) = (false, false);
    let perms = &ev.params["ipPermissions"]["items"];
    let mut check = |perm: &serde_json::Value| {
        let mut world = false;
        policy::walk(perm, &mut |k, v| {
            if matches!(k, "cidrIp" | "cidrIpv6" | "CidrIp" | "CidrIpv6")
                && policy::is_world(&policy::text(v))
            {
                world = true;
            }
        });
        if !world {
            return;
        }
        let Some((from, to)) = policy::port_range(perm) else {
            return;
        };
        data |= DATA_PORTS.iter().any(|p| (from..=to).contains(p));
        shell |= SHELL_PORTS.iter().any(|p| (from..=to).contains(p));
        worst = Some(worst.map_or((from, to), |w| w));
    };
    for perm in policy::many(perms) {
        check(perm);
    }
    // The flat form: `{"groupId": …, "ipProtocol": …, "fromPort": …, "cidrIp": "0.0.0.0/0"}`.
    if perms.is_null() {
        check(ev.params);
    }
    let (from, to) = worst?;
    let ports = if from == to {
        format!("port {from}")
    } else if from == 0 && to == 65535 {
        "every port".to_string()
    } else {
        format!("ports {from}-{to}")
    };
    let hit = Hit::new(
        format!(
            "{} opened {ports} of security group {group:?} to the whole internet.",
            ev.who()
        ),
        group,
    );
    Some(match (data, shell) {
        (true, _) => hit,
        (false, true) => hit.at(3.0),
        _ => hit.at(2.0),
    })
}

fn nacl_open(ev: &Ev<'_, '_>) -> Option<Hit> {
    let cidr = param(ev, &["cidrBlock", "ipv6CidrBlock"]);
    let allow = ev.text("ruleAction").eq_ignore_ascii_case("allow");
    let ingress = !policy::is_true(&ev.params["egress"]);
    (allow && ingress && policy::is_world(&cidr))
        .then(|| called(ev, &["networkAclId"]))
        .flatten()
}

fn mirror(ev: &Ev<'_, '_>) -> Option<Hit> {
    // `{"CreateTrafficMirrorSessionRequest": {"NetworkInterfaceId": …}}` as CloudTrail writes it.
    let mut eni = String::new();
    policy::walk(ev.params, &mut |k, v| {
        if eni.is_empty() && k.eq_ignore_ascii_case("networkInterfaceId") {
            eni = policy::text(v).into_owned();
        }
    });
    Some(Hit::new(
        format!(
            "{} started copying the traffic of network interface {eni:?} to a mirror target.",
            ev.who()
        ),
        eni,
    ))
}

fn codebuild_public(ev: &Ev<'_, '_>) -> Option<Hit> {
    ev.text("projectVisibility")
        .eq_ignore_ascii_case("PUBLIC_READ")
        .then(|| called(ev, &["projectArn", "name"]))
        .flatten()
}

pub static LIST: &[Detection] = &[
    Detection {
        kind: "Exfiltration:EC2/SnapshotSharedOutside",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A disk snapshot was shared with an account outside the organization.",
        fires: "ModifySnapshotAttribute adding createVolumePermission for an outside account; attempts too",
        quiet: "sharing with an organization account; removing a permission",
        on: &[(EC2, "ModifySnapshotAttribute")],
        attempts: true,
        check: shared_outside,
    },
    Detection {
        kind: "Exfiltration:EC2/SnapshotMadePublic",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A disk snapshot was made public.",
        fires: "ModifySnapshotAttribute adding createVolumePermission for group `all`; attempts too",
        quiet: "removing group `all`",
        on: &[(EC2, "ModifySnapshotAttribute")],
        attempts: true,
        check: shared_publicly,
    },
    Detection {
        kind: "Exfiltration:EC2/ImageSharedOutside",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A machine image was shared with an account outside the organization.",
        fires: "ModifyImageAttribute adding launchPermission for an outside account; attempts too",
        quiet: "sharing with an organization account",
        on: &[(EC2, "ModifyImageAttribute")],
        attempts: true,
        check: shared_outside,
    },
    Detection {
        kind: "Exfiltration:EC2/ImageMadePublic",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A machine image was made public.",
        fires: "ModifyImageAttribute adding launchPermission for group `all`; attempts too",
        quiet: "removing group `all`",
        on: &[(EC2, "ModifyImageAttribute")],
        attempts: true,
        check: shared_publicly,
    },
    Detection {
        kind: "Exfiltration:RDS/SnapshotSharedOutside",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A database snapshot was shared with an account outside the organization.",
        fires: "ModifyDBSnapshotAttribute or ModifyDBClusterSnapshotAttribute adding an outside account to `restore`; attempts too",
        quiet: "sharing with an organization account; valuesToRemove",
        on: &[
            (RDS, "ModifyDBSnapshotAttribute"),
            (RDS, "ModifyDBClusterSnapshotAttribute"),
        ],
        attempts: true,
        check: shared_outside,
    },
    Detection {
        kind: "Exfiltration:RDS/SnapshotMadePublic",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A database snapshot was made public.",
        fires: "ModifyDBSnapshotAttribute or ModifyDBClusterSnapshotAttribute adding `all` to `restore`; attempts too",
        quiet: "valuesToRemove `all`",
        on: &[
            (RDS, "ModifyDBSnapshotAttribute"),
            (RDS, "ModifyDBClusterSnapshotAttribute"),
        ],
        attempts: true,
        check: shared_publicly,
    },
    Detection {
        kind: "Exfiltration:S3/BucketPolicyAllowsOutsideAccount",
        tactic: Tactic::Exfiltration,
        attack: &["T1537", "T1530"],
        severity: 8.0,
        title: "A bucket policy lets an account outside the organization in.",
        fires: "PutBucketPolicy allowing an outside account without a condition; attempts too (principal `*` is Policy:S3/BucketAnonymousAccessGranted)",
        quiet: "a policy naming organization accounts or services only",
        on: &[("s3.amazonaws.com", "PutBucketPolicy")],
        attempts: true,
        check: bucket_policy_outside,
    },
    Detection {
        kind: "Exfiltration:S3/ReplicationToOutsideAccount",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A bucket replicates to an account outside the organization.",
        fires: "PutBucketReplication whose destination Account is outside the organization",
        quiet: "replication to a bucket of an organization account",
        on: &[("s3.amazonaws.com", "PutBucketReplication")],
        attempts: false,
        check: replication_outside,
    },
    Detection {
        kind: "Exfiltration:KMS/KeyPolicyOpened",
        tactic: Tactic::Exfiltration,
        attack: &["T1537", "T1222"],
        severity: 8.0,
        title: "A key policy lets outsiders use the key.",
        fires: "PutKeyPolicy (or CreateKey with a policy) allowing `*` without a condition (High) or an outside account (Medium)",
        quiet: "a key policy for the account's own principals",
        on: &[
            ("kms.amazonaws.com", "PutKeyPolicy"),
            ("kms.amazonaws.com", "CreateKey"),
        ],
        attempts: false,
        check: key_policy,
    },
    Detection {
        kind: "Exfiltration:KMS/GrantToOutsideAccount",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 6.0,
        title: "A key was granted to an account outside the organization.",
        fires: "CreateGrant whose grantee is in an outside account",
        quiet: "a grant to a role of the account or a service",
        on: &[("kms.amazonaws.com", "CreateGrant")],
        attempts: false,
        check: key_grant,
    },
    Detection {
        kind: "Exfiltration:ECR/RepositoryPolicyOpened",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 8.0,
        title: "A container repository was opened to outsiders.",
        fires: "SetRepositoryPolicy allowing `*` without a condition (High) or an outside account (Medium)",
        quiet: "a policy for organization accounts",
        on: &[("ecr.amazonaws.com", "SetRepositoryPolicy")],
        attempts: false,
        check: repository_policy,
    },
    Detection {
        kind: "Exfiltration:SecretsManager/ResourcePolicyOpened",
        tactic: Tactic::Exfiltration,
        attack: &["T1537", "T1555.006"],
        severity: 8.0,
        title: "A secret's resource policy lets outsiders read it.",
        fires: "PutResourcePolicy allowing `*` without a condition (High) or an outside account (Medium)",
        quiet: "a policy for the account's own roles",
        on: &[("secretsmanager.amazonaws.com", "PutResourcePolicy")],
        attempts: false,
        check: secret_policy,
    },
    Detection {
        kind: "Exfiltration:SQS/QueueOrTopicPolicyOpened",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 6.0,
        title: "A queue or topic policy lets outsiders in.",
        fires: "SetQueueAttributes with a Policy, or SetTopicAttributes of Policy, allowing `*` without a condition or an outside account",
        quiet: "`*` with an aws:SourceArn condition (an S3 or SNS notification)",
        on: &[
            ("sqs.amazonaws.com", "SetQueueAttributes"),
            ("sns.amazonaws.com", "SetTopicAttributes"),
        ],
        attempts: false,
        check: queue_or_topic_policy,
    },
    Detection {
        kind: "Exfiltration:OpenSearch/DomainPolicyOpened",
        tactic: Tactic::Exfiltration,
        attack: &["T1530"],
        severity: 6.0,
        title: "A search domain's access policy lets outsiders in.",
        fires: "CreateDomain / UpdateDomainConfig (and the Elasticsearch forms) whose accessPolicies allow `*` without a condition or an outside account",
        quiet: "`*` limited by an aws:SourceIp condition",
        on: &[
            ("es.amazonaws.com", "CreateDomain"),
            ("es.amazonaws.com", "UpdateDomainConfig"),
            ("es.amazonaws.com", "CreateElasticsearchDomain"),
            ("es.amazonaws.com", "UpdateElasticsearchDomainConfig"),
        ],
        attempts: false,
        check: domain_policy,
    },
    Detection {
        kind: "Exfiltration:RDS/InstanceMadePublic",
        tactic: Tactic::Exfiltration,
        attack: &["T1530"],
        severity: 5.0,
        title: "A database was made reachable from the internet.",
        fires: "ModifyDBInstance, ModifyDBCluster, RestoreDBInstanceFromDBSnapshot or CreateDBInstance with publiclyAccessible true",
        quiet: "publiclyAccessible false",
        on: &[
            (RDS, "ModifyDBInstance"),
            (RDS, "ModifyDBCluster"),
            (RDS, "RestoreDBInstanceFromDBSnapshot"),
            (RDS, "RestoreDBClusterFromSnapshot"),
            (RDS, "CreateDBInstance"),
        ],
        attempts: false,
        check: database_public,
    },
    Detection {
        kind: "Exfiltration:EC2/SecurityGroupOpenedToWorld",
        tactic: Tactic::Exfiltration,
        attack: &["T1562.007"],
        severity: 5.0,
        title: "A security group was opened to the whole internet.",
        fires: "AuthorizeSecurityGroupIngress from a `/0` range (0.0.0.0/0, ::/0, any a.b.c.d/0): a database, cache, search or Docker API port (Medium), a remote shell (Low 3), other ports (Low 2); attempts too",
        quiet: "ingress from a private or narrow range; egress rules",
        on: &[(EC2, "AuthorizeSecurityGroupIngress")],
        attempts: true,
        check: world_ingress,
    },
    Detection {
        kind: "Exfiltration:EC2/NetworkAclOpenedToWorld",
        tactic: Tactic::Exfiltration,
        attack: &["T1562.007"],
        severity: 2.0,
        title: "A network ACL lets the whole internet in.",
        fires: "CreateNetworkAclEntry or ReplaceNetworkAclEntry allowing ingress from a `/0` range",
        quiet: "a deny entry, an egress entry, a narrow range",
        on: &[
            (EC2, "CreateNetworkAclEntry"),
            (EC2, "ReplaceNetworkAclEntry"),
        ],
        attempts: false,
        check: nacl_open,
    },
    Detection {
        kind: "Exfiltration:EC2/TrafficMirroringStarted",
        tactic: Tactic::Exfiltration,
        attack: &["T1040"],
        severity: 3.0,
        title: "An instance's network traffic is being copied elsewhere.",
        fires: "CreateTrafficMirrorSession; attempts too",
        quiet: "DescribeTrafficMirrorSessions",
        on: &[(EC2, "CreateTrafficMirrorSession")],
        attempts: true,
        check: mirror,
    },
    Detection {
        kind: "Exfiltration:RDS/SnapshotExported",
        tactic: Tactic::Exfiltration,
        attack: &["T1537"],
        severity: 3.0,
        title: "A database snapshot was exported to S3.",
        fires: "StartExportTask",
        quiet: "DescribeExportTasks",
        on: &[(RDS, "StartExportTask")],
        attempts: false,
        check: |ev| called(ev, &["sourceArn", "s3BucketName"]),
    },
    Detection {
        kind: "Exfiltration:CodeBuild/ProjectMadePublic",
        tactic: Tactic::Exfiltration,
        attack: &["T1213"],
        severity: 5.0,
        title: "A build project was made public: its logs and artifacts are readable by anyone.",
        fires: "UpdateProjectVisibility with PUBLIC_READ",
        quiet: "PRIVATE",
        on: &[("codebuild.amazonaws.com", "UpdateProjectVisibility")],
        attempts: false,
        check: codebuild_public,
    },
];
