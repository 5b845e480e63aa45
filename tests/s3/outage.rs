//! The S3 server dying mid-run: what was published stays exact, what was in flight publishes
//! nothing, and a rerun with the server back completes.

use super::moto::Moto;
use super::proxy::Proxy;
use super::{
    KEY_ID, SECRET, aws_env, create_bucket, download, keys, s3_endpoint, s3_store, unique_bucket,
};
use crate::util::*;
use std::io::Read;
use std::time::{Duration, Instant};

/// The S3 server dies mid-run (seen from the job exactly as a killed process: connections cut,
/// then refused) and stays down until the job exits. The units published before stay complete
/// and exact; the units in flight, whose uploads finally failed after object_store's retries,
/// published nothing; the run exits 1 (no manifest could be written). With the server back, a
/// rerun completes every unit exactly.
#[test]
fn s3_server_dies_mid_run_then_rerun_completes() {
    let Some(_) = s3_endpoint("s3_server_dies_mid_run_then_rerun_completes") else {
        return;
    };
    let moto = Moto::start(&[]);
    let bucket = unique_bucket("dies");
    create_bucket(&moto.endpoint, &bucket);
    let proxy = Proxy::start(&moto.endpoint);
    let proxied = proxy.endpoint();

    let t = TestDir::new();
    let ids: Vec<String> = (0..6).map(|i| format!("acc_{i}")).collect();
    let sizes: Vec<u64> = (0..6).map(|i| 300 + i * 400).collect();
    let mut scenario = String::new();
    for (id, n) in ids.iter().zip(&sizes) {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = {n}\nfollowing = 0\nlatency = \"40ms\"\n"
        ));
    }
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let pairs: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "linkedin")).collect();
    let accounts: String = accounts_toml(&pairs).replace(
        "provider = \"linkedin\"\n",
        "provider = \"linkedin\"\ndatasets = [\"followers\"]\n",
    );
    let job = t.job_with(
        &sim,
        "concurrency = 3",
        &format!("url = \"s3://{bucket}/pp\""),
        &accounts,
    );

    let mut child = spawn_run_env(&job, &[], aws_env(&proxied, KEY_ID, SECRET));
    // Drained as it comes, so a full pipe never blocks the job.
    let mut pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        pipe.read_to_string(&mut s).ok();
        s
    });
    let direct = s3_store(&moto.endpoint, &bucket);
    let published = wait_until(Duration::from_secs(30), || {
        !keys(&direct, "pp/followers").is_empty()
    });
    assert!(published, "a unit was published before the server died");
    proxy.down();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the run ends once its uploads give up"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = reader.join().unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(1),
        "no manifest could be written: exit 1\n{stderr}"
    );

    let dl = t.path().join("after-kill");
    let visible = download(&direct, "pp/followers", &dl.join("followers"));
    let mut complete = 0;
    for (id, n) in ids.iter().zip(&sizes) {
        let dir = partition(&dl, "followers", "linkedin", id);
        if dir.exists() {
            assert_unit_exact(&dl, "followers", "linkedin", id, *n);
            complete += 1;
        }
    }
    assert!(
        complete >= 1 && complete < ids.len(),
        "published before the kill: complete; in flight: nothing. {complete} complete: {visible:#?}\n{stderr}"
    );
    assert!(
        stderr.contains("Unit failed; nothing published."),
        "{stderr}"
    );

    proxy.up();
    run_job_env(&job, &[], &aws_env(&proxied, KEY_ID, SECRET)).expect_code(0, &t.out());
    let dl2 = t.path().join("rerun");
    let got = download(&direct, "pp/followers", &dl2.join("followers"));
    assert_eq!(
        got.len(),
        ids.len(),
        "one part per unit, no leftovers: {got:#?}"
    );
    for (id, n) in ids.iter().zip(&sizes) {
        assert_unit_exact(&dl2, "followers", "linkedin", id, *n);
    }
}
