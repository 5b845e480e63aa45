//! What can go wrong with a lease: a storage call failed, another process took it, the wait for
//! it ended, or the process is stopping.

use crate::sink::{Cause, SinkError};
use object_store::path::Path;

/// A lease failure.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A storage call failed.
    #[error(transparent)]
    Store(#[from] SinkError),
    /// Another process took the lease: this one no longer holds it.
    #[error("the lease {path} was taken by {by}")]
    Lost {
        /// The lease.
        path: String,
        /// Who holds it now.
        by: String,
    },
    /// Still held by a live process when the wait ended.
    #[error("the lease {path} is still held by {holder} after waiting {waited_s} s")]
    TimedOut {
        /// The lease.
        path: String,
        /// Who holds it.
        holder: String,
        /// How long this process waited.
        waited_s: u64,
    },
    /// The process is stopping.
    #[error("stopped while waiting for the lease {path}")]
    Cancelled {
        /// The lease.
        path: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = LeaseError> = std::result::Result<T, E>;

pub(super) fn store_error(op: &'static str, path: &Path, e: object_store::Error) -> LeaseError {
    LeaseError::Store(SinkError::Store {
        op,
        path: path.to_string(),
        source: Cause(e),
    })
}
