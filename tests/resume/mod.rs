//! Resuming after a crash (SPEC §10, issue 11): the real binary is SIGKILLed or SIGTERMed in the
//! middle of a unit of 60,000 followers that checkpoints every 10,000 rows; the next run
//! continues from the checkpoint. Each test counts the pages the simulator served to each run
//! and compares the published rows with the simulator's ground truth, `run_id` by `run_id`.
//!
//! * `crash` — SIGKILL, SIGTERM, a refused cursor, no checkpoint yet, `--skip-published`;
//! * `leases` — a live lease is waited for; old checkpoints and ended runs' areas are removed;
//! * `publish` — a publish cut short is finished by the next run;
//! * `s3` — the SIGKILL case with the output on the S3-compatible server.

mod crash;
mod leases;
mod publish;
mod s3;
mod writers;

use crate::util::*;
use postpress_sim::{Dataset as SimDataset, Provider as SimProvider, expected_keys};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The big account and its list.
pub(crate) const BIG: &str = "acc_big";
pub(crate) const N: u64 = 60_000;
/// LinkedIn followers come 100 to a page.
pub(crate) const PAGES: u64 = 600;
/// `output.checkpoint_rows` of these tests: a checkpoint every 100 pages.
pub(crate) const EVERY: u64 = 10_000;
/// The crash comes once a checkpoint holds at least this many rows.
pub(crate) const CRASH_AFTER: u64 = 20_000;
pub(crate) const WAIT: Duration = Duration::from_secs(90);

/// The simulator's accounts: the big one, slowed a little so a run can be stopped mid-list,
/// plus `extra` scenario tables.
pub(crate) fn scenario(extra: &str) -> String {
    format!(
        "[[accounts]]\nid = \"{BIG}\"\nprovider = \"linkedin\"\nfollowers = {N}\nfollowing = 0\nlatency = \"3ms\"\n{extra}"
    )
}

/// `[[accounts]]` tables exporting only the followers of each LinkedIn account.
pub(crate) fn followers_of(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| {
            format!("[[accounts]]\naccount_id = \"{id}\"\nprovider = \"linkedin\"\ndatasets = [\"followers\"]\n\n")
        })
        .collect()
}

/// A job over `ids` checkpointing every `every` rows.
pub(crate) fn job(t: &TestDir, sim: &Sim, ids: &[&str], every: u64) -> PathBuf {
    t.job_with(
        sim,
        "concurrency = 2",
        &format!("checkpoint_rows = {every}"),
        &followers_of(ids),
    )
}

/// Every checkpoint below `out/_staging`, with its path.
pub(crate) fn checkpoints(out: &Path) -> Vec<(PathBuf, Value)> {
    files_below(&out.join("_staging"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "checkpoint.json"))
        .filter_map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            Some((p, v))
        })
        .collect()
}

/// Pages of `account`'s followers the simulator served since its last reset.
pub(crate) fn pages_served(sim: &Sim, account: &str) -> u64 {
    sim.stats()["accounts"][account]["followers"]["pages"]
        .as_u64()
        .unwrap_or(0)
}

/// Zeroes the simulator's counters once no request is being answered: a request of a run just
/// killed is still answered after its latency (the simulator only sees the connection gone when
/// it writes), and would otherwise be counted after the reset as the next run's.
pub(crate) fn reset_stats(sim: &Sim) {
    let idle = wait_until(WAIT, || sim.stats()["in_flight"].as_u64() == Some(0));
    assert!(
        idle,
        "the simulator still answers requests: {}",
        sim.stats()
    );
    http_post(&sim.url, "/_sim/stats/reset");
}

/// Waits until a checkpoint of the big unit holds at least [`CRASH_AFTER`] rows.
pub(crate) fn wait_for_checkpoint(out: &Path, child: &mut Child) {
    let ok = wait_until(WAIT, || {
        checkpoints(out)
            .iter()
            .any(|(_, c)| c["rows"].as_u64().unwrap_or(0) >= CRASH_AFTER)
    });
    if !ok {
        child.kill().ok();
        panic!("no checkpoint of {CRASH_AFTER} rows\n{}", tree(out));
    }
}

/// Starts a run of `job`, SIGKILLs it once the big unit checkpointed at least 20,000 rows,
/// and returns its checkpoint as the crash left it and the pages the run had received.
pub(crate) fn crash_mid_unit(out: &Path, sim: &Sim, job: &Path) -> (Value, u64) {
    let mut child = spawn_run(job, &[]);
    wait_for_checkpoint(out, &mut child);
    child.kill().expect("SIGKILL");
    child.wait().ok();
    let left = checkpoints(out);
    assert_eq!(left.len(), 1, "one checkpoint\n{}", tree(out));
    let cp = left[0].1.clone();
    assert_eq!(cp["state"], "paging");
    assert!(cp["pages"].as_u64() < Some(PAGES), "killed mid-list: {cp}");
    (cp, pages_served(sim, BIG))
}

/// The unit's entry in a manifest.
pub(crate) fn unit_entry(manifest: &Value, account: &str) -> Value {
    manifest["units"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["account_id"] == account && u["dataset"] == "followers")
        .cloned()
        .unwrap_or_else(|| panic!("no unit {account} in {manifest}"))
}

/// The manifest of run `run_id` below `out`.
pub(crate) fn manifest_of(out: &Path, run_id: &str) -> Value {
    manifests(out)
        .into_iter()
        .find(|m| m["run_id"] == run_id)
        .unwrap_or_else(|| panic!("no manifest of {run_id}\n{}", tree(out)))
}

/// The big unit's published rows are exactly the simulator's list (every column, positions
/// 0..N, the ids in served order), in parts of [`EVERY`] rows; rows before `split` carry
/// `first`'s run id and the rest `second`'s.
pub(crate) fn assert_big_unit(out: &Path, split: u64, first: &str, second: &str) {
    let rows = assert_unit_exact(out, "followers", "linkedin", BIG, N);
    let want = expected_keys(
        SEED,
        SimProvider::Linkedin,
        SimDataset::Followers,
        BIG,
        N,
        0.0,
        0,
    );
    let got: Vec<&str> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap_or(""))
        .collect();
    assert!(got == want, "ids differ from the simulator's list");
    for (i, r) in rows.iter().enumerate() {
        let run = if (i as u64) < split { first } else { second };
        assert_eq!(r["run_id"], run, "row {i}: fetched by {run}");
    }
    let parts = files_below(&partition(out, "followers", "linkedin", BIG));
    assert_eq!(
        parts.len() as u64,
        N / EVERY,
        "a part per checkpoint\n{}",
        tree(out)
    );
}

/// Nothing left in staging.
pub(crate) fn assert_no_staging(out: &Path) {
    let left = files_below(&out.join("_staging"));
    assert!(left.is_empty(), "staging leftovers:\n{}", tree(out));
}

/// Copies a directory tree.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for f in files_below(from) {
        let dest = to.join(f.strip_prefix(from).expect("below"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&f, &dest).expect("copy");
    }
}

/// This machine's host name, as the job reads it.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .expect("host name")
}

/// Collects a child's stderr in the background.
pub(crate) fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().expect("piped stderr");
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&chunk[..n]).into_owned();
            sink.lock().expect("lock").push_str(&text);
        }
    });
    buf
}
