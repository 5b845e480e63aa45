//! Everything `erase` and `prune` can fail on, each naming what failed.

use crate::sink::SinkError;

/// A failure of `erase` or `prune` once the job and flags were accepted: the destination
/// (exit 1). Keys are never part of one: files are named by path, keys by nothing.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The destination cannot be opened.
    #[error("destination")]
    Open(#[from] crate::sink::store::StoreError),
    /// A store call failed.
    #[error("destination")]
    Store(#[from] SinkError),
    /// The lifecycle lease could not be taken (other writers stayed live, or a store error).
    #[error(transparent)]
    Lease(#[from] super::lease::HoldError),
    /// Another process took the lifecycle lease over while this one worked (it looked stale):
    /// this one stopped so that two never write the output at once.
    #[error(
        "another process took the lifecycle lease over; stopped so that two never write the output at once (run again to finish)"
    )]
    LeaseLost,
    /// SIGINT or SIGTERM: stopped between two steps, every file whole; the lease released.
    #[error(
        "stopped by a signal: every file is whole (the old one or the new one); run the same command again to finish"
    )]
    Interrupted,
    /// The suppressed lists could not be read.
    #[error("destination")]
    Suppressed(#[from] super::suppressed::SuppressedError),
    /// A Parquet file could not be read.
    #[error("cannot read Parquet file {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A Parquet file could not be written again.
    #[error("cannot rewrite Parquet file {path}")]
    Rewrite {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A JSON record could not be encoded (a defect).
    #[error("cannot encode {what}")]
    Encode {
        /// Which record.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl LifecycleError {
    pub(crate) fn store(
        op: &'static str,
        path: &object_store::path::Path,
    ) -> impl FnOnce(object_store::Error) -> LifecycleError {
        let path = path.to_string();
        move |source| {
            LifecycleError::Store(SinkError::Store {
                op,
                path,
                source: crate::sink::Cause(source),
            })
        }
    }
}
