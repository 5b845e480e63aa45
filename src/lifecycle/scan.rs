//! Finding the rows of erased keys: which files of the output could hold them (unit partitions,
//! reader tables, staged parts), and, per file, how many rows do, reading its footer and its key
//! column only (row groups whose min/max statistics exclude every key are not read at all).
//!
//! Owns the candidate listing and the key-column scan. It must not know how a file is rewritten.

use crate::sink::reader::ObjectReader;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::file::metadata::RowGroupMetaData;

use super::error::LifecycleError;
use crate::sink::layout::{Layout, TABLES_DIR};

/// Bytes read from a file's end in one request, hoping for the whole footer (a second request
/// fetches the rest when it is longer).
const FOOTER_GUESS: usize = 8 << 10;

/// The key columns of the datasets (SPEC §9): a file holding `member_id` is a following list's.
const KEY_COLUMNS: [&str; 2] = ["member_id", "id"];

/// The reader tables' account column (units carry it in their path only).
const ACCOUNT_COLUMN: &str = "account_id";

/// The keys being erased, in memory only: never logged, never written. `Debug` shows a count.
#[derive(Clone)]
pub struct EraseKeys {
    keys: HashSet<String>,
}

impl std::fmt::Debug for EraseKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EraseKeys({} keys)", self.keys.len())
    }
}

impl EraseKeys {
    /// The keys given on the command line or in the keys file.
    pub fn new(keys: impl IntoIterator<Item = String>) -> EraseKeys {
        EraseKeys {
            keys: keys.into_iter().collect(),
        }
    }

    /// Whether `key` is one of them.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Whether a row group whose key column lies within these statistics may hold one.
    fn may_hold(&self, rg: &RowGroupMetaData, column: usize) -> bool {
        let Some(stats) = rg.column(column).statistics() else {
            return true;
        };
        let (Some(min), Some(max)) = (stats.min_bytes_opt(), stats.max_bytes_opt()) else {
            return true;
        };
        // Truncated statistics are still bounds: min rounds down and max up.
        self.keys
            .iter()
            .any(|k| k.as_bytes() >= min && k.as_bytes() <= max)
    }
}

/// Where a candidate file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A published unit partition (SPEC §4).
    Unit,
    /// A reader table (SPEC §9).
    Table,
    /// A staged part of a run or finalize (SPEC §10): its directory goes as a whole.
    Staged {
        /// The directory of the unit (or table) in the staging area.
        dir: Path,
    },
}

/// A Parquet file that may hold a key.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The object.
    pub meta: ObjectMeta,
    /// Where it lives.
    pub place: Place,
}

/// Every Parquet file of the output that can hold a key: the units of both datasets, the
/// reader tables but `account_daily` (counts only), and every staged part.
pub async fn candidates(
    store: &dyn ObjectStore,
    layout: &Layout,
) -> Result<Vec<Candidate>, LifecycleError> {
    let mut out = Vec::new();
    for (root, is_table) in [
        (layout.top("followers"), false),
        (layout.top("following"), false),
        (layout.top(TABLES_DIR), true),
    ] {
        for meta in list(store, &root).await? {
            if !is_parquet(&meta.location) || meta.location.as_ref().contains("/account_daily/") {
                continue;
            }
            let place = if is_table { Place::Table } else { Place::Unit };
            out.push(Candidate { meta, place });
        }
    }
    for meta in list(store, &layout.staging_all()).await? {
        if !is_parquet(&meta.location) || meta.location.as_ref().contains("/account_daily/") {
            continue;
        }
        let dir = parent(&meta.location);
        out.push(Candidate {
            meta,
            place: Place::Staged { dir },
        });
    }
    out.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(out)
}

async fn list(store: &dyn ObjectStore, root: &Path) -> Result<Vec<ObjectMeta>, LifecycleError> {
    store
        .list(Some(root))
        .try_collect()
        .await
        .map_err(LifecycleError::store("list", root))
}

fn is_parquet(p: &Path) -> bool {
    p.filename().is_some_and(|f| f.ends_with(".parquet"))
}

/// The directory of an object.
pub fn parent(p: &Path) -> Path {
    let parts: Vec<_> = p.parts().collect();
    Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned())
}

/// What the scan of one file found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Rows holding a key.
    pub matches: u64,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes read from the store: the footer and the key column of the row groups read.
    pub bytes_read: u64,
    /// Row groups not read, their statistics excluding every key.
    pub row_groups_skipped: u64,
    /// The accounts of the rows holding a key, when asked for and the file has an `account_id`
    /// column (a reader table): which units the table says hold one.
    pub accounts: HashSet<String>,
}

/// Reads the footer and the key column of a file and counts the rows holding a key. A file
/// without a key column holds none. With `accounts`, a file with an `account_id` column (a
/// reader table) has it read too, and the scan names the accounts of the rows found.
pub async fn scan(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    keys: &EraseKeys,
    accounts: bool,
) -> Result<Scan, LifecycleError> {
    let bytes = Arc::new(AtomicU64::new(0));
    // Our footers are a few KiB: a larger guess would read more than the key column.
    let reader = ObjectReader::new(store.clone(), meta.location.clone(), meta.size)
        .with_footer_guess(FOOTER_GUESS)
        .counting(bytes.clone());
    let read_error = |source| LifecycleError::Read {
        path: meta.location.to_string(),
        source,
    };
    let builder =
        ParquetRecordBatchStreamBuilder::new_with_options(reader, ArrowReaderOptions::new())
            .await
            .map_err(read_error)?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let Some(column) = key_column(builder.schema()) else {
        return Ok(Scan {
            rows,
            bytes_read: bytes.load(Relaxed),
            ..Scan::default()
        });
    };
    let groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, rg)| keys.may_hold(rg, column))
        .map(|(i, _)| i)
        .collect();
    let skipped = builder.metadata().num_row_groups() - groups.len();
    let account_column = accounts
        .then(|| builder.schema().index_of(ACCOUNT_COLUMN).ok())
        .flatten();
    let mask = ProjectionMask::roots(
        builder.parquet_schema(),
        std::iter::once(column).chain(account_column),
    );
    // The projected batch holds the columns in file order.
    let (key_at, account_at) = match account_column {
        Some(a) if a < column => (1, Some(0)),
        Some(_) => (0, Some(1)),
        None => (0, None),
    };
    let mut stream = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .build()
        .map_err(read_error)?;
    let mut matches = 0;
    let mut found = HashSet::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(read_error)?;
        let Some(col) = batch.column(key_at).as_string_opt::<i32>() else {
            continue;
        };
        let account = account_at.and_then(|i| batch.column(i).as_string_opt::<i32>());
        for (row, k) in col.iter().enumerate() {
            if k.is_some_and(|k| keys.contains(k)) {
                matches += 1;
                if let Some(a) = account.filter(|a| a.is_valid(row)) {
                    found.insert(a.value(row).to_owned());
                }
            }
        }
    }
    Ok(Scan {
        matches,
        rows,
        bytes_read: bytes.load(Relaxed),
        row_groups_skipped: skipped as u64,
        accounts: found,
    })
}

/// The index of a schema's key column, if it has one.
pub fn key_column(schema: &arrow_schema::Schema) -> Option<usize> {
    KEY_COLUMNS.iter().find_map(|c| schema.index_of(c).ok())
}
