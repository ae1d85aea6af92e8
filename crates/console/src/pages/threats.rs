//! Threat detection (GuardDuty's console): the findings list with filters and pages, a
//! finding's every field with its evidence events linked into Event history, archive /
//! unarchive / feedback, suppression rules with a preview, threat lists, the detector switch.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::Role;
use mamori_guard::filters::{Condition, Filter};
use mamori_guard::store::{BANDS, GuardError, Reads, band};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::layout::{Nav, copy_button, error, href, page, severity_class};
use crate::pages::{autorefresh, csrf};
use crate::{Ctx, St, blocking, same_origin};

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    severity: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    archived: String,
    /// `organization`: every account's findings (the management account only, as in the API).
    #[serde(default)]
    scope: String,
    #[serde(default)]
    next: String,
}

/// The accounts a request reads: its own, or the organization's for the management account.
async fn scoped(console: &crate::Console, ctx: &Ctx, scope: &str) -> Result<Vec<i64>, Response> {
    match scope {
        "" | "account" => Ok(vec![ctx.caller.account.as_i64()]),
        "organization" if ctx.caller.account == console.management => {
            let org = console.org.clone();
            let all = blocking(ctx, move || org.accounts(None)).await?;
            Ok(all.iter().map(|a| a.id.as_i64()).collect())
        }
        "organization" => Err(error(
            ctx,
            StatusCode::FORBIDDEN,
            "only the organization's management account reads every account's findings",
        )),
        other => Err(error(
            ctx,
            StatusCode::BAD_REQUEST,
            &format!("scope {other:?}: account or organization"),
        )),
    }
}

fn min_severity(band_name: &str) -> Option<f64> {
    match band_name {
        "Low" => Some(1.0),
        "Medium" => Some(4.0),
        "High" => Some(7.0),
        "Critical" => Some(9.0),
        _ => None,
    }
}

pub async fn list(State(console): St, ctx: Ctx, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let min = min_severity(&q.severity).unwrap_or(0.0);
    let archived = match q.archived.as_str() {
        "true" => Some(true),
        "all" => None,
        _ => Some(false),
    };
    // A page token is bound to the filters it was issued for.
    let query = format!("{}|{}|{}|{}", q.severity, q.kind, q.archived, q.scope);
    let after: Option<(String, String)> = match q.next.is_empty() {
        true => None,
        false => match mamori_core::page::resume(&query, Some(&q.next)) {
            Ok(p) => p,
            Err(e) => return error(&ctx, StatusCode::BAD_REQUEST, &e.message),
        },
    };
    let accounts = match scoped(&console, &ctx, &q.scope).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let kind = (!q.kind.is_empty()).then(|| q.kind.clone());
    let c = console.clone();
    let (items, next) = match blocking(&ctx, move || {
        c.guard.db.read(|conn| {
            Reads::new(conn).findings(&accounts, kind.as_deref(), min, archived, PAGE, after)
        })
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let next_link = next.map(|p| {
        href(
            "/threats",
            &[
                ("severity", &q.severity),
                ("type", &q.kind),
                ("archived", &q.archived),
                ("scope", &q.scope),
                ("next", &mamori_core::page::encode(&query, &p)),
            ],
        )
    });
    let body = html! {
        (autorefresh())
        p { a href="/threats/rules" { "Detector, threat lists and suppression rules →" } }
        form.filters method="get" action="/threats" {
            label { "Severity at least"
                select name="severity" {
                    option value="" { "any" }
                    @for b in BANDS { option value=(b) selected[q.severity == b] { (b) } }
                }
            }
            label { "Finding type" input type="search" name="type" value=(q.kind) placeholder="e.g. Recon:IAMUser/MaliciousIPCaller"; }
            label { "Status"
                select name="archived" {
                    option value="" selected[q.archived.is_empty()] { "active" }
                    option value="true" selected[q.archived == "true"] { "archived" }
                    option value="all" selected[q.archived == "all"] { "all" }
                }
            }
            @if ctx.caller.account == console.management {
                label { "Accounts"
                    select name="scope" {
                        option value="" selected[q.scope != "organization"] { "this account" }
                        option value="organization" selected[q.scope == "organization"] { "all accounts" }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if items.is_empty() {
            p.muted { "No findings match." }
        } @else {
            table.list {
                thead { tr { th { "Severity" } th { "Finding type" } th { "Account" } th { "Resource" } th.num { "Count" } th { "Last seen" } th { "Updated" } } }
                tbody {
                    @for f in &items {
                        @let sev = f["severity"].as_f64().unwrap_or(0.0);
                        @let b = BANDS[band(sev)];
                        tr {
                            td { span class=(format!("badge {}", severity_class(b))) { (b) " " (sev) } }
                            td {
                                a href=(href(&format!("/threats/finding/{}", id_of(f)), &[("scope", &q.scope)])) { (f["type"].as_str().unwrap_or("")) }
                                @if f["service"]["archived"].as_bool() == Some(true) { " " span.muted { "(archived)" } }
                                br; span.muted { (f["title"].as_str().unwrap_or("")) }
                            }
                            td.mono { (f["accountId"].as_str().unwrap_or("")) }
                            td { (resource_label(f)) }
                            td.num { (f["service"]["count"].as_u64().unwrap_or(1)) }
                            td.mono { (f["service"]["eventLastSeen"].as_str().unwrap_or("")) }
                            td.mono { (f["updatedAt"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        div.pager {
            @if !q.next.is_empty() { a href=(href("/threats", &[("severity", &q.severity), ("type", &q.kind), ("archived", &q.archived), ("scope", &q.scope)])) { "← First page" } }
            @if let Some(n) = next_link { a href=(n) { "Next page →" } }
        }
    };
    page(&ctx, Nav::Threats, "Threat detection findings", body)
}

/// A finding id as stored (hex); anything else is not linked.
fn id_of(f: &Value) -> String {
    f["id"]
        .as_str()
        .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or("")
        .to_string()
}

fn resource_label(f: &Value) -> String {
    let r = &f["resource"];
    match r["resourceType"].as_str().unwrap_or("") {
        "AccessKey" => {
            let k = &r["accessKeyDetails"];
            let who = k["userName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or_else(|| k["principalId"].as_str())
                .unwrap_or("");
            format!("{} {who}", k["userType"].as_str().unwrap_or("AccessKey"))
        }
        "Instance" => r["instanceDetails"]["instanceId"]
            .as_str()
            .unwrap_or("Instance")
            .to_string(),
        other => other.to_string(),
    }
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    scope: String,
}

pub async fn detail(
    State(console): St,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let accounts = match scoped(&console, &ctx, &q.scope).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let c = console.clone();
    let i = id.clone();
    let f = match blocking(&ctx, move || {
        c.guard
            .db
            .read(|conn| Reads::new(conn).finding(&accounts, &i))
    })
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let sev = f["severity"].as_f64().unwrap_or(0.0);
    let b = BANDS[band(sev)];
    let archived = f["service"]["archived"].as_bool() == Some(true);
    // Archive and feedback act in the caller's account, as the API's do.
    let can_write = ctx.caller.can(Role::Writer)
        && f["accountId"].as_str() == Some(ctx.caller.account.to_string().as_str());
    let event_ids: Vec<String> = f["service"]["additionalInfo"]["eventIds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let raw = serde_json::to_string_pretty(&f).unwrap_or_default();
    let body = html! {
        p { a href="/threats" { "← Findings" } }
        div.actions {
            span class=(format!("badge {}", severity_class(b))) { (b) " " (sev) }
            strong { (f["type"].as_str().unwrap_or("")) }
            @if archived { span.badge.off { "archived" } }
        }
        p { (f["description"].as_str().unwrap_or("")) }
        @if can_write {
            div.actions {
                @if archived {
                    form method="post" action=(format!("/threats/finding/{}/unarchive", id_of(&f))) {
                        (csrf(&ctx)) button.secondary type="submit" { "Unarchive" }
                    }
                } @else {
                    form method="post" action=(format!("/threats/finding/{}/archive", id_of(&f))) {
                        (csrf(&ctx)) button type="submit" { "Archive" }
                    }
                }
                form method="post" action=(format!("/threats/finding/{}/feedback", id_of(&f))) {
                    (csrf(&ctx))
                    select name="feedback" {
                        option value="USEFUL" { "Useful" }
                        option value="NOT_USEFUL" { "Not useful" }
                    }
                    input type="text" name="comments" placeholder="Comment (optional)" maxlength="1000";
                    button.secondary type="submit" { "Send feedback" }
                }
            }
        }
        h2 { "Evidence events" }
        @if event_ids.is_empty() {
            p.muted { "No event ids recorded." }
        } @else {
            ul {
                @for e in &event_ids {
                    li { a.mono href=(href("/events", &[("key", "EventId"), ("value", e)])) { (e) } }
                }
            }
        }
        h2 { "Every field" }
        table.kv { tbody { (fields("", &f)) } }
        h2 { "Finding JSON " (copy_button(&raw)) }
        pre { (raw) }
    };
    page(&ctx, Nav::Threats, "Finding", body)
}

/// A finding's fields as rows of (dotted path, value), nested objects flattened.
fn fields(prefix: &str, v: &Value) -> Markup {
    html! {
        @match v {
            Value::Object(m) => {
                @for (k, x) in m {
                    @let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    (fields(&path, x))
                }
            }
            Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
                tr { th.mono { (prefix) } td { (a.iter().map(scalar).collect::<Vec<_>>().join(", ")) } }
            }
            Value::Array(a) => {
                @for (i, x) in a.iter().enumerate() { (fields(&format!("{prefix}[{i}]"), x)) }
            }
            other => { tr { th.mono { (prefix) } td { (scalar(other)) } } }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn archive(
    state: St,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    set_archived(state, ctx, id, f.csrf, true).await
}

pub async fn unarchive(
    state: St,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    set_archived(state, ctx, id, f.csrf, false).await
}

/// Checks a state-changing form: same origin, CSRF token, role.
pub(crate) fn guard_form(ctx: &Ctx, csrf_token: &str, role: Role) -> Result<(), Response> {
    if !same_origin(&ctx.headers) {
        return Err(error(
            ctx,
            StatusCode::FORBIDDEN,
            "this form did not come from this console",
        ));
    }
    ctx.check_csrf(csrf_token)?;
    ctx.require(role)
}

/// Audits a console action as the API call it stands for.
pub(crate) async fn audit(
    console: &crate::Console,
    ctx: &Ctx,
    source: &'static str,
    name: &str,
    request: Value,
    response: Value,
) -> Result<(), Response> {
    mamori_core::service::Auditor::new(console.audit.clone(), source)
        .record(&ctx.caller, &ctx.headers, name, request, response)
        .await
        .map_err(|e| error(ctx, e.code.http_status(), &e.message))
}

async fn set_archived(
    State(console): St,
    ctx: Ctx,
    id: String,
    token: String,
    archived: bool,
) -> Response {
    if let Err(r) = guard_form(&ctx, &token, Role::Writer) {
        return r;
    }
    let account = ctx.caller.account;
    let (c, i) = (console.clone(), id.clone());
    if let Err(r) = blocking(&ctx, move || {
        c.guard
            .db
            .write(|db| db.set_archived(account, &i, archived))
    })
    .await
    {
        return r;
    }
    let name = if archived {
        "ArchiveFindings"
    } else {
        "UnarchiveFindings"
    };
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.guard",
        name,
        json!({"findingIds": [id]}),
        Value::Null,
    )
    .await
    {
        return r;
    }
    Redirect::to(&format!("/threats/finding/{}", id_of(&json!({"id": id})))).into_response()
}

#[derive(Deserialize)]
pub struct FeedbackForm {
    #[serde(default)]
    csrf: String,
    feedback: String,
    #[serde(default)]
    comments: String,
}

pub async fn feedback(
    State(console): St,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<FeedbackForm>,
) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Writer) {
        return r;
    }
    if !matches!(f.feedback.as_str(), "USEFUL" | "NOT_USEFUL") {
        return error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "feedback: USEFUL or NOT_USEFUL",
        );
    }
    let account = ctx.caller.account;
    let (c, i, verdict) = (console.clone(), id.clone(), f.feedback.clone());
    let comments = (!f.comments.trim().is_empty()).then(|| f.comments.clone());
    if let Err(r) = blocking(&ctx, move || {
        c.guard
            .db
            .write(|db| db.feedback(account, &i, &verdict, comments.as_deref()))
    })
    .await
    {
        return r;
    }
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.guard",
        "UpdateFindingsFeedback",
        json!({"findingIds": [id], "feedback": f.feedback}),
        Value::Null,
    )
    .await
    {
        return r;
    }
    Redirect::to(&format!("/threats/finding/{}", id_of(&json!({"id": id})))).into_response()
}

/// The rule form as sent: up to three conditions of (field, operator, values).
#[derive(Deserialize, Default)]
pub struct RuleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    field1: String,
    #[serde(default)]
    op1: String,
    #[serde(default)]
    value1: String,
    #[serde(default)]
    field2: String,
    #[serde(default)]
    op2: String,
    #[serde(default)]
    value2: String,
    #[serde(default)]
    field3: String,
    #[serde(default)]
    op3: String,
    #[serde(default)]
    value3: String,
    /// Present when the Preview button was pressed: count, do not save.
    #[serde(default)]
    preview: Option<String>,
}

const OPS: [(&str, &str); 6] = [
    ("Equals", "equals"),
    ("NotEquals", "does not equal"),
    ("Matches", "matches (glob)"),
    ("NotMatches", "does not match"),
    ("GreaterThanOrEqual", "≥"),
    ("LessThan", "<"),
];

impl RuleForm {
    fn filter(&self) -> Result<Filter, String> {
        let mut criteria = BTreeMap::new();
        for (field, op, value) in [
            (&self.field1, &self.op1, &self.value1),
            (&self.field2, &self.op2, &self.value2),
            (&self.field3, &self.op3, &self.value3),
        ] {
            if field.trim().is_empty() {
                continue;
            }
            let values: Vec<String> = value
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            let number = || {
                value
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{field}: {op} needs a number, not {value:?}"))
            };
            let mut c = Condition::default();
            match op.as_str() {
                "Equals" => c.equals = values,
                "NotEquals" => c.not_equals = values,
                "Matches" => c.matches = values,
                "NotMatches" => c.not_matches = values,
                "GreaterThanOrEqual" => c.greater_than_or_equal = Some(number()?),
                "LessThan" => c.less_than = Some(number()?),
                other => return Err(format!("unknown operator {other:?}")),
            }
            criteria.insert(field.trim().to_string(), c);
        }
        let f = Filter {
            name: self.name.trim().to_string(),
            action: if self.action == "NOOP" {
                "NOOP".into()
            } else {
                "ARCHIVE".into()
            },
            rank: 0,
            description: (!self.description.trim().is_empty())
                .then(|| self.description.trim().to_string()),
            criteria,
        };
        f.validate()?;
        Ok(f)
    }
}

pub async fn rules(state: St, ctx: Ctx) -> Response {
    rules_page(state, ctx, RuleForm::default(), None).await
}

async fn rules_page(
    State(console): St,
    ctx: Ctx,
    form: RuleForm,
    outcome: Option<Result<String, String>>,
) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let account = ctx.caller.account;
    let c = console.clone();
    let (enabled, filters, lists) = match blocking(&ctx, move || {
        c.guard.db.read(|conn| {
            let r = Reads::new(conn);
            Ok::<_, GuardError>((r.enabled(account)?, r.filters(account)?, r.lists(account)?))
        })
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let admin = ctx.caller.can(Role::Admin);
    let rows: Vec<crate::pages::RuleRow> = filters
        .iter()
        .map(|f| crate::pages::RuleRow {
            name: f.name.clone(),
            action: f.action.clone(),
            criteria: serde_json::to_string(&f.criteria).unwrap_or_default(),
            note: f.description.clone().unwrap_or_default(),
        })
        .collect();
    let body = html! {
        p { a href="/threats" { "← Findings" } }
        h2 { "Detector" }
        div.actions {
            @if enabled { span.badge.ok { "enabled" } } @else { span.badge.off { "disabled" } }
            @if admin {
                form method="post" action="/threats/detector" {
                    (csrf(&ctx))
                    input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                    button.secondary type="submit" { @if enabled { "Disable detection" } @else { "Enable detection" } }
                }
            }
        }
        h2 { "Threat and trusted lists" }
        @if lists.is_empty() {
            p.muted { "No lists. Upload one with " code { "mamori guard lists put" } "." }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Kind" } th { "Format" } th.num { "Entries" } th { "Created" } } }
                tbody { @for l in &lists { tr { td { (l.name) } td { (l.kind) } td { (l.format) } td.num { (l.entries) } td.mono { (l.created_at) } } } }
            }
        }
        h2 { "Suppression rules" }
        (crate::pages::rules_table(&ctx, &rows, "Description", "/threats/rules/delete", "No rules: every finding stays active."))
        @if admin {
            h2 { "New rule" }
            (crate::pages::outcome(&outcome))
            form method="post" action="/threats/rules" {
                (csrf(&ctx))
                div.filters {
                    label { "Name" input type="text" name="name" value=(form.name) required maxlength="64"; }
                    label { "Action"
                        select name="action" {
                            option value="ARCHIVE" selected[form.action != "NOOP"] { "Archive matching findings" }
                            option value="NOOP" selected[form.action == "NOOP"] { "Keep them active" }
                        }
                    }
                    label { "Description" input type="text" name="description" value=(form.description) maxlength="512"; }
                }
                @for (i, (field, op, value)) in [(&form.field1, &form.op1, &form.value1), (&form.field2, &form.op2, &form.value2), (&form.field3, &form.op3, &form.value3)].into_iter().enumerate() {
                    div.filters {
                        label { "Field" input type="text" name=(format!("field{}", i + 1)) value=(field) placeholder="type, severity, resource.accessKeyDetails.userName …"; }
                        label { "Operator"
                            select name=(format!("op{}", i + 1)) {
                                @for (o, label) in OPS { option value=(o) selected[op == o] { (label) } }
                            }
                        }
                        label { "Values (comma-separated)" input type="text" name=(format!("value{}", i + 1)) value=(value); }
                    }
                }
                div.actions {
                    button.secondary type="submit" name="preview" value="1" { "Preview" }
                    button type="submit" { "Save rule" }
                }
            }
        }
    };
    page(
        &ctx,
        Nav::Threats,
        "Detection settings and suppression rules",
        body,
    )
}

pub async fn create_rule(State(console): St, ctx: Ctx, Form(f): Form<RuleForm>) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let filter = match f.filter() {
        Ok(x) => x,
        Err(e) => return rules_page(State(console), ctx, f, Some(Err(e))).await,
    };
    let account = ctx.caller.account;
    let c = console.clone();
    let fl = filter.clone();
    if f.preview.is_some() {
        let n = match blocking(&ctx, move || {
            c.guard
                .db
                .read(|conn| Reads::new(conn).count_matching(account, &fl))
        })
        .await
        {
            Ok(n) => n,
            Err(r) => return r,
        };
        let msg =
            format!("Preview: this rule matches {n} of this account's findings now (not saved).");
        return rules_page(State(console), ctx, f, Some(Ok(msg))).await;
    }
    let n = match blocking(&ctx, move || {
        c.guard.db.write(|db| db.put_filter(account, &fl))
    })
    .await
    {
        Ok(n) => n,
        Err(r) => return r,
    };
    let req = serde_json::to_value(&filter).unwrap_or(Value::Null);
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.guard",
        "CreateFilter",
        req,
        json!({"name": filter.name, "matchingFindings": n}),
    )
    .await
    {
        return r;
    }
    let msg = format!(
        "Saved rule {:?}; it matches {n} of this account's findings now.",
        filter.name
    );
    rules_page(State(console), ctx, RuleForm::default(), Some(Ok(msg))).await
}

#[derive(Deserialize)]
pub struct DeleteRule {
    #[serde(default)]
    csrf: String,
    name: String,
}

pub async fn delete_rule(State(console): St, ctx: Ctx, Form(f): Form<DeleteRule>) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let account = ctx.caller.account;
    let (c, n) = (console.clone(), f.name.clone());
    if let Err(r) = blocking(&ctx, move || {
        c.guard.db.write(|db| db.delete_filter(account, &n))
    })
    .await
    {
        return r;
    }
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.guard",
        "DeleteFilter",
        json!({"name": f.name}),
        Value::Null,
    )
    .await
    {
        return r;
    }
    Redirect::to("/threats/rules").into_response()
}

#[derive(Deserialize)]
pub struct DetectorForm {
    #[serde(default)]
    csrf: String,
    enabled: String,
}

pub async fn set_detector(State(console): St, ctx: Ctx, Form(f): Form<DetectorForm>) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let enabled = f.enabled == "true";
    let account = ctx.caller.account;
    let c = console.clone();
    if let Err(r) = blocking(&ctx, move || {
        c.guard.db.write(|db| db.set_enabled(account, enabled))
    })
    .await
    {
        return r;
    }
    let name = if enabled {
        "EnableDetector"
    } else {
        "DisableDetector"
    };
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.guard",
        name,
        json!({"enabled": enabled}),
        json!({"enabled": enabled, "accounts": 1}),
    )
    .await
    {
        return r;
    }
    Redirect::to("/threats/rules").into_response()
}
