//! Running unattended: graceful stop on SIGTERM, sharding across pods, JSON logs, manifests for
//! every way a run can end.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success(), "kill {sig} {pid}");
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> (Option<i32>, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status.code(), start.elapsed());
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM while units wait on slow pages and on a long backoff: exit 143 within 10 s, manifest
/// `interrupted`, nothing partial visible, staging cleaned; a rerun then completes exactly.
#[test]
fn sigterm_stops_cleanly_within_ten_seconds() {
    let t = TestDir::new();
    let mut scenario = String::new();
    let ids: Vec<String> = (0..6).map(|i| format!("acc_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = {}\nfollowing = 0\nlatency = \"{}ms\"\n",
            100 + i * 300,
            if i == 0 { 1 } else { 400 }
        ));
        // One unit sits in a 60-second Retry-After when the signal comes.
        if i == 5 {
            scenario.push_str("[[accounts.faults]]\nfault = \"429\"\n");
        }
    }
    scenario.push_str("[faults]\nretry_after = \"60s\"\nrate = 0.0\n");
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let pairs: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "linkedin")).collect();
    let job = t.job(
        &sim,
        "concurrency = 6\nbackoff_max = \"2m\"",
        &accounts_toml(&pairs),
    );
    let mut child = spawn_run(&job, &[]);
    let published = wait_until(Duration::from_secs(20), || {
        partition(&t.out(), "followers", "linkedin", "acc_0").exists()
    });
    assert!(published, "the fast unit was published\n{}", tree(&t.out()));
    // The throttled unit is in its 60-second Retry-After once the simulator has answered 429.
    let throttled = wait_until(Duration::from_secs(20), || {
        sim.stats()["by_status"]["429"].as_u64().unwrap_or(0) >= 1
    });
    assert!(throttled, "the throttled unit got its 429: {}", sim.stats());
    signal(child.id(), "-TERM");
    let (code, took) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, Some(143));
    assert!(took < Duration::from_secs(10), "exited in {took:?}");

    let m = manifests(&t.out());
    assert_eq!(m.len(), 1, "{}", tree(&t.out()));
    assert_eq!(m[0]["status"], "interrupted");
    assert_eq!(m[0]["signal"], "SIGTERM");
    let skipped = m[0]["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["status"] == "skipped")
        .count();
    assert!(skipped >= 1, "units in flight were abandoned: {}", m[0]);
    for (i, id) in ids.iter().enumerate() {
        if partition(&t.out(), "followers", "linkedin", id).exists() {
            assert_unit_exact(&t.out(), "followers", "linkedin", id, 100 + i as u64 * 300);
        }
    }
    assert!(
        files_below(&t.out().join("_staging")).is_empty(),
        "staging cleaned:\n{}",
        tree(&t.out())
    );

    // The rerun, against a simulator without the throttle, completes exactly.
    let t2 = TestDir::new();
    let sim2 = Sim::with_scenario(
        &t2,
        &scenario
            .replace("[[accounts.faults]]\nfault = \"429\"\n", "")
            .replace("latency = \"400ms\"", "latency = \"1ms\""),
        &[],
    );
    let text = std::fs::read_to_string(&job)
        .expect("job")
        .replace(&sim.base_url(), &sim2.base_url());
    let job2 = t.write("job2.toml", &text);
    run_job(&job2, &[]).expect_code(0, &t.out());
    for (i, id) in ids.iter().enumerate() {
        assert_unit_exact(&t.out(), "followers", "linkedin", id, 100 + i as u64 * 300);
    }
}

/// Three shards run in parallel against one simulator: their units are disjoint, their union is
/// every unit, each writes its own manifest, and the data equals a single run's.
#[test]
fn shards_cover_every_account_exactly_once() {
    let t = TestDir::new();
    let n = 12;
    let ids: Vec<String> = (0..n).map(|i| format!("acc_linkedin_{i:04}")).collect();
    let sim = Sim::start(&[
        "--accounts",
        &n.to_string(),
        "--followers",
        "150",
        "--following",
        "20",
        "--provider",
        "linkedin",
    ]);
    let pairs: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "linkedin")).collect();
    let job = t.job(&sim, "", &accounts_toml(&pairs));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let job = job.clone();
            std::thread::spawn(move || run_job(&job, &["--shard", &format!("{i}/3")]))
        })
        .collect();
    for h in handles {
        h.join().expect("shard thread").expect_code(0, &t.out());
    }
    let m = manifests(&t.out());
    assert_eq!(m.len(), 3, "one manifest per shard");
    let mut seen = BTreeSet::new();
    let mut shards = BTreeSet::new();
    for man in &m {
        shards.insert(man["shard"].as_str().unwrap_or_default().to_owned());
        for u in man["units"].as_array().into_iter().flatten() {
            let key = (
                u["account_id"].as_str().unwrap_or_default().to_owned(),
                u["dataset"].as_str().unwrap_or_default().to_owned(),
            );
            assert!(seen.insert(key.clone()), "unit {key:?} in two shards");
        }
    }
    assert_eq!(
        shards,
        ["0/3", "1/3", "2/3"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(seen.len(), 2 * n, "every unit in exactly one shard");
    for id in &ids {
        assert_unit_exact(&t.out(), "followers", "linkedin", id, 150);
        assert_unit_exact(&t.out(), "following", "linkedin", id, 20);
    }
    // The same data as a single run (whose reader tables the shards leave to finalize).
    let single = TestDir::new();
    let job1 = single.job_with(&sim, "", "tables = false", &accounts_toml(&pairs));
    run_job(&job1, &[]).expect_code(0, &single.out());
    let strip = |root: &std::path::Path| -> BTreeSet<String> {
        files_below(root)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
            .collect()
    };
    assert_eq!(strip(&t.out()), strip(&single.out()));
    // auto/N reads JOB_COMPLETION_INDEX.
    let o = etl(
        &[
            "validate",
            job.to_str().expect("utf-8"),
            "--shard",
            "auto/3",
        ],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    o.expect_code(0, t.path());
    assert!(o.stdout.contains("in shard 1/3"), "{}", o.stdout);
}

/// `--log-format json`: every line is one JSON object with timestamp, level and message; unit
/// lines carry account_id and dataset; retried requests carry attempt, status, error type, wait.
#[test]
fn json_logs_parse_and_carry_unit_fields() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(
        &t,
        "[[accounts]]\nid = \"acc_j\"\nprovider = \"linkedin\"\nfollowers = 250\nfollowing = 5\n[[accounts.faults]]\ndataset = \"followers\"\npage = 1\nfault = \"errors/provider_error\"\ntimes = 2\n[[accounts.faults]]\ndataset = \"following\"\nfault = \"errors/account_restricted\"\n",
        &[],
    );
    let job = t.job(&sim, "", &accounts_toml(&[("acc_j", "linkedin")]));
    let o = run_job_env(&job, &["--log-format", "json"], &[("RUST_LOG", "debug")]);
    o.expect_code(3, &t.out());
    let lines: Vec<Value> = o
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 5, "{}", o.stderr);
    for l in &lines {
        assert!(
            l["timestamp"].is_string() && l["level"].is_string() && l["message"].is_string(),
            "{l}"
        );
    }
    let unit_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "unit")
        .collect();
    assert!(!unit_lines.is_empty());
    for l in &unit_lines {
        assert_eq!(l["span"]["account_id"], "acc_j", "{l}");
        assert!(
            l["span"]["dataset"] == "followers" || l["span"]["dataset"] == "following",
            "{l}"
        );
    }
    let retries: Vec<&&Value> = unit_lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["attempt"].is_number())
        .collect();
    assert_eq!(retries.len(), 2, "two retried requests: {}", o.stderr);
    for r in retries {
        assert_eq!(r["status"], 500);
        assert_eq!(r["error_type"], "errors/provider_error");
        assert!(
            r["delay_ms"].is_number() && r["max_attempts"].is_number(),
            "{r}"
        );
    }
    let failed = unit_lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("the failed unit logs an error");
    assert_eq!(failed["error_type"], "errors/account_restricted");
    assert_eq!(failed["span"]["dataset"], "following");
}

/// Manifests of runs that exit 0, 1, 3 and 143 each parse and carry their status.
#[test]
fn manifests_carry_every_exit_status() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(
        &t,
        "[[accounts]]\nid = \"ok_acc\"\nprovider = \"instagram\"\nfollowers = 20\nfollowing = 0\n\
         [[accounts]]\nid = \"bad_acc\"\nprovider = \"instagram\"\nfollowers = 20\nfollowing = 0\n[[accounts.faults]]\nfault = \"errors/resource_not_found\"\n\
         [[accounts]]\nid = \"fatal_acc\"\nprovider = \"instagram\"\nfollowers = 20\nfollowing = 0\n[[accounts.faults]]\nfault = \"errors/insufficient_privileges\"\n\
         [[accounts]]\nid = \"slow_acc\"\nprovider = \"instagram\"\nfollowers = 2000\nfollowing = 0\nlatency = \"500ms\"\n",
        &[],
    );
    let cases = [
        ("ok_acc", 0, "ok"),
        ("bad_acc", 3, "partial"),
        ("fatal_acc", 1, "failed"),
    ];
    for (acc, code, status) in cases {
        let d = TestDir::new();
        let mut pairs = vec![("ok_acc", "instagram")];
        if acc != "ok_acc" {
            pairs.push((acc, "instagram"));
        }
        let job = d.job(&sim, "", &accounts_toml(&pairs));
        run_job(&job, &[]).expect_code(code, &d.out());
        let m = manifests(&d.out());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["status"], status, "{acc}");
        assert_eq!(m[0]["run_id"].as_str().map(str::len), Some(23), "{}", m[0]);
    }
    let d = TestDir::new();
    let job = d.job(&sim, "", &accounts_toml(&[("slow_acc", "instagram")]));
    let mut child = spawn_run(&job, &[]);
    assert!(wait_until(
        Duration::from_secs(10),
        || sim.stats()["accounts"]["slow_acc"]["requests"]
            .as_u64()
            .unwrap_or(0)
            >= 2
    ));
    signal(child.id(), "-INT");
    let (code, _) = wait_exit(&mut child, Duration::from_secs(12));
    assert_eq!(code, Some(130));
    let m = manifests(&d.out());
    assert_eq!(m[0]["status"], "interrupted");
    assert_eq!(m[0]["signal"], "SIGINT");
    assert!(!d.out().join("followers").exists(), "nothing published");
}
