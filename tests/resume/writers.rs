//! One writer per (job, snapshot date, shard) and one finalize per date (SPEC §10): a second run
//! started while the first pages waits for its lease, logging whom for, then skips what the
//! first published without one request for it; two finalizes of the same dates at once leave
//! each date's tables from one of them.

use super::*;
use crate::tables_check::{ACCOUNTS, date, export, job_accounts, set_day, table_files};

/// Every part file below `dir` with the `run_id` its footer names.
fn footer_runs(dir: &Path) -> Vec<(PathBuf, String)> {
    files_below(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            let run = footer(&p)["run_id"].as_str().unwrap_or("").to_owned();
            (p, run)
        })
        .collect()
}

/// Two runs of one job and date at once: the second finds the first's run lease live, says
/// whom it waits for, and starts only once the first ended; with `--skip-published` it skips
/// both units. The simulator served the big list exactly once, and every published file is
/// the first run's.
#[test]
fn a_second_run_waits_for_the_first_then_skips_what_it_published() {
    let t = TestDir::new();
    let other = "acc_other";
    let sim = Sim::with_scenario(
        &t,
        &scenario(&format!(
            "[[accounts]]\nid = \"{other}\"\nprovider = \"linkedin\"\nfollowers = 300\nfollowing = 0\n"
        )),
        &[],
    );
    let job = job(&t, &sim, &[BIG, other], EVERY);
    let mut first = spawn_run(&job, &[]);
    let first_log = collect_stderr(&mut first);
    wait_for_checkpoint(&t.out(), &mut first);
    let mut second = spawn_run(&job, &["--skip-published"]);
    let second_log = collect_stderr(&mut second);
    let first_code = first.wait().expect("wait").code();
    let second_code = second.wait().expect("wait").code();
    let (log1, log2) = (
        first_log.lock().expect("lock").clone(),
        second_log.lock().expect("lock").clone(),
    );
    assert_eq!(first_code, Some(0), "{log1}");
    assert_eq!(second_code, Some(0), "{log2}");
    assert!(
        log2.contains("Another process holds the run lease"),
        "the second run says it waits:\n{log2}"
    );
    let m = manifests(&t.out());
    assert_eq!(m.len(), 2, "{}", tree(&t.out()));
    let (m1, m2) = if unit_entry(&m[0], BIG)["status"] == "ok" {
        (&m[0], &m[1])
    } else {
        (&m[1], &m[0])
    };
    assert!(
        log2.contains(m1["run_id"].as_str().expect("run_id")),
        "the wait names the first run:\n{log2}"
    );
    for id in [BIG, other] {
        let u = unit_entry(m2, id);
        assert_eq!(
            (&u["status"], &u["reason"]),
            (&"skipped".into(), &"already_published".into()),
            "{u}"
        );
    }
    assert_eq!(
        pages_served(&sim, BIG),
        PAGES,
        "the big list was asked for once"
    );
    assert_unit_exact(&t.out(), "followers", "linkedin", BIG, N);
    let r1 = m1["run_id"].as_str().expect("run_id");
    for id in [BIG, other] {
        for (f, run) in footer_runs(&partition(&t.out(), "followers", "linkedin", id)) {
            assert_eq!(run, r1, "{} is the first run's", f.display());
        }
    }
    assert_no_staging(&t.out());
}

/// Two finalizes of the same three dates started together: each date's tables are whole
/// tables of one finalize (every file's footer names the same finalize, and that finalize's
/// manifest, the last of the date, lists exactly the files there).
#[test]
fn two_finalizes_at_once_leave_each_date_to_one() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &crate::tables_check::scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job_with(&sim, "", "tables = false", &job_accounts(&ACCOUNTS));
    for day in 0..3 {
        set_day(&sim, day);
        export(&job, day, &[]).expect_code(0, &t.out());
    }
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
            .args([
                "finalize",
                job.to_str().expect("utf-8"),
                "--snapshot-date",
                &date(0),
                "--to",
                &date(2),
            ])
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn finalize")
    };
    let (mut a, mut b) = (spawn(), spawn());
    let (la, lb) = (collect_stderr(&mut a), collect_stderr(&mut b));
    let (ca, cb) = (
        a.wait().expect("wait").code(),
        b.wait().expect("wait").code(),
    );
    let logs = format!(
        "{}\n---\n{}",
        la.lock().expect("lock"),
        lb.lock().expect("lock")
    );
    assert_eq!((ca, cb), (Some(0), Some(0)), "{logs}");
    for day in 0..3 {
        let d = date(day);
        let mut files = Vec::new();
        for table in [
            "followers",
            "following",
            "follower_changes",
            "following_changes",
        ] {
            for p in ["linkedin", "instagram"] {
                files.extend(table_files(&t.out(), table, Some(p), &d));
            }
        }
        files.extend(table_files(&t.out(), "account_daily", None, &d));
        assert!(
            files.len() >= 5,
            "{d}: tables were published\n{}",
            tree(&t.out())
        );
        let runs: std::collections::BTreeSet<String> = files
            .iter()
            .map(|f| footer(f)["run_id"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            runs.len(),
            1,
            "{d}: the files of one finalize: {runs:?}\n{logs}"
        );
        let last = finalize_manifests(&t.out())
            .into_iter()
            .filter(|m| m["snapshot_date"] == d.as_str())
            .max_by_key(|m| m["finished_at"].as_str().unwrap_or("").to_owned())
            .expect("a finalize manifest");
        assert!(
            runs.contains(last["run_id"].as_str().unwrap_or("")),
            "{d}: {last}"
        );
        let mut listed: Vec<String> = last["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["files"].as_array().cloned().unwrap_or_default())
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect();
        listed.sort();
        let mut present: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(t.out())
                    .expect("below the output")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        present.sort();
        assert_eq!(listed, present, "{d}: the manifest lists the files there");
    }
}

/// A finalize finds its date's lease held by a live process of this host: it says whom it
/// waits for and publishes nothing for that date until the holder is gone, then builds it.
#[test]
fn a_finalize_waits_while_the_dates_lease_is_held() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &crate::tables_check::scenario(&ACCOUNTS, "", ""), &[]);
    let job = t.job_with(&sim, "", "tables = false", &job_accounts(&ACCOUNTS));
    export(&job, 0, &[]).expect_code(0, &t.out());
    let d = date(0);
    let mut holder = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("sleep");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let lease = serde_json::json!({
        "job": "test-job", "snapshot_date": d, "area": "finalize", "holder": "other-finalize",
        "host": host_name(), "pid": holder.id(), "acquired_at": now, "renewed_at": now,
        "token": "t", "generation": 0,
    });
    let path = t
        .out()
        .join("_leases/finalize")
        .join(format!("snapshot_date={d}.json"));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, lease.to_string()).expect("lease");
    let mut fin = std::process::Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args([
            "finalize",
            job.to_str().expect("utf-8"),
            "--snapshot-date",
            &d,
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn finalize");
    let log = collect_stderr(&mut fin);
    let waiting = wait_until(WAIT, || {
        log.lock()
            .expect("lock")
            .contains("Another process holds the finalize lease")
    });
    let published_meanwhile = t.out().join("tables").exists();
    holder.kill().expect("kill the holder");
    holder.wait().ok();
    let code = fin.wait().expect("wait").code();
    let text = log.lock().expect("lock").clone();
    assert!(waiting, "finalize waits for the lease:\n{text}");
    assert!(
        text.contains("other-finalize"),
        "it names the holder:\n{text}"
    );
    assert!(
        !published_meanwhile,
        "nothing published while the lease is held"
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(!table_files(&t.out(), "account_daily", None, &d).is_empty());
}
