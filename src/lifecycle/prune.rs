//! `prune` (SPEC §12): deletes, per table, the dates past the job's `[retention]` counted back
//! from `--snapshot-date`, never a date's units before its reader tables are built and there,
//! never a run manifest or a file outside the layouts; and staging areas untouched for longer
//! than checkpoints are resumed (SPEC §10). On S3 it deletes in bulk (`delete_stream`).
//!
//! Owns the order (list, decide, delete, record). It must not know how the decision is made
//! beyond `plan`, nor anything of HTTP.

use std::collections::BTreeSet;

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::Serialize;
use tracing::{info, warn};

use super::error::LifecycleError;
use super::guard;
use super::plan::{self, Limit};
use super::{manifests, partitions};
use crate::job::Job;
use crate::sink::layout::Layout;
use crate::sink::{self, staging, store};

/// Checkpoints older than this are not resumed (SPEC §10): their staging areas go.
pub const STALE_STAGING: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What `prune` was asked to do.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// The date the limits count back from.
    pub date: NaiveDate,
    /// Dry run, `--wait`, the signal token and its id.
    pub run: guard::Invocation,
}

/// One table's date deleted (or that would be).
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// `followers` (units) or `tables/follower_changes`.
    pub table: String,
    /// `YYYY-MM-DD`.
    pub snapshot_date: String,
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A date past `units_days` whose units stay, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// `YYYY-MM-DD`.
    pub snapshot_date: String,
    /// Why.
    pub reason: &'static str,
}

/// What a prune did: written as `_lifecycle/prune-{id}.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// The prune's id.
    pub prune_id: String,
    /// The destination.
    pub destination: String,
    /// The date the limits counted back from.
    pub snapshot_date: String,
    /// Nothing was deleted.
    pub dry_run: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// Per table and date.
    pub deleted: Vec<Deleted>,
    /// Dates whose units stay although past `units_days`.
    pub kept_units: Vec<Kept>,
    /// Staging areas deleted (checkpoints past 7 days).
    pub staging_areas: Vec<String>,
    /// Objects deleted in all (staging included).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files in the unit and table trees that follow neither layout: left alone.
    pub foreign_files: Vec<String>,
}

impl PruneReport {
    /// What is printed at the end: per table and date, then the totals.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let mut s = String::new();
        for d in &self.deleted {
            s.push_str(&format!(
                "{verb} {:<26} {}  {:>7} objects {:>12} bytes\n",
                d.table, d.snapshot_date, d.objects, d.bytes
            ));
        }
        for a in &self.staging_areas {
            s.push_str(&format!("{verb} staging area {a}\n"));
        }
        for k in &self.kept_units {
            s.push_str(&format!(
                "kept units of {}: {}\n",
                k.snapshot_date, k.reason
            ));
        }
        s.push_str(&format!(
            "prune {} ({}): {verb} {} objects, {} bytes; {} date(s) of units kept; {} foreign file(s) left alone\n",
            self.prune_id,
            self.snapshot_date,
            self.objects,
            self.bytes,
            self.kept_units.len(),
            self.foreign_files.len()
        ));
        s
    }
}

/// Runs a prune against the job's output.
pub async fn prune(job: &Job, opts: &PruneOptions) -> Result<PruneReport, LifecycleError> {
    guard::under_lease(job, "prune", &opts.run, async |dest, layout, started_at| {
        prune_in(job, dest, layout, opts, started_at).await
    })
    .await
}

/// The prune itself, under the lifecycle lease unless a dry run.
async fn prune_in(
    job: &Job,
    dest: &store::Destination,
    layout: &Layout,
    opts: &PruneOptions,
    started_at: String,
) -> Result<PruneReport, LifecycleError> {
    let store = dest.store.as_ref();
    let local = matches!(dest.target, store::Target::Local { .. });
    let found = partitions::find(store, layout, local).await?;
    tracing::debug!(partitions = found.dates.len(), "Found the date partitions.");
    let retention = &job.retention;
    let past: Vec<&(String, NaiveDate)> = found
        .dates
        .keys()
        .filter(|(table, d)| plan::past(retention, opts.date, plan::limit_of(table), *d))
        .collect();
    // The manifests of the dates whose units may go while their tables stay, only.
    let units_dates: BTreeSet<NaiveDate> = past
        .iter()
        .filter(|(t, d)| {
            plan::limit_of(t) == Limit::Units
                && !plan::past(retention, opts.date, Limit::Snapshots, *d)
        })
        .map(|(_, d)| *d)
        .collect();
    let manifests = manifests::of_dates(store, layout, &units_dates).await?;
    tracing::debug!(dates = manifests.len(), "Read the manifests' finish times.");
    let mut doomed: Vec<(String, NaiveDate)> = Vec::new();
    let mut kept_units = Vec::new();
    for (table, d) in past {
        let stays = match plan::limit_of(table) {
            Limit::Units => {
                let has = |t: &str| found.has(t, *d);
                plan::units_must_stay(has, manifests.get(d), retention, opts.date, *d)
            }
            _ => None,
        };
        if let Some(reason) = stays {
            let date = d.to_string();
            if !kept_units.iter().any(|k: &Kept| k.snapshot_date == date) {
                warn!(snapshot_date = %date, reason, "Units past units_days kept: finalize this date to let prune delete them.");
                kept_units.push(Kept {
                    snapshot_date: date,
                    reason,
                });
            }
            continue;
        }
        doomed.push((table.clone(), *d));
    }
    // On S3 a listing costs a request per 1,000 objects, as many as the deletes: a date's units
    // go by the files its newest finalize read instead (that finalize is later than the date's
    // last run, or the units would stay), and one listing per provider afterwards finds
    // whatever that manifest did not name (a failed unit's older files, a foreign file).
    let named: Vec<(String, NaiveDate)> = match dest.is_s3 && !opts.run.dry_run {
        true => doomed
            .iter()
            .filter(|(t, d)| {
                plan::limit_of(t) == Limit::Units
                    && manifests.get(d).is_some_and(|m| m.unit_files.is_some())
            })
            .cloned()
            .collect(),
        false => Vec::new(),
    };
    let listed: Vec<_> = doomed
        .iter()
        .filter(|k| !named.contains(k))
        .cloned()
        .collect();
    let mut inv = partitions::list(store, layout, &found, &listed).await?;
    for key in &named {
        let files = manifests
            .get(&key.1)
            .and_then(|m| m.unit_files.as_ref())
            .and_then(|f| f.get(&key.0));
        partitions::add_named(&mut inv, layout, key, files.map_or(&[][..], Vec::as_slice));
    }
    inv.foreign.extend(found.foreign.iter().cloned());
    doomed.retain(|k| inv.partitions.contains_key(k) || named.contains(k));
    // Units first: a crash between leaves tables that still justify deleting them next time.
    doomed.sort_by_key(|(t, d)| (plan::limit_of(t) != Limit::Units, *d, t.clone()));
    for f in &inv.foreign {
        warn!(path = %f, "Not part of the unit or table layouts: left alone.");
    }
    let areas = stale_areas(store, layout).await?;
    let mut report = PruneReport {
        prune_id: opts.run.id.clone(),
        destination: dest.display.clone(),
        snapshot_date: opts.date.to_string(),
        dry_run: opts.run.dry_run,
        started_at,
        finished_at: String::new(),
        deleted: Vec::new(),
        kept_units,
        staging_areas: areas.iter().map(|a| a.id.clone()).collect(),
        objects: 0,
        bytes: 0,
        foreign_files: inv.foreign.iter().map(ToString::to_string).collect(),
    };
    let mut paths: Vec<Path> = Vec::new();
    for key in &doomed {
        let p = inv.partitions.get(key).cloned().unwrap_or_default();
        report.deleted.push(Deleted {
            table: key.0.clone(),
            snapshot_date: key.1.to_string(),
            objects: p.objects.len() as u64,
            bytes: p.bytes(),
        });
        paths.extend(p.objects.iter().map(|o| o.location.clone()));
    }
    for a in &areas {
        report.bytes += a.objects.iter().map(|o| o.size).sum::<u64>();
        paths.extend(a.objects.iter().map(|o| o.location.clone()));
    }
    report.objects = paths.len() as u64;
    report.bytes += report.deleted.iter().map(|d| d.bytes).sum::<u64>();
    tracing::debug!(objects = paths.len(), "Deleting.");
    if !opts.run.dry_run {
        delete_all(store, &paths).await?;
        tracing::debug!("Deleted.");
        if !named.is_empty() {
            let left = partitions::leftovers(store, layout, &found, &named).await?;
            let mut more = Vec::new();
            for (key, p) in &left.partitions {
                if let Some(d) = report
                    .deleted
                    .iter_mut()
                    .find(|d| d.table == key.0 && d.snapshot_date == key.1.to_string())
                {
                    d.objects += p.objects.len() as u64;
                    d.bytes += p.bytes();
                }
                report.bytes += p.bytes();
                more.extend(p.objects.iter().map(|o| o.location.clone()));
            }
            for f in &left.foreign {
                warn!(path = %f, "Not part of the unit or table layouts: left alone.");
                report.foreign_files.push(f.to_string());
            }
            if !more.is_empty() {
                info!(
                    objects = more.len(),
                    "Deleting what the finalize manifests did not name."
                );
                delete_all(store, &more).await?;
                report.objects += more.len() as u64;
            }
        }
        if let store::Target::Local { dir } = &dest.target {
            remove_empty_dirs(dir, &paths);
            tracing::debug!("Removed the directories left empty.");
        }
        report.finished_at = guard::now();
        let record = layout.lifecycle_record("prune", &opts.run.id);
        let body = serde_json::to_vec_pretty(&report).map_err(|source| LifecycleError::Encode {
            what: "the prune record",
            source,
        })?;
        sink::put_object(store, &record, body).await?;
        info!(objects = report.objects, bytes = report.bytes, record = %record, "Pruned.");
    } else {
        report.finished_at = guard::now();
    }
    Ok(report)
}

/// Deletes in batches: object_store sends S3 one DeleteObjects request per 1,000 keys. A key
/// already gone counts as deleted, so a rerun after a crash finishes the job.
async fn delete_all(store: &dyn ObjectStore, paths: &[Path]) -> Result<(), LifecycleError> {
    let owned: Vec<Path> = paths.to_vec();
    let input = futures::stream::iter(owned.into_iter().map(Ok)).boxed();
    let mut results = store.delete_stream(input);
    while let Some(r) = results.next().await {
        match r {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                let path = match &e {
                    object_store::Error::Generic { .. } => Path::from("(batch)"),
                    _ => Path::from("(object)"),
                };
                return Err(LifecycleError::store("delete", &path)(e));
            }
        }
    }
    Ok(())
}

/// On a local disk, the directories the deleted files leave empty go too (up to the output).
pub(crate) fn remove_empty_dirs(root: &str, paths: &[Path]) {
    let root = std::path::Path::new(root);
    let mut level: Vec<std::path::PathBuf> = paths
        .iter()
        .filter_map(|p| root.join(p.as_ref()).parent().map(ToOwned::to_owned))
        .collect();
    // Level by level, deepest first: a directory is tried once, after all its children were.
    while !level.is_empty() {
        level.sort();
        level.dedup();
        level.retain(|d| d.starts_with(root) && d != root);
        let removed = remove_dirs(&level);
        level = removed
            .into_iter()
            .filter_map(|d| d.parent().map(ToOwned::to_owned))
            .collect();
    }
}

/// Removes the empty ones of `dirs` (a directory that is not empty stays), a few at a time:
/// a local disk answers several metadata operations at once faster than one after another.
/// Returns those removed.
fn remove_dirs(dirs: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    const THREADS: usize = 8;
    let chunk = dirs.len().div_ceil(THREADS).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter(|d| std::fs::remove_dir(d).is_ok())
                        .cloned()
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Staging areas whose newest object (checkpoint, part or lease) is older than
/// [`STALE_STAGING`]: no run resumes them any more. A live area renews its lease, so it stays.
async fn stale_areas(
    store: &dyn ObjectStore,
    layout: &Layout,
) -> Result<Vec<staging::AreaListing>, LifecycleError> {
    let cutoff = Utc::now() - STALE_STAGING;
    let areas = staging::list_areas(store, layout, "").await?;
    Ok(areas
        .into_iter()
        .filter(|a| a.newest().is_some_and(|t| t < cutoff))
        .collect())
}
