//! The suppressed set (SPEC §12) through the real binary: a run drops erased people's rows
//! before staging them and counts them; finalize leaves them out and never reports them lost.

use crate::lifecycle_util::*;
use crate::tables_check::{export, set_day};
use crate::util::*;
use postpress_sim::Dataset;
use serde_json::Value;

/// A person listed as suppressed still follows: the next run publishes none of their rows,
/// keeps every other row at its served position (a gap where they were), counts them as
/// `suppressed` per unit, in the summary and the metrics, and `records` counts what was
/// published; the tables built at its end hold none of them and do not report them as lost,
/// though the day before still holds them.
#[test]
fn a_suppressed_person_is_dropped_before_staging() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=0);
    let keys = everywhere(0..=1);
    write_suppressed(&out, "test", &keys);

    set_day(&sim, 1);
    let summary = t.path().join("summary.json");
    let metrics = t.path().join("metrics.prom");
    let o = export(
        &job,
        1,
        &[
            "--summary-json",
            summary.to_str().expect("utf-8"),
            "--metrics-file",
            metrics.to_str().expect("utf-8"),
        ],
    );
    o.expect_code(0, &out);

    let manifest = manifests(&out).pop().expect("a manifest");
    let mut expected_total = 0;
    for (account, p) in ACCOUNTS {
        for (name, dataset) in [
            ("followers", Dataset::Followers),
            ("following", Dataset::Following),
        ] {
            let truth = truth(account, p, dataset, 1);
            let hidden = truth.iter().filter(|k| keys.contains(k)).count() as u64;
            expected_total += hidden;
            let rows = unit_rows(&out, name, p, account, 1);
            let key = if name == "followers" {
                "id"
            } else {
                "member_id"
            };
            // Every kept row at its served position; the suppressed ones leave gaps.
            let want: Vec<(i64, &str)> = truth
                .iter()
                .enumerate()
                .filter(|(_, k)| !keys.contains(k))
                .map(|(i, k)| (i as i64, k.as_str()))
                .collect();
            let got: Vec<(i64, &str)> = rows
                .iter()
                .map(|r| {
                    (
                        r["position"].as_i64().expect("position"),
                        r[key].as_str().expect("key"),
                    )
                })
                .collect();
            assert_eq!(got, want, "{account} {name}");
            let unit = manifest["units"]
                .as_array()
                .expect("units")
                .iter()
                .find(|u| u["account_id"] == account && u["dataset"] == name)
                .expect("unit in the manifest");
            assert_eq!(unit["suppressed"], hidden, "{account} {name}");
            assert_eq!(unit["records"], want.len() as u64, "{account} {name}");
        }
    }
    assert!(
        expected_total >= 8,
        "the people are in every list: {expected_total}"
    );
    assert_eq!(manifest["totals"]["suppressed"], expected_total);
    let s: Value =
        serde_json::from_slice(&std::fs::read(&summary).expect("summary")).expect("JSON");
    assert_eq!(s["counts"]["suppressed"], expected_total);
    let m = std::fs::read_to_string(&metrics).expect("metrics");
    let sum: u64 = m
        .lines()
        .filter(|l| l.starts_with("postpress_etl_suppressed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(sum, expected_total, "{m}");

    // Day 1's tables: none of them, and no change row about them, though day 0 holds them.
    let rows = all_rows(&out);
    let holding = rows_holding(&rows, &keys);
    assert!(
        holding
            .keys()
            .all(|f| f.contains("snapshot_date=2026-11-26")),
        "only day 0 still holds them: {holding:?}"
    );
    assert!(
        holding.keys().any(|f| f.starts_with("tables/")),
        "day 0's tables were built before the suppression: {holding:?}"
    );
    let changes: Vec<_> = rows
        .iter()
        .filter(|(f, _)| f.contains("_changes/") && f.contains(&day_date(1)))
        .flat_map(|(_, r)| r)
        .collect();
    assert!(!changes.is_empty(), "the lists changed between the days");
    assert!(changes.iter().all(|r| !holds(r, &keys)));
    // Nothing of them in staging either (the run cleaned it), nor in any log line.
    assert!(!o.stderr.contains(&keys[0]) && !o.stderr.contains(&keys[1]));
}

/// A unit that checkpoints, fails (a 404 at page 250) and is resumed, with three suppressed
/// people in its list (two before its checkpoint, one after): the checkpoint counts the dropped
/// rows, its position is the rows plus them; the resumed unit publishes every other row at its
/// served position, counts all three as suppressed and the rest as records.
#[test]
fn suppressed_rows_across_a_checkpoint_and_a_resume() {
    use crate::resume::{BIG, EVERY, N, checkpoints, job, manifest_of, scenario, unit_entry};
    use postpress_sim::{Provider, expected_keys};
    let t = TestDir::new();
    let fault = "[[accounts.faults]]\ndataset = \"followers\"\npage = 250\nfault = \"errors/resource_not_found\"\ntimes = 1\n";
    let sim = Sim::with_scenario(&t, &scenario(fault), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    let truth = expected_keys(SEED, Provider::Linkedin, Dataset::Followers, BIG, N, 0.0, 0);
    let hidden = [5usize, 15_000, 30_000];
    let keys: Vec<String> = hidden.iter().map(|&i| truth[i].clone()).collect();
    write_suppressed(&t.out(), "test", &keys);

    run_job(&job, &[]).expect_code(3, &t.out());
    let first = manifests(&t.out()).pop().expect("manifest");
    let r1 = first["run_id"].as_str().expect("run_id").to_owned();
    let left = checkpoints(&t.out());
    assert_eq!(left.len(), 1, "{}", tree(&t.out()));
    let cp = &left[0].1;
    let (rows, position, suppressed) = (
        cp["rows"].as_u64().expect("rows"),
        cp["position"].as_u64().expect("position"),
        cp["suppressed"].as_u64().expect("suppressed"),
    );
    assert_eq!(suppressed, 2, "{cp}");
    assert_eq!(position, rows + suppressed, "{cp}");
    assert!((15_001..30_000).contains(&position), "{cp}");

    run_job(&job, &[]).expect_code(0, &t.out());
    let last = manifests(&t.out())
        .into_iter()
        .find(|m| m["run_id"] != r1.as_str())
        .expect("the rerun's manifest");
    let unit = unit_entry(
        &manifest_of(&t.out(), last["run_id"].as_str().expect("id")),
        BIG,
    );
    assert_eq!(unit["resumed_from"], r1.as_str());
    assert_eq!(unit["suppressed"], 3);
    assert_eq!(unit["records"], N - 3);
    let rows = read_unit(&t.out(), "followers", "linkedin", BIG);
    let got: Vec<(i64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["position"].as_i64().expect("position"),
                r["id"].as_str().expect("id"),
            )
        })
        .collect();
    let want: Vec<(i64, &str)> = truth
        .iter()
        .enumerate()
        .filter(|(i, _)| !hidden.contains(i))
        .map(|(i, k)| (i as i64, k.as_str()))
        .collect();
    assert!(
        got == want,
        "positions and keys differ from the list minus the suppressed"
    );
}
