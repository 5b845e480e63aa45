//! Reader tables and bad input through the real binary: corrupt and foreign files in a unit
//! partition, a finalize failing after a good export, finalize without an API key, bad flags,
//! and the data dictionary.

use crate::tables_check::*;
use crate::util::*;
use std::path::Path;

/// A file in a unit partition that is not Parquet, or a Parquet part of another unit: finalize
/// exits 1 naming the file and publishes nothing for the date (the earlier tables stay).
#[test]
fn a_corrupt_or_foreign_file_fails_the_date_and_publishes_nothing() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job(&sim, "", &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());
    let tables = files_below(&t.out().join("tables"));
    let before = read_table(&t.out(), "followers", Some("linkedin"), &date(0));
    let bad = partition(&t.out(), "followers", "linkedin", "li_a").join("part-00001.parquet");
    let shown = std::fs::canonicalize(t.out()).expect("out").join(
        "followers/provider=linkedin/snapshot_date=2026-11-26/account_id=li_a/part-00001.parquet",
    );

    std::fs::write(&bad, b"PAR1 not really").expect("write");
    let o = finalize(&job, 0, None);
    o.expect_code(1, &t.out());
    let want = format!(
        "postpress-etl: error: {} is not a readable Parquet file; nothing was published for 2026-11-26: remove the file or rerun the export of its date: ",
        shown.display()
    );
    assert!(o.stderr.contains(&want), "{}", o.stderr);

    let other = partition(&t.out(), "followers", "instagram", "ig_b").join("part-00000.parquet");
    std::fs::copy(&other, &bad).expect("copy");
    let o = finalize(&job, 0, None);
    o.expect_code(1, &t.out());
    let want = format!(
        "postpress-etl: error: {} is not a part of its unit: its footer says provider = \"instagram\", not \"linkedin\"; nothing was published for 2026-11-26: remove the file or rerun the export of its date\n",
        shown.display()
    );
    assert!(o.stderr.ends_with(&want), "{}", o.stderr);
    assert_eq!(
        files_below(&t.out().join("tables")),
        tables,
        "nothing published"
    );
    assert_eq!(
        read_table(&t.out(), "followers", Some("linkedin"), &date(0)),
        before
    );
    assert_eq!(
        finalize_manifests(&t.out()).len(),
        1,
        "only the first one's"
    );
    assert!(
        !t.out().join("_staging").exists() || files_below(&t.out().join("_staging")).is_empty(),
        "{}",
        tree(&t.out())
    );
}

/// A finalize failing after a good export (day 1's changes read day 0's units, one of which has
/// a corrupt part): the run exits 1 with its units published, its manifest saying why, and no
/// tables for the day.
#[test]
fn a_finalize_failure_after_a_good_export_is_exit_1() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job(&sim, "", &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());
    let bad = partition(&t.out(), "followers", "linkedin", "li_a").join("part-00001.parquet");
    std::fs::write(&bad, b"PAR1 not really").expect("write");
    set_day(&sim, 1);
    let o = export(&job, 1, &[]);
    o.expect_code(1, &t.out());
    let m = manifests(&t.out());
    let m1 = m
        .iter()
        .find(|m| m["snapshot_date"] == date(1))
        .expect("day 1 manifest");
    assert_eq!(m1["status"], "failed");
    assert_eq!(m1["totals"]["ok"], 8);
    let err = m1["error"].as_str().expect("error");
    assert!(
        err.starts_with(
            "the units are published, but the reader tables of 2026-11-27 were not built: "
        ),
        "{err}"
    );
    let unit = t
        .out()
        .join("followers/provider=linkedin")
        .join(format!("snapshot_date={}", date(1)))
        .join("account_id=li_a/part-00000.parquet");
    let published: usize = read_file(&unit).1.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        published,
        list(&ACCOUNTS[0], "followers", 1).len(),
        "day 1's unit is published"
    );
    assert!(!table_dir(&t.out(), "account_daily", None, &date(1)).exists());
}

/// finalize needs no API key — the key file the job names may be absent, as in finalize's pods
/// — but checks the job file and its flags like `run`, exiting 2 with the reason.
#[test]
fn finalize_needs_no_api_key_but_checks_its_input() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS[..1], "", ""), &[]);
    let job = t.job(&sim, "", &job_accounts(&ACCOUNTS[..1]));
    export(&job, 0, &[]).expect_code(0, &t.out());
    let text = std::fs::read_to_string(&job).expect("job");
    let keyless = t.write(
        "keyless.toml",
        &text.replace(
            "[api]\n",
            "[api]\napi_key_file = \"/nonexistent/api-key\"\n",
        ),
    );
    let o = finalize(&keyless, 0, None);
    o.expect_code(0, &t.out());
    assert!(o.stdout.contains("2 units, 2 ok"), "{}", o.stdout);

    let bad = t.write(
        "bad.toml",
        &text.replace("[output]\n", "[output]\ntable = true\n"),
    );
    let o = finalize(&bad, 0, None);
    o.expect_code(2, &t.out());
    assert!(o.stderr.contains("unknown field `table`"), "{}", o.stderr);
    let args = |from: &str, to: &str| {
        etl(
            &[
                "finalize",
                job.to_str().expect("utf-8"),
                "--snapshot-date",
                from,
                "--to",
                to,
            ],
            &[],
        )
    };
    let o = args("2026-11-26", "2026-11-25");
    o.expect_code(2, &t.out());
    assert_eq!(
        o.stderr,
        "postpress-etl: error: --to 2026-11-25 is not allowed: it is before --snapshot-date 2026-11-26; use a date on or after it\n"
    );
    let o = args("2026-11-31", "2026-12-01");
    o.expect_code(2, &t.out());
    assert_eq!(
        o.stderr,
        "postpress-etl: error: --snapshot-date \"2026-11-31\" is not allowed; use a real date as YYYY-MM-DD\n"
    );
}

/// `schema` documents the reader tables and each variant's item key.
#[test]
fn schema_documents_the_reader_tables() {
    let o = etl(&["schema"], &[]);
    o.expect_code(0, Path::new("."));
    for needle in [
        "item key id",
        "item key member_id",
        "tables/followers, tables/following",
        "tables/follower_changes (linkedin)",
        "tables/following_changes (linkedin, instagram)",
        "previous_snapshot_date",
        "tables/account_daily",
        "tables/account_daily/snapshot_date={YYYY-MM-DD}/part-NNNNN.parquet",
    ] {
        assert!(o.stdout.contains(needle), "{needle} missing:\n{}", o.stdout);
    }
}
