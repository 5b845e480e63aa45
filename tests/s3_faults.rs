//! The S3 destination under faults: scripts/s3-fault-proxy.py in front of the S3 test server
//! answers a share of requests with 503 SlowDown, 500 InternalError, a connection reset or a
//! stall. At 10% a run (with its own reader tables) and a finalize are exact and exit 0; at
//! 100% they stop (exit 1) with a message naming what the server said, as the server's failure.
//!
//! Gated by `POSTPRESS_S3_TESTS`, like tests/s3/.

use crate::s3::{
    KEY_ID, SECRET, aws_env, create_bucket, download, s3_endpoint, s3_store, unique_bucket,
};
use crate::util::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The fault proxy in front of `upstream`, killed on drop.
struct Proxy {
    child: Child,
    endpoint: String,
}

impl Proxy {
    fn start(upstream: &str, rate: f64, faults: &str) -> Proxy {
        Proxy::start_with(upstream, rate, faults, &[])
    }

    fn start_with(upstream: &str, rate: f64, faults: &str, extra: &[&str]) -> Proxy {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/s3-fault-proxy.py");
        let mut child = Command::new("python3")
            .args([script, "--upstream", upstream, "--rate", &rate.to_string()])
            .args(["--faults", faults, "--stall", "1.5", "--seed", "7"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the proxy prints its address");
        let endpoint = line.trim().to_owned();
        assert!(endpoint.starts_with("http://"), "proxy address: {line:?}");
        Proxy { child, endpoint }
    }

    fn stats(&self) -> serde_json::Value {
        let body = http_get(&self.endpoint, "/_proxy/stats");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("proxy stats {body:?}: {e}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// At 10% of requests faulty (all four kinds), a run that builds its tables exits 0 and every
/// record read back is exactly what the simulator served; the manifest and the summary count
/// storage retries; a finalize of the date through the proxy exits 0 and its tables read back.
#[test]
fn s3_run_and_finalize_are_exact_at_ten_percent_faults() {
    let Some(ep) = s3_endpoint("s3_run_and_finalize_are_exact_at_ten_percent_faults") else {
        return;
    };
    let bucket = unique_bucket("faults");
    create_bucket(&ep, &bucket);
    let proxy = Proxy::start(&ep, 0.1, "503,500,reset,stall");
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, crate::run::SIZES, &[]);
    let prefix = "pp";
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/{prefix}\""),
        &crate::run::size_accounts(),
    );
    let summary = t.path().join("summary.json");
    let o = run_job_env(
        &job,
        &["--summary-json", summary.to_str().expect("utf-8")],
        &aws_env(&proxy.endpoint, KEY_ID, SECRET),
    );
    o.expect_code(0, &t.out());
    let faults = proxy.stats();
    let dl = t.path().join("download");
    download(&s3_store(&ep, &bucket), prefix, &dl);
    crate::run::assert_all_sizes_exact(&dl);
    let m = manifests(&dl);
    assert_eq!(m.len(), 1);
    assert!(
        m[0]["totals"]["storage_retries"].is_u64(),
        "{}",
        m[0]["totals"]
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).expect("summary")).expect("JSON");
    assert_eq!(
        s["counts"]["storage_retries"],
        m[0]["totals"]["storage_retries"]
    );
    assert!(
        !finalize_manifests(&dl).is_empty(),
        "the run built its tables\n{}",
        tree(&dl)
    );
    let fin = etl(
        &[
            "finalize",
            job.to_str().expect("utf-8"),
            "--snapshot-date",
            DATE,
        ],
        &aws_env(&proxy.endpoint, KEY_ID, SECRET),
    );
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let after = proxy.stats();
    let dl2 = t.path().join("download2");
    download(&s3_store(&ep, &bucket), prefix, &dl2);
    assert_eq!(finalize_manifests(&dl2).len(), 2, "{}", tree(&dl2));
    let rows: usize = files_below(&dl2.join("tables/account_daily"))
        .iter()
        .map(|f| read_file(f).1.iter().map(|b| b.num_rows()).sum::<usize>())
        .sum();
    assert_eq!(rows, 20, "account_daily has a row per unit");
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    let faulty = ["503", "500", "reset", "stall"]
        .iter()
        .map(|k| n(&after, k))
        .sum::<u64>();
    eprintln!(
        "10% faults: {} requests, {faulty} faulted (run: {} of {}), storage_retries {}",
        n(&after, "requests"),
        ["503", "500", "reset", "stall"]
            .iter()
            .map(|k| n(&faults, k))
            .sum::<u64>(),
        n(&faults, "requests"),
        m[0]["totals"]["storage_retries"]
    );
    assert!(faulty > 0, "the proxy did fault: {after}");
}

/// Every request answered 500 InternalError, then every one 503 SlowDown: the run and a finalize
/// exit 1, naming the server's answer as the server's failure, not a refusal of the write.
#[test]
fn s3_run_and_finalize_stop_at_full_faults_naming_the_server() {
    let Some(ep) = s3_endpoint("s3_run_and_finalize_stop_at_full_faults_naming_the_server") else {
        return;
    };
    let bucket = unique_bucket("down");
    create_bucket(&ep, &bucket);
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, crate::run::SIZES, &[]);
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\""),
        &crate::run::size_accounts(),
    );
    for (fault, said) in [("500", "500 InternalError"), ("503", "SlowDown")] {
        let proxy = Proxy::start(&ep, 1.0, fault);
        let env = aws_env(&proxy.endpoint, KEY_ID, SECRET);
        let o = run_job_env(&job, &[], &env);
        assert_eq!(o.code, Some(1), "{}", o.stderr);
        assert!(
            o.stderr.contains(said),
            "{fault}: names what the server said:\n{}",
            o.stderr
        );
        assert!(o.stderr.contains("the server failed"), "{}", o.stderr);
        assert!(!o.stderr.contains("refused the write"), "{}", o.stderr);
        let fin = etl(
            &[
                "finalize",
                job.to_str().expect("utf-8"),
                "--snapshot-date",
                DATE,
            ],
            &env,
        );
        assert_eq!(fin.code, Some(1), "{}", fin.stderr);
        assert!(
            fin.stderr.contains(said),
            "{fault}: finalize names it:\n{}",
            fin.stderr
        );
        assert_eq!(
            sim.stats()["requests"].as_u64().unwrap_or(0),
            0,
            "no API request"
        );
    }
}

/// A server that ignores conditional writes (the proxy strips If-Match / If-None-Match): the run
/// and a finalize refuse it before any API request, saying why and what the job can set; with
/// `output.exclusive_leases = false` the run goes on with advisory leases and exits 0.
#[test]
fn s3_store_ignoring_conditional_writes_is_refused_unless_the_job_opts_out() {
    let Some(ep) =
        s3_endpoint("s3_store_ignoring_conditional_writes_is_refused_unless_the_job_opts_out")
    else {
        return;
    };
    let bucket = unique_bucket("nocond");
    create_bucket(&ep, &bucket);
    let proxy = Proxy::start_with(&ep, 0.0, "", &["--strip-conditions"]);
    let env = aws_env(&proxy.endpoint, KEY_ID, SECRET);
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, crate::run::SIZES, &[]);
    let url = format!("url = \"s3://{bucket}/pp\"");
    let job = t.job_with(&sim, "", &url, &crate::run::size_accounts());
    let o = run_job_env(&job, &[], &env);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("does not honour conditional writes")
            && o.stderr.contains("output.exclusive_leases = false"),
        "{}",
        o.stderr
    );
    assert_eq!(
        sim.stats()["requests"].as_u64().unwrap_or(0),
        0,
        "no API request"
    );
    let fin = etl(
        &[
            "finalize",
            job.to_str().expect("utf-8"),
            "--snapshot-date",
            DATE,
        ],
        &env,
    );
    assert_eq!(fin.code, Some(1), "{}", fin.stderr);
    assert!(
        fin.stderr.contains("does not honour conditional writes"),
        "{}",
        fin.stderr
    );
    let advisory = t.job_with(
        &sim,
        "",
        &format!("{url}\nexclusive_leases = false\ntables = false"),
        &crate::run::size_accounts(),
    );
    let o = run_job_env(&advisory, &[], &env);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let dl = t.path().join("download");
    download(&s3_store(&ep, &bucket), "pp", &dl);
    crate::run::assert_all_sizes_exact(&dl);
}
