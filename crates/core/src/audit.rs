//! The self-audit seam: every mutating mamori API call is recorded as a management event in the
//! caller's account. Services describe the call with an [`AuditEntry`]; the trail service owns
//! how it becomes a record (the server wires one to the other), so no service depends on trail.

use serde_json::Value;

use crate::caller::Caller;

/// One mutating call, described without secrets.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// `mamori.<service>`, e.g. `mamori.org`.
    pub event_source: String,
    /// The operation, in CloudTrail's verb style: `CreateAccount`, `RevokeApiKey`.
    pub event_name: String,
    pub request_parameters: Value,
    pub response_elements: Value,
    /// Set when the call failed: (`errorCode`, `errorMessage`).
    pub error: Option<(String, String)>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub trait AuditSink: Send + Sync {
    /// Records the call durably before returning. A failure is reported to the caller's handler,
    /// which fails the request: an unaudited change must not look successful.
    fn record(&self, caller: &Caller, entry: AuditEntry) -> Result<(), String>;
}

impl AuditEntry {
    /// Describes a successful call made over HTTP. The peer address comes from the
    /// `x-mamori-peer` header, which the server's auth layer sets (and strips from clients).
    pub fn from_request(
        event_source: &str,
        event_name: &str,
        headers: &axum::http::HeaderMap,
        request_parameters: Value,
        response_elements: Value,
    ) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        AuditEntry {
            event_source: event_source.into(),
            event_name: event_name.into(),
            request_parameters,
            response_elements,
            error: None,
            source_ip: text(PEER_HEADER).map(str::to_string),
            user_agent: text("user-agent").map(|s| s.chars().take(1024).collect()),
        }
    }
}

/// Set by the server from the connection's address; any value a client sends is removed.
pub const PEER_HEADER: &str = "x-mamori-peer";

/// Records `entry` on a blocking thread; a failure fails the request.
pub async fn record(
    sink: std::sync::Arc<dyn AuditSink>,
    caller: Caller,
    entry: AuditEntry,
) -> Result<(), crate::ApiError> {
    tokio::task::spawn_blocking(move || sink.record(&caller, entry))
        .await
        .map_err(crate::ApiError::internal)?
        .map_err(crate::ApiError::internal)
}

/// Records a successful API call of a service (`mamori.<service>`) — the one line handlers call.
pub async fn record_call(
    sink: &std::sync::Arc<dyn AuditSink>,
    caller: &Caller,
    headers: &axum::http::HeaderMap,
    event_source: &str,
    event_name: &str,
    request_parameters: Value,
    response_elements: Value,
) -> Result<(), crate::ApiError> {
    let entry = AuditEntry::from_request(
        event_source,
        event_name,
        headers,
        request_parameters,
        response_elements,
    );
    record(sink.clone(), caller.clone(), entry).await
}
