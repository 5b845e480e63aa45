//! Leases and the removal of what no run will resume.

use super::*;
use std::process::Command;

/// A live lease is respected: the crashed run's lease is made to name a live process of this
/// host, renewed now. The next run does its other unit, leaves the big one for last and waits
/// without a request; once that process is gone it takes the area over and resumes exactly.
#[test]
fn a_live_lease_is_respected_until_it_goes_stale() {
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
    let (cp, _) = crash_mid_unit(&t.out(), &sim, &job);
    std::fs::remove_dir_all(partition(&t.out(), "followers", "linkedin", other)).ok();
    let r1 = cp["run_id"].as_str().expect("run_id").to_owned();
    let mut holder = Command::new("sleep").arg("600").spawn().expect("sleep");
    let lease_path = t.out().join("_staging").join(&r1).join("_lease.json");
    let mut lease: Value =
        serde_json::from_slice(&std::fs::read(&lease_path).expect("lease")).expect("JSON");
    lease["host"] = host_name().into();
    lease["pid"] = holder.id().into();
    lease["renewed_at"] = chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .into();
    std::fs::write(&lease_path, serde_json::to_vec(&lease).expect("JSON")).expect("write lease");

    reset_stats(&sim);
    let mut rerun = spawn_run(&job, &[]);
    let stderr = collect_stderr(&mut rerun);
    let waiting = wait_until(WAIT, || {
        stderr
            .lock()
            .expect("lock")
            .contains("belongs to a run that is still alive")
            && partition(&t.out(), "followers", "linkedin", other).exists()
    });
    let requests_meanwhile = pages_served(&sim, BIG);
    holder.kill().expect("kill the holder");
    holder.wait().ok();
    assert!(
        waiting,
        "the rerun waits for the lease:\n{}",
        stderr.lock().expect("lock")
    );
    assert_eq!(
        requests_meanwhile, 0,
        "no request for the leased unit while the lease lives"
    );
    let code = rerun.wait().expect("wait").code();
    let log = stderr.lock().expect("lock").clone();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        pages_served(&sim, BIG),
        PAGES - cp["pages"].as_u64().expect("pages")
    );
    let m = manifests(&t.out());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(unit_entry(&m[0], BIG)["resumed_from"], r1.as_str());
    assert_big_unit(&t.out(), cp["rows"].as_u64().expect("rows"), &r1, &r2);
    assert_unit_exact(&t.out(), "followers", "linkedin", other, 300);
    assert_no_staging(&t.out());
}

/// Sets the modification time of every file below `dir`.
fn age_files(dir: &Path, days: u64) {
    let when = std::time::SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    for f in files_below(dir) {
        let file = std::fs::File::options().write(true).open(&f).expect("open");
        file.set_modified(when).expect("set mtime");
    }
}

/// Old and stale checkpoints are cleaned: a checkpoint written more than 7 days ago is not
/// resumed and is removed with its area; another job's area last written 8 days ago is removed;
/// another job's recent area with a checkpoint is left alone.
#[test]
fn old_checkpoints_are_not_resumed_and_are_removed() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    let (cp, _) = crash_mid_unit(&t.out(), &sim, &job);
    let r1 = cp["run_id"].as_str().expect("run_id").to_owned();
    let staging = t.out().join("_staging");
    // Two areas of another job: one last written 8 days ago, one recent.
    for (name, days) in [("other-old", 8), ("other-recent", 0)] {
        copy_tree(&staging.join(&r1), &staging.join(name));
        let lease_path = staging.join(name).join("_lease.json");
        let mut lease: Value =
            serde_json::from_slice(&std::fs::read(&lease_path).expect("lease")).expect("JSON");
        lease["job"] = "another-job".into();
        std::fs::write(&lease_path, serde_json::to_vec(&lease).expect("JSON")).expect("write");
        age_files(&staging.join(name), days);
    }
    let (cp_path, mut old) = checkpoints(&t.out())
        .into_iter()
        .find(|(p, _)| p.starts_with(staging.join(&r1)))
        .expect("the crashed run's checkpoint");
    let eight_days_ago = chrono::Utc::now() - chrono::Duration::days(8);
    old["updated_at"] = eight_days_ago
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .into();
    std::fs::write(&cp_path, serde_json::to_vec(&old).expect("JSON")).expect("write");

    reset_stats(&sim);
    let o = run_job(&job, &[]);
    o.expect_code(0, &t.out());
    assert!(
        o.stderr
            .contains("A checkpoint older than 7 days is not resumed"),
        "{}",
        o.stderr
    );
    assert_eq!(pages_served(&sim, BIG), PAGES, "fetched from page 1");
    let m = manifests(&t.out());
    assert!(unit_entry(&m[0], BIG).get("resumed_from").is_none());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert_big_unit(&t.out(), 0, &r2, &r2);
    let areas: Vec<String> = std::fs::read_dir(&staging)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(areas, ["other-recent"], "\n{}", tree(&t.out()));
}
