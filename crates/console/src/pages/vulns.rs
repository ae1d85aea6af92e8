//! Vulnerabilities (Inspector's console): the dashboard (coverage by resource type, findings by
//! severity, most vulnerable resources and packages), the findings list with filters and pages,
//! a finding's detail (package, versions, CVSS, references, KEV date, layer), and coverage.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mamori_core::Role;
use mamori_inspect::store::{Criteria, Reads, StringFilter};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::layout::{Nav, copy_button, error, external_link, href, page, severity_class};
use crate::pages::autorefresh;
use crate::svg::hbars;
use crate::{Ctx, St, blocking};

const SEVERITIES: [&str; 6] = [
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "INFORMATIONAL",
    "UNTRIAGED",
];
const PAGE: usize = 50;

pub async fn dashboard(State(console): St, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let account = ctx.caller.account;
    // Three independent reads at once, each on its own reader of the store.
    let (c1, c2, c3) = (console.clone(), console.clone(), console.clone());
    let (summary, stats, coverage) = tokio::join!(
        blocking(&ctx, move || {
            c1.inspect
                .read(|conn| Reads::new(conn).severity_summary(account, "9999"))
        }),
        blocking(&ctx, move || {
            c2.inspect.read(|conn| Reads::new(conn).stats(account))
        }),
        blocking(&ctx, move || {
            c3.inspect.read(|conn| Reads::new(conn).coverage(account))
        }),
    );
    let (summary, stats, coverage) = match (summary, stats, coverage) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let mut by_type: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in &coverage {
        let e = by_type
            .entry(r["resourceType"].as_str().unwrap_or("").to_string())
            .or_default();
        e.0 += 1;
        e.1 += u64::from(r["activeFindings"].as_u64().unwrap_or(0) > 0);
    }
    let top = |key: &str, link_key: &str| -> Vec<(String, u64, &'static str, Option<String>)> {
        stats[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let name = x["name"].as_str().unwrap_or("").to_string();
                        let link = href("/vulnerabilities/findings", &[(link_key, &name)]);
                        (
                            name,
                            x["activeFindings"].as_u64().unwrap_or(0),
                            "sev-high",
                            Some(link),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let body = html! {
        (autorefresh())
        p {
            a href="/vulnerabilities/findings" { "All findings →" } " · "
            a href="/vulnerabilities/coverage" { "Coverage →" } " · "
            a href="/vulnerabilities/rules" { "Suppression rules →" }
        }
        div.tiles {
            @for s in SEVERITIES {
                a.tile href=(href("/vulnerabilities/findings", &[("severity", s)])) {
                    span.n { (summary.active.get(s).copied().unwrap_or(0)) }
                    span class=(format!("badge {}", severity_class(s))) { (s) }
                }
            }
            a.tile href=(href("/vulnerabilities/findings", &[("exploit", "YES")])) { span.n { "→" } "Exploit available (KEV)" }
            a.tile href=(href("/vulnerabilities/findings", &[("fix", "YES")])) { span.n { "→" } "Fix available" }
        }
        div.grid {
            div.card {
                h2 { "Coverage by resource type" }
                @if by_type.is_empty() {
                    p.muted { "Nothing scanned yet: " code { "mamori inspect scan <target> --endpoint …" } " records an inventory." }
                } @else {
                    table.list {
                        thead { tr { th { "Resource type" } th.num { "Scanned" } th.num { "With active findings" } } }
                        tbody { @for (t, (n, v)) in &by_type { tr { td { (t) } td.num { (n) } td.num { (v) } } } }
                    }
                }
                p.muted { "Findings by status: "
                    @for (s, n) in &summary.by_status { (s) " " (n) "  " }
                }
            }
            div.card { (hbars("Most vulnerable resources", &top("mostVulnerableResources", "resource"))) }
            div.card { (hbars("Most vulnerable packages", &top("mostVulnerablePackages", "package"))) }
        }
    };
    page(&ctx, Nav::Vulnerabilities, "Vulnerabilities", body)
}

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    severity: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    vulnerability: String,
    #[serde(default)]
    fix: String,
    #[serde(default)]
    exploit: String,
    #[serde(default)]
    next: String,
    /// A finding to show in full (its ARN).
    #[serde(default)]
    show: String,
}

fn eq(v: &str) -> Vec<StringFilter> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| StringFilter {
            comparison: "EQUALS".into(),
            value: s.to_string(),
        })
        .collect()
}

impl ListQuery {
    fn params(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("severity", &self.severity),
            ("status", &self.status),
            ("package", &self.package),
            ("resource", &self.resource),
            ("vulnerability", &self.vulnerability),
            ("fix", &self.fix),
            ("exploit", &self.exploit),
        ]
    }
}

pub async fn list(State(console): St, ctx: Ctx, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let criteria = Criteria {
        severity: eq(&q.severity),
        finding_status: eq(if q.status.is_empty() {
            "ACTIVE"
        } else {
            &q.status
        }),
        vulnerable_package_name: eq(&q.package),
        resource_id: eq(&q.resource),
        vulnerability_id: eq(&q.vulnerability),
        fix_available: eq(&q.fix),
        exploit_available: eq(&q.exploit),
        ..Default::default()
    };
    if let Err(e) = criteria.validate() {
        return error(&ctx, StatusCode::BAD_REQUEST, &e.to_string());
    }
    let query = format!("{:?}", q.params());
    let after: Option<String> = match q.next.is_empty() {
        true => None,
        false => match mamori_core::page::resume(&query, Some(&q.next)) {
            Ok(p) => p,
            Err(e) => return error(&ctx, StatusCode::BAD_REQUEST, &e.message),
        },
    };
    let account = ctx.caller.account;
    let c = console.clone();
    let (items, next) = match blocking(&ctx, move || {
        c.inspect
            .read(|conn| Reads::new(conn).findings(account, &criteria, after.as_deref(), PAGE))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut params = q.params();
    let token = next.map(|n| mamori_core::page::encode(&query, &n));
    if let Some(t) = &token {
        params.push(("next", t));
    }
    let next_link = token
        .as_ref()
        .map(|_| href("/vulnerabilities/findings", &params));
    let shown = items
        .iter()
        .find(|f| !q.show.is_empty() && f["findingArn"].as_str() == Some(q.show.as_str()));
    let body = html! {
        (autorefresh())
        form.filters method="get" action="/vulnerabilities/findings" {
            label { "Severity"
                select name="severity" {
                    option value="" { "any" }
                    @for s in SEVERITIES { option value=(s) selected[q.severity == s] { (s) } }
                }
            }
            label { "Status"
                select name="status" {
                    @for s in ["ACTIVE", "SUPPRESSED", "CLOSED"] { option value=(s) selected[q.status == s || (q.status.is_empty() && s == "ACTIVE")] { (s) } }
                }
            }
            label { "Package" input type="search" name="package" value=(q.package); }
            label { "Resource" input type="search" name="resource" value=(q.resource); }
            label { "Vulnerability" input type="search" name="vulnerability" value=(q.vulnerability) placeholder="CVE-… / GHSA-…"; }
            label { "Fix available"
                select name="fix" { option value="" { "any" } @for v in ["YES", "NO", "PARTIAL"] { option value=(v) selected[q.fix == v] { (v) } } }
            }
            label { "Exploit available"
                select name="exploit" { option value="" { "any" } @for v in ["YES", "NO"] { option value=(v) selected[q.exploit == v] { (v) } } }
            }
            button type="submit" { "Filter" }
        }
        @if let Some(f) = shown { (detail(f)) }
        @if items.is_empty() {
            p.muted { "No findings match." }
        } @else {
            table.list {
                thead { tr { th { "Severity" } th { "Vulnerability" } th { "Package" } th { "Installed" } th { "Fixed in" } th { "Resource" } th { "Exploit" } } }
                tbody {
                    @for f in &items {
                        @let sev = f["severity"].as_str().unwrap_or("UNTRIAGED");
                        @let pkg = &f["packageVulnerabilityDetails"]["vulnerablePackages"][0];
                        @let mut p = q.params();
                        @let arn = f["findingArn"].as_str().unwrap_or("");
                        tr {
                            td { span class=(format!("badge {}", severity_class(sev))) { (sev) } " " (f["inspectorScore"].as_f64().map(|s| s.to_string()).unwrap_or_default()) }
                            td { a href=(href("/vulnerabilities/findings", &{ p.push(("show", arn)); p })) { (f["packageVulnerabilityDetails"]["vulnerabilityId"].as_str().unwrap_or("")) } br; span.muted { (f["title"].as_str().unwrap_or("")) } }
                            td { (pkg["name"].as_str().unwrap_or("")) }
                            td.mono { (pkg["version"].as_str().unwrap_or("")) }
                            td.mono { (pkg["fixedInVersion"].as_str().unwrap_or("—")) }
                            td { (f["resources"][0]["id"].as_str().unwrap_or("")) }
                            td { (f["exploitAvailable"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        div.pager {
            @if !q.next.is_empty() { a href=(href("/vulnerabilities/findings", &q.params())) { "← First page" } }
            @if let Some(n) = next_link { a href=(n) { "Next page →" } }
        }
    };
    page(&ctx, Nav::Vulnerabilities, "Vulnerability findings", body)
}

/// One finding in full: package, versions, CVSS, references, KEV, layer, raw JSON.
fn detail(f: &Value) -> Markup {
    let d = &f["packageVulnerabilityDetails"];
    let pkg = &d["vulnerablePackages"][0];
    let raw = serde_json::to_string_pretty(f).unwrap_or_default();
    html! {
        div.card {
            h2 { (d["vulnerabilityId"].as_str().unwrap_or("")) " in " (pkg["name"].as_str().unwrap_or("")) }
            p { (f["description"].as_str().unwrap_or("")) }
            table.kv { tbody {
                tr { th { "Severity" } td { span class=(format!("badge {}", severity_class(f["severity"].as_str().unwrap_or("")))) { (f["severity"].as_str().unwrap_or("")) } " score " (f["inspectorScore"].as_f64().map(|s| s.to_string()).unwrap_or_default()) } }
                tr { th { "Package" } td.mono { (pkg["name"].as_str().unwrap_or("")) " (" (pkg["packageManager"].as_str().unwrap_or("")) ")" } }
                tr { th { "Installed version" } td.mono { (pkg["version"].as_str().unwrap_or("")) } }
                tr { th { "Fixed in" } td.mono { (pkg["fixedInVersion"].as_str().unwrap_or("—")) } }
                tr { th { "File" } td.mono { (pkg["filePath"].as_str().unwrap_or("")) } }
                @if let Some(layer) = pkg["sourceLayerHash"].as_str() { tr { th { "Image layer" } td.mono { (layer) } } }
                @for c in d["cvss"].as_array().into_iter().flatten() {
                    tr { th { "CVSS " (c["version"].as_str().unwrap_or("")) } td.mono { (c["baseScore"].as_f64().map(|s| s.to_string()).unwrap_or_default()) " " (c["scoringVector"].as_str().unwrap_or("")) } }
                }
                tr { th { "Exploit available" } td { (f["exploitAvailable"].as_str().unwrap_or("")) @if let Some(k) = f["exploitabilityDetails"]["lastKnownExploitAt"].as_str() { " (KEV, " (k) ")" } } }
                tr { th { "Fix available" } td { (f["fixAvailable"].as_str().unwrap_or("")) } }
                tr { th { "Resource" } td { (f["resources"][0]["type"].as_str().unwrap_or("")) " " span.mono { (f["resources"][0]["id"].as_str().unwrap_or("")) } } }
                tr { th { "First / last observed" } td.mono { (f["firstObservedAt"].as_str().unwrap_or("")) " / " (f["lastObservedAt"].as_str().unwrap_or("")) } }
                tr { th { "References" } td { @for u in d["referenceUrls"].as_array().into_iter().flatten() { (external_link(u.as_str().unwrap_or(""))) br; } @if let Some(u) = d["sourceUrl"].as_str() { (external_link(u)) } } }
            } }
            details { summary { "Finding JSON" } (copy_button(&raw)) pre { (raw) } }
        }
    }
}

pub async fn coverage(State(console): St, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let account = ctx.caller.account;
    let c = console.clone();
    let items = match blocking(&ctx, move || {
        c.inspect.read(|conn| Reads::new(conn).coverage(account))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        p { a href="/vulnerabilities" { "← Dashboard" } }
        @if items.is_empty() {
            p.muted { "Nothing scanned yet." }
        } @else {
            table.list {
                thead { tr { th { "Resource" } th { "Type" } th.num { "Packages" } th.num { "Active findings" } th { "Last scanned" } } }
                tbody {
                    @for r in &items {
                        @let id = r["resourceId"].as_str().unwrap_or("");
                        tr {
                            td { a href=(href("/vulnerabilities/findings", &[("resource", id)])) { (id) } }
                            td { (r["resourceType"].as_str().unwrap_or("")) }
                            td.num { (r["packageCount"].as_u64().unwrap_or(0)) }
                            td.num { (r["activeFindings"].as_u64().unwrap_or(0)) }
                            td.mono { (r["lastScannedAt"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, Nav::Vulnerabilities, "Coverage", body)
}

/// Suppression rules: findings they match become SUPPRESSED (never deleted), as Inspector's.
pub async fn rules(state: St, ctx: Ctx) -> Response {
    rules_page(state, ctx, None).await
}

async fn rules_page(
    State(console): St,
    ctx: Ctx,
    outcome: Option<Result<String, String>>,
) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let account = ctx.caller.account;
    let c = console.clone();
    let filters = match blocking(&ctx, move || {
        c.inspect
            .read(|conn| Reads::new(conn).list_filters(account))
    })
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let admin = ctx.caller.can(Role::Admin);
    let rows: Vec<crate::pages::RuleRow> = filters
        .iter()
        .map(|f| crate::pages::RuleRow {
            name: f.name.clone(),
            action: f.action.clone(),
            criteria: serde_json::to_string(&f.filter_criteria).unwrap_or_default(),
            note: f.reason.clone().unwrap_or_default(),
        })
        .collect();
    let body = html! {
        p { a href="/vulnerabilities" { "← Dashboard" } }
        (crate::pages::outcome(&outcome))
        (crate::pages::rules_table(&ctx, &rows, "Reason", "/vulnerabilities/rules/delete", "No rules: every finding is shown as it is."))
        @if admin {
            h2 { "New rule" }
            form method="post" action="/vulnerabilities/rules" {
                (crate::pages::csrf(&ctx))
                div.filters {
                    label { "Name" input type="text" name="name" required maxlength="128"; }
                    label { "Reason" input type="text" name="reason" maxlength="512"; }
                }
                div.filters {
                    label { "Severity" select name="severity" { option value="" { "any" } @for s in SEVERITIES { option value=(s) { (s) } } } }
                    label { "Package" input type="text" name="package"; }
                    label { "Vulnerability" input type="text" name="vulnerability"; }
                    label { "Resource" input type="text" name="resource"; }
                }
                p.muted { "Matching findings become SUPPRESSED; empty fields match anything, and at least one must be set." }
                button type="submit" { "Save rule" }
            }
        }
    };
    page(
        &ctx,
        Nav::Vulnerabilities,
        "Vulnerability suppression rules",
        body,
    )
}

#[derive(Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    vulnerability: String,
    #[serde(default)]
    resource: String,
}

pub async fn create_rule(
    State(console): St,
    ctx: Ctx,
    axum::Form(f): axum::Form<RuleForm>,
) -> Response {
    if let Err(r) = crate::pages::threats::guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let filter = mamori_inspect::store::Filter {
        name: f.name.trim().to_string(),
        action: "SUPPRESS".into(),
        filter_criteria: Criteria {
            severity: eq(&f.severity),
            vulnerable_package_name: eq(&f.package),
            vulnerability_id: eq(&f.vulnerability),
            resource_id: eq(&f.resource),
            ..Default::default()
        },
        reason: (!f.reason.trim().is_empty()).then(|| f.reason.trim().to_string()),
        match_all: false,
    };
    let account = ctx.caller.account;
    let (store, adb) = (console.inspect.clone(), console.advisories.clone());
    let fl = filter.clone();
    let summary = match blocking(&ctx, move || {
        store.write(|st| {
            let db = adb.lock().unwrap_or_else(|p| p.into_inner());
            st.put_filter(&db, account, &fl)
        })
    })
    .await
    {
        Ok(s) => s,
        Err(r) => {
            return r;
        }
    };
    let req = serde_json::to_value(&filter).unwrap_or(Value::Null);
    let resp = serde_json::json!({"summary": summary});
    if let Err(r) =
        crate::pages::threats::audit(&console, &ctx, "mamori.inspect", "CreateFilter", req, resp)
            .await
    {
        return r;
    }
    let msg = format!("Saved rule {:?}.", filter.name);
    rules_page(State(console), ctx, Some(Ok(msg))).await
}

#[derive(Deserialize)]
pub struct DeleteRule {
    #[serde(default)]
    csrf: String,
    name: String,
}

pub async fn delete_rule(
    State(console): St,
    ctx: Ctx,
    axum::Form(f): axum::Form<DeleteRule>,
) -> Response {
    if let Err(r) = crate::pages::threats::guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let account = ctx.caller.account;
    let (store, adb, n) = (
        console.inspect.clone(),
        console.advisories.clone(),
        f.name.clone(),
    );
    let summary = match blocking(&ctx, move || {
        store.write(|st| {
            let db = adb.lock().unwrap_or_else(|p| p.into_inner());
            st.delete_filter(&db, account, &n)
        })
    })
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = crate::pages::threats::audit(
        &console,
        &ctx,
        "mamori.inspect",
        "DeleteFilter",
        serde_json::json!({"name": f.name}),
        serde_json::json!({"summary": summary}),
    )
    .await
    {
        return r;
    }
    rules_page(
        State(console),
        ctx,
        Some(Ok(format!("Deleted rule {:?}.", f.name))),
    )
    .await
}
