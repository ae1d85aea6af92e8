//! Privilege escalation: administrator policies attached or written inline (to oneself above
//! all), policy versions made default, oneself added to a group, another user's password
//! changed, roles passed into compute.

use super::super::policy;
use super::super::{Detection, Ev, Hit, Tactic};
use super::{param, someone_else};

const IAM: &str = "iam.amazonaws.com";

/// The IAM principal a policy request is about: ("user" | "role" | "group", name).
fn subject(ev: &Ev<'_, '_>) -> (&'static str, String) {
    for (key, kind) in [
        ("userName", "user"),
        ("roleName", "role"),
        ("groupName", "group"),
    ] {
        let v = ev.text(key);
        if !v.is_empty() {
            return (kind, v.into_owned());
        }
    }
    ("principal", String::new())
}

/// Is the request's subject the caller itself (its user, or the role it is acting as)?
fn to_self(ev: &Ev<'_, '_>, kind: &str, name: &str) -> bool {
    !name.is_empty()
        && match kind {
            "user" => ev.r.identity_type == "IAMUser" && ev.r.user_name == name,
            "role" => ev.r.identity_type == "AssumedRole" && ev.r.issuer_user_name == name,
            _ => false,
        }
}

/// The administrator grant a request makes, if any: the managed policy's ARN, or "an inline
/// policy allowing *".
fn admin_grant(ev: &Ev<'_, '_>) -> Option<String> {
    if ev.name.starts_with("Attach") {
        let arn = ev.text("policyArn");
        return policy::is_admin_policy(&arn).then(|| arn.into_owned());
    }
    let doc = policy::document(&ev.params["policyDocument"])?;
    policy::grants_admin(&doc).then(|| {
        format!(
            "inline policy {:?} allowing every action on every resource",
            ev.text("policyName")
        )
    })
}

const GRANTS: &[(&str, &str)] = &[
    (IAM, "AttachUserPolicy"),
    (IAM, "AttachRolePolicy"),
    (IAM, "AttachGroupPolicy"),
    (IAM, "PutUserPolicy"),
    (IAM, "PutRolePolicy"),
    (IAM, "PutGroupPolicy"),
];

fn self_admin(ev: &Ev<'_, '_>) -> Option<Hit> {
    let (kind, name) = subject(ev);
    if !to_self(ev, kind, &name) {
        return None;
    }
    let grant = admin_grant(ev)?;
    Some(Hit::new(
        format!(
            "{} granted itself administrator access: {grant} on its own {kind} {name:?} ({}).",
            ev.who(),
            ev.name
        ),
        format!("{kind}/{name}"),
    ))
}

fn other_admin(ev: &Ev<'_, '_>) -> Option<Hit> {
    let (kind, name) = subject(ev);
    if to_self(ev, kind, &name) {
        return None; // the rule above
    }
    let grant = admin_grant(ev)?;
    Some(Hit::new(
        format!(
            "{} granted administrator access to {kind} {name:?}: {grant} ({}).",
            ev.who(),
            ev.name
        ),
        format!("{kind}/{name}"),
    ))
}

fn policy_version(ev: &Ev<'_, '_>) -> Option<Hit> {
    let arn = ev.text("policyArn").into_owned();
    if ev.name == "SetDefaultPolicyVersion" {
        return Some(
            Hit::new(
                format!(
                    "{} made version {:?} the default of policy {arn}: an older version may grant more.",
                    ev.who(),
                    ev.text("versionId")
                ),
                arn,
            )
            .at(3.0),
        );
    }
    if !policy::is_true(&ev.params["setAsDefault"]) {
        return None;
    }
    let doc = policy::document(&ev.params["policyDocument"])?;
    policy::grants_admin(&doc).then(|| {
        Hit::new(
            format!(
                "{} wrote a new default version of policy {arn} allowing every action on every resource.",
                ev.who()
            ),
            arn,
        )
    })
}

fn self_to_group(ev: &Ev<'_, '_>) -> Option<Hit> {
    let user = ev.text("userName");
    let group = ev.text("groupName");
    (ev.r.identity_type == "IAMUser" && ev.r.user_name == user).then(|| {
        Hit::new(
            format!(
                "{} added itself to group {group:?}, taking the group's permissions.",
                ev.who()
            ),
            format!("group/{group}"),
        )
    })
}

fn password_of_another(ev: &Ev<'_, '_>) -> Option<Hit> {
    let user = someone_else(ev)?;
    Some(Hit::new(
        format!(
            "{} changed the console password of another user, {user:?}: whoever knows it now signs in as them.",
            ev.who()
        ),
        format!("user/{user}"),
    ))
}

fn instance_role(ev: &Ev<'_, '_>) -> Option<Hit> {
    let profile = policy::text(&ev.params["iamInstanceProfile"]["arn"]).into_owned();
    let profile = if profile.is_empty() {
        policy::text(&ev.params["iamInstanceProfile"]["name"]).into_owned()
    } else {
        profile
    };
    let target = param(ev, &["instanceId", "associationId"]);
    Some(Hit::new(
        format!(
            "{} gave instance {target:?} the role of instance profile {profile:?} ({}): code on the instance acts with that role.",
            ev.who(),
            ev.name
        ),
        target,
    ))
}

fn function_role(ev: &Ev<'_, '_>) -> Option<Hit> {
    let role = ev.text("role");
    if role.is_empty() {
        return None;
    }
    let function = ev.text("functionName");
    Some(Hit::new(
        format!(
            "{} changed the role of function {function:?} to {role}: its code now acts with that role.",
            ev.who()
        ),
        function.into_owned(),
    ))
}

pub static LIST: &[Detection] = &[
    Detection {
        kind: "PrivilegeEscalation:IAMUser/AdminPolicyAttachedToSelf",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098.003"],
        severity: 8.0,
        title: "A principal granted itself administrator access.",
        fires: "AttachUserPolicy / AttachRolePolicy of AdministratorAccess, IAMFullAccess or AWSOrganizationsFullAccess, or PutUserPolicy / PutRolePolicy of a document allowing `*` (or `iam:*`, or `NotAction`) on `*`, to the calling user or the role the caller is acting as; attempts too",
        quiet: "the same grant to another principal (AdminPolicyAttached), or a narrow policy to oneself",
        on: GRANTS,
        attempts: true,
        check: self_admin,
    },
    Detection {
        kind: "PrivilegeEscalation:IAMUser/AdminPolicyAttached",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098.003"],
        severity: 3.0,
        title: "Administrator access was granted to a principal.",
        fires: "an administrator managed policy attached to, or an inline `*`-on-`*` policy put on, a user, role or group other than the caller",
        quiet: "a policy granting some actions only, such as ReadOnlyAccess or `s3:GetObject`",
        on: GRANTS,
        attempts: false,
        check: other_admin,
    },
    Detection {
        kind: "PrivilegeEscalation:IAMUser/AdminPolicyVersionSetAsDefault",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098.003"],
        // Low: administrators maintain their own admin policies this way too.
        severity: 3.0,
        title: "A policy's default version was changed to grant more.",
        fires: "CreatePolicyVersion with `setAsDefault` and a document allowing `*` on `*`; SetDefaultPolicyVersion (Low: an older version may be broader); attempts too",
        quiet: "CreatePolicyVersion without `setAsDefault`, or with a narrow document",
        on: &[
            (IAM, "CreatePolicyVersion"),
            (IAM, "SetDefaultPolicyVersion"),
        ],
        attempts: true,
        check: policy_version,
    },
    Detection {
        kind: "PrivilegeEscalation:IAMUser/SelfAddedToGroup",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098"],
        severity: 5.0,
        title: "A user added itself to a group.",
        fires: "AddUserToGroup whose `userName` is the calling IAM user; attempts too",
        quiet: "an administrator adding another user to a group",
        on: &[(IAM, "AddUserToGroup")],
        attempts: true,
        check: self_to_group,
    },
    Detection {
        kind: "PrivilegeEscalation:IAMUser/PasswordChangedForAnotherUser",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098"],
        severity: 3.0,
        title: "The console password of another user was changed.",
        fires: "UpdateLoginProfile naming a user other than the caller; attempts too",
        quiet: "UpdateLoginProfile of one's own password (no `userName`, or one's own)",
        on: &[(IAM, "UpdateLoginProfile")],
        attempts: true,
        check: password_of_another,
    },
    Detection {
        kind: "PrivilegeEscalation:EC2/InstanceRoleSwapped",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098"],
        severity: 3.0,
        title: "A role was passed to a running instance.",
        fires: "AssociateIamInstanceProfile or ReplaceIamInstanceProfileAssociation (PassRole into compute)",
        quiet: "DisassociateIamInstanceProfile, or RunInstances with its profile",
        on: &[
            ("ec2.amazonaws.com", "AssociateIamInstanceProfile"),
            ("ec2.amazonaws.com", "ReplaceIamInstanceProfileAssociation"),
        ],
        attempts: false,
        check: instance_role,
    },
    Detection {
        kind: "PrivilegeEscalation:Lambda/FunctionRoleChanged",
        tactic: Tactic::PrivilegeEscalation,
        attack: &["T1098"],
        severity: 3.0,
        title: "A function was given another role.",
        fires: "UpdateFunctionConfiguration with a `role` (PassRole into a function)",
        quiet: "UpdateFunctionConfiguration of memory, timeout or environment only",
        on: &[("lambda.amazonaws.com", "UpdateFunctionConfiguration")],
        attempts: false,
        check: function_role,
    },
];
