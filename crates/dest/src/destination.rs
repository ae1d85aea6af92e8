//! A destination through the `object_store` crate: a local directory or any S3-compatible
//! endpoint (`s3://bucket/prefix`; endpoint, region and credentials from the usual `AWS_*`
//! environment variables, e.g. `AWS_ENDPOINT_URL=http://127.0.0.1:5000`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum DestError {
    #[error("destination {dest:?}: {message}")]
    Open { dest: String, message: String },
    /// The destination is not one this account may use (outside its directory, a bucket the
    /// operator did not allow, an unknown scheme, a link): the caller's mistake, not an outage.
    #[error("destination {dest:?} is refused: {reason}")]
    Refused { dest: String, reason: String },
    #[error("object {key}: {message}")]
    Object { key: String, message: String },
}

pub struct Destination {
    pub store: Arc<dyn ObjectStore>,
    /// What digests call the bucket: the S3 bucket, or the directory's absolute path.
    pub bucket: String,
    /// The key prefix given in the destination URL (S3) — empty for a directory.
    pub prefix: String,
    /// S3 keeps user metadata (digest signatures go there); a directory does not (`.sig` files).
    pub has_metadata: bool,
    pub display: String,
}

impl Destination {
    /// Opens what the user names on their own machine (the CLI's offline commands): a
    /// directory (created if missing), `file://DIR`, or `s3://bucket/prefix`. Any other
    /// `scheme://` is refused. Tenant-supplied destinations go through
    /// [`crate::Confinement::open`] instead.
    pub fn open(dest: &str) -> Result<Self, DestError> {
        if let Some(rest) = dest.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            return Self::open_s3(bucket, prefix, dest);
        }
        let dir = dest.strip_prefix("file://").unwrap_or(dest);
        if let Some(scheme) = crate::confine::scheme_of(dir) {
            return Err(DestError::Open {
                dest: dest.to_string(),
                message: format!(
                    "unknown scheme {scheme:?}; give a directory, file://DIR or s3://bucket/prefix"
                ),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| DestError::Open {
            dest: dest.to_string(),
            message: format!("cannot create the directory: {e}"),
        })?;
        let abs = std::fs::canonicalize(dir).map_err(|e| DestError::Open {
            dest: dest.to_string(),
            message: e.to_string(),
        })?;
        Self::open_dir(&abs, dest)
    }

    /// An S3 bucket through the `AWS_*` environment of this process.
    pub(crate) fn open_s3(bucket: &str, prefix: &str, display: &str) -> Result<Self, DestError> {
        let fail = |m: String| DestError::Open {
            dest: display.to_string(),
            message: m,
        };
        if bucket.is_empty() {
            return Err(fail("no bucket name; write s3://bucket/prefix".into()));
        }
        // The delivery loop has its own back-off (1 s to 5 min) and reports each failure in the
        // trail's status, so a request gives up after a few quick retries instead of
        // object_store's default of 10 retries over 3 minutes.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(20),
            ..Default::default()
        };
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry);
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .ok();
        if let Some(ep) = endpoint {
            b = b
                .with_endpoint(&ep)
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            b = b.with_region("us-east-1");
        }
        let store = b.build().map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            has_metadata: true,
            display: display.to_string(),
        })
    }

    /// An existing directory, given by its canonical absolute path.
    pub(crate) fn open_dir(abs: &std::path::Path, display: &str) -> Result<Self, DestError> {
        let store = object_store::local::LocalFileSystem::new_with_prefix(abs).map_err(|e| {
            DestError::Open {
                dest: display.to_string(),
                message: e.to_string(),
            }
        })?;
        Ok(Self {
            store: Arc::new(store),
            bucket: abs.display().to_string(),
            prefix: String::new(),
            has_metadata: false,
            display: display.to_string(),
        })
    }

    fn path(key: &str) -> Result<ObjectPath, DestError> {
        ObjectPath::parse(key).map_err(|e| DestError::Object {
            key: key.to_string(),
            message: format!("not a valid object key: {e}"),
        })
    }

    /// Where an object is, for messages: `s3://bucket/key` or `/dir/key` (keys include the prefix).
    pub fn locate(&self, key: &str) -> String {
        if self.has_metadata {
            format!("s3://{}/{key}", self.bucket)
        } else {
            format!("{}/{key}", self.bucket.trim_end_matches('/'))
        }
    }

    fn err(&self, key: &str, e: impl std::fmt::Display) -> DestError {
        DestError::Object {
            key: self.locate(key),
            message: e.to_string(),
        }
    }

    pub async fn put(
        &self,
        key: &str,
        data: Vec<u8>,
        metadata: &[(&'static str, String)],
    ) -> Result<(), DestError> {
        let path = Self::path(key)?;
        let mut attributes = Attributes::new();
        if self.has_metadata {
            for (k, v) in metadata {
                attributes.insert(Attribute::Metadata((*k).into()), v.clone().into());
            }
        }
        let opts = PutOptions {
            attributes,
            ..Default::default()
        };
        self.store
            .put_opts(&path, PutPayload::from(Bytes::from(data)), opts)
            .await
            .map_err(|e| self.err(key, e))?;
        Ok(())
    }

    /// The object's bytes and user metadata, or `None` when it does not exist.
    pub async fn get(
        &self,
        key: &str,
    ) -> Result<Option<(Bytes, HashMap<String, String>)>, DestError> {
        let path = Self::path(key)?;
        match self.store.get(&path).await {
            Ok(r) => {
                let meta: HashMap<String, String> = r
                    .attributes
                    .iter()
                    .filter_map(|(k, v)| match k {
                        Attribute::Metadata(name) => Some((name.to_string(), v.to_string())),
                        _ => None,
                    })
                    .collect();
                let bytes = r.bytes().await.map_err(|e| self.err(key, e))?;
                Ok(Some((bytes, meta)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Every key under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, DestError> {
        let p = if prefix.is_empty() {
            None
        } else {
            Some(Self::path(prefix)?)
        };
        let mut keys: Vec<String> = self
            .store
            .list(p.as_ref())
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.err(prefix, e))?;
        keys.sort();
        Ok(keys)
    }

    pub async fn delete(&self, key: &str) -> Result<(), DestError> {
        let path = Self::path(key)?;
        self.store.delete(&path).await.map_err(|e| self.err(key, e))
    }
}
