//! The streaming part writer of one unit: record batches in, Parquet files out, rolling over at
//! `max_rows_per_file`, row groups at `row_group_rows`, streamed through `object_store` (a
//! multipart upload once a file outgrows the upload buffer). Memory is bounded by one row group.
//! Each file is an `OpenPart` (`part.rs`).

use super::SinkError;
use super::layout::{Area, Layout, PartitionKey};
use super::part::OpenPart;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::basic::{Compression as PqCodec, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Upload buffer per open file: below it a file is one PUT, above it a multipart upload of
/// parts this size (S3 needs at least 5 MiB per part).
pub const UPLOAD_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one file uploading at once. With the buffer, a unit holds at most
/// `(1 + UPLOAD_CONCURRENCY) * UPLOAD_BUFFER_BYTES` of upload data, whatever the account's size.
pub const UPLOAD_CONCURRENCY: usize = 2;

/// The codec of the data columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// zstd (level 1: as small as level 3 on these pages, and faster).
    Zstd,
    /// snappy.
    Snappy,
    /// gzip.
    Gzip,
    /// uncompressed.
    None,
}

/// How to encode columns whose values the sink cannot guess from their type (named by schema/).
#[derive(Debug, Clone, Copy)]
pub struct ColumnHints {
    /// Columns with one value per file (or per page): dictionary-encoded to almost nothing.
    pub constant: &'static [&'static str],
    /// A column that counts up by one: delta-encoded.
    pub counter: Option<&'static str>,
}

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Codec.
    pub codec: Codec,
    /// Rows per file.
    pub max_rows_per_file: NonZeroUsize,
    /// Rows per row group.
    pub row_group_rows: NonZeroUsize,
    /// Column encodings.
    pub hints: ColumnHints,
}

/// A file written to staging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPart {
    /// Its staging path.
    pub path: Path,
    /// Its file name (`part-00000.parquet`).
    pub file_name: String,
    /// Rows in it.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
}

/// Footer metadata identifying what a file holds.
#[derive(Debug, Clone)]
pub struct FileIdentity {
    /// (key, value) pairs: dataset, provider, account_id, snapshot_date, run_id, tool version.
    pub pairs: Vec<(String, String)>,
}

/// zstd level 1: on these pages it compresses within 1% of level 3 at about 1.6 times the speed.
const ZSTD_LEVEL: i32 = 1;

/// The Parquet writer settings of every part of `schema` (codec, row groups, statistics,
/// encodings, footer identity); public so the micro benchmarks encode exactly as the job does.
pub fn writer_properties(
    schema: &arrow_schema::Schema,
    opts: &WriterOptions,
    identity: &FileIdentity,
) -> WriterProperties {
    let codec = match opts.codec {
        Codec::Zstd => PqCodec::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default()),
        Codec::Snappy => PqCodec::SNAPPY,
        Codec::Gzip => PqCodec::GZIP(GzipLevel::default()),
        Codec::None => PqCodec::UNCOMPRESSED,
    };
    let kv = identity
        .pairs
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let mut b = WriterProperties::builder()
        .set_compression(codec)
        .set_dictionary_enabled(false);
    // Every column but the constant ones is written plain, as their values are nearly all
    // distinct (ids, URLs, names): dictionary encoding them cost a fifth of the job's CPU
    // (hashing and comparing every string) and, after the dictionary overflowed, saved no bytes
    // once compressed.
    for c in opts.hints.constant {
        // A dictionary of one value and runs of one index: nothing left to compress, so no
        // codec (each holds compression and decompression contexts, per column and open file).
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(*c), true)
            .set_column_compression(ColumnPath::from(*c), PqCodec::UNCOMPRESSED);
    }
    // A counter is stored by delta encoding in a few bytes per page, no codec.
    if let Some(c) = opts.hints.counter {
        b = b
            .set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED)
            .set_column_compression(ColumnPath::from(c), PqCodec::UNCOMPRESSED);
    }
    // Booleans are stored as bits already.
    for f in schema.fields() {
        if f.data_type() == &arrow_schema::DataType::Boolean {
            b = b
                .set_column_compression(ColumnPath::from(f.name().as_str()), PqCodec::UNCOMPRESSED);
        }
    }
    b.set_max_row_group_row_count(Some(opts.row_group_rows.get()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(kv))
        .set_created_by(concat!("postpress-etl ", env!("CARGO_PKG_VERSION")).to_owned())
        .build()
}

/// Writes one unit's parts into staging.
pub struct PartWriter {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
    area: String,
    schema: SchemaRef,
    props: WriterProperties,
    max_rows_per_file: usize,
    key_owned: (
        crate::model::Dataset,
        crate::model::Provider,
        String,
        String,
    ),
    current: Option<OpenPart>,
    staged: Vec<StagedPart>,
    /// Batches kept until the first file is opened (see `DEFER_BYTES`), and their size.
    pending: Vec<RecordBatch>,
    pending_bytes: usize,
}

/// A unit's first file is opened once its batches reach this size in memory, or at the end. A
/// small unit is then encoded in one go when it completes: while it is fetched it holds its
/// batches, not an open encoder, which per column keeps a page buffer that grows by doubling and,
/// for zstd, compression and decompression contexts. With 32 units of a few thousand rows in
/// flight, that was about a sixth of the job's memory.
const DEFER_BYTES: usize = 4 << 20;

impl PartWriter {
    /// A writer for one unit, staging into `area` (the run's id, or the area of the earlier
    /// run whose checkpoint the unit continues). Its first file is opened once the unit has
    /// `DEFER_BYTES` of rows, or by [`PartWriter::finish`]: an empty list still yields a
    /// zero-row file with the schema.
    pub fn try_new(
        store: Arc<dyn ObjectStore>,
        layout: Layout,
        area: &str,
        key: &PartitionKey<'_>,
        schema: SchemaRef,
        opts: WriterOptions,
        identity: &FileIdentity,
    ) -> Result<PartWriter, SinkError> {
        let props = writer_properties(&schema, &opts, identity);
        let w = PartWriter {
            store,
            layout,
            area: area.to_owned(),
            schema,
            props,
            max_rows_per_file: opts.max_rows_per_file.get(),
            key_owned: (
                key.dataset,
                key.provider,
                key.snapshot_date.to_owned(),
                key.account_id.to_owned(),
            ),
            current: None,
            staged: Vec::new(),
            pending: Vec::new(),
            pending_bytes: 0,
        };
        Ok(w)
    }

    fn key(&self) -> PartitionKey<'_> {
        PartitionKey {
            dataset: self.key_owned.0,
            provider: self.key_owned.1,
            snapshot_date: &self.key_owned.2,
            account_id: &self.key_owned.3,
        }
    }

    fn open_next(&mut self) -> Result<(), SinkError> {
        let n = self.staged.len() + usize::from(self.current.is_some());
        let path = self
            .layout
            .part(Area::Staging { run_id: &self.area }, &self.key(), n);
        self.current = Some(OpenPart::try_new(
            self.store.clone(),
            path,
            self.schema.clone(),
            self.props.clone(),
        )?);
        Ok(())
    }

    /// Appends a batch, rolling over to a new file at `max_rows_per_file`.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if self.current.is_none() && self.staged.is_empty() {
            let size = batch.get_array_memory_size();
            if self.pending_bytes + size <= DEFER_BYTES {
                self.pending_bytes += size;
                self.pending.push(batch.clone());
                return Ok(());
            }
            self.write_pending().await?;
        }
        self.write_rows(batch).await
    }

    /// Opens the first file and writes the batches kept so far.
    async fn write_pending(&mut self) -> Result<(), SinkError> {
        if self.current.is_none() {
            self.open_next()?;
        }
        self.pending_bytes = 0;
        for batch in std::mem::take(&mut self.pending) {
            self.write_rows(&batch).await?;
        }
        Ok(())
    }

    async fn write_rows(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self
                .current
                .as_ref()
                .is_some_and(|c| c.rows as usize >= self.max_rows_per_file)
            {
                self.close_current().await?;
                self.open_next()?;
            }
            let Some(part) = self.current.as_mut() else {
                self.open_next()?;
                continue;
            };
            let room = self.max_rows_per_file - part.rows as usize;
            let take = room.min(batch.num_rows() - offset);
            part.write(&batch.slice(offset, take)).await?;
            part.rows += take as u64;
            offset += take;
        }
        Ok(())
    }

    async fn close_current(&mut self) -> Result<(), SinkError> {
        if let Some(part) = self.current.take() {
            self.staged.push(part.close().await?);
        }
        Ok(())
    }

    /// Continues after parts an earlier run staged (a checkpoint's): the next file is numbered
    /// after them, and they are published with this writer's own.
    pub fn with_staged(mut self, parts: Vec<StagedPart>) -> PartWriter {
        self.staged = parts;
        self
    }

    /// The parts closed so far.
    pub fn staged(&self) -> &[StagedPart] {
        &self.staged
    }

    /// Closes the open file, so that every row written so far is in a complete, durable part
    /// (on S3, its upload completed), and returns the closed parts: what a checkpoint may name.
    /// The next write opens the next part.
    pub async fn checkpoint(&mut self) -> Result<&[StagedPart], SinkError> {
        if !self.pending.is_empty() {
            self.write_pending().await?;
        }
        self.close_current().await?;
        Ok(&self.staged)
    }

    /// The size of the rows kept in memory while no file has been opened yet (every row of a
    /// small unit until [`PartWriter::finish`]); `None` once rows are encoded as they come.
    pub fn unencoded_bytes(&self) -> Option<usize> {
        (self.current.is_none() && self.staged.is_empty()).then_some(self.pending_bytes)
    }

    /// Closes the last file; returns every staged part. Rows still kept are encoded here, on
    /// the caller's worker.
    pub async fn finish(mut self) -> Result<Vec<StagedPart>, SinkError> {
        if self.current.is_none() && self.staged.is_empty() {
            self.write_pending().await?;
        }
        self.close_current().await?;
        Ok(self.staged)
    }

    /// As [`PartWriter::finish`], but rows still kept (a unit that never opened a file) are
    /// encoded on the encode pool, below the runtime's priority: for a unit that no longer holds
    /// a fetch slot, whose encoding nothing waits for but its own publish.
    pub async fn finish_on_encode_pool(mut self) -> Result<Vec<StagedPart>, SinkError> {
        let kept_rows: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
        if self.current.is_none() && self.staged.is_empty() && kept_rows <= self.max_rows_per_file {
            self.current = Some(self.encode_kept().await?);
        }
        self.finish().await
    }

    /// Encodes the rows kept (a unit that never opened a file: all its rows, one file's worth)
    /// as its first file, on the encode pool; only the upload is left to do.
    async fn encode_kept(&mut self) -> Result<OpenPart, SinkError> {
        let path = self
            .layout
            .part(Area::Staging { run_id: &self.area }, &self.key(), 0);
        let (store, schema, props) = (self.store.clone(), self.schema.clone(), self.props.clone());
        let batches = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        super::encode::run(move || {
            let mut part = OpenPart::try_new(store, path, schema, props)?;
            for batch in &batches {
                part.encode(batch)?;
                part.rows += batch.num_rows() as u64;
            }
            part.end_encoding()?;
            Ok(part)
        })
        .await
    }

    /// Abandons the unit: aborts the open upload and deletes what was staged.
    pub async fn abort(self) {
        self.abandon(0).await;
    }

    /// Abandons the unit but keeps its first `keep` staged parts (those its last checkpoint
    /// names, for a later run to continue): aborts the open upload, deletes the other parts.
    pub async fn abandon(mut self, keep: usize) {
        if let Some(part) = self.current.take() {
            part.abort().await;
        }
        for part in self.staged.iter().skip(keep) {
            // Best effort: the run's staging directory is removed at the end anyway.
            if let Err(e) = super::delete_if_exists(self.store.as_ref(), &part.path).await {
                tracing::debug!(path = %part.path, error = %e, "Could not delete a staged part.");
            }
        }
    }
}
