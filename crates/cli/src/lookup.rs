//! `mamori trail lookup`: CloudTrail's Event history, from the command line.

use chrono::Utc;
use clap::Args;
use serde_json::{Value, json};

use crate::client::Client;
use crate::output::{cell, table};
use crate::{Format, Remote, usage};

#[derive(Args)]
pub struct LookupArgs {
    /// Lookup attribute Key=Value (repeatable, AND-ed): EventId, EventName, ReadOnly, Username,
    /// ResourceType, ResourceName, EventSource, AccessKeyId, EventCategory
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attrs: Vec<String>,
    /// Oldest event time: RFC 3339 or relative (-15m, -1h, -7d)
    #[arg(long, allow_hyphen_values = true)]
    start: Option<String>,
    /// Newest event time: RFC 3339 or relative
    #[arg(long, allow_hyphen_values = true)]
    end: Option<String>,
    /// Events per page, 1 to 1000
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_results: u16,
    /// Continue from a previous page
    #[arg(long)]
    next_token: Option<String>,
    /// Follow every page
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

fn time_arg(name: &str, v: &Option<String>) -> anyhow::Result<Option<String>> {
    v.as_ref()
        .map(|s| {
            mamori_core::time::parse_instant(s, Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .map_err(|e| usage(format!("--{name}: {e}")))
        })
        .transpose()
}

pub async fn run(a: LookupArgs, remote: &Remote) -> anyhow::Result<u8> {
    let mut query: Vec<(String, String)> = Vec::new();
    for attr in &a.attrs {
        let (k, v) = attr.split_once('=').ok_or_else(|| {
            usage(format!(
                "--attr {attr:?} must be KEY=VALUE, e.g. --attr EventName=ConsoleLogin"
            ))
        })?;
        mamori_trail::history::lookup::LookupAttribute::parse(k, v).map_err(usage)?;
        query.push((k.to_string(), v.to_string()));
    }
    if let Some(s) = time_arg("start", &a.start)? {
        query.push(("startTime".into(), s));
    }
    if let Some(e) = time_arg("end", &a.end)? {
        query.push(("endTime".into(), e));
    }
    query.push(("maxResults".into(), a.max_results.to_string()));
    let client = Client::from_remote(remote)?;
    let mut token = a.next_token.clone();
    let mut events: Vec<Value> = Vec::new();
    let mut printed_header = false;
    loop {
        let mut q = query.clone();
        if let Some(t) = &token {
            q.push(("nextToken".into(), t.clone()));
        }
        let page = client.get("/v1/trail/events", &q).await?;
        let batch = page["events"].as_array().cloned().unwrap_or_default();
        token = page["nextToken"].as_str().map(str::to_string);
        match a.format {
            Format::Json => events.extend(batch),
            Format::Table => {
                print_table(&batch, !printed_header);
                printed_header = true;
            }
        }
        if !a.all || token.is_none() {
            break;
        }
    }
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&json!({ "events": events, "nextToken": token }))?
        ),
        Format::Table => {
            if let Some(t) = &token {
                eprintln!("more events: --next-token {t}");
            }
        }
    }
    Ok(0)
}

fn print_table(events: &[Value], header: bool) {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let text = |v: &Value| {
                v.as_str()
                    .map(|s| cell(s, 48))
                    .unwrap_or_else(|| "-".into())
            };
            let name = e
                .get("eventName")
                .or_else(|| e.pointer("/insightDetails/eventName"))
                .unwrap_or(&Value::Null);
            let source = e
                .get("eventSource")
                .or_else(|| e.pointer("/insightDetails/eventSource"))
                .unwrap_or(&Value::Null);
            let user = e
                .pointer("/userIdentity/userName")
                .or_else(|| e.pointer("/userIdentity/arn"))
                .or_else(|| e.pointer("/userIdentity/invokedBy"))
                .unwrap_or(&Value::Null);
            vec![
                text(&e["eventTime"]),
                text(name),
                text(source),
                text(user),
                text(&e["sourceIPAddress"]),
                text(&e["eventID"]),
            ]
        })
        .collect();
    let out = table(
        &[
            "EVENT TIME",
            "EVENT NAME",
            "EVENT SOURCE",
            "USER",
            "SOURCE IP",
            "EVENT ID",
        ],
        &rows,
    );
    if header {
        print!("{out}");
    } else {
        print!("{}", out.split_once('\n').map(|x| x.1).unwrap_or(""));
    }
}
