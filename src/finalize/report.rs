//! What `finalize` read and wrote for a date — the manifest
//! `_runs/snapshot_date={D}/finalize-{run_id}.json` — and the outcome of a whole invocation
//! (every date of `--snapshot-date .. --to`), with its summary lines and exit code.

use crate::model::{Dataset, Provider};
use serde::Serialize;
use std::fmt::Write as _;

/// One unit as finalize found it.
#[derive(Debug, Clone, Serialize)]
pub struct UnitRead {
    pub account_id: String,
    pub dataset: Dataset,
    pub provider: Provider,
    /// ok | failed | missing.
    pub status: String,
    /// The run that published it (ok) or reported it not done (failed).
    pub run_id: Option<String>,
    /// Rows read (ok).
    pub records: Option<u64>,
    /// Files read, for the date.
    pub files: Vec<String>,
    /// The version of each of `files` as listed (its ETag; empty when the store gave none):
    /// `erase` trusts the date's tables as an index of a unit file that is still this version.
    pub file_tags: Vec<String>,
    /// The size of each of `files`: `prune` deletes a date's units on S3 from this list
    /// instead of listing them.
    pub file_sizes: Vec<u64>,
    /// The previous complete snapshot compared against, if any.
    pub previous_snapshot_date: Option<String>,
    /// Its files, read for the changes (ok with a previous snapshot).
    pub previous_files: Vec<String>,
    /// Items gained since the previous snapshot.
    pub gained: Option<u64>,
    /// Items lost since the previous snapshot.
    pub lost: Option<u64>,
}

/// One table partition written.
#[derive(Debug, Clone, Serialize)]
pub struct TableWritten {
    /// `followers`, `follower_changes`, `account_daily`, ...
    pub table: String,
    /// The provider partition, for the tables that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Rows in it.
    pub rows: u64,
    /// Its files.
    pub files: Vec<String>,
    /// The size of each of `files`: `erase` trusts the partition as an index only while its
    /// files are these (or an erase's rewrite of them).
    pub file_sizes: Vec<u64>,
    /// Parts of an earlier finalize that were removed.
    pub stale_files_removed: u64,
}

/// Sums over a date's units.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DateTotals {
    /// Units of the job.
    pub units: u64,
    /// Published complete.
    pub ok: u64,
    /// Reported not done.
    pub failed: u64,
    /// Not reported.
    pub missing: u64,
    /// Rows of the ok units.
    pub records: u64,
    /// Items gained.
    pub gained: u64,
    /// Items lost.
    pub lost: u64,
}

impl DateTotals {
    /// The sums over a date's units.
    pub fn of(units: &[UnitRead]) -> DateTotals {
        let mut t = DateTotals::default();
        for r in units {
            t.units += 1;
            match r.status.as_str() {
                "ok" => t.ok += 1,
                "failed" => t.failed += 1,
                _ => t.missing += 1,
            }
            t.records += r.records.unwrap_or(0);
            t.gained += r.gained.unwrap_or(0);
            t.lost += r.lost.unwrap_or(0);
        }
        t
    }
}

/// The finalize manifest of one date.
#[derive(Debug, Clone, Serialize)]
pub struct DateReport {
    /// Job name.
    pub job: String,
    /// This finalize's run id (the run's own when `run` finalized its date).
    pub run_id: String,
    pub snapshot_date: String,
    /// Destination (no credentials).
    pub destination: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// postpress-etl version.
    pub tool_version: String,
    /// The run manifests of the date that were read.
    pub manifests_read: Vec<String>,
    /// Every unit of the job.
    pub units: Vec<UnitRead>,
    /// Every table partition written.
    pub tables: Vec<TableWritten>,
    pub totals: DateTotals,
    /// Where this manifest is.
    #[serde(skip)]
    pub manifest: String,
}

impl DateReport {
    /// The manifest JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_else(|e| {
            format!("{{\"error\": \"manifest could not be serialised: {e}\"}}").into_bytes()
        });
        v.push(b'\n');
        v
    }
}

/// A date of the range with nothing to finalize.
#[derive(Debug, Clone)]
pub struct NoUnits {
    pub snapshot_date: String,
    /// What is missing, for the operator.
    pub message: String,
}

/// Every date of one `finalize` (or of a run's own finalize).
#[derive(Debug, Clone, Default)]
pub struct FinalizeReport {
    /// Dates whose tables were built, in order.
    pub dates: Vec<DateReport>,
    /// Dates skipped because nothing was published for them.
    pub no_units: Vec<NoUnits>,
}

impl FinalizeReport {
    /// 0 when every date's tables were built; 3 when some date had no published units.
    pub fn exit(&self) -> crate::report::exit::Exit {
        use crate::report::exit::Exit;
        if self.no_units.is_empty() {
            Exit::Done
        } else {
            Exit::Partial
        }
    }

    /// One line per date, for stdout.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for d in &self.dates {
            let t = &d.totals;
            writeln!(
                s,
                "tables of {}: {} units, {} ok, {} failed, {} missing; {} records, {} gained, {} lost; manifest {}",
                d.snapshot_date, t.units, t.ok, t.failed, t.missing, t.records, t.gained, t.lost, d.manifest
            )
            .unwrap_or_default();
        }
        for n in &self.no_units {
            writeln!(
                s,
                "tables of {}: NOT BUILT, no published units",
                n.snapshot_date
            )
            .unwrap_or_default();
        }
        s
    }
}
