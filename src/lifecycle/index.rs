//! The reader tables as an index of the units, for `erase` (SPEC §12). A date's
//! `tables/followers` and `tables/following` hold every row of every unit its last finalize
//! read, with the unit's `account_id`. So a unit file that is still the version that finalize
//! read holds an erased key only if the table partition beside it has that key for its account:
//! scanning the table's key column decides for every such unit, and the others are not read.
//!
//! A unit file is trusted this way only when all of these hold, and is scanned itself otherwise:
//! * the date's last finalize manifest (the newest `finalize-*.json`) names it as read for an
//!   `ok` unit, with the version (ETag) it has now — or a version that erases since produced from
//!   that one, as their records say (an erase removes the same keys from the unit and the table);
//! * the table partition that finalize wrote for the unit's dataset and provider is whole: each
//!   of its files is there with the size the manifest records, or one an erase rewrote it to;
//! * none of the keys being erased was suppressed before this erase started: a finalize after
//!   their suppression left them out of the tables while a unit may still hold them (an erase
//!   that crashed before rewriting it), so those keys are looked for in every file.
//!
//! Owns the trust decision. It must not know how files are scanned or rewritten.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::Deserialize;

use super::error::LifecycleError;
use crate::model::Dataset;
use crate::sink::layout::{FINALIZE_MANIFEST_PREFIX, Layout};

/// A table partition of a date: the table's name (the unit dataset's), its provider, the date.
pub type Partition = (Dataset, String, String);

/// Which unit files the tables decide for, and which table files to scan for them.
#[derive(Debug, Default)]
pub struct Index {
    /// Unit file → its table partition and account.
    covered: HashMap<String, (Partition, String)>,
    /// Table file → its partition, for the partitions that are whole.
    tables: HashMap<String, Partition>,
    /// Bytes of manifests and erase records read to build this.
    pub bytes_read: u64,
}

impl Index {
    /// The table partition a table file indexes, when its partition is whole.
    pub fn table_of(&self, file: &Path) -> Option<&Partition> {
        self.tables.get(file.as_ref())
    }

    /// The partition and account of a unit file the tables decide for.
    pub fn covers(&self, file: &Path) -> Option<&(Partition, String)> {
        self.covered.get(file.as_ref())
    }

    /// How many unit files the tables decide for.
    pub fn len(&self) -> usize {
        self.covered.len()
    }

    /// Whether the tables decide for no unit file.
    pub fn is_empty(&self) -> bool {
        self.covered.is_empty()
    }
}

/// What the index reads of a finalize manifest.
#[derive(Debug, Deserialize)]
struct FinalizeManifest {
    #[serde(default)]
    units: Vec<UnitRead>,
    #[serde(default)]
    tables: Vec<TableWritten>,
}

#[derive(Debug, Deserialize)]
struct UnitRead {
    account_id: String,
    dataset: Dataset,
    provider: String,
    status: String,
    #[serde(default)]
    files: Vec<String>,
    /// Absent in manifests of earlier versions: then nothing of the date is trusted.
    #[serde(default)]
    file_tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct TableWritten {
    table: String,
    provider: Option<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    file_sizes: Vec<u64>,
}

/// What the index reads of an erase record: the versions each rewrite replaced and made.
#[derive(Debug, Deserialize)]
struct EraseRecord {
    #[serde(default)]
    files: Vec<Rewrite>,
}

#[derive(Debug, Deserialize)]
struct Rewrite {
    path: String,
    #[serde(default)]
    e_tag_before: Option<String>,
    #[serde(default)]
    e_tag: Option<String>,
    #[serde(default)]
    size_before: Option<u64>,
    #[serde(default)]
    size: Option<u64>,
}

/// A file as listed now.
#[derive(Debug, Clone)]
pub struct Listed {
    pub e_tag: Option<String>,
    pub size: u64,
}

/// Versions that erases derived from each other, per path: (before, after) pairs.
#[derive(Debug, Default)]
struct Lineage {
    tags: HashMap<String, Vec<(String, String)>>,
    sizes: HashMap<String, Vec<(u64, u64)>>,
}

impl Lineage {
    /// Whether `now` is `then` or was made from it by erases.
    fn tag_descends(&self, path: &str, then: &str, now: &str) -> bool {
        descends(self.tags.get(path), then.to_owned(), &now.to_owned())
    }

    fn size_descends(&self, path: &str, then: u64, now: u64) -> bool {
        descends(self.sizes.get(path), then, &now)
    }
}

fn descends<T: Clone + PartialEq>(steps: Option<&Vec<(T, T)>>, then: T, now: &T) -> bool {
    let mut reached = vec![then];
    let mut i = 0;
    while let Some(v) = reached.get(i).cloned() {
        if &v == now {
            return true;
        }
        for (before, after) in steps.into_iter().flatten() {
            if *before == v && !reached.contains(after) {
                reached.push(after.clone());
            }
        }
        i += 1;
    }
    false
}

/// The index of the unit files listed in `units` (object path → version), for the dates given,
/// from each date's last finalize manifest and every erase record. `tables` holds the reader
/// tables' files as listed. A manifest or record that cannot be read leaves its date (or the
/// lineage it would add) out: those files are scanned.
pub async fn build(
    store: &dyn ObjectStore,
    layout: &Layout,
    dates: &HashSet<String>,
    units: &HashMap<String, Listed>,
    tables: &HashMap<String, Listed>,
) -> Result<Index, LifecycleError> {
    let mut index = Index::default();
    let lineage = lineage(store, layout, &mut index.bytes_read).await?;
    for date in dates {
        let Some(manifest) = last_finalize(store, layout, date, &mut index.bytes_read).await?
        else {
            continue;
        };
        let mut whole: HashSet<(Dataset, String)> = HashSet::new();
        for t in &manifest.tables {
            let (Some(dataset), Some(provider)) = (table_dataset(&t.table), &t.provider) else {
                continue;
            };
            if t.files.is_empty() || t.files.len() != t.file_sizes.len() {
                continue;
            }
            let present = t.files.iter().zip(&t.file_sizes).all(|(f, size)| {
                let now = tables.get(f);
                now.is_some_and(|n| lineage.size_descends(f, *size, n.size))
            });
            if !present {
                continue;
            }
            whole.insert((dataset, provider.clone()));
            for f in &t.files {
                let partition = (dataset, provider.clone(), date.clone());
                index.tables.insert(f.clone(), partition);
            }
        }
        for u in &manifest.units {
            if u.status != "ok"
                || u.files.len() != u.file_tags.len()
                || !whole.contains(&(u.dataset, u.provider.clone()))
            {
                continue;
            }
            for (f, tag) in u.files.iter().zip(&u.file_tags) {
                let trusted = !tag.is_empty()
                    && units
                        .get(f)
                        .and_then(|l| l.e_tag.as_deref())
                        .is_some_and(|now| now == tag || lineage.tag_descends(f, tag, now));
                if trusted {
                    let partition = (u.dataset, u.provider.clone(), date.clone());
                    index
                        .covered
                        .insert(f.clone(), (partition, u.account_id.clone()));
                }
            }
        }
    }
    Ok(index)
}

/// The unit dataset whose rows a table holds: `followers` and `following` only.
fn table_dataset(table: &str) -> Option<Dataset> {
    Dataset::ALL.into_iter().find(|d| d.as_str() == table)
}

/// The date's newest finalize manifest (run ids start with their UTC time, so the last name).
async fn last_finalize(
    store: &dyn ObjectStore,
    layout: &Layout,
    date: &str,
    read: &mut u64,
) -> Result<Option<FinalizeManifest>, LifecycleError> {
    let dir = layout.manifests_of(date);
    let listed: Vec<_> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(LifecycleError::store("list", &dir))?;
    let Some(last) = listed
        .iter()
        .filter(|m| {
            m.location
                .filename()
                .is_some_and(|f| f.starts_with(FINALIZE_MANIFEST_PREFIX) && f.ends_with(".json"))
        })
        .max_by(|a, b| a.location.cmp(&b.location))
    else {
        return Ok(None);
    };
    let bytes = get(store, &last.location).await?;
    *read += bytes.len() as u64;
    Ok(serde_json::from_slice(&bytes).ok())
}

/// The versions erases made, from every erase record.
async fn lineage(
    store: &dyn ObjectStore,
    layout: &Layout,
    read: &mut u64,
) -> Result<Lineage, LifecycleError> {
    let dir = layout.lifecycle_dir();
    let listed: Vec<_> = store
        .list_with_delimiter(Some(&dir))
        .await
        .map_err(LifecycleError::store("list", &dir))?
        .objects;
    let mut lineage = Lineage::default();
    for meta in listed {
        let is_record = meta
            .location
            .filename()
            .is_some_and(|f| f.starts_with("erase-") && f.ends_with(".json"));
        if !is_record {
            continue;
        }
        let bytes = get(store, &meta.location).await?;
        *read += bytes.len() as u64;
        let Ok(record) = serde_json::from_slice::<EraseRecord>(&bytes) else {
            continue;
        };
        for r in record.files {
            if let (Some(before), Some(after)) = (r.e_tag_before, r.e_tag) {
                lineage
                    .tags
                    .entry(r.path.clone())
                    .or_default()
                    .push((before, after));
            }
            if let (Some(before), Some(after)) = (r.size_before, r.size) {
                lineage
                    .sizes
                    .entry(r.path)
                    .or_default()
                    .push((before, after));
            }
        }
    }
    Ok(lineage)
}

async fn get(store: &dyn ObjectStore, path: &Path) -> Result<bytes::Bytes, LifecycleError> {
    use object_store::ObjectStoreExt;
    async { store.get(path).await?.bytes().await }
        .await
        .map_err(LifecycleError::store("get", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version is trusted when erases lead to it from the one finalize read, never backwards
    /// and never from another start.
    #[test]
    fn versions_descend_through_erases() {
        let steps = vec![
            ("a".to_owned(), "b".to_owned()),
            ("b".to_owned(), "c".to_owned()),
        ];
        assert!(descends(Some(&steps), "a".to_owned(), &"a".to_owned()));
        assert!(descends(Some(&steps), "a".to_owned(), &"c".to_owned()));
        assert!(!descends(Some(&steps), "c".to_owned(), &"a".to_owned()));
        assert!(!descends(Some(&steps), "x".to_owned(), &"c".to_owned()));
        assert!(!descends(None, "a".to_owned(), &"b".to_owned()));
        // A cycle does not loop.
        let cycle = vec![(1u64, 2u64), (2, 1)];
        assert!(!descends(Some(&cycle), 1, &3));
    }
}
