//! What the audit-event detectors read of a record, borrowed: built from the typed history
//! record (on the server), from a `serde_json::Value` (when Sigma rules need the JSON anyway), or
//! parsed straight from the record's text with only these fields (the offline hunt's fast path:
//! a full typed parse cost three quarters of the hunt).

use std::borrow::Cow;

use mamori_trail::model::{Field, Record};
use serde::Deserialize;

use crate::lazy::{BorrowedStr, LazyEvent};
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
    pub read_only: Option<bool>,
    pub identity_type: &'a str,
    pub principal_id: &'a str,
    pub access_key_id: &'a str,
    pub user_name: &'a str,
    pub identity_account: &'a str,
    pub invoked_by: &'a str,
    /// The session issuer's user name (roles), when `user_name` is empty.
    pub issuer_user_name: &'a str,
    /// Only where a detector needs them (S3 and trail events); `Null` otherwise.
    pub request_parameters: Cow<'a, Value>,
}

/// Are this event's request parameters read by a detector? (Parsing them for every event cost
/// a tenth of the hunt.)
pub fn needs_parameters(event_source: &str, event_name: &str) -> bool {
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
            read_only: r.read_only.get().and_then(|x| x.value()),
            identity_type: uf(|u| &u.identity_type),
            principal_id: uf(|u| &u.principal_id),
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
            read_only: flag(&v["readOnly"]),
            identity_type: s(&u["type"]),
            principal_id: s(&u["principalId"]),
            access_key_id: s(&u["accessKeyId"]),
            user_name: s(&u["userName"]),
            identity_account: s(&u["accountId"]),
            invoked_by: s(&u["invokedBy"]),
            issuer_user_name: s(&u["sessionContext"]["sessionIssuer"]["userName"]),
            request_parameters: Cow::Borrowed(&v["requestParameters"]),
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
    #[serde(rename = "readOnly", default)]
    read_only: Flag,
    #[serde(borrow, rename = "userIdentity", default)]
    user_identity: Option<LiteIdentity<'a>>,
    #[serde(borrow, rename = "requestParameters", default)]
    request_parameters: Option<&'a RawValue>,
}

impl<'a> Lite<'a> {
    pub fn parse(text: &'a str) -> Result<Lite<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The same fields from a record already read for Sigma rules (no second pass over it),
    /// held to the same types as [`Lite::parse`].
    pub fn from_lazy(e: &LazyEvent<'a>) -> Result<Lite<'a>, serde_json::Error> {
        fn field<'a, T: Deserialize<'a>>(
            e: &LazyEvent<'a>,
            key: &str,
        ) -> Result<Option<T>, serde_json::Error> {
            match e.raw(key) {
                None => Ok(None),
                Some(r) => serde_json::from_str::<Option<T>>(r.get())
                    .map_err(|err| serde::de::Error::custom(format!("{key}: {err}"))),
            }
        }
        let s = |key: &str| field::<BorrowedStr<'a>>(e, key).map(|b| b.map(|b| b.0));
        Ok(Lite {
            event_source: s("eventSource")?,
            event_name: s("eventName")?,
            event_time: s("eventTime")?,
            event_id: s("eventID")?,
            event_type: s("eventType")?,
            aws_region: s("awsRegion")?,
            source_ip: s("sourceIPAddress")?,
            user_agent: s("userAgent")?,
            error_code: s("errorCode")?,
            recipient_account: s("recipientAccountId")?,
            read_only: field::<Flag>(e, "readOnly")?.unwrap_or_default(),
            user_identity: field::<LiteIdentity<'a>>(e, "userIdentity")?,
            request_parameters: e.raw("requestParameters"),
        })
    }

    pub fn view(&self) -> View<'_> {
        let id = self.user_identity.as_ref();
        let source = text(&self.event_source);
        let params = if needs_parameters(source, text(&self.event_name)) {
            self.request_parameters
                .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                .unwrap_or(Value::Null)
        } else {
            Value::Null
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
            read_only: self.read_only.0,
            identity_type: id.map_or("", |u| text(&u.identity_type)),
            principal_id: id.map_or("", |u| text(&u.principal_id)),
            access_key_id: id.map_or("", |u| text(&u.access_key_id)),
            user_name: id.map_or("", |u| text(&u.user_name)),
            identity_account: id.map_or("", |u| text(&u.account_id)),
            invoked_by: id.map_or("", |u| text(&u.invoked_by)),
            issuer_user_name: id
                .and_then(|u| u.session_context.as_ref())
                .and_then(|c| c.session_issuer.as_ref())
                .map_or("", |i| text(&i.user_name)),
            request_parameters: Cow::Owned(params),
        }
    }
}
