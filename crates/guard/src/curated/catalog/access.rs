//! Initial access (console sign-in without MFA, root sign-in failures), execution (commands and
//! user data pushed to instances), credential access (secrets in bulk, decrypted parameters,
//! instance passwords, database master passwords), lateral movement (serial console, Instance
//! Connect, Session Manager) and discovery (a dump of every IAM authorization).
//! Bursts of these (many instances, many secrets) are counted in `bursts`.

use super::super::policy;
use super::super::{Detection, Ev, Hit, Tactic};
use super::{called, param};

const EC2: &str = "ec2.amazonaws.com";
const SSM: &str = "ssm.amazonaws.com";

fn console_without_mfa(ev: &Ev<'_, '_>) -> Option<Hit> {
    let result = policy::text(&ev.response["ConsoleLogin"]);
    let mfa = policy::text(&ev.extra["MFAUsed"]);
    if !result.eq_ignore_ascii_case("Success") || !mfa.eq_ignore_ascii_case("No") {
        return None;
    }
    // Through a SAML provider: MFA is the identity provider's to ask.
    if !ev.extra["SamlProviderArn"].is_null() {
        return None;
    }
    let hit = |sev: f64, who: String| {
        Some(
            Hit::new(
                format!(
                    "{who} signed in to the console with a password alone (no MFA) from {}.",
                    ev.r.source_ip
                ),
                who,
            )
            .at(sev),
        )
    };
    match ev.r.identity_type {
        "Root" => hit(5.0, "The root user".into()),
        "IAMUser" => hit(3.0, ev.who()),
        // Federated sign-ins (SAML, Identity Center) check MFA at the identity provider.
        _ => None,
    }
}

fn root_login_failed(ev: &Ev<'_, '_>) -> Option<Hit> {
    let result = policy::text(&ev.response["ConsoleLogin"]);
    (ev.r.identity_type == "Root" && result.eq_ignore_ascii_case("Failure")).then(|| {
        Hit::new(
            format!(
                "A console sign-in as the root user failed from {}.",
                ev.r.source_ip
            ),
            "root",
        )
    })
}

/// The instances a request names (`instanceIds`, `instanceId`, `target`), in order, unique.
pub(crate) fn instances(ev: &Ev<'_, '_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in ["instanceIds", "instanceId", "target", "InstanceIds"] {
        for v in policy::many(&ev.params[key]) {
            let v = policy::text(v);
            if !v.is_empty() && !out.iter().any(|x| *x == v) {
                out.push(v.into_owned());
            }
        }
    }
    out
}

fn send_command(ev: &Ev<'_, '_>) -> Option<Hit> {
    let doc = ev.text("documentName").into_owned();
    let targets = instances(ev);
    let by_tag = !ev.params["targets"].is_null();
    let on = match (targets.len(), by_tag) {
        (0, true) => "instances chosen by tag".to_string(),
        (n, _) => format!("{n} instance(s) ({})", targets.join(", ")),
    };
    Some(Hit::new(
        format!("{} ran document {doc:?} on {on}.", ev.who()),
        doc,
    ))
}

fn user_data(ev: &Ev<'_, '_>) -> Option<Hit> {
    let attribute = ev.text("attribute");
    if ev.params["userData"].is_null() && !attribute.eq_ignore_ascii_case("userData") {
        return None;
    }
    let instance = ev.text("instanceId").into_owned();
    Some(Hit::new(
        format!(
            "{} replaced the user data of instance {instance:?}: it runs as root at the next start.",
            ev.who()
        ),
        instance,
    ))
}

fn batch_secrets(ev: &Ev<'_, '_>) -> Option<Hit> {
    let ids = policy::many(&ev.params["secretIdList"]).len();
    let filtered = !ev.params["filters"].is_null();
    // Bulk reads by long-term keys (users, root) are worse than an application role's.
    let bulk = if matches!(ev.r.identity_type, "IAMUser" | "Root") {
        5.0
    } else {
        3.0
    };
    let (what, severity) = if filtered {
        ("every secret matching a filter".to_string(), bulk)
    } else if ids >= 5 {
        (format!("{ids} secrets"), bulk)
    } else {
        (format!("{ids} secret(s)"), 2.0)
    };
    Some(
        Hit::new(
            format!(
                "{} read the values of {what} at once (BatchGetSecretValue).",
                ev.who()
            ),
            "",
        )
        .at(severity),
    )
}

fn parameters_by_path(ev: &Ev<'_, '_>) -> Option<Hit> {
    if !policy::is_true(&ev.params["withDecryption"]) {
        return None;
    }
    let path = ev.text("path").into_owned();
    let recursive = policy::is_true(&ev.params["recursive"]);
    Some(Hit::new(
        format!(
            "{} read every parameter under {path:?}{} decrypted.",
            ev.who(),
            if recursive { " (recursively)" } else { "" }
        ),
        path,
    ))
}

fn master_password(ev: &Ev<'_, '_>) -> Option<Hit> {
    let set = !ev.params["masterUserPassword"].is_null()
        || policy::is_true(&ev.params["manageMasterUserPassword"])
        || policy::is_true(&ev.params["rotateMasterUserPassword"]);
    if !set {
        return None;
    }
    let db = param(ev, &["dBInstanceIdentifier", "dBClusterIdentifier"]);
    Some(Hit::new(
        format!(
            "{} reset the master password of database {db:?}: whoever set it can sign in as its owner.",
            ev.who()
        ),
        db,
    ))
}

fn serial_key(ev: &Ev<'_, '_>) -> Option<Hit> {
    let instance = ev.text("instanceId").into_owned();
    Some(Hit::new(
        format!(
            "{} pushed an SSH key to the serial console of instance {instance:?}: a shell that bypasses the network.",
            ev.who()
        ),
        instance,
    ))
}

fn connect_key(ev: &Ev<'_, '_>) -> Option<Hit> {
    let instance = ev.text("instanceId").into_owned();
    let user = ev.text("instanceOSUser");
    Some(Hit::new(
        format!(
            "{} pushed a temporary SSH key for OS user {user:?} to instance {instance:?} (EC2 Instance Connect).",
            ev.who()
        ),
        instance,
    ))
}

fn session(ev: &Ev<'_, '_>) -> Option<Hit> {
    let target = ev.text("target").into_owned();
    Some(Hit::new(
        format!("{} opened a Session Manager shell on {target:?}.", ev.who()),
        target,
    ))
}

pub static LIST: &[Detection] = &[
    Detection {
        kind: "UnauthorizedAccess:IAMUser/ConsoleLoginWithoutMFA",
        tactic: Tactic::InitialAccess,
        attack: &["T1078.004"],
        severity: 3.0,
        title: "A console sign-in succeeded without MFA.",
        fires: "a successful ConsoleLogin of an IAM user (Low) or the root user (Medium) with MFAUsed No",
        quiet: "MFAUsed Yes; federated (SAML, Identity Center: a SamlProviderArn, or a role session) sign-ins, whose MFA is the identity provider's; failed sign-ins",
        on: &[("signin.amazonaws.com", "ConsoleLogin")],
        attempts: false,
        check: console_without_mfa,
    },
    Detection {
        kind: "UnauthorizedAccess:IAMUser/RootConsoleLoginFailed",
        tactic: Tactic::InitialAccess,
        attack: &["T1110", "T1078.004"],
        severity: 3.0,
        title: "A console sign-in as the root user failed.",
        fires: "ConsoleLogin by Root with result Failure",
        quiet: "a failed sign-in of an IAM user (counted by the brute-force burst instead)",
        on: &[("signin.amazonaws.com", "ConsoleLogin")],
        attempts: true,
        check: root_login_failed,
    },
    Detection {
        kind: "Execution:SSM/CommandSentToInstances",
        tactic: Tactic::Execution,
        attack: &["T1651"],
        severity: 2.0,
        title: "Commands were sent to instances through Systems Manager.",
        fires: "SendCommand (any document, any instances; many instances at once are a burst of their own)",
        quiet: "ListCommands, GetCommandInvocation",
        on: &[(SSM, "SendCommand")],
        attempts: false,
        check: send_command,
    },
    Detection {
        kind: "Execution:EC2/UserDataModified",
        tactic: Tactic::Execution,
        attack: &["T1059.009", "T1037"],
        severity: 3.0,
        title: "An instance's user data (its startup script) was replaced.",
        fires: "ModifyInstanceAttribute setting userData; attempts too",
        quiet: "ModifyInstanceAttribute of the instance type or a security group",
        on: &[(EC2, "ModifyInstanceAttribute")],
        attempts: true,
        check: user_data,
    },
    Detection {
        kind: "CredentialAccess:SecretsManager/BatchSecretRetrieval",
        tactic: Tactic::CredentialAccess,
        attack: &["T1555.006"],
        severity: 5.0,
        title: "Secrets were read in bulk.",
        fires: "BatchGetSecretValue with filters or 5 or more secret ids (Medium for users and root, Low for roles), fewer ids (Low); attempts too",
        quiet: "GetSecretValue of one secret (counted by the bulk-read burst instead); ListSecrets",
        on: &[("secretsmanager.amazonaws.com", "BatchGetSecretValue")],
        attempts: true,
        check: batch_secrets,
    },
    Detection {
        kind: "CredentialAccess:SSM/ParametersDecryptedByPath",
        tactic: Tactic::CredentialAccess,
        attack: &["T1555.006"],
        severity: 3.0,
        title: "Every parameter under a path was read decrypted.",
        fires: "GetParametersByPath with withDecryption true",
        quiet: "GetParametersByPath without decryption",
        on: &[(SSM, "GetParametersByPath")],
        attempts: false,
        check: parameters_by_path,
    },
    Detection {
        kind: "CredentialAccess:EC2/PasswordDataRetrieved",
        tactic: Tactic::CredentialAccess,
        attack: &["T1552.005"],
        severity: 2.0,
        title: "A Windows instance's administrator password was retrieved.",
        fires: "GetPasswordData; attempts too (many instances at once are a burst of their own)",
        quiet: "DescribeInstances",
        on: &[(EC2, "GetPasswordData")],
        attempts: true,
        check: |ev| {
            // One finding per principal: an intruder asks for many instances at once.
            called(ev, &["instanceId"]).map(|h| Hit::new(h.what, ""))
        },
    },
    Detection {
        kind: "CredentialAccess:RDS/MasterPasswordReset",
        tactic: Tactic::CredentialAccess,
        attack: &["T1098"],
        severity: 3.0,
        title: "A database's master password was reset.",
        fires: "ModifyDBInstance or ModifyDBCluster with masterUserPassword (or a managed-password rotation)",
        quiet: "ModifyDBInstance of the instance class",
        on: &[
            ("rds.amazonaws.com", "ModifyDBInstance"),
            ("rds.amazonaws.com", "ModifyDBCluster"),
        ],
        attempts: false,
        check: master_password,
    },
    Detection {
        kind: "LateralMovement:EC2/SerialConsoleKeyPushed",
        tactic: Tactic::LateralMovement,
        attack: &["T1021.007", "T1098.004"],
        severity: 5.0,
        title: "An SSH key was pushed to an instance's serial console.",
        fires: "SendSerialConsoleSSHPublicKey; attempts too",
        quiet: "SendSSHPublicKey (Instance Connect, its own rule)",
        on: &[(
            "ec2-instance-connect.amazonaws.com",
            "SendSerialConsoleSSHPublicKey",
        )],
        attempts: true,
        check: serial_key,
    },
    Detection {
        kind: "LateralMovement:EC2/SerialConsoleAccessEnabled",
        tactic: Tactic::LateralMovement,
        attack: &["T1021.007"],
        severity: 3.0,
        title: "Serial console access was enabled for the account.",
        fires: "EnableSerialConsoleAccess",
        quiet: "DisableSerialConsoleAccess, GetSerialConsoleAccessStatus",
        on: &[(EC2, "EnableSerialConsoleAccess")],
        attempts: false,
        check: |ev| called(ev, &[]),
    },
    Detection {
        kind: "LateralMovement:EC2/InstanceConnectKeyPushed",
        tactic: Tactic::LateralMovement,
        attack: &["T1021.007", "T1098.004"],
        severity: 2.0,
        title: "A temporary SSH key was pushed to an instance (EC2 Instance Connect).",
        fires: "SendSSHPublicKey; attempts too (many instances at once are a burst of their own)",
        quiet: "SendSerialConsoleSSHPublicKey (its own rule)",
        on: &[("ec2-instance-connect.amazonaws.com", "SendSSHPublicKey")],
        attempts: true,
        check: connect_key,
    },
    Detection {
        kind: "LateralMovement:SSM/SessionStarted",
        tactic: Tactic::LateralMovement,
        attack: &["T1021.007"],
        severity: 2.0,
        title: "A Session Manager shell was opened on an instance.",
        fires: "StartSession (many instances at once are a burst of their own)",
        quiet: "TerminateSession, DescribeSessions",
        on: &[(SSM, "StartSession")],
        attempts: false,
        check: session,
    },
    Detection {
        kind: "Discovery:IAMUser/AuthorizationDetailsDumped",
        tactic: Tactic::Discovery,
        attack: &["T1087.004", "T1069.003"],
        severity: 2.0,
        title: "Every IAM user, role, group and policy was listed at once.",
        fires: "GetAccountAuthorizationDetails (what Pacu, ScoutSuite and PMapper start with); attempts too",
        quiet: "ListUsers, GetUser",
        on: &[("iam.amazonaws.com", "GetAccountAuthorizationDetails")],
        attempts: true,
        check: |ev| called(ev, &[]),
    },
];
