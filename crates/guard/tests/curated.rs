//! Every curated detection: events that fire it and near misses that do not, each read the four
//! ways records reach the detectors (typed, JSON value, the hunt's partial parse, the Sigma read),
//! and every catalogue entry must have its cases here. Then the messy shapes of real logs, and
//! the bursts counted in order, through the hunt as on the server.

mod common;

use std::collections::BTreeSet;

use mamori_guard::cloudtrail::{Context, detect};
use mamori_guard::config::GuardConfig;
use mamori_guard::curated::bursts::{BURSTS, Bursts};
use mamori_guard::curated::{KnownAccounts, all};
use mamori_guard::intel::Intel;
use mamori_guard::view::View;
use serde_json::{Value, json};

const ORG: &str = "111122223333";
const SISTER: &str = "222233334444";
const STRANGER: &str = "999988887777";

fn base() -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": ORG, "accessKeyId": "AKIAEXAMPLE", "userName": "alice"},
        "eventTime": "2026-11-28T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.18.0.1",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-generic exe/x86_64.ubuntu.22",
        "requestParameters": null,
        "eventID": "e-1",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "recipientAccountId": ORG
    })
}

/// A call: source, name and request parameters on the base event, then any other changes.
fn call(source: &str, name: &str, params: Value) -> Value {
    let mut v = base();
    v["eventSource"] = json!(source);
    v["eventName"] = json!(name);
    v["requestParameters"] = params;
    v
}

fn and(mut v: Value, changes: Value) -> Value {
    for (k, x) in changes.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// The same caller as a role session (`deployer`).
fn as_role(v: Value) -> Value {
    and(
        v,
        json!({"userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "arn": "arn:aws:sts::111122223333:assumed-role/deployer/s",
            "accountId": ORG, "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "deployer", "arn": "arn:aws:iam::111122223333:role/deployer"}}}}),
    )
}

fn failed(v: Value) -> Value {
    and(
        v,
        json!({"errorCode": "AccessDenied", "errorMessage": "not authorized"}),
    )
}

fn known() -> KnownAccounts {
    KnownAccounts::new([ORG, SISTER])
}

/// The kinds (with severities) the detectors give, the same whichever way the record was read.
fn found(v: &Value) -> Vec<(String, f64)> {
    let intel = Intel::default();
    let known = known();
    let ctx = Context {
        intel: &intel,
        instance_networks: &[],
        known: &known,
    };
    common::four_ways(v, &ctx)
}

fn severity_of(kind: &str, v: &Value) -> Option<f64> {
    found(v)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, s)| s)
}

struct Case {
    kind: &'static str,
    fires: Vec<Value>,
    quiet: Vec<Value>,
}

fn case(kind: &'static str, fires: Vec<Value>, quiet: Vec<Value>) -> Case {
    Case { kind, fires, quiet }
}

const IAM: &str = "iam.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const S3: &str = "s3.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";
const LAMBDA: &str = "lambda.amazonaws.com";

fn admin_doc() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

fn trust(principal: Value, condition: Option<Value>) -> String {
    let mut st = json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
    if let Some(c) = condition {
        st["Condition"] = c;
    }
    json!({"Version": "2012-10-17", "Statement": [st]}).to_string()
}

fn cases() -> Vec<Case> {
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let outside_root = format!("arn:aws:iam::{STRANGER}:root");
    vec![
        // Privilege escalation
        case(
            "PrivilegeEscalation:IAMUser/AdminPolicyAttachedToSelf",
            vec![
                call(
                    IAM,
                    "AttachUserPolicy",
                    json!({"userName": "alice", "policyArn": admin}),
                ),
                as_role(call(
                    IAM,
                    "AttachRolePolicy",
                    json!({"roleName": "deployer", "policyArn": admin}),
                )),
                call(
                    IAM,
                    "PutUserPolicy",
                    json!({"userName": "alice", "policyName": "p", "policyDocument": admin_doc().to_string()}),
                ),
                failed(call(
                    IAM,
                    "AttachUserPolicy",
                    json!({"userName": "alice", "policyArn": admin}),
                )),
            ],
            vec![
                call(
                    IAM,
                    "AttachUserPolicy",
                    json!({"userName": "bob", "policyArn": admin}),
                ),
                call(
                    IAM,
                    "AttachUserPolicy",
                    json!({"userName": "alice", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
                ),
            ],
        ),
        case(
            "PrivilegeEscalation:IAMUser/AdminPolicyAttached",
            vec![
                call(
                    IAM,
                    "AttachRolePolicy",
                    json!({"roleName": "backdoor", "policyArn": admin}),
                ),
                call(
                    IAM,
                    "PutGroupPolicy",
                    json!({"groupName": "ops", "policyName": "p", "policyDocument": admin_doc()}),
                ),
            ],
            vec![
                call(
                    IAM,
                    "AttachRolePolicy",
                    json!({"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}),
                ),
                failed(call(
                    IAM,
                    "AttachRolePolicy",
                    json!({"roleName": "backdoor", "policyArn": admin}),
                )),
            ],
        ),
        case(
            "PrivilegeEscalation:IAMUser/AdminPolicyVersionSetAsDefault",
            vec![
                call(
                    IAM,
                    "CreatePolicyVersion",
                    json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "policyDocument": admin_doc().to_string(), "setAsDefault": true}),
                ),
                call(
                    IAM,
                    "SetDefaultPolicyVersion",
                    json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "versionId": "v1"}),
                ),
            ],
            vec![call(
                IAM,
                "CreatePolicyVersion",
                json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "policyDocument": admin_doc().to_string(), "setAsDefault": false}),
            )],
        ),
        case(
            "PrivilegeEscalation:IAMUser/SelfAddedToGroup",
            vec![call(
                IAM,
                "AddUserToGroup",
                json!({"groupName": "admins", "userName": "alice"}),
            )],
            vec![call(
                IAM,
                "AddUserToGroup",
                json!({"groupName": "admins", "userName": "bob"}),
            )],
        ),
        case(
            "PrivilegeEscalation:IAMUser/PasswordChangedForAnotherUser",
            vec![call(IAM, "UpdateLoginProfile", json!({"userName": "bob"}))],
            vec![
                call(IAM, "UpdateLoginProfile", json!({"userName": "alice"})),
                call(IAM, "UpdateLoginProfile", json!({})),
            ],
        ),
        case(
            "PrivilegeEscalation:EC2/InstanceRoleSwapped",
            vec![call(
                EC2,
                "AssociateIamInstanceProfile",
                json!({"instanceId": "i-1", "iamInstanceProfile": {"name": "admin"}}),
            )],
            vec![call(
                EC2,
                "DisassociateIamInstanceProfile",
                json!({"associationId": "a-1"}),
            )],
        ),
        case(
            "PrivilegeEscalation:Lambda/FunctionRoleChanged",
            vec![call(
                LAMBDA,
                "UpdateFunctionConfiguration20150331v2",
                json!({"functionName": "f", "role": "arn:aws:iam::111122223333:role/admin"}),
            )],
            vec![call(
                LAMBDA,
                "UpdateFunctionConfiguration20150331v2",
                json!({"functionName": "f", "memorySize": 512}),
            )],
        ),
        // Persistence
        case(
            "Persistence:IAMUser/RoleTrustsOutsideAccount",
            vec![
                call(
                    IAM,
                    "UpdateAssumeRolePolicy",
                    json!({"roleName": "r", "policyDocument": trust(json!({"AWS": outside_root}), None)}),
                ),
                call(
                    IAM,
                    "CreateRole",
                    json!({"roleName": "r", "assumeRolePolicyDocument": trust(json!({"AWS": [STRANGER]}), None)}),
                ),
            ],
            vec![
                call(
                    IAM,
                    "UpdateAssumeRolePolicy",
                    json!({"roleName": "r", "policyDocument": trust(json!({"AWS": format!("arn:aws:iam::{SISTER}:root")}), None)}),
                ),
                call(
                    IAM,
                    "CreateRole",
                    json!({"roleName": "r", "assumeRolePolicyDocument": trust(json!({"Service": "lambda.amazonaws.com"}), None)}),
                ),
            ],
        ),
        case(
            "Persistence:IAMUser/RoleTrustsAnyone",
            vec![call(
                IAM,
                "UpdateAssumeRolePolicy",
                json!({"roleName": "r", "policyDocument": trust(json!({"AWS": "*"}), None)}),
            )],
            vec![call(
                IAM,
                "UpdateAssumeRolePolicy",
                json!({"roleName": "r", "policyDocument": trust(json!({"AWS": "*"}), Some(json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}})))}),
            )],
        ),
        case(
            "Persistence:IAMUser/AccessKeyCreatedForAnotherUser",
            vec![
                call(IAM, "CreateAccessKey", json!({"userName": "bob"})),
                as_role(call(
                    IAM,
                    "CreateAccessKey",
                    json!({"userName": "deployer"}),
                )),
            ],
            vec![
                call(IAM, "CreateAccessKey", json!({"userName": "alice"})),
                call(IAM, "CreateAccessKey", Value::Null),
            ],
        ),
        case(
            "Persistence:IAMUser/LoginProfileCreatedForAnotherUser",
            vec![call(
                IAM,
                "CreateLoginProfile",
                json!({"userName": "bob", "passwordResetRequired": false}),
            )],
            vec![call(
                IAM,
                "CreateLoginProfile",
                json!({"userName": "alice"}),
            )],
        ),
        case(
            "Persistence:IAMUser/FederationTokenWithBroadPolicy",
            vec![
                call(
                    "sts.amazonaws.com",
                    "GetFederationToken",
                    json!({"name": "x", "policy": admin_doc().to_string()}),
                ),
                call(
                    "sts.amazonaws.com",
                    "GetFederationToken",
                    json!({"name": "x", "policyArns": [{"arn": admin}]}),
                ),
            ],
            vec![call(
                "sts.amazonaws.com",
                "GetFederationToken",
                json!({"name": "x", "policy": json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}).to_string()}),
            )],
        ),
        case(
            "Persistence:IAMUser/RolesAnywhereTrustAnchorCreated",
            vec![call(
                "rolesanywhere.amazonaws.com",
                "CreateTrustAnchor",
                json!({"name": "ta", "enabled": true}),
            )],
            vec![call(
                "rolesanywhere.amazonaws.com",
                "ListTrustAnchors",
                json!({}),
            )],
        ),
        case(
            "Persistence:IAMUser/IdentityProviderChanged",
            vec![call(IAM, "CreateSAMLProvider", json!({"name": "idp"}))],
            vec![call(
                IAM,
                "DeleteSAMLProvider",
                json!({"sAMLProviderArn": "arn"}),
            )],
        ),
        case(
            "Persistence:IAMUser/RootAccessKeyCreated",
            vec![and(
                call(IAM, "CreateAccessKey", Value::Null),
                json!({"userIdentity": {"type": "Root", "principalId": ORG, "arn": "arn:aws:iam::111122223333:root", "accountId": ORG}}),
            )],
            vec![and(
                call(IAM, "CreateAccessKey", json!({"userName": "bob"})),
                json!({"userIdentity": {"type": "Root", "principalId": ORG, "arn": "arn:aws:iam::111122223333:root", "accountId": ORG}}),
            )],
        ),
        case(
            "Persistence:Lambda/FunctionPermissionOpened",
            vec![
                call(
                    LAMBDA,
                    "AddPermission20150331v2",
                    json!({"functionName": "f", "principal": "*", "action": "lambda:InvokeFunction", "statementId": "s"}),
                ),
                call(
                    LAMBDA,
                    "AddPermission20150331",
                    json!({"functionName": "f", "principal": STRANGER, "action": "lambda:InvokeFunction"}),
                ),
            ],
            vec![
                call(
                    LAMBDA,
                    "AddPermission20150331v2",
                    json!({"functionName": "f", "principal": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b"}),
                ),
                call(
                    LAMBDA,
                    "AddPermission20150331v2",
                    json!({"functionName": "f", "principal": "*", "sourceAccount": ORG}),
                ),
                call(
                    LAMBDA,
                    "AddPermission20150331v2",
                    json!({"functionName": "f", "principal": SISTER}),
                ),
            ],
        ),
        case(
            "Persistence:Lambda/LayerPermissionOpened",
            vec![call(
                LAMBDA,
                "AddLayerVersionPermission20181031",
                json!({"layerName": "l", "versionNumber": 1, "principal": "*", "action": "lambda:GetLayerVersion"}),
            )],
            vec![call(
                LAMBDA,
                "AddLayerVersionPermission20181031",
                json!({"layerName": "l", "principal": "*", "organizationId": "o-1"}),
            )],
        ),
        case(
            "Persistence:Lambda/LayerFromOutsideAccount",
            vec![
                call(
                    LAMBDA,
                    "UpdateFunctionConfiguration20150331v2",
                    json!({"functionName": "f", "layers": [format!("arn:aws:lambda:us-east-1:{STRANGER}:layer:x:1")]}),
                ),
                and(
                    call(
                        LAMBDA,
                        "UpdateFunctionConfiguration20150331v2",
                        json!({"functionName": "f"}),
                    ),
                    json!({"responseElements": {"layers": [{"arn": format!("arn:aws:lambda:us-east-1:{STRANGER}:layer:x:1")}]}}),
                ),
            ],
            vec![call(
                LAMBDA,
                "UpdateFunctionConfiguration20150331v2",
                json!({"functionName": "f", "layers": [format!("arn:aws:lambda:us-east-1:{ORG}:layer:x:1")]}),
            )],
        ),
        case(
            "Persistence:Lambda/FunctionCodeUpdated",
            vec![call(
                LAMBDA,
                "UpdateFunctionCode20150331v2",
                json!({"functionName": "f"}),
            )],
            vec![and(
                call(
                    LAMBDA,
                    "UpdateFunctionCode20150331v2",
                    json!({"functionName": "f"}),
                ),
                json!({"userIdentity": {"type": "AssumedRole", "principalId": "AROA:x", "invokedBy": "cloudformation.amazonaws.com"}}),
            )],
        ),
        case(
            "Persistence:Lambda/FunctionUrlWithoutAuth",
            vec![call(
                LAMBDA,
                "CreateFunctionUrlConfig20211031",
                json!({"functionName": "f", "authType": "NONE"}),
            )],
            vec![call(
                LAMBDA,
                "CreateFunctionUrlConfig20211031",
                json!({"functionName": "f", "authType": "AWS_IAM"}),
            )],
        ),
        // Defense evasion
        case(
            "DefenseEvasion:CloudTrail/EventSelectorsNarrowed",
            vec![
                call(
                    "cloudtrail.amazonaws.com",
                    "PutEventSelectors",
                    json!({"trailName": "main", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": false}]}),
                ),
                call(
                    "cloudtrail.amazonaws.com",
                    "PutEventSelectors",
                    json!({"trailName": "main", "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}]}]}),
                ),
            ],
            vec![call(
                "cloudtrail.amazonaws.com",
                "PutEventSelectors",
                json!({"trailName": "main", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true, "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]}),
            )],
        ),
        case(
            "DefenseEvasion:CloudTrail/TrailNarrowed",
            vec![call(
                "cloudtrail.amazonaws.com",
                "UpdateTrail",
                json!({"name": "main", "isMultiRegionTrail": false}),
            )],
            vec![call(
                "cloudtrail.amazonaws.com",
                "UpdateTrail",
                json!({"name": "main", "s3KeyPrefix": "x"}),
            )],
        ),
        case(
            "DefenseEvasion:CloudTrail/EventDataStoreStopped",
            vec![call(
                "cloudtrail.amazonaws.com",
                "StopEventDataStoreIngestion",
                json!({"eventDataStore": "eds"}),
            )],
            vec![call(
                "cloudtrail.amazonaws.com",
                "StartEventDataStoreIngestion",
                json!({"eventDataStore": "eds"}),
            )],
        ),
        case(
            "DefenseEvasion:S3/LogBucketLifecycleShortened",
            vec![call(
                S3,
                "PutBucketLifecycle",
                json!({"bucketName": "trail-logs", "LifecycleConfiguration": {"Rule": {"Status": "Enabled", "Expiration": {"Days": 1}, "ID": "x"}}}),
            )],
            vec![call(
                S3,
                "PutBucketLifecycle",
                json!({"bucketName": "trail-logs", "LifecycleConfiguration": {"Rule": [{"Status": "Enabled", "Expiration": {"Days": 365}}]}}),
            )],
        ),
        case(
            "DefenseEvasion:EC2/FlowLogsDeleted",
            vec![call(
                EC2,
                "DeleteFlowLogs",
                json!({"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-0123", "tag": 1}}}),
            )],
            vec![call(EC2, "CreateFlowLogs", json!({}))],
        ),
        case(
            "DefenseEvasion:Route53/DnsQueryLoggingDeleted",
            vec![call(
                "route53resolver.amazonaws.com",
                "DeleteResolverQueryLogConfig",
                json!({"resolverQueryLogConfigId": "rqlc-1"}),
            )],
            vec![call(
                "route53resolver.amazonaws.com",
                "CreateResolverQueryLogConfig",
                json!({}),
            )],
        ),
        case(
            "DefenseEvasion:Config/RecorderStopped",
            vec![call(
                "config.amazonaws.com",
                "StopConfigurationRecorder",
                json!({"configurationRecorderName": "default"}),
            )],
            vec![call(
                "config.amazonaws.com",
                "StartConfigurationRecorder",
                json!({"configurationRecorderName": "default"}),
            )],
        ),
        case(
            "DefenseEvasion:GuardDuty/DetectorDisabled",
            vec![
                call(
                    "guardduty.amazonaws.com",
                    "DeleteDetector",
                    json!({"detectorId": "d"}),
                ),
                call(
                    "guardduty.amazonaws.com",
                    "UpdateDetector",
                    json!({"detectorId": "d", "enable": false}),
                ),
                call("mamori.guard", "DisableDetector", json!({})),
            ],
            vec![call(
                "guardduty.amazonaws.com",
                "UpdateDetector",
                json!({"detectorId": "d", "findingPublishingFrequency": "SIX_HOURS"}),
            )],
        ),
        case(
            "DefenseEvasion:GuardDuty/TrustedIPListChanged",
            vec![call(
                "guardduty.amazonaws.com",
                "CreateIPSet",
                json!({"name": "ours", "activate": true}),
            )],
            vec![call(
                "guardduty.amazonaws.com",
                "UpdateIPSet",
                json!({"ipSetId": "x", "activate": false}),
            )],
        ),
        case(
            "DefenseEvasion:GuardDuty/FindingsSuppressed",
            vec![call(
                "guardduty.amazonaws.com",
                "CreateFilter",
                json!({"name": "hide", "action": "ARCHIVE"}),
            )],
            vec![call(
                "guardduty.amazonaws.com",
                "CreateFilter",
                json!({"name": "view", "action": "NOOP"}),
            )],
        ),
        case(
            "DefenseEvasion:CloudWatch/LogsDeleted",
            vec![
                call(
                    "logs.amazonaws.com",
                    "DeleteLogGroup",
                    json!({"logGroupName": "/aws/lambda/x"}),
                ),
                call(
                    "logs.amazonaws.com",
                    "PutRetentionPolicy",
                    json!({"logGroupName": "g", "retentionInDays": 1}),
                ),
            ],
            vec![call(
                "logs.amazonaws.com",
                "PutRetentionPolicy",
                json!({"logGroupName": "g", "retentionInDays": 30}),
            )],
        ),
        case(
            "DefenseEvasion:CloudWatch/AlarmsSilenced",
            vec![call(
                "monitoring.amazonaws.com",
                "DisableAlarmActions",
                json!({"alarmNames": ["root-use"]}),
            )],
            vec![call(
                "monitoring.amazonaws.com",
                "EnableAlarmActions",
                json!({"alarmNames": ["root-use"]}),
            )],
        ),
        case(
            "DefenseEvasion:SecurityHub/Disabled",
            vec![call(
                "securityhub.amazonaws.com",
                "DisableSecurityHub",
                json!({}),
            )],
            vec![call(
                "securityhub.amazonaws.com",
                "EnableSecurityHub",
                json!({}),
            )],
        ),
        case(
            "DefenseEvasion:Macie/Disabled",
            vec![call(
                "macie2.amazonaws.com",
                "UpdateMacieSession",
                json!({"status": "PAUSED"}),
            )],
            vec![call(
                "macie2.amazonaws.com",
                "UpdateMacieSession",
                json!({"status": "ENABLED"}),
            )],
        ),
        case(
            "DefenseEvasion:Inspector/Disabled",
            vec![call(
                "inspector2.amazonaws.com",
                "Disable",
                json!({"resourceTypes": ["EC2"]}),
            )],
            vec![call("inspector2.amazonaws.com", "Enable", json!({}))],
        ),
        case(
            "DefenseEvasion:AccessAnalyzer/AnalyzerDeleted",
            vec![call(
                "access-analyzer.amazonaws.com",
                "DeleteAnalyzer",
                json!({"analyzerName": "a"}),
            )],
            vec![call(
                "access-analyzer.amazonaws.com",
                "CreateAnalyzer",
                json!({"analyzerName": "a"}),
            )],
        ),
        case(
            "DefenseEvasion:IAMUser/BedrockLoggingDisabled",
            vec![call(
                "bedrock.amazonaws.com",
                "DeleteModelInvocationLoggingConfiguration",
                json!({}),
            )],
            vec![call(
                "bedrock.amazonaws.com",
                "PutModelInvocationLoggingConfiguration",
                json!({}),
            )],
        ),
        case(
            "DefenseEvasion:Organizations/LeaveOrganization",
            vec![
                call(
                    "organizations.amazonaws.com",
                    "LeaveOrganization",
                    Value::Null,
                ),
                failed(call(
                    "organizations.amazonaws.com",
                    "LeaveOrganization",
                    Value::Null,
                )),
            ],
            vec![call(
                "organizations.amazonaws.com",
                "DescribeOrganization",
                Value::Null,
            )],
        ),
        case(
            "DefenseEvasion:S3/BucketEncryptionRemoved",
            vec![call(
                S3,
                "DeleteBucketEncryption",
                json!({"bucketName": "b"}),
            )],
            vec![call(S3, "PutBucketEncryption", json!({"bucketName": "b"}))],
        ),
        case(
            "DefenseEvasion:S3/VersioningSuspended",
            vec![
                call(
                    S3,
                    "PutBucketVersioning",
                    json!({"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}),
                ),
                call(
                    S3,
                    "PutBucketVersioning",
                    json!({"bucketName": "b", "VersioningConfiguration": {"Status": "Enabled", "MfaDelete": "Disabled"}}),
                ),
            ],
            vec![call(
                S3,
                "PutBucketVersioning",
                json!({"bucketName": "b", "VersioningConfiguration": {"Status": "Enabled"}}),
            )],
        ),
        case(
            "DefenseEvasion:EC2/EbsDefaultEncryptionDisabled",
            vec![call(EC2, "DisableEbsEncryptionByDefault", json!({}))],
            vec![call(EC2, "EnableEbsEncryptionByDefault", json!({}))],
        ),
        case(
            "DefenseEvasion:WAF/WebACLDisassociated",
            vec![call(
                "wafv2.amazonaws.com",
                "DisassociateWebACL",
                json!({"resourceArn": "arn:aws:elasticloadbalancing:x"}),
            )],
            vec![call("wafv2.amazonaws.com", "AssociateWebACL", json!({}))],
        ),
        case(
            "DefenseEvasion:IAMUser/MFADeviceRemoved",
            vec![call(
                IAM,
                "DeactivateMFADevice",
                json!({"userName": "bob", "serialNumber": "arn:aws:iam::111122223333:mfa/bob"}),
            )],
            vec![call(IAM, "EnableMFADevice", json!({"userName": "bob"}))],
        ),
        case(
            "DefenseEvasion:Account/RegionEnabled",
            vec![call(
                "account.amazonaws.com",
                "EnableRegion",
                json!({"RegionName": "af-south-1"}),
            )],
            vec![call("account.amazonaws.com", "ListRegions", json!({}))],
        ),
        // Initial access, execution, credential access, lateral movement, discovery
        case(
            "UnauthorizedAccess:IAMUser/ConsoleLoginWithoutMFA",
            vec![and(
                call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
                json!({"responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com"}, "eventType": "AwsConsoleSignIn"}),
            )],
            vec![
                and(
                    call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
                    json!({"responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "Yes"}}),
                ),
                as_role(and(
                    call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
                    json!({"responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"}}),
                )),
            ],
        ),
        case(
            "UnauthorizedAccess:IAMUser/RootConsoleLoginFailed",
            vec![and(
                call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
                json!({"userIdentity": {"type": "Root", "principalId": ORG, "accountId": ORG}, "responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication"}),
            )],
            vec![and(
                call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
                json!({"responseElements": {"ConsoleLogin": "Failure"}}),
            )],
        ),
        case(
            "Execution:SSM/CommandSentToInstances",
            vec![call(
                "ssm.amazonaws.com",
                "SendCommand",
                json!({"documentName": "AWS-RunShellScript", "instanceIds": ["i-1", "i-2"]}),
            )],
            vec![call("ssm.amazonaws.com", "ListCommands", json!({}))],
        ),
        case(
            "Execution:EC2/UserDataModified",
            vec![call(
                EC2,
                "ModifyInstanceAttribute",
                json!({"instanceId": "i-1", "userData": "<sensitiveDataRemoved>"}),
            )],
            vec![call(
                EC2,
                "ModifyInstanceAttribute",
                json!({"instanceId": "i-1", "instanceType": {"value": "t3.large"}}),
            )],
        ),
        case(
            "CredentialAccess:SecretsManager/BatchSecretRetrieval",
            vec![call(
                "secretsmanager.amazonaws.com",
                "BatchGetSecretValue",
                json!({"filters": [{"key": "name", "values": [""]}]}),
            )],
            vec![call(
                "secretsmanager.amazonaws.com",
                "ListSecrets",
                json!({}),
            )],
        ),
        case(
            "CredentialAccess:SSM/ParametersDecryptedByPath",
            vec![call(
                "ssm.amazonaws.com",
                "GetParametersByPath",
                json!({"path": "/", "recursive": true, "withDecryption": true}),
            )],
            vec![call(
                "ssm.amazonaws.com",
                "GetParametersByPath",
                json!({"path": "/", "recursive": true, "withDecryption": false}),
            )],
        ),
        case(
            "CredentialAccess:EC2/PasswordDataRetrieved",
            vec![
                call(EC2, "GetPasswordData", json!({"instanceId": "i-1"})),
                failed(call(EC2, "GetPasswordData", json!({"instanceId": "i-1"}))),
            ],
            vec![call(EC2, "DescribeInstances", json!({}))],
        ),
        case(
            "CredentialAccess:RDS/MasterPasswordReset",
            vec![call(
                RDS,
                "ModifyDBInstance",
                json!({"dBInstanceIdentifier": "db", "masterUserPassword": "****"}),
            )],
            vec![call(
                RDS,
                "ModifyDBInstance",
                json!({"dBInstanceIdentifier": "db", "dBInstanceClass": "db.r5.large"}),
            )],
        ),
        case(
            "LateralMovement:EC2/SerialConsoleKeyPushed",
            vec![call(
                "ec2-instance-connect.amazonaws.com",
                "SendSerialConsoleSSHPublicKey",
                json!({"instanceId": "i-1", "serialPort": 0}),
            )],
            vec![call(
                "ec2-instance-connect.amazonaws.com",
                "SendSSHPublicKey",
                json!({"instanceId": "i-1"}),
            )],
        ),
        case(
            "LateralMovement:EC2/SerialConsoleAccessEnabled",
            vec![call(EC2, "EnableSerialConsoleAccess", json!({}))],
            vec![call(EC2, "GetSerialConsoleAccessStatus", json!({}))],
        ),
        case(
            "LateralMovement:EC2/InstanceConnectKeyPushed",
            vec![call(
                "ec2-instance-connect.amazonaws.com",
                "SendSSHPublicKey",
                json!({"instanceId": "i-1", "instanceOSUser": "ec2-user"}),
            )],
            vec![call(
                "ec2-instance-connect.amazonaws.com",
                "SendSerialConsoleSSHPublicKey",
                json!({"instanceId": "i-1"}),
            )],
        ),
        case(
            "LateralMovement:SSM/SessionStarted",
            vec![call(
                "ssm.amazonaws.com",
                "StartSession",
                json!({"target": "i-1"}),
            )],
            vec![call(
                "ssm.amazonaws.com",
                "TerminateSession",
                json!({"sessionId": "s"}),
            )],
        ),
        case(
            "Discovery:IAMUser/AuthorizationDetailsDumped",
            vec![call(IAM, "GetAccountAuthorizationDetails", json!({}))],
            vec![call(IAM, "GetUser", json!({}))],
        ),
        // Exfiltration
        case(
            "Exfiltration:EC2/SnapshotSharedOutside",
            vec![call(
                EC2,
                "ModifySnapshotAttribute",
                json!({"snapshotId": "snap-1", "attributeType": "CREATE_VOLUME_PERMISSION", "createVolumePermission": {"add": {"items": [{"userId": STRANGER}]}}}),
            )],
            vec![
                call(
                    EC2,
                    "ModifySnapshotAttribute",
                    json!({"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": SISTER}]}}}),
                ),
                call(
                    EC2,
                    "ModifySnapshotAttribute",
                    json!({"snapshotId": "snap-1", "createVolumePermission": {"remove": {"items": [{"userId": STRANGER}]}}}),
                ),
            ],
        ),
        case(
            "Exfiltration:EC2/SnapshotMadePublic",
            vec![call(
                EC2,
                "ModifySnapshotAttribute",
                json!({"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
            )],
            vec![call(
                EC2,
                "ModifySnapshotAttribute",
                json!({"snapshotId": "snap-1", "createVolumePermission": {"remove": {"items": [{"group": "all"}]}}}),
            )],
        ),
        case(
            "Exfiltration:EC2/ImageSharedOutside",
            vec![call(
                EC2,
                "ModifyImageAttribute",
                json!({"imageId": "ami-1", "launchPermission": {"add": {"items": [{"userId": STRANGER}]}}, "attributeType": "launchPermission"}),
            )],
            vec![call(
                EC2,
                "ModifyImageAttribute",
                json!({"imageId": "ami-1", "launchPermission": {"add": {"items": [{"userId": SISTER}]}}}),
            )],
        ),
        case(
            "Exfiltration:EC2/ImageMadePublic",
            vec![call(
                EC2,
                "ModifyImageAttribute",
                json!({"imageId": "ami-1", "launchPermission": {"add": {"items": [{"group": "all"}]}}}),
            )],
            vec![call(
                EC2,
                "ModifyImageAttribute",
                json!({"imageId": "ami-1", "description": {"value": "x"}}),
            )],
        ),
        case(
            "Exfiltration:RDS/SnapshotSharedOutside",
            vec![call(
                RDS,
                "ModifyDBSnapshotAttribute",
                json!({"dBSnapshotIdentifier": "s", "attributeName": "restore", "valuesToAdd": [STRANGER]}),
            )],
            vec![call(
                RDS,
                "ModifyDBSnapshotAttribute",
                json!({"dBSnapshotIdentifier": "s", "attributeName": "restore", "valuesToRemove": [STRANGER]}),
            )],
        ),
        case(
            "Exfiltration:RDS/SnapshotMadePublic",
            vec![call(
                RDS,
                "ModifyDBClusterSnapshotAttribute",
                json!({"dBClusterSnapshotIdentifier": "s", "attributeName": "restore", "valuesToAdd": ["all"]}),
            )],
            vec![call(
                RDS,
                "ModifyDBClusterSnapshotAttribute",
                json!({"dBClusterSnapshotIdentifier": "s", "attributeName": "restore", "valuesToAdd": [SISTER]}),
            )],
        ),
        case(
            "Exfiltration:S3/BucketPolicyAllowsOutsideAccount",
            vec![call(
                S3,
                "PutBucketPolicy",
                json!({"bucketName": "b", "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": outside_root}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}}),
            )],
            vec![call(
                S3,
                "PutBucketPolicy",
                json!({"bucketName": "b", "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{SISTER}:root")}, "Action": "s3:GetObject"}]}}),
            )],
        ),
        case(
            "Exfiltration:S3/ReplicationToOutsideAccount",
            vec![call(
                S3,
                "PutBucketReplication",
                json!({"bucketName": "b", "ReplicationConfiguration": {"Rule": {"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::theirs", "Account": STRANGER}}}}),
            )],
            vec![call(
                S3,
                "PutBucketReplication",
                json!({"bucketName": "b", "ReplicationConfiguration": {"Rule": {"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::ours", "Account": SISTER}}}}),
            )],
        ),
        case(
            "Exfiltration:KMS/KeyPolicyOpened",
            vec![call(
                "kms.amazonaws.com",
                "PutKeyPolicy",
                json!({"keyId": "k", "policyName": "default", "policy": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}).to_string()}),
            )],
            vec![call(
                "kms.amazonaws.com",
                "PutKeyPolicy",
                json!({"keyId": "k", "policy": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ORG}:root")}, "Action": "kms:*", "Resource": "*"}]}).to_string()}),
            )],
        ),
        case(
            "Exfiltration:KMS/GrantToOutsideAccount",
            vec![call(
                "kms.amazonaws.com",
                "CreateGrant",
                json!({"keyId": "k", "granteePrincipal": format!("arn:aws:iam::{STRANGER}:role/x"), "operations": ["Decrypt"]}),
            )],
            vec![call(
                "kms.amazonaws.com",
                "CreateGrant",
                json!({"keyId": "k", "granteePrincipal": format!("arn:aws:iam::{ORG}:role/x")}),
            )],
        ),
        case(
            "Exfiltration:ECR/RepositoryPolicyOpened",
            vec![call(
                "ecr.amazonaws.com",
                "SetRepositoryPolicy",
                json!({"repositoryName": "r", "policyText": json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}]}).to_string()}),
            )],
            vec![call(
                "ecr.amazonaws.com",
                "SetRepositoryPolicy",
                json!({"repositoryName": "r", "policyText": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": SISTER}, "Action": "ecr:BatchGetImage"}]}).to_string()}),
            )],
        ),
        case(
            "Exfiltration:SecretsManager/ResourcePolicyOpened",
            vec![call(
                "secretsmanager.amazonaws.com",
                "PutResourcePolicy",
                json!({"secretId": "s", "resourcePolicy": json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": STRANGER}, "Action": "secretsmanager:GetSecretValue"}}).to_string()}),
            )],
            vec![call(
                "secretsmanager.amazonaws.com",
                "PutResourcePolicy",
                json!({"secretId": "s", "resourcePolicy": json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*"}}).to_string()}),
            )],
        ),
        case(
            "Exfiltration:SQS/QueueOrTopicPolicyOpened",
            vec![
                call(
                    "sqs.amazonaws.com",
                    "SetQueueAttributes",
                    json!({"queueUrl": "https://q", "attributes": {"Policy": json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}]}).to_string()}}),
                ),
                call(
                    "sns.amazonaws.com",
                    "SetTopicAttributes",
                    json!({"topicArn": "t", "attributeName": "Policy", "attributeValue": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": STRANGER}, "Action": "sns:Subscribe"}]}).to_string()}),
                ),
            ],
            vec![call(
                "sqs.amazonaws.com",
                "SetQueueAttributes",
                json!({"queueUrl": "https://q", "attributes": {"Policy": json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b"}}}]}).to_string()}}),
            )],
        ),
        case(
            "Exfiltration:OpenSearch/DomainPolicyOpened",
            vec![call(
                "es.amazonaws.com",
                "UpdateDomainConfig",
                json!({"domainName": "d", "accessPolicies": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*"}]}).to_string()}),
            )],
            vec![call(
                "es.amazonaws.com",
                "UpdateDomainConfig",
                json!({"domainName": "d", "accessPolicies": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}).to_string()}),
            )],
        ),
        case(
            "Exfiltration:RDS/InstanceMadePublic",
            vec![call(
                RDS,
                "ModifyDBInstance",
                json!({"dBInstanceIdentifier": "db", "publiclyAccessible": true}),
            )],
            vec![call(
                RDS,
                "ModifyDBInstance",
                json!({"dBInstanceIdentifier": "db", "publiclyAccessible": false}),
            )],
        ),
        case(
            "Exfiltration:EC2/SecurityGroupOpenedToWorld",
            vec![
                call(
                    EC2,
                    "AuthorizeSecurityGroupIngress",
                    json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
                ),
                call(
                    EC2,
                    "AuthorizeSecurityGroupIngress",
                    json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "-1", "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}]}}),
                ),
                call(
                    EC2,
                    "AuthorizeSecurityGroupIngress",
                    json!({"groupId": "sg-1", "ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "cidrIp": "10.9.8.7/0"}),
                ),
            ],
            vec![call(
                EC2,
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}),
            )],
        ),
        case(
            "Exfiltration:EC2/NetworkAclOpenedToWorld",
            vec![call(
                EC2,
                "CreateNetworkAclEntry",
                json!({"networkAclId": "acl-1", "ruleNumber": 1, "egress": false, "ruleAction": "allow", "cidrBlock": "0.0.0.0/0", "aclProtocol": "-1"}),
            )],
            vec![call(
                EC2,
                "CreateNetworkAclEntry",
                json!({"networkAclId": "acl-1", "egress": false, "ruleAction": "deny", "cidrBlock": "0.0.0.0/0"}),
            )],
        ),
        case(
            "Exfiltration:EC2/TrafficMirroringStarted",
            vec![call(
                EC2,
                "CreateTrafficMirrorSession",
                json!({"networkInterfaceId": "eni-1", "trafficMirrorTargetId": "tmt-1"}),
            )],
            vec![call(EC2, "DescribeTrafficMirrorSessions", json!({}))],
        ),
        case(
            "Exfiltration:RDS/SnapshotExported",
            vec![call(
                RDS,
                "StartExportTask",
                json!({"sourceArn": "arn:aws:rds:x:snapshot:s", "s3BucketName": "b"}),
            )],
            vec![call(RDS, "DescribeExportTasks", json!({}))],
        ),
        case(
            "Exfiltration:CodeBuild/ProjectMadePublic",
            vec![call(
                "codebuild.amazonaws.com",
                "UpdateProjectVisibility",
                json!({"projectArn": "p", "projectVisibility": "PUBLIC_READ"}),
            )],
            vec![call(
                "codebuild.amazonaws.com",
                "UpdateProjectVisibility",
                json!({"projectArn": "p", "projectVisibility": "PRIVATE"}),
            )],
        ),
        // Impact
        case(
            "Impact:EC2/UnusualInstanceType",
            vec![
                call(
                    EC2,
                    "RunInstances",
                    json!({"instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 10}]}, "instanceType": "p2.xlarge"}),
                ),
                and(
                    failed(call(
                        EC2,
                        "RunInstances",
                        json!({"instanceType": "g5.48xlarge"}),
                    )),
                    json!({"errorCode": "Client.UnauthorizedOperation"}),
                ),
            ],
            vec![call(
                EC2,
                "RunInstances",
                json!({"instancesSet": {"items": [{"imageId": "ami-1", "maxCount": 50}]}, "instanceType": "t3.micro"}),
            )],
        ),
        case(
            "Impact:KMS/KeyDeletionScheduled",
            vec![call(
                "kms.amazonaws.com",
                "ScheduleKeyDeletion",
                json!({"keyId": "k", "pendingWindowInDays": 7}),
            )],
            vec![call(
                "kms.amazonaws.com",
                "CancelKeyDeletion",
                json!({"keyId": "k"}),
            )],
        ),
        case(
            "Impact:KMS/KeyDisabled",
            vec![call(
                "kms.amazonaws.com",
                "DisableKey",
                json!({"keyId": "k"}),
            )],
            vec![call(
                "kms.amazonaws.com",
                "EnableKey",
                json!({"keyId": "k"}),
            )],
        ),
        case(
            "Impact:S3/RansomNoteUploaded",
            vec![call(
                S3,
                "PutObject",
                json!({"bucketName": "b", "key": "FILES-DELETED/how_to_recover_your_files.txt"}),
            )],
            vec![call(
                S3,
                "PutObject",
                json!({"bucketName": "b", "key": "README.md"}),
            )],
        ),
        case(
            "Impact:S3/CustomerKeyEncryptionWrite",
            vec![call(
                S3,
                "CopyObject",
                json!({"bucketName": "b", "key": "k", "x-amz-server-side-encryption-customer-algorithm": "AES256"}),
            )],
            vec![call(
                S3,
                "CopyObject",
                json!({"bucketName": "b", "key": "k", "x-amz-server-side-encryption": "aws:kms"}),
            )],
        ),
        case(
            "Impact:S3/BucketDeleted",
            vec![call(S3, "DeleteBucket", json!({"bucketName": "b"}))],
            vec![call(S3, "CreateBucket", json!({"bucketName": "b"}))],
        ),
        case(
            "Impact:RDS/DeletionProtectionDisabled",
            vec![call(
                RDS,
                "ModifyDBCluster",
                json!({"dBClusterIdentifier": "c", "deletionProtection": false}),
            )],
            vec![call(
                RDS,
                "ModifyDBCluster",
                json!({"dBClusterIdentifier": "c", "deletionProtection": true}),
            )],
        ),
        case(
            "Impact:RDS/DeletedWithoutFinalSnapshot",
            vec![call(
                RDS,
                "DeleteDBInstance",
                json!({"dBInstanceIdentifier": "db", "skipFinalSnapshot": true}),
            )],
            vec![call(
                RDS,
                "DeleteDBInstance",
                json!({"dBInstanceIdentifier": "db", "skipFinalSnapshot": false, "finalDBSnapshotIdentifier": "last"}),
            )],
        ),
        case(
            "Impact:RDS/BackupsDeleted",
            vec![call(
                RDS,
                "DeleteDBSnapshot",
                json!({"dBSnapshotIdentifier": "s"}),
            )],
            vec![call(
                RDS,
                "CreateDBSnapshot",
                json!({"dBSnapshotIdentifier": "s"}),
            )],
        ),
        case(
            "Impact:Backup/RecoveryPointsDeleted",
            vec![call(
                "backup.amazonaws.com",
                "DeleteRecoveryPoint",
                json!({"backupVaultName": "v", "recoveryPointArn": "arn"}),
            )],
            vec![call(
                "backup.amazonaws.com",
                "StartBackupJob",
                json!({"backupVaultName": "v"}),
            )],
        ),
        case(
            "Impact:Route53/DomainTransferredOut",
            vec![call(
                "route53domains.amazonaws.com",
                "TransferDomainToAnotherAwsAccount",
                json!({"domainName": "example.com", "accountId": STRANGER}),
            )],
            vec![call(
                "route53domains.amazonaws.com",
                "AcceptDomainTransferFromAnotherAwsAccount",
                json!({"domainName": "example.com"}),
            )],
        ),
        case(
            "Impact:Bedrock/ModelAccessRequested",
            vec![call(
                "bedrock.amazonaws.com",
                "PutUseCaseForModelAccess",
                json!({}),
            )],
            vec![call(
                "bedrock.amazonaws.com",
                "ListFoundationModels",
                json!({}),
            )],
        ),
    ]
}

#[test]
fn every_curated_detection_fires_on_its_cases_and_not_on_its_near_misses() {
    let cases = cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.kind).collect();
    let catalogue: BTreeSet<&str> = all().iter().map(|d| d.kind).collect();
    let untested: Vec<_> = catalogue.difference(&covered).collect();
    assert!(untested.is_empty(), "no cases for {untested:?}");
    let unknown: Vec<_> = covered.difference(&catalogue).collect();
    assert!(unknown.is_empty(), "cases for unknown kinds {unknown:?}");
    let mut wrong = Vec::new();
    for c in &cases {
        assert!(!c.fires.is_empty() && !c.quiet.is_empty(), "{}", c.kind);
        for v in &c.fires {
            if severity_of(c.kind, v).is_none() {
                wrong.push(format!("{} did not fire on {v}", c.kind));
            }
        }
        for v in &c.quiet {
            if severity_of(c.kind, v).is_some() {
                wrong.push(format!("{} fired on the near miss {v}", c.kind));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    eprintln!(
        "{} curated detections, {} events that fire, {} near misses",
        cases.len(),
        cases.iter().map(|c| c.fires.len()).sum::<usize>(),
        cases.iter().map(|c| c.quiet.len()).sum::<usize>()
    );
}

#[test]
fn an_attempt_is_one_band_lower_and_only_for_the_riskiest() {
    let share = call(
        EC2,
        "ModifySnapshotAttribute",
        json!({"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": STRANGER}]}}}),
    );
    let kind = "Exfiltration:EC2/SnapshotSharedOutside";
    assert_eq!(severity_of(kind, &share), Some(8.0));
    assert_eq!(severity_of(kind, &failed(share)), Some(5.0));
    let lifecycle = call(
        S3,
        "PutBucketLifecycle",
        json!({"bucketName": "b", "LifecycleConfiguration": {"Rule": {"Status": "Enabled", "Expiration": {"Days": 1}}}}),
    );
    let kind = "DefenseEvasion:S3/LogBucketLifecycleShortened";
    assert!(severity_of(kind, &lifecycle).is_some());
    assert_eq!(severity_of(kind, &failed(lifecycle)), None);
}

#[test]
fn severities_follow_what_the_event_says() {
    let open = |principal: &str| {
        call(
            LAMBDA,
            "AddPermission20150331v2",
            json!({"functionName": "f", "principal": principal}),
        )
    };
    let kind = "Persistence:Lambda/FunctionPermissionOpened";
    assert_eq!(severity_of(kind, &open("*")), Some(8.0));
    assert_eq!(severity_of(kind, &open(STRANGER)), Some(6.0));
    let root = and(
        call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
        json!({"userIdentity": {"type": "Root", "principalId": ORG, "accountId": ORG},
            "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"}}),
    );
    assert_eq!(
        severity_of("UnauthorizedAccess:IAMUser/ConsoleLoginWithoutMFA", &root),
        Some(5.0)
    );
    let open_port = |port: u32| {
        call(
            EC2,
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        )
    };
    let kind = "Exfiltration:EC2/SecurityGroupOpenedToWorld";
    // HTTPS to the world is a choice; SSH is what EC2's launch wizard does by default (an
    // administrator's everyday act, still worth knowing); a database is an incident.
    assert_eq!(severity_of(kind, &open_port(443)), Some(2.0));
    assert_eq!(severity_of(kind, &open_port(22)), Some(3.0));
    assert_eq!(severity_of(kind, &open_port(3306)), Some(5.0));
    // Bulk secret reads: Medium for long-term keys, Low for an application's role.
    let batch = call(
        "secretsmanager.amazonaws.com",
        "BatchGetSecretValue",
        json!({"filters": [{"key": "name", "values": ["prod"]}]}),
    );
    let kind = "CredentialAccess:SecretsManager/BatchSecretRetrieval";
    assert_eq!(severity_of(kind, &batch), Some(5.0));
    assert_eq!(severity_of(kind, &as_role(batch)), Some(3.0));
}

/// A dual-stack instance calls from one IPv4 and one IPv6 address: not a second place.
#[test]
fn a_dual_stack_instance_is_one_place() {
    let events = vec![
        at(
            instance(
                call("ssm.amazonaws.com", "UpdateInstanceInformation", json!({})),
                "3.225.16.109",
            ),
            0,
            0,
        ),
        at(
            instance(
                call("s3.amazonaws.com", "ListBuckets", json!({})),
                "2600:1f18:abcd::10",
            ),
            10,
            1,
        ),
    ];
    assert!(burst_kinds(&events).is_empty());
}

/// Real logs: parameters as a JSON string, policies URL-encoded, addresses that are not IP
/// literals, regions nobody has heard of, API-version suffixes.
#[test]
fn messy_real_logs_still_fire() {
    let policy = trust(
        json!({"AWS": format!("arn:aws:iam::{STRANGER}:root")}),
        None,
    );
    let encoded: String =
        percent_encoding::utf8_percent_encode(&policy, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let as_string = call(
        IAM,
        "UpdateAssumeRolePolicy",
        json!(json!({"roleName": "r", "policyDocument": policy}).to_string()),
    );
    let url_encoded = call(
        IAM,
        "UpdateAssumeRolePolicy",
        json!({"roleName": "r", "policyDocument": encoded}),
    );
    let odd = and(
        url_encoded.clone(),
        json!({"sourceIPAddress": "AWS Internal", "awsRegion": "xx-nowhere-9"}),
    );
    for v in [as_string, url_encoded, odd] {
        assert!(
            severity_of("Persistence:IAMUser/RoleTrustsOutsideAccount", &v).is_some(),
            "{v}"
        );
    }
    let garbage = call(
        IAM,
        "UpdateAssumeRolePolicy",
        json!({"roleName": "r", "policyDocument": "%7B%22Statement%22%3A%5B%5D%7D%%%"}),
    );
    assert!(
        found(&garbage).is_empty(),
        "an unreadable policy fires nothing and panics never"
    );
    let deep = (0..60).fold(json!("x"), |v, _| json!({"add": v}));
    let nested = call(EC2, "ModifySnapshotAttribute", deep);
    assert!(found(&nested).is_empty());
}

#[test]
fn without_known_accounts_every_other_account_is_outside() {
    let intel = Intel::default();
    let empty = KnownAccounts::default();
    let ctx = Context {
        intel: &intel,
        instance_networks: &[],
        known: &empty,
    };
    let v = call(
        EC2,
        "ModifySnapshotAttribute",
        json!({"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": SISTER}]}}}),
    );
    let signals = detect(&View::from_value(&v), &ctx);
    let s = signals
        .iter()
        .find(|s| s.kind == "Exfiltration:EC2/SnapshotSharedOutside")
        .expect("fires");
    assert!(
        s.description.contains("organization_accounts"),
        "{}",
        s.description
    );
    assert_eq!(
        s.severity, 3.0,
        "another account may be the organization's own: Low until the organization is named"
    );
    let info = s.info.as_ref().unwrap();
    assert_eq!(info["mitreAttack"]["techniques"], json!(["T1537"]));
}

// ---- bursts ------------------------------------------------------------------------------

fn at(v: Value, second: u32, id: usize) -> Value {
    let t = format!("2026-11-28T10:{:02}:{:02}Z", second / 60, second % 60);
    and(v, json!({"eventTime": t, "eventID": format!("e-{id}")}))
}

/// Runs events through the server's burst counting; the kinds that fired.
fn burst_kinds(events: &[Value]) -> Vec<String> {
    let cfg = GuardConfig::default();
    let mut b = Bursts::new(&cfg);
    let mut out = Vec::new();
    for v in events {
        b.observe(&View::from_value(v), &mut out);
    }
    out.into_iter().map(|s| s.kind).collect()
}

fn n_of(n: usize, f: impl Fn(usize) -> Value) -> Vec<Value> {
    (0..n).map(|i| at(f(i), i as u32, i)).collect()
}

fn burst_cases() -> Vec<Case> {
    let describe = |i: usize| {
        and(
            call(EC2, &format!("DescribeThing{i}"), json!({})),
            json!({"readOnly": true}),
        )
    };
    let console_failure = |_i: usize| {
        and(
            call("signin.amazonaws.com", "ConsoleLogin", Value::Null),
            json!({"responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication"}),
        )
    };
    vec![
        case(
            "Discovery:IAMUser/EnumerationBurst",
            n_of(30, describe),
            n_of(100, |_| describe(1))
                .into_iter()
                .chain(n_of(40, |i| {
                    and(describe(i), json!({"userAgent": "AWS Internal"}))
                }))
                .collect(),
        ),
        case(
            "Discovery:IAMUser/AccessDeniedBurst",
            n_of(10, |i| failed(call(IAM, &format!("List{i}"), json!({})))),
            n_of(50, |_| failed(call(IAM, "ListRoles", json!({})))),
        ),
        case(
            "CredentialAccess:SecretsManager/BulkSecretReads",
            n_of(5, |i| {
                call(
                    "secretsmanager.amazonaws.com",
                    "GetSecretValue",
                    json!({"secretId": format!("s{i}")}),
                )
            }),
            n_of(20, |_| {
                call(
                    "secretsmanager.amazonaws.com",
                    "GetSecretValue",
                    json!({"secretId": "s"}),
                )
            }),
        ),
        case(
            "CredentialAccess:SSM/BulkParameterDecryption",
            n_of(5, |i| {
                call(
                    "ssm.amazonaws.com",
                    "GetParameter",
                    json!({"name": format!("/p{i}"), "withDecryption": true}),
                )
            }),
            n_of(20, |i| {
                call(
                    "ssm.amazonaws.com",
                    "GetParameter",
                    json!({"name": format!("/p{i}"), "withDecryption": false}),
                )
            }),
        ),
        case(
            "CredentialAccess:EC2/BulkPasswordDataRetrieval",
            n_of(3, |i| {
                failed(call(
                    EC2,
                    "GetPasswordData",
                    json!({"instanceId": format!("i-{i}")}),
                ))
            }),
            n_of(10, |_| {
                call(EC2, "GetPasswordData", json!({"instanceId": "i-1"}))
            }),
        ),
        case(
            "CredentialAccess:EC2/UserDataEnumeration",
            n_of(5, |i| {
                call(
                    EC2,
                    "DescribeInstanceAttribute",
                    json!({"instanceId": format!("i-{i}"), "attribute": "userData"}),
                )
            }),
            n_of(10, |i| {
                call(
                    EC2,
                    "DescribeInstanceAttribute",
                    json!({"instanceId": format!("i-{i}"), "attribute": "instanceType"}),
                )
            }),
        ),
        case(
            "Discovery:SES/Enumeration",
            ["GetAccountSendingEnabled", "GetSendQuota", "ListIdentities"]
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    at(
                        and(
                            call("ses.amazonaws.com", n, json!({})),
                            json!({"readOnly": true}),
                        ),
                        i as u32,
                        i,
                    )
                })
                .collect(),
            n_of(10, |_| call("ses.amazonaws.com", "SendEmail", json!({}))),
        ),
        case(
            "Impact:S3/MassObjectDeletion",
            n_of(50, |i| {
                call(
                    S3,
                    "DeleteObject",
                    json!({"bucketName": "b", "key": format!("k{i}")}),
                )
            }),
            n_of(49, |i| {
                call(
                    S3,
                    "DeleteObject",
                    json!({"bucketName": "b", "key": format!("k{i}")}),
                )
            }),
        ),
        case(
            "Impact:S3/MassCustomerKeyEncryption",
            n_of(20, |i| {
                call(
                    S3,
                    "CopyObject",
                    json!({"bucketName": "b", "key": format!("k{i}"), "x-amz-server-side-encryption-customer-algorithm": "AES256"}),
                )
            }),
            n_of(40, |i| {
                call(
                    S3,
                    "CopyObject",
                    json!({"bucketName": "b", "key": format!("k{i}")}),
                )
            }),
        ),
        case(
            "LateralMovement:EC2/ManyInstancesAccessed",
            n_of(5, |i| {
                call(
                    "ssm.amazonaws.com",
                    "StartSession",
                    json!({"target": format!("i-{i}")}),
                )
            }),
            n_of(20, |_| {
                call(
                    "ssm.amazonaws.com",
                    "StartSession",
                    json!({"target": "i-1"}),
                )
            }),
        ),
        case(
            "Impact:EC2/MassTermination",
            n_of(10, |i| {
                call(
                    EC2,
                    "TerminateInstances",
                    json!({"instancesSet": {"items": [{"instanceId": format!("i-{i}")}]}}),
                )
            }),
            n_of(20, |i| {
                and(
                    call(
                        EC2,
                        "TerminateInstances",
                        json!({"instancesSet": {"items": [{"instanceId": format!("i-{i}")}]}}),
                    ),
                    json!({"userAgent": "autoscaling.amazonaws.com"}),
                )
            }),
        ),
        case(
            "UnauthorizedAccess:IAMUser/ConsoleLoginBruteForce",
            n_of(10, console_failure),
            n_of(9, console_failure),
        ),
        case(
            "Impact:Bedrock/ModelInvocationBurst",
            n_of(100, |_| {
                call(
                    "bedrock.amazonaws.com",
                    "InvokeModel",
                    json!({"modelId": "m"}),
                )
            }),
            n_of(200, |_| {
                as_role(call(
                    "bedrock.amazonaws.com",
                    "InvokeModel",
                    json!({"modelId": "m"}),
                ))
            }),
        ),
        case(
            "Discovery:EC2/EnumerationFromInstance",
            n_of(10, |i| {
                instance(
                    and(
                        call(EC2, &format!("DescribeThing{i}"), json!({})),
                        json!({"readOnly": true}),
                    ),
                    "3.3.3.3",
                )
            }),
            n_of(40, |_| {
                instance(
                    and(
                        call("ssm.amazonaws.com", "ListInstanceAssociations", json!({})),
                        json!({"readOnly": true}),
                    ),
                    "3.3.3.3",
                )
            }),
        ),
        case(
            "UnauthorizedAccess:EC2/InstanceCredentialsUsedElsewhere",
            vec![
                at(
                    instance(
                        call("ssm.amazonaws.com", "UpdateInstanceInformation", json!({})),
                        "3.225.16.109",
                    ),
                    0,
                    0,
                ),
                at(
                    instance(
                        call("sts.amazonaws.com", "GetCallerIdentity", json!({})),
                        "203.0.113.9",
                    ),
                    3000,
                    1,
                ),
            ],
            vec![
                at(
                    instance(
                        call("ssm.amazonaws.com", "UpdateInstanceInformation", json!({})),
                        "3.225.16.109",
                    ),
                    0,
                    0,
                ),
                at(
                    and(
                        instance(call(S3, "GetObject", json!({})), "10.0.1.5"),
                        json!({"vpcEndpointId": "vpce-1"}),
                    ),
                    10,
                    1,
                ),
                at(
                    instance(
                        call("ssm.amazonaws.com", "UpdateInstanceInformation", json!({})),
                        "3.225.16.109",
                    ),
                    20,
                    2,
                ),
                at(
                    instance(
                        call("sts.amazonaws.com", "GetCallerIdentity", json!({})),
                        "AWS Internal",
                    ),
                    30,
                    3,
                ),
            ],
        ),
        case(
            "Discovery:S3/BucketEnumeration",
            n_of(20, |i| {
                and(
                    call(S3, "ListObjects", json!({"bucketName": format!("b{i}")})),
                    json!({"readOnly": true}),
                )
            }),
            n_of(40, |_| {
                and(
                    call(S3, "ListObjects", json!({"bucketName": "b"})),
                    json!({"readOnly": true}),
                )
            }),
        ),
    ]
}

/// The event as made by an instance's role session, from `ip`.
fn instance(v: Value, ip: &str) -> Value {
    and(
        v,
        json!({"sourceIPAddress": ip, "userAgent": "aws-sdk-go/1.41.4 (go1.18.3; linux; amd64)",
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:i-0dbc91f429e48eeed",
            "arn": "arn:aws:sts::111122223333:assumed-role/app/i-0dbc91f429e48eeed", "accountId": ORG, "accessKeyId": "ASIAINSTANCE",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app"}}}}),
    )
}

#[test]
fn every_burst_fires_at_its_threshold_and_not_below() {
    let cases = burst_cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.kind).collect();
    let catalogue: BTreeSet<&str> = BURSTS.iter().map(|b| b.kind).collect();
    assert_eq!(covered, catalogue);
    for c in &cases {
        let fired = burst_kinds(&c.fires);
        assert_eq!(
            fired.iter().filter(|k| *k == c.kind).count(),
            1,
            "{} fires once per window: {fired:?}",
            c.kind
        );
        let quiet = burst_kinds(&c.quiet);
        assert!(!quiet.iter().any(|k| k == c.kind), "{}: {quiet:?}", c.kind);
    }
}

#[test]
fn a_burst_spread_beyond_the_window_does_not_fire() {
    let events: Vec<Value> = (0..30)
        .map(|i| {
            at(
                and(
                    call(EC2, &format!("DescribeThing{i}"), json!({})),
                    json!({"readOnly": true}),
                ),
                i * 60, // a minute apart: 29 minutes in all, the window is 10
                i as usize,
            )
        })
        .collect();
    assert!(burst_kinds(&events).is_empty());
}

/// The hunt counts bursts in file order across files, whatever the number of threads: a burst
/// split over three delivery files fires once, as it does on the server.
#[test]
fn the_hunt_counts_bursts_across_files_as_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Value> = n_of(12, |i| {
        call(
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            json!({"secretId": format!("s{i}")}),
        )
    });
    for (n, chunk) in events.chunks(4).enumerate() {
        let body = json!({"Records": chunk}).to_string();
        std::fs::write(dir.path().join(format!("{n}.json")), body).unwrap();
    }
    for jobs in [1, 3] {
        let intel = Intel::default();
        let known = known();
        let ctx = Context {
            intel: &intel,
            instance_networks: &[],
            known: &known,
        };
        let mut findings = mamori_guard::finding::Findings::default();
        let stats = mamori_guard::hunt::hunt(
            &[dir.path().to_path_buf()],
            mamori_guard::hunt::Source::Auto,
            &ctx,
            &GuardConfig::default(),
            None,
            &mut findings,
            "2026-11-28T11:00:00Z",
            jobs,
        );
        assert_eq!(stats.records, 12);
        let kinds: Vec<String> = findings.sorted().iter().map(|f| f.kind.clone()).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "CredentialAccess:SecretsManager/BulkSecretReads")
                .count(),
            1,
            "jobs {jobs}: {kinds:?}"
        );
    }
    let server = burst_kinds(&events);
    assert_eq!(
        server,
        vec!["CredentialAccess:SecretsManager/BulkSecretReads"]
    );
}

/// `docs/detections.md` is the catalogue as `mamori guard detections --format markdown` prints
/// it (MAMORI_BLESS=1 rewrites it after an intended change).
#[test]
fn the_detections_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/detections.md");
    let want = mamori_guard::curated::markdown();
    if std::env::var_os("MAMORI_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date: run MAMORI_BLESS=1 cargo test -p mamori-guard --test curated",
        path.display()
    );
    assert!(want.matches("\n| `").count() >= 60 + 15);
}

/// `testdata/builtin.tests.json` holds every single-event case above as `guard test` examples
/// (what `mamori guard test --builtin` runs, and what users read as examples of each detection);
/// MAMORI_BLESS=1 rewrites it. The built-ins pass their own examples through `guard test`'s runner.
#[test]
fn the_builtin_examples_are_current_and_pass() {
    let mut tests = Vec::new();
    for c in cases() {
        for (expect, events) in [(true, &c.fires), (false, &c.quiet)] {
            for (i, v) in events.iter().enumerate() {
                let what = if expect { "fires" } else { "near miss" };
                tests.push(json!({"name": format!("{} {what} {}", c.kind, i + 1), "match": expect, "type": c.kind, "event": v}));
            }
        }
    }
    let want = serde_json::to_string_pretty(
        &json!({"organizationAccounts": [ORG, SISTER], "tests": tests}),
    )
    .unwrap()
        + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/builtin.tests.json");
    if std::env::var_os("MAMORI_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date: run MAMORI_BLESS=1 cargo test -p mamori-guard --test curated",
        path.display()
    );
    // The file compiled into the binary is this file; a rebuild after blessing takes it in.
    if have == mamori_guard::ruletest::BUILTIN {
        let intel = Intel::default();
        let empty = KnownAccounts::default();
        let ctx = Context {
            intel: &intel,
            instance_networks: &[],
            known: &empty,
        };
        let report = mamori_guard::ruletest::run_builtin(&ctx);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            report.failed(),
            0,
            "{:#?}",
            report
                .outcomes
                .iter()
                .filter(|o| !o.passed)
                .collect::<Vec<_>>()
        );
        assert!(report.outcomes.len() >= 200, "{}", report.outcomes.len());
    }
}
