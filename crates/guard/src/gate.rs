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

use std::collections::HashSet;

use regex_syntax::hir::HirKind;
use rustc_hash::FxHashMap as HashMap;

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

/// The literals one field must equal, each with the rules that need it.
#[derive(Debug, Default)]
struct Equals {
    /// ASCII literals (lowercase) with their rules, by [`folded_hash`]: a record's value is
    /// looked up without a lowercased copy of it.
    by_hash: HashMap<u64, Vec<(String, Vec<usize>)>>,
    /// Every rule with a literal here (for values the gate cannot tell about).
    every: Vec<usize>,
    /// Lengths outside these cannot be equal to any literal.
    shortest: usize,
    longest: usize,
}

/// Longest value lowercased on the stack; longer values are let through (or, for equality, are
/// longer than every literal).
const STACK: usize = 128;

#[derive(Debug, Default)]
pub struct Gate {
    /// Rules without a condition here: every record goes to them.
    always: Vec<usize>,
    equals: Vec<(Field, Equals)>,
    partial: Vec<(Atom, String, usize)>,
    patterns: Vec<(Field, Pattern, usize)>,
    /// Rules that have a condition here (for the record).
    pub gated: usize,
}

impl Gate {
    /// The gate of `rules`, which the rules are known by their index in.
    pub fn new<'r>(rules: impl IntoIterator<Item = &'r SigmaRule>) -> Gate {
        let mut gate = Gate::default();
        for (i, rule) in rules.into_iter().enumerate() {
            // Equality first, then the field most telling of a record (eventName before
            // eventSource: the order of `Field`), then the smallest set.
            let best = atoms(rule)
                .into_iter()
                .filter_map(|a| rule_need(rule, a).map(|n| (a, n)))
                .min_by_key(|((field, how), n)| (*how != How::Equals, *field, n.len()));
            match best {
                Some(((field, How::Equals), literals)) => {
                    let at = match gate.equals.iter().position(|(f, _)| *f == field) {
                        Some(at) => at,
                        None => {
                            let empty = Equals {
                                shortest: usize::MAX,
                                ..Equals::default()
                            };
                            gate.equals.push((field, empty));
                            gate.equals.len() - 1
                        }
                    };
                    let e = &mut gate.equals[at].1;
                    for l in literals {
                        e.shortest = e.shortest.min(l.len());
                        e.longest = e.longest.max(l.len());
                        // A literal that is not ASCII (lowercased) equals no ASCII value, and
                        // values that are not ASCII go to every rule anyway.
                        if let Some(h) = folded_hash(l.as_bytes()) {
                            let same = e.by_hash.entry(h).or_default();
                            match same.iter_mut().find(|(x, _)| *x == l) {
                                Some((_, rules)) => rules.push(i),
                                None => same.push((l, vec![i])),
                            }
                        }
                    }
                    e.every.push(i);
                    gate.gated += 1;
                }
                Some(((field, How::Regex), patterns)) => {
                    let compiled: Result<Vec<_>, _> =
                        patterns.iter().map(|p| Pattern::new(p)).collect();
                    match compiled {
                        Ok(c) => {
                            gate.patterns.extend(c.into_iter().map(|r| (field, r, i)));
                            gate.gated += 1;
                        }
                        Err(_) => gate.always.push(i),
                    }
                }
                Some((atom, literals)) => {
                    gate.partial
                        .extend(literals.into_iter().map(|l| (atom, l, i)));
                    gate.gated += 1;
                }
                None => gate.always.push(i),
            }
        }
        gate
    }

    /// The rules that can match this record, in order (usually none).
    pub fn rules(&self, v: &View<'_>) -> Vec<usize> {
        let mut out = self.always.clone();
        let mut buf = [0u8; STACK];
        for (field, e) in &self.equals {
            let Some(value) = field.of(v) else {
                out.extend(&e.every);
                continue;
            };
            // Folding turns no character into less than a quarter of its bytes.
            if value.len() > 4 * e.longest {
                continue;
            }
            let Some(h) = folded_hash(value.as_bytes()) else {
                out.extend(&e.every); // not ASCII
                continue;
            };
            // ASCII folds to the same length.
            if value.len() < e.shortest || value.len() > e.longest {
                continue;
            }
            for (literal, rules) in e.by_hash.get(&h).into_iter().flatten() {
                if literal.as_bytes().eq_ignore_ascii_case(value.as_bytes()) {
                    out.extend(rules);
                }
            }
        }
        for ((field, how), literal, rule) in &self.partial {
            let holds = field
                .of(v)
                .and_then(|value| {
                    let mut long = String::new();
                    let value = if value.len() <= STACK {
                        lowered(value, &mut buf)?
                    } else {
                        long.push_str(value);
                        long.make_ascii_lowercase();
                        value.is_ascii().then_some(long.as_str())?
                    };
                    Some(how.holds(value, literal))
                })
                .unwrap_or(true);
            if holds {
                out.push(*rule);
            }
        }
        for (field, pattern, rule) in &self.patterns {
            if field.of(v).is_none_or(|value| pattern.is_match(value)) {
                out.push(*rule);
            }
        }
        if !out.is_empty() {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// Can any rule match this record?
    pub fn admits(&self, v: &View<'_>) -> bool {
        !self.rules(v).is_empty()
    }
}

/// A rule's regular expression, with a literal every match contains (searched for first: the
/// regex engine found no prefix to search for in `.+:assumed-role/aws:.+`).
#[derive(Debug)]
struct Pattern {
    regex: regex::Regex,
    needle: Option<memchr::memmem::Finder<'static>>,
}

impl Pattern {
    fn new(source: &str) -> Result<Pattern, regex::Error> {
        let regex = regex::Regex::new(source)?;
        let needle = regex_syntax::parse(source).ok().and_then(|hir| {
            let pieces = match hir.kind() {
                HirKind::Concat(parts) => parts.as_slice(),
                _ => std::slice::from_ref(&hir),
            };
            pieces
                .iter()
                .filter_map(|p| match p.kind() {
                    HirKind::Literal(l) => Some(&l.0),
                    _ => None,
                })
                .max_by_key(|l| l.len())
                .filter(|l| l.len() >= 3)
                .map(|l| memchr::memmem::Finder::new(l).into_owned())
        });
        Ok(Pattern { regex, needle })
    }

    fn is_match(&self, value: &str) -> bool {
        self.needle
            .as_ref()
            .is_none_or(|n| n.find(value.as_bytes()).is_some())
            && self.regex.is_match(value)
    }
}

/// A hash of the text with ASCII letters folded to lowercase (equal for any two texts that are
/// equal ignoring ASCII case), 8 bytes at a time; `None` when the text is not ASCII.
fn folded_hash(text: &[u8]) -> Option<u64> {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    const CASE: u64 = 0x2020_2020_2020_2020;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ (w | CASE)).wrapping_mul(SEED);
    let mut h = text.len() as u64;
    let mut bits = 0u64;
    let mut words = text.chunks_exact(8);
    for w in &mut words {
        let w = w.try_into().map_or(0, u64::from_le_bytes);
        bits |= w;
        h = mix(h, w);
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    let w = u64::from_le_bytes(last);
    bits |= w;
    h = mix(h, w);
    (bits & 0x8080_8080_8080_8080 == 0).then_some(h)
}

/// The value lowercased as Sigma folds it, or `None` when it cannot be told here (not ASCII,
/// which Unicode folding could make equal to a literal, or longer than the buffer).
fn lowered<'b>(value: &str, buf: &'b mut [u8; STACK]) -> Option<&'b str> {
    if value.len() > STACK || !value.is_ascii() {
        return None;
    }
    let b = &mut buf[..value.len()];
    for (l, c) in b.iter_mut().zip(value.as_bytes()) {
        *l = c.to_ascii_lowercase();
    }
    std::str::from_utf8(b).ok()
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

    fn always(g: Gate) -> bool {
        g.gated == 0 && g.rules(&View::default()) == [0]
    }

    fn view<'a>(source: &'a str, name: &'a str) -> View<'a> {
        View {
            event_source: source,
            event_name: name,
            ..View::default()
        }
    }

    #[test]
    fn the_folded_hash_ignores_ascii_case_only() {
        let h = |s: &str| folded_hash(s.as_bytes());
        assert_eq!(h("ConsoleLogin"), h("consolelogin"));
        assert_eq!(
            h("PutBucketPublicAccessBlock"),
            h("putbucketpublicaccessblock")
        );
        assert_ne!(h("ConsoleLogin"), h("ConsoleLogin2"));
        assert_ne!(h("abcdefgh"), h("abcdefgh\0"), "the length counts");
        assert_eq!(h("K\u{212A}"), None, "not ASCII");
        assert!(h("").is_some());
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
        assert!(always(gate(
            "  sel:\n    eventName: A\n  condition: not sel\n"
        )));
        // Nor does a wildcard, a regex with flags, or a field the view does not have.
        assert!(always(gate(
            "  sel:\n    eventName: Delete*\n  condition: sel\n"
        )));
        assert!(always(gate(
            "  sel:\n    eventName|re|i: ^A\n  condition: sel\n"
        )));
        let g =
            gate("  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel\n");
        let mut v = view("", "");
        v.identity_arn = "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1";
        assert!(g.admits(&v));
        v.identity_arn = "arn:aws:sts::1:assumed-role/app/s";
        assert!(!g.admits(&v));
        assert!(always(gate(
            "  sel:\n    requestParameters.x: A\n  condition: sel\n"
        )));
        // `or` needs a condition on both sides.
        assert!(always(gate(
            "  a:\n    eventName: A\n  b:\n    errorCode: X\n  condition: a or b\n"
        )));
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
        assert!(always(g), "sel_b alone sets nothing on eventName");
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

    /// Records go to the rules that can match them, not to the others.
    #[test]
    fn records_go_to_their_rules() {
        let text = "title: a\nlogsource:\n  product: aws\ndetection:\n  s:\n    eventName: [A, B]\n  condition: s\n---\ntitle: b\nlogsource:\n  product: aws\ndetection:\n  s:\n    eventName: B\n  condition: s\n---\ntitle: c\nlogsource:\n  product: aws\ndetection:\n  s:\n    eventName: C\n  condition: not s\n";
        let c = parse_sigma_yaml(text).unwrap();
        let g = Gate::new(&c.rules);
        assert_eq!(g.gated, 2);
        assert_eq!(g.rules(&view("", "a")), [0, 2]);
        assert_eq!(g.rules(&view("", "B")), [0, 1, 2]);
        assert_eq!(g.rules(&view("", "x")), [2]);
        assert_eq!(g.rules(&view("", "\u{212A}")), [0, 1, 2], "not ASCII: all");
    }

    #[test]
    fn patterns_search_their_literal_first() {
        let p = Pattern::new(".+:assumed-role/aws:.+").unwrap();
        assert!(p.needle.is_some());
        assert!(p.is_match("arn:aws:sts::1:assumed-role/aws:x/y"));
        assert!(!p.is_match(":assumed-role/aws:"), "the regex still decides");
        assert!(!p.is_match("arn:aws:iam::1:user/u"));
        for source in ["(?i)abcdef", "abc|def", "a.c"] {
            assert!(Pattern::new(source).unwrap().needle.is_none(), "{source}");
        }
        assert!(Pattern::new("(?i)ABC").unwrap().is_match("xabcx"));
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
