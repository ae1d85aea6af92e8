//! `/v1/trail/…`: ingest, lookup and channels. Every handler receives an authenticated
//! [`Caller`] (added by the server's auth layer) and touches only `caller.account`'s data.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use mamori_core::service::{Auditor, blocking};
use mamori_core::{ApiError, AuditSink, Caller, ErrorCode, JsonBody, Role, page};
use serde::Deserialize;
use serde_json::json;

use crate::Trail;
use crate::body;
use crate::channel::{self, AuditEventItem};
use crate::history::lookup::{LookupAttribute, LookupQuery, Position};
use crate::ingest::{EventResult, Status};

#[derive(Clone)]
pub struct ApiState {
    pub trail: Arc<Trail>,
    pub audit: Arc<dyn AuditSink>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/trail/events", post(put_events).get(lookup_events))
        .route(
            "/v1/trail/channels",
            post(create_channel).get(list_channels),
        )
        .route("/v1/trail/channels/{id}", get(get_channel))
        .route("/v1/trail/channels/{id}/events", post(put_channel_events))
        .with_state(state)
}

impl ApiState {
    fn auditor(&self) -> Auditor {
        Auditor::new(self.audit.clone(), "mamori.trail")
    }
}

/// Reads the body with a hard cap on its transferred size, then gunzips it (when
/// `Content-Encoding: gzip` or the gzip magic says so) with the same cap.
async fn read_body(trail: &Trail, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = trail.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body exceeds {limit} bytes; split the batch"),
        )
    })?;
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if gz && !body::is_gzip(&bytes) {
        return Err(ApiError::bad_request(
            "Content-Encoding is gzip but the body is not gzip data",
        ));
    }
    if !body::is_gzip(&bytes) {
        // Plain JSON: the body as read (already capped), without a copy.
        return Ok(Vec::from(bytes));
    }
    trail
        .prepare
        .run(move || body::decompress_capped(&bytes, limit).map(|b| b.into_owned()))
        .await
        .ok_or_else(|| ApiError::internal("the ingest preparation pool failed"))?
        .map_err(ApiError::from)
}

fn too_many(n: usize, limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "{n} events in one request; the limit is {limit} (split the batch or raise [trail] max_batch_events)"
        ),
    )
}

/// Validates, stores and reports one batch of raw records.
async fn ingest(
    trail: &Arc<Trail>,
    account: i64,
    bytes: Vec<u8>,
) -> Result<crate::ingest::IngestReport, ApiError> {
    let limit = trail.max_batch_events;
    let t = trail.clone();
    let mut batch = trail
        .prepare
        .run(move || {
            let raws = body::split_records(&bytes).map_err(ApiError::from)?;
            if raws.len() > limit {
                return Err(too_many(raws.len(), limit));
            }
            Ok(crate::PreparedBatch::new(
                &raws,
                &t.history.limits(),
                account,
            ))
        })
        .await
        .ok_or_else(|| ApiError::internal("the ingest preparation pool failed"))??;
    let events = batch.take_store_batch();
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        trail
            .history
            .append_async(account, events)
            .await
            .map_err(ApiError::from)?
    };
    Ok(batch.finish(&outcomes))
}

async fn put_events(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Role::Writer)?;
    let _admitted = s.trail.admit.acquire().await.map_err(ApiError::internal)?;
    let bytes = read_body(&s.trail, &headers, body).await?;
    let report = ingest(&s.trail, caller.account.as_i64(), bytes).await?;
    Ok(Json(report).into_response())
}

/// Query: any of the lookup attribute keys (repeatable, AND-ed), `startTime`, `endTime`
/// (RFC 3339), `maxResults` (1–1000, default 50), `nextToken`.
async fn lookup_events(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Reader)?;
    let mut q = LookupQuery {
        account: caller.account.as_i64(),
        attributes: Vec::new(),
        start_ms: None,
        end_ms: None,
        max_results: 50,
        after: None,
    };
    let mut token = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "startTime" => q.start_ms = Some(parse_time("startTime", &v)?),
            "endTime" => q.end_ms = Some(parse_time("endTime", &v)?),
            "maxResults" => {
                q.max_results = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("maxResults must be 1 to 1000, not {v:?}"))
                    })?
            }
            "nextToken" => token = Some(v.into_owned()),
            key => q
                .attributes
                .push(LookupAttribute::parse(key, &v).map_err(ApiError::bad_request)?),
        }
    }
    if let (Some(a), Some(b)) = (q.start_ms, q.end_ms)
        && a > b
    {
        return Err(ApiError::bad_request("startTime is after endTime"));
    }
    let hash = page::query_hash(&q.canonical());
    q.after = page::resume::<Position>(&hash, token.as_deref())?;
    let trail = s.trail.clone();
    let result = blocking(move || trail.history.lookup(&q)).await?;
    // The records are returned byte for byte as stored: the body is assembled, not re-serialized.
    let next = result.next.map(|p| page::encode(&hash, &p));
    let mut body =
        String::with_capacity(result.events.iter().map(|e| e.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"events\":[");
    for (i, e) in result.events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(e);
    }
    body.push_str("],\"nextToken\":");
    body.push_str(&serde_json::to_string(&next).map_err(ApiError::internal)?);
    body.push('}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} {v:?} is not an RFC 3339 time such as 2026-11-28T10:00:00Z"
            ))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    name: String,
    source: Option<String>,
}

async fn create_channel(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CreateChannel>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    channel::check_name(&req.name).map_err(ApiError::bad_request)?;
    let source = req.source.unwrap_or_else(|| req.name.clone());
    channel::check_source(&source).map_err(ApiError::bad_request)?;
    let trail = s.trail.clone();
    let (account, name) = (caller.account.as_i64(), req.name.clone());
    let created = blocking(move || trail.channels.create(account, &name, &source))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!("this account already has a channel named {:?}", req.name),
            )
        })?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "CreateChannel",
            json!({"name": created.name, "source": created.source}),
            json!({"id": created.id}),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list_channels(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require(Role::Reader)?;
    let trail = s.trail.clone();
    let list = blocking(move || trail.channels.list(caller.account.as_i64())).await?;
    Ok(Json(json!({ "channels": list })).into_response())
}

async fn find_channel(
    s: &ApiState,
    caller: &Caller,
    id: String,
) -> Result<channel::Channel, ApiError> {
    let trail = s.trail.clone();
    let account = caller.account.as_i64();
    let lookup_id = id.clone();
    blocking(move || trail.channels.get(account, &lookup_id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no channel {id:?} in account {}", caller.account))
        })
}

async fn get_channel(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Reader)?;
    Ok(Json(find_channel(&s, &caller, id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AuditEvents {
    Wrapped {
        #[serde(rename = "auditEvents")]
        audit_events: Vec<AuditEventItem>,
    },
    Bare(Vec<AuditEventItem>),
}

async fn put_channel_events(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Role::Writer)?;
    let ch = find_channel(&s, &caller, id).await?;
    let bytes = read_body(&s.trail, &headers, body).await?;
    let items = match serde_json::from_slice::<AuditEvents>(&bytes) {
        Ok(AuditEvents::Wrapped { audit_events }) | Ok(AuditEvents::Bare(audit_events)) => {
            audit_events
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "body must be {{\"auditEvents\":[{{\"id\",\"eventData\",\"eventDataChecksum\"}}…]}}: {e}"
            )));
        }
    };
    if items.len() > s.trail.max_batch_events {
        return Err(too_many(items.len(), s.trail.max_batch_events));
    }
    let account = caller.account.to_string();
    let max = s.trail.history.options().max_event_bytes;
    let mut wrapped = Vec::new();
    let mut early: Vec<EventResult> = Vec::new();
    let mut index_of = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match channel::wrap(&ch, &account, &s.trail.region, item, max) {
            Ok(text) => {
                index_of.push(i);
                wrapped.push(text);
            }
            Err(reason) => early.push(EventResult {
                index: i,
                id: Some(item.id.clone()),
                event_id: None,
                status: Status::Rejected,
                reason: Some(reason),
            }),
        }
    }
    let body = format!("[{}]", wrapped.join(","));
    let mut report = ingest(&s.trail, caller.account.as_i64(), body.into_bytes()).await?;
    for r in &mut report.results {
        r.index = index_of[r.index];
        r.id = Some(items[r.index].id.clone());
    }
    for r in early {
        report.push(r);
    }
    report.results.sort_by_key(|r| r.index);
    Ok(Json(report).into_response())
}
