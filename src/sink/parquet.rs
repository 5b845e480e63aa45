//! The streaming part writer of one unit: record batches in, Parquet files out, rolling over at
//! `max_rows_per_file`, row groups at `row_group_rows`, streamed through `object_store` (a
//! multipart upload once a file outgrows the upload buffer). Memory is bounded by one row group.
//! Each file is an `OpenPart` (`part.rs`).

use super::SinkError;
use super::layout::{Area, Layout, PartitionKey};
use super::part::{OpenPart, RollingParts};
pub use super::part::{StagedPart, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY};
use crate::model::Compression;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::ObjectStore;
use parquet::basic::{Compression as PqCodec, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::num::NonZeroUsize;
use std::sync::Arc;

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
    /// The codec of the data columns.
    pub codec: Compression,
    /// Rows per file.
    pub max_rows_per_file: NonZeroUsize,
    /// Rows per row group.
    pub row_group_rows: NonZeroUsize,
    /// Column encodings.
    pub hints: ColumnHints,
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
        Compression::Zstd => PqCodec::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default()),
        Compression::Snappy => PqCodec::SNAPPY,
        Compression::Gzip => PqCodec::GZIP(GzipLevel::default()),
        Compression::None => PqCodec::UNCOMPRESSED,
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
    parts: RollingParts,
    max_rows_per_file: usize,
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
        let dir = layout.partition(Area::Staging { run_id: area }, key);
        let max_rows = opts.max_rows_per_file.get();
        Ok(PartWriter {
            parts: RollingParts::new(store, dir, schema, props, max_rows as u64),
            max_rows_per_file: max_rows,
            pending: Vec::new(),
            pending_bytes: 0,
        })
    }

    /// Appends a batch, rolling over to a new file at `max_rows_per_file`.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if self.parts.is_empty() {
            let size = batch.get_array_memory_size();
            if self.pending_bytes + size <= DEFER_BYTES {
                self.pending_bytes += size;
                self.pending.push(batch.clone());
                return Ok(());
            }
            self.write_pending().await?;
        }
        self.parts.write(batch).await
    }

    /// Writes the batches kept so far (opening the first file).
    async fn write_pending(&mut self) -> Result<(), SinkError> {
        self.pending_bytes = 0;
        for batch in std::mem::take(&mut self.pending) {
            self.parts.write(&batch).await?;
        }
        Ok(())
    }

    /// Continues after parts an earlier run staged (a checkpoint's): the next file is numbered
    /// after them, and they are published with this writer's own.
    pub fn with_staged(mut self, parts: Vec<StagedPart>) -> PartWriter {
        self.parts.staged = parts;
        self
    }

    /// The parts closed so far.
    pub fn staged(&self) -> &[StagedPart] {
        &self.parts.staged
    }

    /// Closes the open file, so that every row written so far is in a complete, durable part
    /// (on S3, its upload completed), and returns the closed parts: what a checkpoint may name.
    /// The next write opens the next part.
    pub async fn checkpoint(&mut self) -> Result<&[StagedPart], SinkError> {
        if !self.pending.is_empty() {
            self.write_pending().await?;
        }
        self.parts.close_current().await?;
        Ok(&self.parts.staged)
    }

    /// The size of the rows kept in memory while no file has been opened yet (every row of a
    /// small unit until [`PartWriter::finish`]); `None` once rows are encoded as they come.
    pub fn unencoded_bytes(&self) -> Option<usize> {
        self.parts.is_empty().then_some(self.pending_bytes)
    }

    /// Closes the last file; returns every staged part. Rows still kept are encoded here, on
    /// the caller's worker.
    pub async fn finish(mut self) -> Result<Vec<StagedPart>, SinkError> {
        if self.parts.is_empty() {
            self.write_pending().await?;
        }
        self.parts.finish().await
    }

    /// As [`PartWriter::finish`], but rows still kept (a unit that never opened a file) are
    /// encoded on the encode pool, below the runtime's priority: for a unit that no longer holds
    /// a fetch slot, whose encoding nothing waits for but its own publish.
    pub async fn finish_on_encode_pool(mut self) -> Result<Vec<StagedPart>, SinkError> {
        let kept_rows: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
        if self.parts.is_empty() && kept_rows <= self.max_rows_per_file {
            self.parts.current = Some(self.encode_kept().await?);
        }
        self.finish().await
    }

    /// Encodes the rows kept (a unit that never opened a file: all its rows, one file's worth)
    /// as its first file, on the encode pool; only the upload is left to do.
    async fn encode_kept(&mut self) -> Result<OpenPart, SinkError> {
        let (store, path, schema, props) = self.parts.unopened_next();
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
    pub async fn abandon(self, keep: usize) {
        self.parts.abandon(keep).await;
    }
}
