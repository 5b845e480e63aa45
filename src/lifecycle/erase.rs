//! `erase` (SPEC §12): adds the keys' hashes to the suppressed set first, then removes every
//! row holding one of them from the units, the reader tables and the staged parts, and records
//! what it did in `_lifecycle/erase-{id}.json` (hashes and paths only).
//!
//! Owns the order of the steps and the record. A file holding no key is left untouched; one
//! holding some is rewritten and replaces the original in one PUT (a rename on a local disk);
//! a staging area's unit that held one is deleted whole, so its run starts it from page 1.
//! It must not know how files are scanned or rewritten (`scan`, `rewrite`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::error::LifecycleError;
use super::guard;
use super::index::{self, Index, Listed, Partition};
use super::keys::KeyHash;
use super::scan::{self, Candidate, EraseKeys, Place, Scan};
use super::{rewrite, suppressed};
use crate::job::Job;
use crate::sink::layout::Layout;
use crate::sink::{self, staging, store};

/// Files scanned at once.
const SCAN_CONCURRENCY: usize = 8;

/// What `erase` was asked to do.
#[derive(Debug)]
pub struct EraseOptions {
    /// The keys, in memory only.
    pub keys: EraseKeys,
    /// Their hashes, sorted and unique: all that is ever written or shown.
    pub hashes: Vec<KeyHash>,
    /// Dry run, `--wait`, the signal token and its id.
    pub run: guard::Invocation,
}

/// One file changed (or that would be).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileChange {
    /// The object, below the output.
    pub path: String,
    /// `rewritten` (units, tables) or `discarded` (a staged unit, deleted with its checkpoint).
    pub action: &'static str,
    /// Rows holding a key.
    pub rows_removed: u64,
    /// A rewritten file's version (ETag) and size before and after: a later erase follows a
    /// file from the version a finalize read to this one (`index`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_tag_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// What an erase did: written as `_lifecycle/erase-{id}.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EraseReport {
    /// The erase's id.
    pub erase_id: String,
    /// The destination.
    pub destination: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// SHA-256 of each key, lowercase hex: the keys themselves are never written.
    pub key_hashes: Vec<String>,
    /// The suppressed list that keeps them out of later runs and finalizes.
    pub suppressed_list: String,
    /// Parquet files that could hold a key: units, reader tables (but `account_daily`), staged
    /// parts.
    pub files_considered: u64,
    /// Their total size.
    pub bytes_of_files_considered: u64,
    /// Files whose footer and key column were read.
    pub files_scanned: u64,
    /// Unit files not read: the reader tables beside them show no key for their account.
    pub files_decided_by_tables: u64,
    /// Bytes read to decide: footers, key columns (and the tables' account column where a key
    /// is), and the manifests and erase records that say which tables to trust.
    pub bytes_read: u64,
    /// Row groups passed over on their statistics alone.
    pub row_groups_skipped: u64,
    /// Files changed, in path order.
    pub files: Vec<FileChange>,
    /// Rows removed in all.
    pub rows_removed: u64,
}

impl EraseReport {
    /// The lines printed at the end (and, for `--dry-run`, all there is).
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would change"
        } else {
            "changed"
        };
        let mut s = String::new();
        for f in &self.files {
            s.push_str(&format!(
                "{:<9} {:>7} rows  {}\n",
                f.action, f.rows_removed, f.path
            ));
        }
        s.push_str(&format!(
            "erase {} of {} key(s): {verb} {} file(s), {} rows; of {} file(s) ({} bytes), scanned {} and passed {} on the reader tables, reading {} bytes ({} row groups skipped on statistics)\n",
            self.erase_id,
            self.key_hashes.len(),
            self.files.len(),
            self.rows_removed,
            self.files_considered,
            self.bytes_of_files_considered,
            self.files_scanned,
            self.files_decided_by_tables,
            self.bytes_read,
            self.row_groups_skipped,
        ));
        s
    }
}

/// The suppressed list's name: from the hashes alone, so erasing the same keys again (a rerun
/// after a crash) writes the same list instead of another copy.
fn list_id(hashes: &[KeyHash]) -> String {
    let mut h = Sha256::new();
    for k in hashes {
        h.update(k.0);
    }
    KeyHash(h.finalize().into()).to_string()[..16].to_owned()
}

/// Runs an erase against the job's output.
pub async fn erase(job: &Job, opts: &EraseOptions) -> Result<EraseReport, LifecycleError> {
    guard::under_lease(job, "erase", &opts.run, async |dest, layout, started_at| {
        erase_in(dest, layout, opts, started_at).await
    })
    .await
}

/// The erase itself, under the lifecycle lease unless a dry run.
async fn erase_in(
    dest: &store::Destination,
    layout: &Layout,
    opts: &EraseOptions,
    started_at: String,
) -> Result<EraseReport, LifecycleError> {
    let list = layout.suppressed_list(&list_id(&opts.hashes));
    let store = dest.store.clone();
    // Keys suppressed before (a rerun after a crash) may be in units while a finalize since
    // left them out of the tables: then the tables are no index (see `index`).
    let before = suppressed::load(store.as_ref(), layout).await?;
    let tables_index = !opts.hashes.iter().any(|h| before.contains(h));
    if !opts.run.dry_run {
        // Before any file is touched: from here on no run or finalize brings them back.
        suppressed::write(dest, layout, &list_id(&opts.hashes), &opts.hashes).await?;
        info!(keys = opts.hashes.len(), list = %list, "Keys added to the suppressed set.");
    }
    let candidates = scan::candidates(store.as_ref(), layout).await?;
    let considered = candidates.len() as u64;
    let considered_bytes = candidates.iter().map(|c| c.meta.size).sum();
    let index = match tables_index {
        true => build_index(store.as_ref(), layout, &candidates).await?,
        false => Index::default(),
    };
    info!(
        unit_files = index.len(),
        "Unit files the reader tables decide for."
    );
    // Tables and staged parts first: the tables name the accounts whose units hold a key.
    let (units, rest): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|c| c.place == Place::Unit);
    let mut scanned = scan_all(&store, rest, &opts.keys, &index).await?;
    let held: HashSet<(&Partition, &str)> = scanned
        .iter()
        .filter_map(|(c, s)| Some((index.table_of(&c.meta.location)?, s)))
        .flat_map(|(p, s)| s.accounts.iter().map(move |a| (p, a.as_str())))
        .collect();
    let (decided, to_scan): (Vec<Candidate>, Vec<Candidate>) = units.into_iter().partition(|c| {
        index
            .covers(&c.meta.location)
            .is_some_and(|(p, account)| !held.contains(&(p, account.as_str())))
    });
    drop(held);
    scanned.extend(scan_all(&store, to_scan, &opts.keys, &index).await?);
    scanned.sort_by(|(a, _), (b, _)| a.meta.location.cmp(&b.meta.location));
    let mut report = EraseReport {
        erase_id: opts.run.id.clone(),
        destination: dest.display.clone(),
        dry_run: opts.run.dry_run,
        started_at,
        finished_at: String::new(),
        key_hashes: opts.hashes.iter().map(ToString::to_string).collect(),
        suppressed_list: list.to_string(),
        files_considered: considered,
        bytes_of_files_considered: considered_bytes,
        files_scanned: scanned.len() as u64,
        files_decided_by_tables: decided.len() as u64,
        bytes_read: index.bytes_read + scanned.iter().map(|(_, s)| s.bytes_read).sum::<u64>(),
        row_groups_skipped: scanned.iter().map(|(_, s)| s.row_groups_skipped).sum(),
        files: Vec::new(),
        rows_removed: 0,
    };
    let keys = Arc::new(opts.keys.clone());
    let mut discarded = Vec::new();
    for (c, s) in scanned.iter().filter(|(_, s)| s.matches > 0) {
        let path = c.meta.location.to_string();
        match &c.place {
            Place::Unit | Place::Table => {
                let (removed, after) = match opts.run.dry_run {
                    true => (s.matches, None),
                    false => {
                        let (removed, after) = replace(dest, &c.meta, &keys).await?;
                        (removed, Some(after))
                    }
                };
                info!(path = %path, rows_removed = removed, "File rewritten without the erased rows.");
                report.files.push(FileChange {
                    path,
                    action: "rewritten",
                    rows_removed: removed,
                    e_tag_before: c.meta.e_tag.clone(),
                    size_before: Some(c.meta.size),
                    e_tag: after.as_ref().and_then(|a| a.e_tag.clone()),
                    size: after.map(|a| a.size),
                });
            }
            Place::Staged { dir } => {
                if !discarded.contains(dir) {
                    discarded.push(dir.clone());
                }
                report.files.push(FileChange {
                    path,
                    action: "discarded",
                    rows_removed: s.matches,
                    ..FileChange::default()
                });
            }
        }
    }
    if !opts.run.dry_run {
        for dir in &discarded {
            // The unit's staged parts and its checkpoint together: its next run starts it again
            // from page 1, with the keys suppressed.
            let listed: Vec<object_store::ObjectMeta> =
                store
                    .list(Some(dir))
                    .try_collect()
                    .await
                    .map_err(LifecycleError::store("list", dir))?;
            for o in &listed {
                sink::delete_if_exists(store.as_ref(), &o.location).await?;
            }
            if let store::Target::Local { dir: root } = &dest.target {
                let paths: Vec<_> = listed.iter().map(|o| o.location.clone()).collect();
                super::prune::remove_empty_dirs(root, &paths);
            }
            info!(dir = %dir, objects = listed.len(), "Staged unit that held erased rows discarded.");
        }
    }
    report.rows_removed = report.files.iter().map(|f| f.rows_removed).sum();
    report.finished_at = guard::now();
    if !opts.run.dry_run {
        let record = layout.lifecycle_record("erase", &opts.run.id);
        let body = serde_json::to_vec_pretty(&report).map_err(|source| LifecycleError::Encode {
            what: "the erase record",
            source,
        })?;
        sink::put_object(store.as_ref(), &record, body).await?;
    }
    Ok(report)
}

/// Rewrites one file without the erased rows and puts it over the original in one PUT (on a
/// local disk object_store writes a temporary file beside it and renames it), made durable
/// before the next file. Returns the rows removed.
/// Scans files, [`SCAN_CONCURRENCY`] at once; a reader table the index trusts names the accounts
/// of the rows it holds.
async fn scan_all(
    store: &Arc<dyn ObjectStore>,
    files: Vec<Candidate>,
    keys: &EraseKeys,
    index: &Index,
) -> Result<Vec<(Candidate, Scan)>, LifecycleError> {
    futures::stream::iter(files)
        .map(|c| async move {
            let accounts = index.table_of(&c.meta.location).is_some();
            let s = scan::scan(store, &c.meta, keys, accounts).await?;
            Ok::<_, LifecycleError>((c, s))
        })
        .buffered(SCAN_CONCURRENCY)
        .try_collect()
        .await
}

/// The index of the unit files for the dates they are of, from the files as listed.
async fn build_index(
    store: &dyn ObjectStore,
    layout: &Layout,
    candidates: &[Candidate],
) -> Result<Index, LifecycleError> {
    let listed = |place: Place| -> HashMap<String, Listed> {
        candidates
            .iter()
            .filter(|c| c.place == place)
            .map(|c| {
                let l = Listed {
                    e_tag: c.meta.e_tag.clone(),
                    size: c.meta.size,
                };
                (c.meta.location.to_string(), l)
            })
            .collect()
    };
    let (units, tables) = (listed(Place::Unit), listed(Place::Table));
    let dates: HashSet<String> = units
        .keys()
        .filter_map(|p| {
            p.split('/')
                .find_map(|s| s.strip_prefix("snapshot_date="))
                .map(str::to_owned)
        })
        .collect();
    index::build(store, layout, &dates, &units, &tables).await
}

/// A rewritten file's new version.
struct Version {
    e_tag: Option<String>,
    size: u64,
}

async fn replace(
    dest: &store::Destination,
    meta: &object_store::ObjectMeta,
    keys: &Arc<EraseKeys>,
) -> Result<(u64, Version), LifecycleError> {
    let path = &meta.location;
    let store: &Arc<dyn ObjectStore> = &dest.store;
    let bytes = async { store.get(path).await?.bytes().await }
        .await
        .map_err(LifecycleError::store("get", path))?;
    // Decoding and encoding a whole file is CPU work: off the async workers.
    let keys = keys.clone();
    let (new, removed) = tokio::task::spawn_blocking(move || rewrite::without_keys(bytes, &keys))
        .await
        .unwrap_or_else(|e| Err(parquet::errors::ParquetError::External(Box::new(e))))
        .map_err(|source| LifecycleError::Rewrite {
            path: path.to_string(),
            source,
        })?;
    let size = new.len() as u64;
    let payload = PutPayload::from(new);
    let put = sink::retry_io(&CancellationToken::new(), || {
        store.put(path, payload.clone())
    })
    .await
    .map_err(LifecycleError::store("put", path))?;
    staging::make_durable(dest, std::slice::from_ref(path)).await?;
    let e_tag = put.e_tag;
    Ok((removed, Version { e_tag, size }))
}
