//! The authentication layer: every `/v1` request becomes an authenticated, account-scoped
//! [`mamori_core::Caller`] before any handler runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mamori_core::audit::PEER_HEADER;
use mamori_core::{AccountId, ApiError, ErrorCode};
use mamori_org::Org;
use mamori_org::store::AuthErrorOr;

/// Header naming the account a management admin acts on.
pub const ACCOUNT_HEADER: &str = "x-mamori-account";

pub async fn authenticate(State(org): State<Arc<Org>>, mut req: Request, next: Next) -> Response {
    // A header given twice is ambiguous (which one did a proxy check?): refused, never first-wins.
    for name in [header::AUTHORIZATION.as_str(), ACCOUNT_HEADER] {
        if req.headers().get_all(name).iter().count() > 1 {
            return ApiError::bad_request(format!("the {name} header is given more than once"))
                .into_response();
        }
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|s| s.trim().to_string());
    let act_on = match req
        .headers()
        .get(ACCOUNT_HEADER)
        .map(|v| v.to_str().map(str::parse::<AccountId>))
    {
        None => None,
        Some(Ok(Ok(a))) => Some(a),
        Some(_) => {
            return ApiError::bad_request(format!(
                "{ACCOUNT_HEADER} must be a 12-digit account id"
            ))
            .into_response();
        }
    };
    let resolved =
        tokio::task::spawn_blocking(move || org.authenticate(token.as_deref(), act_on)).await;
    let caller = match resolved {
        Ok(Ok(c)) => c,
        Ok(Err(AuthErrorOr::Auth(e))) => {
            let code = match e {
                mamori_org::AuthError::CrossAccount(_) | mamori_org::AuthError::NoAccount(_) => {
                    ErrorCode::Forbidden
                }
                _ => ErrorCode::Unauthenticated,
            };
            return ApiError::new(code, e.to_string()).into_response();
        }
        Ok(Err(AuthErrorOr::Store(e))) => return ApiError::internal(e).into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    // The peer address is the connection's, never a value the client sent.
    req.headers_mut().remove(PEER_HEADER);
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Ok(v) = HeaderValue::from_str(&addr.ip().to_string())
    {
        req.headers_mut().insert(PEER_HEADER, v);
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
