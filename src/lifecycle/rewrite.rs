//! Rewriting one Parquet file without the rows of erased keys, as it was in every other
//! respect: schema, row order, each column's compression, dictionary and encoding, statistics,
//! row groups (each source row group becomes one, minus the removed rows), sorting columns,
//! `created_by` and the footer's key-value metadata.
//!
//! Owns the copy; it must not know where the file lives or how it replaces the original.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{BooleanArray, RecordBatch};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::basic::Encoding;
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

use super::scan::{EraseKeys, key_column};

/// The Arrow schema's own footer entry: the writer adds it again.
const ARROW_SCHEMA_KEY: &str = "ARROW:schema";

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// `file` without the rows whose key is one of `keys`; the bytes of the new file and how many
/// rows were removed.
pub fn without_keys(file: Bytes, keys: &EraseKeys) -> Result<(Vec<u8>, u64), ParquetError> {
    let meta = ArrowReaderMetadata::load(&file, Default::default())?;
    // The reader folds the footer's key-value pairs into the schema's metadata; the writer
    // writes them as key-value pairs again, and the embedded Arrow schema stays as it was
    // (our writers give it none).
    let schema = Arc::new(
        meta.schema()
            .as_ref()
            .clone()
            .with_metadata(std::collections::HashMap::new()),
    );
    let Some(column) = key_column(&schema) else {
        return Ok((file.to_vec(), 0));
    };
    let props = properties(meta.metadata());
    let mut writer = ArrowWriter::try_new(Vec::with_capacity(file.len()), schema, Some(props))?;
    let mut removed = 0;
    for group in 0..meta.metadata().num_row_groups() {
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), meta.clone())
            .with_row_groups(vec![group])
            .with_batch_size(BATCH_ROWS)
            .build()?;
        for batch in reader {
            let batch = batch?;
            let (kept, gone) = filter(&batch, column, keys)?;
            removed += gone;
            if kept.num_rows() > 0 {
                writer.write(&kept)?;
            }
        }
        // One row group per source row group: sizes and account boundaries stay as written.
        writer.flush()?;
    }
    Ok((writer.into_inner()?, removed))
}

fn filter(
    batch: &RecordBatch,
    column: usize,
    keys: &EraseKeys,
) -> Result<(RecordBatch, u64), ParquetError> {
    let Some(col) = batch.column(column).as_string_opt::<i32>() else {
        return Ok((batch.clone(), 0));
    };
    let keep: BooleanArray = col
        .iter()
        .map(|k| Some(!k.is_some_and(|k| keys.contains(k))))
        .collect();
    let gone = keep.false_count() as u64;
    if gone == 0 {
        return Ok((batch.clone(), 0));
    }
    let kept = arrow_select::filter::filter_record_batch(batch, &keep)
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    Ok((kept, gone))
}

/// The writer settings the file was written with, read back from its footer.
fn properties(meta: &ParquetMetaData) -> WriterProperties {
    let file = meta.file_metadata();
    let mut b = WriterProperties::builder()
        .set_writer_version(if file.version() >= 2 {
            WriterVersion::PARQUET_2_0
        } else {
            WriterVersion::PARQUET_1_0
        })
        .set_dictionary_enabled(false);
    if let Some(by) = file.created_by() {
        b = b.set_created_by(by.to_owned());
    }
    let kv: Vec<KeyValue> = file
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .filter(|k| k.key != ARROW_SCHEMA_KEY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    b = b.set_key_value_metadata(Some(kv));
    let largest = meta
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows().max(1) as usize)
        .max()
        .unwrap_or(1);
    b = b.set_max_row_group_row_count(Some(largest));
    let mut page_index = false;
    if let Some(rg) = meta.row_groups().first() {
        b = b.set_sorting_columns(rg.sorting_columns().cloned());
        for col in rg.columns() {
            let path = col.column_path().clone();
            page_index |= col.column_index_offset().is_some();
            let dictionary = col.dictionary_page_offset().is_some();
            b = b
                .set_column_compression(path.clone(), col.compression())
                .set_column_dictionary_enabled(path.clone(), dictionary);
            if !dictionary && col.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED) {
                b = b.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
        }
    }
    b.set_statistics_enabled(if page_index {
        EnabledStatistics::Page
    } else {
        EnabledStatistics::Chunk
    })
    .build()
}

/// The file's footer, for comparisons in tests.
pub fn footer(file: &Bytes) -> Result<Arc<ParquetMetaData>, ParquetError> {
    Ok(ArrowReaderMetadata::load(file, Default::default())?
        .metadata()
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use parquet::schema::types::ColumnPath;

    /// Two row groups of (id, run_id, position) written as our writers do: zstd, a dictionary
    /// on the constant column, delta-encoded positions, footer metadata.
    fn original() -> Bytes {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new("position", DataType::Int64, false),
        ]));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("run_id"), true)
            .set_column_compression(ColumnPath::from("run_id"), Compression::UNCOMPRESSED)
            .set_column_encoding(ColumnPath::from("position"), Encoding::DELTA_BINARY_PACKED)
            .set_max_row_group_row_count(Some(3))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "dataset".into(),
                "followers".to_owned(),
            )]))
            .set_created_by("postpress-etl 0.0.1".into())
            .build();
        let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).unwrap();
        let ids = ["a", "x", "b", "c", "x", "d"];
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids.to_vec())),
            Arc::new(StringArray::from(vec!["r1"; 6])),
            Arc::new(Int64Array::from_iter_values(0..6)),
        ];
        w.write(&RecordBatch::try_new(schema, cols).unwrap())
            .unwrap();
        Bytes::from(w.into_inner().unwrap())
    }

    /// The rows of the key go, everything else stays: rows in order, row groups one for one,
    /// codecs, dictionary, encoding, created_by and the footer's pairs.
    #[test]
    fn rewrite_keeps_the_file_as_it_was() {
        let file = original();
        let keys = EraseKeys::new(["x".to_owned()]);
        let (new, removed) = without_keys(file.clone(), &keys).unwrap();
        assert_eq!(removed, 2);
        let new = Bytes::from(new);
        let (a, b) = (footer(&file).unwrap(), footer(&new).unwrap());
        assert_eq!(b.num_row_groups(), 2);
        assert_eq!(b.row_group(0).num_rows(), 2);
        assert_eq!(b.row_group(1).num_rows(), 2);
        assert_eq!(
            a.file_metadata().created_by(),
            b.file_metadata().created_by()
        );
        let pairs = |m: &ParquetMetaData| {
            let mut kv: Vec<(String, Option<String>)> = m
                .file_metadata()
                .key_value_metadata()
                .unwrap()
                .iter()
                .map(|k| (k.key.clone(), k.value.clone()))
                .collect();
            kv.sort();
            kv
        };
        assert_eq!(pairs(&a), pairs(&b));
        for c in 0..3 {
            let (x, y) = (a.row_group(0).column(c), b.row_group(0).column(c));
            assert_eq!(x.compression(), y.compression(), "column {c}");
            assert_eq!(
                x.dictionary_page_offset().is_some(),
                y.dictionary_page_offset().is_some()
            );
            assert_eq!(
                x.encodings().collect::<Vec<_>>(),
                y.encodings().collect::<Vec<_>>(),
                "column {c}"
            );
        }
        let rows: Vec<(String, i64)> = ParquetRecordBatchReaderBuilder::try_new(new)
            .unwrap()
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let ids = b.column(0).as_string::<i32>().clone();
                let pos = b
                    .column(2)
                    .as_primitive::<arrow_array::types::Int64Type>()
                    .clone();
                (0..b.num_rows())
                    .map(|i| (ids.value(i).to_owned(), pos.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<(String, i64)> = [("a", 0), ("b", 2), ("c", 3), ("d", 5)]
            .map(|(k, p)| (k.to_owned(), p))
            .into();
        assert_eq!(rows, want);
    }
}
