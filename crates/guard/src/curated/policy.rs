//! Reading what attackers write into requests: policy documents (objects, JSON text, URL-encoded
//! JSON text), principals and the accounts they name, CIDRs open to everyone, and the accounts a
//! share adds. Everything here takes hostile input: nothing panics, nothing recurses without a
//! bound.

use std::borrow::Cow;

use serde_json::Value;

/// How deep [`walk`] goes into a request (CloudTrail nests a few levels; attackers may nest more).
const MAX_DEPTH: usize = 32;

/// A value as text: strings as they are, numbers and booleans written out, nothing otherwise.
pub fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Owned(b.to_string()),
        _ => Cow::Borrowed(""),
    }
}

/// A truthy flag as CloudTrail writes it (`true`, `"true"`, `"True"`).
pub fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A policy document, however it was written: an object, JSON text, or URL-encoded JSON text.
pub fn document(v: &Value) -> Option<Value> {
    match v {
        Value::Object(_) => Some(v.clone()),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(s) {
                return Some(doc);
            }
            if s.contains('%') {
                let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
                if let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(&decoded) {
                    return Some(doc);
                }
            }
            None
        }
        _ => None,
    }
}

/// A field that may be one value or a list of them, as a list.
pub fn many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        v => vec![v],
    }
}

/// A policy's statements (one or a list).
pub fn statements(doc: &Value) -> Vec<&Value> {
    many(&doc["Statement"])
}

fn allows(st: &Value) -> bool {
    text(&st["Effect"]).eq_ignore_ascii_case("allow")
}

fn has(st: &Value, key: &str, pred: impl Fn(&str) -> bool) -> bool {
    many(&st[key]).iter().any(|v| pred(&text(v)))
}

/// Does the document allow every action (`*`, `*:*`) or all of IAM (`iam:*`) on every resource,
/// or everything but a few actions (`NotAction`) on every resource?
pub fn grants_admin(doc: &Value) -> bool {
    statements(doc).iter().any(|st| {
        allows(st)
            && has(st, "Resource", |r| r == "*")
            && (has(st, "Action", |a| {
                matches!(a, "*" | "*:*") || a.eq_ignore_ascii_case("iam:*")
            }) || !st["NotAction"].is_null())
    })
}

/// AWS managed policies that grant administration (or the means to take it).
pub fn is_admin_policy(arn: &str) -> bool {
    let name = arn.rsplit('/').next().unwrap_or("");
    arn.contains(":policy/")
        && matches!(
            name,
            "AdministratorAccess" | "IAMFullAccess" | "AWSOrganizationsFullAccess"
        )
}

/// Someone a policy statement lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `*`: anyone, any account, or no account at all.
    Anyone,
    /// An AWS account (its id), from an id, a root ARN or a user or role ARN.
    Account(String),
    /// An AWS service, a federated provider or something else that is not an account.
    Other(String),
}

/// The account an id or ARN names: `123456789012`, `arn:aws:iam::123456789012:root`,
/// `arn:aws:lambda:us-east-1:123456789012:layer:x:1`.
pub fn account_of(s: &str) -> Option<&str> {
    let s = s.trim();
    let is_id = |t: &str| t.len() == 12 && t.bytes().all(|b| b.is_ascii_digit());
    if is_id(s) {
        return Some(s);
    }
    if s.starts_with("arn:") {
        let account = s.split(':').nth(4)?;
        return is_id(account).then_some(account);
    }
    None
}

/// A statement's condition, as far as who may use it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    None,
    /// A condition that does not say who (sts:ExternalId, MFA, time): `*` stays anyone.
    Other,
    /// A condition on the caller's organization, account, ARN, source or network.
    Scoping,
}

/// Condition keys that narrow who can use a statement.
const SCOPING_KEYS: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:userid",
    "aws:username",
    "aws:principalservicename",
    "kms:calleraccount",
    "kms:viaservice",
    "lambda:functionarn",
];

fn condition(st: &Value) -> Cond {
    let Some(c) = st["Condition"].as_object().filter(|c| !c.is_empty()) else {
        return Cond::None;
    };
    let scoping = c.values().any(|op| {
        op.as_object().is_some_and(|keys| {
            keys.keys()
                .any(|k| SCOPING_KEYS.contains(&k.to_ascii_lowercase().as_str()))
        })
    });
    if scoping { Cond::Scoping } else { Cond::Other }
}

/// Who each allowing statement lets in, with the statement's condition.
pub fn principals(doc: &Value) -> Vec<(Principal, Cond)> {
    let mut out = Vec::new();
    for st in statements(doc) {
        if !allows(st) {
            continue;
        }
        principals_of(&st["Principal"], condition(st), &mut out);
    }
    out
}

/// The principals one `Principal` field names (`"*"`, `{"AWS": …}`, `{"Service": …}`).
pub fn principals_of(p: &Value, conditioned: Cond, out: &mut Vec<(Principal, Cond)>) {
    match p {
        Value::String(s) => out.push((principal(s), conditioned)),
        Value::Object(m) => {
            for (kind, v) in m {
                for x in many(v) {
                    let x = text(x);
                    let who = if kind == "AWS" {
                        principal(&x)
                    } else {
                        Principal::Other(x.into_owned())
                    };
                    out.push((who, conditioned));
                }
            }
        }
        _ => {}
    }
}

fn principal(s: &str) -> Principal {
    if s.trim() == "*" {
        Principal::Anyone
    } else if let Some(a) = account_of(s) {
        Principal::Account(a.to_string())
    } else {
        Principal::Other(s.to_string())
    }
}

/// Is this a CIDR that admits everyone (`0.0.0.0/0`, `::/0`, or any `a.b.c.d/0`)?
pub fn is_world(cidr: &str) -> bool {
    cidr.trim().ends_with("/0")
}

/// Calls `f` on every (key, value) pair anywhere in `v`, to a bounded depth.
pub fn walk<'v>(v: &'v Value, f: &mut impl FnMut(&'v str, &'v Value)) {
    fn go<'v>(v: &'v Value, depth: usize, f: &mut impl FnMut(&'v str, &'v Value)) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    f(k, x);
                    go(x, depth + 1, f);
                }
            }
            Value::Array(a) => {
                for x in a {
                    go(x, depth + 1, f);
                }
            }
            _ => {}
        }
    }
    go(v, 0, f)
}

/// What a share request adds: accounts, and whether it adds everyone (`group: all`, `all`).
/// Reads EC2's `{"add": {"items": [{"userId": …} | {"group": "all"}]}}` and RDS's
/// `valuesToAdd: [...]`.
pub fn shares(params: &Value) -> (Vec<String>, bool) {
    let (mut accounts, mut public) = (Vec::new(), false);
    let mut note = |s: &str| {
        if s.eq_ignore_ascii_case("all") {
            public = true;
        } else if let Some(a) = account_of(s) {
            accounts.push(a.to_string());
        }
    };
    walk(params, &mut |k, v| match k {
        "add" | "Add" => walk(v, &mut |k, v| {
            if matches!(k, "userId" | "UserId" | "group" | "Group") {
                note(&text(v));
            }
        }),
        "valuesToAdd" | "ValuesToAdd" => {
            for x in many(v) {
                note(&text(x));
            }
        }
        _ => {}
    });
    (accounts, public)
}

/// The ports a security-group permission opens (`-1` protocol: all of them).
pub fn port_range(perm: &Value) -> Option<(u32, u32)> {
    let proto = text(&perm["ipProtocol"]);
    if proto == "-1" || proto.eq_ignore_ascii_case("all") {
        return Some((0, 65535));
    }
    let from = text(&perm["fromPort"]).parse::<i64>().ok()?;
    let to = text(&perm["toPort"]).parse::<i64>().ok().unwrap_or(from);
    if from < 0 || to < 0 {
        return Some((0, 65535));
    }
    Some((from.min(65535) as u32, to.min(65535) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_read_however_written() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let text = doc.to_string();
        let encoded: String =
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        for v in [doc.clone(), json!(text), json!(encoded)] {
            assert!(grants_admin(&document(&v).unwrap()), "{v}");
        }
        assert!(document(&json!("%7Bnot json")).is_none());
        assert!(document(&json!(42)).is_none());
        let narrow =
            json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}});
        assert!(!grants_admin(&narrow));
        let denied = json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}});
        assert!(!grants_admin(&denied));
    }

    #[test]
    fn principals_and_accounts() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999988887777:root", "123456789012"]}},
            {"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}},
            {"Effect": "Deny", "Principal": "*"}
        ]});
        assert_eq!(
            principals(&doc),
            vec![
                (Principal::Account("999988887777".into()), Cond::None),
                (Principal::Account("123456789012".into()), Cond::None),
                (Principal::Anyone, Cond::Scoping),
                (Principal::Other("ec2.amazonaws.com".into()), Cond::None),
            ]
        );
        assert_eq!(
            account_of("arn:aws:lambda:us-east-1:123456789012:layer:x:1"),
            Some("123456789012")
        );
        assert_eq!(
            account_of("arn:aws:iam::aws:policy/AdministratorAccess"),
            None
        );
        assert_eq!(account_of("12345678901"), None);
        let external_id = json!({"Statement": {"Effect": "Allow", "Principal": "*",
            "Condition": {"StringEquals": {"sts:ExternalId": "12345"}}}});
        assert_eq!(
            principals(&external_id),
            vec![(Principal::Anyone, Cond::Other)]
        );
    }

    #[test]
    fn shares_and_cidrs() {
        let ec2 =
            json!({"createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}}});
        assert_eq!(shares(&ec2), (vec!["999988887777".to_string()], false));
        let public =
            json!({"launchPermission": {"add": {"items": [{"group": "all"}]}, "remove": {}}});
        assert_eq!(shares(&public), (vec![], true));
        let rds = json!({"attributeName": "restore", "valuesToAdd": ["all", "999988887777"]});
        assert_eq!(shares(&rds), (vec!["999988887777".to_string()], true));
        let removed =
            json!({"createVolumePermission": {"remove": {"items": [{"userId": "999988887777"}]}}});
        assert_eq!(shares(&removed), (vec![], false));
        assert!(is_world("0.0.0.0/0") && is_world("::/0") && is_world("10.1.2.3/0"));
        assert!(!is_world("10.0.0.0/8"));
        assert_eq!(
            port_range(&json!({"ipProtocol": "tcp", "fromPort": 22, "toPort": 22})),
            Some((22, 22))
        );
        assert_eq!(port_range(&json!({"ipProtocol": "-1"})), Some((0, 65535)));
        assert_eq!(
            port_range(&json!({"ipProtocol": "tcp", "fromPort": "3389"})),
            Some((3389, 3389))
        );
    }
}
