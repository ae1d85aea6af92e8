//! The catalogue: one file per ATT&CK tactic (or two close ones), each a list of [`Detection`]s
//! with the checks they run. Helpers every file uses are here.

mod access;
mod evasion;
mod exfiltration;
mod impact;
mod persistence;
mod privilege;

use std::sync::LazyLock;

use serde_json::Value;

use super::policy::{self, Cond, Principal};
use super::{Detection, Ev, Hit};

/// Every curated detection, by tactic in ATT&CK's order.
pub static ALL: LazyLock<Vec<&'static Detection>> = LazyLock::new(|| {
    let mut all: Vec<&'static Detection> = [
        access::LIST,
        persistence::LIST,
        privilege::LIST,
        evasion::LIST,
        exfiltration::LIST,
        impact::LIST,
    ]
    .into_iter()
    .flatten()
    .collect();
    all.sort_by_key(|d| d.tactic);
    all
});

/// The first non-empty request parameter among `keys`, as text.
fn param(ev: &Ev<'_, '_>, keys: &[&str]) -> String {
    keys.iter()
        .map(|k| ev.text(k))
        .find(|t| !t.is_empty())
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

/// "`who` called `name` on `target`." — for rules where the call itself is the signal.
fn called(ev: &Ev<'_, '_>, keys: &[&str]) -> Option<Hit> {
    let target = param(ev, keys);
    let on = if target.is_empty() {
        String::new()
    } else {
        format!(" on {target:?}")
    };
    Some(Hit::new(
        format!(
            "{} called {}{on} ({}).",
            ev.who(),
            ev.name,
            ev.r.event_source
        ),
        target,
    ))
}

/// The IAM user a request names (`userName`), when it is not the caller.
fn someone_else(ev: &Ev<'_, '_>) -> Option<String> {
    let user = ev.text("userName");
    if user.is_empty() {
        // No user named: the caller's own (an IAM user's keys, profile…). For a role or root
        // that means the root or the role itself, never another user.
        return None;
    }
    let caller = ev.caller();
    (ev.r.identity_type != "IAMUser" || caller != user).then(|| user.into_owned())
}

/// What a resource policy opens, as a Hit at `anyone` (`*` without a condition) or `outside`
/// (an account outside the organization without a condition) severity.
fn opened(
    ev: &Ev<'_, '_>,
    doc: &Value,
    what: &str,
    target: String,
    anyone: f64,
    outside: f64,
) -> Option<Hit> {
    let doc = policy::document(doc)?;
    let mut strangers: Vec<String> = Vec::new();
    let mut public = false;
    for (p, conditioned) in policy::principals(&doc) {
        match p {
            Principal::Anyone if conditioned != Cond::Scoping => public = true,
            Principal::Account(a)
                if conditioned == Cond::None && ev.outside(&a) && !strangers.contains(&a) =>
            {
                strangers.push(a)
            }
            _ => {}
        }
    }
    if public {
        Some(
            Hit::new(
                format!(
                    "{} set the policy of {what} {target:?} to allow any principal (\"*\") without a condition on who.",
                    ev.who()
                ),
                target,
            )
            .at(anyone),
        )
    } else if !strangers.is_empty() {
        Some(
            Hit::outside(
                format!(
                    "{} set the policy of {what} {target:?} to allow account(s) {} outside the organization{}.",
                    ev.who(),
                    strangers.join(", "),
                    ev.outside_hint()
                ),
                target,
            )
            .at(outside),
        )
    } else {
        None
    }
}

/// A request for one principal (`principal` field: `*`, an account, an ARN, a service).
fn principal_opened(ev: &Ev<'_, '_>, what: &str, target: String) -> Option<Hit> {
    let p = ev.text("principal");
    let scoped = [
        "sourceArn",
        "sourceAccount",
        "principalOrgID",
        "organizationId",
    ]
    .iter()
    .any(|k| !ev.text(k).is_empty());
    if p.trim() == "*" && !scoped {
        return Some(Hit::new(
            format!(
                "{} let any principal (\"*\") use {what} {target:?}, with no source or organization condition.",
                ev.who()
            ),
            target,
        ));
    }
    let account = policy::account_of(&p)?;
    ev.outside(account).then(|| {
        Hit::outside(
            format!(
                "{} let account {account}, outside the organization{}, use {what} {target:?}.",
                ev.who(),
                ev.outside_hint()
            ),
            target,
        )
        .at(6.0)
    })
}
