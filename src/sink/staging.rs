//! Staging areas: a run's own, removed at its end, and those that crashed runs left behind.
//!
//! Knows the layout of `_staging` and the stores; knows nothing about units, the API or runs
//! beyond a run id.

use super::layout::Layout;
use super::{Result, delete_prefix, store};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use tracing::{info, warn};

/// Removes a run's staging area: every object below it, then, on a local disk, the directories
/// left empty (object stores have none), and `_staging` itself once no run uses it.
pub async fn delete_staging(dest: &store::Destination, root: &Path) -> Result<u64> {
    let n = delete_prefix(dest.store.as_ref(), root).await?;
    if let store::Target::Local { dir } = &dest.target {
        let run_dir = std::path::Path::new(dir).join(root.as_ref());
        // Only directories are left; a failure here costs nothing but tidiness.
        if let Err(e) = std::fs::remove_dir_all(&run_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::debug!(dir = %run_dir.display(), error = %e, "Could not remove the staging directory.");
        }
        if let Some(parent) = run_dir.parent() {
            // Fails harmlessly while another run (a shard) still stages there.
            std::fs::remove_dir(parent).ok();
        }
    }
    Ok(n)
}

/// Removes the staging areas of crashed runs whose newest object is older than `max_age`;
/// younger ones may belong to a shard running right now, so they stay. Best effort: a failure
/// is logged and costs only litter.
pub async fn remove_abandoned(store: &dyn ObjectStore, layout: &Layout, max_age: chrono::Duration) {
    let Ok(listing) = store.list_with_delimiter(Some(&layout.staging_all())).await else {
        return;
    };
    let cutoff = Utc::now() - max_age;
    for dir in listing.common_prefixes {
        let newest = store
            .list(Some(&dir))
            .try_fold(None, |acc: Option<DateTime<Utc>>, m| async move {
                Ok(Some(acc.map_or(m.last_modified, |a| a.max(m.last_modified))))
            })
            .await;
        if let Ok(Some(t)) = newest
            && t < cutoff
        {
            info!(staging = %dir, "Removing the staging area of an abandoned run.");
            if let Err(e) = delete_prefix(store, &dir).await {
                warn!(error = %crate::error_chain(&e), "Could not remove an abandoned staging area.");
            }
        }
    }
}
