//! Every crash point (built with `--features crash-points`, see `sink::crash`): a small run —
//! a big unit checkpointing into three parts, a small account's two units, a failing unit —
//! and the finalize of its own reader tables, aborted just before and just after each of its
//! writes, renames, copies and deletes on a local disk. After each abort: every visible file
//! reads, every visible unit is whole (positions 0..n once each, parts numbered from 0), and a
//! date's tables are the files of one finalize. Then a rerun gives exactly the clean run's
//! output, asking the API only for the pages no checkpoint holds.
//!
//! `make test` and `make crash-sweep` try them all (POSTPRESS_CRASH_SWEEP=full, under a minute);
//! without that variable every fourth is tried. The test prints how many it tried.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIG: &str = "acc_big";
const BIG_ROWS: u64 = 3000;
const BIG_PAGES: u64 = 30;
const SMALL: &str = "ig_small";
const BAD: &str = "acc_bad";

fn scenario() -> String {
    format!(
        "[[accounts]]\nid = \"{BIG}\"\nprovider = \"linkedin\"\nfollowers = {BIG_ROWS}\nfollowing = 0\n\n\
         [[accounts]]\nid = \"{SMALL}\"\nprovider = \"instagram\"\nfollowers = 50\nfollowing = 20\n\n\
         [[accounts]]\nid = \"{BAD}\"\nprovider = \"linkedin\"\nfollowers = 20\nfollowing = 0\n\
         [[accounts.faults]]\nfault = \"errors/resource_not_found\"\n"
    )
}

fn accounts() -> String {
    format!(
        "[[accounts]]\naccount_id = \"{BIG}\"\nprovider = \"linkedin\"\ndatasets = [\"followers\"]\n\n\
         [[accounts]]\naccount_id = \"{SMALL}\"\nprovider = \"instagram\"\n\n\
         [[accounts]]\naccount_id = \"{BAD}\"\nprovider = \"linkedin\"\ndatasets = [\"followers\"]\n"
    )
}

/// A run of `job` into `out` with the crash-point environment `env`; its exit code (None: it
/// aborted).
fn run(job: &Path, out: &Path, env: &[(&str, String)]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(["run", job.to_str().expect("utf-8"), "--snapshot-date", DATE])
        .args([
            "--progress",
            "off",
            "--output",
            out.to_str().expect("utf-8"),
        ])
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .output()
        .expect("run postpress-etl");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The published rows of every unit but the failing one, and the row count of each reader
/// table partition: what a rerun must reproduce.
fn output_of(out: &Path) -> Vec<(String, usize)> {
    let mut got = Vec::new();
    for (d, p, a, n) in [
        ("followers", "linkedin", BIG, BIG_ROWS),
        ("followers", "instagram", SMALL, 50),
        ("following", "instagram", SMALL, 20),
    ] {
        let rows = assert_unit_exact(out, d, p, a, n);
        got.push((format!("{d}/{p}/{a}"), rows.len()));
    }
    let tables = out.join("tables");
    let mut dirs: Vec<PathBuf> = files_below(&tables)
        .into_iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        let n: usize = files_below(&d)
            .iter()
            .map(|f| read_file(f).1.iter().map(|b| b.num_rows()).sum::<usize>())
            .sum();
        let rel = d.strip_prefix(out).unwrap_or(&d).display().to_string();
        got.push((rel, n));
    }
    got
}

/// What a reader can see after an abort: every file outside staging reads (Parquet, JSON),
/// every unit partition is whole, and each table partition is one finalize's.
fn assert_visible_state_sound(out: &Path, label: &str) {
    for f in files_below(out) {
        let rel = f.strip_prefix(out).unwrap_or(&f);
        if rel.starts_with("_staging") {
            continue;
        }
        match f.extension().and_then(|e| e.to_str()) {
            Some("parquet") => {
                read_file(&f);
            }
            Some("json") => {
                let text = std::fs::read(&f).unwrap_or_default();
                assert!(
                    serde_json::from_slice::<Value>(&text).is_ok(),
                    "{label}: {} is not whole JSON",
                    f.display()
                );
            }
            _ => {}
        }
    }
    for (d, p, a) in [
        ("followers", "linkedin", BIG),
        ("followers", "instagram", SMALL),
        ("following", "instagram", SMALL),
    ] {
        let dir = partition(out, d, p, a);
        if !dir.exists() || files_below(&dir).is_empty() {
            continue;
        }
        let rows = read_unit(out, d, p, a);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                r["position"].as_i64(),
                Some(i as i64),
                "{label}: {d}/{p}/{a} row {i}: positions 0..n once each"
            );
        }
    }
    let table_files: Vec<PathBuf> = files_below(&out.join("tables"));
    let mut by_dir: std::collections::BTreeMap<PathBuf, std::collections::BTreeSet<String>> =
        Default::default();
    for f in table_files {
        let run = footer(&f)["run_id"].as_str().unwrap_or("").to_owned();
        by_dir
            .entry(f.parent().map(Path::to_path_buf).unwrap_or_default())
            .or_default()
            .insert(run);
    }
    for (dir, runs) in by_dir {
        assert_eq!(
            runs.len(),
            1,
            "{label}: {} mixes finalizes {runs:?}",
            dir.display()
        );
    }
}

/// The pages of the big unit a checkpoint in staging holds, when the unit is not published.
fn checkpointed_pages(out: &Path) -> Option<u64> {
    if partition(out, "followers", "linkedin", BIG).exists()
        && !files_below(&partition(out, "followers", "linkedin", BIG)).is_empty()
    {
        return None;
    }
    files_below(&out.join("_staging"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "checkpoint.json"))
        .filter_map(|p| serde_json::from_slice::<Value>(&std::fs::read(p).ok()?).ok())
        .filter(|c| c["account_id"] == BIG)
        .filter_map(|c| c["pages"].as_u64())
        .max()
}

fn big_pages(sim: &Sim) -> u64 {
    sim.stats()["accounts"][BIG]["followers"]["pages"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn every_crash_point_of_a_run_and_its_finalize_recovers_exactly() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(), &[]);
    let job = t.job_with(
        &sim,
        "concurrency = 1\nmax_attempts = 1",
        "checkpoint_rows = 1000",
        &accounts(),
    );
    let log = t.path().join("ops.log");
    let clean = t.path().join("clean");
    let (code, err) = run(
        &job,
        &clean,
        &[("POSTPRESS_CRASH_LOG", log.display().to_string())],
    );
    assert_eq!(code, Some(3), "the clean run: one unit fails\n{err}");
    let ops = std::fs::read_to_string(&log)
        .expect("ops log")
        .lines()
        .count() as u64;
    assert!(ops > 20, "a clean run has its operations logged: {ops}");
    let want = output_of(&clean);
    assert!(
        want.iter().any(|(k, _)| k.starts_with("tables/")),
        "the run built its tables: {want:?}"
    );
    let full = std::env::var("POSTPRESS_CRASH_SWEEP").is_ok_and(|v| v == "full");
    let mut tried = 0;
    let mut not_reached = 0;
    for n in 1..=ops {
        for when in ["before", "after"] {
            if !full && (n + u64::from(when == "after")) % 4 != 0 {
                continue;
            }
            let label = format!("crash {when} operation {n} of {ops}");
            let out = t.path().join(format!("out-{n}-{when}"));
            let env = [
                ("POSTPRESS_CRASH_AT", n.to_string()),
                ("POSTPRESS_CRASH_WHEN", when.to_owned()),
            ];
            let (code, err) = run(&job, &out, &env);
            if code.is_some() {
                // Units run side by side (one fetching, one publishing): a run may do an
                // operation or two fewer than the clean one, and end before the last points.
                assert!(n + 3 > ops, "{label}: the run aborted\n{err}");
                assert_eq!(
                    output_of(&out),
                    want,
                    "{label}: a run that ended is the clean run"
                );
                not_reached += 1;
                std::fs::remove_dir_all(&out).ok();
                continue;
            }
            assert_visible_state_sound(&out, &label);
            let held = checkpointed_pages(&out);
            http_post(&sim.url, "/_sim/stats/reset");
            let (code, err) = run(&job, &out, &[]);
            assert_eq!(code, Some(3), "{label}: the rerun\n{err}");
            assert_eq!(
                output_of(&out),
                want,
                "{label}: the rerun's output is the clean run's"
            );
            assert_visible_state_sound(&out, &label);
            if let Some(pages) = held {
                assert_eq!(
                    big_pages(&sim),
                    BIG_PAGES - pages,
                    "{label}: the rerun asks only for the pages no checkpoint holds"
                );
            }
            std::fs::remove_dir_all(&out).ok();
            tried += 1;
        }
    }
    eprintln!(
        "crash points: tried {tried} of {} ({ops} destination operations, before and after \
         each); {not_reached} not reached (the run ended first)",
        2 * ops
    );
    assert!(tried > 0);
}
