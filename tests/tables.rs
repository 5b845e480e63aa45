//! Reader tables (SPEC §9) through the real binary: exports of several days against the
//! simulator with churn (`POST /_sim/day/N`), then the tables read back with the Rust Parquet
//! reader and compared with the simulator's ground truth of each day's lists.

use crate::tables_check::*;
use crate::util::*;

/// Three days exported with churn, each run building its own tables: every table equals the
/// simulator's lists of that day (rows, order, positions), the changes are exactly the keys
/// gained and lost since the day before (lost rows with the earlier day's fields), and
/// account_daily counts them; the simulator's own id list agrees with the ground truth used.
#[test]
fn tables_equal_the_simulators_lists_day_by_day() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job(&sim, "", &job_accounts(&ACCOUNTS));
    for day in 0..3 {
        set_day(&sim, day);
        let o = export(&job, day, &[]);
        o.expect_code(0, &t.out());
        let run = run_id_of(&t.out(), &date(day));
        let d = Day {
            accounts: &ACCOUNTS,
            day,
            failed: &[],
            previous: &day_before(day),
        };
        assert_lists_and_changes(&t.out(), &d);
        assert_account_daily(&t.out(), &d, &|_, _| run.clone());
    }
    // The ground truth is the simulator's: its id list of a day is the one checked against.
    let ids = http_get(
        &sim.url,
        "/_sim/stats/ids?account_id=li_a&dataset=followers&day=1",
    );
    let ids: serde_json::Value = serde_json::from_str(&ids).expect("ids are JSON");
    let want: Vec<String> = list(&ACCOUNTS[0], "followers", 1)
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids["ids"], serde_json::json!(want));
    let (gained, lost) = changes(&ACCOUNTS[0], "followers", 1, 0);
    assert!(
        !gained.is_empty() && !lost.is_empty(),
        "the lists changed: the test checks something"
    );

    let f = finalize_manifests(&t.out());
    assert_eq!(f.len(), 3, "one finalize manifest per day");
    let last = &f[2];
    assert_eq!(last["snapshot_date"], date(2));
    assert_eq!(last["run_id"], run_id_of(&t.out(), &date(2)).as_str());
    assert_eq!(last["totals"]["ok"], 8);
    assert_eq!(last["units"][0]["previous_snapshot_date"], date(1));
    assert_eq!(last["manifests_read"].as_array().map(Vec::len), Some(1));
    let tables: Vec<&str> = last["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t["table"].as_str().expect("table"))
        .collect();
    assert_eq!(tables.len(), 9, "{tables:?}");
    assert!(
        !t.out().join("_staging").exists() || files_below(&t.out().join("_staging")).is_empty()
    );
}

/// One account's followers fail on day 1 (a permanent 404 injected for that account by the
/// simulator serving day 1): day 1's tables leave it out and account_daily says failed with the
/// run that reported it; day 2's changes for it are against day 0, skipping the failed day.
#[test]
fn a_failed_day_is_skipped_by_the_next_days_changes() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job(&sim, "max_attempts = 2", &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());

    let fault =
        "[[accounts.faults]]\ndataset = \"followers\"\nfault = \"errors/resource_not_found\"\n";
    let faulty: Vec<Account> = ACCOUNTS.iter().filter(|a| a.0 != "li_a").copied().collect();
    let text = scenario(&faulty, "day = 1", "")
        + "[[accounts]]\nid = \"li_a\"\nprovider = \"linkedin\"\nfollowers = 250\nfollowing = 40\n"
        + fault;
    let day1 = Sim::with_scenario(&t, &text, &[]);
    let job1 = t.job(&day1, "max_attempts = 2", &job_accounts(&ACCOUNTS));
    let o = export(&job1, 1, &[]);
    o.expect_code(3, &t.out());
    drop(day1);
    let run1 = run_id_of(&t.out(), &date(1));
    let failed = [("li_a", "followers")];
    let d1 = Day {
        accounts: &ACCOUNTS,
        day: 1,
        failed: &failed,
        previous: &|_, _| Some(0),
    };
    assert_lists_and_changes(&t.out(), &d1);
    assert_account_daily(&t.out(), &d1, &|_, _| run1.clone());

    set_day(&sim, 2);
    let job = t.job(&sim, "max_attempts = 2", &job_accounts(&ACCOUNTS));
    export(&job, 2, &[]).expect_code(0, &t.out());
    let run2 = run_id_of(&t.out(), &date(2));
    let skip = |a: &str, ds: &str| {
        Some(if (a, ds) == ("li_a", "followers") {
            0
        } else {
            1
        })
    };
    let d2 = Day {
        accounts: &ACCOUNTS,
        day: 2,
        failed: &[],
        previous: &skip,
    };
    assert_lists_and_changes(&t.out(), &d2);
    assert_account_daily(&t.out(), &d2, &|_, _| run2.clone());
}

/// Exports without tables (`output.tables = false`), then `finalize --to` builds three days in
/// order, exactly; a second finalize of a day rebuilds it identically, replacing its files.
#[test]
fn finalize_builds_a_range_in_order_and_rebuilds_idempotently() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job_with(&sim, "", "tables = false", &job_accounts(&ACCOUNTS));
    for day in 0..3 {
        set_day(&sim, day);
        export(&job, day, &[]).expect_code(0, &t.out());
    }
    assert!(!t.out().join("tables").exists(), "{}", tree(&t.out()));
    let o = finalize(&job, 0, Some(2));
    o.expect_code(0, &t.out());
    assert_eq!(o.stdout.lines().count(), 3, "{}", o.stdout);
    assert!(
        o.stdout.starts_with(&format!(
            "tables of {}: 8 units, 8 ok, 0 failed, 0 missing",
            date(0)
        )),
        "{}",
        o.stdout
    );
    for day in 0..3 {
        let run = run_id_of(&t.out(), &date(day));
        let d = Day {
            accounts: &ACCOUNTS,
            day,
            failed: &[],
            previous: &day_before(day),
        };
        assert_lists_and_changes(&t.out(), &d);
        assert_account_daily(&t.out(), &d, &|_, _| run.clone());
    }
    let before = read_table(&t.out(), "follower_changes", Some("instagram"), &date(1));
    let files = files_below(&t.out().join("tables"));
    finalize(&job, 1, None).expect_code(0, &t.out());
    assert_eq!(
        files_below(&t.out().join("tables")),
        files,
        "the same files, no more"
    );
    assert_eq!(
        read_table(&t.out(), "follower_changes", Some("instagram"), &date(1)),
        before
    );
    assert_eq!(finalize_manifests(&t.out()).len(), 4);
}

/// Day 1 was never exported: finalize of days 0..2 builds days 0 and 2, day 2's changes against
/// day 0, and exits 3 naming day 1; finalize of a date with nothing at all exits 3 alone.
#[test]
fn a_missing_day_is_named_and_skipped() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job_with(&sim, "", "tables = false", &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());
    set_day(&sim, 2);
    export(&job, 2, &[]).expect_code(0, &t.out());
    let o = finalize(&job, 0, Some(2));
    o.expect_code(3, &t.out());
    let out = std::fs::canonicalize(t.out()).expect("out");
    let missing = |day: &str| {
        format!(
            "postpress-etl: error: snapshot date {day} has no published units in {}: none of the job's 8 units has part files under followers/provider=*/snapshot_date={day}/ or following/provider=*/snapshot_date={day}/, and no run manifest of that date exists under _runs/snapshot_date={day}/; run the export for {day} first (no tables were written for it)\n",
            out.display()
        )
    };
    assert!(o.stderr.ends_with(&missing(&date(1))), "{}", o.stderr);
    assert!(!table_dir(&t.out(), "account_daily", None, &date(1)).exists());
    let run = run_id_of(&t.out(), &date(2));
    let d = Day {
        accounts: &ACCOUNTS,
        day: 2,
        failed: &[],
        previous: &|_, _| Some(0),
    };
    assert_lists_and_changes(&t.out(), &d);
    assert_account_daily(&t.out(), &d, &|_, _| run.clone());

    let o = finalize(&job, 5, None);
    o.expect_code(3, &t.out());
    assert_eq!(
        o.stderr.lines().last().map(|l| format!("{l}\n")),
        Some(missing(&date(5)))
    );
}

/// Sharded runs build no tables; `finalize` after them builds the date from every shard's units,
/// each unit's run_id the shard's run that published it.
#[test]
fn sharded_runs_are_finalized_by_the_finalize_command() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job(&sim, "", &job_accounts(&ACCOUNTS));
    // Three shards: 0/3, 1/3 and 2/3 each own some of these accounts.
    for shard in ["0/3", "1/3", "2/3"] {
        export(&job, 0, &["--shard", shard]).expect_code(0, &t.out());
    }
    assert!(!t.out().join("tables").exists(), "{}", tree(&t.out()));
    let runs = manifests(&t.out());
    assert_eq!(runs.len(), 3);
    let run_of = |a: &str, _: &str| {
        let m = runs
            .iter()
            .find(|m| {
                m["units"]
                    .as_array()
                    .expect("units")
                    .iter()
                    .any(|u| u["account_id"] == a)
            })
            .expect("a shard ran the account");
        m["run_id"].as_str().expect("run_id").to_owned()
    };
    let shards: std::collections::HashSet<String> =
        ACCOUNTS.iter().map(|a| run_of(a.0, "")).collect();
    assert_eq!(shards.len(), 3, "every shard has accounts");
    finalize(&job, 0, None).expect_code(0, &t.out());
    let d = Day {
        accounts: &ACCOUNTS,
        day: 0,
        failed: &[],
        previous: &|_, _| None,
    };
    assert_lists_and_changes(&t.out(), &d);
    assert_account_daily(&t.out(), &d, &run_of);
}

/// `row_group_rows = 100`: an account of at least 100 rows never shares a row group, smaller
/// ones do; the account_id statistics of each row group bound exactly its accounts; files roll
/// over at `max_rows_per_file` and stay sorted across files.
#[test]
fn big_accounts_get_row_groups_of_their_own() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::statistics::Statistics;
    const SIZES: [Account; 6] = [
        ("acc_a", "linkedin", 250, 0),
        ("acc_b", "linkedin", 30, 0),
        ("acc_c", "linkedin", 40, 0),
        ("acc_d", "linkedin", 220, 0),
        ("acc_e", "linkedin", 5, 0),
        ("acc_f", "linkedin", 0, 0),
    ];
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(&SIZES, "", ""), &[]);
    let job = t.job_with(
        &sim,
        "",
        "row_group_rows = 100\nmax_rows_per_file = 450",
        &job_accounts(&SIZES),
    );
    export(&job, 0, &[]).expect_code(0, &t.out());
    let d = Day {
        accounts: &SIZES,
        day: 0,
        failed: &[],
        previous: &|_, _| None,
    };
    assert_lists_and_changes(&t.out(), &d);
    let files = table_files(&t.out(), "followers", Some("linkedin"), &date(0));
    assert_eq!(files.len(), 2, "545 rows in files of 450");
    let mut groups = Vec::new();
    for f in &files {
        let file = std::fs::File::open(f).expect("open");
        let meta = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .metadata()
            .clone();
        let col = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "account_id")
            .expect("account_id column");
        for rg in meta.row_groups() {
            let Some(Statistics::ByteArray(s)) = rg.column(col).statistics() else {
                panic!("no account_id statistics in {}", f.display());
            };
            let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.expect("bound")).into_owned();
            groups.push((
                rg.num_rows(),
                text(s.min_bytes_opt()),
                text(s.max_bytes_opt()),
            ));
        }
    }
    let g = |n, lo: &str, hi: &str| (n, lo.to_owned(), hi.to_owned());
    assert_eq!(
        groups,
        vec![
            g(100, "acc_a", "acc_a"),
            g(100, "acc_a", "acc_a"),
            g(50, "acc_a", "acc_a"),
            g(70, "acc_b", "acc_c"),
            g(100, "acc_d", "acc_d"),
            g(30, "acc_d", "acc_d"),
            g(90, "acc_d", "acc_d"),
            g(5, "acc_e", "acc_e"),
        ]
    );
}
