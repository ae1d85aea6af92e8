//! Sign-in with an API key, sign-out, and the management admin's account switcher.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::layout::bare;
use crate::session::{clear_cookie, set_cookie};
use crate::{Ctx, St, same_origin};

pub async fn form() -> Response {
    signin_page(StatusCode::OK, None)
}

fn signin_page(status: StatusCode, error: Option<&str>) -> Response {
    bare(
        status,
        "Sign in",
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/signin" {
                label for="key" { "API key" }
                input id="key" type="password" name="key" autocomplete="off" autofocus required;
                button type="submit" { "Sign in" }
            }
            p.muted {
                "The first " code { "mamori serve" } " printed an admin key (also in "
                code { "<data dir>/admin.key" } "). Create more with "
                code { "mamori org keys create" } "."
            }
        },
    )
}

#[derive(Deserialize)]
pub struct SignIn {
    key: String,
}

pub async fn submit(State(console): St, headers: HeaderMap, Form(f): Form<SignIn>) -> Response {
    if !same_origin(&headers) {
        return signin_page(
            StatusCode::FORBIDDEN,
            Some("this form did not come from this console"),
        );
    }
    let org = console.org.clone();
    let token = f.key.trim().to_string();
    let t = token.clone();
    let resolved = tokio::task::spawn_blocking(move || org.authenticate(Some(&t), None)).await;
    let caller = match resolved {
        Ok(Ok(c)) => c,
        Ok(Err(mamori_org::store::AuthErrorOr::Auth(_))) => {
            return signin_page(
                StatusCode::UNAUTHORIZED,
                Some("that key is not valid (mistyped, revoked, or of another server)"),
            );
        }
        _ => {
            return signin_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("sign-in failed on the server; its log has the details"),
            );
        }
    };
    let id = console.sessions.create(token);
    // Recorded as CloudTrail records console sign-ins, in the key's own account.
    let mut audit_headers = headers.clone();
    audit_headers.remove(mamori_core::audit::PEER_HEADER);
    let entry = mamori_core::AuditEntry::from_request(
        "mamori.signin",
        "ConsoleLogin",
        &audit_headers,
        serde_json::Value::Null,
        serde_json::json!({"ConsoleLogin": "Success"}),
    );
    if let Err(e) = mamori_core::audit::record(console.audit.clone(), caller, entry).await {
        tracing::error!(error = %e.message, "recording a console sign-in failed");
    }
    let secure = forwarded_tls(&headers);
    (
        [(header::SET_COOKIE, set_cookie(&id, secure))],
        Redirect::to("/"),
    )
        .into_response()
}

/// The request came over TLS to a proxy in front of the server (which itself speaks HTTP).
fn forwarded_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn signout(State(console): St, ctx: Ctx, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.csrf) {
        return r;
    }
    console.sessions.revoke(&ctx.session_id);
    (
        [(header::SET_COOKIE, clear_cookie())],
        Redirect::to("/signin"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct Switch {
    #[serde(default)]
    csrf: String,
    account: String,
}

/// The management admin acts on another account (the API's `x-mamori-account`).
pub async fn switch_account(
    State(console): St,
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<Switch>,
) -> Response {
    if !same_origin(&headers) {
        return crate::layout::error(
            &ctx,
            StatusCode::FORBIDDEN,
            "this form did not come from this console",
        );
    }
    if let Err(r) = ctx.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(account) = f.account.parse::<mamori_core::AccountId>() else {
        return crate::layout::error(&ctx, StatusCode::BAD_REQUEST, "not an account id");
    };
    if !ctx.accounts.iter().any(|(a, _)| *a == account) {
        return crate::layout::error(
            &ctx,
            StatusCode::FORBIDDEN,
            "that account is not yours to switch to",
        );
    }
    let act_on = (account != ctx.caller.key_account).then_some(account);
    console.sessions.set_account(&ctx.session_id, act_on);
    Redirect::to("/").into_response()
}
