//! What was published for a date, and each unit's previous complete snapshot.
//!
//! A unit is published complete for D when its partition
//! `{dataset}/provider={p}/snapshot_date={D}/account_id={a}/` holds `*.parquet` files: a run
//! moves a unit's parts there only once the unit completed (staging, then publish), and a later
//! failed or skipped run of D leaves them untouched. The run manifests of D
//! (`_runs/snapshot_date={D}/*.json`) then say who published it (the latest run reporting it
//! `ok`) and, for a unit with nothing published, whether a run reported it not done (`failed`:
//! failed, or skipped because the run stopped) or no run did (`missing`). A unit that no manifest
//! reports `ok` but whose partition holds files (its run was killed before writing its manifest,
//! and a `--skip-published` rerun reported it `skipped`) is ok too, its run named by its files.
//!
//! It knows the layout only through `sink::layout`, and nothing about Parquet's contents.

use super::error::FinalizeError;
use crate::manifest::run_manifests;
use crate::model::{Dataset, Provider};
use crate::sink::layout::{Layout, snapshot_date_of, unit_file_of};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One unit of the job: an account and one of its datasets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct UnitKey {
    /// The account.
    pub account_id: String,
    /// The dataset.
    pub dataset: Dataset,
}

/// How a unit stands on a date (`account_daily.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Published complete.
    Ok,
    /// Not published; a run of the date reported it failed or not run to its end.
    Failed,
    /// Not published, and no run of the date reported it.
    Missing,
}

impl Status {
    /// The `account_daily.status` value.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Missing => "missing",
        }
    }
}

/// A unit on a date.
#[derive(Debug, Clone)]
pub(super) struct UnitOnDate {
    /// ok, failed or missing.
    pub status: Status,
    /// Its published files, in name order (ok only).
    pub files: Vec<ObjectMeta>,
    /// ok: the latest run of the date that reported it ok, if any; failed: the latest run that
    /// reported it not done.
    pub run_id: Option<String>,
}

/// What was published for a date, and what its run manifests say.
#[derive(Debug)]
pub(super) struct DateListing {
    /// Every unit of the job.
    pub units: BTreeMap<UnitKey, UnitOnDate>,
    /// The run manifests read, by path.
    pub manifests: Vec<String>,
}

fn list_error(path: &Path, source: object_store::Error) -> FinalizeError {
    FinalizeError::List {
        path: path.to_string(),
        source: source.into(),
    }
}

/// The `*.parquet` files of every unit partition of a dataset, provider and date, by account.
pub(super) async fn unit_files(
    store: &dyn ObjectStore,
    layout: &Layout,
    dataset: Dataset,
    provider: Provider,
    date: &str,
) -> Result<HashMap<String, Vec<ObjectMeta>>, FinalizeError> {
    let dir = layout.units_of(dataset, provider, date);
    let objects: Vec<ObjectMeta> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|e| list_error(&dir, e))?;
    let mut by_account: HashMap<String, Vec<ObjectMeta>> = HashMap::new();
    for o in objects {
        if let Some((account, file)) = unit_file_of(&dir, &o.location)
            && file.ends_with(".parquet")
        {
            by_account.entry(account).or_default().push(o);
        }
    }
    for files in by_account.values_mut() {
        files.sort_by(|a, b| a.location.cmp(&b.location));
    }
    Ok(by_account)
}

/// The latest run that reported a unit ok, and the latest that reported it not done.
type Reported<'a> = (Option<&'a str>, Option<&'a str>);

/// Every unit of the job on `date`: its status, files and run.
pub(super) async fn discover(
    store: &dyn ObjectStore,
    layout: &Layout,
    units: &[(UnitKey, Provider)],
    date: &str,
) -> Result<DateListing, FinalizeError> {
    let mut files: HashMap<(Dataset, Provider), HashMap<String, Vec<ObjectMeta>>> = HashMap::new();
    for (u, p) in units {
        if let std::collections::hash_map::Entry::Vacant(e) = files.entry((u.dataset, *p)) {
            e.insert(unit_files(store, layout, u.dataset, *p, date).await?);
        }
    }
    let manifests = run_manifests(store, layout, date).await?;
    // Per unit: the latest run reporting it ok, and the latest reporting it not done.
    let mut reported: HashMap<(&str, &str), Reported<'_>> = HashMap::new();
    for (_, m) in &manifests {
        for u in &m.units {
            let e = reported
                .entry((u.account_id.as_str(), u.dataset.as_str()))
                .or_default();
            if u.is_ok() {
                e.0 = Some(m.run_id.as_str());
            } else {
                e.1 = Some(m.run_id.as_str());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (u, p) in units {
        let published = files
            .get_mut(&(u.dataset, *p))
            .and_then(|f| f.remove(&u.account_id))
            .unwrap_or_default();
        let (ok_run, not_done_run) = reported
            .get(&(u.account_id.as_str(), u.dataset.as_str()))
            .copied()
            .unwrap_or_default();
        let state = if !published.is_empty() {
            UnitOnDate {
                status: Status::Ok,
                files: published,
                run_id: ok_run.map(str::to_owned),
            }
        } else if let Some(run) = not_done_run {
            UnitOnDate {
                status: Status::Failed,
                files: Vec::new(),
                run_id: Some(run.to_owned()),
            }
        } else {
            UnitOnDate {
                status: Status::Missing,
                files: Vec::new(),
                run_id: None,
            }
        };
        out.insert(u.clone(), state);
    }
    Ok(DateListing {
        units: out,
        manifests: manifests.into_iter().map(|(p, _)| p).collect(),
    })
}

/// A unit's previous complete snapshot.
#[derive(Debug, Clone)]
pub(super) struct Previous {
    /// Its date.
    pub date: NaiveDate,
    /// Its files, in name order.
    pub files: Vec<ObjectMeta>,
}

/// The snapshot dates of a dataset and provider before `before`, latest first.
async fn dates_before(
    store: &dyn ObjectStore,
    layout: &Layout,
    dataset: Dataset,
    provider: Provider,
    before: NaiveDate,
) -> Result<Vec<NaiveDate>, FinalizeError> {
    let root = layout.dataset_root(dataset, provider);
    let listing = store
        .list_with_delimiter(Some(&root))
        .await
        .map_err(|e| list_error(&root, e))?;
    let mut dates: Vec<NaiveDate> = listing
        .common_prefixes
        .iter()
        .filter_map(|d| snapshot_date_of(d))
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .filter(|d| *d < before)
        .collect();
    dates.sort_unstable_by(|a, b| b.cmp(a));
    Ok(dates)
}

/// Each unit's latest snapshot before `before` that was published complete, found by walking
/// back over the dates that have units; units without one are absent.
pub(super) async fn previous_snapshots(
    store: &dyn ObjectStore,
    layout: &Layout,
    units: &[(UnitKey, Provider)],
    before: NaiveDate,
) -> Result<HashMap<UnitKey, Previous>, FinalizeError> {
    let mut out = HashMap::new();
    let mut groups: BTreeMap<(Dataset, Provider), HashSet<&str>> = BTreeMap::new();
    for (u, p) in units {
        groups
            .entry((u.dataset, *p))
            .or_default()
            .insert(u.account_id.as_str());
    }
    for ((dataset, provider), mut wanted) in groups {
        for date in dates_before(store, layout, dataset, provider, before).await? {
            if wanted.is_empty() {
                break;
            }
            let day = date.format("%Y-%m-%d").to_string();
            let mut files = unit_files(store, layout, dataset, provider, &day).await?;
            wanted.retain(|account| match files.remove(*account) {
                Some(f) => {
                    let key = UnitKey {
                        account_id: (*account).to_owned(),
                        dataset,
                    };
                    out.insert(key, Previous { date, files: f });
                    false
                }
                None => true,
            });
        }
    }
    Ok(out)
}
