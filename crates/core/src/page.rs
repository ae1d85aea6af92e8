//! Opaque pagination tokens bound to the query that produced them.
//!
//! A token is base64url(JSON { "q": hash of the filters, "p": position }). The hash ties a
//! token to its filters, so reusing it with other filters is refused rather than silently
//! returning a different result set.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("nextToken is not one this server issued")]
    Malformed,
    #[error(
        "nextToken was issued for different filters; send the same filters as the first request, or drop the token"
    )]
    OtherQuery,
}

#[derive(Serialize)]
struct EnvelopeOut<'a, P> {
    q: &'a str,
    p: &'a P,
}

#[derive(Deserialize)]
struct Envelope<P> {
    q: String,
    p: P,
}

/// Hash of a canonical description of the query (account and every filter).
pub fn query_hash(canonical: &str) -> String {
    hex_prefix(&Sha256::digest(canonical.as_bytes()))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes[..12].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encode<P: Serialize>(query_hash: &str, position: &P) -> String {
    let json = serde_json::to_vec(&EnvelopeOut {
        q: query_hash,
        p: position,
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode<P: DeserializeOwned>(query_hash: &str, token: &str) -> Result<P, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| TokenError::Malformed)?;
    let env: Envelope<P> = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if env.q != query_hash {
        return Err(TokenError::OtherQuery);
    }
    Ok(env.p)
}

/// Where a list call resumes: the position in `token` (absent: from the start). A token that
/// is damaged or was issued for another query is a 400, never a silent restart.
pub fn resume<P: DeserializeOwned>(
    query_hash: &str,
    token: Option<&str>,
) -> Result<Option<P>, crate::ApiError> {
    token
        .map(|t| decode(query_hash, t))
        .transpose()
        .map_err(|e| crate::ApiError::bad_request(format!("nextToken: {e}")))
}

/// A page's answer: `{"<key>": items}`, with `nextToken` when more follow.
pub fn answer<P: Serialize>(
    key: &str,
    items: Vec<serde_json::Value>,
    query_hash: &str,
    next: Option<&P>,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert(key.to_string(), serde_json::Value::Array(items));
    if let Some(n) = next {
        out.insert(
            "nextToken".into(),
            serde_json::Value::String(encode(query_hash, n)),
        );
    }
    serde_json::Value::Object(out)
}

/// The one rule for `maxResults` on every list call: absent gives `default`; 1 to 1000 is
/// taken; anything else is a 400 naming the value (never clamped in silence).
pub fn max_results(given: Option<usize>, default: usize) -> Result<usize, crate::ApiError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(crate::ApiError::bad_request(format!(
            "maxResults must be 1 to 1000, not {n}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_query() {
        let q = query_hash("acct=1;EventName=X");
        let t = encode(&q, &(5i64, 7i64));
        assert_eq!(decode::<(i64, i64)>(&q, &t).unwrap(), (5, 7));
        assert_eq!(
            decode::<(i64, i64)>(&query_hash("acct=1;EventName=Y"), &t),
            Err(TokenError::OtherQuery)
        );
        assert_eq!(decode::<(i64, i64)>(&q, "!!"), Err(TokenError::Malformed));
    }
}
