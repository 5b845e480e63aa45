//! Exports to S3 read back object by object: every record of the local-disk tests' scenario, and
//! one unit big enough to go up as a multipart upload of several parts.

use super::moto::Moto;
use super::{
    KEY_ID, SECRET, aws_env, create_bucket, download, part_key, runtime, s3_endpoint, s3_store,
    unique_bucket,
};
use crate::util::*;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use serde_json::Value;

/// The SIZES scenario of tests/run.rs (0, 1, a page, a page + 1 and 2,501 records, both
/// providers and datasets), exported to `s3://bucket/exports/pp`: every object is under its key
/// and nothing else is left (no staging), and every record read back from S3 with the Rust
/// Parquet reader is exactly what the simulator served; the footer and the manifest are right.
#[test]
fn s3_export_lands_every_record_under_its_key() {
    let Some(ep) = s3_endpoint("s3_export_lands_every_record_under_its_key") else {
        return;
    };
    let bucket = unique_bucket("export");
    create_bucket(&ep, &bucket);
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, crate::run::SIZES, &[]);
    let prefix = "exports/pp";
    // Without the reader tables, which tests/tables.rs checks on S3.
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/{prefix}\"\ntables = false"),
        &crate::run::size_accounts(),
    );
    let o = run_job(&job, &[]);
    o.expect_code(0, &t.out());
    assert!(!t.out().exists(), "nothing is written locally");

    let store = s3_store(&ep, &bucket);
    let dl = t.path().join("download");
    let got = download(&store, prefix, &dl);
    let m = manifests(&dl);
    assert_eq!(m.len(), 1, "one manifest: {got:#?}");
    let run_id = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let mut want: Vec<String> = crate::run::SIZE_ACCOUNTS
        .iter()
        .flat_map(|(a, p, _, _)| ["followers", "following"].map(|d| part_key(prefix, d, p, a, 0)))
        .collect();
    want.push(format!("{prefix}/_runs/snapshot_date={DATE}/{run_id}.json"));
    want.push(format!(
        "{prefix}/_leases/run/test-job/snapshot_date={DATE}/shard=all.json"
    ));
    want.sort();
    assert_eq!(
        got, want,
        "exactly the partition objects, the manifest and the run's released lease, nothing staged"
    );

    crate::run::assert_all_sizes_exact(&dl);
    let f = footer(&partition(&dl, "following", "instagram", "ig_big").join("part-00000.parquet"));
    assert_eq!(f["account_id"], "ig_big");
    assert_eq!(f["run_id"], run_id.as_str());
    assert_eq!(m[0]["status"], "ok");
    assert_eq!(m[0]["destination"], format!("s3://{bucket}/{prefix}"));
    assert_eq!(m[0]["units"].as_array().map(Vec::len), Some(20));
}

/// One file, one upload: no checkpoint closing a part early, and no reader table of this unit
/// (that would be a second multipart upload).
const ONE_FILE: &str =
    "compression = \"none\"\nrow_group_rows = 20000\ncheckpoint_rows = 1000000\ntables = false";

/// One unit big enough to need several multipart parts (about 50 MB uncompressed, parts of
/// 8 MiB): the server's request log shows the staged file going up as a multipart upload of
/// several parts, completed; the published file reads back exactly; a rerun with a smaller file
/// size replaces it with three files and no stale one. (The published object is a server-side
/// copy of the staged one, so its own ETag no longer shows the parts: the log does.)
#[test]
fn s3_large_unit_uploads_in_several_parts() {
    let Some(_) = s3_endpoint("s3_large_unit_uploads_in_several_parts") else {
        return;
    };
    let t = TestDir::new();
    let log = t.path().join("moto.log");
    let moto = Moto::start_logged(&[], Some(&log));
    let ep = moto.endpoint.as_str();
    let bucket = unique_bucket("multipart");
    create_bucket(ep, &bucket);
    const N: u64 = 120_000;
    let sim = Sim::with_scenario(
        &t,
        &format!(
            "[[accounts]]\nid = \"acc_big\"\nprovider = \"linkedin\"\nfollowers = 0\nfollowing = {N}\n"
        ),
        &[],
    );
    let accounts = "[[accounts]]\naccount_id = \"acc_big\"\nprovider = \"linkedin\"\ndatasets = [\"following\"]\n";
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\"\n{ONE_FILE}"),
        accounts,
    );
    run_job_env(&job, &[], &aws_env(ep, KEY_ID, SECRET)).expect_code(0, &t.out());
    let store = s3_store(ep, &bucket);
    let key = part_key("pp", "following", "linkedin", "acc_big", 0);
    let meta = runtime()
        .block_on(store.head(&ObjPath::from(key.as_str())))
        .expect("head the part");
    let part_bytes = postpress_etl::sink::parquet::UPLOAD_BUFFER_BYTES as u64;
    assert!(
        meta.size > 3 * part_bytes,
        "the file outgrows three upload parts: {} bytes",
        meta.size
    );

    let requests = std::fs::read_to_string(&log).expect("moto log");
    let staged = format!("/{bucket}/pp/_staging/");
    let uploads: Vec<&str> = requests
        .lines()
        .filter(|l| {
            l.contains(&staged)
                && l.contains("\"PUT ")
                && l.contains("partNumber=")
                && l.contains("\" 200")
        })
        .collect();
    let completed = requests
        .lines()
        .filter(|l| {
            l.contains(&staged)
                && l.contains("\"POST ")
                && l.contains("uploadId=")
                && l.contains("\" 200")
        })
        .count();
    assert!(
        uploads.len() as u64 >= meta.size / part_bytes && completed == 1,
        "one multipart upload of several parts: {} parts, {completed} completed\n{requests}",
        uploads.len()
    );
    let dl = t.path().join("download");
    download(&store, "pp", &dl);
    assert_unit_exact(&dl, "following", "linkedin", "acc_big", N);

    // Rerun with 50,000 rows per file: three files replace the one.
    let text = std::fs::read_to_string(&job)
        .expect("job")
        .replace("[output]\n", "[output]\nmax_rows_per_file = 50000\n");
    let job2 = t.write("job2.toml", &text);
    run_job_env(&job2, &[], &aws_env(ep, KEY_ID, SECRET)).expect_code(0, &t.out());
    let dl2 = t.path().join("download2");
    let got = download(&store, "pp/following", &dl2.join("following"));
    assert_eq!(
        got,
        (0..3)
            .map(|n| part_key("pp", "following", "linkedin", "acc_big", n))
            .collect::<Vec<_>>()
    );
    let rows = assert_unit_exact(&dl2, "following", "linkedin", "acc_big", N);
    assert_ne!(rows[0]["run_id"], Value::Null);
}
