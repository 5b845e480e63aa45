//! The staging areas a run holds (SPEC §10): its own, and those of crashed runs of the same job,
//! date and shard whose checkpoints it continues. It holds each by its lease, renewed every
//! 30 s while the run lasts, and releases them on every exit the run controls (signals
//! included): an area left with checkpoints keeps them and their parts, and nothing else; an
//! area without checkpoints is removed.
//!
//! Knows leases, checkpoints and the staging layout; knows nothing about pages, HTTP or which
//! unit starts where (that is `resume`).

use super::checkpoint::Checkpoint;
use super::fatal::Fatal;
use super::output::RunOutput;
use super::unit_staging::{self, UnitStaging};
use crate::error_chain as chain;
use crate::sink::exclusive::{Held, LeaseError, Taken};
use crate::sink::layout::CHECKPOINT_FILE;
use crate::sink::lease::{Lease, RENEW_EVERY};
use crate::sink::staging;
use chrono::Utc;
use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::ObjectMeta;
use object_store::path::Path;
use std::collections::{BTreeMap, HashSet};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// The leases a run holds, by area.
#[derive(Debug, Default)]
pub(crate) struct Areas {
    held: tokio::sync::Mutex<BTreeMap<String, Held>>,
}

impl Areas {
    /// Takes the run's own area: writes its lease before any unit stages there. A lease that
    /// cannot be written is only logged: the area is new, named after this run, and the
    /// destination's preflight passed.
    pub(crate) async fn hold_own(&self, out: &RunOutput) {
        let lease = Lease::new(
            &out.job,
            &out.snapshot_date,
            out.shard.as_deref(),
            &out.run_id,
            &out.run_id,
            Utc::now(),
        );
        let path = out.layout.lease(&out.run_id);
        match out.leases.try_take(&path, lease, &out.run_id).await {
            Ok(Taken::Held(h)) => {
                self.held.lock().await.insert(out.run_id.clone(), h);
            }
            Ok(Taken::Live(l)) => {
                warn!(lease = %path, holder = %l.describe(), "This run's own staging lease is held by another process.");
            }
            Err(e) => {
                warn!(error = %chain(&e), lease = %path, "A staging lease could not be written.");
            }
        }
    }

    /// Takes over the area of an earlier run whose lease went stale, to continue its
    /// checkpoints: a write conditional on the lease as read now, so of two runs taking it over
    /// at once exactly one does. False when another process holds it (or it cannot be
    /// written): the run leaves the area's units alone. Idempotent.
    pub(crate) async fn take_over(&self, out: &RunOutput, stale: &Lease) -> bool {
        let mut held = self.held.lock().await;
        if held.contains_key(&stale.area) {
            return true;
        }
        let path = out.layout.lease(&stale.area);
        match out
            .leases
            .try_take(
                &path,
                stale.taken_over(&out.run_id, Utc::now()),
                &out.run_id,
            )
            .await
        {
            Ok(Taken::Held(h)) => {
                info!(area = %stale.area, previous = %stale.describe(), "Took over the staging area of an earlier run to continue its checkpoints.");
                held.insert(stale.area.clone(), h);
                true
            }
            Ok(Taken::Live(l)) => {
                warn!(area = %stale.area, holder = %l.describe(), "Another process took this staging area over first; its units are left to it.");
                false
            }
            Err(e) => {
                warn!(error = %chain(&e), lease = %path, "A staging area could not be taken over; its units are left to a later run.");
                false
            }
        }
    }

    /// Renews every held lease. One taken by another process (this run looked stale) is
    /// returned as the run's fatal cause: two runs must never write one unit.
    pub(crate) async fn renew(&self, out: &RunOutput) -> Option<Fatal> {
        let mut held = self.held.lock().await;
        let mut lost = None;
        for h in held.values_mut() {
            match out.leases.renew(h).await {
                Ok(()) => debug!(area = %h.lease.area, "Lease renewed."),
                Err(e @ LeaseError::Lost { .. }) => {
                    error!(error = %e, "A staging area this run held was taken over by another run.");
                    lost.get_or_insert(Fatal::LeaseLost {
                        what: e.to_string(),
                    });
                }
                Err(e) => {
                    warn!(error = %chain(&e), lease = %h.path, "A staging lease could not be renewed.")
                }
            }
        }
        lost
    }

    /// Releases every held area: see [`release_area`]. They are no longer held.
    pub(crate) async fn release(&self, out: &RunOutput) {
        let held = std::mem::take(&mut *self.held.lock().await);
        for h in held.into_values() {
            release_area(out, h).await;
        }
    }
}

/// The renewal task: renews the run's leases every [`RENEW_EVERY`] until stopped.
pub(crate) struct Renewal {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Renewal {
    /// Calls `renew` every [`RENEW_EVERY`] until stopped.
    pub(crate) fn start<F>(renew: F) -> Renewal
    where
        F: Fn() -> BoxFuture<'static, ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RENEW_EVERY) => renew().await,
                    () = token.cancelled() => return,
                }
            }
        });
        Renewal { stop, task }
    }

    /// Stops renewing (a renewal in progress finishes first).
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            warn!(error = %e, "The lease renewal task ended abnormally.");
        }
    }
}

/// Releases one area. Without checkpoints it is removed whole. With checkpoints (units
/// interrupted, failed or left to a later run), it keeps them and the parts they name, deletes
/// anything else (parts written after a unit's last checkpoint), and marks its lease released.
async fn release_area(out: &RunOutput, held: Held) {
    let lease = &held.lease;
    let store = out.dest.store.as_ref();
    let root = out.layout.staging_root(&lease.area);
    let objects: Vec<ObjectMeta> = match store.list(Some(&root)).try_collect().await {
        Ok(o) => o,
        Err(e) => {
            warn!(error = %crate::sink::Cause(e), staging = %root, "A staging area could not be listed at the end of the run.");
            return;
        }
    };
    let checkpoints: Vec<&ObjectMeta> = objects
        .iter()
        .filter(|m| m.location.filename() == Some(CHECKPOINT_FILE))
        .collect();
    if checkpoints.is_empty() {
        if let Err(e) = staging::delete_staging(&out.dest, &root).await {
            warn!(error = %chain(&e), staging = %root, "Could not clean a staging area.");
        }
        return;
    }
    let mut keep: HashSet<Path> = HashSet::from([out.layout.lease(&lease.area)]);
    for meta in &checkpoints {
        keep.insert(meta.location.clone());
        match unit_staging::load(store, &meta.location).await {
            Ok(Some(cp)) => keep.extend(part_paths(out, &cp)),
            Ok(None) => {}
            Err(e) => {
                warn!(error = %chain(&e), "A checkpoint could not be read at the end of the run.")
            }
        }
    }
    if let Err(e) = staging::delete_except(store, &objects, &keep).await {
        warn!(error = %chain(&e), staging = %root, "Could not clean a staging area.");
    }
    let path = held.path.clone();
    match out.leases.release(held).await {
        Ok(()) => {
            info!(staging = %root, checkpoints = checkpoints.len(), "Staging area released; its checkpoints stay for the next run.")
        }
        Err(e) => {
            warn!(error = %chain(&e), lease = %path, "A staging lease could not be released.")
        }
    }
}

/// The staged parts a checkpoint names.
fn part_paths(out: &RunOutput, cp: &Checkpoint) -> Vec<Path> {
    UnitStaging::of_checkpoint(&out.dest, &out.layout, cp)
        .map(|s| s.staged(cp).into_iter().map(|p| p.path).collect())
        .unwrap_or_default()
}
