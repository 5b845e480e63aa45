//! Reader tables on S3 (the shared S3-compatible test server; skipped with the reason printed
//! unless `POSTPRESS_S3_TESTS` is set, as `make test` does).

use crate::tables_check::*;
use crate::util::*;

/// On S3: two days exported with churn to `s3://bucket/exports/pp`, each run building its
/// tables; read back from the bucket they equal the simulator's lists and changes. A second
/// finalize of day 1 leaves exactly the same objects (replaced, none added, nothing staged);
/// a corrupt object in a unit partition fails it with exit 1, naming the object's S3 URL.
#[test]
fn s3_reader_tables_match_rebuild_and_refuse_corrupt_parts() {
    use crate::s3::{create_bucket, download, keys, s3_endpoint, s3_store, unique_bucket};
    use object_store::ObjectStoreExt;
    let Some(ep) = s3_endpoint("s3_reader_tables_match_rebuild_and_refuse_corrupt_parts") else {
        return;
    };
    let bucket = unique_bucket("tables");
    create_bucket(&ep, &bucket);
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let prefix = "exports/pp";
    let url = format!("url = \"s3://{bucket}/{prefix}\"");
    let job = t.job_with(&sim, "", &url, &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());
    set_day(&sim, 1);
    export(&job, 1, &[]).expect_code(0, &t.out());
    assert!(!t.out().exists(), "nothing is written locally");

    let store = s3_store(&ep, &bucket);
    let dl = t.path().join("download");
    download(&store, prefix, &dl);
    for day in 0..2 {
        let run = run_id_of(&dl, &date(day));
        let d = Day {
            accounts: &ACCOUNTS,
            day,
            failed: &[],
            previous: &day_before(day),
        };
        assert_lists_and_changes(&dl, &d);
        assert_account_daily(&dl, &d, &|_, _| run.clone());
    }
    let tables = keys(&store, &format!("{prefix}/tables"));
    assert_eq!(
        tables.len(),
        18,
        "9 table partitions a day, one file each: {tables:#?}"
    );

    finalize(&job, 1, None).expect_code(0, &t.out());
    assert_eq!(keys(&store, &format!("{prefix}/tables")), tables);
    assert!(keys(&store, &format!("{prefix}/_staging")).is_empty());
    let again = t.path().join("again");
    download(&store, prefix, &again);
    assert_eq!(
        read_table(&again, "follower_changes", Some("linkedin"), &date(1)),
        read_table(&dl, "follower_changes", Some("linkedin"), &date(1))
    );
    assert_eq!(finalize_manifests(&again).len(), 3);

    let bad = format!(
        "{prefix}/followers/provider=linkedin/snapshot_date={}/account_id=li_a/part-00001.parquet",
        date(1)
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(store.put(
            &object_store::path::Path::from(bad.as_str()),
            object_store::PutPayload::from_static(b"not parquet"),
        ))
        .expect("put a corrupt part");
    let o = finalize(&job, 1, None);
    o.expect_code(1, &t.out());
    let want = format!(
        "postpress-etl: error: s3://{bucket}/{bad} is not a readable Parquet file; nothing was published for {}",
        date(1)
    );
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    assert_eq!(keys(&store, &format!("{prefix}/tables")), tables);
}
