//! Durable local publishes (SPEC §4): on a local disk the published unit files and the
//! directories naming them are synced before the run manifest is written, and a date's tables
//! before their finalize manifest. Seen from outside with strace: the `syncfs(2)` call comes
//! after the last rename into a published partition and before the rename that puts the
//! manifest in place. Skips (saying why) where strace is not installed.

use crate::util::*;
use std::process::Command;

/// The system calls of a run of `job`, one per line, as strace writes them.
fn traced_run(t: &TestDir, job: &std::path::Path) -> Vec<String> {
    let log = t.path().join("strace.txt");
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=syncfs,fsync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_postpress-etl"))
        .args([
            "run",
            job.to_str().expect("utf-8"),
            "--snapshot-date",
            DATE,
            "--progress",
            "off",
        ])
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("strace runs");
    assert!(status.success(), "the traced run exits 0");
    std::fs::read_to_string(&log)
        .expect("strace log")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The index of the last line that is a rename whose target contains `needle`.
fn last_rename_to(calls: &[String], needle: &str) -> Option<usize> {
    calls.iter().rposition(|l| {
        l.contains("rename")
            && l.rsplit_once(", ")
                .is_some_and(|(_, target)| target.contains(needle))
    })
}

/// A run with its own tables, traced: a `syncfs` comes after the last part is renamed into its
/// partition and before the run manifest is renamed into place; another after the last table
/// file and before the finalize manifest.
#[test]
fn local_publishes_are_synced_before_their_manifests() {
    if !strace_available() {
        eprintln!(
            "skipping local_publishes_are_synced_before_their_manifests: strace is not installed"
        );
        return;
    }
    let t = TestDir::new();
    let accounts = crate::tables_check::ACCOUNTS;
    let sim = Sim::with_scenario(&t, &crate::tables_check::scenario(&accounts, "", ""), &[]);
    let job = t.job(&sim, "", &crate::tables_check::job_accounts(&accounts));
    let calls = traced_run(&t, &job);
    let text = calls.join("\n");
    let syncs: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("syncfs("))
        .map(|(i, _)| i)
        .collect();
    let last_part = last_rename_to(&calls, "/account_id=").expect("parts renamed into place");
    let manifest = calls
        .iter()
        .position(|l| {
            l.contains("rename")
                && l.rsplit_once(", ").is_some_and(|(_, t)| {
                    t.contains("/_runs/") && !t.contains("/finalize-") && !t.contains('#')
                })
        })
        .expect("the run manifest renamed into place");
    assert!(
        syncs.iter().any(|&s| last_part < s && s < manifest),
        "a syncfs between the last part ({last_part}) and the run manifest ({manifest}):\n{text}"
    );
    let last_table = last_rename_to(&calls, "/tables/").expect("tables renamed into place");
    let fin = calls
        .iter()
        .position(|l| {
            l.contains("rename")
                && l.rsplit_once(", ")
                    .is_some_and(|(_, t)| t.contains("/finalize-") && !t.contains('#'))
        })
        .expect("the finalize manifest renamed into place");
    assert!(
        syncs.iter().any(|&s| last_table < s && s < fin),
        "a syncfs between the last table file ({last_table}) and the finalize manifest ({fin}):\n{text}"
    );
}
