//! Finding what `prune` may delete without listing what it keeps: the date partitions of the unit
//! and table layouts (SPEC §4, §9) are found by listing directories down to the date level (on
//! S3 one request per directory, whatever it holds), and only the partitions past their limits
//! are then listed object by object. A day's prune thus reads a few dozen listings, not every
//! object the retention keeps, and a bulk prune lists about one page per 1,000 objects deleted.
//!
//! Owns those listings. It must not decide what goes (`plan`) nor delete anything.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::error::LifecycleError;
use super::plan::{self, DAILY_TABLE, Inventory, PROVIDER_TABLES};
use crate::sink::layout::{Layout, recorded_path};

/// The date partitions found, by table as `prune` reports them (`followers`,
/// `tables/follower_changes`) and date, with their directories (one per provider).
#[derive(Debug, Default)]
pub struct Found {
    /// (table, date) → its directories.
    pub dates: BTreeMap<(String, NaiveDate), Vec<Path>>,
    /// Objects and directories beside the layouts (never deleted, named in a warning).
    pub foreign: Vec<Path>,
}

impl Found {
    /// Whether a table has a partition for date `d`.
    pub fn has(&self, table: &str, d: NaiveDate) -> bool {
        self.dates.contains_key(&(table.to_owned(), d))
    }
}

/// Lists the layouts' directories down to their dates. On a local disk a directory can be
/// empty (S3 has none): `nonempty` drops the date directories that hold no object.
pub async fn find(
    store: &dyn ObjectStore,
    layout: &Layout,
    nonempty: bool,
) -> Result<Found, LifecycleError> {
    let mut found = Found::default();
    for dataset in ["followers", "following"] {
        let root = layout.top(dataset);
        for provider in dirs(store, &root, &mut found.foreign).await? {
            if !plan::provider_ok(last(&provider)) {
                found.foreign.push(provider);
                continue;
            }
            for date in dirs(store, &provider, &mut found.foreign).await? {
                found.add(dataset.to_owned(), date);
            }
        }
    }
    let tables = layout.top("tables");
    for table in dirs(store, &tables, &mut found.foreign).await? {
        let name = last(&table).to_owned();
        if name == DAILY_TABLE {
            for date in dirs(store, &table, &mut found.foreign).await? {
                found.add(format!("tables/{name}"), date);
            }
        } else if PROVIDER_TABLES.contains(&name.as_str()) {
            for provider in dirs(store, &table, &mut found.foreign).await? {
                if !plan::provider_ok(last(&provider)) {
                    found.foreign.push(provider);
                    continue;
                }
                for date in dirs(store, &provider, &mut found.foreign).await? {
                    found.add(format!("tables/{name}"), date);
                }
            }
        } else {
            found.foreign.push(table);
        }
    }
    if nonempty {
        let mut kept = BTreeMap::new();
        for (key, ds) in std::mem::take(&mut found.dates) {
            let mut full = Vec::new();
            for d in ds {
                if holds_objects(store, &d).await? {
                    full.push(d);
                }
            }
            if !full.is_empty() {
                kept.insert(key, full);
            }
        }
        found.dates = kept;
    }
    Ok(found)
}

impl Found {
    fn add(&mut self, table: String, dir: Path) {
        match plan::date_of(last(&dir)) {
            Some(d) => self.dates.entry((table, d)).or_default().push(dir),
            None => self.foreign.push(dir),
        }
    }
}

/// Lists the partitions `keys` object by object and sorts their objects into the layouts.
pub async fn list(
    store: &dyn ObjectStore,
    layout: &Layout,
    found: &Found,
    keys: &[(String, NaiveDate)],
) -> Result<Inventory, LifecycleError> {
    let mut inv = Inventory::default();
    for key in keys {
        for dir in found.dates.get(key).into_iter().flatten() {
            list_into(&mut inv, store, layout, key, dir).await?;
        }
    }
    Ok(inv)
}

/// Adds to `inv` the files a finalize manifest names for the unit partition `key`, each checked
/// against the layout like a listed object; a file the layout puts in any other partition (or
/// none) is left out, never deleted.
pub fn add_named(
    inv: &mut Inventory,
    layout: &Layout,
    key: &(String, NaiveDate),
    files: &[(String, u64)],
) {
    let depth = layout.top(&key.0).parts().count();
    let mut one = Inventory::default();
    for (path, size) in files {
        let Some(location) = recorded_path(path) else {
            continue;
        };
        let meta = ObjectMeta {
            location,
            last_modified: chrono::Utc::now(),
            size: *size,
            e_tag: None,
            version: None,
        };
        plan::classify(&mut one, depth, &key.0, meta);
    }
    if let Some(p) = one.partitions.remove(key) {
        inv.partitions
            .entry(key.clone())
            .or_default()
            .objects
            .extend(p.objects);
    }
}

/// After the named files of the unit partitions `keys` were deleted: one directory listing per
/// provider directory tells whether any of those dates still holds objects; those dates are
/// listed and their objects sorted into the layouts (to delete) and the foreign ones.
pub async fn leftovers(
    store: &dyn ObjectStore,
    layout: &Layout,
    found: &Found,
    keys: &[(String, NaiveDate)],
) -> Result<Inventory, LifecycleError> {
    // Provider directory → the doomed date directories in it, with their partition.
    type Doomed<'a> = Vec<(&'a (String, NaiveDate), &'a Path)>;
    let mut dates: BTreeMap<Path, Doomed<'_>> = BTreeMap::new();
    for key in keys {
        for dir in found.dates.get(key).into_iter().flatten() {
            let provider = Path::from_iter(dir.parts().take(dir.parts().count().saturating_sub(1)));
            dates.entry(provider).or_default().push((key, dir));
        }
    }
    let mut inv = Inventory::default();
    for (provider, doomed) in dates {
        let mut foreign = Vec::new();
        let still: Vec<Path> = dirs(store, &provider, &mut foreign).await?;
        for (key, dir) in doomed {
            if still.contains(dir) {
                list_into(&mut inv, store, layout, key, dir).await?;
            }
        }
    }
    Ok(inv)
}

/// Lists one date directory of the partition `key` and sorts its objects into `inv`.
async fn list_into(
    inv: &mut Inventory,
    store: &dyn ObjectStore,
    layout: &Layout,
    key: &(String, NaiveDate),
    dir: &Path,
) -> Result<(), LifecycleError> {
    let root = key.0.split('/').next().unwrap_or_default();
    let depth = layout.top(root).parts().count();
    let listed: Vec<_> = store
        .list(Some(dir))
        .try_collect()
        .await
        .map_err(LifecycleError::store("list", dir))?;
    for meta in listed {
        plan::classify(inv, depth, root, meta);
    }
    Ok(())
}

/// The subdirectories of `dir`; objects directly in it are not the layouts' and go to `foreign`.
async fn dirs(
    store: &dyn ObjectStore,
    dir: &Path,
    foreign: &mut Vec<Path>,
) -> Result<Vec<Path>, LifecycleError> {
    let listed = store
        .list_with_delimiter(Some(dir))
        .await
        .map_err(LifecycleError::store("list", dir))?;
    foreign.extend(listed.objects.into_iter().map(|o| o.location));
    Ok(listed.common_prefixes)
}

/// Whether anything is stored below `dir` (the first object found answers).
async fn holds_objects(store: &dyn ObjectStore, dir: &Path) -> Result<bool, LifecycleError> {
    use futures::StreamExt;
    match store.list(Some(dir)).next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(LifecycleError::store("list", dir)(e)),
    }
}

fn last(p: &Path) -> &str {
    p.filename().unwrap_or_default()
}
