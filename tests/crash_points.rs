//! Every crash point (built with `--features crash-points`, see `sink::crash`): a small run —
//! a big unit checkpointing into three parts, a small account's two units, a failing unit —
//! and the finalize of its own reader tables, aborted just before and just after each of its
//! writes, renames, copies and deletes on a local disk. After each abort: every visible file
//! reads, every visible unit is whole (positions 0..n once each, parts numbered from 0), and a
//! date's tables are the files of one finalize. Then a rerun gives exactly the clean run's
//! output, asking the API only for the pages no checkpoint holds.
//!
//! The same sweep runs on the S3 test server, where a publish is copies then deletes.
//! `make crash-sweep` tries every crash point on both (POSTPRESS_CRASH_SWEEP=full, about 2
//! minutes); `make test` all on the local disk and every fourth on S3 (`local`, under a minute);
//! without the variable every fourth is tried. The test prints how many it tried.

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

/// Where a sweep writes: a local directory per trial, or a prefix per trial in an S3 bucket
/// of the test server (read back into a local directory for the checks).
enum Dest {
    Local(PathBuf),
    S3 { endpoint: String, bucket: String },
}

impl Dest {
    /// The `--output` of trial `name`.
    fn url(&self, name: &str) -> String {
        match self {
            Dest::Local(dir) => dir.join(name).display().to_string(),
            Dest::S3 { bucket, .. } => format!("s3://{bucket}/{name}"),
        }
    }

    /// The environment a run needs to reach it.
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Dest::Local(_) => Vec::new(),
            Dest::S3 { endpoint, .. } => {
                crate::s3::aws_env(endpoint, crate::s3::KEY_ID, crate::s3::SECRET)
                    .iter()
                    .map(|(k, v)| (*k, (*v).to_owned()))
                    .collect()
            }
        }
    }

    /// Trial `name`'s output as local files, read back into `scratch` from S3 (fresh each time).
    fn view(&self, name: &str, scratch: &Path) -> PathBuf {
        match self {
            Dest::Local(dir) => dir.join(name),
            Dest::S3 { endpoint, bucket } => {
                std::fs::remove_dir_all(scratch).ok();
                std::fs::create_dir_all(scratch).expect("scratch dir");
                crate::s3::download(&crate::s3::s3_store(endpoint, bucket), name, scratch);
                scratch.to_path_buf()
            }
        }
    }
}

/// A run of `job` into `url` with extra environment `env`; its exit code (None: it aborted).
fn run(job: &Path, url: &str, env: &[(&str, String)]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(["run", job.to_str().expect("utf-8"), "--snapshot-date", DATE])
        .args(["--progress", "off", "--output", url])
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

/// Sweeps the crash points of the small run into `dest`: every one with
/// `POSTPRESS_CRASH_SWEEP=full` (or `local`, on a local disk), else every fourth. Returns
/// (tried, operations).
fn sweep(t: &TestDir, dest: &Dest, what: &str) -> (u64, u64) {
    let sim = Sim::with_scenario(t, &scenario(), &[]);
    let job = t.job_with(
        &sim,
        "concurrency = 1\nmax_attempts = 1",
        "checkpoint_rows = 1000",
        &accounts(),
    );
    let scratch = t.path().join(format!("view-{what}"));
    let log = t.path().join(format!("ops-{what}.log"));
    let mut env = dest.env();
    env.push(("POSTPRESS_CRASH_LOG", log.display().to_string()));
    let (code, err) = run(&job, &dest.url("clean"), &env);
    assert_eq!(
        code,
        Some(3),
        "{what}: the clean run: one unit fails\n{err}"
    );
    let ops = std::fs::read_to_string(&log)
        .expect("ops log")
        .lines()
        .count() as u64;
    assert!(
        ops > 20,
        "{what}: a clean run has its operations logged: {ops}"
    );
    let want = output_of(&dest.view("clean", &scratch));
    assert!(
        want.iter().any(|(k, _)| k.starts_with("tables/")),
        "{what}: the run built its tables: {want:?}"
    );
    let sweep = std::env::var("POSTPRESS_CRASH_SWEEP").unwrap_or_default();
    let full = sweep == "full" || (sweep == "local" && matches!(dest, Dest::Local(_)));
    let mut tried = 0;
    let mut not_reached = 0;
    for n in 1..=ops {
        for when in ["before", "after"] {
            if !full && (n + u64::from(when == "after")) % 4 != 0 {
                continue;
            }
            let label = format!("{what}: crash {when} operation {n} of {ops}");
            let name = format!("out-{n}-{when}");
            let mut env = dest.env();
            env.push(("POSTPRESS_CRASH_AT", n.to_string()));
            env.push(("POSTPRESS_CRASH_WHEN", when.to_owned()));
            let (code, err) = run(&job, &dest.url(&name), &env);
            if code.is_some() {
                // Units run side by side (one fetching, one publishing): a run may do an
                // operation or two fewer than the clean one, and end before the last points.
                assert!(n + 3 > ops, "{label}: the run aborted\n{err}");
                assert_eq!(
                    output_of(&dest.view(&name, &scratch)),
                    want,
                    "{label}: a run that ended is the clean run"
                );
                not_reached += 1;
                continue;
            }
            let seen = dest.view(&name, &scratch);
            assert_visible_state_sound(&seen, &label);
            let held = checkpointed_pages(&seen);
            http_post(&sim.url, "/_sim/stats/reset");
            let (code, err) = run(&job, &dest.url(&name), &dest.env());
            assert_eq!(code, Some(3), "{label}: the rerun\n{err}");
            let seen = dest.view(&name, &scratch);
            assert_eq!(
                output_of(&seen),
                want,
                "{label}: the rerun's output is the clean run's"
            );
            assert_visible_state_sound(&seen, &label);
            if let Some(pages) = held {
                assert_eq!(
                    big_pages(&sim),
                    BIG_PAGES - pages,
                    "{label}: the rerun asks only for the pages no checkpoint holds"
                );
            }
            if let Dest::Local(dir) = dest {
                std::fs::remove_dir_all(dir.join(&name)).ok();
            }
            tried += 1;
        }
    }
    eprintln!(
        "crash points ({what}): tried {tried} of {} ({ops} destination operations, before and \
         after each); {not_reached} not reached (the run ended first)",
        2 * ops
    );
    assert!(tried > 0);
    (tried, ops)
}

/// Every crash point on a local disk.
#[test]
fn every_crash_point_of_a_run_and_its_finalize_recovers_exactly() {
    let t = TestDir::new();
    let dest = Dest::Local(t.path().join("out"));
    sweep(&t, &dest, "local disk");
}

/// Every crash point on the S3 test server (publishes are copies then deletes there).
#[test]
fn every_crash_point_on_s3_recovers_exactly() {
    let Some(endpoint) = crate::s3::s3_endpoint("every_crash_point_on_s3_recovers_exactly") else {
        return;
    };
    let bucket = crate::s3::unique_bucket("crash");
    crate::s3::create_bucket(&endpoint, &bucket);
    let t = TestDir::new();
    sweep(&t, &Dest::S3 { endpoint, bucket }, "S3");
}
