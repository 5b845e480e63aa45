//! One writer at a time (SPEC §10, §12) through the real binary, on a local disk: `erase` and
//! `prune` wait while a run or finalize of the output holds a live lease and then finish
//! exactly; a run and a finalize wait while an erase holds the output's lifecycle lease, and
//! read the suppressed set only after that wait; `--wait 1s` against a live holder exits 1
//! naming it; `--dry-run` takes no lease while one is held.
//!
//! The other writer is a lease file naming a live `sleep` process of this host, as a run, a
//! finalize or an erase writes it; killing that process ends it (its holder is gone).

use crate::lifecycle_util::*;
use crate::resume::{WAIT, collect_stderr, host_name};
use crate::tables_check::{date, set_day};
use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A live holder: a process of this host that lives until killed.
fn holder() -> Child {
    Command::new("sleep").arg("600").spawn().expect("sleep")
}

/// Writes a live lease at `out/rel` held by `pid`, as `area` (`run`, `finalize`, `erase`) of
/// run `holder`.
fn live_lease(out: &Path, rel: &str, area: &str, holder: &str, pid: u32) -> PathBuf {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let lease = serde_json::json!({
        "job": "test-job", "snapshot_date": date(0), "area": area, "holder": holder,
        "host": host_name(), "pid": pid, "acquired_at": now, "renewed_at": now,
        "token": "t", "generation": 0,
    });
    let path = out.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, lease.to_string()).expect("lease");
    path
}

/// Starts `postpress-etl ARGS` with stderr collected.
fn spawn(args: &[&str]) -> (Child, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(args)
        .env("POSTPRESS_API_KEY", KEY)
        .env_remove("POSTPRESS_BASE_URL")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn postpress-etl");
    let log = collect_stderr(&mut child);
    (child, log)
}

fn text(log: &std::sync::Arc<std::sync::Mutex<String>>) -> String {
    log.lock().expect("lock").clone()
}

fn keys_file(t: &TestDir, keys: &[String]) -> PathBuf {
    t.write("keys.txt", &keys.join("\n"))
}

/// An erase started while a run holds its lease says whom it waits for, writes nothing (not
/// even the suppressed list) while it is live, and once the run is gone removes exactly the
/// erased rows: every other row of every file is unchanged.
#[test]
fn an_erase_waits_for_a_live_run_then_completes_exactly() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=1);
    let keys = everywhere(0..=1);
    let before = all_rows(&out);
    assert!(!rows_holding(&before, &keys).is_empty());
    let mut run = holder();
    let rel = format!(
        "_leases/run/test-job/snapshot_date={}/shard=all.json",
        date(2)
    );
    live_lease(&out, &rel, "run", "other-run", run.id());
    let file = keys_file(&t, &keys);
    let (mut erase, log) = spawn(&[
        "erase",
        job.to_str().expect("utf-8"),
        "--keys-file",
        file.to_str().expect("utf-8"),
    ]);
    let waiting = wait_until(WAIT, || {
        text(&log).contains("Other writers of the output are live")
    });
    let list_meanwhile = out.join("_lifecycle/suppressed").exists();
    let rows_meanwhile = all_rows(&out);
    run.kill().expect("kill the holder");
    run.wait().ok();
    let code = erase.wait().expect("wait").code();
    let log = text(&log);
    assert!(waiting, "erase says it waits:\n{log}");
    assert!(log.contains("other-run"), "it names the run:\n{log}");
    assert!(!list_meanwhile, "nothing written while the run is live");
    assert!(
        rows_meanwhile == before,
        "no file changed while the run is live"
    );
    assert_eq!(code, Some(0), "{log}");
    let after = all_rows(&out);
    assert_eq!(rows_holding(&after, &keys), BTreeMap::new());
    assert!(
        after == without(&before, &keys),
        "every other row unchanged"
    );
    for k in &keys {
        assert!(!log.contains(k.as_str()), "a key in the logs");
    }
    let lease: Value = serde_json::from_slice(
        &std::fs::read(out.join("_lifecycle/lease.json")).expect("the lifecycle lease"),
    )
    .expect("json");
    assert!(
        lease["released_at"].is_string(),
        "released at exit: {lease}"
    );
}

/// A run started while an erase holds the output's lifecycle lease says whom it waits for and
/// asks the API nothing until it ends; keys added to the suppressed set during the wait are
/// kept out of what the run publishes (it reads the set after the wait).
#[test]
fn a_run_waits_for_an_erase_then_reads_the_suppressed_set() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    set_day(&sim, 0);
    let mut erase = holder();
    live_lease(
        &out,
        "_lifecycle/lease.json",
        "erase",
        "other-erase",
        erase.id(),
    );
    let d = date(0);
    let (mut run, log) = spawn(&[
        "run",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        &d,
        "--progress",
        "off",
    ]);
    let waiting = wait_until(WAIT, || {
        text(&log).contains("An erase or prune of the output holds its lifecycle lease")
    });
    let published_meanwhile = out.join("followers").exists() || out.join("following").exists();
    let stats = sim.stats();
    let requests_meanwhile = ["followers", "following"]
        .iter()
        .map(|r| stats["by_route"][r].as_u64().unwrap_or(0))
        .sum::<u64>();
    // What the erase adds while the run waits.
    let keys = everywhere(0..=0);
    write_suppressed(&out, "during-the-wait", &keys);
    erase.kill().expect("kill the holder");
    erase.wait().ok();
    let code = run.wait().expect("wait").code();
    let log = text(&log);
    assert!(waiting, "the run says it waits:\n{log}");
    assert!(log.contains("other-erase"), "it names the erase:\n{log}");
    assert!(
        !published_meanwhile,
        "nothing published while the erase is live"
    );
    assert_eq!(requests_meanwhile, 0, "no request while waiting");
    assert_eq!(code, Some(0), "{log}");
    let rows = all_rows(&out);
    assert!(!rows.is_empty(), "{}", tree(&out));
    assert_eq!(rows_holding(&rows, &keys), BTreeMap::new());
    let suppressed: u64 = manifests(&out)[0]["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["suppressed"].as_u64().unwrap_or(0))
        .sum();
    assert!(suppressed > 0, "the run counts the rows it kept out");
}

/// A finalize finds the lifecycle lease live: it says whom it waits for, builds nothing until
/// the erase is gone, then builds the date.
#[test]
fn a_finalize_waits_for_an_erase() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "tables = false");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=0);
    let mut erase = holder();
    live_lease(
        &out,
        "_lifecycle/lease.json",
        "erase",
        "other-erase",
        erase.id(),
    );
    let d = date(0);
    let (mut fin, log) = spawn(&[
        "finalize",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        &d,
    ]);
    let waiting = wait_until(WAIT, || {
        text(&log).contains("An erase or prune of the output holds its lifecycle lease")
    });
    let built_meanwhile = out.join("tables").exists();
    erase.kill().expect("kill the holder");
    erase.wait().ok();
    let code = fin.wait().expect("wait").code();
    let log = text(&log);
    assert!(waiting, "finalize says it waits:\n{log}");
    assert!(log.contains("other-erase"), "it names the erase:\n{log}");
    assert!(!built_meanwhile, "no table built while the erase is live");
    assert_eq!(code, Some(0), "{log}");
    assert!(out.join("tables/account_daily").exists(), "{}", tree(&out));
}

/// `--wait 1s` while a finalize holds a date's lease (erase) or another erase holds the
/// lifecycle lease (prune): exit 1 naming the holder, nothing written.
#[test]
fn a_short_wait_against_a_live_holder_exits_1_naming_it() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=0);
    let before = all_rows(&out);
    let mut fin = holder();
    let rel = format!("_leases/finalize/snapshot_date={}.json", date(0));
    let fin_lease = live_lease(&out, &rel, "finalize", "other-finalize", fin.id());
    let keys = everywhere(0..=0);
    let file = keys_file(&t, &keys);
    let j = job.to_str().expect("utf-8");
    let f = file.to_str().expect("utf-8");
    let erase = etl(&["erase", j, "--keys-file", f, "--wait", "1s"], &[]);
    assert_eq!(erase.code, Some(1), "{}", erase.stderr);
    assert!(
        erase.stderr.contains("other-finalize") && erase.stderr.contains("--wait"),
        "{}",
        erase.stderr
    );
    assert!(!out.join("_lifecycle/suppressed").exists());
    assert!(all_rows(&out) == before);
    std::fs::remove_file(fin_lease).expect("rm");
    fin.kill().ok();
    fin.wait().ok();

    let mut other = holder();
    live_lease(
        &out,
        "_lifecycle/lease.json",
        "erase",
        "other-erase",
        other.id(),
    );
    let prune = etl(&["prune", j, "--wait", "1s"], &[]);
    other.kill().ok();
    other.wait().ok();
    assert_eq!(prune.code, Some(1), "{}", prune.stderr);
    assert!(prune.stderr.contains("other-erase"), "{}", prune.stderr);
    for k in &keys {
        assert!(!erase.stderr.contains(k.as_str()), "a key in the logs");
    }
}

/// `--dry-run` of erase and prune takes no lease: it finishes while another erase holds the
/// lifecycle lease, and leaves that lease as it was.
#[test]
fn a_dry_run_takes_no_lease() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=0);
    let mut other = holder();
    let lease = live_lease(
        &out,
        "_lifecycle/lease.json",
        "erase",
        "other-erase",
        other.id(),
    );
    let held = std::fs::read(&lease).expect("lease");
    let file = keys_file(&t, &everywhere(0..=0));
    let j = job.to_str().expect("utf-8");
    let f = file.to_str().expect("utf-8");
    let erase = etl(&["erase", j, "--keys-file", f, "--dry-run"], &[]);
    let prune = etl(&["prune", j, "--dry-run"], &[]);
    other.kill().ok();
    other.wait().ok();
    assert_eq!(erase.code, Some(0), "{}", erase.stderr);
    assert_eq!(prune.code, Some(0), "{}", prune.stderr);
    assert_eq!(
        std::fs::read(&lease).expect("lease"),
        held,
        "lease untouched"
    );
    let claims: Vec<_> = files_below(&out.join("_lifecycle"))
        .into_iter()
        .filter(|p| p.display().to_string().contains(".json.g"))
        .collect();
    assert!(claims.is_empty(), "{claims:?}");
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

/// A real run and a real erase of the same output: the run is frozen (SIGSTOP) once it holds
/// its lease, the erase started then waits for it and names it, writing nothing; once the run
/// is let go and ends, the erase finishes. Every unit the run published is the simulator's list
/// minus the erased people, in order, and no file of the output holds them.
#[test]
fn a_real_erase_waits_for_a_real_run() {
    let t = TestDir::new();
    let sim = Sim::start(&[
        "--accounts",
        "4",
        "--followers",
        &FOLLOWERS.to_string(),
        "--following",
        &FOLLOWING.to_string(),
        "--churn",
        &CHURN.to_string(),
        "--shared-followers",
        &SHARED.to_string(),
        "--latency",
        "400ms",
    ]);
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    set_day(&sim, 0);
    let d = date(0);
    let (mut run, run_log) = spawn(&[
        "run",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        &d,
        "--progress",
        "off",
    ]);
    let lease = out.join(format!(
        "_leases/run/test-job/snapshot_date={d}/shard=all.json"
    ));
    assert!(
        wait_until(WAIT, || lease.exists()),
        "the run takes its lease:\n{}",
        text(&run_log)
    );
    signal(run.id(), "STOP");
    let held: Value = serde_json::from_slice(&std::fs::read(&lease).expect("lease")).expect("json");
    assert!(
        held["released_at"].is_null(),
        "the run ended before it could be frozen; raise --latency: {held}"
    );
    let run_id = held["holder"].as_str().expect("holder").to_owned();
    let keys = everywhere(0..=0);
    let file = keys_file(&t, &keys);
    let (mut erase, erase_log) = spawn(&[
        "erase",
        job.to_str().expect("utf-8"),
        "--keys-file",
        file.to_str().expect("utf-8"),
    ]);
    let waiting = wait_until(WAIT, || {
        text(&erase_log).contains("Other writers of the output are live")
    });
    let list_meanwhile = out.join("_lifecycle/suppressed").exists();
    signal(run.id(), "CONT");
    let run_code = run.wait().expect("wait").code();
    let erase_code = erase.wait().expect("wait").code();
    let (run_log, erase_log) = (text(&run_log), text(&erase_log));
    assert!(waiting, "erase says it waits:\n{erase_log}");
    assert!(
        erase_log.contains(&run_id),
        "it names the run {run_id}:\n{erase_log}"
    );
    assert!(!list_meanwhile, "nothing written while the run is live");
    assert_eq!(run_code, Some(0), "{run_log}");
    assert_eq!(erase_code, Some(0), "{erase_log}");
    for (account, p) in ACCOUNTS {
        let lists = [
            ("followers", postpress_sim::Dataset::Followers),
            ("following", postpress_sim::Dataset::Following),
        ];
        for (name, dataset) in lists {
            let column = if name == "followers" {
                "id"
            } else {
                "member_id"
            };
            let got: Vec<String> = unit_rows(&out, name, p, account, 0)
                .iter()
                .map(|r| r[column].as_str().expect("key").to_owned())
                .collect();
            let want: Vec<String> = truth(account, p, dataset, 0)
                .into_iter()
                .filter(|k| !keys.contains(k))
                .collect();
            assert_eq!(got, want, "{name} of {account}");
        }
    }
    assert_eq!(rows_holding(&all_rows(&out), &keys), BTreeMap::new());
    for k in &keys {
        assert!(
            !run_log.contains(k.as_str()) && !erase_log.contains(k.as_str()),
            "a key in the logs"
        );
    }
}

/// A signal stops an erase or a prune: one waiting for a live run exits 143 (SIGTERM) or 130
/// (SIGINT) at once, not at the end of its `--wait`, having written nothing and leaving no live
/// lifecycle lease behind, so the next one need not wait for it to go stale.
#[test]
fn a_signal_stops_an_erase_or_a_prune_and_frees_the_output() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=0);
    let before = all_rows(&out);
    let mut run = holder();
    let rel = format!(
        "_leases/run/test-job/snapshot_date={}/shard=all.json",
        date(0)
    );
    let run_lease = live_lease(&out, &rel, "run", "other-run", run.id());
    let keys = everywhere(0..=0);
    let file = keys_file(&t, &keys);
    let j = job.to_str().expect("utf-8");
    let f = file.to_str().expect("utf-8");
    for (args, sig, code) in [
        (
            vec!["erase", j, "--keys-file", f, "--wait", "60s"],
            "TERM",
            143,
        ),
        (vec!["prune", j, "--wait", "60s"], "INT", 130),
    ] {
        let (mut child, log) = spawn(&args);
        wait_until(Duration::from_secs(20), || text(&log).contains("other-run"));
        let sent = Instant::now();
        signal(child.id(), sig);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(code), "{}", text(&log));
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "{:?}",
            sent.elapsed()
        );
        assert!(text(&log).contains("stopped by a signal"), "{}", text(&log));
        // Its lease went back (or was never taken): no live lifecycle lease is left.
        let lease = out.join("_lifecycle/lease.json");
        if lease.exists() {
            let l: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&lease).expect("read")).expect("JSON");
            assert!(
                l["released_at"].is_string() || l["pid"] != child.id(),
                "a live lease was left: {l}"
            );
        }
        for k in &keys {
            assert!(!text(&log).contains(k.as_str()), "a key in the logs");
        }
    }
    assert!(!out.join("_lifecycle/suppressed").exists());
    assert!(all_rows(&out) == before);
    std::fs::remove_file(run_lease).expect("rm");
    run.kill().ok();
    run.wait().ok();
}
