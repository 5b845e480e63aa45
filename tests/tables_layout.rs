//! The layout of SPEC §4 across versions: partition columns are in the path only, and units
//! written by earlier versions (which repeated `account_id`, `provider` and `snapshot_date`
//! inside every file) still finalize exactly, so `finalize --to` brings old dates to the new
//! table layout.

use crate::tables_check::*;
use crate::util::*;
use arrow_array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// Rewrites a unit file as an earlier version wrote it: the partition columns inside, after the
/// API columns (before fetched_at), the footer as it was.
fn to_earlier_layout(file: &Path) {
    let f = footer(file);
    let value = |k: &str| f[k].as_str().expect("footer names it").to_owned();
    let (account, provider, date) = (
        value("account_id"),
        value("provider"),
        value("snapshot_date"),
    );
    let days = (chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").expect("date")
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch"))
    .num_days() as i32;
    let (schema, batches) = read_file(file);
    let at = schema.index_of("fetched_at").expect("fetched_at");
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.splice(
        at..at,
        [
            Field::new("account_id", DataType::Utf8, false),
            Field::new("provider", DataType::Utf8, false),
            Field::new("snapshot_date", DataType::Date32, false),
        ],
    );
    let old = Arc::new(Schema::new(fields));
    let kv: Vec<KeyValue> = f
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, old.clone(), Some(props)).expect("writer");
    for b in batches {
        let n = b.num_rows();
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        cols.splice(
            at..at,
            [
                Arc::new(StringArray::from(vec![account.as_str(); n])) as ArrayRef,
                Arc::new(StringArray::from(vec![provider.as_str(); n])),
                Arc::new(Date32Array::from(vec![days; n])),
            ],
        );
        w.write(&RecordBatch::try_new(old.clone(), cols).expect("batch"))
            .expect("write");
    }
    w.close().expect("close");
    std::fs::write(file, out).expect("rewrite");
}

/// Day 0's units rewritten in the earlier layout, day 1's in the new: `finalize --to` rebuilds
/// both dates exactly (lists, positions, changes across the two layouts), and no table file
/// holds a partition column of its path.
#[test]
fn finalize_reads_units_of_the_earlier_layout() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job_with(&sim, "", "tables = false", &job_accounts(&ACCOUNTS));
    for day in 0..2 {
        set_day(&sim, day);
        export(&job, day, &[]).expect_code(0, &t.out());
    }
    let mut rewritten = 0;
    for f in files_below(&t.out()) {
        let s = f.to_string_lossy();
        if s.ends_with(".parquet") && s.contains(&format!("snapshot_date={}", date(0))) {
            to_earlier_layout(&f);
            assert!(read_file(&f).0.field_with_name("snapshot_date").is_ok());
            rewritten += 1;
        }
    }
    assert_eq!(rewritten, 8, "every unit of day 0 is in the earlier layout");
    finalize(&job, 0, Some(1)).expect_code(0, &t.out());
    for day in 0..2 {
        let run = run_id_of(&t.out(), &date(day));
        let d = Day {
            accounts: &ACCOUNTS,
            day,
            failed: &[],
            previous: &day_before(day),
        };
        // read_table reads through read_hive_rows, which refuses a partition column inside.
        assert_lists_and_changes(&t.out(), &d);
        assert_account_daily(&t.out(), &d, &|_, _| run.clone());
    }
}
