//! `erase` and `prune` on S3 (a private S3-compatible test server with its request log;
//! skipped with the reason printed unless `POSTPRESS_S3_TESTS` is set).

use crate::lifecycle_util::*;
use crate::s3::{Moto, aws_env, create_bucket, download, s3_endpoint, s3_store, unique_bucket};
use crate::tables_check::{date, set_day};
use crate::util::*;

/// Several days exported to S3 with their tables: `erase` leaves no row of two people who are
/// everywhere and every other row as it was; `prune` then deletes the dates past its limits
/// with batched DeleteObjects requests (no single-object DELETE), and a foreign object stays.
#[test]
fn s3_erase_then_prune_in_bulk() {
    if s3_endpoint("s3_erase_then_prune_in_bulk").is_none() {
        return;
    }
    let t = TestDir::new();
    let log = t.path().join("moto.log");
    let moto = Moto::start_logged(&[], Some(&log));
    let ep = moto.endpoint.clone();
    let bucket = unique_bucket("lifecycle");
    create_bucket(&ep, &bucket);
    let env = aws_env(&ep, "test", "test");
    let sim = shared_sim();
    let retention = "[retention]\nunits_days = 1\nsnapshots_days = 2\nchanges_days = 2\n\n";
    let url = format!("url = \"s3://{bucket}/pp\"");
    let job = t.job_with(
        &sim,
        "",
        &url,
        &format!("{retention}{}", accounts_toml(&ACCOUNTS)),
    );
    let j = job.to_str().expect("utf-8");
    for day in 0..=3 {
        set_day(&sim, day);
        let d = date(day);
        let o = etl(
            &["run", j, "--snapshot-date", &d, "--progress", "off"],
            &env,
        );
        o.expect_code(0, t.path());
    }
    let store = s3_store(&ep, &bucket);
    let before_dir = t.path().join("before");
    download(&store, "pp", &before_dir);
    let before = all_rows(&before_dir);
    let keys = everywhere(0..=3);
    let holding = rows_holding(&before, &keys);
    assert!(holding.len() >= 20, "{holding:?}");

    let keys_file = t.write("keys.txt", &format!("{}\n{}\n", keys[0], keys[1]));
    let o = etl(
        &[
            "erase",
            j,
            "--keys-file",
            keys_file.to_str().expect("utf-8"),
        ],
        &env,
    );
    o.expect_code(0, t.path());
    // The tables were built by finalizes that recorded the units' ETags: they decide for the
    // units of accounts without the people, which are not read.
    assert!(
        !o.stdout.contains("passed 0 on the reader tables"),
        "{}",
        o.stdout
    );
    let after_dir = t.path().join("after");
    download(&store, "pp", &after_dir);
    let after = all_rows(&after_dir);
    for (file, rows) in &before {
        let want: Vec<_> = rows.iter().filter(|r| !holds(r, &keys)).cloned().collect();
        assert_eq!(after.get(file), Some(&want), "{file}");
    }

    let foreign = object_store::path::Path::from(format!(
        "pp/tables/followers/provider=linkedin/snapshot_date={}/README",
        date(0)
    ));
    runtime_put(&store, &foreign);
    // In a date whose units go: a part no manifest names (as a failed unit's older partition
    // would be) goes too; a foreign file stays.
    let unnamed = object_store::path::Path::from(format!(
        "pp/following/provider=linkedin/snapshot_date={}/account_id=acc_gone/part-00000.parquet",
        date(1)
    ));
    let foreign_in_units = object_store::path::Path::from(format!(
        "pp/following/provider=linkedin/snapshot_date={}/notes.txt",
        date(1)
    ));
    runtime_put(&store, &unnamed);
    runtime_put(&store, &foreign_in_units);
    let requests_before = std::fs::read_to_string(&log).expect("log").lines().count();
    let o = etl(&["prune", j, "--snapshot-date", &date(3)], &env);
    o.expect_code(0, t.path());
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .skip(requests_before)
        .map(str::to_owned)
        .collect();
    let bulk = lines
        .iter()
        .filter(|l| l.contains("POST /") && l.contains("?delete"))
        .count();
    let single = lines.iter().filter(|l| l.contains("\"DELETE /")).count();
    assert!(
        bulk >= 1 && single == 0,
        "bulk {bulk}, single {single}:\n{}",
        lines.join("\n")
    );
    let left = crate::s3::keys(&store, "pp");
    // Units of days 0 and 1 (past units_days, tables fresh), tables of day 0 go.
    for k in left.iter().filter(|k| **k != foreign_in_units.to_string()) {
        for (prefix, day) in [
            ("pp/followers/", 0),
            ("pp/following/", 1),
            ("pp/tables/follower_changes/", 0),
        ] {
            assert!(
                !(k.starts_with(prefix) && k.contains(&format!("snapshot_date={}/", date(day)))),
                "{k} should be gone"
            );
        }
    }
    let deleted = before.len() - left.iter().filter(|k| k.ends_with(".parquet")).count();
    assert!(deleted >= 20, "{deleted} objects deleted");
    assert!(
        left.contains(&foreign.to_string()),
        "the foreign object stays"
    );
    assert!(
        left.contains(&foreign_in_units.to_string()),
        "the foreign object beside the units stays"
    );
    assert!(
        !left.contains(&unnamed.to_string()),
        "the unnamed part goes"
    );
    // The units' partitions were not listed object by object: their files came from the
    // finalize manifests, and one directory listing per provider found what they did not name.
    let listed_units = lines
        .iter()
        .filter(|l| {
            l.contains("list-type=2")
                && l.contains("followers%2Fprovider")
                && !l.contains("delimiter")
        })
        .count();
    assert!(
        listed_units <= 2,
        "{listed_units} unit listings:\n{}",
        lines.join("\n")
    );
    assert!(
        left.iter().any(|k| k.contains(&format!(
            "followers/provider=linkedin/snapshot_date={}/",
            date(2)
        ))),
        "day 2's units stay"
    );
}

fn runtime_put(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    path: &object_store::path::Path,
) {
    use object_store::ObjectStoreExt;
    crate::s3::runtime()
        .block_on(store.put(path, object_store::PutPayload::from_static(b"notes\n")))
        .expect("put");
}
