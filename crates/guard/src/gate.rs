//! Which records a Sigma rule set can match at all, told from fields the detectors have already
//! read — so that most records never reach the rules engine, nor have the rest of their fields
//! looked at for it.
//!
//! Each rule is read for a necessary condition on one field of [`View`]: its value (compared
//! as Sigma compares by default: case-insensitive) must equal, contain, start or end with one of
//! a set of literals. SigmaHQ's CloudTrail rules nearly all name `eventName` or `eventSource`
//! in every branch of their condition, so nearly all get one. A record that meets no rule's
//! condition cannot match any rule; every other record goes to rsigma, which decides. Rules
//! without such a condition (a `not` at the top, a regex, a wildcard…) make every record go.
//!
//! The gate only ever lets too much through: negations, unknown modifiers, non-plain values and
//! fields outside the view answer "no condition"; values with non-ASCII characters, which
//! Unicode case folding could make equal to a rule's literal, are always let through.

use std::collections::{HashMap, HashSet};

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaValue,
};

use crate::view::View;

/// The fields of [`View`] a gate can read, by their Sigma (record) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Field {
    EventName,
    EventSource,
    EventType,
    UserAgent,
    IdentityType,
    IdentityArn,
    ErrorCode,
    AwsRegion,
    SourceIp,
    RecipientAccount,
}

impl Field {
    fn named(name: &str) -> Option<Field> {
        Some(match name {
            "eventName" => Field::EventName,
            "eventSource" => Field::EventSource,
            "eventType" => Field::EventType,
            "userAgent" => Field::UserAgent,
            "userIdentity.type" => Field::IdentityType,
            "userIdentity.arn" => Field::IdentityArn,
            "errorCode" => Field::ErrorCode,
            "awsRegion" => Field::AwsRegion,
            "sourceIPAddress" => Field::SourceIp,
            "recipientAccountId" => Field::RecipientAccount,
            _ => return None,
        })
    }

    /// The record's value, or `None` when the view cannot answer for it.
    fn of<'v>(self, v: &View<'v>) -> Option<&'v str> {
        Some(match self {
            Field::EventName => v.event_name,
            Field::EventSource => v.event_source,
            Field::EventType => v.event_type,
            Field::UserAgent => v.user_agent,
            // Sigma's `userIdentity.type` finds a top-level key of that name first.
            Field::IdentityType | Field::IdentityArn if v.flat_identity => return None,
            Field::IdentityType => v.identity_type,
            Field::IdentityArn => v.identity_arn,
            Field::ErrorCode => v.error_code,
            Field::AwsRegion => v.aws_region,
            Field::SourceIp => v.source_ip,
            Field::RecipientAccount => v.recipient_account,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum How {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    /// A regular expression (case-sensitive, as Sigma's `re` is by default), which the gate
    /// runs itself.
    Regex,
}

impl How {
    fn of(modifiers: &[Modifier]) -> Option<How> {
        match modifiers {
            [] => Some(How::Equals),
            [Modifier::Contains] => Some(How::Contains),
            [Modifier::StartsWith] => Some(How::StartsWith),
            [Modifier::EndsWith] => Some(How::EndsWith),
            [Modifier::Re] => Some(How::Regex),
            _ => None,
        }
    }

    fn holds(self, value: &str, literal: &str) -> bool {
        match self {
            How::Equals => value == literal,
            How::Contains => value.contains(literal),
            How::StartsWith => value.starts_with(literal),
            How::EndsWith => value.ends_with(literal),
            How::Regex => false, // run in `Gate::admits`
        }
    }
}

/// A condition on one field, in one way: the lowercased literals, one of which must hold.
type Atom = (Field, How);
type Need = Option<HashSet<String>>;

/// Both of two conditions hold: for equality the value is in both sets; otherwise either set
/// alone is still necessary.
fn both(how: How, a: Need, b: Need) -> Need {
    match (a, b) {
        (Some(a), Some(b)) if how == How::Equals => Some(a.intersection(&b).cloned().collect()),
        (Some(a), Some(b)) => Some(if a.len() <= b.len() { a } else { b }),
        (a, None) => a,
        (None, b) => b,
    }
}

/// One of two conditions holds.
fn either(a: Need, b: Need) -> Need {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    Some(a)
}

fn item(i: &DetectionItem, atom: Atom) -> Need {
    let field = Field::named(i.field.name.as_deref()?)?;
    if (field, How::of(&i.field.modifiers)?) != atom || i.values.is_empty() {
        return None;
    }
    i.values
        .iter()
        .map(|v| match v {
            // The pattern as rsigma reads it.
            SigmaValue::String(s) if atom.1 == How::Regex => {
                Some(s.as_plain().unwrap_or_else(|| s.original.clone()))
            }
            SigmaValue::String(s) => s.as_plain().map(|p| p.to_lowercase()),
            _ => None,
        })
        .collect()
}

fn detection(d: &Detection, atom: Atom) -> Need {
    match d {
        Detection::AllOf(items) => items
            .iter()
            .fold(None, |acc, i| both(atom.1, acc, item(i, atom))),
        Detection::AnyOf(ds) => {
            let mut all = ds.iter().map(|d| detection(d, atom));
            let first = all.next()?;
            all.try_fold(first?, |acc, n| either(Some(acc), n))
        }
        _ => None,
    }
}

/// `*` as any run of characters; everything else literal.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn condition(rule: &SigmaRule, e: &ConditionExpr, atom: Atom) -> Need {
    let named = &rule.detection.named;
    match e {
        ConditionExpr::Identifier(id) => detection(named.get(id)?, atom),
        ConditionExpr::And(xs) => xs
            .iter()
            .fold(None, |acc, x| both(atom.1, acc, condition(rule, x, atom))),
        ConditionExpr::Or(xs) => {
            let mut all = xs.iter().map(|x| condition(rule, x, atom));
            let first = all.next()??;
            all.try_fold(first, |acc, n| either(Some(acc), n))
        }
        ConditionExpr::Not(_) => None,
        // One (or more) of them: whichever matched, it is among all the detections.
        ConditionExpr::Selector {
            quantifier: Quantifier::Any | Quantifier::Count(1..),
            ..
        } => {
            let mut all = named.values().map(|d| detection(d, atom));
            let first = all.next()??;
            all.try_fold(first, |acc, n| either(Some(acc), n))
        }
        // All of them: each detection the pattern surely names must match.
        ConditionExpr::Selector {
            quantifier: Quantifier::All,
            pattern,
        } => named
            .iter()
            .filter(|(name, _)| match pattern {
                SelectorPattern::Them => !name.starts_with('_'),
                SelectorPattern::Pattern(p) => glob(p, name),
            })
            .fold(None, |acc, (_, d)| both(atom.1, acc, detection(d, atom))),
        ConditionExpr::Selector { .. } => None,
    }
}

/// The condition `rule` sets on `atom`'s field: one of its conditions (any may match) each.
fn rule_need(rule: &SigmaRule, atom: Atom) -> Need {
    let mut all = rule
        .detection
        .conditions
        .iter()
        .map(|c| condition(rule, c, atom));
    let first = all.next()??;
    all.try_fold(first, |acc, n| either(Some(acc), n))
}

/// Every (field, way) a rule's detection items name.
fn atoms(rule: &SigmaRule) -> Vec<Atom> {
    fn walk(d: &Detection, out: &mut Vec<Atom>) {
        match d {
            Detection::AllOf(items) => out.extend(items.iter().filter_map(|i| {
                Some((
                    Field::named(i.field.name.as_deref()?)?,
                    How::of(&i.field.modifiers)?,
                ))
            })),
            Detection::AnyOf(ds) => ds.iter().for_each(|d| walk(d, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    rule.detection
        .named
        .values()
        .for_each(|d| walk(d, &mut out));
    out.sort();
    out.dedup();
    out
}

#[derive(Debug, Default)]
pub struct Gate {
    /// A rule without a condition here: every record goes to the engine.
    always: bool,
    equals: HashMap<Field, HashSet<String>>,
    partial: Vec<(Atom, String)>,
    patterns: Vec<(Field, regex::Regex)>,
    /// Rules that have a condition here (for the record).
    pub gated: usize,
}

impl Gate {
    pub fn new<'r>(rules: impl IntoIterator<Item = &'r SigmaRule>) -> Gate {
        let mut gate = Gate::default();
        for rule in rules {
            // Equality first, then the field most telling of a record (eventName before
            // eventSource: the order of `Field`), then the smallest set.
            let best = atoms(rule)
                .into_iter()
                .filter_map(|a| rule_need(rule, a).map(|n| (a, n)))
                .min_by_key(|((field, how), n)| (*how != How::Equals, *field, n.len()));
            match best {
                Some(((field, How::Equals), literals)) => {
                    gate.equals.entry(field).or_default().extend(literals);
                    gate.gated += 1;
                }
                Some(((field, How::Regex), patterns)) => {
                    let compiled: Result<Vec<_>, _> =
                        patterns.iter().map(|p| regex::Regex::new(p)).collect();
                    match compiled {
                        Ok(c) => {
                            gate.patterns.extend(c.into_iter().map(|r| (field, r)));
                            gate.gated += 1;
                        }
                        Err(_) => gate.always = true,
                    }
                }
                Some((atom, literals)) => {
                    gate.partial.extend(literals.into_iter().map(|l| (atom, l)));
                    gate.gated += 1;
                }
                None => gate.always = true,
            }
        }
        gate
    }

    /// Every record goes to the engine.
    pub fn open() -> Gate {
        Gate {
            always: true,
            ..Gate::default()
        }
    }

    /// Can any rule match this record?
    pub fn admits(&self, v: &View<'_>) -> bool {
        if self.always {
            return true;
        }
        let mut buf = String::new();
        for (field, literals) in &self.equals {
            match lowered(field.of(v), &mut buf) {
                None => return true,
                Some(value) if literals.contains(value) => return true,
                Some(_) => {}
            }
        }
        for ((field, how), literal) in &self.partial {
            match lowered(field.of(v), &mut buf) {
                None => return true,
                Some(value) if how.holds(value, literal) => return true,
                Some(_) => {}
            }
        }
        for (field, pattern) in &self.patterns {
            match field.of(v) {
                None => return true,
                Some(value) if pattern.is_match(value) => return true,
                Some(_) => {}
            }
        }
        false
    }
}

/// The value lowercased as Sigma folds it, or `None` when it cannot be told here (unknown, or
/// not ASCII).
fn lowered<'b>(value: Option<&str>, buf: &'b mut String) -> Option<&'b str> {
    let value = value?;
    if !value.is_ascii() {
        return None;
    }
    buf.clear();
    buf.push_str(value);
    buf.make_ascii_lowercase();
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsigma_parser::parse_sigma_yaml;

    fn gate(detection: &str) -> Gate {
        let text = format!(
            "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}"
        );
        let c = parse_sigma_yaml(&text).unwrap();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        Gate::new(&c.rules)
    }

    fn view<'a>(source: &'a str, name: &'a str) -> View<'a> {
        View {
            event_source: source,
            event_name: name,
            ..View::default()
        }
    }

    #[test]
    fn conditions_are_read_soundly() {
        let g = gate(
            "  sel:\n    eventSource: s3.amazonaws.com\n    eventName:\n      - PutBucketAcl\n      - PutBucketPolicy\n  condition: sel\n",
        );
        assert_eq!(g.gated, 1);
        assert!(g.admits(&view("s3.amazonaws.com", "putbucketacl")));
        assert!(
            g.admits(&view("x", "PutBucketPolicy")),
            "eventName is the one checked"
        );
        assert!(!g.admits(&view("s3.amazonaws.com", "GetObject")));
        // Unicode case folding could make this equal: let through.
        assert!(g.admits(&view("s3.amazonaws.com", "PutBucketAc\u{212A}")));

        // A negation sets no condition.
        assert!(gate("  sel:\n    eventName: A\n  condition: not sel\n").always);
        // Nor does a wildcard, a regex, or a field the view does not have.
        assert!(gate("  sel:\n    eventName: Delete*\n  condition: sel\n").always);
        assert!(gate("  sel:\n    eventName|re|i: ^A\n  condition: sel\n").always);
        let g =
            gate("  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel\n");
        let mut v = view("", "");
        v.identity_arn = "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1";
        assert!(g.admits(&v));
        v.identity_arn = "arn:aws:sts::1:assumed-role/app/s";
        assert!(!g.admits(&v));
        assert!(gate("  sel:\n    requestParameters.x: A\n  condition: sel\n").always);
        // `or` needs a condition on both sides.
        assert!(
            gate("  a:\n    eventName: A\n  b:\n    errorCode: X\n  condition: a or b\n").always
        );
        let g = gate("  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: a or b\n");
        assert!(g.admits(&view("", "b")) && !g.admits(&view("", "c")));
        // `and`, `and not`, `1 of`, `all of`.
        let g =
            gate("  a:\n    eventName: [A, B]\n  f:\n    eventName: B\n  condition: a and not f\n");
        assert!(
            g.admits(&view("", "B")),
            "the gate lets B through; rsigma decides"
        );
        let g = gate(
            "  sel_a:\n    eventName: A\n  sel_b:\n    errorCode: E\n  condition: 1 of sel_*\n",
        );
        assert!(g.always, "sel_b alone sets nothing on eventName");
        let g = gate(
            "  sel_a:\n    eventName: A\n  sel_b:\n    errorCode: E\n  condition: all of sel_*\n",
        );
        assert!(g.admits(&view("", "a")) && !g.admits(&view("", "b")));
        // A contains-condition.
        let g = gate("  sel:\n    userAgent|contains: TruffleHog\n  condition: sel\n");
        let mut v = view("", "");
        v.user_agent = "x trufflehog/3";
        assert!(g.admits(&v));
        v.user_agent = "aws-cli";
        assert!(!g.admits(&v));
        // Sigma's `userIdentity.type` may be a flat key: then the view cannot tell.
        let g = gate("  sel:\n    userIdentity.type: Root\n  condition: sel\n");
        let mut v = view("", "");
        v.identity_type = "IAMUser";
        assert!(!g.admits(&v));
        v.flat_identity = true;
        assert!(g.admits(&v));
    }

    #[test]
    fn globs() {
        assert!(glob("sel_*", "sel_a"));
        assert!(!glob("sel_*", "filter"));
        assert!(glob("*", "x"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(glob("abc", "abc") && !glob("abc", "abd"));
    }
}
