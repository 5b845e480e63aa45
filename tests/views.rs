//! `postpress-etl views` (DuckDB views over the output) through the real binary, over files a
//! real run against the simulator wrote; the SQL is executed with DuckDB from the project's
//! `.venv` when it is there (`make test` creates it first).

use crate::tables_check::*;
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `postpress-etl views JOB [--output OUT]`, without an API key (it needs none).
fn views(job: &Path, output: Option<&Path>) -> Output {
    let mut args = vec!["views", job.to_str().expect("utf-8")];
    if let Some(o) = output {
        args.extend_from_slice(&["--output", o.to_str().expect("utf-8")]);
    }
    etl(&args, &[("POSTPRESS_API_KEY", "")])
}

/// The sum of `records` of the ok units of `dataset` in every run manifest.
fn manifest_records(out: &Path, dataset: &str) -> u64 {
    manifests(out)
        .iter()
        .flat_map(|m| m["units"].as_array().cloned().unwrap_or_default())
        .filter(|u| u["dataset"] == dataset && u["status"] == "ok")
        .map(|u| u["records"].as_u64().expect("records"))
        .sum()
}

fn venv_python() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    p.exists().then_some(p)
}

/// Runs `sql` then prints `SELECT count(*)` of each view with DuckDB; `None` without the venv.
fn duckdb_counts(sql: &str, views: &[&str]) -> Option<Vec<u64>> {
    let Some(python) = venv_python() else {
        eprintln!(
            "views: .venv/bin/python not found (scripts/venv.sh creates it); DuckDB part skipped"
        );
        return None;
    };
    let script = "import sys, duckdb\ncon = duckdb.connect()\ncon.execute(sys.stdin.read())\nfor v in sys.argv[1:]:\n    print(con.execute(f'SELECT count(*) FROM {v}').fetchall()[0][0])\n";
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(views)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(sql.as_bytes()).expect("sql written");
    }
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "DuckDB refused the views:\n{}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().expect("a count"))
            .collect(),
    )
}

/// Before finalize only the unit views exist (the reader tables are comments, since DuckDB
/// refuses a view over no file); after it all seven, over the absolute output path, and DuckDB
/// counts in them exactly the rows the run manifests report.
#[test]
fn views_cover_what_exists_and_duckdb_reads_every_row() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job_with(&sim, "", "tables = false", &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());
    let out = t.out();
    let root = out.display().to_string();

    let before = views(&job, None);
    before.expect_code(0, &out);
    let sql = &before.stdout;
    assert_eq!(sql.matches("CREATE OR REPLACE VIEW").count(), 2, "{sql}");
    assert!(sql.contains(&format!(
        "CREATE OR REPLACE VIEW unit_followers AS\n  SELECT * FROM read_parquet('{root}/followers/*/*/*/*.parquet', hive_partitioning = true, union_by_name = true);"
    )), "{sql}");
    for table in [
        "followers",
        "following",
        "follower_changes",
        "following_changes",
        "account_daily",
    ] {
        assert!(!sql.contains(&format!("VIEW {table} AS")), "{table}: {sql}");
        assert!(
            sql.contains(&format!(
                "-- (not created: no file matches {root}/tables/{table}/"
            )),
            "{table}: {sql}"
        );
    }
    let followers = manifest_records(&out, "followers");
    let following = manifest_records(&out, "following");
    assert!(followers > 0 && following > 0, "the run exported rows");
    if let Some(c) = duckdb_counts(sql, &["unit_followers", "unit_following"]) {
        assert_eq!(c, vec![followers, following]);
    }

    finalize(&job, 0, None).expect_code(0, &out);
    // --output names the same directory through a `..`: the views name it normalized.
    let detour = out.join("..").join("out");
    let after = views(&job, Some(&detour));
    after.expect_code(0, &out);
    assert_eq!(
        after.stdout.matches("CREATE OR REPLACE VIEW").count(),
        7,
        "{}",
        after.stdout
    );
    assert!(
        after
            .stdout
            .contains(&format!("'{root}/tables/account_daily/*/*.parquet'")),
        "{}",
        after.stdout
    );
    assert!(!after.stdout.contains("/../"), "{}", after.stdout);
    let all = [
        "followers",
        "following",
        "unit_followers",
        "unit_following",
        "account_daily",
    ];
    if let Some(c) = duckdb_counts(&after.stdout, &all) {
        assert_eq!(c[..4], [followers, following, followers, following]);
        assert_eq!(
            c[4],
            ACCOUNTS.len() as u64 * 2,
            "account_daily: a row per unit"
        );
    }
}

/// A missing output, a missing job file and a path DuckDB would read as a glob are usage
/// errors (exit 2) with a message; nothing is printed on stdout.
#[test]
fn views_refuses_bad_input_with_exit_2() {
    let t = TestDir::new();
    let job = t.job_at(
        "http://127.0.0.1:9/api/v1",
        "job.toml",
        &accounts_toml(&[("a", "linkedin")]),
    );
    let missing = t.path().join("nothing-here");
    let o = views(&job, Some(&missing));
    o.expect_code(2, t.path());
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(
        o.stderr.contains("does not exist; run the job first"),
        "{}",
        o.stderr
    );

    let globby = t.path().join("out[1]");
    std::fs::create_dir_all(&globby).expect("dir");
    let o = views(&job, Some(&globby));
    o.expect_code(2, t.path());
    assert!(o.stderr.contains("glob character"), "{}", o.stderr);

    let o = views(&t.path().join("no-job.toml"), None);
    o.expect_code(2, t.path());
    assert!(o.stderr.contains("no-job.toml"), "{}", o.stderr);
}
