//! Event history (CloudTrail's console): one lookup attribute and a time range, newest first,
//! paged; each record's JSON expandable; users, access keys, sources and resources link to a
//! search for them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mamori_core::Role;
use mamori_trail::history::lookup::{LookupAttribute, LookupQuery, Position};
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use crate::layout::{Nav, copy_button, error, href, page};
use crate::{Ctx, St, blocking};

const KEYS: [&str; 9] = [
    "EventName",
    "Username",
    "EventSource",
    "EventId",
    "ReadOnly",
    "ResourceType",
    "ResourceName",
    "AccessKeyId",
    "EventCategory",
];
const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct LookupForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    next: String,
}

pub async fn lookup(State(console): St, ctx: Ctx, Query(f): Query<LookupForm>) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let now = chrono::Utc::now();
    let time = |name: &str, v: &str| -> Result<Option<i64>, String> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        mamori_core::time::parse_instant(v.trim(), now)
            .map(|t| Some(t.timestamp_millis()))
            .map_err(|e| format!("{name}: {e}"))
    };
    let mut q = LookupQuery {
        account: ctx.caller.account.as_i64(),
        attributes: Vec::new(),
        start_ms: None,
        end_ms: None,
        max_results: PAGE,
        after: None,
    };
    let parsed = (|| -> Result<(), String> {
        q.start_ms = time("From", &f.start)?;
        q.end_ms = time("To", &f.end)?;
        if !f.value.is_empty() {
            let key = if f.key.is_empty() {
                "EventName"
            } else {
                f.key.as_str()
            };
            q.attributes.push(LookupAttribute::parse(key, &f.value)?);
        }
        if let (Some(a), Some(b)) = (q.start_ms, q.end_ms)
            && a > b
        {
            return Err("From is after To".into());
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        return error(&ctx, StatusCode::BAD_REQUEST, &e);
    }
    let hash = mamori_core::page::query_hash(&q.canonical());
    if !f.next.is_empty() {
        match mamori_core::page::resume::<Position>(&hash, Some(&f.next)) {
            Ok(p) => q.after = p,
            Err(e) => return error(&ctx, StatusCode::BAD_REQUEST, &e.message),
        }
    }
    let trail = console.trail.clone();
    let result = match blocking(&ctx, move || trail.history.lookup(&q)).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let records: Vec<Value> = result
        .events
        .iter()
        .map(|e| serde_json::from_str(e).unwrap_or(Value::Null))
        .collect();
    let base = [
        ("key", f.key.as_str()),
        ("value", f.value.as_str()),
        ("start", f.start.as_str()),
        ("end", f.end.as_str()),
    ];
    let next_link = result.next.map(|p| {
        let token = mamori_core::page::encode(&hash, &p);
        let mut params = base.to_vec();
        params.push(("next", &token));
        href("/events", &params)
    });
    let search = |key: &str, value: &str| href("/events", &[("key", key), ("value", value)]);
    let body = html! {
        form.filters method="get" action="/events" {
            label { "Lookup attribute"
                select name="key" {
                    @for k in KEYS { option value=(k) selected[f.key == k] { (k) } }
                }
            }
            label { "Value" input type="search" name="value" value=(f.value); }
            label { "From" input type="text" name="start" value=(f.start) placeholder="-1d or 2026-11-28T10:00:00Z"; }
            label { "To" input type="text" name="end" value=(f.end) placeholder="now"; }
            button type="submit" { "Look up" }
        }
        @if records.is_empty() {
            p.muted { "No events match." }
        } @else {
            table.list {
                thead { tr { th { "Event time" } th { "Event name" } th { "User name" } th { "Event source" } th { "Source IP" } th { "Resources" } th { "Record" } } }
                tbody {
                    @for r in &records {
                        @let user = user_name(r);
                        @let raw = serde_json::to_string_pretty(r).unwrap_or_default();
                        tr {
                            td.mono { (r["eventTime"].as_str().unwrap_or("")) }
                            td { a href=(search("EventName", r["eventName"].as_str().unwrap_or(""))) { (r["eventName"].as_str().unwrap_or("")) }
                                 @if r["errorCode"].is_string() { br; span.error { (r["errorCode"].as_str().unwrap_or("")) } } }
                            td {
                                @if !user.is_empty() { a href=(search("Username", &user)) { (user) } }
                                @if let Some(k) = r["userIdentity"]["accessKeyId"].as_str().filter(|k| !k.is_empty()) {
                                    br; a.mono href=(search("AccessKeyId", k)) { (k) }
                                }
                            }
                            td { a href=(search("EventSource", r["eventSource"].as_str().unwrap_or(""))) { (r["eventSource"].as_str().unwrap_or("")) } }
                            td.mono { (r["sourceIPAddress"].as_str().unwrap_or("")) }
                            td {
                                @for res in r["resources"].as_array().into_iter().flatten().take(3) {
                                    @if let Some(arn) = res["ARN"].as_str() { a.mono href=(search("ResourceName", arn)) { (arn) } br; }
                                }
                            }
                            td { details { summary { "JSON" } (copy_button(&raw)) pre { (raw) } } }
                        }
                    }
                }
            }
        }
        div.pager {
            @if !f.next.is_empty() { a href=(href("/events", &base)) { "← Newest" } }
            @if let Some(n) = next_link { a href=(n) { "Older →" } }
        }
    };
    page(&ctx, Nav::Events, "Event history", body)
}

/// The user name CloudTrail's console shows: the IAM user name, else the session's or role's
/// name, else the principal.
fn user_name(r: &Value) -> String {
    let u = &r["userIdentity"];
    u["userName"]
        .as_str()
        .or_else(|| u["sessionContext"]["sessionIssuer"]["userName"].as_str())
        .or_else(|| u["arn"].as_str().and_then(|a| a.rsplit('/').next()))
        .or_else(|| u["principalId"].as_str())
        .unwrap_or("")
        .to_string()
}
