//! Signing keys: the digest keys (per trail and region, rotatable; Ed25519 by default,
//! SHA256withRSA 2048 for CloudTrail compatibility) and the Merkle log's checkpoint key (a C2SP
//! signed-note Ed25519 key).
//!
//! A public key is published as DER — PKCS#1 `RSAPublicKey` for RSA (as CloudTrail's
//! ListPublicKeys), SubjectPublicKeyInfo for Ed25519 — and its fingerprint is the first 16 bytes
//! of SHA-256 over that DER, in hex (32 characters, the width of CloudTrail's fingerprints;
//! CloudTrail does not document its own derivation).

use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use sha2::{Digest, Sha256};

pub const ED25519: &str = "Ed25519";
pub const RSA_SHA256: &str = "SHA256withRSA";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown signature algorithm {0:?}; use Ed25519 or SHA256withRSA")]
    Algorithm(String),
    #[error("cannot generate a key: {0}")]
    Generate(String),
    #[error("stored key is damaged: {0}")]
    Damaged(String),
    #[error("public key is not valid {algorithm} DER: {message}")]
    PublicKey { algorithm: String, message: String },
}

pub enum SigningKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Rsa(Box<rsa::RsaPrivateKey>),
}

pub fn check_algorithm(a: &str) -> Result<&'static str, KeyError> {
    match a {
        ED25519 => Ok(ED25519),
        RSA_SHA256 => Ok(RSA_SHA256),
        other => Err(KeyError::Algorithm(other.into())),
    }
}

impl SigningKey {
    pub fn generate(algorithm: &str) -> Result<Self, KeyError> {
        let mut rng = rsa::rand_core::OsRng;
        Ok(match check_algorithm(algorithm)? {
            ED25519 => SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(&mut rng))),
            _ => SigningKey::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut rng, 2048)
                    .map_err(|e| KeyError::Generate(e.to_string()))?,
            )),
        })
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            SigningKey::Ed25519(_) => ED25519,
            SigningKey::Rsa(_) => RSA_SHA256,
        }
    }

    /// The private key as stored: the 32-byte seed, or PKCS#8 DER.
    pub fn to_private_bytes(&self) -> Result<Vec<u8>, KeyError> {
        Ok(match self {
            SigningKey::Ed25519(k) => k.to_bytes().to_vec(),
            SigningKey::Rsa(k) => k
                .to_pkcs8_der()
                .map_err(|e| KeyError::Damaged(e.to_string()))?
                .as_bytes()
                .to_vec(),
        })
    }

    pub fn from_private_bytes(algorithm: &str, bytes: &[u8]) -> Result<Self, KeyError> {
        Ok(match check_algorithm(algorithm)? {
            ED25519 => {
                let seed: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| KeyError::Damaged("Ed25519 seed is not 32 bytes".into()))?;
                SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            _ => SigningKey::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs8_der(bytes)
                    .map_err(|e| KeyError::Damaged(e.to_string()))?,
            )),
        })
    }

    pub fn public_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(match self {
            SigningKey::Ed25519(k) => {
                use ed25519_dalek::pkcs8::EncodePublicKey;
                k.verifying_key()
                    .to_public_key_der()
                    .map_err(|e| KeyError::Damaged(e.to_string()))?
                    .as_bytes()
                    .to_vec()
            }
            SigningKey::Rsa(k) => k
                .to_public_key()
                .to_pkcs1_der()
                .map_err(|e| KeyError::Damaged(e.to_string()))?
                .as_bytes()
                .to_vec(),
        })
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            SigningKey::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone());
                signer.sign(message).to_vec()
            }
        }
    }
}

pub fn fingerprint(public_der: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_der)[..16])
}

/// Verifies `signature` over `message` with a published public key.
pub fn verify(
    algorithm: &str,
    public_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<bool, KeyError> {
    let bad = |m: String| KeyError::PublicKey {
        algorithm: algorithm.to_string(),
        message: m,
    };
    Ok(match check_algorithm(algorithm)? {
        ED25519 => {
            use ed25519_dalek::pkcs8::DecodePublicKey;
            let key = ed25519_dalek::VerifyingKey::from_public_key_der(public_der)
                .map_err(|e| bad(e.to_string()))?;
            let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                return Ok(false);
            };
            key.verify_strict(message, &sig).is_ok()
        }
        _ => {
            let key =
                rsa::RsaPublicKey::from_pkcs1_der(public_der).map_err(|e| bad(e.to_string()))?;
            let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key);
            let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                return Ok(false);
            };
            verifier.verify(message, &sig).is_ok()
        }
    })
}

/// A new checkpoint key for a log named `origin`: (signer key, verifier key) in the
/// `PRIVATE+KEY+<name>+<id>+<key>` / `<name>+<id>+<key>` encodings of Go's sumdb/note.
pub fn generate_note_key(origin: &str) -> (String, String) {
    signed_note::generate_key(&mut rsa::rand_core::OsRng, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_and_rsa_sign_and_verify() {
        for alg in [ED25519, RSA_SHA256] {
            let k = SigningKey::generate(alg).unwrap();
            let der = k.public_der().unwrap();
            let sig = k.sign(b"hello");
            assert!(verify(alg, &der, b"hello", &sig).unwrap(), "{alg}");
            assert!(!verify(alg, &der, b"hellO", &sig).unwrap(), "{alg}");
            let again =
                SigningKey::from_private_bytes(alg, &k.to_private_bytes().unwrap()).unwrap();
            assert_eq!(
                again.sign(b"x"),
                k.sign(b"x"),
                "{alg} signatures are deterministic"
            );
            assert_eq!(fingerprint(&der).len(), 32);
        }
        assert!(SigningKey::generate("MD5withRSA").is_err());
    }
}
