//! Crashes and stops in the middle of a unit, and what the next run does.

use super::*;
use std::process::Command;

/// SIGKILL mid-unit: the rerun asks for no more than the pages left plus one checkpoint's
/// worth (exactly those after the checkpoint), and publishes exactly the simulator's list, each
/// row with the run that fetched it; the manifest names the run it continued.
#[test]
fn sigkill_mid_unit_resumes_from_the_checkpoint() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    let (cp, served) = crash_mid_unit(&t.out(), &sim, &job);
    let (r1, cp_pages, cp_rows) = (
        cp["run_id"].as_str().expect("run_id").to_owned(),
        cp["pages"].as_u64().expect("pages"),
        cp["rows"].as_u64().expect("rows"),
    );
    assert_eq!(cp_rows % EVERY, 0, "{cp}");
    reset_stats(&sim);
    run_job(&job, &[]).expect_code(0, &t.out());
    let rerun = pages_served(&sim, BIG);
    assert_eq!(
        rerun,
        PAGES - cp_pages,
        "only the pages after the checkpoint"
    );
    assert!(
        rerun <= PAGES - served + EVERY / 100,
        "{rerun} > {} left + 100",
        PAGES - served
    );
    let m = manifests(&t.out());
    assert_eq!(m.len(), 1, "the killed run wrote no manifest");
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let u = unit_entry(&m[0], BIG);
    assert_eq!(u["status"], "ok");
    assert_eq!(u["resumed_from"], r1.as_str());
    assert_eq!(u["pages_skipped"], cp_pages);
    assert_eq!(u["pages"], rerun);
    assert_eq!(u["records"], N);
    assert_big_unit(&t.out(), cp_rows, &r1, &r2);
    assert_no_staging(&t.out());
}

/// The cursor is refused on resume (the simulator expires every cursor issued before): the
/// unit restarts from page 1 with a WARN line saying so, its staged parts are discarded, and
/// the published unit is exactly the list, all fetched by the rerun.
#[test]
fn refused_cursor_restarts_the_unit_from_page_one() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    crash_mid_unit(&t.out(), &sim, &job);
    http_post(&sim.url, "/_sim/expire-cursors");
    reset_stats(&sim);
    let o = run_job(&job, &[]);
    o.expect_code(0, &t.out());
    let warn = o
        .stderr
        .lines()
        .find(|l| l.contains("The API refused the checkpoint's cursor"))
        .unwrap_or_else(|| panic!("no WARN line:\n{}", o.stderr));
    assert!(warn.contains("WARN"), "{warn}");
    assert!(
        warn.contains("restarting the unit from page 1 and discarding its staged parts"),
        "{warn}"
    );
    assert_eq!(pages_served(&sim, BIG), PAGES, "every page again");
    let m = manifests(&t.out());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let u = unit_entry(&m[0], BIG);
    assert_eq!(u["status"], "ok");
    assert!(u.get("resumed_from").is_none(), "{u}");
    assert_big_unit(&t.out(), 0, &r2, &r2);
    assert_no_staging(&t.out());
}

/// A unit killed before its first checkpoint simply starts again: every page is asked for
/// again, the data is exact, and the crashed run's staging area is removed.
#[test]
fn killed_before_the_first_checkpoint_starts_again() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = job(&t, &sim, &[BIG], 100_000);
    let mut child = spawn_run(&job, &[]);
    let midway = wait_until(WAIT, || pages_served(&sim, BIG) >= 100);
    child.kill().expect("SIGKILL");
    child.wait().ok();
    assert!(midway, "the run fetched 100 pages");
    assert!(checkpoints(&t.out()).is_empty(), "no checkpoint yet");
    assert!(
        files_below(&t.out().join("_staging"))
            .iter()
            .any(|p| p.ends_with("_lease.json")),
        "the crashed run left its lease\n{}",
        tree(&t.out())
    );
    reset_stats(&sim);
    run_job(&job, &[]).expect_code(0, &t.out());
    assert_eq!(pages_served(&sim, BIG), PAGES);
    let m = manifests(&t.out());
    assert!(unit_entry(&m[0], BIG).get("resumed_from").is_none());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let rows = assert_unit_exact(&t.out(), "followers", "linkedin", BIG, N);
    assert!(rows.iter().all(|r| r["run_id"] == r2.as_str()));
    assert_no_staging(&t.out());
}

/// Units the crashed run had published: a plain rerun fetches them again (a rerun replaces),
/// `--skip-published` skips them (manifest: skipped, reason already_published, exit 0) and
/// neither fetches the big unit's checkpointed pages again.
#[test]
fn published_units_are_refetched_or_skipped_with_skip_published() {
    let t = TestDir::new();
    let small = "acc_small";
    let sim = Sim::with_scenario(
        &t,
        &scenario(&format!(
            "[[accounts]]\nid = \"{small}\"\nprovider = \"linkedin\"\nfollowers = 250\nfollowing = 0\n"
        )),
        &[],
    );
    let job = job(&t, &sim, &[BIG, small], EVERY);
    let (cp, _) = crash_mid_unit(&t.out(), &sim, &job);
    assert!(
        partition(&t.out(), "followers", "linkedin", small).exists(),
        "published before the kill"
    );
    let (r1, cp_pages, cp_rows) = (
        cp["run_id"].as_str().expect("run_id").to_owned(),
        cp["pages"].as_u64().expect("pages"),
        cp["rows"].as_u64().expect("rows"),
    );
    let copy = t.path().join("out-copy");
    copy_tree(&t.out(), &copy);

    reset_stats(&sim);
    run_job(&job, &[]).expect_code(0, &t.out());
    assert_eq!(
        pages_served(&sim, small),
        3,
        "a plain rerun fetches the published unit again"
    );
    assert_eq!(pages_served(&sim, BIG), PAGES - cp_pages);
    let m = manifests(&t.out());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(unit_entry(&m[0], small)["status"], "ok");
    assert_unit_exact(&t.out(), "followers", "linkedin", small, 250);
    assert_big_unit(&t.out(), cp_rows, &r1, &r2);

    reset_stats(&sim);
    let copy_arg = copy.to_str().expect("utf-8");
    let o = run_job(&job, &["--skip-published", "--output", copy_arg]);
    o.expect_code(0, &copy);
    assert_eq!(
        pages_served(&sim, small),
        0,
        "--skip-published does not fetch it"
    );
    assert_eq!(pages_served(&sim, BIG), PAGES - cp_pages);
    let m = manifests(&copy);
    let r3 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(m[0]["status"], "ok");
    let s = unit_entry(&m[0], small);
    assert_eq!(
        (&s["status"], &s["reason"]),
        (&"skipped".into(), &"already_published".into())
    );
    assert_eq!(unit_entry(&m[0], BIG)["resumed_from"], r1.as_str());
    assert!(o.stdout.contains("already_published"), "{}", o.stdout);
    assert_unit_exact(&copy, "followers", "linkedin", small, 250);
    assert_big_unit(&copy, cp_rows, &r1, &r3);
    assert_no_staging(&copy);
}

/// SIGTERM mid-unit (an eviction): exit 143, the unit is skipped as interrupted, its checkpoint
/// and the parts it names stay (nothing else), the lease is released; the next run resumes it.
#[test]
fn sigterm_keeps_the_checkpoint_and_the_next_run_resumes() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    let mut child = spawn_run(&job, &[]);
    wait_for_checkpoint(&t.out(), &mut child);
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let code = child.wait().expect("wait").code();
    assert_eq!(code, Some(143));
    let m = manifests(&t.out());
    let r1 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    let u = unit_entry(&m[0], BIG);
    assert_eq!(
        (&u["status"], &u["reason"]),
        (&"skipped".into(), &"interrupted".into())
    );
    let left = checkpoints(&t.out());
    assert_eq!(left.len(), 1, "{}", tree(&t.out()));
    let (cp_path, cp) = &left[0];
    let dir = cp_path.parent().expect("dir");
    let mut staged: Vec<String> = files_below(dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .filter(|n| n != "checkpoint.json")
        .collect();
    staged.sort();
    let named: Vec<String> = cp["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["file"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(staged, named, "exactly the parts the checkpoint names");
    let lease: Value = serde_json::from_slice(
        &std::fs::read(t.out().join("_staging").join(&r1).join("_lease.json")).expect("lease"),
    )
    .expect("lease JSON");
    assert!(lease["released_at"].is_string(), "released: {lease}");

    reset_stats(&sim);
    run_job(&job, &[]).expect_code(0, &t.out());
    let cp_pages = cp["pages"].as_u64().expect("pages");
    assert_eq!(pages_served(&sim, BIG), PAGES - cp_pages);
    let r2 = manifests(&t.out())
        .iter()
        .map(|m| m["run_id"].as_str().unwrap_or("").to_owned())
        .find(|r| *r != r1)
        .expect("the rerun's manifest");
    let u = unit_entry(&manifest_of(&t.out(), &r2), BIG);
    assert_eq!(u["resumed_from"], r1.as_str());
    assert_big_unit(&t.out(), cp["rows"].as_u64().expect("rows"), &r1, &r2);
    assert_no_staging(&t.out());
}

/// A page of the wrong list in answer to the checkpoint's cursor also restarts the unit from
/// page 1 (the rerun goes to a second simulator, same seed, whose page at the checkpoint is a
/// `UserList`): WARN line naming the page, exact data, every row fetched by the rerun.
#[test]
fn wrong_list_on_resume_restarts_the_unit_from_page_one() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, &scenario(""), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    let (cp, _) = crash_mid_unit(&t.out(), &sim, &job);
    let at = cp["pages"].as_u64().expect("pages");
    let fault = format!(
        "[[accounts.faults]]\ndataset = \"followers\"\npage = {at}\nfault = \"malformed:wrong_object\"\ntimes = 1\n"
    );
    let t2 = TestDir::new();
    let sim2 = Sim::with_scenario(&t2, &scenario(&fault), &[]);
    let text = std::fs::read_to_string(&job)
        .expect("job")
        .replace(&sim.base_url(), &sim2.base_url());
    let job2 = t.write("job2.toml", &text);
    let o = run_job(&job2, &[]);
    o.expect_code(0, &t.out());
    let warn = o
        .stderr
        .lines()
        .find(|l| l.contains("The API refused the checkpoint's cursor"))
        .unwrap_or_else(|| panic!("no WARN line:\n{}", o.stderr));
    assert!(
        warn.contains(&format!("page {at}")) && warn.contains("object is"),
        "{warn}"
    );
    assert_eq!(pages_served(&sim2, BIG), PAGES, "every page from page 1");
    let requests = sim2.stats()["accounts"][BIG]["followers"]["requests"].as_u64();
    assert_eq!(requests, Some(PAGES + 1), "the wrong page, then every page");
    let m = manifests(&t.out());
    let r2 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert!(unit_entry(&m[0], BIG).get("resumed_from").is_none());
    assert_big_unit(&t.out(), 0, &r2, &r2);
    assert_no_staging(&t.out());
}

/// A unit that fails (here a 404 after its second checkpoint) publishes nothing but keeps its
/// last checkpoint and the parts it names, nothing else; the next run resumes it.
#[test]
fn a_failed_unit_keeps_its_checkpoint_for_the_next_run() {
    let t = TestDir::new();
    let fault = "[[accounts.faults]]\ndataset = \"followers\"\npage = 250\nfault = \"errors/resource_not_found\"\ntimes = 1\n";
    let sim = Sim::with_scenario(&t, &scenario(fault), &[]);
    let job = job(&t, &sim, &[BIG], EVERY);
    run_job(&job, &[]).expect_code(3, &t.out());
    assert!(
        !partition(&t.out(), "followers", "linkedin", BIG).exists(),
        "nothing published"
    );
    let m = manifests(&t.out());
    let r1 = m[0]["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(unit_entry(&m[0], BIG)["status"], "failed");
    let left = checkpoints(&t.out());
    assert_eq!(left.len(), 1, "{}", tree(&t.out()));
    let (cp_path, cp) = &left[0];
    assert_eq!(
        (cp["rows"].as_u64(), cp["pages"].as_u64()),
        (Some(20_000), Some(200))
    );
    let staged = files_below(cp_path.parent().expect("dir"));
    assert_eq!(
        staged.len(),
        3,
        "the checkpoint and its two parts: {staged:?}"
    );

    reset_stats(&sim);
    run_job(&job, &[]).expect_code(0, &t.out());
    assert_eq!(pages_served(&sim, BIG), PAGES - 200);
    let r2 = manifests(&t.out())
        .iter()
        .map(|m| m["run_id"].as_str().unwrap_or("").to_owned())
        .find(|r| *r != r1)
        .expect("the rerun's manifest");
    assert_eq!(
        unit_entry(&manifest_of(&t.out(), &r2), BIG)["resumed_from"],
        r1.as_str()
    );
    assert_big_unit(&t.out(), 20_000, &r1, &r2);
    assert_no_staging(&t.out());
}

/// `--skip-published` with more published units ahead of an unpublished one than the breakers
/// let start before the API answered (10): the published ones send no request and do not hold
/// the gate, so the new unit is fetched and the run ends (it would wait forever otherwise).
#[test]
fn published_units_do_not_hold_the_breakers_gate() {
    let t = TestDir::new();
    let ids: Vec<String> = (0..13).map(|i| format!("acc_{i:02}")).collect();
    let scenario: String = ids
        .iter()
        .map(|id| format!("[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = 50\nfollowing = 0\n"))
        .collect();
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    run_job(&job(&t, &sim, &all[..12], EVERY), &[]).expect_code(0, &t.out());
    reset_stats(&sim);
    let job = job(&t, &sim, &all, EVERY);
    let mut child = spawn_run(&job, &["--skip-published"]);
    let stderr = collect_stderr(&mut child);
    let ended = wait_until(WAIT, || child.try_wait().ok().flatten().is_some());
    if !ended {
        child.kill().ok();
    }
    let code = child.wait().expect("wait").code();
    assert!(ended, "the run ended:\n{}", stderr.lock().expect("lock"));
    assert_eq!(code, Some(0), "{}", stderr.lock().expect("lock"));
    for id in &all[..12] {
        assert_eq!(
            sim.stats()["accounts"][*id],
            Value::Null,
            "{id} not asked for"
        );
    }
    assert_eq!(pages_served(&sim, all[12]), 1);
    let m = manifests(&t.out());
    let second = m
        .iter()
        .find(|m| m["units"].as_array().map(Vec::len) == Some(13))
        .expect("manifest");
    assert_eq!(unit_entry(second, all[0])["reason"], "already_published");
    assert_eq!(unit_entry(second, all[12])["status"], "ok");
}
