//! How `erase` and `prune` hold the output while they write (SPEC §12): the destination is
//! opened, the lifecycle lease is taken (waiting for other writers up to `--wait`), the work
//! runs while it is kept, and it is released however the work ends: done, failed, the lease lost
//! to another process, or a signal. A dry run takes no lease. On a signal the work stops between
//! two steps that each leave every file whole (the old one or the new one), so rerunning the
//! command finishes it.
//!
//! Owns that bracket and what both commands were started with. It must not know what the work
//! does.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::LifecycleError;
use super::lease::hold_lifecycle_lease;
use crate::job::Job;
use crate::sink::layout::Layout;
use crate::sink::store::{self, Destination};

/// How an `erase` or a `prune` was started, beside what it works on.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Print what would change; write nothing, take no lease.
    pub dry_run: bool,
    /// How long to wait for other writers of the output (`--wait`).
    pub wait: Duration,
    /// Cancelled on SIGINT or SIGTERM: the work stops between files and releases its lease.
    pub cancel: CancellationToken,
    /// Its id (`_lifecycle/{command}-{id}.json`, and the holder its lease names).
    pub id: String,
}

/// Now, as records write times (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Opens the job's destination and runs `work` on it (with its layout and start time) under
/// the output's lifecycle lease, as `command`.
pub async fn under_lease<T>(
    job: &Job,
    command: &str,
    inv: &Invocation,
    work: impl AsyncFnOnce(&Destination, &Layout, String) -> Result<T, LifecycleError>,
) -> Result<T, LifecycleError> {
    let dest = store::open(&job.output.url)?;
    let layout = Layout::new(&dest.prefix);
    let work = work(&dest, &layout, now());
    if inv.dry_run {
        return tokio::select! {
            r = work => r,
            () = inv.cancel.cancelled() => Err(LifecycleError::Interrupted),
        };
    }
    let exclusive = job.output.exclusive_leases;
    let lease = tokio::select! {
        l = hold_lifecycle_lease(&dest, &layout, exclusive, command, &inv.id, inv.wait) => l?,
        () = inv.cancel.cancelled() => return Err(LifecycleError::Interrupted),
    };
    let lost = lease.lost();
    let outcome = tokio::select! {
        r = work => r,
        () = lost.cancelled() => Err(LifecycleError::LeaseLost),
        () = inv.cancel.cancelled() => Err(LifecycleError::Interrupted),
    };
    lease.release().await;
    outcome
}
