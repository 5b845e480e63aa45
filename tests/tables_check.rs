//! Checks of the reader tables (SPEC §9) against the simulator's ground truth: each day's
//! lists from `postpress_sim::expected_list`, so nothing the product computed is trusted. Used by
//! tests/tables.rs.

use crate::util::*;
use postpress_sim::{self as sim, expected_list, item_key};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The daily churn the simulator runs with in these tests.
pub const CHURN: f64 = 0.1;

/// An account of the scenario: id, provider, followers, following (sizes on day 0).
pub type Account = (&'static str, &'static str, u64, u64);

/// Both providers, empty lists, short pages and a following list of two pages.
pub const ACCOUNTS: [Account; 4] = [
    ("li_a", "linkedin", 250, 40),
    ("ig_b", "instagram", 230, 0),
    ("li_c", "linkedin", 0, 12),
    ("ig_d", "instagram", 120, 1100),
];

/// The scenario of `accounts` with churn, plus `extra` TOML (global keys first).
pub fn scenario(accounts: &[Account], extra_global: &str, extra_accounts: &str) -> String {
    let mut s = format!("churn = {CHURN}\n{extra_global}\n");
    for (id, p, followers, following) in accounts {
        s.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nprovider = \"{p}\"\nfollowers = {followers}\nfollowing = {following}\n{}\n",
            if *p == "instagram" { "short_pages = true\n" } else { "" }
        ));
    }
    s.push_str(extra_accounts);
    s
}

/// The job's `[[accounts]]` for `accounts`.
pub fn job_accounts(accounts: &[Account]) -> String {
    let pairs: Vec<(&str, &str)> = accounts.iter().map(|(a, p, _, _)| (*a, *p)).collect();
    accounts_toml(&pairs)
}

/// The snapshot date of simulator day `day`: [`DATE`] plus `day` days.
pub fn date(day: u32) -> String {
    let d = chrono::NaiveDate::parse_from_str(DATE, "%Y-%m-%d").expect("date");
    (d + chrono::Duration::days(i64::from(day)))
        .format("%Y-%m-%d")
        .to_string()
}

fn epoch_days(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}

/// Moves the simulator to `day`.
pub fn set_day(s: &Sim, day: u32) {
    let body = http_post(&s.url, &format!("/_sim/day/{day}"));
    assert!(body.contains(&format!("\"day\":{day}")), "{body}");
}

/// `postpress-etl run JOB --snapshot-date date(day)`.
pub fn export(job: &Path, day: u32, extra: &[&str]) -> Output {
    let d = date(day);
    let mut args = vec![
        "run",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        &d,
        "--progress",
        "off",
    ];
    args.extend_from_slice(extra);
    etl(&args, &[])
}

/// `postpress-etl finalize JOB --snapshot-date date(from) [--to date(to)]`, without an API key.
pub fn finalize(job: &Path, from: u32, to: Option<u32>) -> Output {
    let (f, t) = (date(from), to.map(date));
    let mut args = vec![
        "finalize",
        job.to_str().expect("utf-8"),
        "--snapshot-date",
        &f,
    ];
    if let Some(t) = &t {
        args.extend_from_slice(&["--to", t]);
    }
    etl(&args, &[("POSTPRESS_API_KEY", "")])
}

/// A reader table's partition directory.
pub fn table_dir(out: &Path, table: &str, provider: Option<&str>, date: &str) -> PathBuf {
    let mut d = out.join("tables").join(table);
    if let Some(p) = provider {
        d = d.join(format!("provider={p}"));
    }
    d.join(format!("snapshot_date={date}"))
}

/// The part files of a table partition, in name order.
pub fn table_files(out: &Path, table: &str, provider: Option<&str>, date: &str) -> Vec<PathBuf> {
    let mut files = files_below(&table_dir(out, table, provider, date));
    files.retain(|f| f.extension().is_some_and(|e| e == "parquet"));
    files
}

/// Every row of a table partition, files in name order.
pub fn read_table(
    out: &Path,
    table: &str,
    provider: Option<&str>,
    date: &str,
) -> Vec<Map<String, Value>> {
    let files = table_files(out, table, provider, date);
    assert!(
        !files.is_empty(),
        "no files in tables/{table} {provider:?} {date}\n{}",
        tree(out)
    );
    files.iter().flat_map(|f| read_hive_rows(f)).collect()
}

fn sim_ids(p: &str, d: &str) -> (sim::Provider, sim::Dataset) {
    let p = match p {
        "linkedin" => sim::Provider::Linkedin,
        _ => sim::Provider::Instagram,
    };
    let d = match d {
        "followers" => sim::Dataset::Followers,
        _ => sim::Dataset::Following,
    };
    (p, d)
}

/// The list the simulator serves for an account's dataset on a day.
pub fn list(a: &Account, dataset: &str, day: u32) -> Vec<Value> {
    let (p, d) = sim_ids(a.1, dataset);
    let size = if dataset == "followers" { a.2 } else { a.3 };
    expected_list(SEED, p, d, a.0, size, CHURN, day)
}

fn key_of<'a>(dataset: &str, item: &'a Value) -> &'a str {
    let (_, d) = sim_ids("linkedin", dataset);
    item_key(d, item).expect("every item has its key")
}

const META: [&str; 8] = [
    "account_id",
    "provider",
    "snapshot_date",
    "fetched_at",
    "run_id",
    "position",
    "previous_snapshot_date",
    "change",
];

/// Asserts a row's API columns hold the item's values (absent and null read back as null).
fn assert_item(row: &Map<String, Value>, item: &Value, what: &str) {
    for (col, v) in row {
        if META.contains(&col.as_str()) {
            continue;
        }
        let want = item.get(col).cloned().unwrap_or(Value::Null);
        assert_eq!(
            v, &want,
            "{what}: column {col:?}\nrow: {row:?}\nserved: {item}"
        );
    }
}

/// How a unit stands on the day checked.
pub struct Day<'a> {
    /// The accounts of the job.
    pub accounts: &'a [Account],
    /// The simulator's day.
    pub day: u32,
    /// Units that failed on the day: (account, dataset).
    pub failed: &'a [(&'a str, &'a str)],
    /// Each unit's previous complete day, if any.
    pub previous: &'a dyn Fn(&str, &str) -> Option<u32>,
}

fn ok_accounts<'a>(d: &Day<'a>, dataset: &str, provider: &str) -> Vec<&'a Account> {
    let mut v: Vec<&Account> = d
        .accounts
        .iter()
        .filter(|a| a.1 == provider && !d.failed.contains(&(a.0, dataset)))
        .collect();
    v.sort_by_key(|a| a.0);
    v
}

/// Gained (D's items not in P, D's order) and lost (P's items not in D, P's order).
pub fn changes(a: &Account, dataset: &str, day: u32, prev: u32) -> (Vec<Value>, Vec<Value>) {
    let (today, before) = (list(a, dataset, day), list(a, dataset, prev));
    let keys = |l: &[Value]| -> HashSet<String> {
        l.iter().map(|i| key_of(dataset, i).to_owned()).collect()
    };
    let (kt, kb) = (keys(&today), keys(&before));
    let gained = today
        .into_iter()
        .filter(|i| !kb.contains(key_of(dataset, i)))
        .collect();
    let lost = before
        .into_iter()
        .filter(|i| !kt.contains(key_of(dataset, i)))
        .collect();
    (gained, lost)
}

/// Asserts `tables/{dataset}` and its changes table of every provider on the day: exact rows,
/// account then position order, each change row's key, fields and dates.
pub fn assert_lists_and_changes(out: &Path, d: &Day<'_>) {
    let day = date(d.day);
    for dataset in ["followers", "following"] {
        let changes_table = if dataset == "followers" {
            "follower_changes"
        } else {
            "following_changes"
        };
        for provider in ["linkedin", "instagram"] {
            let accounts = ok_accounts(d, dataset, provider);
            if accounts.is_empty() {
                assert!(table_files(out, dataset, Some(provider), &day).is_empty());
                continue;
            }
            let rows = read_table(out, dataset, Some(provider), &day);
            let mut at = 0;
            for a in &accounts {
                for (i, item) in list(a, dataset, d.day).iter().enumerate() {
                    let what = format!("tables/{dataset} {provider} {day} {} row {i}", a.0);
                    let row = rows.get(at).unwrap_or_else(|| panic!("{what}: missing"));
                    assert_eq!(row["account_id"], a.0, "{what}");
                    assert_eq!(row["provider"], provider, "{what}");
                    assert_eq!(row["snapshot_date"], epoch_days(&day), "{what}");
                    assert_eq!(row["position"], i as i64, "{what}");
                    assert_item(row, item, &what);
                    at += 1;
                }
            }
            assert_eq!(
                rows.len(),
                at,
                "tables/{dataset} {provider} {day}: extra rows"
            );

            let rows = read_table(out, changes_table, Some(provider), &day);
            let mut at = 0;
            for a in &accounts {
                let Some(prev) = (d.previous)(a.0, dataset) else {
                    continue;
                };
                let (gained, lost) = changes(a, dataset, d.day, prev);
                let all = gained.iter().map(|i| ("gained", i));
                for (change, item) in all.chain(lost.iter().map(|i| ("lost", i))) {
                    let what = format!("tables/{changes_table} {provider} {day} {} #{at}", a.0);
                    let row = rows.get(at).unwrap_or_else(|| panic!("{what}: missing"));
                    assert_eq!(row["account_id"], a.0, "{what}");
                    assert_eq!(row["change"], change, "{what}");
                    assert_eq!(row["snapshot_date"], epoch_days(&day), "{what}");
                    assert_eq!(
                        row["previous_snapshot_date"],
                        epoch_days(&date(prev)),
                        "{what}"
                    );
                    assert!(!row.contains_key("position"), "{what}: {row:?}");
                    assert_item(row, item, &what);
                    at += 1;
                }
            }
            assert_eq!(
                rows.len(),
                at,
                "tables/{changes_table} {provider} {day}: extra rows"
            );
        }
    }
}

/// Asserts `account_daily` of the day: one row per unit of the job, in account then dataset
/// order, with its status, counts and dates; `run_of` gives the run id expected of a unit.
pub fn assert_account_daily(out: &Path, d: &Day<'_>, run_of: &dyn Fn(&str, &str) -> String) {
    let day = date(d.day);
    let rows = read_table(out, "account_daily", None, &day);
    let mut units: Vec<(&Account, &str)> = d
        .accounts
        .iter()
        .flat_map(|a| [(a, "followers"), (a, "following")])
        .collect();
    units.sort_by_key(|(a, ds)| (a.0, *ds));
    assert_eq!(rows.len(), units.len(), "account_daily {day}: {rows:?}");
    for (row, (a, ds)) in rows.iter().zip(units) {
        let what = format!("account_daily {day} {} {ds}", a.0);
        let failed = d.failed.contains(&(a.0, ds));
        let prev = (d.previous)(a.0, ds);
        assert_eq!(row["account_id"], a.0, "{what}");
        assert_eq!(row["dataset"], ds, "{what}");
        assert_eq!(row["provider"], a.1, "{what}");
        assert_eq!(row["snapshot_date"], epoch_days(&day), "{what}");
        assert_eq!(
            row["status"],
            if failed { "failed" } else { "ok" },
            "{what}"
        );
        assert_eq!(row["run_id"], run_of(a.0, ds).as_str(), "{what}");
        assert_eq!(
            row["previous_snapshot_date"],
            prev.map_or(Value::Null, |p| Value::from(epoch_days(&date(p)))),
            "{what}"
        );
        if failed {
            for c in ["records", "gained", "lost"] {
                assert_eq!(row[c], Value::Null, "{what}: {c}");
            }
            continue;
        }
        assert_eq!(row["records"], list(a, ds, d.day).len() as i64, "{what}");
        match prev {
            Some(p) => {
                let (g, l) = changes(a, ds, d.day, p);
                assert_eq!(row["gained"], g.len() as i64, "{what}");
                assert_eq!(row["lost"], l.len() as i64, "{what}");
            }
            None => {
                assert_eq!(row["gained"], Value::Null, "{what}");
                assert_eq!(row["lost"], Value::Null, "{what}");
            }
        }
    }
}

/// The run id of the run manifest of a date (there must be one).
pub fn run_id_of(out: &Path, date: &str) -> String {
    let m: Vec<Value> = manifests(out)
        .into_iter()
        .filter(|m| m["snapshot_date"] == date)
        .collect();
    assert_eq!(m.len(), 1, "one run manifest for {date}");
    m[0]["run_id"].as_str().expect("run_id").to_owned()
}

/// The previous complete day of every unit when every day before `day` is complete.
pub fn day_before(day: u32) -> impl Fn(&str, &str) -> Option<u32> {
    move |_, _| day.checked_sub(1)
}
