//! How `erase` and `prune` hold the output while they write (SPEC §12): the lifecycle lease is
//! taken first (waiting for other writers up to `--wait`), the work runs while it is kept, and
//! it is released however the work ends: done, failed, the lease lost to another process, or a
//! signal. A dry run takes no lease. On a signal the work stops between two steps that each
//! leave every file whole (the old one or the new one), so rerunning the command finishes it.
//!
//! Owns that bracket. It must not know what the work does.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::LifecycleError;
use super::lease::hold_lifecycle_lease;
use crate::sink::layout::Layout;
use crate::sink::store::Destination;

/// Who writes, and how long it waits for the others.
pub struct Writer<'a> {
    /// `erase` or `prune`.
    pub command: &'a str,
    /// Its id (the holder the lease names).
    pub id: &'a str,
    /// `--wait`.
    pub wait: Duration,
    /// Whether the destination's conditional writes are to be relied on (`output.exclusive_leases`).
    pub exclusive: bool,
    /// A dry run: no lease.
    pub dry_run: bool,
    /// Cancelled on SIGINT or SIGTERM.
    pub cancel: &'a CancellationToken,
}

/// Runs `work` under the output's lifecycle lease.
pub async fn under_lease<T>(
    dest: &Destination,
    layout: &Layout,
    w: &Writer<'_>,
    work: impl Future<Output = Result<T, LifecycleError>>,
) -> Result<T, LifecycleError> {
    if w.dry_run {
        return tokio::select! {
            r = work => r,
            () = w.cancel.cancelled() => Err(LifecycleError::Interrupted),
        };
    }
    let lease = tokio::select! {
        l = hold_lifecycle_lease(dest, layout, w.exclusive, w.command, w.id, w.wait) => l?,
        () = w.cancel.cancelled() => return Err(LifecycleError::Interrupted),
    };
    let lost = lease.lost();
    let outcome = tokio::select! {
        r = work => r,
        () = lost.cancelled() => Err(LifecycleError::LeaseLost),
        () = w.cancel.cancelled() => Err(LifecycleError::Interrupted),
    };
    lease.release().await;
    outcome
}
