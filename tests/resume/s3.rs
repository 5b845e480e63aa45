//! The SIGKILL case with the output on the S3-compatible server: "durable" there means the
//! part's upload completed, and the checkpoint is read back from the bucket.

use super::*;
use crate::s3::{create_bucket, download, keys, runtime, s3_endpoint, s3_store, unique_bucket};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// The checkpoints below `prefix/_staging` in the bucket, with their keys.
fn s3_checkpoints(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<(String, Value)> {
    let rt = runtime();
    keys(store, &format!("{prefix}/_staging"))
        .into_iter()
        .filter(|k| k.ends_with("/checkpoint.json"))
        .filter_map(|k| {
            let bytes = rt
                .block_on(async { store.get(&ObjPath::from(k.as_str())).await?.bytes().await })
                .ok()?;
            Some((k, serde_json::from_slice(&bytes).ok()?))
        })
        .collect()
}

/// SIGKILL mid-unit with the output on S3: the checkpoint names only uploaded parts; the rerun
/// asks for exactly the pages after it and publishes exactly the simulator's list, each row
/// with the run that fetched it; nothing is left below `_staging`.
#[test]
fn s3_sigkill_mid_unit_resumes_from_the_checkpoint() {
    let Some(ep) = s3_endpoint("resume::s3::s3_sigkill_mid_unit_resumes_from_the_checkpoint")
    else {
        return;
    };
    let bucket = unique_bucket("resume");
    create_bucket(&ep, &bucket);
    let store = s3_store(&ep, &bucket);
    let prefix = "pp";
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = t.job_with(
        &sim,
        "concurrency = 2",
        &format!("url = \"s3://{bucket}/{prefix}\"\ncheckpoint_rows = {EVERY}"),
        &followers_of(&[BIG]),
    );
    let mut child = spawn_run(&job, &[]);
    let stderr = collect_stderr(&mut child);
    let reached = wait_until(WAIT, || {
        s3_checkpoints(&store, prefix)
            .iter()
            .any(|(_, c)| c["rows"].as_u64().unwrap_or(0) >= CRASH_AFTER)
    });
    child.kill().expect("SIGKILL");
    child.wait().ok();
    assert!(reached, "no checkpoint:\n{}", stderr.lock().expect("lock"));
    let left = s3_checkpoints(&store, prefix);
    assert_eq!(left.len(), 1, "{left:?}");
    let (cp_key, cp) = &left[0];
    let staged = keys(&store, cp_key.trim_end_matches("checkpoint.json"));
    for p in cp["parts"].as_array().into_iter().flatten() {
        let file = p["file"].as_str().expect("file");
        assert!(
            staged.iter().any(|k| k.ends_with(file)),
            "{file} uploaded: {staged:?}"
        );
    }
    let r1 = cp["run_id"].as_str().expect("run_id").to_owned();
    let cp_pages = cp["pages"].as_u64().expect("pages");

    reset_stats(&sim);
    run_job(&job, &[]).expect_code(0, t.path());
    assert_eq!(pages_served(&sim, BIG), PAGES - cp_pages);
    let dl = t.path().join("download");
    download(&store, prefix, &dl);
    let m = manifests(&dl);
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let u = unit_entry(&m[0], BIG);
    assert_eq!(u["resumed_from"], r1.as_str());
    assert_eq!(u["pages_skipped"], cp_pages);
    assert_big_unit(&dl, cp["rows"].as_u64().expect("rows"), &r1, &r2);
    let left = keys(&store, &format!("{prefix}/_staging"));
    assert!(left.is_empty(), "staging leftovers: {left:#?}");
}
