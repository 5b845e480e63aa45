//! Parquet read back: one file's batches and footer, rows as JSON objects, and the rows of a
//! file or a unit's partition as a hive-partitioned reader sees them.

use super::{partition, tree};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Reads one Parquet file into its schema and batches.
pub fn read_file(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{} is not readable Parquet: {e}", path.display()));
    let schema = b.schema().clone();
    let batches = b
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{} cannot be decoded: {e}", path.display()));
    (schema, batches)
}

/// The footer key-value metadata of a file.
pub fn footer(path: &Path) -> Map<String, Value> {
    let f = std::fs::File::open(path).expect("open");
    let b = ParquetRecordBatchReaderBuilder::try_new(f).expect("parquet");
    let mut m = Map::new();
    for kv in b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
    {
        m.insert(
            kv.key.clone(),
            Value::from(kv.value.clone().unwrap_or_default()),
        );
    }
    m
}

/// Rows of a batch as JSON objects: strings, booleans, integers (timestamps as ms, dates as days).
pub fn rows(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    let mut out = vec![Map::new(); batch.num_rows()];
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        for (i, row) in out.iter_mut().enumerate() {
            let v = if col.is_null(i) {
                Value::Null
            } else {
                match f.data_type() {
                    DataType::Utf8 => Value::from(col.as_string::<i32>().value(i)),
                    DataType::Boolean => Value::from(col.as_boolean().value(i)),
                    DataType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(i)),
                    DataType::Timestamp(_, _) => {
                        Value::from(col.as_primitive::<TimestampMillisecondType>().value(i))
                    }
                    DataType::Date32 => Value::from(col.as_primitive::<Date32Type>().value(i)),
                    other => panic!("unexpected column type {other}"),
                }
            };
            row.insert(f.name().clone(), v);
        }
    }
    out
}

/// The rows of one file as a hive-partitioned reader sees them: the file's columns plus the
/// `key=value` directories of its path (`snapshot_date` as days, like a date column). Asserts
/// that no partition column is repeated inside the file (SPEC §4: in the path only).
pub fn read_hive_rows(path: &Path) -> Vec<Map<String, Value>> {
    let (schema, batches) = read_file(path);
    let partitions: Vec<(String, Value)> = path
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .filter_map(|c| c.split_once('='))
        .map(|(k, v)| {
            let value = if k.ends_with("snapshot_date") {
                Value::from(days(v))
            } else {
                Value::from(v)
            };
            (k.to_owned(), value)
        })
        .collect();
    for (k, _) in &partitions {
        assert!(
            schema.field_with_name(k).is_err(),
            "{}: partition column {k:?} is repeated inside the file",
            path.display()
        );
    }
    let mut out = Vec::new();
    for b in batches {
        for mut row in rows(&b) {
            for (k, v) in &partitions {
                row.insert(k.clone(), v.clone());
            }
            out.push(row);
        }
    }
    out
}

/// All rows of a unit's partition, part files in name order, with the path's partition columns.
pub fn read_unit(
    out: &Path,
    dataset: &str,
    provider: &str,
    account: &str,
) -> Vec<Map<String, Value>> {
    let dir = partition(out, dataset, provider, account);
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("partition {} missing: {e}\n{}", dir.display(), tree(out)))
        .flatten()
        .map(|e| e.path())
        .collect();
    parts.sort();
    assert!(!parts.is_empty(), "no part files in {}", dir.display());
    let mut all = Vec::new();
    for p in parts {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            name.starts_with("part-") && name.ends_with(".parquet"),
            "stray file {}",
            p.display()
        );
        all.extend(read_hive_rows(&p));
    }
    all
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, as a `Date32` column holds it.
pub(super) fn days(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}
