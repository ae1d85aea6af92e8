//! API key material: generation, parsing and verification.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Key ids look like `MK` + 18 characters of A–Z and 2–7 (base32), like AWS access key ids.
pub fn new_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let mut id = String::from("MK");
    id.extend(bytes.iter().map(|b| ALPHABET[(*b & 31) as usize] as char));
    id
}

/// 256 random bits, base64url without padding (43 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub fn verify(secret: &str, stored_hash: &[u8]) -> bool {
    hash_secret(secret).ct_eq(stored_hash).into()
}

/// Splits `<key id>.<secret>`; `None` when the shape is wrong.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.trim().split_once('.')?;
    let id_ok = id.len() == 20
        && id.starts_with("MK")
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_verify() {
        let (id, secret) = (new_key_id(), new_secret());
        let token = format!("{id}.{secret}");
        let (i, s) = split(&token).unwrap();
        assert_eq!((i, s), (id.as_str(), secret.as_str()));
        let h = hash_secret(s);
        assert!(verify(s, &h));
        assert!(!verify(&new_secret(), &h));
        assert!(split("MKAAAA.short").is_none());
        assert!(split("nonsense").is_none());
    }
}
