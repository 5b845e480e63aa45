//! What `prune` deletes (SPEC §12), decided from listings alone: each object of the unit and
//! table layouts (SPEC §4, §9) by table and date, the dates past each limit, and which dates'
//! units must stay because their reader tables are missing or older than their last run.
//!
//! Owns the layouts' parsing for prune and the decision. It must not delete anything.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use object_store::ObjectMeta;
use object_store::path::Path;

use crate::job::Retention;
use crate::model::{Dataset, Provider};

/// The reader tables with a provider partition (SPEC §9).
pub const PROVIDER_TABLES: [&str; 4] = [
    "followers",
    "following",
    "follower_changes",
    "following_changes",
];
/// The reader table without one.
pub const DAILY_TABLE: &str = "account_daily";

/// Which retention limit a table falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `units_days`.
    Units,
    /// `snapshots_days`.
    Snapshots,
    /// `changes_days`.
    Changes,
}

/// A table as `prune` reports it: `followers` (units) or `tables/follower_changes`.
pub fn limit_of(table: &str) -> Limit {
    match table {
        "followers" | "following" => Limit::Units,
        "tables/followers" | "tables/following" => Limit::Snapshots,
        _ => Limit::Changes,
    }
}

/// The objects of one table and date.
#[derive(Debug, Clone, Default)]
pub struct Partition {
    /// Every object of the layout found for it.
    pub objects: Vec<ObjectMeta>,
}

impl Partition {
    /// Their total size.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }
}

/// Everything listed, sorted into the layouts.
#[derive(Debug, Default)]
pub struct Inventory {
    /// (table, date) to its objects.
    pub partitions: BTreeMap<(String, NaiveDate), Partition>,
    /// Objects in the listed trees that follow neither layout: never deleted, named in a warning.
    pub foreign: Vec<Path>,
}

/// Sorts an object listed below `{root}` (`followers`, `following` or `tables`) into its table
/// and date, or into the foreign files.
pub fn classify(inv: &mut Inventory, root_parts: usize, root: &str, meta: ObjectMeta) {
    let parts: Vec<String> = meta
        .location
        .parts()
        .skip(root_parts)
        .map(|p| p.as_ref().to_owned())
        .collect();
    let strs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let found = match (root, strs.as_slice()) {
        ("followers" | "following", [provider, date, account, file])
            if provider_ok(provider) && account.starts_with("account_id=") && is_part(file) =>
        {
            date_of(date).map(|d| (root.to_owned(), d))
        }
        ("tables", [table, provider, date, file])
            if PROVIDER_TABLES.contains(table) && provider_ok(provider) && is_part(file) =>
        {
            date_of(date).map(|d| (format!("tables/{table}"), d))
        }
        ("tables", [table, date, file]) if *table == DAILY_TABLE && is_part(file) => {
            date_of(date).map(|d| (format!("tables/{table}"), d))
        }
        _ => None,
    };
    match found {
        Some(key) => inv.partitions.entry(key).or_default().objects.push(meta),
        None => inv.foreign.push(meta.location),
    }
}

/// Whether a directory name is `provider={a provider}`.
pub fn provider_ok(seg: &str) -> bool {
    seg.strip_prefix("provider=")
        .is_some_and(|p| Provider::ALL.iter().any(|x| x.as_str() == p))
}

fn is_part(file: &str) -> bool {
    crate::sink::layout::is_part_file(file)
}

/// The date of a `snapshot_date=YYYY-MM-DD` directory name.
pub fn date_of(seg: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(seg.strip_prefix("snapshot_date=")?, "%Y-%m-%d").ok()
}

/// The roots prune lists: the units of both datasets and the reader tables.
pub fn roots() -> [&'static str; 3] {
    [
        Dataset::Followers.as_str(),
        Dataset::Following.as_str(),
        "tables",
    ]
}

/// The oldest date a limit keeps, counting back from `date`: dates before it are past the limit.
pub fn oldest_kept(date: NaiveDate, days: Option<std::num::NonZeroU32>) -> Option<NaiveDate> {
    let days = days?;
    date.checked_sub_days(chrono::Days::new(u64::from(days.get())))
}

/// Whether `d` is past the limit `l` of `retention`, counting back from `date`.
pub fn past(retention: &Retention, date: NaiveDate, l: Limit, d: NaiveDate) -> bool {
    let days = match l {
        Limit::Units => retention.units_days,
        Limit::Snapshots => retention.snapshots_days,
        Limit::Changes => retention.changes_days,
    };
    oldest_kept(date, days).is_some_and(|oldest| d < oldest)
}

/// The finish times recorded in a date's manifests, and the unit files its newest finalize read.
#[derive(Debug, Clone, Default)]
pub struct DateManifests {
    /// Of every run manifest.
    pub runs: Vec<DateTime<Utc>>,
    /// Of every finalize manifest.
    pub finalizes: Vec<DateTime<Utc>>,
    /// The files (path and size) of the `ok` units the newest finalize read, by dataset
    /// (`followers`, `following`); `None` when that manifest does not record every size (an
    /// earlier version's).
    pub unit_files: Option<BTreeMap<String, Vec<(String, u64)>>>,
    /// When the newest finalize finished: its files are the ones above.
    pub unit_files_of: Option<DateTime<Utc>>,
}

/// Why a date past `units_days` keeps its units, if it does: its tables were not built after
/// its last run, or are gone. `None` when its units may go. `has` tells whether a table
/// (`followers`, `tables/account_daily`) has a partition for `d`.
pub fn units_must_stay(
    has: impl Fn(&str) -> bool,
    manifests: Option<&DateManifests>,
    retention: &Retention,
    date: NaiveDate,
    d: NaiveDate,
) -> Option<&'static str> {
    // Tables past their own limit go anyway: nothing is kept waiting for them.
    if past(retention, date, Limit::Snapshots, d) {
        return None;
    }
    let Some(m) = manifests else {
        return Some("no manifest records its reader tables");
    };
    let last_run = m.runs.iter().max();
    let Some(built) = m.finalizes.iter().max() else {
        return Some("its reader tables were never built");
    };
    if last_run.is_some_and(|r| r >= built) {
        return Some("its reader tables are older than its last run");
    }
    let units: BTreeSet<&str> = ["followers", "following"]
        .into_iter()
        .filter(|t| has(t))
        .collect();
    let tables_there =
        has("tables/account_daily") && units.iter().all(|u| has(&format!("tables/{u}")));
    (!tables_there).then_some("its reader tables are missing")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn meta(p: &str) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(p),
            last_modified: Utc::now(),
            size: 10,
            e_tag: None,
            version: None,
        }
    }

    /// `N` days back from `D`: `D - N` is kept, the day before is past; 0 keeps forever.
    #[test]
    fn limits_count_back_from_the_date() {
        let r = Retention {
            units_days: NonZeroU32::new(2),
            snapshots_days: None,
            changes_days: NonZeroU32::new(1),
        };
        let date = d("2026-12-10");
        assert!(!past(&r, date, Limit::Units, d("2026-12-08")));
        assert!(past(&r, date, Limit::Units, d("2026-12-07")));
        assert!(!past(&r, date, Limit::Snapshots, d("2000-01-01")));
        assert!(past(&r, date, Limit::Changes, d("2026-12-08")));
    }

    /// Objects of the layouts are sorted by table and date; anything else is foreign.
    #[test]
    fn objects_sort_into_layouts() {
        let mut inv = Inventory::default();
        for p in [
            "out/followers/provider=linkedin/snapshot_date=2026-12-01/account_id=a/part-00000.parquet",
            "out/followers/provider=linkedin/snapshot_date=2026-12-01/notes.txt",
            "out/followers/provider=myspace/snapshot_date=2026-12-01/account_id=a/part-00000.parquet",
        ] {
            classify(&mut inv, 2, "followers", meta(p));
        }
        for p in [
            "out/tables/follower_changes/provider=instagram/snapshot_date=2026-12-01/part-00000.parquet",
            "out/tables/account_daily/snapshot_date=2026-12-01/part-00000.parquet",
            "out/tables/other/snapshot_date=2026-12-01/part-00000.parquet",
        ] {
            classify(&mut inv, 2, "tables", meta(p));
        }
        let keys: Vec<_> = inv.partitions.keys().cloned().collect();
        assert_eq!(
            keys,
            [
                ("followers".to_owned(), d("2026-12-01")),
                ("tables/account_daily".to_owned(), d("2026-12-01")),
                ("tables/follower_changes".to_owned(), d("2026-12-01")),
            ]
        );
        assert_eq!(inv.foreign.len(), 3);
    }

    /// Units wait for tables built after the last run and still there, unless those tables
    /// are past their own limit.
    #[test]
    fn units_wait_for_fresh_tables() {
        let r = Retention {
            units_days: NonZeroU32::new(1),
            snapshots_days: NonZeroU32::new(5),
            changes_days: None,
        };
        let (date, x) = (d("2026-12-10"), d("2026-12-07"));
        let mut inv = Inventory::default();
        inv.partitions
            .insert(("followers".into(), x), Partition::default());
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut m = DateManifests {
            runs: vec![t("2026-12-07T02:00:00Z")],
            finalizes: vec![t("2026-12-07T01:00:00Z")],
            ..DateManifests::default()
        };
        let has = |inv: &Inventory| {
            let keys: Vec<String> = inv.partitions.keys().map(|(t, _)| t.clone()).collect();
            move |t: &str| keys.iter().any(|k| k == t)
        };
        let why =
            |inv: &Inventory, m: &DateManifests| units_must_stay(has(inv), Some(m), &r, date, x);
        assert_eq!(
            why(&inv, &m),
            Some("its reader tables are older than its last run")
        );
        m.finalizes.push(t("2026-12-07T03:00:00Z"));
        assert_eq!(why(&inv, &m), Some("its reader tables are missing"));
        for table in ["tables/followers", "tables/account_daily"] {
            inv.partitions
                .insert((table.into(), x), Partition::default());
        }
        assert_eq!(why(&inv, &m), None);
        assert_eq!(
            units_must_stay(has(&inv), None, &r, date, x),
            Some("no manifest records its reader tables")
        );
        assert_eq!(
            units_must_stay(has(&inv), None, &r, date, d("2026-12-01")),
            None,
            "tables past snapshots_days do not hold units back"
        );
    }
}
