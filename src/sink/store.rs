//! Destination URL → `ObjectStore` plus the prefix inside it. Why one cannot be written is
//! `diagnosis`.
//!
//! Local paths and `file://` use `LocalFileSystem`. `s3://bucket/prefix` uses `AmazonS3`, built by
//! object_store's own builder from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, web identity / IRSA, ECS and EC2 instance credentials): nothing here reads a
//! credential itself, so nothing here can print one.
//!
//! This module must not know the API, Parquet or the partition layout; it opens stores and says
//! in an operator's words why one cannot be written.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A destination that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The local directory cannot be created or opened.
    #[error("output directory {path} cannot be used")]
    LocalDir {
        /// The directory.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// object_store refused the configuration.
    #[error("destination {url} cannot be configured")]
    Configure {
        /// The URL.
        url: String,
        #[source]
        source: object_store::Error,
    },
    /// The output path, or a directory it would be created in, is a regular file.
    #[error("output directory {path} cannot be used: {file} is a file, not a directory")]
    NotADirectory {
        /// The output directory as given.
        path: String,
        /// The file in the way.
        file: String,
    },
    /// The URL's path is not a valid object path.
    #[error("destination {url} has an invalid prefix")]
    Prefix {
        /// The URL.
        url: String,
        #[source]
        source: object_store::path::Error,
    },
}

/// Where a destination lives, for messages: the preflight names the bucket or the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local directory.
    Local {
        /// Its absolute path.
        dir: String,
    },
    /// An S3 bucket (AWS or an S3-compatible store).
    S3 {
        /// The bucket.
        bucket: String,
        /// `AWS_ENDPOINT_URL` when set; AWS itself otherwise.
        endpoint: Option<String>,
        /// The region requests are signed for.
        region: String,
    },
}

/// An opened destination.
#[derive(Clone)]
pub struct Destination {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Prefix of every path in the store.
    pub prefix: Path,
    /// A human-readable URL for logs and the manifest (no credentials).
    pub display: String,
    /// True for S3 (publish is copy-then-delete there).
    pub is_s3: bool,
    /// The bucket or directory, for messages.
    pub target: Target,
}

impl fmt::Debug for Destination {
    /// The store itself is left out: its configuration is not for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("display", &self.display)
            .field("prefix", &self.prefix.as_ref())
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Destination {
    /// How parts are moved into place here: renamed on a local disk, copied then deleted on S3.
    pub fn part_move(&self) -> super::publish::Move {
        if self.is_s3 {
            super::publish::Move::CopyThenDelete
        } else {
            super::publish::Move::Rename
        }
    }

    /// Where an object of this destination is, for people and schedulers: `s3://bucket/key`, or
    /// the absolute local path.
    pub fn url_of(&self, path: &Path) -> String {
        match &self.target {
            Target::S3 { bucket, .. } => format!("s3://{bucket}/{path}"),
            Target::Local { dir } => format!("{}/{path}", dir.trim_end_matches('/')),
        }
    }
}

/// object_store's retries of every S3 request (timeouts, connection errors, 5xx, 429): up to
/// five retries with exponential backoff from 100 ms, given up after two minutes. PUT-like calls
/// get a further retry of the whole call in `sink::retry_io`.
pub fn s3_retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 5,
        retry_timeout: Duration::from_secs(120),
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
    }
}

/// Checks a destination without writing or connecting: no file where a local output goes.
pub fn check(url: &str) -> Result<(), StoreError> {
    if url.starts_with("s3://") {
        return Ok(());
    }
    let dir = url.strip_prefix("file://").unwrap_or(url);
    let existing = std::path::Path::new(dir).ancestors().find(|p| p.exists());
    match existing {
        Some(p) if !p.is_dir() => Err(StoreError::NotADirectory {
            path: dir.to_owned(),
            file: p.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Opens the destination named by `output.url`.
pub fn open(url: &str) -> Result<Destination, StoreError> {
    if let Some(rest) = url.strip_prefix("s3://") {
        return open_s3(url, rest);
    }
    check(url)?;
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
        store: crash_points(Arc::new(store)),
        prefix: Path::default(),
        display: abs.display().to_string(),
        is_s3: false,
        target: Target::Local {
            dir: abs.display().to_string(),
        },
    })
}

/// The store, wrapped for crash points in a test build (`crash-points` feature); as it is
/// otherwise.
fn crash_points(store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    #[cfg(feature = "crash-points")]
    let store = super::crash::wrap(store);
    store
}

fn open_s3(url: &str, rest: &str) -> Result<Destination, StoreError> {
    crate::tls::install_crypto_provider();
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // from_env reads every AWS_* variable object_store knows, AWS_ENDPOINT_URL included; the
    // bucket comes from the URL, never from AWS_BUCKET.
    let builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(s3_retry_config());
    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
    let region = builder
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".to_owned());
    let configure = |source| StoreError::Configure {
        url: url.to_owned(),
        source,
    };
    let store = builder.build().map_err(configure)?;
    let prefix = super::layout::parse_prefix(prefix).map_err(|source| StoreError::Prefix {
        url: url.to_owned(),
        source,
    })?;
    Ok(Destination {
        store: crash_points(Arc::new(store)),
        prefix,
        display: url.to_owned(),
        is_s3: true,
        target: Target::S3 {
            bucket: bucket.to_owned(),
            endpoint,
            region,
        },
    })
}

impl Destination {
    /// Where an object of this destination is, for messages: `s3://bucket/key`, or the file's
    /// path on a local disk.
    pub fn location(&self, object: &str) -> String {
        match &self.target {
            Target::Local { dir } => format!("{}/{object}", dir.trim_end_matches('/')),
            Target::S3 { bucket, .. } => format!("s3://{bucket}/{object}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s3://bucket/prefix` opens an S3 store named after the bucket, with the prefix parsed
    /// and the region and endpoint taken from the environment the standard way.
    #[test]
    fn s3_urls_open_without_io() {
        let d = open("s3://my-bucket/exports/pp/").expect("opens");
        assert!(d.is_s3);
        assert_eq!(d.prefix.as_ref(), "exports/pp");
        assert_eq!(d.display, "s3://my-bucket/exports/pp/");
        match &d.target {
            Target::S3 { bucket, .. } => assert_eq!(bucket, "my-bucket"),
            other => panic!("not S3: {other:?}"),
        }
        let root = open("s3://b").expect("opens");
        assert_eq!(root.prefix.as_ref(), "");
        assert!(!format!("{d:?}").contains("secret"), "{d:?}");
        let key = super::super::layout::Layout::new(&d.prefix).manifest("2026-11-26", "r1");
        assert_eq!(
            d.url_of(&key),
            "s3://my-bucket/exports/pp/_runs/snapshot_date=2026-11-26/r1.json"
        );
    }
}
