//! mamori-console: the web console, served by `mamori serve` on the API's port at `/`.
//!
//! Server-rendered HTML (maud escapes every value), our own small CSS and JS compiled into the
//! binary, charts drawn as SVG on the server. Reading works with JavaScript off; the script
//! only adds copy buttons, auto-refresh and keyboard navigation.
//!
//! Owns sign-in sessions (memory only) and the pages. Depends on every service's library API
//! (`org`, `trail`, `trails`, `guard`, `inspect`) and reads and acts through it with the same
//! authorization as the HTTP API: the caller comes from `Org::authenticate` on every request,
//! roles are checked with `Caller::require`, every read is scoped to `caller.account`, and
//! every change is audited with the API call's own event name. Never raw SQL, never HTTP calls
//! to itself.

#![forbid(unsafe_code)]
// Handlers stop early with the page to answer (a `Response`), as axum handlers do.
#![allow(clippy::result_large_err)]

mod assets;
mod layout;
mod pages;
pub mod session;
mod svg;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mamori_core::audit::{AuditSink, PEER_HEADER};
use mamori_core::service::Shared;
use mamori_core::{AccountId, Caller, Role};
use mamori_inspect::store::InspectStore;
use mamori_org::Org;

use crate::session::{Session, Sessions};

/// Everything the console reads and acts through: each service's library handle.
pub struct Console {
    pub org: Arc<Org>,
    pub trail: Arc<mamori_trail::Trail>,
    pub trails: Arc<mamori_trails::deliver::Engine>,
    pub guard: Arc<mamori_guard::engine::Engine>,
    pub inspect: Arc<Shared<InspectStore>>,
    /// The advisory database inspection rules are matched against (writes lock it after the store).
    pub advisories: Arc<std::sync::Mutex<mamori_inspect::db::AdvisoryDb>>,
    pub audit: Arc<dyn AuditSink>,
    pub management: AccountId,
    pub sessions: Sessions,
    /// Events per day by account, for a minute (counting a month of a large history takes
    /// tens of milliseconds; the overview asks on every visit).
    pub events_per_day: EventsPerDay,
}

/// A minute's cache of each account's events per day.
#[derive(Default)]
pub struct EventsPerDay(std::sync::Mutex<std::collections::HashMap<(i64, u32), Counted>>);

/// When a month's counts were taken, and the counts (day, events).
type Counted = (std::time::Instant, Vec<(u32, u64)>);

impl EventsPerDay {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(60);

    /// The counts of `account` from `from` to `to` (YYYYMMDD), from the cache when fresh.
    pub fn get(
        &self,
        history: &mamori_trail::history::store::History,
        account: i64,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, u64)>, mamori_trail::history::store::StoreError> {
        let key = (account, from);
        if let Some((at, v)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && at.elapsed() < Self::FRESH
        {
            return Ok(v.clone());
        }
        let v = history.events_per_day(account, from, to)?;
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, (at, _)| at.elapsed() < Self::FRESH);
        m.insert(key, (std::time::Instant::now(), v.clone()));
        Ok(v)
    }
}

/// The console's routes (mounted by the server beside `/v1`, outside its bearer-key layer).
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pages::overview::show))
        .route(
            "/signin",
            get(pages::signin::form).post(pages::signin::submit),
        )
        .route("/signout", post(pages::signin::signout))
        .route("/account", post(pages::signin::switch_account))
        .route("/threats", get(pages::threats::list))
        .route(
            "/threats/rules",
            get(pages::threats::rules).post(pages::threats::create_rule),
        )
        .route("/threats/rules/delete", post(pages::threats::delete_rule))
        .route("/threats/detector", post(pages::threats::set_detector))
        .route("/threats/finding/{id}", get(pages::threats::detail))
        .route(
            "/threats/finding/{id}/archive",
            post(pages::threats::archive),
        )
        .route(
            "/threats/finding/{id}/unarchive",
            post(pages::threats::unarchive),
        )
        .route(
            "/threats/finding/{id}/feedback",
            post(pages::threats::feedback),
        )
        .route("/vulnerabilities", get(pages::vulns::dashboard))
        .route("/vulnerabilities/findings", get(pages::vulns::list))
        .route("/vulnerabilities/coverage", get(pages::vulns::coverage))
        .route(
            "/vulnerabilities/rules",
            get(pages::vulns::rules).post(pages::vulns::create_rule),
        )
        .route(
            "/vulnerabilities/rules/delete",
            post(pages::vulns::delete_rule),
        )
        .route("/events", get(pages::events::lookup))
        .route(
            "/trails",
            get(pages::trails::list).post(pages::trails::create),
        )
        .route("/trails/{name}/start", post(pages::trails::start))
        .route("/trails/{name}/stop", post(pages::trails::stop))
        .route("/organization", get(pages::org::show))
        .route("/organization/keys", post(pages::org::create_key))
        .route("/organization/keys/revoke", post(pages::org::revoke_key))
        .route("/assets/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .layer(axum::middleware::from_fn(layout::security_headers))
        .with_state(console)
}

/// A signed-in request: who (authenticated again from the session's key), its session's CSRF
/// token, the headers audit records read (with the connection's peer address), and the
/// accounts the caller may switch between.
pub struct Ctx {
    pub caller: Caller,
    pub csrf: String,
    pub session_id: String,
    pub session: Session,
    pub headers: HeaderMap,
    /// (id, name) of the accounts the account switcher offers (just the caller's own for most).
    pub accounts: Vec<(AccountId, String)>,
}

impl Ctx {
    /// The caller's role is at least `role`; a reader's forged POST stops here.
    pub fn require(&self, role: Role) -> Result<(), Response> {
        self.caller
            .require(role)
            .map_err(|e| layout::error(self, StatusCode::FORBIDDEN, &e.message))
    }

    /// Checks a form's CSRF token (every state-changing form carries it).
    pub fn check_csrf(&self, given: &str) -> Result<(), Response> {
        if session::csrf_ok(&self.session, given) {
            Ok(())
        } else {
            Err(layout::error(
                self,
                StatusCode::FORBIDDEN,
                "this form has expired or did not come from this console; reload the page and try again",
            ))
        }
    }

    /// A management-account admin (the organization's owner) acting from its own account.
    pub fn is_org_admin(&self, management: AccountId) -> bool {
        self.caller.key_account == management && self.caller.role == Role::Admin
    }
}

/// The peer address as the server's accept loop recorded it.
fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Signed in, or sent to the sign-in page.
impl FromRequestParts<Arc<Console>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let to_signin = || Redirect::to("/signin").into_response();
        let Some(id) = session::cookie_value(&parts.headers) else {
            return Err(to_signin());
        };
        let Some(s) = console.sessions.get(&id) else {
            return Err(to_signin());
        };
        let org = console.org.clone();
        let (token, act_on) = (s.token.clone(), s.act_on);
        let resolved =
            tokio::task::spawn_blocking(move || -> Result<_, mamori_org::store::AuthErrorOr> {
                let caller = org.authenticate(Some(&token), act_on)?;
                let accounts = if caller.role == Role::Admin {
                    let (_, mgmt) = org
                        .organization()
                        .map_err(mamori_org::store::AuthErrorOr::Store)?;
                    if caller.key_account == mgmt {
                        org.accounts(None)
                            .map_err(mamori_org::store::AuthErrorOr::Store)?
                    } else {
                        Vec::new()
                    }
                } else {
                    Vec::new()
                };
                Ok((caller, accounts))
            })
            .await;
        let (caller, accounts) = match resolved {
            Ok(Ok(x)) => x,
            // A revoked key or a removed account ends the session.
            _ => {
                console.sessions.revoke(&id);
                return Err(to_signin());
            }
        };
        // The audit records' source address is the connection's, never a header a client sent.
        let mut headers = parts.headers.clone();
        headers.remove(PEER_HEADER);
        if let Some(addr) = peer(parts)
            && let Ok(v) = HeaderValue::from_str(&addr.ip().to_string())
        {
            headers.insert(PEER_HEADER, v);
        }
        let accounts = if accounts.is_empty() {
            vec![(caller.account, String::new())]
        } else {
            accounts.into_iter().map(|a| (a.id, a.name)).collect()
        };
        Ok(Ctx {
            caller,
            csrf: s.csrf.clone(),
            session_id: id,
            session: s,
            headers,
            accounts,
        })
    }
}

/// A state-changing form post must come from this origin: a browser sends `Origin` with every
/// POST, and one naming another site is refused (CSRF tokens are checked as well).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// Runs store work on a blocking thread; its error becomes a console error page.
pub(crate) async fn blocking<T, E>(
    ctx: &Ctx,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Response>
where
    T: Send + 'static,
    E: mamori_core::service::ServiceError,
{
    mamori_core::service::blocking(f)
        .await
        .map_err(|e| layout::error(ctx, e.code.http_status(), &e.message))
}

/// The signed-in console state, for handlers.
pub(crate) type St = State<Arc<Console>>;
