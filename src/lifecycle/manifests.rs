//! What `prune` reads of a date's manifests (SPEC §12): the finish times that say whether its
//! reader tables are fresh, and the unit files (with their sizes) its newest finalize read,
//! which prune deletes on S3 instead of listing them. Only the dates asked for are read.
//!
//! Owns that reading. It must not decide what goes (`plan`) nor delete anything.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use super::error::LifecycleError;
use super::plan::DateManifests;
use crate::sink::layout::{FINALIZE_MANIFEST_PREFIX, Layout, snapshot_date_of};

/// What prune reads of a manifest: its finish, and for a finalize's, the `ok` units' files.
struct ManifestRead {
    finished: Option<DateTime<Utc>>,
    unit_files: Option<BTreeMap<String, Vec<(String, u64)>>>,
}

fn read_manifest(bytes: &[u8], is_finalize: bool) -> ManifestRead {
    /// All a manifest is read for here (the rest is skipped, not built).
    #[derive(serde::Deserialize)]
    struct Manifest {
        finished_at: Option<String>,
        #[serde(default)]
        units: Vec<Unit>,
    }
    #[derive(serde::Deserialize)]
    struct Unit {
        #[serde(default)]
        dataset: String,
        #[serde(default)]
        status: String,
        #[serde(default)]
        files: Vec<String>,
        /// Absent before finalize recorded sizes: then the date is listed instead.
        file_sizes: Option<Vec<u64>>,
    }
    #[derive(serde::Deserialize)]
    struct Finished {
        finished_at: Option<String>,
    }
    let time = |t: Option<String>| {
        t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    if !is_finalize {
        let finished = serde_json::from_slice::<Finished>(bytes)
            .ok()
            .and_then(|m| time(m.finished_at));
        return ManifestRead {
            finished,
            unit_files: None,
        };
    }
    let Ok(m) = serde_json::from_slice::<Manifest>(bytes) else {
        return ManifestRead {
            finished: None,
            unit_files: None,
        };
    };
    let mut files: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    let mut complete = true;
    for u in m.units.into_iter().filter(|u| u.status == "ok") {
        match u.file_sizes {
            Some(sizes) if sizes.len() == u.files.len() => files
                .entry(u.dataset)
                .or_default()
                .extend(u.files.into_iter().zip(sizes)),
            _ => complete = false,
        }
    }
    ManifestRead {
        finished: time(m.finished_at),
        unit_files: complete.then_some(files),
    }
}

/// The finish times of every date's run and finalize manifests.
pub async fn of_dates(
    store: &dyn ObjectStore,
    layout: &Layout,
    dates: &BTreeSet<NaiveDate>,
) -> Result<BTreeMap<NaiveDate, DateManifests>, LifecycleError> {
    if dates.is_empty() {
        return Ok(BTreeMap::new());
    }
    // One listing of every date's manifests (a page per 1,000 of them); only the dates asked
    // for have theirs read.
    let runs = layout.top(crate::sink::layout::RUNS_DIR);
    let listed: Vec<_> = store
        .list(Some(&runs))
        .try_collect()
        .await
        .map_err(LifecycleError::store("list", &runs))?;
    let mut out: BTreeMap<NaiveDate, DateManifests> = BTreeMap::new();
    for meta in listed {
        let Some(name) = meta.location.filename().map(str::to_owned) else {
            continue;
        };
        let dir = super::scan::parent(&meta.location);
        let Some(date) =
            snapshot_date_of(&dir).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if !name.ends_with(".json") || !dates.contains(&date) {
            continue;
        }
        let bytes = async { store.get(&meta.location).await?.bytes().await }
            .await
            .map_err(LifecycleError::store("get", &meta.location))?;
        // A manifest that cannot be read records no finish: as if its run never ended.
        let is_finalize = name.starts_with(FINALIZE_MANIFEST_PREFIX);
        let read = read_manifest(&bytes, is_finalize);
        let entry = out.entry(date).or_default();
        match (read.finished, is_finalize) {
            (Some(t), true) => {
                entry.finalizes.push(t);
                if entry.unit_files_of.is_none_or(|newest| t > newest) {
                    entry.unit_files_of = Some(t);
                    entry.unit_files = read.unit_files;
                }
            }
            (Some(t), false) => entry.runs.push(t),
            // A run whose finish is unknown may be later than any finalize.
            (None, false) => entry.runs.push(DateTime::<Utc>::MAX_UTC),
            (None, true) => {}
        }
    }
    Ok(out)
}
