//! `prune` (SPEC §12) through the real binary, on a local disk: exactly the dates past each
//! limit go, everything else stays byte for byte; a date whose tables are older than its last
//! run keeps its units and is warned about; foreign files and run manifests survive; stale
//! staging areas go, live ones stay.

use crate::lifecycle_util::*;
use crate::tables_check::export;
use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn snapshot(out: &Path) -> BTreeMap<String, Vec<u8>> {
    files_below(out)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            let rel = p.strip_prefix(out).expect("below").display().to_string();
            (rel, bytes)
        })
        .collect()
}

fn prune(job: &Path, date: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "prune",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        date,
    ];
    args.extend_from_slice(extra);
    etl(&args, &[("POSTPRESS_API_KEY", "")])
}

/// The (table, date) of an output file prune may delete, as the test reads the layouts.
fn table_and_date(rel: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = rel.split('/').collect();
    let date = parts
        .iter()
        .find_map(|p| p.strip_prefix("snapshot_date="))?
        .to_owned();
    match parts.as_slice() {
        [d, _, _, _, f] if (*d == "followers" || *d == "following") && f.ends_with(".parquet") => {
            Some(((*d).to_owned(), date))
        }
        ["tables", t, ..] if rel.ends_with(".parquet") => Some((format!("tables/{t}"), date)),
        _ => None,
    }
}

fn touch_old(path: &Path, days: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .expect("set mtime");
}

fn stage(out: &Path, area: &str, age_days: u64) -> PathBuf {
    let dir = out.join(format!(
        "_staging/{area}/followers/provider=linkedin/snapshot_date=2026-11-30/account_id=acc_linkedin_0000"
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in ["part-00000.parquet", "checkpoint.json"] {
        std::fs::write(dir.join(name), b"x").expect("write");
        touch_old(&dir.join(name), age_days);
    }
    dir
}

/// Six days exported with their tables, day 1 run again afterwards without building tables;
/// `units_days = 2`, `snapshots_days = 4`, `changes_days = 3` counted back from day 5: units of
/// days 0 and 2 go, day 1's stay (its tables are older than its last run: warned); the
/// snapshot tables of day 0 and the changes and account_daily of days 0 and 1 go; nothing else
/// changes, run manifests and a foreign file included; a staging area untouched for 8 days goes,
/// one of yesterday stays. `--dry-run` prints the same per table and date and changes nothing;
/// a second prune deletes nothing.
#[test]
fn prune_deletes_exactly_what_is_past_its_limits() {
    let t = TestDir::new();
    let sim = shared_sim();
    let retention = "[retention]\nunits_days = 2\nsnapshots_days = 4\nchanges_days = 3\n\n";
    let accounts = format!("{retention}{}", accounts_toml(&ACCOUNTS));
    let job = t.job_with(&sim, "", "", &accounts);
    let out = t.out();
    export_days(&sim, &job, &out, 0..=5);
    let text = std::fs::read_to_string(&job).expect("job");
    let no_tables = t.write(
        "no-tables.toml",
        &text.replace("[output]\n", "[output]\ntables = false\n"),
    );
    crate::tables_check::set_day(&sim, 1);
    export(&no_tables, 1, &[]).expect_code(0, &out);
    let foreign = out.join(format!(
        "followers/provider=linkedin/snapshot_date={}/notes.txt",
        day_date(0)
    ));
    std::fs::write(&foreign, "kept by hand\n").expect("foreign");
    let stale = stage(&out, "20261101T000000Z-old", 8);
    let live = stage(&out, "20261130T000000Z-new", 1);
    let before = snapshot(&out);

    let d = |n| day_date(n);
    let gone = |rel: &str| -> bool {
        if rel.starts_with("_staging/20261101T000000Z-old/") {
            return true;
        }
        let Some((table, date)) = table_and_date(rel) else {
            return false;
        };
        match table.as_str() {
            "followers" | "following" => date == d(0) || date == d(2),
            "tables/followers" | "tables/following" => date == d(0),
            _ => date == d(0) || date == d(1),
        }
    };
    let expected_gone: Vec<&String> = before.keys().filter(|r| gone(r)).collect();
    assert!(expected_gone.len() > 25, "{expected_gone:?}");

    let dry = prune(&job, &d(5), &["--dry-run"]);
    dry.expect_code(0, &out);
    assert_eq!(snapshot(&out), before, "--dry-run changed the tree");
    let line = |verb: &str, table: &str, date: &str| {
        let objects = before
            .keys()
            .filter(|r| table_and_date(r) == Some((table.to_owned(), date.to_owned())))
            .count();
        let bytes: usize = before
            .iter()
            .filter(|(r, _)| table_and_date(r) == Some((table.to_owned(), date.to_owned())))
            .map(|(_, b)| b.len())
            .sum();
        format!("{verb} {table:<26} {date}  {objects:>7} objects {bytes:>12} bytes")
    };
    for (table, date) in [
        ("followers", d(0)),
        ("following", d(2)),
        ("tables/followers", d(0)),
        ("tables/follower_changes", d(1)),
        ("tables/account_daily", d(0)),
    ] {
        let want = line("would delete", table, &date);
        assert!(dry.stdout.contains(&want), "{want}\n{}", dry.stdout);
    }
    assert!(
        !dry.stdout
            .contains(&format!("followers                  {}", d(1)))
    );

    let o = prune(&job, &d(5), &[]);
    o.expect_code(0, &out);
    let after = snapshot(&out);
    for (rel, bytes) in &before {
        match after.get(rel) {
            Some(now) => {
                assert!(!gone(rel), "{rel} should be gone");
                assert!(now == bytes, "{rel} changed");
            }
            None => assert!(gone(rel), "{rel} was deleted"),
        }
    }
    assert!(foreign.exists() && !stale.exists() && live.exists());
    assert!(
        o.stderr.contains(&d(1)) && o.stderr.contains("Units past units_days kept"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("notes.txt"), "{}", o.stderr);
    let record = files_below(&out.join("_lifecycle"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("prune-"))
        })
        .expect("a prune record");
    let record: Value =
        serde_json::from_slice(&std::fs::read(record).expect("read")).expect("JSON");
    assert_eq!(record["kept_units"][0]["snapshot_date"], d(1));
    assert_eq!(record["objects"], expected_gone.len());
    assert_eq!(record["staging_areas"][0], "20261101T000000Z-old");

    let again = prune(&job, &d(5), &[]);
    again.expect_code(0, &out);
    assert!(
        again.stdout.contains("deleted 0 objects"),
        "{}",
        again.stdout
    );
    let bad = prune(&job, "2026-13-01", &[]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
}
