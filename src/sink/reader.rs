//! A Parquet file in the store read by ranges, its size known from the listing (no HEAD
//! request): what `finalize` and `erase` read files through. It can count the bytes it fetches
//! and guess the footer's size, so one small read may fetch a small file's footer whole.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A file read by ranges.
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    footer_guess: Option<usize>,
    counted: Option<Arc<AtomicU64>>,
}

impl ObjectReader {
    /// The file at `path`, of `size` bytes.
    pub fn new(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> ObjectReader {
        ObjectReader {
            store,
            path,
            size,
            footer_guess: None,
            counted: None,
        }
    }

    /// Reads the footer with a first read of this many bytes from the end.
    pub fn with_footer_guess(mut self, bytes: usize) -> ObjectReader {
        self.footer_guess = Some(bytes);
        self
    }

    /// Adds every byte fetched to `counter`.
    pub fn counting(mut self, counter: Arc<AtomicU64>) -> ObjectReader {
        self.counted = Some(counter);
        self
    }

    fn count(&self, n: u64) {
        if let Some(c) = &self.counted {
            c.fetch_add(n, Relaxed);
        }
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.count(range.end - range.start);
        self.store
            .get_range(&self.path, range)
            .map_err(external)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.count(ranges.iter().map(|r| r.end - r.start).sum());
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(self.footer_guess)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
