//! Runs that stopped before they started: a summary without a run id or manifest, and metrics
//! only when the job file was good (exit 1), never on a usage error (exit 2).

use super::*;

/// Exit 1 before the run starts (an S3 endpoint nothing listens on): no run id, no manifest,
/// zero counts and the error in the summary; the metrics say exit 1 with zero totals.
#[test]
fn summary_and_metrics_of_a_run_that_could_not_start() {
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1"]);
    let job = t.job_with(
        &sim,
        "",
        "url = \"s3://pp-nowhere/pp\"",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dead = format!("http://127.0.0.1:{port}");
    let (s, metrics) = (t.path().join("s.json"), t.path().join("m.prom"));
    let envs = [
        ("AWS_ENDPOINT_URL", dead.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let args = [
        "--summary-json",
        s.to_str().expect("utf-8"),
        "--metrics-file",
        metrics.to_str().expect("utf-8"),
    ];
    let o = run_job_env(&job, &args, &envs);
    o.expect_code(1, &t.out());
    assert_eq!(sim.stats()["requests"], 0, "nothing was sent");
    let summary = read_json(&s);
    let error = summary["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        o.stderr.contains(&error),
        "the summary's error is the one printed: {error:?}"
    );
    assert!(
        error.contains("pp-nowhere") && error.contains("cannot be reached"),
        "{error}"
    );
    assert_eq!(
        summary,
        json!({
            "status": "failed", "exit_code": 1, "error": error, "job": "test-job",
            "run_id": null, "snapshot_date": DATE, "shard": null,
            "counts": {"units": 0, "ok": 0, "failed": 0, "skipped": 0, "records": 0,
                       "requests": 0, "retries": 0, "throttled": 0,
                       "storage_retries": 0},
            "failed_units": [], "manifest": null,
        })
    );
    let p = parse_metrics(&metrics);
    assert_eq!(sum(&p, "postpress_etl_exit_code", &[]), 1.0);
    for family in [
        "postpress_etl_units",
        "postpress_etl_records",
        "postpress_etl_requests",
    ] {
        assert_eq!(sum(&p, family, &[]), 0.0, "{family}");
    }
    assert!(!p.contains_key("postpress_etl_last_success_timestamp_seconds"));
}

/// Exit 2 on each kind of usage or job-file error: the summary says "invalid" with the very
/// message printed on stderr, what was known (date, shard), zero counts; no metrics file.
#[test]
fn summary_of_usage_and_job_file_errors() {
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1", "--followers", "5", "--following", "5"]);
    let good = t.job(
        &sim,
        "",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let text = std::fs::read_to_string(&good).expect("job");
    let bad = t.write(
        "bad.toml",
        &text.replace("[fetch]\n", "[fetch]\nconcurency = 3\n"),
    );
    let (s, metrics) = (t.path().join("s.json"), t.path().join("m.prom"));
    let (s_arg, m_arg) = (s.to_str().expect("utf-8"), metrics.to_str().expect("utf-8"));
    let cases: [(&str, Vec<&str>, Value, Value, &str); 4] = [
        (
            "unknown job key",
            vec![
                "run",
                bad.to_str().expect("utf-8"),
                "--snapshot-date",
                DATE,
                "--shard",
                "1/3",
            ],
            json!(DATE),
            json!("1/3"),
            "unknown field `concurency`",
        ),
        (
            "bad date",
            vec![
                "run",
                good.to_str().expect("utf-8"),
                "--snapshot-date",
                "2026-02-30",
            ],
            Value::Null,
            Value::Null,
            "--snapshot-date \"2026-02-30\" is not allowed; use a real date as YYYY-MM-DD",
        ),
        (
            "bad shard",
            vec![
                "run",
                good.to_str().expect("utf-8"),
                "--snapshot-date",
                DATE,
                "--shard",
                "3/3",
            ],
            json!(DATE),
            Value::Null,
            "3/3",
        ),
        (
            "clap error",
            vec![
                "run",
                good.to_str().expect("utf-8"),
                "--concurrency",
                "many",
            ],
            Value::Null,
            Value::Null,
            "invalid value 'many' for '--concurrency <CONCURRENCY>'",
        ),
    ];
    for (case, mut args, date, shard, says) in cases {
        std::fs::remove_file(&s).ok();
        args.extend(["--summary-json", s_arg, "--metrics-file", m_arg]);
        let o = etl(&args, &[]);
        o.expect_code(2, &t.out());
        let summary = read_json(&s);
        let error = summary["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(says), "{case}: {error:?}");
        assert!(
            o.stderr.contains(&error),
            "{case}: stderr has {error:?}:\n{}",
            o.stderr
        );
        assert_eq!(
            summary,
            json!({
                "status": "invalid", "exit_code": 2, "error": error, "job": null,
                "run_id": null, "snapshot_date": date, "shard": shard,
                "counts": {"units": 0, "ok": 0, "failed": 0, "skipped": 0, "records": 0,
                           "requests": 0, "retries": 0, "throttled": 0,
                       "storage_retries": 0},
                "failed_units": [], "manifest": null,
            }),
            "{case}"
        );
        assert!(!metrics.exists(), "{case}: no metrics on exit 2");
        assert!(!t.out().exists(), "{case}: nothing written");
    }
    assert_eq!(sim.stats()["requests"], 0, "nothing was sent");
}

/// The files' own paths are checked before anything else: a missing directory is exit 2 with a
/// message naming the flag and the path; a bad metrics path still gets its summary.
#[test]
fn bad_summary_and_metrics_paths_exit_2() {
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1", "--followers", "5", "--following", "5"]);
    let job = t.job(
        &sim,
        "",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let nowhere = t.path().join("nowhere");
    let s_bad = nowhere.join("s.json");
    let o = run_job(&job, &["--summary-json", s_bad.to_str().expect("utf-8")]);
    o.expect_code(2, &t.out());
    let want = format!(
        "postpress-etl: error: --summary-json {}: directory {} does not exist; give a file path \
         in an existing directory",
        s_bad.display(),
        nowhere.display()
    );
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    assert!(!nowhere.exists(), "no directory is created");

    let s = t.path().join("s.json");
    let o = run_job(
        &job,
        &[
            "--summary-json",
            s.to_str().expect("utf-8"),
            "--metrics-file",
            t.path().to_str().expect("utf-8"),
        ],
    );
    o.expect_code(2, &t.out());
    let summary = read_json(&s);
    assert_eq!(summary["status"], "invalid");
    assert_eq!(
        summary["error"],
        format!(
            "--metrics-file {}: is a directory; give a file path in an existing directory",
            t.path().display()
        )
    );
    assert!(!t.out().exists(), "nothing written");
    assert_eq!(sim.stats()["requests"], 0);
}
