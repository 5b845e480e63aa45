//! The export job end to end: real HTTP against `postpress-sim`, Parquet read back and compared
//! with what the simulator served.

use crate::util::*;
use serde_json::Value;
use std::time::Duration;

/// Sizes around page boundaries for both providers and both datasets.
pub(crate) const SIZES: &str = r#"
[[accounts]]
id = "li_zero"
provider = "linkedin"
followers = 0
following = 0

[[accounts]]
id = "li_one"
provider = "linkedin"
followers = 1
following = 1

[[accounts]]
id = "li_page"
provider = "linkedin"
followers = 100
following = 1000

[[accounts]]
id = "li_page_plus"
provider = "linkedin"
followers = 101
following = 1001

[[accounts]]
id = "li_big"
provider = "linkedin"
followers = 2501
following = 2501

[[accounts]]
id = "ig_zero"
provider = "instagram"
followers = 0
following = 0

[[accounts]]
id = "ig_one"
provider = "instagram"
followers = 1
following = 1

[[accounts]]
id = "ig_page"
provider = "instagram"
followers = 200
following = 1000

[[accounts]]
id = "ig_page_plus"
provider = "instagram"
followers = 201
following = 1001

[[accounts]]
id = "ig_big"
provider = "instagram"
followers = 2501
following = 2501
short_pages = true
"#;

pub(crate) const SIZE_ACCOUNTS: [(&str, &str, u64, u64); 10] = [
    ("li_zero", "linkedin", 0, 0),
    ("li_one", "linkedin", 1, 1),
    ("li_page", "linkedin", 100, 1000),
    ("li_page_plus", "linkedin", 101, 1001),
    ("li_big", "linkedin", 2501, 2501),
    ("ig_zero", "instagram", 0, 0),
    ("ig_one", "instagram", 1, 1),
    ("ig_page", "instagram", 200, 1000),
    ("ig_page_plus", "instagram", 201, 1001),
    ("ig_big", "instagram", 2501, 2501),
];

pub(crate) fn size_accounts() -> String {
    let pairs: Vec<(&str, &str)> = SIZE_ACCOUNTS.iter().map(|(a, p, _, _)| (*a, *p)).collect();
    accounts_toml(&pairs)
}

pub(crate) fn assert_all_sizes_exact(out: &std::path::Path) {
    for (acc, prov, followers, following) in SIZE_ACCOUNTS {
        assert_unit_exact(out, "followers", prov, acc, followers);
        assert_unit_exact(out, "following", prov, acc, following);
    }
}

/// Accounts of 0, 1, one page, one page + 1 and 2,501 records, both providers and datasets:
/// every record lands once with the served values, the footer names the unit, and an empty
/// list still publishes one zero-row file with the full schema.
#[test]
fn every_size_lands_exactly() {
    let t = TestDir::new();
    let sim = Sim::with_scenario(&t, SIZES, &[]);
    let job = t.job(&sim, "", &size_accounts());
    let o = run_job(&job, &[]);
    o.expect_code(0, &t.out());
    assert_all_sizes_exact(&t.out());

    let empty = partition(&t.out(), "followers", "linkedin", "li_zero").join("part-00000.parquet");
    let (schema, batches) = read_file(&empty);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(schema.field_with_name("profile_picture_url_large").is_ok());
    assert!(schema.field_with_name("position").is_ok());

    let big = partition(&t.out(), "following", "instagram", "ig_big").join("part-00000.parquet");
    let f = footer(&big);
    assert_eq!(f["dataset"], "following");
    assert_eq!(f["provider"], "instagram");
    assert_eq!(f["account_id"], "ig_big");
    assert_eq!(f["snapshot_date"], DATE);
    assert_eq!(f["postpress_etl_version"], env!("CARGO_PKG_VERSION"));

    let m = manifests(&t.out());
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["status"], "ok");
    assert_eq!(m[0]["units"].as_array().map(Vec::len), Some(20));
    assert_eq!(f["run_id"], m[0]["run_id"]);
    let unknown: u64 = m[0]["units"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["unknown_fields"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        unknown > 0,
        "the simulator sends unknown fields now and then; the manifest counts them"
    );
    assert!(
        !t.out().join("_staging").exists() || files_below(&t.out().join("_staging")).is_empty()
    );
    assert!(
        o.stdout.contains("20 units, 20 ok, 0 failed"),
        "{}",
        o.stdout
    );
}

/// 30% transient faults of every retryable kind plus empty pages: the same exact output, exit 0.
#[test]
fn transient_faults_change_nothing() {
    let t = TestDir::new();
    let scenario = format!(
        "{SIZES}\n[faults]\nrate = 0.3\nmax_consecutive = 3\nretry_after = \"0s\"\nkinds = [\"errors/provider_error\", \"errors/unexpected_error\", \"errors/service_unavailable\", \"errors/no_client_session\", \"errors/no_channel\", \"errors/no_handler\", \"errors/network_down\", \"errors/request_timeout\", \"429\", \"drop\", \"truncate\", \"empty_page\", \"malformed:invalid_json\"]\n"
    );
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let job = t.job(&sim, "max_attempts = 10", &size_accounts());
    run_job(&job, &[]).expect_code(0, &t.out());
    assert_all_sizes_exact(&t.out());
    let stats = sim.stats();
    let faults: u64 = stats["faults"]
        .as_object()
        .expect("faults")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(faults > 5, "faults were injected: {stats}");
    let m = &manifests(&t.out())[0];
    assert!(m["totals"]["retries"].as_u64().unwrap_or(0) > 0, "{m}");
}

/// Permanent errors and malformed pages fail only their units: nothing published for them,
/// the others exact, exit 3, and the manifest and summary name each failure.
#[test]
fn permanent_errors_fail_only_their_units() {
    let t = TestDir::new();
    let cases: [(&str, &str, &str); 9] = [
        ("acc_401", "followers", "errors/expired_credentials"),
        ("acc_403", "following", "errors/account_restricted"),
        ("acc_404", "followers", "errors/resource_not_found"),
        ("acc_501", "following", "errors/feature_not_implemented"),
        ("acc_json", "followers", "malformed:invalid_json"),
        ("acc_object", "followers", "malformed:wrong_object"),
        ("acc_missing", "following", "malformed:missing_field"),
        ("acc_type", "followers", "malformed:wrong_type"),
        ("acc_null", "following", "malformed:null_required"),
    ];
    let mut scenario = String::new();
    for (acc, ds, fault) in cases {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{acc}\"\nprovider = \"linkedin\"\nfollowers = 250\nfollowing = 250\n[[accounts.faults]]\ndataset = \"{ds}\"\npage = 0\nfault = \"{fault}\"\n\n"
        ));
    }
    scenario.push_str("[[accounts]]\nid = \"acc_good\"\nprovider = \"instagram\"\nfollowers = 450\nfollowing = 30\n");
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let mut pairs: Vec<(&str, &str)> = cases.iter().map(|(a, _, _)| (*a, "linkedin")).collect();
    pairs.push(("acc_good", "instagram"));
    let job = t.job(&sim, "max_attempts = 3", &accounts_toml(&pairs));
    let o = run_job(&job, &[]);
    o.expect_code(3, &t.out());

    let m = &manifests(&t.out())[0];
    assert_eq!(m["status"], "partial");
    let units = m["units"].as_array().expect("units");
    for (acc, ds, fault) in cases {
        let other = if ds == "followers" {
            "following"
        } else {
            "followers"
        };
        assert!(
            !partition(&t.out(), ds, "linkedin", acc).exists(),
            "{acc} {ds} published nothing"
        );
        assert_unit_exact(&t.out(), other, "linkedin", acc, 250);
        let u = units
            .iter()
            .find(|u| u["account_id"] == acc && u["dataset"] == ds)
            .expect("unit in manifest");
        assert_eq!(u["status"], "failed", "{u}");
        let want_type = if fault.starts_with("errors/") {
            fault
        } else if fault == "malformed:invalid_json" {
            "unparseable_body"
        } else {
            "invalid_page"
        };
        assert_eq!(u["error"]["type"], want_type, "{u}");
        assert_eq!(u["error"]["page"], 0, "{u}");
        if fault.starts_with("errors/") {
            assert!(
                u["error"]["instance"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "request id kept: {u}"
            );
            assert!(u["error"]["title"].is_string(), "{u}");
        }
        let summary_line = o
            .stdout
            .lines()
            .find(|l| l.starts_with(acc) && l.contains(ds))
            .unwrap_or_default();
        assert!(
            summary_line.contains("FAILED") && summary_line.contains(want_type),
            "{summary_line:?}"
        );
    }
    let by_acc = |acc: &str, ds: &str| {
        units
            .iter()
            .find(|u| u["account_id"] == acc && u["dataset"] == ds)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        by_acc("acc_type", "followers")["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("item 0 field"),
        "decode errors name the item and field"
    );
    // Issue 9: the item index and field reach the manifest as fields, not only as text.
    for (acc, ds, field) in [
        ("acc_type", "followers", "name"),
        ("acc_missing", "following", "member_id"),
        ("acc_null", "following", "first_name"),
    ] {
        let e = &by_acc(acc, ds)["error"];
        assert_eq!(e["kind"], "invalid_page", "{e}");
        assert_eq!(e["item"], 0, "{e}");
        assert_eq!(e["field"], field, "{e}");
    }
    let e = &by_acc("acc_object", "followers")["error"];
    assert_eq!(
        (e["kind"].as_str(), e.get("item")),
        (Some("invalid_page"), None),
        "{e}"
    );
    assert_unit_exact(&t.out(), "followers", "instagram", "acc_good", 450);
    assert_unit_exact(&t.out(), "following", "instagram", "acc_good", 30);
}

/// The key itself rejected (errors/missing_credentials): the run stops at once with exit 1 and a
/// manifest saying why.
#[test]
fn missing_credentials_aborts_the_run() {
    let t = TestDir::new();
    let scenario = "[[accounts]]\nid = \"acc_a\"\nprovider = \"linkedin\"\nfollowers = 500\n[[accounts.faults]]\nfault = \"errors/missing_credentials\"\n\n[[accounts]]\nid = \"acc_b\"\nprovider = \"linkedin\"\nfollowers = 500\nlatency = \"200ms\"\n";
    let sim = Sim::with_scenario(&t, scenario, &[]);
    let job = t.job(
        &sim,
        "concurrency = 1",
        &accounts_toml(&[("acc_a", "linkedin"), ("acc_b", "linkedin")]),
    );
    let o = run_job(&job, &[]);
    o.expect_code(1, &t.out());
    let m = &manifests(&t.out())[0];
    assert_eq!(m["status"], "failed");
    assert!(
        m["error"]
            .as_str()
            .unwrap_or_default()
            .contains("errors/missing_credentials"),
        "{m}"
    );
    // Units after the abort were never started.
    assert_eq!(
        sim.stats()["accounts"]["acc_b"]["requests"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    assert!(!t.out().join("followers").exists());
}

/// With account_requests_per_minute set, the simulator enforcing the same rate records zero
/// violations, and units of different accounts still overlap in time.
#[test]
fn per_account_pacing_has_no_violations() {
    let t = TestDir::new();
    let mut scenario = String::from("account_rpm = 1200.0\n");
    let mut pairs = Vec::new();
    let ids: Vec<String> = (0..4).map(|i| format!("acc_linkedin_{i:04}")).collect();
    for id in &ids {
        scenario.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = 400\nfollowing = 0\nlatency = \"20ms\"\n"
        ));
    }
    for id in &ids {
        pairs.push((id.as_str(), "linkedin"));
    }
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    // 1200/min = one request per 50 ms per account, both datasets together.
    let job = t.job(
        &sim,
        "account_requests_per_minute = 1200.0\nconcurrency = 8",
        &accounts_toml(&pairs),
    );
    run_job(&job, &[]).expect_code(0, &t.out());
    let stats = sim.stats();
    assert_eq!(stats["violations"]["account_rate"], 0, "{stats}");
    assert_eq!(stats["by_status"].get("429"), None, "{stats}");
    for id in &ids {
        assert_unit_exact(&t.out(), "followers", "linkedin", id, 400);
    }
    // Overlap, seen by the simulator rather than by a clock: pages of different accounts were
    // being answered at the same time (each takes its 20 ms of latency).
    let in_flight = stats["peak_in_flight"].as_u64().unwrap_or(0);
    assert!(
        in_flight >= 2,
        "units of different accounts overlap: {stats}"
    );
}

/// A rerun for the same date replaces, never duplicates; a unit failing on a later rerun leaves
/// the earlier published data in place; stale parts of a run with more files are removed.
#[test]
fn rerun_replaces_and_failed_rerun_keeps_data() {
    let t = TestDir::new();
    let scenario =
        "[[accounts]]\nid = \"acc_x\"\nprovider = \"linkedin\"\nfollowers = 350\nfollowing = 20\n";
    let sim = Sim::with_scenario(&t, scenario, &[]);
    let accounts = accounts_toml(&[("acc_x", "linkedin")]);
    // First run: small files, 4 parts.
    let small_text = std::fs::read_to_string(t.job_with(
        &sim,
        "",
        "max_rows_per_file = 100\nrow_group_rows = 40",
        &accounts,
    ))
    .expect("job");
    let small = t.write("small.toml", &small_text);
    let job = t.job(&sim, "", &accounts);
    run_job(&small, &[]).expect_code(0, &t.out());
    let dir = partition(&t.out(), "followers", "linkedin", "acc_x");
    assert_eq!(files_below(&dir).len(), 4, "{}", tree(&t.out()));
    let first = assert_unit_exact(&t.out(), "followers", "linkedin", "acc_x", 350);

    // Rerun with default file size: one part, the three stale ones removed.
    run_job(&job, &[]).expect_code(0, &t.out());
    assert_eq!(files_below(&dir).len(), 1, "{}", tree(&t.out()));
    let second = assert_unit_exact(&t.out(), "followers", "linkedin", "acc_x", 350);
    assert_ne!(first[0]["run_id"], second[0]["run_id"]);
    assert_eq!(manifests(&t.out()).len(), 2);

    // Rerun against a simulator where the followers list now fails: earlier data stays.
    drop(sim);
    let t2 = TestDir::new();
    let failing = Sim::with_scenario(
        &t2,
        "[[accounts]]\nid = \"acc_x\"\nprovider = \"linkedin\"\nfollowers = 350\nfollowing = 20\n[[accounts.faults]]\ndataset = \"followers\"\npage = 2\nfault = \"errors/account_restricted\"\n",
        &[],
    );
    let text = std::fs::read_to_string(&job).expect("job");
    let port_line = text
        .lines()
        .find(|l| l.starts_with("base_url"))
        .expect("base_url")
        .to_owned();
    let job3 = t.write(
        "job3.toml",
        &text.replace(
            &port_line,
            &format!("base_url = \"{}\"", failing.base_url()),
        ),
    );
    run_job(&job3, &[]).expect_code(3, &t.out());
    let third = assert_unit_exact(&t.out(), "followers", "linkedin", "acc_x", 350);
    assert_eq!(
        third[0]["run_id"], second[0]["run_id"],
        "the failed rerun left the earlier data"
    );
    let following = assert_unit_exact(&t.out(), "following", "linkedin", "acc_x", 20);
    assert_ne!(
        following[0]["run_id"], second[0]["run_id"],
        "the unit that succeeded was replaced"
    );
}

/// SIGKILL in the middle of a run: every visible partition is complete and readable, nothing
/// half-written shows; a rerun completes exactly.
#[test]
fn sigkill_leaves_no_partial_unit() {
    let t = TestDir::new();
    let mut scenario = String::new();
    let mut pairs = Vec::new();
    let ids: Vec<String> = (0..6).map(|i| format!("acc_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        scenario.push_str(&format!("[[accounts]]\nid = \"{id}\"\nprovider = \"linkedin\"\nfollowers = {}\nfollowing = 0\nlatency = \"30ms\"\n", 300 + i * 200));
    }
    for id in &ids {
        pairs.push((id.as_str(), "linkedin"));
    }
    let sim = Sim::with_scenario(&t, &scenario, &[]);
    let job = t.job(&sim, "concurrency = 3", &accounts_toml(&pairs));
    let mut child = spawn_run(&job, &[]);
    // Kill once at least one unit is published and others are mid-flight.
    let published = wait_until(Duration::from_secs(20), || {
        files_below(&t.out().join("followers"))
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "parquet"))
    });
    assert!(published, "a unit was published before the kill");
    child.kill().expect("SIGKILL");
    child.wait().ok();
    let mut complete = 0;
    for (i, id) in ids.iter().enumerate() {
        let dir = partition(&t.out(), "followers", "linkedin", id);
        if dir.exists() && !files_below(&dir).is_empty() {
            assert_unit_exact(&t.out(), "followers", "linkedin", id, 300 + i as u64 * 200);
            complete += 1;
        }
    }
    assert!(
        complete >= 1 && complete < ids.len(),
        "killed mid-run: {complete} complete\n{}",
        tree(&t.out())
    );
    run_job(&job, &[]).expect_code(0, &t.out());
    for (i, id) in ids.iter().enumerate() {
        assert_unit_exact(&t.out(), "followers", "linkedin", id, 300 + i as u64 * 200);
    }
}
