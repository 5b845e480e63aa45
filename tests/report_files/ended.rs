//! Runs that ran: their summary and metrics agree with the manifest they wrote.

use super::*;
use object_store::ObjectStoreExt as _;
use std::time::Duration;

/// Exit 0 against a simulator throwing 429s: the summary and the metrics agree with the
/// manifest, and both agree with what the simulator counted (records, requests, throttles);
/// the data itself is exact; the last-success timestamp is the manifest's finished_at.
#[test]
fn summary_and_metrics_of_a_successful_run() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "4",
        "--followers",
        "230",
        "--following",
        "40",
        "--fault-rate",
        "0.2",
        "--fault-kinds",
        "429",
        "--retry-after",
        "0s",
    ]);
    let ids = [
        ("acc_linkedin_0000", "linkedin"),
        ("acc_instagram_0001", "instagram"),
        ("acc_linkedin_0002", "linkedin"),
        ("acc_instagram_0003", "instagram"),
    ];
    let job = t.job(&sim, "max_attempts = 10", &accounts_toml(&ids));
    let (o, s, metrics) = run_with_files(&t, &job, &[]);
    o.expect_code(0, &t.out());
    for (id, p) in ids {
        assert_unit_exact(&t.out(), "followers", p, id, 230);
        assert_unit_exact(&t.out(), "following", p, id, 40);
    }
    let (m, mpath) = the_manifest(&t.out());
    let summary = read_json(&s);
    assert_summary_agrees(&summary, &m, &mpath, 0);
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["failed_units"], json!([]));
    assert_metrics_agree(&metrics, &m, 0);

    let stats = sim.stats();
    assert_eq!(summary["counts"]["records"], 4 * (230 + 40));
    assert_eq!(summary["counts"]["requests"], stats["requests"]);
    assert_eq!(summary["counts"]["throttled"], stats["by_status"]["429"]);
    assert!(
        stats["by_status"]["429"].as_u64() > Some(0),
        "429s were served: {stats}"
    );
    let p = parse_metrics(&metrics);
    for (id, provider) in ids {
        for ds in ["followers", "following"] {
            let labels = [("dataset", ds), ("provider", provider)];
            let want: f64 = ids
                .iter()
                .filter(|(_, pr)| *pr == provider)
                .map(|(a, _)| {
                    stats["accounts"][a][ds]["requests"]
                        .as_f64()
                        .expect("requests")
                })
                .sum();
            assert_eq!(
                sum(&p, "postpress_etl_requests", &labels),
                want,
                "{id} {ds}"
            );
        }
    }
    assert!(
        std::fs::read_dir(t.path())
            .expect("dir")
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")),
        "no temporary file left beside the summary and metrics"
    );
}

/// Exit 3: the summary lists exactly the failed unit with its error type, agrees with the
/// manifest, and the metrics have no last-success sample.
#[test]
fn summary_and_metrics_of_a_partial_run() {
    let t = TestDir::new();
    let scenario = "[[accounts]]\nid = \"acc_bad\"\nprovider = \"linkedin\"\nfollowers = 120\nfollowing = 15\n[[accounts.faults]]\ndataset = \"following\"\nfault = \"errors/account_restricted\"\n\n[[accounts]]\nid = \"acc_good\"\nprovider = \"instagram\"\nfollowers = 310\nfollowing = 25\n";
    let sim = Sim::with_scenario(&t, scenario, &[]);
    let job = t.job(
        &sim,
        "max_attempts = 2",
        &accounts_toml(&[("acc_bad", "linkedin"), ("acc_good", "instagram")]),
    );
    let (o, s, metrics) = run_with_files(&t, &job, &["--shard", "0/1"]);
    o.expect_code(3, &t.out());
    assert_unit_exact(&t.out(), "followers", "linkedin", "acc_bad", 120);
    assert_unit_exact(&t.out(), "followers", "instagram", "acc_good", 310);
    assert_unit_exact(&t.out(), "following", "instagram", "acc_good", 25);
    let (m, mpath) = the_manifest(&t.out());
    let summary = read_json(&s);
    assert_summary_agrees(&summary, &m, &mpath, 3);
    assert_eq!(summary["status"], "partial");
    assert_eq!(summary["shard"], "0/1");
    assert_eq!(
        summary["failed_units"],
        json!([{"account_id": "acc_bad", "dataset": "following", "provider": "linkedin",
                "status": "failed", "error_type": "errors/account_restricted"}])
    );
    assert_eq!(summary["counts"]["records"], 120 + 310 + 25);
    assert_metrics_agree(&metrics, &m, 3);
    let p = parse_metrics(&metrics);
    assert_eq!(
        sum(
            &p,
            "postpress_etl_units",
            &[("shard", "0/1"), ("status", "failed")]
        ),
        1.0
    );
}

/// Exit 1 with a manifest (the key itself rejected mid-run): status failed, the manifest's
/// error, the units it stopped listed as skipped.
#[test]
fn summary_and_metrics_of_a_run_fatal_error() {
    let t = TestDir::new();
    let scenario = "[[accounts]]\nid = \"acc_a\"\nprovider = \"linkedin\"\nfollowers = 500\n[[accounts.faults]]\nfault = \"errors/missing_credentials\"\n\n[[accounts]]\nid = \"acc_b\"\nprovider = \"linkedin\"\nfollowers = 500\n";
    let sim = Sim::with_scenario(&t, scenario, &[]);
    let job = t.job(
        &sim,
        "concurrency = 1",
        &accounts_toml(&[("acc_a", "linkedin"), ("acc_b", "linkedin")]),
    );
    let (o, s, metrics) = run_with_files(&t, &job, &[]);
    o.expect_code(1, &t.out());
    let (m, mpath) = the_manifest(&t.out());
    let summary = read_json(&s);
    assert_summary_agrees(&summary, &m, &mpath, 1);
    assert_eq!(summary["status"], "failed");
    assert!(
        summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("errors/missing_credentials"),
        "{summary}"
    );
    assert_eq!(summary["counts"]["ok"], 0);
    assert!(!t.out().join("followers").exists(), "nothing published");
    assert_metrics_agree(&metrics, &m, 1);
}

/// SIGTERM mid-run: exit 143, the summary "interrupted" agrees with the manifest and lists the
/// abandoned units as skipped; the metrics agree and have no last success.
#[test]
fn summary_and_metrics_of_an_interrupted_run() {
    let t = TestDir::new();
    let mut scenario = String::new();
    for (i, latency) in [(0, 1), (1, 300), (2, 300)] {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"acc_{i}\"\nprovider = \"linkedin\"\nfollowers = {}\nfollowing = 0\nlatency = \"{latency}ms\"\n",
            if i == 0 { 100 } else { 3000 }
        ));
    }
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let pairs = [
        ("acc_0", "linkedin"),
        ("acc_1", "linkedin"),
        ("acc_2", "linkedin"),
    ];
    let job = t.job(&sim, "concurrency = 3", &accounts_toml(&pairs));
    let (s, metrics) = (t.path().join("s.json"), t.path().join("m.prom"));
    let mut child = spawn_run(
        &job,
        &[
            "--summary-json",
            s.to_str().expect("utf-8"),
            "--metrics-file",
            metrics.to_str().expect("utf-8"),
        ],
    );
    let published = wait_until(Duration::from_secs(20), || {
        partition(&t.out(), "followers", "linkedin", "acc_0").exists()
    });
    assert!(published, "the fast unit was published\n{}", tree(&t.out()));
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let exited = wait_until(Duration::from_secs(15), || {
        child.try_wait().expect("try_wait").is_some()
    });
    assert!(exited, "exited after SIGTERM");
    let code = child.wait().expect("status").code();
    assert_eq!(code, Some(143));
    assert_unit_exact(&t.out(), "followers", "linkedin", "acc_0", 100);
    let (m, mpath) = the_manifest(&t.out());
    let summary = read_json(&s);
    assert_summary_agrees(&summary, &m, &mpath, 143);
    assert_eq!(summary["status"], "interrupted");
    let skipped: Vec<&Value> = summary["failed_units"]
        .as_array()
        .expect("failed_units")
        .iter()
        .filter(|u| u["status"] == "skipped" && u["error_type"] == "interrupted")
        .collect();
    assert!(
        !skipped.is_empty(),
        "the abandoned units are listed: {summary}"
    );
    assert_metrics_agree(&metrics, &m, 143);
}

/// On S3 the summary's manifest is the `s3://` URL of the manifest object, which exists.
#[test]
fn summary_names_the_s3_manifest() {
    let Some(ep) = crate::s3::s3_endpoint("summary_names_the_s3_manifest") else {
        return;
    };
    let bucket = crate::s3::unique_bucket("summary");
    crate::s3::create_bucket(&ep, &bucket);
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "2", "--followers", "120", "--following", "10"]);
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/exports/pp\""),
        &accounts_toml(&[
            ("acc_linkedin_0000", "linkedin"),
            ("acc_instagram_0001", "instagram"),
        ]),
    );
    let (o, s, metrics) = run_with_files(&t, &job, &[]);
    o.expect_code(0, &t.out());
    let summary = read_json(&s);
    let run_id = summary["run_id"].as_str().expect("run_id");
    let key = format!("exports/pp/_runs/snapshot_date={DATE}/{run_id}.json");
    assert_eq!(summary["manifest"], format!("s3://{bucket}/{key}"));
    let store = crate::s3::s3_store(&ep, &bucket);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = rt
        .block_on(async {
            store
                .get(&object_store::path::Path::from(key.as_str()))
                .await?
                .bytes()
                .await
        })
        .expect("the manifest object exists");
    let m: Value = serde_json::from_slice(&body).expect("manifest JSON");
    assert_eq!(m["run_id"], run_id);
    assert_eq!(summary["counts"]["records"], m["totals"]["records"]);
    assert_eq!(summary["counts"]["records"], 2 * (120 + 10));
    assert_metrics_agree(&metrics, &m, 0);
}
