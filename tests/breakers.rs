//! Stopping early when something global is wrong (SPEC §3, issue 12): a rejected key, a wrong
//! base_url or an unreachable API stop the run after the first units instead of failing every
//! account one by one; accounts that fail one by one still give exit 3; a shard uses its share
//! of the key's budget; a destination that dies stops the run (with the S3 test server).

use crate::s3::{
    KEY_ID, Moto, Proxy, SECRET, aws_env, create_bucket, download, keys, s3_endpoint, s3_store,
    unique_bucket,
};
use crate::util::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The last ERROR line of a run's stderr.
fn last_error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_default()
}

/// The units of a manifest with the given status.
fn units_with(m: &Value, status: &str) -> Vec<Value> {
    m["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["status"] == status)
        .cloned()
        .collect()
}

/// Waits for a spawned run to exit (killed and failed after `limit`), its stderr drained as it
/// comes so a full pipe never blocks it; returns the exit code and the stderr.
fn finish(mut child: std::process::Child, limit: Duration) -> (Option<i32>, String) {
    let mut pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut s).ok();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), reader.join().unwrap_or_default())
}

fn linkedin_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("acc_linkedin_{i:04}")).collect()
}

fn pairs(ids: &[String]) -> Vec<(&str, &str)> {
    ids.iter().map(|i| (i.as_str(), "linkedin")).collect()
}

/// A wrong API key (401 errors/invalid_credentials on every request) for 60 accounts: the run
/// stops after the first 10 units with exit 1, having sent at most 20 requests, and its last
/// ERROR line names what every account got and the API key. Before: 120 requests, exit 3.
#[test]
fn issue_12_wrong_key_stops_the_run_after_ten_units() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "60",
        "--followers",
        "150",
        "--following",
        "20",
        "--provider",
        "linkedin",
    ]);
    let ids = linkedin_ids(60);
    let job = t.job(&sim, "", &accounts_toml(&pairs(&ids)));
    let o = run_job_env(&job, &[], &[("POSTPRESS_API_KEY", "pp_wrong_key")]);
    o.expect_code(1, &t.out());

    let stats = sim.stats();
    let requests = stats["requests"].as_u64().unwrap_or(u64::MAX);
    assert!(
        requests <= 20,
        "at most 20 requests, sent {requests}: {stats}"
    );
    assert_eq!(
        stats["by_status"]["401"].as_u64(),
        Some(requests),
        "{stats}"
    );

    let m = &manifests(&t.out())[0];
    assert_eq!(m["status"], "failed");
    let error = m["error"].as_str().unwrap_or_default();
    assert_eq!(
        error,
        "every account tried got HTTP 401 errors/invalid_credentials (the first 10 units, no page received): check the API key (POSTPRESS_API_KEY or api.api_key_file); no other unit was started"
    );
    assert_eq!(units_with(m, "failed").len(), 10, "{m}");
    let skipped = units_with(m, "skipped");
    assert_eq!(skipped.len(), 110);
    assert!(skipped.iter().all(|u| u["attempts"] == 0), "never started");
    let last = last_error_line(&o.stderr);
    assert!(
        last.contains(error),
        "the last ERROR line says it: {last}\n{}",
        o.stderr
    );
    assert!(
        o.stdout.contains(error),
        "so does the summary: {}",
        o.stdout
    );
    assert!(!t.out().join("followers").exists(), "{}", tree(&t.out()));
}

/// base_url pointing at the wrong path (404 on every request): the run stops after the first
/// 10 units, naming base_url with its host:port.
#[test]
fn issue_12_wrong_base_url_names_it() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "30",
        "--followers",
        "10",
        "--following",
        "10",
        "--provider",
        "linkedin",
    ]);
    let ids = linkedin_ids(30);
    let job = t.job(&sim, "", &accounts_toml(&pairs(&ids)));
    let text = std::fs::read_to_string(&job)
        .expect("job")
        .replace(&sim.base_url(), &format!("{}/v2", sim.url));
    let job = t.write("job-v2.toml", &text);
    let o = run_job(&job, &[]);
    o.expect_code(1, &t.out());
    let host = sim.url.trim_start_matches("http://");
    let last = last_error_line(&o.stderr);
    assert!(
        last.contains("every account tried got HTTP 404 errors/resource_not_found")
            && last.contains(&format!(
                "check base_url: {host} does not serve the API's paths"
            )),
        "{last}\n{}",
        o.stderr
    );
    assert!(sim.stats()["requests"].as_u64().unwrap_or(u64::MAX) <= 20);
}

/// Nothing listening at base_url (a closed loopback port): every request is a connection error,
/// retried; the run stops with exit 1 after at most 10 units, well within 30 s, and names
/// base_url's host:port. Before: every unit spent its retries, exit 3 "PARTIAL".
#[test]
fn issue_12_unreachable_api_stops_the_run() {
    let t = TestDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let ids = linkedin_ids(30);
    let base_url = format!("http://127.0.0.1:{port}/api/v1");
    let job = t.job_at(&base_url, "job-closed.toml", &accounts_toml(&pairs(&ids)));
    let (code, stderr) = finish(spawn_run(&job, &[]), Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");

    let m = &manifests(&t.out())[0];
    let tried: Vec<&Value> = m["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["attempts"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert!(
        !tried.is_empty() && tried.len() <= 10,
        "{} units tried: {m}",
        tried.len()
    );
    for u in &tried {
        assert_eq!(u["error"]["type"], "connection", "{u}");
        assert_eq!(u["attempts"], 8, "each spent its attempts: {u}");
    }
    let last = last_error_line(&stderr);
    assert!(
        last.contains("every account tried got a connection error (")
            && last.contains(&format!(
                "check base_url and the network: nothing usable answered at 127.0.0.1:{port}"
            )),
        "{last}\n{stderr}"
    );
}

/// 60 accounts where five fail with 401 errors/invalid_credentials (10 units) and the rest
/// succeed: no trip, exit 3, the 110 other units published exactly. The first account is slow,
/// so its first page arrives while the failing units end: a received page keeps the breaker off
/// even when the first units to end all failed the same way.
#[test]
fn issue_12_a_few_rejected_accounts_still_exit_3() {
    let t = TestDir::new();
    let mut ids = vec!["acc_slow".to_owned()];
    let mut scenario = String::from(
        "[[accounts]]\nid = \"acc_slow\"\nprovider = \"linkedin\"\nfollowers = 1000\nfollowing = 5\nlatency = \"150ms\"\n\n",
    );
    for i in 0..5 {
        let id = format!("acc_denied_{i}");
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = 30\nfollowing = 3\n[[accounts.faults]]\nfault = \"errors/invalid_credentials\"\n\n"
        ));
        ids.push(id);
    }
    for i in 0..54 {
        let id = format!("acc_ok_{i:02}");
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = 30\nfollowing = 3\n\n"
        ));
        ids.push(id);
    }
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let job = t.job(&sim, "", &accounts_toml(&pairs(&ids)));
    let o = run_job(&job, &[]);
    o.expect_code(3, &t.out());
    let m = &manifests(&t.out())[0];
    assert_eq!(m["status"], "partial");
    assert!(m.get("error").is_none(), "{m}");
    let failed = units_with(m, "failed");
    assert_eq!(failed.len(), 10, "{m}");
    for u in &failed {
        assert!(
            u["account_id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("acc_denied_")
        );
        assert_eq!(u["error"]["type"], "errors/invalid_credentials");
    }
    assert_eq!(units_with(m, "ok").len(), 110);
    assert_unit_exact(&t.out(), "followers", "linkedin", "acc_slow", 1000);
    assert_unit_exact(&t.out(), "following", "linkedin", "acc_slow", 5);
    for id in ids.iter().filter(|i| i.starts_with("acc_ok_")) {
        assert_unit_exact(&t.out(), "followers", "linkedin", id, 30);
        assert_unit_exact(&t.out(), "following", "linkedin", id, 3);
    }
}

/// `--shard 0/4` at requests_per_second = 10 sends at most 2.5 requests/s, as the simulator
/// measures it (at most 3 in any second, 26 in any 10 s, over more than 25 requests),
/// says so on its first log line, and publishes its accounts exactly. Before: up to 10/s.
#[test]
fn issue_12_a_shard_uses_its_share_of_the_key() {
    let t = TestDir::new();
    let n = 48;
    let sim = Sim::start(&[
        "--accounts",
        &n.to_string(),
        "--followers",
        "150",
        "--following",
        "5",
        "--provider",
        "linkedin",
    ]);
    let ids = linkedin_ids(n);
    let job = t.job(
        &sim,
        "requests_per_second = 10.0",
        &accounts_toml(&pairs(&ids)),
    );
    let o = run_job(&job, &["--shard", "0/4"]);
    o.expect_code(0, &t.out());
    let first = o.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("2.5 requests/s (1/4 of the key's 10)"),
        "the first log line gives the rate: {first}"
    );

    let stats = sim.stats();
    let requests = stats["requests"].as_u64().unwrap_or(0);
    assert!(
        requests > 25,
        "enough requests to measure over 10 s: {stats}"
    );
    // Sends 400 ms apart: at most 3 in a second and 26 in 10 s (26 sends span exactly 10 s;
    // a millisecond of arrival jitter can bring both ends into one half-open window).
    let peak = &stats["peak_requests"];
    assert!(peak["1s"].as_u64().unwrap_or(u64::MAX) <= 3, "{stats}");
    assert!(peak["10s"].as_u64().unwrap_or(u64::MAX) <= 26, "{stats}");

    // The overall rate: n requests paced 400 ms apart span at least (n - 1) × 0.4 s.
    let m = &manifests(&t.out())[0];
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(m[k].as_str().unwrap_or_default())
            .expect("an RFC 3339 time")
            .timestamp_millis()
    };
    let secs = (at("finished_at") - at("started_at")) as f64 / 1000.0;
    let rate = (requests - 1) as f64 / secs;
    assert!(rate <= 2.5, "{rate:.3} requests/s over {secs} s");
    let mine: std::collections::BTreeSet<&str> = m["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["account_id"].as_str())
        .collect();
    assert!(!mine.is_empty() && mine.len() < n, "{m}");
    for id in &mine {
        assert_unit_exact(&t.out(), "followers", "linkedin", id, 150);
        assert_unit_exact(&t.out(), "following", "linkedin", id, 5);
    }
}

/// The destination breaker: the S3 server dies mid-run and stays down. Before, every remaining
/// unit fetched its whole list and spent its own upload retries before failing (19 storage
/// failures of 20 units). Now the run stops after 3 units in a row fail to write (exit 1): at
/// most 3 storage failures, and the accounts fetched are only those published before, the 3
/// that failed and those in flight when it stopped (fetching, or fetched and waiting to publish:
/// at most twice `concurrency`). The last ERROR line names the destination.
#[test]
fn issue_12_dead_destination_stops_fetching() {
    let Some(_) = s3_endpoint("issue_12_dead_destination_stops_fetching") else {
        return;
    };
    let moto = Moto::start(&[]);
    let bucket = unique_bucket("breaker");
    create_bucket(&moto.endpoint, &bucket);
    let proxy = Proxy::start(&moto.endpoint);
    let t = TestDir::new();
    let (n, concurrency) = (20, 3);
    let ids: Vec<String> = (0..n).map(|i| format!("acc_{i:02}")).collect();
    let scenario: String = ids
        .iter()
        .map(|id| format!("[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = 300\nlatency = \"40ms\"\n"))
        .collect();
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let accounts = accounts_toml(&pairs(&ids)).replace(
        "provider = \"linkedin\"\n",
        "provider = \"linkedin\"\ndatasets = [\"followers\"]\n",
    );
    let output = format!("url = \"s3://{bucket}/pp\"");
    let job = t.job_with(
        &sim,
        &format!("concurrency = {concurrency}"),
        &output,
        &accounts,
    );
    let proxied = proxy.endpoint();
    let child = spawn_run_env(
        &job,
        &["--log-format", "json"],
        aws_env(&proxied, KEY_ID, SECRET),
    );
    let direct = s3_store(&moto.endpoint, &bucket);
    let published = wait_until(Duration::from_secs(30), || {
        !keys(&direct, "pp/followers").is_empty()
    });
    assert!(published, "a unit was published before the server died");
    proxy.down();
    let (code, stderr) = finish(child, Duration::from_secs(180));
    assert_eq!(code, Some(1), "{stderr}");
    assert_destination_breaker_log(&stderr);

    let visible = keys(&direct, "pp/followers");
    let dl = t.path().join("after");
    download(&direct, "pp/followers", &dl.join("followers"));
    for k in &visible {
        let id = k
            .split("account_id=")
            .nth(1)
            .and_then(|r| r.split('/').next());
        assert_unit_exact(
            &dl,
            "followers",
            "linkedin",
            id.expect("account in key"),
            300,
        );
    }
    let fetched = sim.stats()["accounts"]
        .as_object()
        .map(|a| {
            a.values()
                .filter(|s| s["requests"].as_u64() > Some(0))
                .count()
        })
        .unwrap_or(0);
    // Units in flight when the breaker trips finish their fetch: those holding fetch slots and
    // those past them, fetched and waiting to publish (the publish backlog, issue 14).
    let in_flight = concurrency + concurrency.min(postpress_etl::run::PUBLISH_BACKLOG);
    assert!(
        fetched <= visible.len() + 3 + in_flight && fetched < n,
        "{fetched} accounts fetched, {} published\n{stderr}",
        visible.len()
    );
}

/// At most 3 units failed for storage, and the last ERROR line is the destination breaker's.
fn assert_destination_breaker_log(stderr: &str) {
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let storage_failures = lines
        .iter()
        .filter(|l| {
            l["message"] == "Unit failed; nothing published." && l["error_type"] == "storage"
        })
        .count();
    assert!(
        (1..=3).contains(&storage_failures),
        "{storage_failures} storage failures\n{stderr}"
    );
    let last = lines
        .iter()
        .rev()
        .find(|l| l["level"] == "ERROR")
        .expect("an ERROR line");
    assert_eq!(last["message"], "Run failed.", "{last}");
    let why = last["error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("3 units in a row could not be written to the destination"),
        "{last}"
    );
}
