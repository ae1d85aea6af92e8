//! `/v1/org/…`: who am I, accounts and API keys. Secrets leave the server once, in the answer
//! to the call that created them, and never appear in audit records or logs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use mamori_core::service::{Auditor, ServiceError, blocking};
use mamori_core::{AccountId, ApiError, AuditSink, Caller, ErrorCode, JsonBody, Role};
use serde::Deserialize;
use serde_json::json;

use crate::{Org, OrgError};

#[derive(Clone)]
pub struct ApiState {
    pub org: Arc<Org>,
    pub audit: Arc<dyn AuditSink>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/org/whoami", get(whoami))
        .route("/v1/org/accounts", get(list_accounts).post(create_account))
        .route("/v1/org/keys", get(list_keys).post(create_key))
        .route("/v1/org/keys/{id}", delete(revoke_key))
        .with_state(state)
}

impl ServiceError for OrgError {
    fn code(&self) -> ErrorCode {
        match self {
            OrgError::Invalid(_) => ErrorCode::BadRequest,
            OrgError::NoAccount(_) | OrgError::NoKey(_) => ErrorCode::NotFound,
            _ => ErrorCode::Internal,
        }
    }
}

impl ApiState {
    fn auditor(&self) -> Auditor {
        Auditor::new(self.audit.clone(), "mamori.org")
    }
}

async fn is_management(s: &ApiState, caller: &Caller) -> Result<bool, ApiError> {
    let org = s.org.clone();
    let (_, mgmt) = blocking(move || org.organization()).await?;
    Ok(mgmt == caller.key_account)
}

async fn whoami(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    Json(json!({
        "accountId": caller.account,
        "keyAccountId": caller.key_account,
        "organizationId": caller.org.as_str(),
        "keyId": caller.key_id,
        "keyName": caller.key_name,
        "role": caller.role,
    }))
}

async fn list_accounts(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require(Role::Reader)?;
    // The management account's admin sees the organization; everyone else sees their own account.
    let only = if is_management(&s, &caller).await?
        && caller.role == Role::Admin
        && caller.account == caller.key_account
    {
        None
    } else {
        Some(caller.account)
    };
    let org = s.org.clone();
    let accounts = blocking(move || org.accounts(only)).await?;
    Ok(Json(json!({ "accounts": accounts })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    name: String,
    email: Option<String>,
}

async fn create_account(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CreateAccount>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    if !is_management(&s, &caller).await? {
        return Err(ApiError::forbidden(
            "only the management account can create accounts",
        ));
    }
    let org = s.org.clone();
    let (name, email) = (req.name.clone(), req.email.clone());
    let account = blocking(move || org.create_account(&name, email.as_deref())).await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "CreateAccount",
            json!({"name": req.name, "email": req.email}),
            json!({"accountId": account.id}),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(account)).into_response())
}

async fn list_keys(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let org = s.org.clone();
    let account = caller.account;
    let keys = blocking(move || org.keys(account)).await?;
    Ok(Json(json!({ "keys": keys })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    role: Role,
}

async fn create_key(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CreateKey>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let org = s.org.clone();
    let (account, name, role) = (caller.account, req.name.clone(), req.role);
    let (info, token) = blocking(move || org.create_key(account, &name, role)).await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "CreateApiKey",
            json!({"name": req.name, "role": req.role}),
            json!({"keyId": info.key_id}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": info, "secret": token })),
    )
        .into_response())
}

async fn revoke_key(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    if id.len() > 64 {
        return Err(ApiError::new(ErrorCode::NotFound, "no such API key"));
    }
    let org = s.org.clone();
    let account: AccountId = caller.account;
    let key_id = id.clone();
    let info = blocking(move || org.revoke_key(account, &key_id)).await?;
    s.auditor()
        .record(
            &caller,
            &headers,
            "RevokeApiKey",
            json!({"keyId": id}),
            json!({"revokedAt": info.revoked_at}),
        )
        .await?;
    Ok(Json(json!({ "key": info })).into_response())
}
