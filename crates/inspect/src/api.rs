//! The inspection API under `/v1/inspect/…`: record a scanned inventory, read findings (with
//! filters and pages), coverage and statistics, manage suppression rules. Every call is scoped
//! to the caller's account; changes are audited as `mamori.inspect` events.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use mamori_core::audit::AuditSink;
use mamori_core::service::{Auditor, Shared};
use mamori_core::{ApiError, Caller, JsonBody, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::AdvisoryDb;
use crate::store::{
    Criteria, Filter, InspectStore, Reads, StoreError, StoredInventory, StringFilter,
};

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Shared<InspectStore>>,
    pub advisories: Arc<Mutex<AdvisoryDb>>,
    pub audit: Arc<dyn AuditSink>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/inspect/scans", post(record_scan))
        .route("/v1/inspect/findings", get(findings))
        .route("/v1/inspect/coverage", get(coverage))
        .route("/v1/inspect/stats", get(stats))
        .route("/v1/inspect/filters", get(list_filters).post(put_filter))
        .route("/v1/inspect/filters/{name}", delete(delete_filter))
        .with_state(state)
}

impl ApiState {
    /// Store work that writes, on a blocking thread: the writer, then the advisory database
    /// (always in that order).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut InspectStore, &AdvisoryDb) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let adb = self.advisories.clone();
        self.store
            .write_async(move |st| {
                let db = adb.lock().unwrap_or_else(|p| p.into_inner());
                f(st, &db)
            })
            .await
    }

    /// Store work that only reads, on a pooled read-only connection: never waits behind a
    /// re-match of every inventory.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(Reads<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.store.read_async(move |c| f(Reads::new(c))).await
    }

    fn auditor(&self) -> Auditor {
        Auditor::new(self.audit.clone(), "mamori.inspect")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScanBody {
    resource_type: String,
    resource_id: String,
    #[serde(default)]
    details: Value,
    inventory: StoredInventory,
}

const RESOURCE_TYPES: &[&str] = &[
    "CODE_REPOSITORY",
    "MACHINE_IMAGE",
    "CONTAINER_IMAGE",
    "SERVERLESS_FUNCTION",
    "VM",
    "AWS_EC2_INSTANCE",
    "AWS_ECR_CONTAINER_IMAGE",
    "AWS_LAMBDA_FUNCTION",
];

async fn record_scan(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ScanBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Writer)?;
    if !RESOURCE_TYPES.contains(&body.resource_type.as_str()) {
        return Err(ApiError::bad_request(format!(
            "resourceType {:?}: one of {}",
            body.resource_type,
            RESOURCE_TYPES.join(", ")
        )));
    }
    let account = caller.account;
    let (rt, rid, packages) = (
        body.resource_type.clone(),
        body.resource_id.clone(),
        body.inventory.packages.len(),
    );
    let summary = s
        .write(move |st, db| {
            st.record_scan(
                db,
                account,
                &body.resource_type,
                &body.resource_id,
                &body.details,
                &body.inventory,
            )
        })
        .await?;
    let resp = json!({"resourceId": rid, "packages": packages, "summary": summary});
    s.auditor()
        .record(
            &caller,
            &headers,
            "RecordScan",
            json!({"resourceType": rt, "resourceId": rid, "packages": packages}),
            resp.clone(),
        )
        .await?;
    Ok(Json(resp))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FindingsQuery {
    severity: Option<String>,
    status: Option<String>,
    vulnerability_id: Option<String>,
    package_name: Option<String>,
    resource_id: Option<String>,
    fix_available: Option<String>,
    exploit_available: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn equals(v: &Option<String>) -> Vec<StringFilter> {
    v.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(|s| StringFilter {
            comparison: "EQUALS".into(),
            value: s.to_string(),
        })
        .collect()
}

async fn findings(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<FindingsQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let criteria = Criteria {
        severity: equals(&q.severity),
        vulnerability_id: equals(&q.vulnerability_id),
        vulnerable_package_name: equals(&q.package_name),
        resource_id: equals(&q.resource_id),
        fix_available: equals(&q.fix_available),
        exploit_available: equals(&q.exploit_available),
        finding_status: equals(&q.status),
        ..Default::default()
    };
    let limit = mamori_core::page::max_results(q.max_results, 100)?;
    let hash = format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        q.severity,
        q.status,
        q.vulnerability_id,
        q.package_name,
        q.resource_id,
        q.fix_available,
        q.exploit_available
    );
    let after: Option<String> = mamori_core::page::resume(&hash, q.next_token.as_deref())?;
    let account = caller.account;
    let (items, next) = s
        .read(move |st| st.findings(account, &criteria, after.as_deref(), limit))
        .await?;
    Ok(Json(mamori_core::page::answer(
        "findings",
        items,
        &hash,
        next.as_ref(),
    )))
}

async fn coverage(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let account = caller.account;
    let items = s.read(move |st| st.coverage(account)).await?;
    Ok(Json(json!({ "coveredResources": items })))
}

async fn stats(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let account = caller.account;
    Ok(Json(s.read(move |st| st.stats(account)).await?))
}

async fn list_filters(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Reader)?;
    let account = caller.account;
    let items = s.read(move |st| st.list_filters(account)).await?;
    Ok(Json(json!({ "filters": items })))
}

async fn put_filter(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(f): JsonBody<Filter>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let account = caller.account;
    let req = serde_json::to_value(&f).unwrap_or(Value::Null);
    let summary = s
        .write(move |st, db| st.put_filter(db, account, &f))
        .await?;
    let resp = json!({ "summary": summary });
    s.auditor()
        .record(&caller, &headers, "CreateFilter", req, resp.clone())
        .await?;
    Ok(Json(resp))
}

async fn delete_filter(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let account = caller.account;
    let n = name.clone();
    let summary = s
        .write(move |st, db| st.delete_filter(db, account, &n))
        .await?;
    let resp = json!({ "summary": summary });
    s.auditor()
        .record(
            &caller,
            &headers,
            "DeleteFilter",
            json!({"name": name}),
            resp.clone(),
        )
        .await?;
    Ok(Json(resp))
}

/// The background loop: when the advisory database changes (an import), every stored
/// inventory is matched again.
pub async fn rematch_loop(state: ApiState) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let s = state.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut st = s.store.lock();
            let db = s.advisories.lock().unwrap_or_else(|p| p.into_inner());
            st.rematch_if_changed(&db)
        })
        .await;
        match r {
            Ok(Ok(Some(summary))) => tracing::info!(
                resources = summary.resources,
                opened = summary.opened,
                closed = summary.closed,
                reopened = summary.reopened,
                "advisory database changed: inventories matched again"
            ),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "re-matching inventories failed"),
            Err(e) => tracing::error!(error = %e, "re-matching task failed"),
        }
    }
}
