//! Reading a published unit back: its part files, each checked to be readable Parquet written
//! for that very unit (footer identity and columns), then streamed batch by batch.
//!
//! Small files are fetched whole in one GET (one request per file on S3, and they can be
//! fetched ahead while the previous account is written); larger ones are streamed from the
//! store a row group at a time, so memory stays bounded by a row group whatever the account.

use super::error::FinalizeError;
use crate::error_chain as chain;
use crate::lifecycle::SuppressedSet;
use crate::model::Provider;
use crate::schema::{PATH_COLUMNS, Variant};
use crate::sink::reader::ObjectReader;
use arrow_array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use std::sync::Arc;

/// Files up to this size are fetched whole; larger ones are streamed.
pub(super) const SMALL_FILE_BYTES: u64 = 2 << 20;

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// What a unit's files must say they are.
#[derive(Debug, Clone)]
pub(super) struct Expect<'a> {
    /// The variant (its schema).
    pub variant: &'a Variant,
    /// The account.
    pub account_id: &'a str,
    /// The provider.
    pub provider: Provider,
    /// The unit's date, `YYYY-MM-DD`.
    pub snapshot_date: &'a str,
    /// The date being finalized, named by errors ("nothing was published for ...").
    pub finalizing: &'a str,
    /// Erased keys' hashes: their rows are not read.
    pub suppressed: &'a SuppressedSet,
}

/// One part file: fetched or to be streamed, with its checked footer.
struct Part {
    path: Path,
    size: u64,
    bytes: Option<Bytes>,
    meta: ArrowReaderMetadata,
}

/// A published unit ready to be read: every file checked, rows counted.
pub(super) struct UnitData {
    store: Arc<dyn ObjectStore>,
    parts: Vec<Part>,
    schema: SchemaRef,
    finalizing: String,
    /// Rows in all its files (from their footers).
    pub rows: u64,
    /// The `run_id` of its first file's footer.
    pub footer_run_id: Option<String>,
    suppressed: SuppressedSet,
    key: String,
}

fn corrupt(path: &Path, date: &str, source: parquet::errors::ParquetError) -> FinalizeError {
    FinalizeError::Corrupt {
        path: path.to_string(),
        date: date.to_owned(),
        source: source.into(),
    }
}

/// Checks a file's footer identity and columns against the unit; the problem, if any.
fn check(meta: &ArrowReaderMetadata, e: &Expect<'_>) -> Result<Option<String>, String> {
    let kv: Vec<(&str, &str)> = meta
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .map(|kv| (kv.key.as_str(), kv.value.as_deref().unwrap_or("")))
        .collect();
    let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let want = [
        ("dataset", e.variant.dataset.as_str()),
        ("provider", e.provider.as_str()),
        ("account_id", e.account_id),
        ("snapshot_date", e.snapshot_date),
    ];
    for (k, v) in want {
        match get(k) {
            None => {
                return Err(format!(
                    "its footer has no {k:?} (every part postpress-etl writes names its dataset, provider, account_id and snapshot_date)"
                ));
            }
            Some(got) if got != v => {
                return Err(format!("its footer says {k} = {got:?}, not {v:?}"));
            }
            Some(_) => {}
        }
    }
    let have = meta.schema();
    let expected = &e.variant.schema;
    let names = |s: &Schema, skip: &[&str]| {
        s.fields()
            .iter()
            .filter(|f| !skip.contains(&f.name().as_str()))
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
    };
    // Files of earlier versions repeat the partition columns inside: read past them.
    let (h, x) = (names(have, &PATH_COLUMNS), names(expected, &[]));
    if h != x {
        let at = h
            .iter()
            .zip(&x)
            .position(|(a, b)| a != b)
            .unwrap_or(h.len().min(x.len()));
        return Err(format!(
            "its columns differ from the {} {} schema at column {at}: {} instead of {}",
            e.variant.dataset,
            e.provider,
            h.get(at).map_or("nothing", String::as_str),
            x.get(at).map_or("nothing", String::as_str)
        ));
    }
    Ok(get("run_id").map(str::to_owned))
}

impl UnitData {
    /// Opens every file of a unit: small ones are fetched, each footer is read and checked.
    pub(super) async fn load(
        store: &Arc<dyn ObjectStore>,
        files: &[ObjectMeta],
        e: &Expect<'_>,
    ) -> Result<UnitData, FinalizeError> {
        let mut parts = Vec::with_capacity(files.len());
        let mut rows = 0;
        let mut footer_run_id = None;
        for f in files {
            let read_error = |source: object_store::Error| FinalizeError::Read {
                path: f.location.to_string(),
                source: source.into(),
            };
            let (bytes, meta) = if f.size <= SMALL_FILE_BYTES {
                let bytes = async { store.get(&f.location).await?.bytes().await }
                    .await
                    .map_err(read_error)?;
                let meta = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new())
                    .map_err(|s| corrupt(&f.location, e.finalizing, s))?;
                (Some(bytes), meta)
            } else {
                let mut reader = ObjectReader::new(store.clone(), f.location.clone(), f.size);
                let meta = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
                    .await
                    .map_err(|s| corrupt(&f.location, e.finalizing, s))?;
                (None, meta)
            };
            let run_id = check(&meta, e).map_err(|problem| FinalizeError::Foreign {
                path: f.location.to_string(),
                date: e.finalizing.to_owned(),
                problem,
            })?;
            if parts.is_empty() {
                footer_run_id = run_id;
            }
            rows += meta.metadata().file_metadata().num_rows().max(0) as u64;
            parts.push(Part {
                path: f.location.clone(),
                size: f.size,
                bytes,
                meta,
            });
        }
        Ok(UnitData {
            store: store.clone(),
            parts,
            schema: e.variant.schema.clone(),
            finalizing: e.finalizing.to_owned(),
            rows,
            footer_run_id,
            suppressed: e.suppressed.clone(),
            key: e.variant.key.clone(),
        })
    }

    /// The uncompressed size of a column in all the unit's files, from their footers.
    pub(super) fn column_bytes(&self, column: &str) -> u64 {
        self.parts
            .iter()
            .filter_map(|p| Some((p, p.meta.schema().index_of(column).ok()?)))
            .flat_map(|(p, i)| p.meta.metadata().row_groups().iter().map(move |rg| (rg, i)))
            .filter_map(|(rg, i)| rg.columns().get(i))
            .map(|c| c.uncompressed_size().max(0) as u64)
            .sum()
    }

    /// `batch` without the rows of erased keys (SPEC §12): a unit published before its erase
    /// finished, or by a run that read an older suppressed set, adds none of them to a table,
    /// and they are not reported as lost either.
    fn without_suppressed(
        &self,
        batch: RecordBatch,
    ) -> Result<RecordBatch, arrow_schema::ArrowError> {
        if self.suppressed.is_empty() {
            return Ok(batch);
        }
        let Some(keys) = batch
            .column_by_name(&self.key)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        else {
            return Ok(batch);
        };
        let keep: BooleanArray = keys
            .iter()
            .map(|k| Some(!k.is_some_and(|k| self.suppressed.contains_key(k))))
            .collect();
        if keep.false_count() == 0 {
            return Ok(batch);
        }
        arrow_select::filter::filter_record_batch(&batch, &keep)
    }

    /// A reader of every row, or of the named columns only, file after file.
    pub(super) fn reader(&self, columns: Option<&[&str]>) -> UnitReader<'_> {
        let schema = match columns {
            Some(cols) => {
                let indices: Vec<usize> = cols
                    .iter()
                    .filter_map(|c| self.schema.index_of(c).ok())
                    .collect();
                Arc::new(
                    self.schema
                        .project(&indices)
                        .unwrap_or_else(|_| Schema::empty()),
                )
            }
            None => self.schema.clone(),
        };
        UnitReader {
            data: self,
            schema,
            next: 0,
            current: None,
        }
    }
}

/// The file being read.
enum Open {
    Fetched(ParquetRecordBatchReader, Path),
    Streamed(ParquetRecordBatchStream<ObjectReader>, Path),
}

/// Reads a unit's batches in file order, each with the variant's schema (or its projection).
pub(super) struct UnitReader<'a> {
    data: &'a UnitData,
    /// The columns read, in the file's order (the variant's); found in each file by name, so
    /// a file of an earlier version, with the partition columns inside, reads the same.
    schema: SchemaRef,
    next: usize,
    current: Option<Open>,
}

impl UnitReader<'_> {
    fn open(&self, part: &Part) -> Result<Open, FinalizeError> {
        let file = part.meta.schema();
        let roots: Vec<usize> = self
            .schema
            .fields()
            .iter()
            .filter_map(|f| file.index_of(f.name()).ok())
            .collect();
        let mask = (roots.len() != file.fields().len())
            .then(|| ProjectionMask::roots(part.meta.parquet_schema(), roots));
        let date = &self.data.finalizing;
        match &part.bytes {
            Some(bytes) => {
                let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    bytes.clone(),
                    part.meta.clone(),
                )
                .with_batch_size(BATCH_ROWS);
                if let Some(m) = mask {
                    b = b.with_projection(m);
                }
                let r = b.build().map_err(|s| corrupt(&part.path, date, s))?;
                Ok(Open::Fetched(r, part.path.clone()))
            }
            None => {
                let reader =
                    ObjectReader::new(self.data.store.clone(), part.path.clone(), part.size);
                let mut b =
                    ParquetRecordBatchStreamBuilder::new_with_metadata(reader, part.meta.clone())
                        .with_batch_size(BATCH_ROWS);
                if let Some(m) = mask {
                    b = b.with_projection(m);
                }
                let s = b.build().map_err(|s| corrupt(&part.path, date, s))?;
                Ok(Open::Streamed(s, part.path.clone()))
            }
        }
    }

    /// The next batch, or `None` after the last file.
    pub(super) async fn next_batch(&mut self) -> Result<Option<RecordBatch>, FinalizeError> {
        loop {
            let Some(open) = self.current.as_mut() else {
                let Some(part) = self.data.parts.get(self.next) else {
                    return Ok(None);
                };
                self.current = Some(self.open(part)?);
                self.next += 1;
                continue;
            };
            let (got, path) = match open {
                Open::Fetched(r, path) => (r.next().map(|b| b.map_err(Into::into)), path),
                Open::Streamed(s, path) => (s.next().await, path),
            };
            let date = &self.data.finalizing;
            match got {
                None => self.current = None,
                Some(Err(source)) => return Err(corrupt(path, date, source)),
                Some(Ok(batch)) => {
                    let batch = self.data.without_suppressed(batch).map_err(|err| {
                        FinalizeError::Foreign {
                            path: path.to_string(),
                            date: date.clone(),
                            problem: chain(&err),
                        }
                    })?;
                    // The file's schema matched by names and types; a null in a required
                    // column is what is left to refuse.
                    return RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
                        .map(Some)
                        .map_err(|err| FinalizeError::Foreign {
                            path: path.to_string(),
                            date: date.clone(),
                            problem: chain(&err),
                        });
                }
            }
        }
    }
}
