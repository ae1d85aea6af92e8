//! Every audit-event detector: an event that fires it, and a near miss that does not.

mod common;

use ipnet::IpNet;
use mamori_guard::cloudtrail::Context;
use mamori_guard::intel::{Intel, ListFormat, ListKind};
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLE", "userName": "alice"},
        "eventTime": "2026-11-28T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.18.0.1",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-generic exe/x86_64.ubuntu.22",
        "requestParameters": null,
        "eventID": "e-1",
        "readOnly": true,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"
    })
}

fn with(changes: Value) -> Value {
    let mut v = base();
    for (k, val) in changes.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn intel() -> Intel {
    let mut i = Intel::with_canaries();
    i.load(
        "feed.txt",
        ListKind::Threat,
        ListFormat::Txt,
        b"5.6.7.0/24\n",
    )
    .unwrap();
    i.load("tor.txt", ListKind::Tor, ListFormat::Txt, b"9.9.9.9\n")
        .unwrap();
    i.load("ours.txt", ListKind::Trusted, ListFormat::Txt, b"5.6.7.8\n")
        .unwrap();
    i
}

/// The detectors' verdict, the same whichever way the record was read: typed (the server),
/// as a JSON value (with Sigma), or the hunt's partial borrowed parse.
fn kinds(v: &Value, nets: &[IpNet]) -> Vec<String> {
    let i = intel();
    let ctx = Context {
        intel: &i,
        instance_networks: nets,
        known: &Default::default(),
    };
    common::four_ways(v, &ctx)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

fn fires(kind: &str, r: Value) {
    let k = kinds(&r, &[]);
    assert!(k.iter().any(|x| x == kind), "{kind} should fire: {k:?}");
}

fn quiet(kind: &str, r: Value) {
    let k = kinds(&r, &[]);
    assert!(
        !k.iter().any(|x| x == kind),
        "{kind} should not fire: {k:?}"
    );
}

#[test]
fn baseline_event_fires_nothing() {
    assert!(kinds(&with(json!({})), &[]).is_empty());
}

#[test]
fn cloudtrail_logging_disabled() {
    let k = "Stealth:IAMUser/CloudTrailLoggingDisabled";
    fires(
        k,
        with(
            json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "readOnly": false, "requestParameters": {"name": "main"}}),
        ),
    );
    fires(
        k,
        with(
            json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "DeleteTrail", "readOnly": false}),
        ),
    );
    fires(
        k,
        with(json!({"eventSource": "mamori.trail", "eventName": "StopLogging", "readOnly": false})),
    );
    quiet(
        k,
        with(
            json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "errorCode": "AccessDenied"}),
        ),
    );
    quiet(
        k,
        with(json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StartLogging"})),
    );
}

#[test]
fn root_credential_usage() {
    let k = "Policy:IAMUser/RootCredentialUsage";
    fires(
        k,
        with(
            json!({"userIdentity": {"type": "Root", "principalId": "111122223333", "accountId": "111122223333", "accessKeyId": "ASIAROOT"}}),
        ),
    );
    quiet(
        k,
        with(json!({"userIdentity": {"type": "Root", "invokedBy": "support.amazonaws.com"}})),
    );
    quiet(k, with(json!({})));
}

#[test]
fn password_policy_change() {
    let k = "Stealth:IAMUser/PasswordPolicyChange";
    fires(
        k,
        with(json!({"eventName": "UpdateAccountPasswordPolicy", "readOnly": false})),
    );
    fires(
        k,
        with(json!({"eventName": "DeleteAccountPasswordPolicy", "readOnly": false})),
    );
    quiet(k, with(json!({"eventName": "GetAccountPasswordPolicy"})));
}

#[test]
fn s3_block_public_access() {
    let k = "Policy:S3/BucketBlockPublicAccessDisabled";
    let s3 = |name: &str, params: Value| {
        with(
            json!({"eventSource": "s3.amazonaws.com", "eventName": name, "readOnly": false, "requestParameters": params}),
        )
    };
    fires(
        k,
        s3(
            "PutBucketPublicAccessBlock",
            json!({"bucketName": "b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": false, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
        ),
    );
    fires(
        k,
        s3("DeleteBucketPublicAccessBlock", json!({"bucketName": "b"})),
    );
    quiet(
        k,
        s3(
            "PutBucketPublicAccessBlock",
            json!({"bucketName": "b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
        ),
    );
    let k = "Policy:S3/AccountBlockPublicAccessDisabled";
    fires(
        k,
        s3(
            "PutAccountPublicAccessBlock",
            json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": false, "RestrictPublicBuckets": true}}),
        ),
    );
    fires(k, s3("DeleteAccountPublicAccessBlock", json!({})));
    quiet(
        k,
        s3(
            "PutAccountPublicAccessBlock",
            json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
        ),
    );
}

#[test]
fn s3_public_and_anonymous_access() {
    let s3 = |name: &str, params: Value| {
        with(
            json!({"eventSource": "s3.amazonaws.com", "eventName": name, "readOnly": false, "requestParameters": params}),
        )
    };
    let anon = "Policy:S3/BucketAnonymousAccessGranted";
    let public = "Policy:S3/BucketPublicAccessGranted";
    let grant = |uri: &str| {
        json!({"bucketName": "b", "AccessControlPolicy": {"AccessControlList": {"Grant": [
        {"Grantee": {"xsi:type": "Group", "URI": uri}, "Permission": "READ"}]}}})
    };
    fires(
        anon,
        s3(
            "PutBucketAcl",
            grant("http://acs.amazonaws.com/groups/global/AllUsers"),
        ),
    );
    fires(
        anon,
        s3(
            "PutBucketAcl",
            json!({"bucketName": "b", "x-amz-acl": ["public-read"]}),
        ),
    );
    fires(
        public,
        s3(
            "PutBucketAcl",
            grant("http://acs.amazonaws.com/groups/global/AuthenticatedUsers"),
        ),
    );
    quiet(
        anon,
        s3(
            "PutBucketAcl",
            grant("http://acs.amazonaws.com/groups/s3/LogDelivery"),
        ),
    );
    quiet(
        public,
        s3(
            "PutBucketAcl",
            json!({"bucketName": "b", "x-amz-acl": ["private"]}),
        ),
    );
    let policy = |principal: Value, condition: Value| {
        json!({"bucketName": "b", "bucketPolicy": {"Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": condition}]}})
    };
    fires(anon, s3("PutBucketPolicy", policy(json!("*"), Value::Null)));
    fires(
        anon,
        s3("PutBucketPolicy", policy(json!({"AWS": "*"}), Value::Null)),
    );
    quiet(
        anon,
        s3(
            "PutBucketPolicy",
            policy(
                json!("*"),
                json!({"StringEquals": {"aws:SourceVpce": "vpce-1"}}),
            ),
        ),
    );
    quiet(
        anon,
        s3(
            "PutBucketPolicy",
            policy(
                json!({"AWS": "arn:aws:iam::111122223333:root"}),
                Value::Null,
            ),
        ),
    );
}

#[test]
fn s3_server_access_logging_disabled() {
    let k = "Stealth:S3/ServerAccessLoggingDisabled";
    let s3 = |params: Value| {
        with(
            json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketLogging", "readOnly": false, "requestParameters": params}),
        )
    };
    fires(
        k,
        s3(
            json!({"bucketName": "b", "BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}),
        ),
    );
    quiet(
        k,
        s3(
            json!({"bucketName": "b", "BucketLoggingStatus": {"LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "b/"}}}),
        ),
    );
}

#[test]
fn pentest_distributions() {
    fires(
        "PenTest:IAMUser/KaliLinux",
        with(
            json!({"userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2024"}),
        ),
    );
    fires(
        "PenTest:IAMUser/ParrotLinux",
        with(
            json!({"userAgent": "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0 md/distrib#parrot"}),
        ),
    );
    fires(
        "PenTest:IAMUser/PentooLinux",
        with(json!({"userAgent": "aws-cli/1.18 Python/3.8 Linux/5.10.0-pentoo botocore/1.20"})),
    );
    // "kali" elsewhere than the platform is not a Kali machine.
    quiet(
        "PenTest:IAMUser/KaliLinux",
        with(json!({"userAgent": "kalimba-uploader/1.0 (aws-sdk-go/1.44)"})),
    );
}

#[test]
fn malicious_and_tor_callers() {
    fires(
        "Recon:IAMUser/MaliciousIPCaller.Custom",
        with(json!({"sourceIPAddress": "5.6.7.9"})),
    );
    fires(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        with(json!({"sourceIPAddress": "5.6.7.9", "eventName": "CreateUser", "readOnly": false})),
    );
    fires(
        "Recon:IAMUser/MaliciousIPCaller",
        with(json!({"sourceIPAddress": "203.0.113.66"})),
    );
    fires(
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        with(
            json!({"sourceIPAddress": "9.9.9.9", "eventName": "PutRolePolicy", "readOnly": false}),
        ),
    );
    // Near misses: the trusted address inside the threat CIDR; a neighbour outside it.
    quiet(
        "Recon:IAMUser/MaliciousIPCaller.Custom",
        with(json!({"sourceIPAddress": "5.6.7.8"})),
    );
    quiet(
        "Recon:IAMUser/MaliciousIPCaller.Custom",
        with(json!({"sourceIPAddress": "5.6.8.9"})),
    );
}

/// S3 calls from listed addresses and pentest machines raise GuardDuty's S3 types, by what the
/// call does, about the bucket.
#[test]
fn s3_protection_callers() {
    let s3 = |name: &str, read_only: bool, ip: &str| {
        with(
            json!({"eventSource": "s3.amazonaws.com", "eventName": name, "readOnly": read_only,
            "sourceIPAddress": ip, "eventCategory": "Data",
            "requestParameters": {"bucketName": "payroll", "key": "2026/11.csv"}}),
        )
    };
    for (name, read_only, ip, kind) in [
        (
            "ListObjects",
            true,
            "203.0.113.66",
            "Discovery:S3/MaliciousIPCaller",
        ),
        (
            "GetObject",
            true,
            "203.0.113.66",
            "Exfiltration:S3/MaliciousIPCaller",
        ),
        (
            "DeleteObject",
            false,
            "203.0.113.66",
            "Impact:S3/MaliciousIPCaller",
        ),
        (
            "ListObjects",
            true,
            "5.6.7.9",
            "Discovery:S3/MaliciousIPCaller.Custom",
        ),
        (
            "PutObject",
            false,
            "5.6.7.9",
            "UnauthorizedAccess:S3/MaliciousIPCaller.Custom",
        ),
        ("GetBucketAcl", true, "9.9.9.9", "Discovery:S3/TorIPCaller"),
        (
            "GetObject",
            true,
            "9.9.9.9",
            "UnauthorizedAccess:S3/TorIPCaller",
        ),
    ] {
        let k = kinds(&s3(name, read_only, ip), &[]);
        assert_eq!(k, vec![kind.to_string()], "{name} from {ip}");
    }
    let kali = with(
        json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "readOnly": true,
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali3-amd64",
        "requestParameters": {"bucketName": "payroll"}}),
    );
    assert_eq!(kinds(&kali, &[]), vec!["PenTest:S3/KaliLinux".to_string()]);
    // Near miss: a trusted address on S3.
    assert!(kinds(&s3("GetObject", true, "5.6.7.8"), &[]).is_empty());
}

#[test]
fn instance_credential_exfiltration_outside_aws() {
    let k = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";
    let nets: Vec<IpNet> = vec!["52.1.0.0/16".parse().unwrap()];
    let instance = |ip: &str| {
        with(
            json!({"sourceIPAddress": ip, "userIdentity": {"type": "AssumedRole",
        "principalId": "AROAEXAMPLE:i-0abc123def4567890", "accessKeyId": "ASIAEXAMPLE", "accountId": "111122223333",
        "arn": "arn:aws:sts::111122223333:assumed-role/web/i-0abc123def4567890"}}),
        )
    };
    assert!(kinds(&instance("8.8.4.4"), &nets).iter().any(|x| x == k));
    assert!(
        !kinds(&instance("52.1.2.3"), &nets).iter().any(|x| x == k),
        "from its own network"
    );
    assert!(
        !kinds(&instance("10.0.0.5"), &nets).iter().any(|x| x == k),
        "a private address (VPC endpoint)"
    );
    assert!(
        !kinds(&instance("8.8.4.4"), &[]).iter().any(|x| x == k),
        "off until networks are configured"
    );
    let not_instance = with(
        json!({"sourceIPAddress": "8.8.4.4", "userIdentity": {"type": "AssumedRole",
        "principalId": "AROAEXAMPLE:alice-session", "accessKeyId": "ASIAEXAMPLE"}}),
    );
    assert!(
        !kinds(&not_instance, &nets).iter().any(|x| x == k),
        "a person's role session"
    );
}
