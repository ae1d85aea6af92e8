//! The detection API under `/v1/guard/…`: the account's detector (on/off; organization-wide for
//! the management account), findings (list with filters and pages, get, archive, unarchive,
//! stats), threat and trusted lists, and webhook publishing. Scoped to the caller's account;
//! changes audited as `mamori.guard` events.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use mamori_core::audit::AuditSink;
use mamori_core::service::Auditor;
use mamori_core::{AccountId, ApiError, Caller, ErrorCode, JsonBody, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::intel::{Intel, ListFormat, ListKind};
use crate::store::{GuardDb, GuardError, Reads};

#[derive(Clone)]
pub struct ApiState {
    pub engine: Arc<Engine>,
    pub audit: Arc<dyn AuditSink>,
    pub management: AccountId,
    /// The organization's accounts (for enabling detection everywhere at once).
    pub accounts: Arc<dyn Fn() -> Vec<i64> + Send + Sync>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/guard/detector", get(detector).post(set_detector))
        .route("/v1/guard/findings", get(findings))
        .route("/v1/guard/findings/{id}", get(finding))
        .route("/v1/guard/findings/{id}/archive", post(archive))
        .route("/v1/guard/findings/{id}/unarchive", post(unarchive))
        .route("/v1/guard/findings/{id}/feedback", post(feedback))
        .route("/v1/guard/stats", get(stats))
        .route(
            "/v1/guard/retrohunts",
            post(start_retrohunt).layer(axum::extract::DefaultBodyLimit::max(MAX_RETRO_BODY_BYTES)),
        )
        .route("/v1/guard/retrohunts/{id}", get(retrohunt))
        .route(
            "/v1/guard/lists",
            get(lists)
                .post(put_list)
                // Lists are meant to be large (a million indicators is ~20 MB of text).
                .layer(axum::extract::DefaultBodyLimit::max(MAX_LIST_BODY_BYTES)),
        )
        .route("/v1/guard/lists/{name}", axum::routing::delete(delete_list))
        .route("/v1/guard/publishing", put(set_publishing))
        .route(
            "/v1/guard/sources/{source}",
            // The body is held as sent (gzip mostly) and inflated as a stream.
            post(ingest_source).layer(axum::extract::DefaultBodyLimit::max(MAX_SOURCE_BODY_BYTES)),
        )
        .route("/v1/guard/filters", get(list_filters).post(put_filter))
        .route(
            "/v1/guard/filters/{name}",
            axum::routing::delete(delete_filter),
        )
        .with_state(state)
}

impl ApiState {
    /// Store work that writes, on a blocking thread, one writer at a time.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut GuardDb) -> Result<T, GuardError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.engine.db.write_async(f).await
    }

    /// Store work that only reads, on a pooled read-only connection: never waits for detection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(Reads<'_>) -> Result<T, GuardError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.engine.db.read_async(move |c| f(Reads::new(c))).await
    }

    fn auditor(&self) -> Auditor {
        Auditor::new(self.audit.clone(), "mamori.guard")
    }
}

async fn detector(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let account = caller.account;
    let mgmt = caller.account == s.management;
    Ok(Json(
        s.read(move |db| {
            let mut v = json!({"accountId": account, "enabled": db.enabled(account)?});
            if mgmt {
                v["autoEnable"] = Value::Bool(db.auto_enable()?);
            }
            Ok(v)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DetectorBody {
    enabled: bool,
    #[serde(default)]
    all_members: bool,
    #[serde(default)]
    auto_enable: Option<bool>,
}

async fn set_detector(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<DetectorBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    if (b.all_members || b.auto_enable.is_some()) && caller.account != s.management {
        return Err(ApiError::forbidden(
            "only the organization's management account can set detection for every account",
        ));
    }
    let mut accounts = vec![caller.account.as_i64()];
    if b.all_members {
        accounts = (s.accounts)();
    }
    let (enabled, auto) = (b.enabled, b.auto_enable);
    let n = accounts.len();
    s.write(move |db| {
        for a in &accounts {
            db.set_enabled(crate::store::account_id(*a)?, enabled)?;
        }
        if let Some(on) = auto {
            db.set_auto_enable(on)?;
        }
        Ok(())
    })
    .await?;
    let resp = json!({"enabled": enabled, "accounts": n, "autoEnable": auto});
    s.auditor()
        .record(
            &caller,
            &headers,
            if enabled {
                "EnableDetector"
            } else {
                "DisableDetector"
            },
            json!({"enabled": enabled, "allMembers": b.all_members, "autoEnable": auto}),
            resp.clone(),
        )
        .await?;
    Ok(Json(resp))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FindingsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    min_severity: Option<f64>,
    archived: Option<bool>,
    max_results: Option<usize>,
    next_token: Option<String>,
    /// `ocsf`: OCSF 1.1 Detection Findings instead of GuardDuty's shape
    format: Option<String>,
    /// `organization`: every account's findings (the management account only)
    scope: Option<String>,
}

#[derive(Deserialize, Default)]
struct ScopeQuery {
    scope: Option<String>,
}

/// The accounts a request reads: the caller's, or with `scope=organization` every account of
/// the organization — which only its management account may ask for (as GuardDuty's
/// administrator account sees its members' findings).
fn scoped(s: &ApiState, caller: &Caller, scope: Option<&str>) -> Result<Vec<i64>, ApiError> {
    match scope {
        None | Some("account") => Ok(vec![caller.account.as_i64()]),
        Some("organization") if caller.account == s.management => Ok((s.accounts)()),
        Some("organization") => Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the organization's management account can read every account's findings",
        )),
        Some(other) => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("scope {other:?}: expected \"account\" or \"organization\""),
        )),
    }
}

async fn findings(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<FindingsQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let accounts = scoped(&s, &caller, q.scope.as_deref())?;
    let hash = format!(
        "{:?}{:?}{:?}{:?}",
        q.kind, q.min_severity, q.archived, q.scope
    );
    let after: Option<(String, String)> =
        mamori_core::page::resume(&hash, q.next_token.as_deref())?;
    let limit = mamori_core::page::max_results(q.max_results, 50)?;
    let (kind, min, archived) = (q.kind.clone(), q.min_severity.unwrap_or(0.0), q.archived);
    let (items, next) = s
        .read(move |db| db.findings(&accounts, kind.as_deref(), min, archived, limit, after))
        .await?;
    let items: Vec<Value> = if q.format.as_deref() == Some("ocsf") {
        let mut out = Vec::with_capacity(items.len());
        for v in items {
            let f: crate::finding::Finding = serde_json::from_value(v)
                .map_err(|e| ApiError::internal(format!("stored finding does not parse: {e}")))?;
            out.push(crate::ocsf::detection_finding(&f));
        }
        out
    } else {
        items
    };
    Ok(Json(mamori_core::page::answer(
        "findings",
        items,
        &hash,
        next.as_ref(),
    )))
}

async fn finding(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let accounts = scoped(&s, &caller, q.scope.as_deref())?;
    Ok(Json(s.read(move |db| db.finding(&accounts, &id)).await?))
}

async fn set_archived(
    s: ApiState,
    caller: Caller,
    headers: HeaderMap,
    id: String,
    archived: bool,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Writer)?;
    let account = caller.account;
    let i = id.clone();
    s.write(move |db| db.set_archived(account, &i, archived))
        .await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            if archived {
                "ArchiveFindings"
            } else {
                "UnarchiveFindings"
            },
            json!({"findingIds": [id]}),
            Value::Null,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn archive(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_archived(s, caller, headers, id, true).await
}

async fn unarchive(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_archived(s, caller, headers, id, false).await
}

async fn stats(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ScopeQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let accounts = scoped(&s, &caller, q.scope.as_deref())?;
    Ok(Json(s.read(move |db| db.stats(&accounts)).await?))
}

async fn lists(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let account = caller.account;
    Ok(Json(
        json!({"lists": s.read(move |db| db.lists(account)).await?}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListBody {
    name: String,
    /// THREAT, TRUSTED, TOR, SINKHOLE or DROPPOINT
    kind: String,
    /// TXT, CSV or STIX (guessed from the content when absent)
    #[serde(default)]
    format: Option<String>,
    content: String,
}

/// A list's content may be large (1M entries is fine): bodies up to the server's limit.
async fn put_list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<ListBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    if b.name.is_empty() || b.name.len() > 128 {
        return Err(ApiError::bad_request("name must be 1 to 128 characters"));
    }
    let kind: ListKind = b.kind.parse().map_err(ApiError::bad_request)?;
    let format = match b.format.as_deref() {
        Some("TXT") => ListFormat::Txt,
        Some("CSV") => ListFormat::Csv,
        Some("STIX") => ListFormat::Stix,
        Some(f) => {
            return Err(ApiError::bad_request(format!(
                "format {f:?}: TXT, CSV or STIX"
            )));
        }
        None => ListFormat::guess(&b.name, b.content.as_bytes()),
    };
    // Parse it now: a list that does not load is refused, with the lines that are not entries.
    let mut scratch = Intel::default();
    let (entries, bad) = scratch
        .load(&b.name, kind, format, b.content.as_bytes())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fmt = match format {
        ListFormat::Txt => "TXT",
        ListFormat::Csv => "CSV",
        ListFormat::Stix => "STIX",
    };
    let account = caller.account;
    let (name, kind_s, content) = (
        b.name.clone(),
        kind.as_str().to_string(),
        b.content.into_bytes(),
    );
    s.write(move |db| db.put_list(account, &name, &kind_s, fmt, &content, entries))
        .await?;
    let resp = json!({"name": b.name, "entries": entries, "skippedLines": bad.iter().take(100).collect::<Vec<_>>(), "skipped": bad.len()});
    s.auditor()
        .record(
            &caller,
            &headers,
            "CreateThreatIntelSet",
            json!({"name": b.name, "kind": kind.as_str(), "format": fmt}),
            json!({"entries": entries, "skipped": bad.len()}),
        )
        .await?;
    Ok(Json(resp))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublishingBody {
    #[serde(default)]
    webhook_url: Option<String>,
    /// Signs every webhook delivery (HMAC-SHA256); never returned or logged.
    #[serde(default)]
    secret: Option<String>,
    /// A directory or `s3://bucket/prefix`: each finding (and update) as a JSON object under
    /// `AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/`.
    #[serde(default)]
    destination: Option<String>,
}

async fn set_publishing(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<PublishingBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    if b.webhook_url.is_none() && b.destination.is_none() {
        return Err(ApiError::bad_request(
            "give a webhookUrl, a destination, or both",
        ));
    }
    if let Some(u) = &b.webhook_url {
        mamori_dest::outbound::check(u, s.engine.outbound().allow_private_webhooks)
            .await
            .map_err(|e| ApiError::bad_request(format!("webhookUrl: {e}")))?;
        if b.secret.as_deref().is_none_or(|s| s.len() < 16) {
            return Err(ApiError::bad_request(
                "a webhook needs a secret of at least 16 characters",
            ));
        }
    }
    if let Some(d) = &b.destination {
        let rules = s.engine.outbound().destinations.clone();
        let (account, d) = (caller.account, d.clone());
        tokio::task::spawn_blocking(move || rules.open(account, &d))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let account = caller.account;
    let (url, secret, dest) = (
        b.webhook_url.clone().unwrap_or_default(),
        b.secret.unwrap_or_default(),
        b.destination.clone(),
    );
    s.write(move |db| db.set_publishing(account, &url, &secret, dest.as_deref()))
        .await?;
    let resp = json!({"webhookUrl": b.webhook_url, "destination": b.destination});
    s.auditor()
        .record(
            &caller,
            &headers,
            "UpdatePublishingDestination",
            resp.clone(),
            Value::Null,
        )
        .await?;
    Ok(Json(resp))
}

/// Flow-log lines (`vpcflow`: v2, or a v3–v5 header line first) or resolver query-log lines
/// (`dns`: one JSON object per line), plain text; gzip bodies are accepted.
async fn ingest_source(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(source): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Writer)?;
    let dns = match source.as_str() {
        "vpcflow" => false,
        "dns" => true,
        other => {
            return Err(ApiError::not_found(format!(
                "no source {other:?}: vpcflow or dns"
            )));
        }
    };
    let account = caller.account.as_i64();
    let e = s.engine.clone();
    // Off the async workers: a gzip body is inflated twice in a stream — once to refuse a bomb
    // or a truncated member before any line acts, once line by line — and never held whole.
    let (records, signals, bad) = tokio::task::spawn_blocking(move || {
        let what = format!("{source} body");
        mamori_core::input::measure(&body[..], &what, MAX_SOURCE_BYTES).map_err(input_error)?;
        let lines = mamori_core::input::decoded(&body[..], MAX_SOURCE_BYTES)
            .map_err(|e| input_error(mamori_core::input::classify(&what, MAX_SOURCE_BYTES, e)))?;
        e.ingest_lines(account, dns, lines).map_err(ApiError::from)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({
        "records": records,
        "signals": signals,
        "rejected": bad.count,
        "rejectedLines": bad.first,
    })))
}

/// The largest flow or DNS log body, as sent.
const MAX_SOURCE_BODY_BYTES: usize = 64 << 20;

/// The largest list upload, as JSON.
const MAX_LIST_BODY_BYTES: usize = 128 << 20;

/// The most a flow or DNS log body may inflate to (streamed, never held).
const MAX_SOURCE_BYTES: u64 = 1 << 30;

fn input_error(e: mamori_core::input::InputError) -> ApiError {
    match e {
        mamori_core::input::InputError::TooLarge { .. } => {
            ApiError::new(mamori_core::ErrorCode::PayloadTooLarge, e.to_string())
        }
        mamori_core::input::InputError::Io { .. } => ApiError::internal(e),
        mamori_core::input::InputError::Gzip { .. } => ApiError::bad_request(e.to_string()),
    }
}

async fn list_filters(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let account = caller.account;
    Ok(Json(
        json!({"filters": s.read(move |db| db.filters(account)).await?}),
    ))
}

/// Creates or replaces a suppression rule; it applies to findings created from now on.
async fn put_filter(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(f): JsonBody<crate::filters::Filter>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let account = caller.account;
    let req = serde_json::to_value(&f).unwrap_or(Value::Null);
    let name = f.name.clone();
    let matching = s.write(move |db| db.put_filter(account, &f)).await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "CreateFilter",
            req,
            json!({"name": name}),
        )
        .await?;
    Ok(Json(json!({"name": name, "matchingFindings": matching})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FeedbackBody {
    /// USEFUL or NOT_USEFUL
    feedback: String,
    #[serde(default)]
    comments: Option<String>,
}

async fn feedback(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<FeedbackBody>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Writer)?;
    if !matches!(b.feedback.as_str(), "USEFUL" | "NOT_USEFUL") {
        return Err(ApiError::bad_request("feedback: USEFUL or NOT_USEFUL"));
    }
    let account = caller.account;
    let (i, verdict, comments) = (id.clone(), b.feedback.clone(), b.comments.clone());
    s.write(move |db| db.feedback(account, &i, &verdict, comments.as_deref()))
        .await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "UpdateFindingsFeedback",
            json!({"findingIds": [id], "feedback": b.feedback}),
            Value::Null,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a named thing of the caller's account (a list, a filter) and audits it.
async fn delete_named(
    s: ApiState,
    caller: Caller,
    headers: HeaderMap,
    name: String,
    event: &'static str,
    delete: fn(&GuardDb, AccountId, &str) -> Result<(), GuardError>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let account = caller.account;
    let n = name.clone();
    s.write(move |db| delete(db, account, &n)).await?;
    s.auditor()
        .record(&caller, &headers, event, json!({"name": name}), Value::Null)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(
        s,
        caller,
        headers,
        name,
        "DeleteThreatIntelSet",
        GuardDb::delete_list,
    )
    .await
}

async fn delete_filter(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(
        s,
        caller,
        headers,
        name,
        "DeleteFilter",
        GuardDb::delete_filter,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetroBody {
    /// RFC 3339, or an offset before now such as `-30d`.
    since: String,
    /// Sigma rules (YAML texts) to run beside the configured ones: a new rule over old events.
    #[serde(default)]
    rules: Vec<String>,
}

/// Rules one retro-hunt request may carry.
const MAX_RETRO_RULES: usize = 500;

/// A retro-hunt request's body: 8 MiB of rules (what `guard retrohunt --rules` sends at most) and
/// their JSON escaping.
const MAX_RETRO_BODY_BYTES: usize = 10 << 20;

/// Starts a retro-hunt of the caller's account's stored events since a time: today's detectors,
/// lists and rules over the history (202 with its id; its progress at `GET …/{id}`).
async fn start_retrohunt(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<RetroBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let since = mamori_core::time::parse_instant(&b.since, chrono::Utc::now())
        .map_err(|e| ApiError::bad_request(format!("since: {e}")))?;
    if b.rules.len() > MAX_RETRO_RULES {
        return Err(ApiError::bad_request(format!(
            "rules: {} sent; a retro-hunt takes {MAX_RETRO_RULES} at most",
            b.rules.len()
        )));
    }
    let sent = b.rules.len();
    let rules = if b.rules.is_empty() {
        None
    } else {
        let texts = b
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("rules[{i}]"), t))
            .collect();
        let (rules, errors) = crate::sigma::SigmaRules::load_texts(texts);
        if !errors.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{} of {sent} rules rejected: {}",
                errors.len(),
                errors
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        Some(rules)
    };
    let engine = s.engine.clone();
    let account = caller.account.as_i64();
    let hunt = mamori_core::service::blocking(move || {
        engine.start_retrohunt(account, since.timestamp(), rules)
    })
    .await?;
    let status = hunt.status();
    s.auditor()
        .record(
            &caller,
            &headers,
            "StartRetroHunt",
            json!({"since": b.since, "rules": sent}),
            json!({"retroHuntId": hunt.id}),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}

async fn retrohunt(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let hunt = s
        .engine
        .retros()
        .get(caller.account.as_i64(), &id)
        .ok_or_else(|| ApiError::not_found(format!("no retro-hunt {id:?} in this account")))?;
    Ok(Json(hunt.status()))
}
