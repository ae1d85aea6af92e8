//! Trails: each trail's destination, logging state, latest delivery and digest with their
//! errors, its Merkle log size; start and stop logging (as StartLogging / StopLogging do).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::Role;
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::layout::{Nav, page};
use crate::pages::csrf;
use crate::pages::threats::{audit, guard_form};
use crate::{Ctx, St, blocking};

pub async fn list(state: St, ctx: Ctx) -> Response {
    render(state, ctx, None).await
}

async fn render(State(console): St, ctx: Ctx, outcome: Option<Result<String, String>>) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let account = ctx.caller.account;
    let e = console.trails.clone();
    let trails = match blocking(&ctx, move || e.db.list(Some(account))).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let admin = ctx.caller.can(Role::Admin);
    let body = html! {
        @if trails.is_empty() {
            p.muted { "No trails in this account. Create one with "
                code { "mamori trail create --name main --destination file://main" } "." }
        } @else {
            table.list {
                thead { tr {
                    th { "Name" } th { "Destination" } th { "Logging" } th { "Latest delivery" }
                    th { "Latest digest" } th.num { "Records in the log" } @if admin { th {} }
                } }
                tbody {
                    @for t in &trails {
                        tr {
                            td { strong { (t.spec.name) }
                                 @if t.spec.is_organization_trail { br; span.muted { "organization trail" } } }
                            td.mono { (t.spec.destination) @if !t.spec.key_prefix.is_empty() { "/" (t.spec.key_prefix) } }
                            td {
                                @if t.logging { span.badge.ok { "logging" } } @else { span.badge.off { "stopped" } }
                                br; span.muted.mono { (t.logging_started_at.as_deref().or(t.logging_stopped_at.as_deref()).unwrap_or("")) }
                            }
                            td.mono {
                                (t.latest_delivery_time.as_deref().unwrap_or("—"))
                                @if let Some(e) = &t.latest_delivery_error { br; span.error { (e) } }
                            }
                            td.mono {
                                (t.latest_digest_time.as_deref().unwrap_or("—"))
                                @if let Some(o) = &t.latest_digest_object { br; span.muted { (o) } }
                                @if let Some(e) = &t.latest_digest_error { br; span.error { (e) } }
                            }
                            td.num { (t.leaves) }
                            @if admin {
                                td {
                                    @if t.logging {
                                        form method="post" action=(format!("/trails/{}/stop", name_segment(&t.spec.name))) data-confirm=(format!("Stop logging for {}?", t.spec.name)) {
                                            (csrf(&ctx)) button.danger type="submit" { "Stop logging" }
                                        }
                                    } @else {
                                        form method="post" action=(format!("/trails/{}/start", name_segment(&t.spec.name))) {
                                            (csrf(&ctx)) button type="submit" { "Start logging" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.muted { "Validate what a trail delivered, offline: " code { "mamori trail validate <destination>" } "." }
        }
        @if admin {
            h2 { "New trail" }
            (crate::pages::outcome(&outcome))
            form.filters method="post" action="/trails" {
                (csrf(&ctx))
                label { "Name" input type="text" name="name" required maxlength="128" pattern="[A-Za-z0-9._\\-]+"; }
                label { "Destination" input type="text" name="destination" required placeholder="a folder name, or s3://bucket/prefix"; }
                label { "Key prefix" input type="text" name="key_prefix"; }
                @if ctx.caller.account == console.management {
                    label { "Organization trail" select name="organization" { option value="false" { "this account" } option value="true" { "every account" } } }
                }
                button type="submit" { "Create trail" }
            }
        }
    };
    page(&ctx, Nav::Trails, "Trails", body)
}

/// A trail name as one path segment (names are `[A-Za-z0-9._-]`, but encode anyway).
fn name_segment(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes()).collect()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn start(
    state: St,
    ctx: Ctx,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    set_logging(state, ctx, name, f.csrf, true).await
}

pub async fn stop(
    state: St,
    ctx: Ctx,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    set_logging(state, ctx, name, f.csrf, false).await
}

async fn set_logging(
    State(console): St,
    ctx: Ctx,
    name: String,
    token: String,
    on: bool,
) -> Response {
    if let Err(r) = guard_form(&ctx, &token, Role::Admin) {
        return r;
    }
    let account = ctx.caller.account;
    let e = console.trails.clone();
    let n = name.clone();
    let t = match blocking(&ctx, move || e.db.get(account, &n)).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let event = if on { "StartLogging" } else { "StopLogging" };
    // As the API does: StopLogging is recorded first, so the trail delivers it as its last event.
    if !on
        && let Err(r) = audit(
            &console,
            &ctx,
            "mamori.trail",
            event,
            json!({"name": name}),
            Value::Null,
        )
        .await
    {
        return r;
    }
    if t.logging != on {
        let e = console.trails.clone();
        let r = blocking(&ctx, move || {
            let seq = e.history.last_seq()?;
            if on {
                e.db.start_logging(&t, seq, chrono::Utc::now())
            } else {
                e.db.stop_logging(&t, seq, chrono::Utc::now())
            }
        })
        .await;
        if let Err(r) = r {
            return r;
        }
    }
    if on
        && let Err(r) = audit(
            &console,
            &ctx,
            "mamori.trail",
            event,
            json!({"name": name}),
            Value::Null,
        )
        .await
    {
        return r;
    }
    Redirect::to("/trails").into_response()
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    name: String,
    destination: String,
    #[serde(default)]
    key_prefix: String,
    #[serde(default)]
    organization: String,
}

/// CreateTrail, as the API does it: the spec's own checks, the operator's walls around the
/// destination, no place shared with another account's trail, logging from now on.
pub async fn create(State(console): St, ctx: Ctx, Form(f): Form<CreateForm>) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let spec: mamori_trails::spec::TrailSpec = match serde_json::from_value(json!({
        "name": f.name.trim(),
        "destination": f.destination.trim(),
        "keyPrefix": f.key_prefix.trim(),
        "isOrganizationTrail": f.organization == "true",
    })) {
        Ok(s) => s,
        Err(e) => return render(State(console), ctx, Some(Err(e.to_string()))).await,
    };
    if let Err(e) = spec.validate() {
        return render(State(console), ctx, Some(Err(e))).await;
    }
    if spec.is_organization_trail && ctx.caller.account != console.management {
        return render(
            State(console),
            ctx,
            Some(Err(
                "only the management account creates organization trails".into(),
            )),
        )
        .await;
    }
    let account = ctx.caller.account;
    let origin = format!("mamori/{}/{}/{}", console.trails.org, account, spec.name);
    let (e, sp) = (console.trails.clone(), spec.clone());
    let created = mamori_core::service::blocking(move || {
        e.check_destination(account, &sp)?;
        let cursor = e.history.last_seq()?;
        e.db.create(account, &sp, cursor, &origin, chrono::Utc::now())
    })
    .await;
    if let Err(e) = created {
        return render(State(console), ctx, Some(Err(e.message))).await;
    }
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.trail",
        "CreateTrail",
        serde_json::to_value(&spec).unwrap_or(Value::Null),
        json!({"name": spec.name}),
    )
    .await
    {
        return r;
    }
    let msg = format!("Created trail {:?}; it delivers from now on.", spec.name);
    render(State(console), ctx, Some(Ok(msg))).await
}
