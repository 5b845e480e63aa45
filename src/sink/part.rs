//! One Parquet file being written: its encoder, the upload it streams into, and what it
//! returns once closed. The unit writer (`parquet.rs`) and the reader tables' writer
//! (`table.rs`) both write through it.
//!
//! The encoder writes into `Chunks`, a list of page-sized buffers handed to the upload as they
//! are, rather than into one buffer that grows by doubling to the size of a row group and is then
//! copied into the upload's own: that buffer and its copy were most of a large unit's memory.

use super::SinkError;
use super::layout::part_file_name;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

/// Upload buffer per open file: below it a file is one PUT, above it a multipart upload of
/// parts this size (S3 needs at least 5 MiB per part).
pub const UPLOAD_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one file uploading at once. With the buffer, a unit holds at most
/// `(1 + UPLOAD_CONCURRENCY) * UPLOAD_BUFFER_BYTES` of upload data, whatever the account's size.
pub const UPLOAD_CONCURRENCY: usize = 2;

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

/// The encoder's output: small writes gathered into chunks of `CHUNK_BYTES`, large ones (page
/// data) copied once into a chunk of their own. Drained into the upload after every batch.
#[derive(Default)]
struct Chunks {
    done: Vec<Bytes>,
    current: Vec<u8>,
}

/// Size of the chunks small writes are gathered into.
const CHUNK_BYTES: usize = 64 * 1024;

impl Chunks {
    fn seal(&mut self) {
        if !self.current.is_empty() {
            self.done
                .push(Bytes::from(std::mem::take(&mut self.current)));
        }
    }

    fn take(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.done)
    }
}

impl std::io::Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() >= CHUNK_BYTES / 4 {
            self.seal();
            self.done.push(Bytes::copy_from_slice(buf));
        } else {
            if self.current.capacity() - self.current.len() < buf.len() {
                self.seal();
                self.current = Vec::with_capacity(CHUNK_BYTES);
            }
            self.current.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.seal();
        Ok(())
    }
}

/// The file being written: its encoder, its upload, its path, rows so far and bytes uploaded.
/// The reader tables' writer (`table.rs`) streams through it too.
pub(super) struct OpenPart {
    encoder: ArrowWriter<Chunks>,
    upload: BufWriter,
    path: Path,
    pub(super) rows: u64,
    bytes: u64,
    /// The footer is written: only the upload is left.
    ended: bool,
}

impl OpenPart {
    /// Opens a file at `path`: its encoder, and its upload (one PUT, or a multipart upload).
    pub(super) fn try_new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<OpenPart, SinkError> {
        let upload = BufWriter::with_capacity(store, path.clone(), UPLOAD_BUFFER_BYTES)
            .with_max_concurrency(UPLOAD_CONCURRENCY);
        let encoder =
            ArrowWriter::try_new(Chunks::default(), schema, Some(props)).map_err(|source| {
                SinkError::Encode {
                    path: path.to_string(),
                    source: source.into(),
                }
            })?;
        Ok(OpenPart {
            encoder,
            upload,
            path,
            rows: 0,
            bytes: 0,
            ended: false,
        })
    }

    /// Closes the row group in progress, so the next rows start a new one.
    pub(super) async fn end_row_group(&mut self) -> Result<(), SinkError> {
        if let Err(e) = self.encoder.flush() {
            return Err(self.encode_error(e));
        }
        self.encoder.inner_mut().seal();
        self.drain().await
    }

    /// Aborts the upload: a multipart upload left behind would be billed until a lifecycle rule
    /// removes it. A file still in the buffer was never put.
    pub(super) async fn abort(self) {
        let OpenPart {
            mut upload, path, ..
        } = self;
        if let Err(e) = upload.abort().await {
            tracing::debug!(path = %path, error = %e, "Could not abort a multipart upload.");
        }
    }

    fn encode_error(&self, source: ParquetError) -> SinkError {
        SinkError::Encode {
            path: self.path.to_string(),
            source: source.into(),
        }
    }

    fn upload_error(&self, source: object_store::Error) -> SinkError {
        self.encode_error(ParquetError::External(Box::new(source)))
    }

    /// Hands what the encoder has written so far to the upload, without copying it.
    async fn drain(&mut self) -> Result<(), SinkError> {
        for chunk in self.encoder.inner_mut().take() {
            self.bytes += chunk.len() as u64;
            if let Err(e) = self.upload.put(chunk).await {
                return Err(self.upload_error(e));
            }
        }
        Ok(())
    }

    pub(super) async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.encode(batch)?;
        if !self.encoder.inner().done.is_empty() {
            self.drain().await?;
        }
        Ok(())
    }

    /// Encodes a batch, keeping its bytes for the next `drain`.
    pub(super) fn encode(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.encoder.write(batch).map_err(|e| self.encode_error(e))
    }

    /// Writes the file's footer, once; its bytes wait for the next `drain`.
    pub(super) fn end_encoding(&mut self) -> Result<(), SinkError> {
        if !self.ended {
            self.encoder.finish().map_err(|e| self.encode_error(e))?;
            self.encoder.inner_mut().seal();
            self.ended = true;
        }
        Ok(())
    }

    /// Finishes the file and its upload; its size is what was uploaded (no HEAD round trip).
    pub(super) async fn close(mut self) -> Result<StagedPart, SinkError> {
        self.end_encoding()?;
        self.drain().await?;
        // Completes the upload: one PUT, or the multipart upload's last part and its completion.
        if let Err(e) = tokio::io::AsyncWriteExt::shutdown(&mut self.upload).await {
            return Err(self.encode_error(ParquetError::External(Box::new(e))));
        }
        let file_name = self.path.filename().unwrap_or_default().to_owned();
        let (path, rows, bytes) = (self.path, self.rows, self.bytes);
        Ok(StagedPart {
            path,
            file_name,
            rows,
            bytes,
        })
    }
}

/// The numbered parts (`part-NNNNN.parquet`) of one staging directory, rolling over to the next
/// at `max_rows_per_file`: what the unit writer and the reader tables' writer share.
pub(super) struct RollingParts {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    schema: SchemaRef,
    props: WriterProperties,
    max_rows_per_file: u64,
    /// The part being written, if one is open.
    pub(super) current: Option<OpenPart>,
    /// The parts closed so far, in order.
    pub(super) staged: Vec<StagedPart>,
}

impl RollingParts {
    /// No part yet; the first is `part-00000.parquet` below `dir`.
    pub(super) fn new(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        schema: SchemaRef,
        props: WriterProperties,
        max_rows_per_file: u64,
    ) -> RollingParts {
        RollingParts {
            store,
            dir,
            schema,
            props,
            max_rows_per_file,
            current: None,
            staged: Vec::new(),
        }
    }

    /// True until a part is opened or a closed one is adopted.
    pub(super) fn is_empty(&self) -> bool {
        self.current.is_none() && self.staged.is_empty()
    }

    /// A part of the directory, not yet opened, with what it needs to be encoded anywhere
    /// (the encode pool): the next part's path, the store, the schema and the writer settings.
    pub(super) fn unopened_next(
        &self,
    ) -> (Arc<dyn ObjectStore>, Path, SchemaRef, WriterProperties) {
        let n = self.staged.len() + usize::from(self.current.is_some());
        (
            self.store.clone(),
            self.dir.clone().join(part_file_name(n)),
            self.schema.clone(),
            self.props.clone(),
        )
    }

    fn open_next(&mut self) -> Result<(), SinkError> {
        let (store, path, schema, props) = self.unopened_next();
        self.current = Some(OpenPart::try_new(store, path, schema, props)?);
        Ok(())
    }

    /// Closes the open part, if any, into `staged`.
    pub(super) async fn close_current(&mut self) -> Result<(), SinkError> {
        if let Some(part) = self.current.take() {
            self.staged.push(part.close().await?);
        }
        Ok(())
    }

    /// Appends a batch, closing a full part and opening the next as needed.
    pub(super) async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let part = match self.current.as_mut() {
                Some(p) if p.rows < self.max_rows_per_file => p,
                Some(_) => {
                    self.close_current().await?;
                    continue;
                }
                None => {
                    self.open_next()?;
                    continue;
                }
            };
            let room = usize::try_from(self.max_rows_per_file - part.rows).unwrap_or(usize::MAX);
            let take = room.min(batch.num_rows() - offset);
            part.write(&batch.slice(offset, take)).await?;
            part.rows += take as u64;
            offset += take;
        }
        Ok(())
    }

    /// Ends the row group in progress: the next rows start a new one.
    pub(super) async fn end_row_group(&mut self) -> Result<(), SinkError> {
        match self.current.as_mut() {
            Some(part) => part.end_row_group().await,
            None => Ok(()),
        }
    }

    /// Closes the last part and returns them all; a directory with no rows still gets one
    /// zero-row part with the schema.
    pub(super) async fn finish(mut self) -> Result<Vec<StagedPart>, SinkError> {
        if self.is_empty() {
            self.open_next()?;
        }
        self.close_current().await?;
        Ok(self.staged)
    }

    /// Aborts the open upload and deletes the closed parts but the first `keep`.
    pub(super) async fn abandon(mut self, keep: usize) {
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
