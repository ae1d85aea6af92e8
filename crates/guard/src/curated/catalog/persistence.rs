//! Persistence: trust policies that admit an outside account or anyone, keys and login profiles
//! made for someone else, federation tokens with broad policies, Roles Anywhere trust anchors,
//! identity providers, public or foreign function permissions and layers, root access keys.

use serde_json::Value;

use super::super::policy::{self, Cond, Principal};
use super::super::{Detection, Ev, Hit, Tactic};
use super::{called, principal_opened, someone_else};

const IAM: &str = "iam.amazonaws.com";
const LAMBDA: &str = "lambda.amazonaws.com";

/// The trust policy of CreateRole / UpdateAssumeRolePolicy, and who it lets in:
/// (anyone without a condition, outside accounts without a condition, outside with one).
fn trust(ev: &Ev<'_, '_>) -> Option<(bool, Vec<String>, Vec<String>)> {
    let doc = policy::document(
        [
            &ev.params["assumeRolePolicyDocument"],
            &ev.params["policyDocument"],
        ]
        .into_iter()
        .find(|v| !v.is_null())?,
    )?;
    let (mut anyone, mut bare, mut conditioned) = (false, Vec::new(), Vec::new());
    for (p, cond) in policy::principals(&doc) {
        match p {
            Principal::Anyone if cond != Cond::Scoping => anyone = true,
            Principal::Account(a) if ev.outside(&a) => {
                let list = if cond == Cond::None {
                    &mut bare
                } else {
                    &mut conditioned
                };
                if !list.contains(&a) {
                    list.push(a);
                }
            }
            _ => {}
        }
    }
    Some((anyone, bare, conditioned))
}

fn role_trusts_outside(ev: &Ev<'_, '_>) -> Option<Hit> {
    let (_, bare, conditioned) = trust(ev)?;
    let role = ev.text("roleName").into_owned();
    let (accounts, severity, how) = if !bare.is_empty() {
        let severity = if ev.name == "CreateRole" { 6.0 } else { 8.0 };
        (bare, severity, "without a condition")
    } else if !conditioned.is_empty() {
        (
            conditioned,
            3.0,
            "with a condition (such as an external id)",
        )
    } else {
        return None;
    };
    Some(
        Hit::outside(
            format!(
                "{} let account(s) {} outside the organization assume role {role:?} {how} ({}){}.",
                ev.who(),
                accounts.join(", "),
                ev.name,
                ev.outside_hint()
            ),
            format!("role/{role}"),
        )
        .at(severity),
    )
}

fn role_trusts_anyone(ev: &Ev<'_, '_>) -> Option<Hit> {
    let (anyone, _, _) = trust(ev)?;
    let role = ev.text("roleName").into_owned();
    anyone.then(|| {
        Hit::new(
            format!(
                "{} let any principal (\"*\") assume role {role:?}, with no condition on who ({}); an external id alone does not say who.",
                ev.who(),
                ev.name
            ),
            format!("role/{role}"),
        )
    })
}

fn key_for_another(ev: &Ev<'_, '_>) -> Option<Hit> {
    let user = someone_else(ev)?;
    Some(Hit::new(
        format!(
            "{} created an access key for another user, {user:?}.",
            ev.who()
        ),
        format!("user/{user}"),
    ))
}

fn profile_for_another(ev: &Ev<'_, '_>) -> Option<Hit> {
    let user = someone_else(ev)?;
    Some(Hit::new(
        format!(
            "{} created a console password for another user, {user:?}.",
            ev.who()
        ),
        format!("user/{user}"),
    ))
}

fn federation_token(ev: &Ev<'_, '_>) -> Option<Hit> {
    let name = ev.text("name").into_owned();
    let admin_arn = policy::many(&ev.params["policyArns"])
        .into_iter()
        .map(|p| policy::text(&p["arn"]).into_owned())
        .find(|a| policy::is_admin_policy(a));
    let broad_doc =
        policy::document(&ev.params["policy"]).is_some_and(|d| policy::grants_admin(&d));
    let what = match (admin_arn, broad_doc) {
        (Some(arn), _) => arn,
        (None, true) => "a session policy allowing every action on every resource".into(),
        _ => return None,
    };
    Some(Hit::new(
        format!(
            "{} got federation token {name:?} with {what}: a session that outlives the key's deletion.",
            ev.who()
        ),
        format!("federated/{name}"),
    ))
}

fn root_key(ev: &Ev<'_, '_>) -> Option<Hit> {
    (ev.r.identity_type == "Root" && ev.text("userName").is_empty()).then(|| {
        Hit::new(
            "The root user created an access key for itself.".to_string(),
            "root",
        )
    })
}

fn function_permission(ev: &Ev<'_, '_>) -> Option<Hit> {
    let f = ev.text("functionName").into_owned();
    principal_opened(ev, "function", f)
}

fn layer_permission(ev: &Ev<'_, '_>) -> Option<Hit> {
    let l = ev.text("layerName").into_owned();
    principal_opened(ev, "layer", l)
}

fn foreign_layer(ev: &Ev<'_, '_>) -> Option<Hit> {
    let mut layers: Vec<String> = Vec::new();
    for source in [&ev.params["layers"], &ev.response["layers"]] {
        for l in policy::many(source) {
            let arn = match l {
                Value::Object(_) => policy::text(&l["arn"]).into_owned(),
                _ => policy::text(l).into_owned(),
            };
            if let Some(a) = policy::account_of(&arn)
                && ev.outside(a)
                && !layers.contains(&arn)
            {
                layers.push(arn);
            }
        }
    }
    if layers.is_empty() {
        return None;
    }
    let f = ev.text("functionName").into_owned();
    Some(Hit::outside(
        format!(
            "{} added layer(s) {} from outside the organization to function {f:?}{}: their code runs inside it.",
            ev.who(),
            layers.join(", "),
            ev.outside_hint()
        ),
        f,
    ))
}

fn code_updated(ev: &Ev<'_, '_>) -> Option<Hit> {
    if !ev.r.invoked_by.is_empty() {
        return None; // a deployment service on the caller's behalf
    }
    called(ev, &["functionName"])
}

fn public_url(ev: &Ev<'_, '_>) -> Option<Hit> {
    let f = ev.text("functionName").into_owned();
    ev.text("authType").eq_ignore_ascii_case("NONE").then(|| {
        Hit::new(
            format!(
                "{} gave function {f:?} a URL anyone can call without signing ({}).",
                ev.who(),
                ev.name
            ),
            f,
        )
    })
}

pub static LIST: &[Detection] = &[
    Detection {
        kind: "Persistence:IAMUser/RoleTrustsOutsideAccount",
        tactic: Tactic::Persistence,
        attack: &["T1098.003", "T1199"],
        severity: 8.0,
        title: "A role trusts an account outside the organization.",
        fires: "UpdateAssumeRolePolicy (High) or CreateRole (Medium) whose trust policy lets an account outside the organization assume the role without a condition; with a condition such as sts:ExternalId, Low; attempts too",
        quiet: "a trust policy naming only the organization's accounts or AWS services",
        on: &[(IAM, "UpdateAssumeRolePolicy"), (IAM, "CreateRole")],
        attempts: true,
        check: role_trusts_outside,
    },
    Detection {
        kind: "Persistence:IAMUser/RoleTrustsAnyone",
        tactic: Tactic::Persistence,
        attack: &["T1098.003"],
        severity: 8.0,
        title: "A role can be assumed by anyone.",
        fires: "UpdateAssumeRolePolicy or CreateRole whose trust policy allows principal `*` without a condition on who (an sts:ExternalId condition alone does not say who); attempts too",
        quiet: "principal `*` limited by aws:PrincipalOrgID, aws:PrincipalAccount, aws:SourceArn or the like",
        on: &[(IAM, "UpdateAssumeRolePolicy"), (IAM, "CreateRole")],
        attempts: true,
        check: role_trusts_anyone,
    },
    Detection {
        kind: "Persistence:IAMUser/AccessKeyCreatedForAnotherUser",
        tactic: Tactic::Persistence,
        attack: &["T1098.001"],
        severity: 3.0,
        title: "An access key was created for another user.",
        fires: "CreateAccessKey naming a user other than the calling IAM user (any user, when a role calls); attempts too",
        quiet: "CreateAccessKey for oneself (no `userName`, or one's own)",
        on: &[(IAM, "CreateAccessKey")],
        attempts: true,
        check: key_for_another,
    },
    Detection {
        kind: "Persistence:IAMUser/LoginProfileCreatedForAnotherUser",
        tactic: Tactic::Persistence,
        attack: &["T1098.001"],
        severity: 3.0,
        title: "A console password was created for another user.",
        fires: "CreateLoginProfile naming a user other than the caller; attempts too",
        quiet: "CreateLoginProfile for oneself",
        on: &[(IAM, "CreateLoginProfile")],
        attempts: true,
        check: profile_for_another,
    },
    Detection {
        kind: "Persistence:IAMUser/FederationTokenWithBroadPolicy",
        tactic: Tactic::Persistence,
        attack: &["T1550.001", "T1098"],
        severity: 5.0,
        title: "A federation token with administrator rights was issued.",
        fires: "GetFederationToken with an administrator managed policy or a session policy allowing `*` on `*`",
        quiet: "GetFederationToken with a narrow session policy",
        on: &[("sts.amazonaws.com", "GetFederationToken")],
        attempts: false,
        check: federation_token,
    },
    Detection {
        kind: "Persistence:IAMUser/RolesAnywhereTrustAnchorCreated",
        tactic: Tactic::Persistence,
        attack: &["T1098.001"],
        severity: 3.0,
        title: "An outside certificate authority was trusted to hand out role sessions.",
        fires: "IAM Roles Anywhere CreateTrustAnchor or UpdateTrustAnchor; attempts too",
        quiet: "ListTrustAnchors",
        on: &[
            ("rolesanywhere.amazonaws.com", "CreateTrustAnchor"),
            ("rolesanywhere.amazonaws.com", "UpdateTrustAnchor"),
        ],
        attempts: true,
        check: |ev| called(ev, &["name", "trustAnchorId"]),
    },
    Detection {
        kind: "Persistence:IAMUser/IdentityProviderChanged",
        tactic: Tactic::Persistence,
        attack: &["T1484.002"],
        severity: 3.0,
        title: "A SAML or OIDC identity provider was added or changed.",
        fires: "CreateSAMLProvider, UpdateSAMLProvider, CreateOpenIDConnectProvider, UpdateOpenIDConnectProviderThumbprint, AddClientIDToOpenIDConnectProvider",
        quiet: "DeleteSAMLProvider, ListSAMLProviders",
        on: &[
            (IAM, "CreateSAMLProvider"),
            (IAM, "UpdateSAMLProvider"),
            (IAM, "CreateOpenIDConnectProvider"),
            (IAM, "UpdateOpenIDConnectProviderThumbprint"),
            (IAM, "AddClientIDToOpenIDConnectProvider"),
        ],
        attempts: false,
        check: |ev| {
            called(
                ev,
                &["name", "sAMLProviderArn", "url", "openIDConnectProviderArn"],
            )
        },
    },
    Detection {
        kind: "Persistence:IAMUser/RootAccessKeyCreated",
        tactic: Tactic::Persistence,
        attack: &["T1098.001"],
        severity: 6.0,
        title: "The root user created an access key.",
        fires: "CreateAccessKey by the root user for itself; attempts too",
        quiet: "the root user creating a key for an IAM user (AccessKeyCreatedForAnotherUser)",
        on: &[(IAM, "CreateAccessKey")],
        attempts: true,
        check: root_key,
    },
    Detection {
        kind: "Persistence:Lambda/FunctionPermissionOpened",
        tactic: Tactic::Persistence,
        attack: &["T1546", "T1098"],
        severity: 8.0,
        title: "A function can be invoked from outside the organization.",
        fires: "AddPermission with principal `*` and no sourceArn / sourceAccount / principalOrgID (High), or an outside account (Medium); attempts too",
        quiet: "AddPermission for a service principal with a sourceArn, or for an organization account",
        on: &[(LAMBDA, "AddPermission")],
        attempts: true,
        check: function_permission,
    },
    Detection {
        kind: "Persistence:Lambda/LayerPermissionOpened",
        tactic: Tactic::Persistence,
        attack: &["T1546"],
        severity: 3.0,
        title: "A layer was shared outside the organization.",
        fires: "AddLayerVersionPermission with principal `*` and no organizationId, or an outside account",
        quiet: "AddLayerVersionPermission for an organization account or with an organizationId",
        on: &[(LAMBDA, "AddLayerVersionPermission")],
        attempts: false,
        check: layer_permission,
    },
    Detection {
        kind: "Persistence:Lambda/LayerFromOutsideAccount",
        tactic: Tactic::Persistence,
        attack: &["T1546", "T1525"],
        // Low: vendors (monitoring, AWS's own extensions) publish layers from their accounts.
        severity: 3.0,
        title: "A function runs a layer from outside the organization.",
        fires: "CreateFunction or UpdateFunctionConfiguration whose layers (in the request or the response) belong to an account outside the organization",
        quiet: "layers of the function's own account, or of an organization account",
        on: &[
            (LAMBDA, "CreateFunction"),
            (LAMBDA, "UpdateFunctionConfiguration"),
        ],
        attempts: false,
        check: foreign_layer,
    },
    Detection {
        kind: "Persistence:Lambda/FunctionCodeUpdated",
        tactic: Tactic::Persistence,
        attack: &["T1525"],
        severity: 2.0,
        title: "A function's code was replaced.",
        fires: "UpdateFunctionCode called directly (not through a deployment service such as CloudFormation)",
        quiet: "UpdateFunctionCode invoked by cloudformation.amazonaws.com; GetFunction",
        on: &[(LAMBDA, "UpdateFunctionCode")],
        attempts: false,
        check: code_updated,
    },
    Detection {
        kind: "Persistence:Lambda/FunctionUrlWithoutAuth",
        tactic: Tactic::Persistence,
        attack: &["T1546"],
        severity: 3.0,
        title: "A function got a URL anyone can call.",
        fires: "CreateFunctionUrlConfig or UpdateFunctionUrlConfig with authType NONE",
        quiet: "authType AWS_IAM",
        on: &[
            (LAMBDA, "CreateFunctionUrlConfig"),
            (LAMBDA, "UpdateFunctionUrlConfig"),
        ],
        attempts: false,
        check: public_url,
    },
];
