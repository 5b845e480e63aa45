//! The run manifests of a date (`_runs/snapshot_date={D}/{run_id}.json`) as the commands that
//! come after a run read them: `finalize` (who published a unit, who reported it not done) and
//! the output's lifecycle (when a date was last written). `report::RunReport` writes them; a
//! test here reads what it writes, so the two cannot drift apart.
//!
//! It reads only the fields those decisions need and ignores the rest, so manifests of earlier
//! and later versions read alike. Finalize's own manifests (`finalize-*.json`) are apart.

use crate::model::Dataset;
use crate::sink::layout::{FINALIZE_MANIFEST_PREFIX, Layout};
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::Deserialize;

/// A run manifest, as far as later commands read it.
#[derive(Debug, Clone, Deserialize)]
pub struct RunManifest {
    /// The run; run ids begin with the run's start time, so their order is the runs' order.
    pub run_id: String,
    /// When the run ended (RFC 3339, UTC); empty in manifests of versions that lacked it.
    #[serde(default)]
    pub finished_at: String,
    /// Every planned unit.
    #[serde(default)]
    pub units: Vec<UnitEntry>,
}

/// One unit of a run manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct UnitEntry {
    /// The account.
    pub account_id: String,
    /// `followers` or `following`; a name this version does not know never matches a unit.
    pub dataset: String,
    /// `ok`, `failed` or `skipped`.
    pub status: String,
}

impl UnitEntry {
    /// Whether this entry is about the unit (account, dataset).
    pub fn is(&self, account_id: &str, dataset: Dataset) -> bool {
        self.account_id == account_id && self.dataset == dataset.as_str()
    }

    /// The run published the unit (or found it published, with `--skip-published`).
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// A manifest could not be listed, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Listing `_runs/snapshot_date={D}/` failed.
    #[error("cannot list {path}")]
    List {
        /// The directory.
        path: String,
        #[source]
        source: object_store::Error,
    },
    /// Reading one manifest failed.
    #[error("cannot read {path}")]
    Read {
        /// The manifest.
        path: String,
        #[source]
        source: object_store::Error,
    },
    /// A `.json` file under `_runs/` is not a run manifest.
    #[error(
        "run manifest {path} cannot be read ({problem}); remove it if it is not a run manifest"
    )]
    Parse {
        /// The manifest.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// The run manifests of a date (not finalize's), oldest run first: (path, manifest).
pub async fn run_manifests(
    store: &dyn ObjectStore,
    layout: &Layout,
    date: &str,
) -> Result<Vec<(String, RunManifest)>, ManifestError> {
    let dir = layout.manifests_of(date);
    let objects: Vec<ObjectMeta> =
        store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|source| ManifestError::List {
                path: dir.to_string(),
                source,
            })?;
    let mut out = Vec::new();
    for o in objects {
        let name = o.location.filename().unwrap_or_default();
        if !name.ends_with(".json") || name.starts_with(FINALIZE_MANIFEST_PREFIX) {
            continue;
        }
        let path = o.location.to_string();
        let bytes = async { store.get(&o.location).await?.bytes().await }
            .await
            .map_err(|source| ManifestError::Read {
                path: path.clone(),
                source,
            })?;
        let m: RunManifest = serde_json::from_slice(&bytes).map_err(|e| ManifestError::Parse {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        out.push((path, m));
    }
    out.sort_by(|a, b| a.1.run_id.cmp(&b.1.run_id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Provider;
    use crate::report::{RunReport, UnitReport, UnitStatus};

    /// What `RunReport` writes is what later commands read: run id, finish time, and each
    /// unit's account, dataset and status.
    #[test]
    fn reads_what_run_report_writes() {
        let mut r = RunReport {
            job: "j".into(),
            run_id: "r1".into(),
            snapshot_date: "2026-11-26".into(),
            shard: None,
            destination: "out".into(),
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: "2026-11-26T00:00:01Z".into(),
            signal: None,
            error: None,
            storage_retries: 0,
            tool_version: "0".into(),
            units: Vec::new(),
            manifest_url: None,
        };
        let mut u = UnitReport::new("acc_1", Dataset::Following, Provider::Instagram);
        u.status = UnitStatus::Ok;
        r.units.push(u);
        let mut failed = UnitReport::new("acc_2", Dataset::Followers, Provider::Linkedin);
        failed.status = UnitStatus::Failed;
        r.units.push(failed);
        let json = serde_json::to_vec(&r).expect("serialises");
        let m: RunManifest = serde_json::from_slice(&json).expect("reads back");
        assert_eq!(m.run_id, "r1");
        assert_eq!(m.finished_at, "2026-11-26T00:00:01Z");
        assert_eq!(m.units.len(), 2);
        assert!(m.units[0].is("acc_1", Dataset::Following) && m.units[0].is_ok());
        assert!(m.units[1].is("acc_2", Dataset::Followers) && !m.units[1].is_ok());
        assert!(!m.units[1].is("acc_2", Dataset::Following));
    }
}
