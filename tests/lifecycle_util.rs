//! Shared setup of the lifecycle tests (SPEC §12): a simulator whose lists share people
//! (`--shared-followers`), several days exported with their tables, keys chosen from the
//! simulator's ground truth, and readers of every Parquet file of an output.

use crate::tables_check::{date, export, set_day};
use crate::util::*;
use postpress_etl::lifecycle::KeyHash;
use postpress_sim::{Dataset, Provider, expected_keys_shared};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Fraction of every list drawn from the shared population.
pub const SHARED: f64 = 0.25;
/// Daily churn.
pub const CHURN: f64 = 0.05;
/// Followers and following of every account on day 0.
pub const FOLLOWERS: u64 = 240;
/// Followed accounts of every account on day 0.
pub const FOLLOWING: u64 = 60;
/// The simulator's generated accounts (alternating providers).
pub const ACCOUNTS: [(&str, &str); 4] = [
    ("acc_linkedin_0000", "linkedin"),
    ("acc_instagram_0001", "instagram"),
    ("acc_linkedin_0002", "linkedin"),
    ("acc_instagram_0003", "instagram"),
];

/// A simulator of [`ACCOUNTS`] with shared people and churn.
pub fn shared_sim() -> Sim {
    Sim::start(&[
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
    ])
}

/// A job over [`ACCOUNTS`] against `sim`, with `extra` appended (e.g. a `[retention]` table).
pub fn shared_job(t: &TestDir, sim: &Sim, output_extra: &str) -> PathBuf {
    t.job_with(sim, "", output_extra, &accounts_toml(&ACCOUNTS))
}

fn provider(p: &str) -> Provider {
    if p == "linkedin" {
        Provider::Linkedin
    } else {
        Provider::Instagram
    }
}

/// The keys of a list on `day`, from the simulator's ground truth.
pub fn truth(account: &str, p: &str, dataset: Dataset, day: u32) -> Vec<String> {
    let size = match dataset {
        Dataset::Followers => FOLLOWERS,
        Dataset::Following => FOLLOWING,
    };
    expected_keys_shared(
        SEED,
        SHARED,
        provider(p),
        dataset,
        account,
        size,
        CHURN,
        day,
    )
}

/// Two LinkedIn people who, on every day of `days`, follow both LinkedIn accounts and are
/// followed by every account: the same key as a follower's `id` and as a `member_id`.
pub fn everywhere(days: std::ops::RangeInclusive<u32>) -> Vec<String> {
    let mut common: Option<HashSet<String>> = None;
    for day in days {
        for (account, p) in ACCOUNTS {
            let mut lists = vec![truth(account, p, Dataset::Following, day)];
            if p == "linkedin" {
                lists.push(truth(account, p, Dataset::Followers, day));
            }
            for list in lists {
                let set: HashSet<String> = list.into_iter().collect();
                common = Some(match common {
                    None => set,
                    Some(c) => c.intersection(&set).cloned().collect(),
                });
            }
        }
    }
    let mut keys: Vec<String> = common.expect("days").into_iter().collect();
    keys.sort();
    assert!(
        keys.len() >= 2,
        "the simulator shares too few people: {keys:?}"
    );
    keys.truncate(2);
    keys
}

/// Exports simulator days `days` (one run each, tables built at its end).
pub fn export_days(sim: &Sim, job: &Path, out: &Path, days: std::ops::RangeInclusive<u32>) {
    for day in days {
        set_day(sim, day);
        export(job, day, &[]).expect_code(0, out);
    }
}

/// Every Parquet file below `out`, relative path to its rows (hive columns included), in
/// file order.
pub fn all_rows(out: &Path) -> BTreeMap<String, Vec<Map<String, Value>>> {
    files_below(out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            let rel = p.strip_prefix(out).unwrap_or(&p).display().to_string();
            (rel, read_hive_rows(&p))
        })
        .collect()
}

/// Whether a row holds one of `keys` as its key (`id` or `member_id`).
pub fn holds(row: &Map<String, Value>, keys: &[String]) -> bool {
    ["id", "member_id"]
        .iter()
        .filter_map(|c| row.get(*c).and_then(Value::as_str))
        .any(|v| keys.iter().any(|k| k == v))
}

/// Rows of every file minus those holding `keys`.
pub fn without(
    rows: &BTreeMap<String, Vec<Map<String, Value>>>,
    keys: &[String],
) -> BTreeMap<String, Vec<Map<String, Value>>> {
    rows.iter()
        .map(|(f, r)| {
            let kept = r.iter().filter(|row| !holds(row, keys)).cloned().collect();
            (f.clone(), kept)
        })
        .collect()
}

/// Rows holding one of `keys`, per file.
pub fn rows_holding(
    rows: &BTreeMap<String, Vec<Map<String, Value>>>,
    keys: &[String],
) -> BTreeMap<String, usize> {
    rows.iter()
        .map(|(f, r)| (f.clone(), r.iter().filter(|row| holds(row, keys)).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// `_lifecycle/suppressed/{id}.txt` with the hashes of `keys`, as `erase` writes it.
pub fn write_suppressed(out: &Path, id: &str, keys: &[String]) {
    let dir = out.join("_lifecycle/suppressed");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text: String = keys
        .iter()
        .map(|k| format!("{}\n", KeyHash::of(k)))
        .collect();
    std::fs::write(dir.join(format!("{id}.txt")), text).expect("write list");
}

/// The date of simulator day `day`.
pub fn day_date(day: u32) -> String {
    date(day)
}

/// The rows of one unit of simulator day `day`, its parts in name order.
pub fn unit_rows(
    out: &Path,
    dataset: &str,
    provider: &str,
    account: &str,
    day: u32,
) -> Vec<Map<String, Value>> {
    let dir = out.join(format!(
        "{dataset}/provider={provider}/snapshot_date={}/account_id={account}",
        date(day)
    ));
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} missing: {e}\n{}", dir.display(), tree(out)))
        .flatten()
        .map(|e| e.path())
        .collect();
    parts.sort();
    parts.iter().flat_map(|p| read_hive_rows(p)).collect()
}
