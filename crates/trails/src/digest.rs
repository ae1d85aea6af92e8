//! CloudTrail digest files: every field of CloudTrail's, the signing string exactly as the AWS
//! CLI builds it (`Sha256RSADigestValidator._create_string_to_sign`):
//!
//! ```text
//! {digestEndTime}\n{digestS3Bucket}/{digestS3Object}\n{sha256 hex of the uncompressed digest}\n{previousDigestSignature or "null"}
//! ```
//!
//! signed SHA256withRSA (PKCS#1 v1.5, CloudTrail's) or Ed25519 (mamori's default, over the
//! same string). The signature goes in the object's metadata (`signature`,
//! `signature-algorithm`, i.e. `x-amz-meta-…` on S3) and, where the store keeps no metadata,
//! in a `<digest key>.sig` object holding the hex signature.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    pub newest_event_time: Option<String>,
    pub oldest_event_time: Option<String>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<LogFileEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    pub hash_algorithm: String,
    pub newest_event_time: Option<String>,
    pub oldest_event_time: Option<String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The string a digest's signature covers, from the digest's own (uncompressed) bytes.
pub fn string_to_sign(d: &Digest, uncompressed: &[u8]) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        d.digest_end_time,
        d.digest_s3_bucket,
        d.digest_s3_object,
        sha256_hex(uncompressed),
        d.previous_digest_signature.as_deref().unwrap_or("null")
    )
}

/// Metadata names of the signature (S3 shows them as `x-amz-meta-signature`, …).
pub const META_SIGNATURE: &str = "signature";
pub const META_ALGORITHM: &str = "signature-algorithm";

pub fn sig_key(digest_key: &str) -> String {
    format!("{digest_key}.sig")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_and_signing_string_match_cloudtrail() {
        let d = Digest {
            aws_account_id: "111122223333".into(),
            digest_start_time: "2015-08-17T14:01:31Z".into(),
            digest_end_time: "2015-08-17T15:01:31Z".into(),
            digest_s3_bucket: "bucket".into(),
            digest_s3_object: "AWSLogs/x.json.gz".into(),
            digest_public_key_fingerprint: "31e8b5433410dfb61a9dc45cc65b22ff".into(),
            digest_signature_algorithm: "SHA256withRSA".into(),
            newest_event_time: None,
            oldest_event_time: None,
            previous_digest_s3_bucket: None,
            previous_digest_s3_object: None,
            previous_digest_hash_value: None,
            previous_digest_hash_algorithm: None,
            previous_digest_signature: None,
            log_files: vec![],
        };
        let json = serde_json::to_value(&d).unwrap();
        for f in [
            "awsAccountId",
            "digestStartTime",
            "digestEndTime",
            "digestS3Bucket",
            "digestS3Object",
            "digestPublicKeyFingerprint",
            "digestSignatureAlgorithm",
            "newestEventTime",
            "oldestEventTime",
            "previousDigestS3Bucket",
            "previousDigestS3Object",
            "previousDigestHashValue",
            "previousDigestHashAlgorithm",
            "previousDigestSignature",
            "logFiles",
        ] {
            assert!(json.get(f).is_some(), "{f}");
        }
        let s = string_to_sign(&d, b"{}");
        assert_eq!(
            s,
            "2015-08-17T15:01:31Z\nbucket/AWSLogs/x.json.gz\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\nnull"
        );
    }
}
