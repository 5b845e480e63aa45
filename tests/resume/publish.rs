//! A publish cut short: a unit that checkpointed marks its checkpoint `complete` before it
//! publishes, so the next run finishes the publish without a request, or fetches the unit again
//! when a part it names is gone.

use super::*;
use serde_json::json;

/// The crashed run of these tests.
const CRASHED: &str = "20261126T010000Z-00000a";

/// Builds what a run killed in the middle of publishing the big unit leaves: its parts 0..3
/// already in the partition (their staged copies deleted), parts 3..6 still staged, and a
/// complete checkpoint naming all six; its lease released. The parts are those of a complete
/// run into `from`; returns that run's id.
fn publish_cut_short(from: &TestDir, out: &Path) -> String {
    let m = manifests(&from.out());
    let run = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let published = partition(&from.out(), "followers", "linkedin", BIG);
    let area = out.join("_staging").join(CRASHED);
    let staged = area
        .join("followers/provider=linkedin")
        .join(format!("snapshot_date={DATE}"))
        .join(format!("account_id={BIG}"));
    let final_dir = partition(out, "followers", "linkedin", BIG);
    std::fs::create_dir_all(&staged).expect("mkdir");
    std::fs::create_dir_all(&final_dir).expect("mkdir");
    let mut parts = Vec::new();
    for i in 0..6 {
        let name = format!("part-{i:05}.parquet");
        let to = if i < 3 { &final_dir } else { &staged };
        let bytes = std::fs::copy(published.join(&name), to.join(&name)).expect("copy");
        parts.push(json!({"file": name, "rows": EVERY, "bytes": bytes, "run_id": run}));
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let checkpoint = json!({
        "version": 1, "job": "test-job", "snapshot_date": DATE, "shard": null,
        "dataset": "followers", "provider": "linkedin", "account_id": BIG, "area": CRASHED,
        "state": "complete", "cursor": null, "pages": PAGES, "rows": N, "position": N,
        "parts": parts, "run_id": CRASHED, "runs": [CRASHED],
        "started_at": now, "updated_at": now,
    });
    std::fs::write(staged.join("checkpoint.json"), checkpoint.to_string()).expect("write");
    let lease = json!({
        "job": "test-job", "snapshot_date": DATE, "shard": null, "area": CRASHED,
        "holder": CRASHED, "host": host_name(), "pid": 1, "acquired_at": now,
        "renewed_at": now, "released_at": now,
    });
    std::fs::write(area.join("_lease.json"), lease.to_string()).expect("write");
    run
}

/// A complete export of the big unit into a directory of its own, for its parts.
fn complete_export(sim: &Sim) -> TestDir {
    let from = TestDir::new();
    let job = job(&from, sim, &[BIG], EVERY);
    run_job(&job, &[]).expect_code(0, &from.out());
    from
}

/// The next run finishes a publish that was cut short: no request, the unit exactly as
/// fetched, `resumed_from` the crashed run and every page skipped, nothing left in staging.
/// Even with `--skip-published`, though the partition already holds parts.
#[test]
fn a_publish_cut_short_is_finished_without_a_request() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let from = complete_export(&sim);
    let fetched_by = publish_cut_short(&from, &t.out());
    reset_stats(&sim);
    let job = job(&t, &sim, &[BIG], EVERY);
    run_job(&job, &["--skip-published"]).expect_code(0, &t.out());
    assert_eq!(
        sim.stats()["accounts"][BIG],
        Value::Null,
        "no request for the unit"
    );
    let m = manifests(&t.out());
    let u = unit_entry(&m[0], BIG);
    assert_eq!(u["status"], "ok");
    assert_eq!(u["resumed_from"], CRASHED);
    assert_eq!(u["pages_skipped"], PAGES);
    assert_eq!(u["records"], N);
    assert_big_unit(&t.out(), N, &fetched_by, &fetched_by);
    assert_no_staging(&t.out());
}

/// A complete checkpoint one of whose parts is gone (neither staged nor published) cannot be
/// finished: the unit is fetched from page 1, with a WARN line, and published exactly.
#[test]
fn a_publish_missing_a_part_fetches_the_unit_again() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let from = complete_export(&sim);
    publish_cut_short(&from, &t.out());
    let staged = files_below(&t.out().join("_staging"));
    let lost = staged
        .iter()
        .find(|p| p.ends_with("part-00004.parquet"))
        .expect("staged part 4");
    std::fs::remove_file(lost).expect("remove");
    reset_stats(&sim);
    let job = job(&t, &sim, &[BIG], EVERY);
    let o = run_job(&job, &[]);
    o.expect_code(0, &t.out());
    assert!(
        o.stderr
            .contains("Parts the complete checkpoint names are missing"),
        "{}",
        o.stderr
    );
    assert_eq!(pages_served(&sim, BIG), PAGES);
    let m = manifests(&t.out());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert!(unit_entry(&m[0], BIG).get("resumed_from").is_none());
    assert_big_unit(&t.out(), 0, &r2, &r2);
    assert_no_staging(&t.out());
}
