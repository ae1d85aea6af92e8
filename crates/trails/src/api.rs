//! `/v1/trail/trails…`: trails (CreateTrail, UpdateTrail, DeleteTrail, GetTrailStatus,
//! StartLogging, StopLogging), delivery on demand, public keys, Merkle proofs. Every change is
//! self-audited (eventSource `mamori.trail`); StopLogging too, and that event is the last one the
//! trail delivers.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use mamori_core::service::{Auditor, blocking};
use mamori_core::{AccountId, ApiError, AuditSink, Caller, ErrorCode, JsonBody, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::deliver::Engine;
use crate::merkle::{self, ConsistencyBundle, InclusionBundle};
use crate::spec::{TrailSpec, TrailUpdate};
use crate::store::{TrailRow, TrailsError};

#[derive(Clone)]
pub struct ApiState {
    pub engine: Arc<Engine>,
    pub audit: Arc<dyn AuditSink>,
    /// The organization's management account (only it may own organization trails).
    pub management: AccountId,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/trail/trails", post(create).get(list))
        .route(
            "/v1/trail/trails/{name}",
            get(status).patch(update).delete(delete),
        )
        .route("/v1/trail/trails/{name}/start-logging", post(start_logging))
        .route("/v1/trail/trails/{name}/stop-logging", post(stop_logging))
        .route("/v1/trail/trails/{name}/flush", post(flush))
        .route("/v1/trail/trails/{name}/rotate-key", post(rotate_key))
        .route("/v1/trail/trails/{name}/checkpoint", get(checkpoint))
        .route("/v1/trail/trails/{name}/proof", get(proof))
        .route("/v1/trail/trails/{name}/consistency", get(consistency))
        .route("/v1/trail/public-keys", get(public_keys))
        .with_state(state)
}

fn describe(t: &TrailRow) -> Value {
    json!({
        "name": t.spec.name,
        "accountId": t.account,
        "trail": t.spec,
        "status": {
            "isLogging": t.logging,
            "startLoggingTime": t.logging_started_at,
            "stopLoggingTime": t.logging_stopped_at,
            "latestDeliveryTime": t.latest_delivery_time,
            "latestDeliveryAttemptTime": t.latest_delivery_attempt,
            "latestDeliveryError": t.latest_delivery_error,
            "latestDigestDeliveryTime": t.latest_digest_time,
            "latestDigestObject": t.latest_digest_object,
            "latestDigestDeliveryError": t.latest_digest_error,
            "pendingDelivery": t.pending.is_some(),
            "treeSize": t.leaves,
        },
        "checkpointPublicKey": t.note_vkey,
        "createdAt": t.created_at,
    })
}

impl ApiState {
    fn auditor(&self) -> Auditor {
        Auditor::new(self.audit.clone(), "mamori.trail")
    }
}

async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<TrailSpec>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Admin)?;
    spec.validate().map_err(ApiError::bad_request)?;
    if spec.is_organization_trail && caller.account != s.management {
        return Err(ApiError::forbidden(
            "only the organization's management account can create an organization trail",
        ));
    }
    let e = s.engine.clone();
    let account = caller.account;
    let sp = spec.clone();
    blocking(move || e.check_destination(account, &sp)).await?;
    let e = s.engine.clone();
    let origin = format!("mamori/{}/{}/{}", s.engine.org, account, spec.name);
    let sp = spec.clone();
    let t = blocking(move || {
        let cursor = e.history.last_seq()?;
        e.db.create(account, &sp, cursor, &origin, Utc::now())
    })
    .await?;
    let body = describe(&t);
    s.auditor()
        .record(
            &caller,
            &headers,
            "CreateTrail",
            serde_json::to_value(&spec).unwrap_or_default(),
            json!({"name": spec.name}),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let e = s.engine.clone();
    let account = caller.account;
    let management = s.management;
    let trails = blocking(move || {
        let mut t = e.db.list(Some(account))?;
        // Members see the organization trails that log them (and cannot change them).
        if account != management {
            t.extend(
                e.db.list(Some(management))?
                    .into_iter()
                    .filter(|t| t.spec.is_organization_trail),
            );
        }
        Ok::<_, TrailsError>(t)
    })
    .await?;
    Ok(Json(
        json!({ "trails": trails.iter().map(describe).collect::<Vec<_>>() }),
    ))
}

async fn find(s: &ApiState, caller: &Caller, name: &str) -> Result<TrailRow, ApiError> {
    let e = s.engine.clone();
    let account = caller.account;
    let name = name.to_string();
    blocking(move || e.db.get(account, &name)).await
}

async fn status(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(describe(&find(&s, &caller, &name).await?)))
}

async fn update(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
    JsonBody(change): JsonBody<TrailUpdate>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let t = find(&s, &caller, &name).await?;
    let mut spec = t.spec.clone();
    spec.apply(change.clone());
    spec.validate().map_err(ApiError::bad_request)?;
    if spec.digest_interval_seconds != t.spec.digest_interval_seconds {
        return Err(ApiError::bad_request(
            "the digest interval is fixed when the trail is created (changing it would break the digest chain)",
        ));
    }
    let e = s.engine.clone();
    let (account, sp) = (t.account, spec.clone());
    blocking(move || e.check_destination(account, &sp)).await?;
    let e = s.engine.clone();
    let (id, sp) = (t.id, spec.clone());
    let t = blocking(move || {
        e.db.save_spec(id, &sp)?;
        e.db.get_by_id(id)
    })
    .await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "UpdateTrail",
            serde_json::to_value(&change).unwrap_or_default(),
            json!({"name": name}),
        )
        .await?;
    Ok(Json(describe(&t)))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// Deleting a trail is recorded, then the trail stops as with StopLogging and makes its final
/// delivery — the remaining events, the DeleteTrail event itself, the final digests — before it
/// is removed. If that delivery fails the trail is kept, stopped; `?force=true` skips it.
async fn delete(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let t = find(&s, &caller, &name).await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "DeleteTrail",
            json!({"name": name, "force": q.force}),
            Value::Null,
        )
        .await?;
    if t.logging {
        let e = s.engine.clone();
        let t = t.clone();
        blocking(move || {
            let stop = e.history.last_seq()?;
            e.db.stop_logging(&t, stop, Utc::now())
        })
        .await?;
    }
    if !q.force {
        s.engine.step(t.id, true).await.map_err(|e| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "trail {name} is stopped but not deleted: its final delivery failed ({e}); \
                     retry, or delete with force to skip the final delivery"
                ),
            )
        })?;
    }
    let e = s.engine.clone();
    blocking(move || e.db.delete(t.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn start_logging(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let t = find(&s, &caller, &name).await?;
    if !t.logging {
        let e = s.engine.clone();
        let t2 = t.clone();
        // Events while logging was off are not delivered; the StartLogging event is.
        blocking(move || {
            let cursor = e.history.last_seq()?;
            e.db.start_logging(&t2, cursor, Utc::now())
        })
        .await?;
    }
    s.auditor()
        .record(
            &caller,
            &headers,
            "StartLogging",
            json!({"name": name}),
            Value::Null,
        )
        .await?;
    Ok(Json(describe(&find(&s, &caller, &name).await?)))
}

async fn stop_logging(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let t = find(&s, &caller, &name).await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "StopLogging",
            json!({"name": name}),
            Value::Null,
        )
        .await?;
    if t.logging {
        let e = s.engine.clone();
        // Delivered up to and including the StopLogging event just recorded; then final digests.
        blocking(move || {
            let stop = e.history.last_seq()?;
            e.db.stop_logging(&t, stop, Utc::now())
        })
        .await?;
    }
    Ok(Json(describe(&find(&s, &caller, &name).await?)))
}

async fn flush(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Writer)?;
    let t = find(&s, &caller, &name).await?;
    let report = s
        .engine
        .step(t.id, true)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    Ok(Json(
        json!({ "delivered": report, "trail": describe(&find(&s, &caller, &name).await?) }),
    ))
}

#[derive(Deserialize)]
struct RotateQuery {
    region: Option<String>,
}

async fn rotate_key(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<RotateQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    if let Some(r) = &q.region
        && crate::layout::safe_region(r) != *r
    {
        return Err(ApiError::bad_request(format!(
            "region {r:?} is not a region name (letters, digits and '-')"
        )));
    }
    let t = find(&s, &caller, &name).await?;
    let e = s.engine.clone();
    let region = q.region.clone();
    let rotated = blocking(move || {
        let mut regions = match region {
            Some(r) => vec![r],
            None => e.db.key_regions(t.id)?,
        };
        if regions.is_empty() {
            regions.push(t.spec.home_region.clone());
        }
        let mut out = Vec::new();
        for r in regions {
            let (_, fp) = e.db.rotate_key(&t, &r, Utc::now())?;
            out.push(json!({"region": r, "fingerprint": fp}));
        }
        Ok::<_, TrailsError>(out)
    })
    .await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "RotateDigestKey",
            json!({"name": name, "region": q.region}),
            json!({"keys": rotated}),
        )
        .await?;
    Ok(Json(json!({ "rotated": rotated })))
}

#[derive(Deserialize)]
struct KeysQuery {
    trail: Option<String>,
}

async fn public_keys(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<KeysQuery>,
) -> Result<Json<Value>, ApiError> {
    let e = s.engine.clone();
    let account = caller.account;
    let keys =
        blocking(move || {
            let trails: Vec<TrailRow> =
                e.db.list(Some(account))?
                    .into_iter()
                    .filter(|t| q.trail.as_ref().is_none_or(|n| &t.spec.name == n))
                    .collect();
            let mut checkpoint_keys: Vec<Value> = trails
                .iter()
                .map(|t| json!({"Trail": t.spec.name, "VerifierKey": t.note_vkey}))
                .collect();
            let mut keys = e.db.public_keys(&trails)?;
            // Deleted trails' keys too: what they delivered stays verifiable.
            let (old, old_vkeys) = e.db.retired_keys(account, q.trail.as_deref())?;
            keys.extend(old);
            checkpoint_keys.extend(old_vkeys.into_iter().map(
                |(trail, vkey)| json!({"Trail": trail, "VerifierKey": vkey, "Deleted": true}),
            ));
            Ok::<_, TrailsError>((keys, checkpoint_keys))
        })
        .await?;
    Ok(Json(
        json!({ "PublicKeyList": keys.0, "CheckpointKeys": keys.1 }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointQuery {
    size: Option<u64>,
}

async fn checkpoint(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<CheckpointQuery>,
) -> Result<Json<Value>, ApiError> {
    let t = find(&s, &caller, &name).await?;
    let (id, vkey) = (t.id, t.note_vkey);
    let e = s.engine.clone();
    let (size, note) = blocking(move || e.db.checkpoint(id, q.size)).await?;
    Ok(Json(
        json!({"treeSize": size, "checkpoint": note, "verifierKey": vkey}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofQuery {
    event_id: String,
    size: Option<u64>,
}

async fn proof(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Result<Json<InclusionBundle>, ApiError> {
    let t = find(&s, &caller, &name).await?;
    let e = s.engine.clone();
    let bundle = blocking(move || {
        let found = e.db.inclusion(t.id, &q.event_id, q.size)?;
        let record = record_of(&e, &t, &found.object, found.leaf_index)?;
        Ok::<_, TrailsError>(InclusionBundle {
            event_id: q.event_id,
            account_id: found.account,
            log_file: found.object,
            leaf_index: found.leaf_index,
            tree_size: found.size,
            leaf_hash: merkle::b64(&merkle::leaf_hash(record.as_bytes())),
            record,
            proof: found.proof.iter().map(merkle::b64).collect(),
            checkpoint: found.checkpoint,
        })
    })
    .await?;
    Ok(Json(bundle))
}

/// The canonical record at leaf `n`, read back from the delivered log file that holds it.
fn record_of(e: &Engine, t: &TrailRow, object: &str, n: u64) -> Result<String, TrailsError> {
    let dest = e.destination(t.account, &t.spec.destination)?;
    let start = crate::layout::parse_log_name(object)
        .ok_or_else(|| TrailsError::Damaged(format!("log file name {object}")))?
        .leaf_start;
    let handle = tokio::runtime::Handle::current();
    let got = handle
        .block_on(dest.get(object))
        .map_err(|e| TrailsError::Invalid(e.to_string()))?
        .ok_or_else(|| {
            TrailsError::NotFound(format!("log file {object} is missing from the destination"))
        })?;
    let records = crate::validate::records_of(&got.0, object).map_err(TrailsError::Invalid)?;
    records
        .get((n - start) as usize)
        .cloned()
        .ok_or_else(|| TrailsError::Damaged(format!("log file {object} has no record {n}")))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    old: u64,
    new: Option<u64>,
}

async fn consistency(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyBundle>, ApiError> {
    let t = find(&s, &caller, &name).await?;
    let e = s.engine.clone();
    let bundle = blocking(move || {
        let c = e.db.consistency(t.id, q.old, q.new)?;
        Ok::<_, TrailsError>(ConsistencyBundle {
            old_size: c.old.0,
            new_size: c.new.0,
            old_checkpoint: c.old.1,
            new_checkpoint: c.new.1,
            proof: c.proof.iter().map(merkle::b64).collect(),
        })
    })
    .await?;
    Ok(Json(bundle))
}
