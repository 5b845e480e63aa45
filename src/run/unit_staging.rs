//! One unit's staging: where its parts and checkpoint live (the store, the layout, the unit's
//! partition key and the staging area it writes in), and the store operations on them — load
//! its checkpoint, tell whether the parts a checkpoint names are there (to resume) or can be
//! published (to finish a publish), name them, and discard them.
//!
//! It depends on the destination and the layout only: what a run is, it does not know.

use super::checkpoint::{Checkpoint, CheckpointError};
use crate::model::{Dataset, Provider};
use crate::sink::layout::{Area, Layout, PartitionKey};
use crate::sink::parquet::StagedPart;
use crate::sink::store::Destination;
use crate::sink::{self, SinkError};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::warn;

/// A unit's staging in one area.
#[derive(Clone)]
pub(crate) struct UnitStaging {
    dest: Destination,
    layout: Layout,
    dataset: Dataset,
    provider: Provider,
    snapshot_date: String,
    account_id: String,
    area: String,
}

impl UnitStaging {
    /// The staging of the unit `key` in `area` (a run id: this run's, or the earlier run's whose
    /// checkpoint the unit continues).
    pub(crate) fn new(
        dest: &Destination,
        layout: &Layout,
        key: &PartitionKey<'_>,
        area: &str,
    ) -> UnitStaging {
        UnitStaging {
            dest: dest.clone(),
            layout: layout.clone(),
            dataset: key.dataset,
            provider: key.provider,
            snapshot_date: key.snapshot_date.to_owned(),
            account_id: key.account_id.to_owned(),
            area: area.to_owned(),
        }
    }

    /// The staging a checkpoint names (its unit, date and area); `None` when it names an
    /// unknown dataset or provider.
    pub(crate) fn of_checkpoint(
        dest: &Destination,
        layout: &Layout,
        cp: &Checkpoint,
    ) -> Option<UnitStaging> {
        let (dataset, provider) = cp.unit_key()?;
        let key = PartitionKey {
            dataset,
            provider,
            snapshot_date: &cp.snapshot_date,
            account_id: &cp.account_id,
        };
        Some(UnitStaging::new(dest, layout, &key, &cp.area))
    }

    /// The unit's partition key.
    pub(crate) fn key(&self) -> PartitionKey<'_> {
        PartitionKey {
            dataset: self.dataset,
            provider: self.provider,
            snapshot_date: &self.snapshot_date,
            account_id: &self.account_id,
        }
    }

    /// The staging area (a run id).
    pub(crate) fn area(&self) -> &str {
        &self.area
    }

    /// The store everything is staged in.
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.dest.store
    }

    /// The destination (its store, and whether it is a local disk to sync).
    pub(crate) fn dest(&self) -> &Destination {
        &self.dest
    }

    /// The layout of the destination.
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where the unit's checkpoint is written.
    pub(crate) fn checkpoint_path(&self) -> Path {
        self.layout.checkpoint(self.staging(), &self.key())
    }

    fn staging(&self) -> Area<'_> {
        Area::Staging { run_id: &self.area }
    }

    /// The parts a checkpoint names, as the part writer and the publish step know them (in the
    /// checkpoint's own area).
    pub(crate) fn staged(&self, cp: &Checkpoint) -> Vec<StagedPart> {
        let area = Area::Staging { run_id: &cp.area };
        let key = self.key();
        cp.parts
            .iter()
            .enumerate()
            .map(|(i, p)| StagedPart {
                path: self.layout.part(area, &key, i),
                file_name: p.file.clone(),
                rows: p.rows,
                bytes: p.bytes,
            })
            .collect()
    }

    /// Whether every part in `staged` is in this area, at the size it had when it was named. A
    /// listing that fails counts as parts missing (the unit then starts again from page 1).
    pub(crate) async fn parts_present(&self, staged: &[StagedPart]) -> bool {
        let dir = self.layout.partition(self.staging(), &self.key());
        let listed: Result<Vec<ObjectMeta>, _> =
            self.dest.store.list(Some(&dir)).try_collect().await;
        let listed = match listed {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %sink::Cause(e), staging = %dir, "A checkpoint's parts could not be listed.");
                return false;
            }
        };
        let sizes: HashMap<&Path, u64> = listed.iter().map(|m| (&m.location, m.size)).collect();
        staged.iter().all(|p| sizes.get(&p.path) == Some(&p.bytes))
    }

    /// Whether a complete checkpoint's publish can be finished: each part it names is still
    /// staged or already published, at its size.
    pub(crate) async fn publishable(&self, cp: &Checkpoint) -> bool {
        let key = self.key();
        let staged_dir = self.layout.partition(self.staging(), &key);
        let final_dir = self.layout.partition(Area::Final, &key);
        let mut sizes: HashMap<String, Vec<u64>> = HashMap::new();
        for dir in [&staged_dir, &final_dir] {
            let listed: Result<Vec<ObjectMeta>, _> =
                self.dest.store.list(Some(dir)).try_collect().await;
            let Ok(listed) = listed else {
                return false;
            };
            for m in listed {
                let name = m.location.filename().unwrap_or_default().to_owned();
                sizes.entry(name).or_default().push(m.size);
            }
        }
        cp.parts
            .iter()
            .all(|p| sizes.get(&p.file).is_some_and(|s| s.contains(&p.bytes)))
    }

    /// Deletes the unit's checkpoint and every part staged beside it in this area: a refused
    /// cursor, a checkpoint too old, parts missing, or a unit published since.
    pub(crate) async fn discard(&self) {
        let dir = self.layout.partition(self.staging(), &self.key());
        if let Err(e) = sink::delete_prefix(self.dest.store.as_ref(), &dir).await {
            warn!(error = %crate::error_chain(&e), staging = %dir, "A discarded checkpoint's parts could not be deleted.");
        }
    }

    /// Deletes the checkpoint alone (a finished publish): its parts are published.
    pub(crate) async fn remove_checkpoint(&self) -> Result<(), SinkError> {
        sink::delete_if_exists(self.dest.store.as_ref(), &self.checkpoint_path()).await
    }
}

/// Reads the checkpoint at `path`; `Ok(None)` when there is none.
pub(crate) async fn load(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let read = async { store.get(path).await?.bytes().await };
    match read.await {
        Ok(bytes) => Checkpoint::parse(path, &bytes).map(Some),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(CheckpointError::Read {
            path: path.to_string(),
            source: source.into(),
        }),
    }
}
