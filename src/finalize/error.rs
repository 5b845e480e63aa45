//! Why `finalize` stopped, naming the object at fault; nothing more is published for the date it
//! was building when it stops.

use crate::sink::diagnosis;
use crate::sink::store::{self, Destination};
use crate::sink::{Cause, SinkError};

/// Why finalize stopped. Nothing more is published for the date it was building.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The embedded schemas are broken (a build defect).
    #[error("schema registry")]
    Schema(#[from] crate::schema::SchemaError),
    /// The destination cannot be opened.
    #[error("destination")]
    Store(#[from] store::StoreError),
    /// The destination is unreachable or not writable.
    #[error("destination {destination} is not usable")]
    Preflight {
        /// The destination.
        destination: String,
        /// Why, naming the bucket or directory.
        #[source]
        source: diagnosis::PreflightError,
    },
    /// Listing the published units or manifests failed.
    #[error("listing {path} failed")]
    List {
        /// The prefix.
        path: String,
        #[source]
        source: Cause<object_store::Error>,
    },
    /// Reading a published file failed.
    #[error("reading {path} failed")]
    Read {
        /// The object.
        path: String,
        #[source]
        source: Cause<object_store::Error>,
    },
    /// A run manifest is not what `run` writes.
    #[error(
        "run manifest {path} cannot be read ({problem}); remove it if it is not a run manifest"
    )]
    Manifest {
        /// The manifest.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A file in a unit partition is not readable Parquet.
    #[error(
        "{path} is not a readable Parquet file; nothing was published for {date}: remove the file or rerun the export of its date"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// The date being finalized.
        date: String,
        /// The reader's error.
        #[source]
        source: Cause<parquet::errors::ParquetError>,
    },
    /// A file in a unit partition was not written for that unit.
    #[error(
        "{path} is not a part of its unit: {problem}; nothing was published for {date}: remove the file or rerun the export of its date"
    )]
    Foreign {
        /// The file.
        path: String,
        /// The date being finalized.
        date: String,
        /// What gives it away.
        problem: String,
    },
    /// Writing or publishing the tables failed.
    #[error("writing the reader tables of {date} failed")]
    Write {
        /// The date.
        date: String,
        #[source]
        source: SinkError,
    },
    /// A signal stopped finalize before the date's tables were published.
    #[error("stopped before the reader tables of {date} were published")]
    Interrupted {
        /// The date.
        date: String,
    },
    /// Another finalize held the date's lease for the whole wait, or the lease could not be
    /// taken (SPEC §10): nothing was published for the date.
    #[error("the reader tables of {date} could not be built")]
    Lease {
        /// The date.
        date: String,
        /// Why.
        #[source]
        source: crate::sink::exclusive::LeaseError,
    },
    /// An erase or prune of the output held its lifecycle lease for the whole wait, or the
    /// suppressed set could not be read after it (SPEC §12): nothing was published for the date.
    #[error("the reader tables of {date} could not be built")]
    Lifecycle {
        /// The date.
        date: String,
        /// Why.
        #[source]
        source: crate::lifecycle::lease::AdmitError,
    },
    /// An account has more distinct keys than an index can hold.
    #[error("an account has more than 4,294,967,295 distinct keys")]
    TooManyKeys,
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl FinalizeError {
    pub(super) fn internal(e: impl std::fmt::Display) -> FinalizeError {
        FinalizeError::Internal(e.to_string())
    }

    /// Whether a signal stopped it.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            FinalizeError::Interrupted { .. }
                | FinalizeError::Lease {
                    source: crate::sink::exclusive::LeaseError::Cancelled { .. },
                    ..
                }
        )
    }

    /// The error with its object named by its full location (`s3://bucket/key`, a local path)
    /// rather than by its key in the store.
    pub(super) fn located(mut self, dest: &Destination) -> FinalizeError {
        match &mut self {
            FinalizeError::List { path, .. }
            | FinalizeError::Read { path, .. }
            | FinalizeError::Manifest { path, .. }
            | FinalizeError::Corrupt { path, .. }
            | FinalizeError::Foreign { path, .. } => *path = dest.location(path),
            _ => {}
        }
        self
    }
}

impl From<crate::manifest::ManifestError> for FinalizeError {
    fn from(e: crate::manifest::ManifestError) -> FinalizeError {
        use crate::manifest::ManifestError as M;
        match e {
            M::List { path, source } => FinalizeError::List {
                path,
                source: source.into(),
            },
            M::Read { path, source } => FinalizeError::Read {
                path,
                source: source.into(),
            },
            M::Parse { path, problem } => FinalizeError::Manifest { path, problem },
        }
    }
}
