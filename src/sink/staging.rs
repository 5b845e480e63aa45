//! Staging areas: `_staging/{area}/`, one per run (the area's id is the id of the run that
//! created it), holding its units' parts and checkpoints and the area's lease. This lists them,
//! removes them whole or in part, and makes staged files durable before a checkpoint names them.
//!
//! Knows the layout of `_staging` and the stores; knows nothing about units, the API or runs
//! beyond an id. Which area to keep, resume or remove is decided by the run (`run::resume`).

use super::layout::{CHECKPOINT_FILE, LEASE_FILE, Layout};
use super::lease::{self, Lease};
use super::{Result, SinkError, delete_if_exists, delete_prefix, store};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use std::collections::HashSet;

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

/// One staging area as listed: its id, root, lease and every object in it.
#[derive(Debug, Clone)]
pub struct AreaListing {
    /// The area's id (the run that created it).
    pub id: String,
    /// `_staging/{id}`.
    pub root: Path,
    /// Its lease, when it has a readable one.
    pub lease: Option<Lease>,
    /// Every object below the root, the lease included.
    pub objects: Vec<ObjectMeta>,
}

impl AreaListing {
    /// The time of its newest object: when the area was last written.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.objects.iter().map(|m| m.last_modified).max()
    }

    /// Its units' checkpoint files.
    pub fn checkpoints(&self) -> impl Iterator<Item = &ObjectMeta> {
        self.objects
            .iter()
            .filter(|m| m.location.filename() == Some(CHECKPOINT_FILE))
    }

    /// True when it holds objects other than its lease.
    pub fn has_data(&self) -> bool {
        self.objects
            .iter()
            .any(|m| m.location.filename() != Some(LEASE_FILE))
    }
}

/// Lists every staging area below the destination (one listing per area, and one read of each
/// lease). `skip` names an area not to list (the run's own).
pub async fn list_areas(
    store: &dyn ObjectStore,
    layout: &Layout,
    skip: &str,
) -> Result<Vec<AreaListing>> {
    let all = layout.staging_all();
    let listing = store
        .list_with_delimiter(Some(&all))
        .await
        .map_err(|source| SinkError::Store {
            op: "list",
            path: all.to_string(),
            source: source.into(),
        })?;
    let mut areas = Vec::new();
    for root in listing.common_prefixes {
        let Some(id) = layout.staging_area_id(&root) else {
            continue;
        };
        if id == skip {
            continue;
        }
        let objects: Vec<ObjectMeta> =
            store
                .list(Some(&root))
                .try_collect()
                .await
                .map_err(|source| SinkError::Store {
                    op: "list",
                    path: root.to_string(),
                    source: source.into(),
                })?;
        let has_lease = objects
            .iter()
            .any(|m| m.location.filename() == Some(LEASE_FILE));
        let lease = if has_lease {
            lease::read(store, &layout.lease(&id)).await
        } else {
            None
        };
        areas.push(AreaListing {
            id,
            root,
            lease,
            objects,
        });
    }
    Ok(areas)
}

/// Deletes the objects of `objects` that are not in `keep`; returns how many went.
pub async fn delete_except(
    store: &dyn ObjectStore,
    objects: &[ObjectMeta],
    keep: &HashSet<Path>,
) -> Result<u64> {
    let mut n = 0;
    for m in objects.iter().filter(|m| !keep.contains(&m.location)) {
        delete_if_exists(store, &m.location).await?;
        n += 1;
    }
    Ok(n)
}

/// Makes staged files durable before a checkpoint names them (SPEC §10). On S3 an object is
/// durable once its upload completed: nothing to do. On a local disk `object_store` does not
/// fsync by default, so each file and its directory are synced here: a power loss cannot keep a
/// checkpoint and lose the parts it names.
pub async fn make_durable(dest: &store::Destination, paths: &[Path]) -> Result<()> {
    let store::Target::Local { dir } = &dest.target else {
        return Ok(());
    };
    let files: Vec<std::path::PathBuf> = paths
        .iter()
        .map(|p| std::path::Path::new(dir).join(p.as_ref()))
        .collect();
    tokio::task::spawn_blocking(move || sync_files(&files))
        .await
        .unwrap_or_else(|e| {
            Err(SinkError::Sync {
                path: dir.clone(),
                source: std::io::Error::other(e),
            })
        })
}

/// fsyncs each file, then each distinct parent directory (which makes the file's name durable).
fn sync_files(files: &[std::path::PathBuf]) -> Result<()> {
    let sync = |p: &std::path::Path| {
        std::fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|source| SinkError::Sync {
                path: p.display().to_string(),
                source,
            })
    };
    let mut dirs: Vec<&std::path::Path> = Vec::new();
    for f in files {
        sync(f)?;
        if let Some(d) = f.parent()
            && !dirs.contains(&d)
        {
            dirs.push(d);
        }
    }
    dirs.into_iter().try_for_each(sync)
}
