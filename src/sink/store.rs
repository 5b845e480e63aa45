//! Destination URL → `ObjectStore` plus the prefix inside it. Local paths and `file://` use
//! `LocalFileSystem`; `s3://bucket/prefix` uses `AmazonS3` configured the standard AWS way.

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use std::sync::Arc;

/// A destination that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The local directory cannot be created or opened.
    #[error("output directory {path} cannot be used")]
    LocalDir {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// object_store refused the configuration.
    #[error("destination {url} cannot be configured")]
    Configure {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
    /// The URL's path is not a valid object path.
    #[error("destination {url} has an invalid prefix")]
    Prefix {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: object_store::path::Error,
    },
}

/// An opened destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Prefix of every path in the store.
    pub prefix: Path,
    /// A human-readable URL for logs and the manifest (no credentials).
    pub display: String,
    /// True for S3 (publish is copy-then-delete there).
    pub is_s3: bool,
}

/// Opens the destination named by `output.url`.
pub fn open(url: &str) -> Result<Destination, StoreError> {
    if let Some(rest) = url.strip_prefix("s3://") {
        return open_s3(url, rest);
    }
    let dir = url.strip_prefix("file://").unwrap_or(url);
    let local = |source| StoreError::LocalDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(local)?;
    let abs = std::fs::canonicalize(dir).map_err(local)?;
    let store = LocalFileSystem::new_with_prefix(&abs).map_err(|source| StoreError::Configure {
        url: url.to_owned(),
        source,
    })?;
    Ok(Destination {
        store: Arc::new(store),
        prefix: Path::default(),
        display: abs.display().to_string(),
        is_s3: false,
    })
}

fn open_s3(url: &str, rest: &str) -> Result<Destination, StoreError> {
    use object_store::aws::AmazonS3Builder;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    // AWS_ENDPOINT_URL is the AWS SDKs' standard name; object_store reads AWS_ENDPOINT too.
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        builder = builder.with_endpoint(endpoint);
    }
    let store = builder
        .with_retry(object_store::RetryConfig {
            max_retries: 5,
            retry_timeout: std::time::Duration::from_secs(120),
            backoff: object_store::BackoffConfig::default(),
        })
        .build()
        .map_err(|source| StoreError::Configure {
            url: url.to_owned(),
            source,
        })?;
    let prefix = super::layout::parse_prefix(prefix).map_err(|source| StoreError::Prefix {
        url: url.to_owned(),
        source,
    })?;
    Ok(Destination {
        store: Arc::new(store),
        prefix,
        display: url.to_owned(),
        is_s3: true,
    })
}
