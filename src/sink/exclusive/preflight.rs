//! Whether leases can be exclusive on a store at all (SPEC §10), checked before a job writes
//! anything: the store must refuse a second create-if-absent and, on S3, a write conditional on a
//! wrong ETag. A store that accepts either ignores the conditions every exclusive lease relies on.
//!
//! Knows the conditional PUTs a lease makes; knows nothing of how a lease is taken or kept.

use super::error::{LeaseError, Result, store_error};
use super::leases::{Leases, Mode};
use crate::sink::{Cause, SinkError, delete_if_exists, diagnosis, store};
use object_store::path::Path;
use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};

impl Leases {
    /// Checks that leases can be exclusive here (SPEC §10): the store refuses a second
    /// create-if-absent and, on S3, a write conditional on a wrong ETag. Nothing to check when
    /// the job opted out (advisory leases).
    pub async fn preflight(
        &self,
        dest: &store::Destination,
        marker: &Path,
    ) -> std::result::Result<(), diagnosis::PreflightError> {
        if self.mode() == Mode::Advisory {
            return Ok(());
        }
        let source = match conditional_writes_work(self, marker).await {
            Ok(true) => return Ok(()),
            Ok(false) => SinkError::NoConditionalWrites {
                path: marker.to_string(),
            },
            Err(LeaseError::Store(e)) => e,
            Err(e) => SinkError::Store {
                op: "put",
                path: marker.to_string(),
                source: Cause(object_store::Error::Generic {
                    store: "lease check",
                    source: Box::new(e),
                }),
            },
        };
        let cause = match (&source, &dest.target) {
            (SinkError::NoConditionalWrites { .. }, store::Target::Local { dir }) => {
                diagnosis::PreflightCause::NoConditionalWrites {
                    target: format!("output directory {dir}"),
                }
            }
            _ => dest.diagnose(&source),
        };
        Err(diagnosis::PreflightError { cause, source })
    }
}

/// Whether the store behind `leases` writes conditionally, tried on `marker` (created, created
/// again, for S3 updated with a wrong ETag, then deleted). `Ok(false)` when a write that must be
/// refused was not: the store ignores the conditions, and leases on it cannot be exclusive.
pub async fn conditional_writes_work(leases: &Leases, marker: &Path) -> Result<bool> {
    let store = leases.store.as_ref();
    let create = || {
        store.put_opts(
            marker,
            PutPayload::from_static(b"postpress-etl lease check\n"),
            PutOptions::from(PutMode::Create),
        )
    };
    let mut works = match create().await {
        Ok(_) => true,
        Err(object_store::Error::AlreadyExists { .. }) => true,
        Err(
            object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. },
        ) => {
            return Ok(false);
        }
        Err(e) => return Err(store_error("put", marker, e)),
    };
    match create().await {
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Ok(_) => works = false,
        Err(
            object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. },
        ) => works = false,
        Err(e) => return Err(store_error("put", marker, e)),
    }
    if works && leases.mode == Mode::ETag {
        let wrong = PutMode::Update(UpdateVersion {
            e_tag: Some("\"postpress-etl-no-such-etag\"".to_owned()),
            version: None,
        });
        match store
            .put_opts(
                marker,
                PutPayload::from_static(b"x\n"),
                PutOptions::from(wrong),
            )
            .await
        {
            Err(object_store::Error::Precondition { .. }) => {}
            Ok(_) => works = false,
            Err(
                object_store::Error::NotImplemented { .. }
                | object_store::Error::NotSupported { .. },
            ) => works = false,
            Err(e) => return Err(store_error("put", marker, e)),
        }
    }
    delete_if_exists(store, marker).await?;
    Ok(works)
}
