//! Staging → final: move a finished unit's parts into its partition, then delete parts that
//! earlier runs left there and this run did not write. A failed unit never gets here, so its
//! partition keeps the earlier data.
//!
//! Publishing can be repeated: a part already moved (its staged copy gone, the published one of
//! the same size in place) counts as published, so a run that resumes a unit whose publish was
//! cut short finishes it (SPEC §10).
//!
//! Each part appears atomically (renamed into place on a local disk, a server-side copy on S3),
//! but a unit of several parts does not: while a unit publishes, a reader listing its partition
//! may briefly see new parts beside stale ones of an earlier run.

use super::layout::{Area, Layout, PartitionKey, is_part_file};
use super::parquet::StagedPart;
use super::{SinkError, delete_if_exists, retry_io};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::HashSet;
use tokio_util::sync::CancellationToken;

/// How a staged part is moved into its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// One atomic rename (a local file system): one call, where a copy there is a hard link, a
    /// rename and then the staged file's deletion.
    Rename,
    /// A server-side copy, then the staged copy's deletion (S3). S3 has no rename: object_store's
    /// is the same two calls, and could fail after its copy, reporting a visible part as not
    /// published.
    CopyThenDelete,
}

/// What publishing did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Published {
    /// Files now in the partition.
    pub files: Vec<String>,
    /// Stale files of earlier runs removed.
    pub removed: u64,
}

/// Publishes a completed unit.
/// `cancel` only shortens the waits between a failed call's attempts.
pub async fn publish(
    store: &dyn ObjectStore,
    layout: &Layout,
    key: &PartitionKey<'_>,
    staged: &[StagedPart],
    how: Move,
    cancel: &CancellationToken,
) -> Result<Published, SinkError> {
    publish_into(
        store,
        &layout.partition(Area::Final, key),
        staged,
        how,
        cancel,
    )
    .await
}

/// Publishes staged parts into the final directory `dir` (a unit's partition, or a reader
/// table's), then deletes the `part-*.parquet` files there that they did not replace. With no
/// staged parts it empties the directory of parts.
///
/// The directory is listed before the parts are moved in, not after: the parts of earlier runs
/// are the same either way (this unit is the only writer of its partition), and the listing of a
/// partition that does not exist yet, a daily run's usual case, costs one failed lookup on a
/// local disk instead of reading back the directory just created.
pub async fn publish_into(
    store: &dyn ObjectStore,
    dir: &Path,
    staged: &[StagedPart],
    how: Move,
    cancel: &CancellationToken,
) -> Result<Published, SinkError> {
    let earlier = earlier_parts(store, dir).await?;
    let mut files = Vec::with_capacity(staged.len());
    for part in staged {
        let to = dir.clone().join(part.file_name.as_str());
        move_part(store, part, &to, how, cancel).await?;
        files.push(part.file_name.clone());
    }
    let keep: HashSet<&str> = files.iter().map(String::as_str).collect();
    let mut removed = 0;
    for location in earlier {
        if !keep.contains(location.filename().unwrap_or_default()) {
            delete_if_exists(store, &location).await?;
            removed += 1;
        }
    }
    Ok(Published { files, removed })
}

/// The parts a directory holds: its direct children named `part-*.parquet`, the only objects
/// there that are ours to remove.
async fn earlier_parts(store: &dyn ObjectStore, dir: &Path) -> Result<Vec<Path>, SinkError> {
    let existing: Vec<_> = store
        .list(Some(dir))
        .try_collect()
        .await
        .map_err(|source| SinkError::Store {
            op: "list",
            path: dir.to_string(),
            source: source.into(),
        })?;
    Ok(existing
        .into_iter()
        .map(|meta| meta.location)
        .filter(|location| {
            let direct = location
                .prefix_match(dir)
                .is_some_and(|mut r| r.next().is_some() && r.next().is_none());
            direct && is_part_file(location.filename().unwrap_or_default())
        })
        .collect())
}

/// Moves one staged part into place, `how` the store allows. The part is published once the
/// rename or the copy succeeded; after a copy, a failed deletion of the staged copy is only
/// litter in staging: it is logged, and the run's staging cleanup removes it.
async fn move_part(
    store: &dyn ObjectStore,
    part: &StagedPart,
    to: &Path,
    how: Move,
    cancel: &CancellationToken,
) -> Result<(), SinkError> {
    let (op, moved) = match how {
        Move::Rename => (
            "rename",
            retry_io(cancel, || store.rename(&part.path, to)).await,
        ),
        Move::CopyThenDelete => (
            "copy",
            retry_io(cancel, || store.copy(&part.path, to)).await,
        ),
    };
    if let Err(source) = moved {
        // Moved by an earlier publish of the same parts that was cut short (or by this one's
        // first attempt, whose answer was lost).
        let moved = matches!(source, object_store::Error::NotFound { .. })
            && already_moved(store, part, to).await;
        if moved {
            return Ok(());
        }
        return Err(SinkError::Store {
            op,
            path: to.to_string(),
            source: source.into(),
        });
    }
    if how == Move::CopyThenDelete
        && let Err(e) = delete_if_exists(store, &part.path).await
    {
        tracing::warn!(path = %part.path, error = %e, "A published part's staged copy could not be deleted.");
    }
    Ok(())
}

/// Whether a staged part is gone because it was published: its copy is in place, same size.
async fn already_moved(store: &dyn ObjectStore, part: &StagedPart, to: &Path) -> bool {
    let staged_gone = matches!(
        store.head(&part.path).await,
        Err(object_store::Error::NotFound { .. })
    );
    staged_gone && store.head(to).await.is_ok_and(|m| m.size == part.bytes)
}
