//! One Parquet file being written: its encoder, the upload it streams into, and what it
//! returns once closed. The unit writer (`parquet.rs`) and the reader tables' writer
//! (`table.rs`) both write through it.
//!
//! The encoder writes into `Chunks`, a list of page-sized buffers handed to the upload as they
//! are, rather than into one buffer that grows by doubling to the size of a row group and is then
//! copied into the upload's own: that buffer and its copy were most of a large unit's memory.

use super::SinkError;
use super::parquet::{StagedPart, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY};
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
