//! What the audit-event detectors read of a record, borrowed: built from the typed history
//! record (on the server), from a `serde_json::Value` (when Sigma rules need the JSON anyway), or
//! parsed straight from the record's text with only these fields (the offline hunt's fast path:
//! a full typed parse cost three quarters of the hunt).

use std::borrow::Cow;

use mamori_trail::model::{Field, Record};
use serde::Deserialize;

use crate::lazy::LazyEvent;
use mamori_trail::scan::{Scan, ScanError, opt_str};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Debug, Default, Clone)]
pub struct View<'a> {
    pub event_source: &'a str,
    pub event_name: &'a str,
    pub event_time: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub aws_region: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub error_code: &'a str,
    pub recipient_account: &'a str,
    /// Set when the call came through a VPC endpoint (its source address is then private).
    pub vpc_endpoint_id: &'a str,
    pub read_only: Option<bool>,
    pub identity_type: &'a str,
    pub principal_id: &'a str,
    pub identity_arn: &'a str,
    pub access_key_id: &'a str,
    pub user_name: &'a str,
    pub identity_account: &'a str,
    pub invoked_by: &'a str,
    /// The session issuer's user name (roles), when `user_name` is empty.
    pub issuer_user_name: &'a str,
    /// Only where a detector needs them ([`needs_parameters`]); `Null` otherwise.
    pub request_parameters: Cow<'a, Value>,
    /// `responseElements`, on the same events as `request_parameters`; `Null` otherwise.
    pub response_elements: Cow<'a, Value>,
    /// `additionalEventData`, on the same events; `Null` otherwise.
    pub additional_event_data: Cow<'a, Value>,
    /// The record may have a top-level key such as `userIdentity.type`, which Sigma's dotted
    /// paths find before the nested field (true when not known).
    pub flat_identity: bool,
}

fn flat_identity_key(key: &str) -> bool {
    key.starts_with("userIdentity.") || key.starts_with("userIdentity[")
}

/// Are this event's request parameters (and response elements, additional event data) read by
/// a detector? (Parsing them for every event cost a tenth of the hunt.)
pub fn needs_parameters(event_source: &str, event_name: &str) -> bool {
    crate::curated::reads(event_source, event_name) || foundational_reads(event_source, event_name)
}

/// Are this event's response elements and additional event data read (a few events only: the
/// console sign-in's result and MFA, a function's layers, an object's customer key)?
pub fn needs_response(event_source: &str, event_name: &str) -> bool {
    matches!(
        (event_source, crate::curated::base_name(event_name)),
        ("signin.amazonaws.com", "ConsoleLogin")
            | (
                "lambda.amazonaws.com",
                "UpdateFunctionConfiguration" | "CreateFunction"
            )
            | ("s3.amazonaws.com", "PutObject" | "CopyObject")
    )
}

/// The foundational detectors' part of [`needs_parameters`].
fn foundational_reads(event_source: &str, event_name: &str) -> bool {
    match event_source {
        "s3.amazonaws.com" => matches!(
            event_name,
            "PutBucketPublicAccessBlock"
                | "PutAccountPublicAccessBlock"
                | "PutBucketAcl"
                | "CreateBucket"
                | "PutBucketPolicy"
                | "PutBucketLogging"
        ),
        "cloudtrail.amazonaws.com" | "mamori.trail" => {
            matches!(event_name, "StopLogging" | "DeleteTrail")
        }
        _ => false,
    }
}

fn f(x: &Field<String>) -> &str {
    x.get().map(String::as_str).unwrap_or("")
}

impl<'a> View<'a> {
    pub fn from_record(r: &'a Record) -> View<'a> {
        let u = r.user_identity.get();
        let uf = |g: fn(&'a mamori_trail::model::UserIdentity) -> &'a Field<String>| {
            u.map(|u| f(g(u))).unwrap_or("")
        };
        View {
            event_source: f(&r.event_source),
            event_name: f(&r.event_name),
            event_time: f(&r.event_time),
            event_id: f(&r.event_id),
            event_type: f(&r.event_type),
            aws_region: f(&r.aws_region),
            source_ip: f(&r.source_ip_address),
            user_agent: f(&r.user_agent),
            error_code: f(&r.error_code),
            recipient_account: f(&r.recipient_account_id),
            vpc_endpoint_id: f(&r.vpc_endpoint_id),
            read_only: r.read_only.get().and_then(|x| x.value()),
            identity_type: uf(|u| &u.identity_type),
            principal_id: uf(|u| &u.principal_id),
            identity_arn: uf(|u| &u.arn),
            access_key_id: uf(|u| &u.access_key_id),
            user_name: uf(|u| &u.user_name),
            identity_account: uf(|u| &u.account_id),
            invoked_by: uf(|u| &u.invoked_by),
            issuer_user_name: u
                .and_then(|u| u.session_context.get())
                .and_then(|c| c.session_issuer.get())
                .map(|i| f(&i.user_name))
                .unwrap_or(""),
            request_parameters: Cow::Borrowed(r.request_parameters.get().unwrap_or(&Value::Null)),
            response_elements: Cow::Borrowed(r.response_elements.get().unwrap_or(&Value::Null)),
            additional_event_data: Cow::Borrowed(
                r.additional_event_data.get().unwrap_or(&Value::Null),
            ),
            flat_identity: r.other.keys().any(|k| flat_identity_key(k)),
        }
    }

    pub fn from_value(v: &'a Value) -> View<'a> {
        let s = |x: &'a Value| x.as_str().unwrap_or("");
        let u = &v["userIdentity"];
        View {
            event_source: s(&v["eventSource"]),
            event_name: s(&v["eventName"]),
            event_time: s(&v["eventTime"]),
            event_id: s(&v["eventID"]),
            event_type: s(&v["eventType"]),
            aws_region: s(&v["awsRegion"]),
            source_ip: s(&v["sourceIPAddress"]),
            user_agent: s(&v["userAgent"]),
            error_code: s(&v["errorCode"]),
            recipient_account: s(&v["recipientAccountId"]),
            vpc_endpoint_id: s(&v["vpcEndpointId"]),
            read_only: flag(&v["readOnly"]),
            identity_type: s(&u["type"]),
            principal_id: s(&u["principalId"]),
            identity_arn: s(&u["arn"]),
            access_key_id: s(&u["accessKeyId"]),
            user_name: s(&u["userName"]),
            identity_account: s(&u["accountId"]),
            invoked_by: s(&u["invokedBy"]),
            issuer_user_name: s(&u["sessionContext"]["sessionIssuer"]["userName"]),
            request_parameters: Cow::Borrowed(&v["requestParameters"]),
            response_elements: Cow::Borrowed(&v["responseElements"]),
            additional_event_data: Cow::Borrowed(&v["additionalEventData"]),
            flat_identity: v
                .as_object()
                .is_none_or(|o| o.keys().any(|k| flat_identity_key(k))),
        }
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(t) if t.eq_ignore_ascii_case("true") => Some(true),
        Value::String(t) if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

type Text<'a> = Option<Cow<'a, str>>;

/// A record's members as the scanner found them: key, and the value's JSON text.
pub type Members<'a> = Vec<(Cow<'a, str>, &'a str)>;

/// `readOnly` as CloudTrail writes it (a boolean) or as some producers do (`"true"`); anything
/// else is unknown.
#[derive(Default)]
struct Flag(Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Flag, E> {
                Ok(Flag(Some(b)))
            }
            fn visit_str<E>(self, t: &str) -> Result<Flag, E> {
                Ok(Flag(if t.eq_ignore_ascii_case("true") {
                    Some(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Some(false)
                } else {
                    None
                }))
            }
            fn visit_unit<E>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A repeated field is refused, as serde's derive refuses it.
fn once(seen: &mut u32, bit: u32, s: &Scan<'_>) -> Result<(), ScanError> {
    if *seen & (1 << bit) != 0 {
        return Err(ScanError {
            at: s.pos(),
            what: "duplicate field",
        });
    }
    *seen |= 1 << bit;
    Ok(())
}

/// A string (or `null`) at the scanner.
fn text_at<'a>(s: &mut Scan<'a>) -> Result<Text<'a>, ScanError> {
    s.opt_str()
}

/// An object (or `null`) at the scanner into `slot`, its members read by `member`. (Filled in
/// place: returning the struct moved it, and the record holding it, a few times over.)
fn nested<'a, T: Default>(
    s: &mut Scan<'a>,
    slot: &mut Option<T>,
    mut member: impl FnMut(&mut T, &mut Scan<'a>, &str, &mut u32) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    match s.peek() {
        Some(b'{') => {
            let t = slot.insert(T::default());
            let mut seen = 0u32;
            s.object_with(|s, key| member(t, s, &key, &mut seen))
        }
        Some(b'n') => {
            *slot = None;
            s.value().map(drop)
        }
        _ => Err(ScanError {
            at: s.pos(),
            what: "expected an object",
        }),
    }
}

fn text<'s>(x: &'s Text<'_>) -> &'s str {
    x.as_deref().unwrap_or("")
}

#[derive(Deserialize, Default)]
struct LiteIssuer<'a> {
    #[serde(borrow, rename = "userName", default)]
    user_name: Text<'a>,
}

#[derive(Deserialize, Default)]
struct LiteContext<'a> {
    #[serde(borrow, rename = "sessionIssuer", default)]
    session_issuer: Option<LiteIssuer<'a>>,
}

#[derive(Deserialize, Default)]
struct LiteIdentity<'a> {
    #[serde(borrow, rename = "type", default)]
    identity_type: Text<'a>,
    #[serde(borrow, rename = "principalId", default)]
    principal_id: Text<'a>,
    #[serde(borrow, default)]
    arn: Text<'a>,
    #[serde(borrow, rename = "accessKeyId", default)]
    access_key_id: Text<'a>,
    #[serde(borrow, rename = "userName", default)]
    user_name: Text<'a>,
    #[serde(borrow, rename = "accountId", default)]
    account_id: Text<'a>,
    #[serde(borrow, rename = "invokedBy", default)]
    invoked_by: Text<'a>,
    #[serde(borrow, rename = "sessionContext", default)]
    session_context: Option<LiteContext<'a>>,
}

/// A record parsed for detection only: the fields above, borrowed from the text; everything
/// else skipped unparsed.
#[derive(Deserialize, Default)]
pub struct Lite<'a> {
    #[serde(borrow, rename = "eventSource", default)]
    event_source: Text<'a>,
    #[serde(borrow, rename = "eventName", default)]
    event_name: Text<'a>,
    #[serde(borrow, rename = "eventTime", default)]
    event_time: Text<'a>,
    #[serde(borrow, rename = "eventID", default)]
    event_id: Text<'a>,
    #[serde(borrow, rename = "eventType", default)]
    event_type: Text<'a>,
    #[serde(borrow, rename = "awsRegion", default)]
    aws_region: Text<'a>,
    #[serde(borrow, rename = "sourceIPAddress", default)]
    source_ip: Text<'a>,
    #[serde(borrow, rename = "userAgent", default)]
    user_agent: Text<'a>,
    #[serde(borrow, rename = "errorCode", default)]
    error_code: Text<'a>,
    #[serde(borrow, rename = "recipientAccountId", default)]
    recipient_account: Text<'a>,
    #[serde(borrow, rename = "vpcEndpointId", default)]
    vpc_endpoint_id: Text<'a>,
    #[serde(rename = "readOnly", default)]
    read_only: Flag,
    #[serde(borrow, rename = "userIdentity", default)]
    user_identity: Option<LiteIdentity<'a>>,
    #[serde(
        borrow,
        rename = "requestParameters",
        default,
        deserialize_with = "raw_text"
    )]
    request_parameters: Option<&'a str>,
    #[serde(
        borrow,
        rename = "responseElements",
        default,
        deserialize_with = "raw_text"
    )]
    response_elements: Option<&'a str>,
    #[serde(
        borrow,
        rename = "additionalEventData",
        default,
        deserialize_with = "raw_text"
    )]
    additional_event_data: Option<&'a str>,
    /// Known to have no `userIdentity.…` key at the top (the scanner knows; serde's derive
    /// skips unknown keys unseen).
    #[serde(skip)]
    no_flat_identity: bool,
}

/// A value kept as its text (`null` is none).
fn raw_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de str>, D::Error> {
    Ok(Option::<&'de RawValue>::deserialize(d)?.map(RawValue::get))
}

impl<'a> Lite<'a> {
    pub fn parse(text: &'a str) -> Result<Lite<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// An empty record to fill member by member (which sees every key, flat dotted ones too).
    fn scanned() -> Lite<'a> {
        Lite {
            no_flat_identity: true,
            ..Lite::default()
        }
    }

    /// Reads a record at the scanner (the hunt's fast path). What it gives is what
    /// [`Lite::parse`] gives for the same text; a record it refuses may still be one that
    /// `parse` reads (shapes only serde's derive accepts, such as a record written as an array):
    /// the caller then goes `parse`'s way.
    pub fn scan(s: &mut Scan<'a>) -> Result<Lite<'a>, ScanError> {
        let mut lite = Lite::scanned();
        lite.scan_into(s, None, |_| {})?;
        Ok(lite)
    }

    /// As [`Lite::scan`], keeping every member of the record (key and value text) in `members`
    /// as well — what Sigma rules read the record from, without a second pass over it.
    pub fn scan_keeping(
        s: &mut Scan<'a>,
        members: &mut Members<'a>,
    ) -> Result<Lite<'a>, ScanError> {
        let mut lite = Lite::scanned();
        lite.scan_into(s, Some(members), |_| {})?;
        Ok(lite)
    }

    /// [`Lite::scan`] or [`Lite::scan_keeping`] into a `Lite` the caller keeps from record to
    /// record (the hunt's loop: a record is not moved about once read).
    ///
    /// `on_source_ip` gets the source address as soon as it is read, before the rest of the
    /// record: time for a threat-list lookup to bring its memory in (see
    /// [`crate::intel::Intel::prefetch`]).
    pub fn scan_into(
        &mut self,
        s: &mut Scan<'a>,
        mut members: Option<&mut Members<'a>>,
        mut on_source_ip: impl FnMut(&str),
    ) -> Result<(), ScanError> {
        *self = Lite::scanned();
        let mut seen = 0u32;
        if let Some(m) = members.as_deref_mut() {
            m.clear();
        }
        s.object_with(|s, key| {
            let start = s.pos();
            self.member(s, &key, &mut seen)?;
            if key == "sourceIPAddress" {
                on_source_ip(text(&self.source_ip));
            }
            if let Some(m) = members.as_deref_mut() {
                m.push((key, s.since(start)));
            }
            Ok(())
        })
    }

    /// The same fields from a record already read for Sigma rules (no second pass over it),
    /// held to the same types and the same refusal of repeated fields as [`Lite::parse`].
    pub fn from_lazy(e: &LazyEvent<'a>) -> Result<Lite<'a>, ScanError> {
        let mut lite = Lite::scanned();
        let mut seen = 0u32;
        for (key, raw) in e.fields() {
            lite.member(&mut Scan::new(raw), key, &mut seen)?;
        }
        Ok(lite)
    }

    /// One member of the record: the scanner is at its value, which this reads.
    fn member(&mut self, s: &mut Scan<'a>, key: &str, seen: &mut u32) -> Result<(), ScanError> {
        let slot = |t: &mut Text<'a>, s: &mut Scan<'a>| -> Result<(), ScanError> {
            *t = text_at(s)?;
            Ok(())
        };
        let bit = match key {
            "eventSource" => 0,
            "eventName" => 1,
            "eventTime" => 2,
            "eventID" => 3,
            "eventType" => 4,
            "awsRegion" => 5,
            "sourceIPAddress" => 6,
            "userAgent" => 7,
            "errorCode" => 8,
            "recipientAccountId" => 9,
            "readOnly" => 10,
            "userIdentity" => 11,
            "requestParameters" => 12,
            "responseElements" => 13,
            "additionalEventData" => 14,
            "vpcEndpointId" => 15,
            _ => {
                if flat_identity_key(key) {
                    self.no_flat_identity = false;
                }
                return s.value().map(drop);
            }
        };
        once(seen, bit, s)?;
        match bit {
            0 => slot(&mut self.event_source, s),
            1 => slot(&mut self.event_name, s),
            2 => slot(&mut self.event_time, s),
            3 => slot(&mut self.event_id, s),
            4 => slot(&mut self.event_type, s),
            5 => slot(&mut self.aws_region, s),
            6 => slot(&mut self.source_ip, s),
            7 => slot(&mut self.user_agent, s),
            8 => slot(&mut self.error_code, s),
            9 => slot(&mut self.recipient_account, s),
            15 => slot(&mut self.vpc_endpoint_id, s),
            10 => {
                let at = s.pos();
                let v = s.value()?;
                self.read_only = Flag(match v {
                    "true" => Some(true),
                    "false" => Some(false),
                    "null" => None,
                    _ => {
                        let t = opt_str(v).map_err(|what| ScanError { at, what })?;
                        t.and_then(|t| {
                            if t.eq_ignore_ascii_case("true") {
                                Some(true)
                            } else if t.eq_ignore_ascii_case("false") {
                                Some(false)
                            } else {
                                None
                            }
                        })
                    }
                });
                Ok(())
            }
            11 => {
                nested(
                    s,
                    &mut self.user_identity,
                    |id: &mut LiteIdentity<'a>, s, key, seen| {
                        let t = match key {
                            "type" => &mut id.identity_type,
                            "principalId" => &mut id.principal_id,
                            "accessKeyId" => &mut id.access_key_id,
                            "userName" => &mut id.user_name,
                            "accountId" => &mut id.account_id,
                            "invokedBy" => &mut id.invoked_by,
                            "arn" => &mut id.arn,
                            "sessionContext" => {
                                once(seen, 7, s)?;
                                nested(
                                    s,
                                    &mut id.session_context,
                                    |c: &mut LiteContext<'a>, s, key, seen| {
                                        if key != "sessionIssuer" {
                                            return s.value().map(drop);
                                        }
                                        once(seen, 0, s)?;
                                        nested(
                                            s,
                                            &mut c.session_issuer,
                                            |i: &mut LiteIssuer<'a>, s, key, seen| {
                                                if key != "userName" {
                                                    return s.value().map(drop);
                                                }
                                                once(seen, 0, s)?;
                                                i.user_name = text_at(s)?;
                                                Ok(())
                                            },
                                        )?;
                                        Ok(())
                                    },
                                )?;
                                return Ok(());
                            }
                            _ => return s.value().map(drop),
                        };
                        let bit = match key {
                            "type" => 0,
                            "principalId" => 1,
                            "accessKeyId" => 2,
                            "userName" => 3,
                            "accountId" => 4,
                            "invokedBy" => 5,
                            _ => 6,
                        };
                        once(seen, bit, s)?;
                        *t = text_at(s)?;
                        Ok(())
                    },
                )?;
                Ok(())
            }
            _ => {
                let v = s.value()?;
                let slot = match bit {
                    12 => &mut self.request_parameters,
                    13 => &mut self.response_elements,
                    _ => &mut self.additional_event_data,
                };
                *slot = (v != "null").then_some(v);
                Ok(())
            }
        }
    }

    pub fn view(&self) -> View<'_> {
        let id = self.user_identity.as_ref();
        let source = text(&self.event_source);
        let wanted = needs_parameters(source, text(&self.event_name));
        let response = wanted && needs_response(source, text(&self.event_name));
        let parsed = |raw: Option<&str>, wanted: bool| {
            raw.filter(|_| wanted)
                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                .unwrap_or(Value::Null)
        };
        View {
            event_source: source,
            event_name: text(&self.event_name),
            event_time: text(&self.event_time),
            event_id: text(&self.event_id),
            event_type: text(&self.event_type),
            aws_region: text(&self.aws_region),
            source_ip: text(&self.source_ip),
            user_agent: text(&self.user_agent),
            error_code: text(&self.error_code),
            recipient_account: text(&self.recipient_account),
            vpc_endpoint_id: text(&self.vpc_endpoint_id),
            read_only: self.read_only.0,
            identity_type: id.map_or("", |u| text(&u.identity_type)),
            principal_id: id.map_or("", |u| text(&u.principal_id)),
            identity_arn: id.map_or("", |u| text(&u.arn)),
            access_key_id: id.map_or("", |u| text(&u.access_key_id)),
            user_name: id.map_or("", |u| text(&u.user_name)),
            identity_account: id.map_or("", |u| text(&u.account_id)),
            invoked_by: id.map_or("", |u| text(&u.invoked_by)),
            issuer_user_name: id
                .and_then(|u| u.session_context.as_ref())
                .and_then(|c| c.session_issuer.as_ref())
                .map_or("", |i| text(&i.user_name)),
            request_parameters: Cow::Owned(parsed(self.request_parameters, wanted)),
            response_elements: Cow::Owned(parsed(self.response_elements, response)),
            additional_event_data: Cow::Owned(parsed(self.additional_event_data, response)),
            flat_identity: !self.no_flat_identity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(text: &str) -> Option<String> {
        let mut s = Scan::new(text);
        let lite = Lite::scan(&mut s).ok()?;
        s.end().ok()?;
        let mut view = lite.view();
        assert!(!view.flat_identity || text.contains("\"userIdentity."));
        view.flat_identity = true; // what serde's derive cannot know
        Some(format!("{view:?}"))
    }

    fn parsed(text: &str) -> Option<String> {
        Lite::parse(text).ok().map(|l| format!("{:?}", l.view()))
    }

    /// The scanner reads what `Lite::parse` reads, the same way; what it refuses, `parse` either
    /// refuses too or reads — never differently.
    fn agree(text: &str) {
        if let Some(ours) = scanned(text) {
            assert_eq!(Some(ours), parsed(text), "{text:?}");
        }
    }

    const RECORD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/r/s","accountId":"123456789012","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"type":"Role","userName":"r\u00e9"},"attributes":{"mfaAuthenticated":"false"}},"invokedBy":"ec2.amazonaws.com"},"eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2 \"q\"","requestParameters":{"bucketName":"b","AccessControlPolicy":{"Grant":[{"Grantee":{"URI":"http://acs.amazonaws.com/groups/global/AllUsers"}}]}},"responseElements":null,"errorCode":"AccessDenied","readOnly":false,"eventID":"e1","eventType":"AwsApiCall","recipientAccountId":"123456789012","resources":[{"ARN":"arn:aws:s3:::b"}],"n":-1.5e3}"#;

    #[test]
    fn a_real_shaped_record_reads_the_same_both_ways() {
        assert!(scanned(RECORD).is_some());
        agree(RECORD);
        for text in [
            r#"{"eventName":"A","eventName":"B"}"#,
            r#"{"userIdentity":{"type":"Root","type":"IAMUser"}}"#,
            r#"{"userIdentity":[]}"#,
            r#"["s3.amazonaws.com"]"#,
            r#"{"readOnly":"TRUE"}"#,
            r#"{"readOnly":"maybe"}"#,
            r#"{"readOnly":1}"#,
            r#"{"readOnly":null,"userIdentity":null,"requestParameters":null}"#,
            r#"{"eventName":5}"#,
            r#"{"event\u004eame":"Escaped"}"#,
            r#"{"userIdentity":{"sessionContext":{"sessionIssuer":{"userName":1}}}}"#,
            r#"{"userIdentity":{"sessionContext":{"sessionIssuer":null}}}"#,
        ] {
            agree(text);
        }
        assert!(scanned(r#"{"eventName":"A","eventName":"B"}"#).is_none());
        assert_eq!(
            scanned(r#"{"event\u004eame":"Escaped"}"#),
            parsed(r#"{"eventName":"Escaped"}"#)
        );
    }

    /// Every cut of the record, and every byte of it changed to each of a few telling bytes.
    #[test]
    fn damaged_records_read_the_same_both_ways() {
        for cut in 0..RECORD.len() {
            if RECORD.is_char_boundary(cut) {
                agree(&RECORD[..cut]);
            }
        }
        let bytes = RECORD.as_bytes();
        for i in 0..bytes.len() {
            for c in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'n', b'1', b'-', 0x01,
            ] {
                let mut b = bytes.to_vec();
                b[i] = c;
                if let Ok(t) = std::str::from_utf8(&b) {
                    agree(t);
                }
            }
        }
    }
}
