//! Console sessions: a signed-in browser holds a random session id in an HttpOnly,
//! SameSite=Strict cookie; the server holds, in memory only, the API key it signed in with,
//! the account it acts on and the session's CSRF token. Every request authenticates the key
//! again (a revoked key ends its sessions at once); sign-out forgets the session server-side.
//! Sessions are not kept across restarts: signing in again is the price of never writing a
//! key to disk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mamori_core::AccountId;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The cookie that carries the session id.
pub const COOKIE: &str = "mamori_session";

/// How long a session lasts after sign-in (a working day).
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// Sessions held at most; past it the oldest is forgotten (only valid keys can make one).
const MAX_SESSIONS: usize = 10_000;

#[derive(Clone)]
pub struct Session {
    /// The API key signed in with (memory only, never logged or shown).
    pub token: String,
    /// The member account a management admin switched to.
    pub act_on: Option<AccountId>,
    /// Sent in every state-changing form and compared in constant time.
    pub csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    /// By the SHA-256 of the session id: a memory dump does not hand out cookies.
    by_id: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn key_of(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A new session for `token`; returns the session id for the cookie.
    pub fn create(&self, token: String) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, s| s.expires > now);
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            m.remove(&oldest);
        }
        m.insert(
            key_of(&id),
            Session {
                token,
                act_on: None,
                csrf: random_token(),
                expires: now + LIFETIME,
            },
        );
        id
    }

    /// The live session of a cookie value.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let k = key_of(id);
        match m.get(&k) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                m.remove(&k);
                None
            }
            None => None,
        }
    }

    pub fn set_account(&self, id: &str, act_on: Option<AccountId>) {
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.get_mut(&key_of(id)) {
            s.act_on = act_on;
        }
    }

    /// Signs out: the id is worthless from now on, whoever holds it.
    pub fn revoke(&self, id: &str) {
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&key_of(id));
    }
}

/// The session id in a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value that holds a session (Secure when the request came over TLS).
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Constant-time comparison of a form's CSRF token with the session's.
pub fn csrf_ok(session: &Session, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    !given.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_their_id_only_and_end_at_sign_out() {
        let s = Sessions::default();
        let id = s.create("k.secret".into());
        let got = s.get(&id).unwrap();
        assert_eq!(got.token, "k.secret");
        assert!(s.get("forged").is_none());
        assert!(csrf_ok(&got, &got.csrf));
        assert!(!csrf_ok(&got, ""));
        assert!(!csrf_ok(&got, "x"));
        s.revoke(&id);
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; mamori_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("abc"));
        assert!(set_cookie("abc", true).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie("abc", true).ends_with("; Secure"));
    }
}
