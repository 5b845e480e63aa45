//! The staging areas a run holds (SPEC §10): its own, and those of crashed runs of the same job,
//! date and shard whose checkpoints it continues. It holds each by its lease, renewed every
//! 30 s while the run lasts, and releases them on every exit the run controls (signals
//! included): an area left with checkpoints keeps them and their parts, and nothing else; an
//! area without checkpoints is removed.
//!
//! Knows leases, checkpoints and the staging layout; knows nothing about pages, HTTP or which
//! unit starts where (that is `resume`).

use super::RunCtx;
use super::checkpoint::{self, Checkpoint};
use crate::error_chain as chain;
use crate::sink::layout::{CHECKPOINT_FILE, PartitionKey};
use crate::sink::lease::{self, Lease, RENEW_EVERY, timestamp};
use crate::sink::staging;
use chrono::Utc;
use futures::TryStreamExt;
use object_store::ObjectMeta;
use object_store::path::Path;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// The leases a run holds, by area.
#[derive(Debug, Default)]
pub(crate) struct Areas {
    held: Mutex<BTreeMap<String, Lease>>,
}

impl Areas {
    fn snapshot(&self) -> Vec<Lease> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.values().cloned().collect()
    }

    fn insert(&self, lease: Lease) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(lease.area.clone(), lease);
    }

    /// Whether the run holds this area.
    pub(crate) fn holds(&self, area: &str) -> bool {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.contains_key(area)
    }

    /// Takes the run's own area: writes its lease before any unit stages there.
    pub(crate) async fn hold_own(&self, ctx: &RunCtx) {
        let now = Utc::now();
        let lease = Lease::new(
            &ctx.job,
            &ctx.snapshot_date,
            ctx.shard.as_deref(),
            &ctx.run_id,
            &ctx.run_id,
            now,
        );
        self.write(ctx, lease).await;
    }

    /// Takes over the area of an earlier run whose lease went stale, to continue its
    /// checkpoints. Idempotent.
    pub(crate) async fn take_over(&self, ctx: &RunCtx, stale: &Lease) {
        if self.holds(&stale.area) {
            return;
        }
        info!(area = %stale.area, previous = %stale.describe(), "Taking over the staging area of an earlier run to continue its checkpoints.");
        self.write(ctx, stale.taken_over(&ctx.run_id, Utc::now()))
            .await;
    }

    /// Records the lease as held and writes it. A lease that cannot be written is only logged:
    /// it is advisory, and the destination's preflight passed.
    async fn write(&self, ctx: &RunCtx, lease: Lease) {
        let path = ctx.layout.lease(&lease.area);
        if let Err(e) = lease::write(ctx.dest.store.as_ref(), &path, &lease).await {
            warn!(error = %chain(&e), lease = %path, "A staging lease could not be written.");
        }
        self.insert(lease);
    }

    /// Renews every held lease.
    async fn renew(&self, ctx: &RunCtx) {
        for mut l in self.snapshot() {
            l.renewed_at = timestamp(Utc::now());
            let path = ctx.layout.lease(&l.area);
            match lease::write(ctx.dest.store.as_ref(), &path, &l).await {
                Ok(()) => debug!(area = %l.area, "Lease renewed."),
                Err(e) => {
                    warn!(error = %chain(&e), lease = %path, "A staging lease could not be renewed.")
                }
            }
        }
    }

    /// Releases every held area: see [`release_area`].
    pub(crate) async fn release(&self, ctx: &RunCtx) {
        for l in self.snapshot() {
            release_area(ctx, l).await;
        }
    }
}

/// The renewal task: renews the run's leases every [`RENEW_EVERY`] until stopped.
pub(crate) struct Renewal {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Renewal {
    /// Starts renewing `ctx`'s leases.
    pub(crate) fn start(ctx: Arc<RunCtx>) -> Renewal {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RENEW_EVERY) => ctx.areas.renew(&ctx).await,
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
async fn release_area(ctx: &RunCtx, mut lease: Lease) {
    let store = ctx.dest.store.as_ref();
    let root = ctx.layout.staging_root(&lease.area);
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
        if let Err(e) = staging::delete_staging(&ctx.dest, &root).await {
            warn!(error = %chain(&e), staging = %root, "Could not clean a staging area.");
        }
        return;
    }
    let mut keep: HashSet<Path> = HashSet::from([ctx.layout.lease(&lease.area)]);
    for meta in &checkpoints {
        keep.insert(meta.location.clone());
        match checkpoint::load(ctx, &meta.location).await {
            Ok(Some(cp)) => keep.extend(part_paths(ctx, &cp)),
            Ok(None) => {}
            Err(e) => {
                warn!(error = %chain(&e), "A checkpoint could not be read at the end of the run.")
            }
        }
    }
    if let Err(e) = staging::delete_except(store, &objects, &keep).await {
        warn!(error = %chain(&e), staging = %root, "Could not clean a staging area.");
    }
    let now = Utc::now();
    lease.renewed_at = timestamp(now);
    lease.released_at = Some(timestamp(now));
    let path = ctx.layout.lease(&lease.area);
    match lease::write(store, &path, &lease).await {
        Ok(()) => {
            info!(staging = %root, checkpoints = checkpoints.len(), "Staging area released; its checkpoints stay for the next run.")
        }
        Err(e) => {
            warn!(error = %chain(&e), lease = %path, "A staging lease could not be released.")
        }
    }
}

/// The staged parts a checkpoint names.
fn part_paths(ctx: &RunCtx, cp: &Checkpoint) -> Vec<Path> {
    let Some((dataset, provider)) = cp.unit_key() else {
        return Vec::new();
    };
    let key = PartitionKey {
        dataset,
        provider,
        snapshot_date: &cp.snapshot_date,
        account_id: &cp.account_id,
    };
    cp.staged(ctx, &key).into_iter().map(|p| p.path).collect()
}
