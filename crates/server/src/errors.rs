//! Every error answer in the one JSON shape `{"error":{"code","message"}}`, including those
//! made by the framework itself (a query string that does not parse, a path that is not UTF-8,
//! a body over its limit), which come as plain text.

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mamori_core::{ApiError, ErrorCode};

/// The most of a plain-text error body kept as the message.
const MAX_MESSAGE: usize = 2048;

pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // JSON is already the API's shape; an HTML page is the console's answer, shown as it is.
    let keep = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if keep {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(MAX_MESSAGE)]).into_owned(),
        Err(_) => String::new(),
    };
    let text = text.trim();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text.to_string()
    };
    let code = code_for(status.as_u16());
    let mut out = ApiError::new(code, message).into_response();
    *out.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

fn code_for(status: u16) -> ErrorCode {
    match status {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 | 405 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        413 | 414 | 431 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::Throttled,
        400..=499 => ErrorCode::BadRequest,
        502..=504 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    }
}
