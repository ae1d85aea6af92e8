//! The overview: findings by severity (detection and inspection) with their 30-day trend, the
//! newest high-severity findings, coverage, trail health and events per day.

use axum::extract::State;
use axum::response::Response;
use mamori_core::service::ServiceError;
use mamori_core::{ErrorCode, Role};
use maud::html;
use serde_json::Value;

use crate::layout::{Nav, href, page, severity_class};
use crate::pages::{autorefresh, last_days};
use crate::svg::{Series, hbars, stacked_bars};
use crate::{Ctx, St, blocking};

/// The days the trend charts cover.
const DAYS: i64 = 30;
/// A resource not scanned for this long is stale (Inspector rescans at least weekly).
const STALE_DAYS: i64 = 7;

/// Everything the overview shows, read in one blocking task.
struct Data {
    guard: mamori_guard::store::SeveritySummary,
    newest_high: Vec<Value>,
    inspect: mamori_inspect::store::InspectSummary,
    coverage: Vec<Value>,
    trails: Vec<mamori_trails::store::TrailRow>,
    events_per_day: Vec<(u32, u64)>,
}

/// An error from any of the services the overview reads.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(String, ErrorCode);

impl ServiceError for ReadError {
    fn code(&self) -> ErrorCode {
        self.1
    }
}

pub(crate) fn read_err<E: ServiceError>(e: E) -> ReadError {
    let code = e.code();
    ReadError(e.to_string(), code)
}

pub async fn show(State(console): St, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let days = last_days(DAYS);
    let since = days[0].clone();
    let since3 = since.clone();
    let account = ctx.caller.account;
    let day = |s: &str| s.replace('-', "").parse::<u32>().unwrap_or(0);
    // Three independent reads, run at once on the blocking pool (each on its store's readers).
    let (c1, c2, c3) = (console.clone(), console.clone(), console.clone());
    let since2 = since.clone();
    let to = day(days.last().map_or("", String::as_str));
    let (guard, inspect, rest) = tokio::join!(
        blocking(&ctx, move || -> Result<_, ReadError> {
            let a = account.as_i64();
            c1.guard
                .db
                .read(|conn| {
                    let r = mamori_guard::store::Reads::new(conn);
                    let s = r.severity_summary(&[a], &since)?;
                    let (items, _) = r.findings(&[a], None, 7.0, Some(false), 8, None)?;
                    Ok::<_, mamori_guard::store::GuardError>((s, items))
                })
                .map_err(read_err)
        }),
        blocking(&ctx, move || -> Result<_, ReadError> {
            c2.inspect
                .read(|conn| {
                    let r = mamori_inspect::store::Reads::new(conn);
                    Ok::<_, mamori_inspect::store::StoreError>((
                        r.severity_summary(account, &since2)?,
                        r.coverage(account)?,
                    ))
                })
                .map_err(read_err)
        }),
        blocking(&ctx, move || -> Result<_, ReadError> {
            let trails = c3.trails.db.list(Some(account)).map_err(read_err)?;
            let from = day(&since3);
            let events = c3
                .events_per_day
                .get(&c3.trail.history, account.as_i64(), from, to)
                .map_err(read_err)?;
            Ok((trails, events))
        }),
    );
    let data = match (guard, inspect, rest) {
        (Ok((guard, newest_high)), Ok((inspect, coverage)), Ok((trails, events_per_day))) => Data {
            guard,
            newest_high,
            inspect,
            coverage,
            trails,
            events_per_day,
        },
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let days = last_days(DAYS);
    let guard_series = [
        Series {
            name: "Low",
            class: "sev-low",
        },
        Series {
            name: "Medium",
            class: "sev-medium",
        },
        Series {
            name: "High",
            class: "sev-high",
        },
        Series {
            name: "Critical",
            class: "sev-critical",
        },
    ];
    let guard_values: Vec<Vec<u64>> = days
        .iter()
        .map(|d| {
            data.guard
                .created_per_day
                .iter()
                .find(|(day, _)| day == d)
                .map_or(vec![0; 4], |(_, c)| c.to_vec())
        })
        .collect();
    const INSPECT_SEV: [&str; 6] = [
        "UNTRIAGED",
        "INFORMATIONAL",
        "LOW",
        "MEDIUM",
        "HIGH",
        "CRITICAL",
    ];
    let inspect_series: Vec<Series<'_>> = INSPECT_SEV
        .iter()
        .map(|s| Series {
            name: s,
            class: severity_class(s),
        })
        .collect();
    let inspect_values: Vec<Vec<u64>> = days
        .iter()
        .map(|d| {
            INSPECT_SEV
                .iter()
                .map(|s| {
                    data.inspect
                        .observed_per_day
                        .get(d)
                        .and_then(|m| m.get(*s))
                        .copied()
                        .unwrap_or(0)
                })
                .collect()
        })
        .collect();
    let events_values: Vec<Vec<u64>> = days
        .iter()
        .map(|d| {
            let key: u32 = d.replace('-', "").parse().unwrap_or(0);
            vec![
                data.events_per_day
                    .iter()
                    .find(|(day, _)| *day == key)
                    .map_or(0, |(_, n)| *n),
            ]
        })
        .collect();
    let stale_before = (chrono::Utc::now() - chrono::Duration::days(STALE_DAYS))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let stale = data
        .coverage
        .iter()
        .filter(|r| {
            r["lastScannedAt"]
                .as_str()
                .is_some_and(|t| t < stale_before.as_str())
        })
        .count();
    let bands = ["Low", "Medium", "High", "Critical"];
    let body = html! {
        (autorefresh())
        div.tiles {
            @for (i, b) in bands.iter().enumerate().rev() {
                a.tile href=(href("/threats", &[("severity", b)])) {
                    span.n { (data.guard.active[i]) }
                    span class=(format!("badge {}", severity_class(b))) { (b) } " threats"
                }
            }
            @for (_, s) in INSPECT_SEV.iter().rev().enumerate().filter(|(i, s)| *i < 4 || data.inspect.active.get(**s).is_some_and(|n| *n > 0)) {
                a.tile href=(href("/vulnerabilities/findings", &[("severity", s)])) {
                    span.n { (data.inspect.active.get(*s).copied().unwrap_or(0)) }
                    span class=(format!("badge {}", severity_class(s))) { (s) } " vulnerabilities"
                }
            }
        }
        div.grid {
            div.card { (stacked_bars("Threat findings created per day (30 days)", &days, &guard_series, &guard_values)) }
            div.card { (stacked_bars("Vulnerabilities first observed per day (30 days, active)", &days, &inspect_series, &inspect_values)) }
            div.card { (stacked_bars("Events per day (30 days)", &days, &[Series { name: "events", class: "events" }], &events_values)) }
        }
        div.grid {
            div.card {
                h2 { "Newest high-severity threats" }
                @if data.newest_high.is_empty() {
                    p.muted { "No active finding of High or Critical severity." }
                } @else {
                    table.list {
                        thead { tr { th { "Severity" } th { "Type" } th { "Updated" } } }
                        tbody {
                            @for f in &data.newest_high {
                                @let sev = f["severity"].as_f64().unwrap_or(0.0);
                                @let band = bands[mamori_guard::store::band(sev)];
                                tr {
                                    td { span class=(format!("badge {}", severity_class(band))) { (band) " " (sev) } }
                                    td { a href=(format!("/threats/finding/{}", f["id"].as_str().unwrap_or(""))) { (f["type"].as_str().unwrap_or("")) } }
                                    td.mono { (f["updatedAt"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
            div.card {
                h2 { "Coverage" }
                p {
                    a href="/vulnerabilities/coverage" { (data.coverage.len()) " resources scanned" }
                    @if stale > 0 { ", " span.error { (stale) " not scanned for " (STALE_DAYS) " days" } }
                }
                (hbars("Most findings by resource", &top_resources(&data.coverage)))
            }
            div.card {
                h2 { "Trail health" }
                @if data.trails.is_empty() {
                    p.muted { "No trails yet: " a href="/trails" { "create one" } " to deliver this account's events to storage." }
                } @else {
                    table.list {
                        thead { tr { th { "Trail" } th { "Logging" } th { "Last delivery" } th { "Last digest" } } }
                        tbody {
                            @for t in &data.trails {
                                tr {
                                    td { a href="/trails" { (t.spec.name) } }
                                    td { @if t.logging { span.badge.ok { "on" } } @else { span.badge.off { "stopped" } } }
                                    td.mono {
                                        (t.latest_delivery_time.as_deref().unwrap_or("—"))
                                        @if let Some(e) = &t.latest_delivery_error { br; span.error { (e) } }
                                    }
                                    td.mono {
                                        (t.latest_digest_time.as_deref().unwrap_or("—"))
                                        @if let Some(e) = &t.latest_digest_error { br; span.error { (e) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, Nav::Overview, "Overview", body)
}

fn top_resources(coverage: &[Value]) -> Vec<(String, u64, &'static str, Option<String>)> {
    let mut rows: Vec<(String, u64)> = coverage
        .iter()
        .map(|r| {
            (
                r["resourceId"].as_str().unwrap_or("").to_string(),
                r["activeFindings"].as_u64().unwrap_or(0),
            )
        })
        .filter(|r| r.1 > 0)
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.into_iter()
        .take(8)
        .map(|(id, n)| {
            let link = href("/vulnerabilities/findings", &[("resource", &id)]);
            (id, n, "sev-high", Some(link))
        })
        .collect()
}
