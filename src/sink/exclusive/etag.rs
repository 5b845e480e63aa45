//! The S3 way of writing a lease (`Mode::ETag`): a PUT conditional on the ETag last read
//! (`If-Match`, `PutMode::Update`). Taking is the create-if-absent PUT every exclusive mode
//! shares (`leases.rs`).
//!
//! Knows object_store's conditional PUTs; knows nothing of local disks' generation claims.

use super::error::{Result, store_error};
use super::leases::{Held, Leases, encode};
use crate::sink::lease::Lease;
use crate::sink::retry_io;
use object_store::path::Path;
use object_store::{PutMode, PutOptions, UpdateVersion};
use tokio_util::sync::CancellationToken;

impl Leases {
    /// Writes `next` over the lease at `path` if its ETag is still `v`. `Ok(Err(current))` when
    /// another process wrote it since.
    pub(super) async fn write_etag(
        &self,
        path: &Path,
        v: &UpdateVersion,
        next: Lease,
    ) -> Result<std::result::Result<Held, Lease>> {
        let payload = encode(&next);
        let opts = PutOptions::from(PutMode::Update(v.clone()));
        let put = retry_io(&CancellationToken::new(), || {
            self.store.put_opts(path, payload.clone(), opts.clone())
        })
        .await;
        match put {
            Ok(r) => Ok(Ok(self.held(path, next, r))),
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => self.refused(path, &next).await,
            Err(e) => Err(store_error("put", path, e)),
        }
    }
}
