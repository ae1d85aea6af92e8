//! Organization: accounts (all of them for the management account's admin), the account's API
//! keys — create (the secret shown once, on the page that created it) and revoke — and roles.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use mamori_core::Role;
use maud::html;
use serde::Deserialize;
use serde_json::json;

use crate::layout::{Nav, copy_button, error, page};
use crate::pages::csrf;
use crate::pages::threats::{audit, guard_form};
use crate::{Ctx, St, blocking};

pub async fn show(state: St, ctx: Ctx) -> Response {
    render(state, ctx, None).await
}

async fn render(State(console): St, ctx: Ctx, created: Option<(String, String)>) -> Response {
    if let Err(r) = ctx.require(Role::Reader) {
        return r;
    }
    let only = (!ctx.is_org_admin(console.management)
        || ctx.caller.account != ctx.caller.key_account)
        .then_some(ctx.caller.account);
    let account = ctx.caller.account;
    let admin = ctx.caller.can(Role::Admin);
    let org = console.org.clone();
    let (accounts, keys) = match blocking(&ctx, move || -> Result<_, mamori_org::OrgError> {
        let accounts = org.accounts(only)?;
        // Keys are an admin's business (names and roles of everyone's credentials).
        let keys = if admin {
            org.keys(account)?
        } else {
            Vec::new()
        };
        Ok((accounts, keys))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        @if let Some((name, secret)) = &created {
            div.notice role="status" {
                p { "API key " strong { (name) } " created. Its secret is shown this once; store it now." }
                p { code id="new-secret" { (secret) } (copy_button(secret)) }
            }
        }
        h2 { "Accounts" }
        table.list {
            thead { tr { th { "Account" } th { "Name" } th { "Kind" } th { "Email" } th { "Created" } } }
            tbody {
                @for a in &accounts {
                    tr {
                        td.mono { (a.id) }
                        td { (a.name) }
                        td { (a.kind) }
                        td { (a.email.as_deref().unwrap_or("")) }
                        td.mono { (a.created_at) }
                    }
                }
            }
        }
        h2 { "API keys of account " (account) }
        @if !admin {
            p.muted { "Only an admin sees and manages this account's keys." }
        } @else {
            table.list {
                thead { tr { th { "Key id" } th { "Name" } th { "Role" } th { "Created" } th { "Revoked" } th {} } }
                tbody {
                    @for k in &keys {
                        tr {
                            td.mono { (k.key_id) }
                            td { (k.name) }
                            td { (format!("{:?}", k.role).to_lowercase()) }
                            td.mono { (k.created_at) }
                            td.mono { (k.revoked_at.as_deref().unwrap_or("")) }
                            td {
                                @if k.revoked_at.is_none() {
                                    form method="post" action="/organization/keys/revoke" data-confirm=(format!("Revoke key {}? Whatever uses it stops working.", k.name)) {
                                        (csrf(&ctx))
                                        input type="hidden" name="key_id" value=(k.key_id);
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "New API key" }
            form.filters method="post" action="/organization/keys" {
                (csrf(&ctx))
                label { "Name" input type="text" name="name" required maxlength="128"; }
                label { "Role"
                    select name="role" {
                        option value="reader" { "reader: reads everything of the account" }
                        option value="writer" { "writer: also sends events, scans, archives findings" }
                        option value="admin" { "admin: also manages keys, trails, rules" }
                    }
                }
                button type="submit" { "Create key" }
            }
        }
        h2 { "Roles" }
        table.list {
            tbody {
                tr { th { "reader" } td { "reads the account's events, findings, trails and settings" } }
                tr { th { "writer" } td { "a reader that also sends events and scans, archives findings and gives feedback" } }
                tr { th { "admin" } td { "a writer that also manages API keys, trails, detection settings and rules; the management account's admins act on every account" } }
            }
        }
    };
    page(&ctx, Nav::Organization, "Organization", body)
}

#[derive(Deserialize)]
pub struct CreateKey {
    #[serde(default)]
    csrf: String,
    name: String,
    role: String,
}

pub async fn create_key(State(console): St, ctx: Ctx, Form(f): Form<CreateKey>) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let role = match f.role.as_str() {
        "reader" => Role::Reader,
        "writer" => Role::Writer,
        "admin" => Role::Admin,
        _ => {
            return error(
                &ctx,
                StatusCode::BAD_REQUEST,
                "role: reader, writer or admin",
            );
        }
    };
    let account = ctx.caller.account;
    let (org, name) = (console.org.clone(), f.name.clone());
    let (info, secret) = match blocking(&ctx, move || org.create_key(account, &name, role)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The secret is never part of the audit record.
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.org",
        "CreateApiKey",
        json!({"name": f.name, "role": role}),
        json!({"keyId": info.key_id}),
    )
    .await
    {
        return r;
    }
    let mut r = render(State(console), ctx, Some((info.name, secret))).await;
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

#[derive(Deserialize)]
pub struct RevokeKey {
    #[serde(default)]
    csrf: String,
    key_id: String,
}

pub async fn revoke_key(State(console): St, ctx: Ctx, Form(f): Form<RevokeKey>) -> Response {
    if let Err(r) = guard_form(&ctx, &f.csrf, Role::Admin) {
        return r;
    }
    let account = ctx.caller.account;
    let (org, id) = (console.org.clone(), f.key_id.clone());
    let info = match blocking(&ctx, move || org.revoke_key(account, &id)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = audit(
        &console,
        &ctx,
        "mamori.org",
        "RevokeApiKey",
        json!({"keyId": f.key_id}),
        json!({"revokedAt": info.revoked_at}),
    )
    .await
    {
        return r;
    }
    axum::response::Redirect::to("/organization").into_response()
}

use axum::response::IntoResponse;
