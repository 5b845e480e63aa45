//! The command line: job-file errors exit 2 before any request or write, `validate` and
//! `schema` print what they should, every example job validates.

use crate::util::*;

/// Each job-file mistake exits 2 with one message naming the file, the key and what is
/// allowed; nothing is sent to the API and nothing is written.
#[test]
fn job_file_errors_exit_2_and_touch_nothing() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "1",
        "--followers",
        "5",
        "--following",
        "5",
        "--provider",
        "linkedin",
    ]);
    let good = std::fs::read_to_string(t.job(
        &sim,
        "",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    ))
    .expect("job");
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unknown key",
            good.replace("[fetch]\n", "[fetch]\nconcurency = 3\n"),
            vec![],
            "unknown field `concurency`",
        ),
        (
            "bad provider",
            good.replace("provider = \"linkedin\"", "provider = \"tiktok\""),
            vec![],
            "accounts[0].provider = \"tiktok\" is not allowed; use \"linkedin\" or \"instagram\"",
        ),
        (
            "duplicate account",
            format!(
                "{good}\n{}",
                accounts_toml(&[("acc_linkedin_0000", "linkedin")])
            ),
            vec![],
            "account_id \"acc_linkedin_0000\" is listed twice (accounts[0] and accounts[1])",
        ),
        (
            "dot-dot account",
            good.replace("acc_linkedin_0000", "../../etc"),
            vec![],
            "accounts[0].account_id = \"../../etc\" is not allowed",
        ),
        (
            "page size over max",
            good.replace(
                "provider = \"linkedin\"",
                "provider = \"linkedin\"\npage_size = 150",
            ),
            vec![],
            "accounts[0].page_size = 150 is not allowed; use 1 to 100 (linkedin followers allows at most 100, linkedin following allows at most 1000)",
        ),
        (
            "not toml",
            "name = \"x\"\n[[accounts\n".to_owned(),
            vec![],
            "is not valid: TOML parse error",
        ),
        (
            "missing key",
            good.clone(),
            vec![("POSTPRESS_API_KEY", "")],
            "no API key; set the environment variable POSTPRESS_API_KEY or api.api_key_file",
        ),
        (
            "bad duration",
            good.replace("timeout = \"5s\"", "timeout = \"soon\""),
            vec![],
            "api.timeout = \"soon\" is not allowed",
        ),
        (
            "bad compression",
            good.replace("[output]\n", "[output]\ncompression = \"lz4\"\n"),
            vec![],
            "output.compression = \"lz4\" is not allowed; use one of \"zstd\", \"snappy\", \"gzip\", \"none\"",
        ),
        (
            "insecure http",
            good.replace("127.0.0.1", "example.com"),
            vec![],
            "http:// sends the API key in clear",
        ),
        (
            "bad name",
            good.replace("name = \"test-job\"", "name = \"Test Job\""),
            vec![],
            "name = \"Test Job\" is not allowed",
        ),
    ];
    for (what, text, env, want) in cases {
        let job = t.write("bad.toml", &text);
        let o = etl(
            &["run", job.to_str().expect("utf-8"), "--snapshot-date", DATE],
            &env,
        );
        assert_eq!(o.code, Some(2), "{what}: {}\n{}", o.stderr, o.stdout);
        assert!(
            o.stderr.contains(want),
            "{what}: expected {want:?} in\n{}",
            o.stderr
        );
        assert!(
            o.stderr.contains("bad.toml"),
            "{what}: names the file: {}",
            o.stderr
        );
        if want.contains("TOML parse error") || want.contains("unknown field") {
            // The parser's caret snippet points at the spot, over several lines.
            assert!(
                o.stderr.lines().count() > 2 && o.stderr.lines().any(|l| l.contains('^')),
                "{what}: the caret snippet: {}",
                o.stderr
            );
        } else {
            assert_eq!(
                o.stderr.lines().count(),
                1,
                "{what}: one message: {}",
                o.stderr
            );
        }
        assert!(!t.out().exists(), "{what}: wrote nothing");
    }
    for (flag, value, want) in [
        (
            "--snapshot-date",
            "2026-13-01",
            "--snapshot-date \"2026-13-01\" is not allowed",
        ),
        ("--shard", "3/3", "I = 3 must be less than N = 3"),
        ("--shard", "x/0", "--shard \"x/0\" is not allowed"),
    ] {
        let job = t.write("ok.toml", &good);
        let o = etl(&["run", job.to_str().expect("utf-8"), flag, value], &[]);
        assert_eq!(o.code, Some(2), "{flag} {value}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{flag} {value}: {}", o.stderr);
        assert!(!t.out().exists());
    }
    assert_eq!(sim.stats()["requests"], 0, "no request was sent");
}

/// The accounts CSV: rows become accounts; a bad row names the file and line.
#[test]
fn accounts_csv_is_read_and_checked() {
    let t = TestDir::new();
    t.write("accounts.csv", "account_id,provider,datasets,user_id,page_size\nacc_a,linkedin,followers,,50\nacc_b,instagram,followers;following,bob,\n");
    let job = t.write(
        "job.toml",
        "name = \"csv\"\naccounts_file = \"accounts.csv\"\n",
    );
    let o = etl(&["validate", job.to_str().expect("utf-8")], &[]);
    o.expect_code(0, t.path());
    assert!(o.stdout.contains("2 accounts, 3 units"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("retention: units forever, snapshots forever, changes forever"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("acc_a") && o.stdout.contains("limit 50"),
        "{}",
        o.stdout
    );
    t.write(
        "accounts.csv",
        "account_id,provider\nacc_a,linkedin\nacc_b,myspace\n",
    );
    let o = etl(&["validate", job.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains(
            "accounts.csv, line 3, column provider: \"myspace\" is not allowed; use \"linkedin\" or \"instagram\""
        ),
        "{}",
        o.stderr
    );
}

/// `schema` prints every variant's columns with types and descriptions.
#[test]
fn schema_prints_the_data_dictionary() {
    let o = etl(&["schema"], &[]);
    o.expect_code(0, std::path::Path::new("."));
    for needle in [
        "followers (linkedin)",
        "followers (instagram)",
        "following (linkedin, instagram)",
        "profile_picture_url_large",
        "is_verified",
        "created_at",
        "timestamp_ms",
        "snapshot_date",
        "date32",
        "_lifecycle/suppressed/{id}.txt",
        "_lifecycle/erase-{id}.json",
        "counts.suppressed",
        "account_daily keeps its counts",
    ] {
        assert!(o.stdout.contains(needle), "{needle} missing:\n{}", o.stdout);
    }
}

/// Every example job in jobs/ validates (with a key from the environment, as `run` needs one).
#[test]
fn every_example_job_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("jobs/") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "toml") {
            let o = etl(&["validate", p.to_str().expect("utf-8")], &[]);
            assert_eq!(o.code, Some(0), "{}: {}", p.display(), o.stderr);
            n += 1;
        }
    }
    assert!(n >= 3, "demo, S3 and Kubernetes examples exist");
}
