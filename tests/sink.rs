//! The sink conformance suite (STYLE rule 29): each case is written once as an
//! `async fn(store: Arc<dyn ObjectStore>, how: Move)` over the real part writer and publish step,
//! and run against `InMemory` (parts copied then deleted), `LocalFileSystem` (renamed, as the job
//! does on a local disk) and the S3-compatible test server (copied then deleted; a bucket of its
//! own per test; skipped with the reason printed unless `POSTPRESS_S3_TESTS` is set, as `make
//! test` does). Every case reads the published Parquet back and compares rows.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use postpress_etl::model::{Dataset, Provider};
use postpress_etl::sink::layout::{Area, Layout, PartitionKey};
use postpress_etl::sink::parquet::{
    ColumnHints, FileIdentity, PartWriter, StagedPart, WriterOptions,
};
use postpress_etl::sink::publish::Move;
use postpress_etl::sink::{self, publish};
use std::num::NonZeroUsize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The prefix every case writes below, as `s3://bucket/exports/pp` would.
const PREFIX: &str = "exports/pp";
const DATE: &str = "2026-11-26";

fn key() -> PartitionKey<'static> {
    PartitionKey {
        dataset: Dataset::Followers,
        provider: Provider::Linkedin,
        snapshot_date: DATE,
        account_id: "acc_conformance",
    }
}

fn layout() -> Layout {
    Layout::new(&Path::from(PREFIX))
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("position", DataType::Int64, false),
    ]))
}

/// Rows `from..to` of a run: ids name the run, so a reader can tell runs apart.
fn batch(run_id: &str, from: i64, to: i64) -> RecordBatch {
    let ids: StringArray = (from..to).map(|i| Some(format!("{run_id}-{i}"))).collect();
    let pos: Int64Array = (from..to).collect();
    RecordBatch::try_new(schema(), vec![Arc::new(ids) as ArrayRef, Arc::new(pos)]).expect("batch")
}

fn opts(max_rows_per_file: usize) -> WriterOptions {
    WriterOptions {
        codec: postpress_etl::model::Compression::Zstd,
        max_rows_per_file: NonZeroUsize::new(max_rows_per_file).expect("non-zero"),
        row_group_rows: NonZeroUsize::new(40).expect("non-zero"),
        hints: ColumnHints {
            constant: &[],
            counter: Some("position"),
        },
    }
}

/// A writer for one unit of `run_id`.
fn writer(store: &Arc<dyn ObjectStore>, run_id: &str, max_rows_per_file: usize) -> PartWriter {
    let identity = FileIdentity {
        pairs: vec![("run_id".to_owned(), run_id.to_owned())],
    };
    PartWriter::try_new(
        store.clone(),
        layout(),
        run_id,
        &key(),
        schema(),
        opts(max_rows_per_file),
        &identity,
    )
    .expect("writer")
}

/// Writes `rows` rows in pages of 100 and returns the staged parts.
async fn stage(
    store: &Arc<dyn ObjectStore>,
    run_id: &str,
    rows: i64,
    max_rows_per_file: usize,
) -> Vec<StagedPart> {
    let mut w = writer(store, run_id, max_rows_per_file);
    let mut from = 0;
    while from < rows {
        let to = (from + 100).min(rows);
        w.write(&batch(run_id, from, to)).await.expect("write");
        from = to;
    }
    w.finish().await.expect("finish")
}

/// Stages and publishes a whole unit.
async fn export(
    store: &Arc<dyn ObjectStore>,
    run_id: &str,
    rows: i64,
    max_rows_per_file: usize,
    how: Move,
) -> publish::Published {
    let staged = stage(store, run_id, rows, max_rows_per_file).await;
    publish_parts(store, &staged, how).await
}

/// Publishes staged parts into the unit's partition.
async fn publish_parts(
    store: &Arc<dyn ObjectStore>,
    staged: &[StagedPart],
    how: Move,
) -> publish::Published {
    publish::publish(
        store.as_ref(),
        &layout(),
        &key(),
        staged,
        how,
        &CancellationToken::new(),
    )
    .await
    .expect("publish")
}

/// An object's bytes.
async fn object(store: &Arc<dyn ObjectStore>, path: &Path) -> Bytes {
    store
        .get(path)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes")
}

/// Every key below `prefix`, sorted.
async fn keys(store: &Arc<dyn ObjectStore>, prefix: &Path) -> Vec<String> {
    let mut k: Vec<String> = store
        .list(Some(prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    k.sort();
    k
}

/// The published part files of the unit, by name.
async fn published_files(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    let dir = layout().partition(Area::Final, &key());
    keys(store, &dir)
        .await
        .iter()
        .map(|k| k.rsplit('/').next().unwrap_or_default().to_owned())
        .collect()
}

/// The published rows as (id, position), parts in name order, read with the Parquet reader.
async fn published_rows(store: &Arc<dyn ObjectStore>) -> Vec<(String, i64)> {
    let dir = layout().partition(Area::Final, &key());
    let mut rows = Vec::new();
    for k in keys(store, &dir).await {
        let bytes = object(store, &Path::from(k.as_str())).await;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap_or_else(|e| panic!("{k} is not Parquet: {e}"))
            .build()
            .expect("reader");
        for b in reader {
            let b = b.expect("batch");
            let ids = b.column(0).as_string::<i32>();
            let pos = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                rows.push((ids.value(i).to_owned(), pos.value(i)));
            }
        }
    }
    rows
}

fn want_rows(run_id: &str, n: i64) -> Vec<(String, i64)> {
    (0..n).map(|i| (format!("{run_id}-{i}"), i)).collect()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("part-{i:05}.parquet")).collect()
}

/// Nothing at all below `{prefix}/_staging`.
async fn assert_no_staging(store: &Arc<dyn ObjectStore>) {
    let left = keys(store, &layout().staging_all()).await;
    assert!(left.is_empty(), "staging leftovers: {left:#?}");
}

/// Publish: a unit of 250 rows in files of 100 lands as exactly three parts in its partition,
/// every row read back in order, nothing left in staging.
async fn publish_lands_every_row(store: Arc<dyn ObjectStore>, how: Move) {
    let p = export(&store, "run1", 250, 100, how).await;
    assert_eq!(p.files, names(3));
    assert_eq!(p.removed, 0);
    assert_eq!(published_files(&store).await, names(3));
    assert_eq!(published_rows(&store).await, want_rows("run1", 250));
    assert_no_staging(&store).await;
    // The partition is where SPEC §4 says, below the prefix.
    let all = keys(&store, &Path::from(PREFIX)).await;
    assert_eq!(
        all[0],
        format!(
            "{PREFIX}/followers/provider=linkedin/snapshot_date={DATE}/account_id=acc_conformance/part-00000.parquet"
        )
    );
}

/// Rerun replaces: four parts of a first run are replaced by the one part of a rerun; the three
/// stale parts are removed and only the rerun's rows remain.
async fn rerun_replaces(store: Arc<dyn ObjectStore>, how: Move) {
    export(&store, "run1", 350, 100, how).await;
    assert_eq!(published_files(&store).await, names(4));
    let p = export(&store, "run2", 120, 1000, how).await;
    assert_eq!(p.files, names(1));
    assert_eq!(p.removed, 3);
    assert_eq!(published_files(&store).await, names(1));
    assert_eq!(published_rows(&store).await, want_rows("run2", 120));
    assert_no_staging(&store).await;
}

/// A failed unit leaves earlier data: a rerun that staged two closed files and had a third
/// open when it failed is aborted; the partition still holds the first run's rows, and the
/// aborted unit left nothing in staging.
async fn failed_unit_leaves_earlier_data(store: Arc<dyn ObjectStore>, how: Move) {
    export(&store, "run1", 150, 1000, how).await;
    let mut w = writer(&store, "run2", 50);
    w.write(&batch("run2", 0, 120)).await.expect("write");
    w.abort().await;
    assert_eq!(published_files(&store).await, names(1));
    assert_eq!(published_rows(&store).await, want_rows("run1", 150));
    assert_no_staging(&store).await;
}

/// No staging leftovers: after the preflight marker, a published unit, an empty unit (one
/// zero-row file) and an aborted unit, then the run's cleanup, nothing is left below
/// `_staging`, and the empty unit is a readable zero-row file.
async fn no_staging_leftovers(store: Arc<dyn ObjectStore>, how: Move) {
    let l = layout();
    sink::preflight(store.as_ref(), &l.preflight_marker("run1"))
        .await
        .expect("preflight");
    assert_no_staging(&store).await;
    let empty = stage(&store, "run1", 0, 100).await;
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].rows, 0);
    publish_parts(&store, &empty, how).await;
    assert_eq!(published_rows(&store).await, Vec::new());
    assert_eq!(published_files(&store).await, names(1));
    let mut w = writer(&store, "run1", 10);
    w.write(&batch("run1", 0, 25)).await.expect("write");
    w.abort().await;
    sink::delete_prefix(store.as_ref(), &l.staging_root("run1"))
        .await
        .expect("cleanup");
    assert_no_staging(&store).await;
}

/// Checkpointed parts (SPEC §10): a unit closes its part at a checkpoint, is abandoned with a
/// second part open, and keeps only the checkpointed one; a later run continues after it in the
/// same staging area (the next part numbered on); the published unit holds the first run's
/// rows then the second's, positions 0..n; publishing the same parts again (a publish cut short
/// and finished by the next run) changes nothing; no staging is left.
async fn checkpointed_parts_survive_and_publish_repeats(store: Arc<dyn ObjectStore>, how: Move) {
    let mut w = writer(&store, "run1", 1000);
    w.write(&batch("run1", 0, 250)).await.expect("write");
    let kept = w.checkpoint().await.expect("checkpoint").to_vec();
    assert_eq!((kept.len(), kept[0].rows), (1, 250));
    w.write(&batch("run1", 250, 300)).await.expect("write");
    w.abandon(kept.len()).await;
    let staged_dir = layout().partition(Area::Staging { run_id: "run1" }, &key());
    assert_eq!(
        keys(&store, &staged_dir).await,
        [kept[0].path.to_string()],
        "only the checkpointed part stays"
    );
    // The next run writes into the same area, after the kept part.
    let mut w = writer(&store, "run1", 1000).with_staged(kept);
    w.write(&batch("run2", 250, 400)).await.expect("write");
    let staged = w.finish().await.expect("finish");
    assert_eq!(staged.len(), 2);
    let p = publish_parts(&store, &staged, how).await;
    assert_eq!(p.files, names(2));
    let mut want = want_rows("run1", 250);
    want.extend((250..400).map(|i| (format!("run2-{i}"), i)));
    assert_eq!(published_rows(&store).await, want);
    // Publishing again finds the parts in place.
    let again = publish_parts(&store, &staged, how).await;
    assert_eq!((again.files, again.removed), (names(2), 0));
    assert_eq!(published_rows(&store).await, want);
    assert_no_staging(&store).await;
}

/// The three stores of the suite.
mod stores {
    use super::*;
    use object_store::local::LocalFileSystem;

    pub fn in_memory() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        (Arc::new(InMemory::new()), None)
    }

    pub fn local() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        let dir = tempfile::Builder::new()
            .prefix("pp-sink-conformance")
            .tempdir()
            .expect("temp dir");
        let store = LocalFileSystem::new_with_prefix(dir.path()).expect("local store");
        (Arc::new(store), Some(dir))
    }

    /// A fresh bucket on the S3-compatible server, or `None` (reason printed) when S3 tests are off.
    pub fn s3(test: &str) -> Option<Arc<dyn ObjectStore>> {
        let ep = crate::s3::s3_endpoint(test)?;
        let bucket = crate::s3::unique_bucket("sink");
        crate::s3::create_bucket(&ep, &bucket);
        Some(crate::s3::s3_store(&ep, &bucket))
    }
}

/// The encode pool's finish: a unit whose rows were all kept (no file opened yet) is encoded
/// off the runtime into the same file, byte for byte, as the inline finish makes, and publishes
/// every row; kept rows of more than one file's worth take the inline path, three parts.
async fn encode_pool_finish_matches_inline(store: Arc<dyn ObjectStore>, how: Move) {
    let fill = |mut w: PartWriter, run_id: &'static str, rows: i64| async move {
        let mut from = 0;
        while from < rows {
            let to = (from + 100).min(rows);
            w.write(&batch(run_id, from, to)).await.expect("write");
            from = to;
        }
        w
    };
    let staged = fill(writer(&store, "run1", 1000), "run1", 250)
        .await
        .finish_on_encode_pool()
        .await
        .expect("finish on the encode pool");
    assert_eq!(staged.len(), 1);
    let pooled = object(&store, &staged[0].path).await;
    assert_eq!(staged[0].bytes, pooled.len() as u64);
    assert_eq!(staged[0].rows, 250);
    let reference: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let inline = fill(writer(&reference, "run1", 1000), "run1", 250)
        .await
        .finish()
        .await
        .expect("inline finish");
    let inline = object(&reference, &inline[0].path).await;
    assert_eq!(pooled, inline, "the two finishes wrote different files");
    publish_parts(&store, &staged, how).await;
    assert_eq!(published_rows(&store).await, want_rows("run1", 250));

    let staged = fill(writer(&store, "run2", 100), "run2", 250)
        .await
        .finish_on_encode_pool()
        .await
        .expect("finish of three files' worth");
    assert_eq!(
        staged.iter().map(|p| p.rows).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    publish_parts(&store, &staged, how).await;
    assert_eq!(published_files(&store).await, names(3));
    assert_eq!(published_rows(&store).await, want_rows("run2", 250));
    assert_no_staging(&store).await;
}

/// One module per case, one test per store: `sink::rerun_replaces::s3` and so on.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn in_memory() {
                // No S3 at hand: the copy-then-delete publish is still covered in memory.
                let (store, _dir) = super::stores::in_memory();
                super::$case(store, super::Move::CopyThenDelete).await;
            }

            #[tokio::test]
            async fn local_filesystem() {
                let (store, _dir) = super::stores::local();
                super::$case(store, super::Move::Rename).await;
            }

            #[tokio::test]
            async fn s3() {
                let test = concat!("sink::", stringify!($case), "::s3");
                if let Some(store) = super::stores::s3(test) {
                    super::$case(store, super::Move::CopyThenDelete).await;
                }
            }
        }
    )*};
}

conformance!(
    publish_lands_every_row,
    rerun_replaces,
    failed_unit_leaves_earlier_data,
    no_staging_leftovers,
    checkpointed_parts_survive_and_publish_repeats,
    encode_pool_finish_matches_inline,
);
