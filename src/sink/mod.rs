//! Destinations through `object_store`: path layout, the streaming Parquet part writer (and the
//! reader tables' writer over it), the publish step, the run manifest's storage, staging areas
//! and their leases, and the
//! destination preflight.
//!
//! The sink knows nothing about HTTP or the API: it receives Arrow batches and a partition key.

#[cfg(feature = "crash-points")]
pub mod crash;
pub mod diagnosis;
pub(crate) mod encode;
pub mod exclusive;
pub mod layout;
pub mod lease;
pub mod parquet;
mod part;
pub mod publish;
pub mod reader;
pub mod staging;
pub mod store;
pub mod table;

use backon::{ExponentialBuilder, Retryable};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Result alias of the sink layer.
pub type Result<T, E = SinkError> = std::result::Result<T, E>;

/// A storage failure, naming the operation and the object.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An object store call failed.
    #[error("{op} {path} failed")]
    Store {
        /// put, rename, delete, list, head.
        op: &'static str,
        /// The object.
        path: String,
        #[source]
        source: Cause<object_store::Error>,
    },
    /// Parquet encoding or its upload failed.
    #[error("writing Parquet file {path} failed")]
    Encode {
        /// The file.
        path: String,
        #[source]
        source: Cause<::parquet::errors::ParquetError>,
    },
    /// The store accepted a write that had to be refused: it ignores conditional writes.
    #[error(
        "a second create-if-absent or a wrong-ETag write of {path} was accepted: the store ignores conditional writes"
    )]
    NoConditionalWrites {
        /// The object tried.
        path: String,
    },
    /// A written file could not be made durable on the local disk (fsync).
    #[error("syncing {path} to disk failed")]
    Sync {
        /// The file or directory.
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A foreign error shown as one sentence. object_store's and parquet's errors quote most of
/// their cause chain in their own `Display` (request, retries, status, S3's error body), so
/// printing every `source()` level, as `{:#}` and `run::chain` do, repeats it several times.
/// `Cause` prints the error, then only the sources not already quoted (such as the
/// "Connection refused" at the bottom), and ends the chain. The error is kept in `.0`.
///
/// S3 answers a bad signature by quoting the request it expected to be signed, signed headers
/// included, and `x-amz-security-token` is one of them: those elements are cut from the text.
#[derive(Debug)]
pub struct Cause<E>(pub E);

/// S3 error body elements that quote the signed request.
const ECHOED_REQUEST: [&str; 4] = [
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "StringToSign",
    "StringToSignBytes",
];

/// `text` with the contents of the [`ECHOED_REQUEST`] elements replaced by `REDACTED`.
fn redact_echoed_request(text: &str) -> String {
    let mut out = text.to_owned();
    for tag in ECHOED_REQUEST {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut from = 0;
        while let Some(start) = out[from..].find(&open).map(|i| from + i + open.len()) {
            let Some(len) = out[start..].find(&close) else {
                // Cut off mid-element: drop the rest.
                out.replace_range(start.., "REDACTED");
                break;
            };
            out.replace_range(start..start + len, "REDACTED");
            from = start + "REDACTED".len() + close.len();
        }
    }
    out
}

impl<E: std::error::Error> std::fmt::Display for Cause<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.0.to_string();
        let mut cur = self.0.source();
        while let Some(c) = cur {
            let s = c.to_string();
            if !text.contains(&s) {
                text.push_str(": ");
                text.push_str(&s);
            }
            cur = c.source();
        }
        f.write_str(&redact_echoed_request(&text))
    }
}

impl<E: std::error::Error> std::error::Error for Cause<E> {}

impl<E> From<E> for Cause<E> {
    fn from(e: E) -> Cause<E> {
        Cause(e)
    }
}

/// Storage calls retried as a whole by [`retry_io`] in this process.
static STORAGE_RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many storage calls [`retry_io`] retried in this process so far.
pub fn storage_retries() -> u64 {
    STORAGE_RETRIES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Attempts of a storage call: object_store retries requests inside one call, not the call
/// itself, so a PUT, COPY or DELETE that failed as a whole gets this many tries.
const IO_ATTEMPTS: usize = 3;

/// Runs a PUT/COPY/DELETE-like call up to [`IO_ATTEMPTS`] times with exponential backoff and
/// jitter (200 ms, then up to 2 s), for errors that may pass. A `cancel` ends the wait between
/// attempts and returns the last error; a call in flight is never cut off, so a publish that
/// started finishes or fails whole.
pub async fn retry_io<T, F, Fut>(
    cancel: &CancellationToken,
    f: F,
) -> std::result::Result<T, object_store::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, object_store::Error>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(IO_ATTEMPTS - 1)
        .with_jitter();
    let stop = cancel.clone();
    let sleeper = move |d: Duration| {
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(d) => {}
                () = stop.cancelled() => {}
            }
        }
    };
    f.retry(policy)
        .sleep(sleeper)
        .when(|e| is_transient(e) && !cancel.is_cancelled())
        .notify(|e, delay| {
            STORAGE_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(delay_ms = delay.as_millis() as u64, error = %e, "Storage call failed, retrying.");
        })
        .await
}

/// Whether asking again may help: not for a missing object, a bad path, an unsupported call,
/// a refused credential, or a conditional write refused (the answer stays the same).
fn is_transient(e: &object_store::Error) -> bool {
    !matches!(
        e,
        object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotModified { .. }
            | object_store::Error::NotImplemented { .. }
            | object_store::Error::InvalidPath { .. }
            | object_store::Error::NotSupported { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
    )
}

/// Deletes an object with retries; an object already gone counts as deleted.
pub async fn delete_if_exists(store: &dyn ObjectStore, path: &Path) -> Result<()> {
    retry_io(&CancellationToken::new(), || async {
        match store.delete(path).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            r => r,
        }
    })
    .await
    .map_err(|source| SinkError::Store {
        op: "delete",
        path: path.to_string(),
        source: source.into(),
    })
}

/// Writes and deletes a marker under the prefix: proves the destination is reachable and
/// writable before any API request is sent.
pub async fn preflight(store: &dyn ObjectStore, marker: &Path) -> Result<()> {
    store
        .put(
            marker,
            PutPayload::from_static(b"postpress-etl preflight\n"),
        )
        .await
        .map_err(|source| SinkError::Store {
            op: "put",
            path: marker.to_string(),
            source: source.into(),
        })?;
    store
        .delete(marker)
        .await
        .map_err(|source| SinkError::Store {
            op: "delete",
            path: marker.to_string(),
            source: source.into(),
        })
}

/// Writes a small object (the manifest) in one PUT.
pub async fn put_object(store: &dyn ObjectStore, path: &Path, bytes: Vec<u8>) -> Result<()> {
    let payload = PutPayload::from(bytes);
    retry_io(&CancellationToken::new(), || {
        store.put(path, payload.clone())
    })
    .await
    .map(|_| ())
    .map_err(|source| SinkError::Store {
        op: "put",
        path: path.to_string(),
        source: source.into(),
    })
}

/// Deletes everything below a prefix (a run's staging area). Missing objects are fine.
pub async fn delete_prefix(store: &dyn ObjectStore, prefix: &Path) -> Result<u64> {
    let objects: Vec<_> = store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|source| SinkError::Store {
            op: "list",
            path: prefix.to_string(),
            source: source.into(),
        })?;
    let mut n = 0;
    for o in objects {
        delete_if_exists(store, &o.location).await?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Transport(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("Error performing PUT http://h/b/k - {0}")]
    struct Request(#[source] Transport);

    /// A call retried as a whole is counted once per retry; a refused conditional write is
    /// not retried (its answer would not change).
    #[tokio::test(start_paused = true)]
    async fn whole_call_retries_are_counted() {
        let before = storage_retries();
        let mut calls = 0;
        let r = retry_io(&CancellationToken::new(), || {
            calls += 1;
            let fail = calls < 3;
            async move {
                if fail {
                    Err(object_store::Error::Generic {
                        store: "S3",
                        source: "500 InternalError".into(),
                    })
                } else {
                    Ok(calls)
                }
            }
        })
        .await;
        assert_eq!(r.ok(), Some(3));
        assert!(storage_retries() - before >= 2);
        let mut refused = 0;
        let r: std::result::Result<(), _> = retry_io(&CancellationToken::new(), || {
            refused += 1;
            async {
                Err(object_store::Error::Precondition {
                    path: "k".into(),
                    source: "412".into(),
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(refused, 1, "a refused conditional write is asked once");
    }

    /// A storage error reads as one sentence: each cause once, the root cause kept, and the
    /// chain ends at the wrapped error.
    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = SinkError::Store {
            op: "put",
            path: "pp/k".into(),
            source: Cause(object_store::Error::Generic {
                store: "S3",
                source: Box::new(Request(Transport(io))),
            }),
        };
        assert_eq!(
            crate::error_chain(&e),
            "put pp/k failed: Generic S3 error: Error performing PUT http://h/b/k - error sending \
             request: Connection refused"
        );
    }

    /// What S3 quotes of a signed request (the session token among its headers) never reaches
    /// a message; the error code does.
    #[test]
    fn echoed_requests_are_redacted() {
        let body = "403 Forbidden: <Error><Code>SignatureDoesNotMatch</Code>\
                    <StringToSign>AWS4-HMAC-SHA256\n20260101T000000Z</StringToSign>\
                    <CanonicalRequest>PUT\n/b/k\nx-amz-security-token:tok-SECRET\n</CanonicalRequest>\
                    <CanonicalRequestBytes>50 55 54</CanonicalRequestBytes></Error>";
        let e = Cause(std::io::Error::other(body));
        let text = e.to_string();
        assert_eq!(
            text,
            "403 Forbidden: <Error><Code>SignatureDoesNotMatch</Code><StringToSign>REDACTED\
             </StringToSign><CanonicalRequest>REDACTED</CanonicalRequest>\
             <CanonicalRequestBytes>REDACTED</CanonicalRequestBytes></Error>"
        );
        assert_eq!(
            redact_echoed_request("<StringToSign>cut"),
            "<StringToSign>REDACTED"
        );
    }
}
