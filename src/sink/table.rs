//! The reader tables' writer: the parts of one table partition, written into staging through the
//! same encoder and upload as a unit's parts (`parquet.rs`), rolling over at
//! `max_rows_per_file`, row groups at `row_group_rows` and wherever the caller ends one (at an
//! account's edges, so that a big account's rows never share a row group).
//!
//! It knows nothing about accounts or days: it receives batches and "end the row group here".

use super::SinkError;
use super::parquet::{FileIdentity, StagedPart, WriterOptions, writer_properties};
use super::part::RollingParts;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::ObjectStore;
use object_store::path::Path;
use std::sync::Arc;

/// Writes one reader-table partition's parts into a staging directory.
pub struct TableWriter {
    parts: RollingParts,
    rows: u64,
}

impl TableWriter {
    /// A writer of `part-NNNNN.parquet` files below the staging directory `dir`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        schema: SchemaRef,
        opts: &WriterOptions,
        identity: &FileIdentity,
    ) -> TableWriter {
        let props = writer_properties(&schema, opts, identity);
        let max_rows = opts.max_rows_per_file.get() as u64;
        TableWriter {
            parts: RollingParts::new(store, dir, schema, props, max_rows),
            rows: 0,
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends a batch (of the writer's schema), rolling over to a new file at
    /// `max_rows_per_file`.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.parts.write(batch).await?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Ends the row group in progress: the next rows start a new one.
    pub async fn end_row_group(&mut self) -> Result<(), SinkError> {
        self.parts.end_row_group().await
    }

    /// Closes the last file and returns every staged part; a table with no rows still gets one
    /// zero-row file with its schema.
    pub async fn finish(self) -> Result<Vec<StagedPart>, SinkError> {
        self.parts.finish().await
    }

    /// Abandons the partition: aborts the open upload and deletes what was staged.
    pub async fn abort(self) {
        self.parts.abandon(0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Compression;
    use crate::sink::parquet::ColumnHints;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use bytes::Bytes;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::statistics::Statistics;
    use std::num::NonZeroUsize;

    fn batch(schema: &SchemaRef, account: &str, n: i64) -> RecordBatch {
        let ids: StringArray = (0..n).map(|_| Some(account)).collect();
        let pos: Int64Array = (0..n).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(ids) as ArrayRef, Arc::new(pos)],
        )
        .expect("batch")
    }

    /// Row groups end where the caller ends them and at `row_group_rows`; files roll over at
    /// `max_rows_per_file`; the account column's statistics bound each row group.
    #[tokio::test]
    async fn row_groups_and_files_follow_the_cuts() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let schema = Arc::new(Schema::new(vec![
            Field::new("account_id", DataType::Utf8, false),
            Field::new("position", DataType::Int64, false),
        ]));
        let opts = WriterOptions {
            codec: Compression::Zstd,
            max_rows_per_file: NonZeroUsize::new(25).expect("non-zero"),
            row_group_rows: NonZeroUsize::new(10).expect("non-zero"),
            hints: ColumnHints {
                constant: &["account_id"],
                counter: Some("position"),
            },
        };
        let identity = FileIdentity { pairs: Vec::new() };
        let dir = Path::from("staging/t");
        let mut w = TableWriter::new(store.clone(), dir, schema.clone(), &opts, &identity);
        w.write(&batch(&schema, "a", 3)).await.expect("write");
        w.write(&batch(&schema, "b", 2)).await.expect("write");
        w.end_row_group().await.expect("cut");
        w.write(&batch(&schema, "c", 12)).await.expect("write");
        w.end_row_group().await.expect("cut");
        w.write(&batch(&schema, "d", 9)).await.expect("write");
        assert_eq!(w.rows(), 26);
        let staged = w.finish().await.expect("finish");
        assert_eq!(
            staged.iter().map(|p| p.rows).collect::<Vec<_>>(),
            vec![25, 1]
        );
        let bytes: Bytes = store
            .get(&staged[0].path)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        let meta = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .metadata()
            .clone();
        let groups: Vec<(i64, String, String)> = meta
            .row_groups()
            .iter()
            .map(|rg| match rg.column(0).statistics() {
                Some(Statistics::ByteArray(s)) => (
                    rg.num_rows(),
                    String::from_utf8_lossy(s.min_bytes_opt().expect("min")).into_owned(),
                    String::from_utf8_lossy(s.max_bytes_opt().expect("max")).into_owned(),
                ),
                other => panic!("no account statistics: {other:?}"),
            })
            .collect();
        let g = |n, lo: &str, hi: &str| (n, lo.to_owned(), hi.to_owned());
        assert_eq!(
            groups,
            vec![
                g(5, "a", "b"),
                g(10, "c", "c"),
                g(2, "c", "c"),
                g(8, "d", "d")
            ]
        );
    }
}
