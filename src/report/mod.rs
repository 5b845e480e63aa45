//! What a run did: one [`UnitReport`] per unit, the [`RunReport`] that holds them, the manifest
//! JSON, the closing summary table, and the exit code — derived in one place.
//!
//! For schedulers and monitoring (SPEC §11), from the final report or what stopped the run
//! before it had one ([`outcome`]): the summary JSON ([`summary`]), the Prometheus metrics
//! ([`metrics`]), and both written atomically ([`files`]). Nothing here knows the API or the
//! object store.

pub mod exit;
pub mod files;
pub mod metrics;
pub mod outcome;
mod skip;
pub mod summary;

pub use skip::SkipReason;

use crate::model::{Dataset, Provider};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How a unit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitStatus {
    /// Fetched completely and published.
    Ok,
    /// Failed; nothing published, earlier data of its partition untouched.
    Failed,
    /// Not run to the end because the run stopped (signal or run-fatal error); nothing published.
    Skipped,
}

/// What kind of failure stopped a unit; serialised as the manifest's `kind` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The API answered with an error, or could not be reached.
    Api,
    /// A page that breaks the schema (wrong list object, bad item).
    InvalidPage,
    /// The cursor loop went wrong (same cursor twice, too many pages).
    Pagination,
    /// Writing or publishing to the destination failed.
    Storage,
    /// The run was stopped by a signal.
    Interrupted,
    /// The run stopped on a run-fatal error.
    Aborted,
    /// A bug: the unit panicked.
    Internal,
    /// Not run: its checkpoint is held by a run still alive (SPEC §10), left to finish it.
    HeldByLiveRun,
}

impl FailureKind {
    /// The manifest's string.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Api => "api",
            FailureKind::InvalidPage => "invalid_page",
            FailureKind::Pagination => "pagination",
            FailureKind::Storage => "storage",
            FailureKind::Interrupted => "interrupted",
            FailureKind::Aborted => "aborted",
            FailureKind::Internal => "internal",
            FailureKind::HeldByLiveRun => "held_by_live_run",
        }
    }
}

/// Why a unit failed, with the API's error envelope when there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The whole error chain as one sentence.
    pub message: String,
    /// HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Envelope `type` (or `timeout`, `connection`, ...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Envelope `title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Envelope `detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Envelope `instance`: the request id support asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The page it happened on (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// The item at fault within the page (0-based), for an invalid page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    /// The field at fault, for an invalid page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl UnitFailure {
    /// A failure of `kind` with its message and no other detail.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> UnitFailure {
        UnitFailure {
            kind,
            message: message.into(),
            status: None,
            error_type: None,
            title: None,
            detail: None,
            instance: None,
            page: None,
            item: None,
            field: None,
        }
    }

    /// The envelope type, or else the kind: what the summary shows.
    pub fn label(&self) -> &str {
        self.error_type.as_deref().unwrap_or(self.kind.as_str())
    }
}

/// One unit's outcome and counters.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub account_id: String,
    pub dataset: Dataset,
    pub provider: Provider,
    /// ok | failed | skipped.
    pub status: UnitStatus,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    /// The run whose checkpoint this unit continued (SPEC §10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// Pages not requested again thanks to that checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_skipped: Option<u64>,
    /// Pages received by this run.
    pub pages: u64,
    /// Records of the unit: received (and, when ok, published), those of a resumed checkpoint
    /// included.
    pub records: u64,
    /// HTTP requests, retries included.
    pub attempts: u64,
    pub retries: u64,
    /// "Too fast" answers (429, x-ratelimit-remaining: 0).
    pub throttles: u64,
    /// Retryable failures other than throttles.
    pub faults: u64,
    /// Page bytes received.
    pub bytes: u64,
    /// Parquet bytes published.
    pub output_bytes: u64,
    /// Published file names.
    pub files: Vec<String>,
    /// Stale parts of earlier runs removed from the partition.
    pub stale_files_removed: u64,
    /// Rows dropped before staging because their key was erased (SPEC §12); `records`
    /// counts the rows published without them.
    pub suppressed: u64,
    /// Occurrences of item fields the schema does not know (ignored).
    pub unknown_fields: u64,
    /// Their names and counts (the first few names).
    pub unknown_field_names: BTreeMap<String, u64>,
    /// Wall time of the unit.
    pub duration_ms: u64,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<UnitFailure>,
}

impl UnitReport {
    /// A report with zero counters.
    pub fn new(account_id: &str, dataset: Dataset, provider: Provider) -> UnitReport {
        UnitReport {
            account_id: account_id.to_owned(),
            dataset,
            provider,
            status: UnitStatus::Skipped,
            reason: None,
            resumed_from: None,
            pages_skipped: None,
            pages: 0,
            records: 0,
            attempts: 0,
            retries: 0,
            throttles: 0,
            faults: 0,
            bytes: 0,
            output_bytes: 0,
            files: Vec::new(),
            stale_files_removed: 0,
            suppressed: 0,
            unknown_fields: 0,
            unknown_field_names: BTreeMap::new(),
            duration_ms: 0,
            error: None,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every unit ok.
    Ok,
    /// Some units failed, the rest published.
    Partial,
    /// A run-fatal error (key rejected, destination unusable, internal error).
    Failed,
    /// Stopped by SIGINT/SIGTERM.
    Interrupted,
}

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopSignal {
    #[serde(rename = "SIGINT")]
    Interrupt,
    /// Kubernetes, Airflow, `kill`.
    #[serde(rename = "SIGTERM")]
    Terminate,
}

/// The whole run, as written to `_runs/snapshot_date=…/{run_id}.json`. Its status and totals
/// are computed from the units, the signal and the error whenever they are asked for (and
/// written), so no change to a report can leave them stale.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Job name.
    pub job: String,
    /// Run id.
    pub run_id: String,
    pub snapshot_date: String,
    /// `I/N` when sharded.
    pub shard: Option<String>,
    /// Destination (no credentials).
    pub destination: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// The signal, when interrupted.
    pub signal: Option<StopSignal>,
    /// The run-fatal error, when failed.
    pub error: Option<String>,
    /// Storage calls of the run tried again as a whole (see [`Totals::storage_retries`]).
    pub storage_retries: u64,
    /// postpress-etl version.
    pub tool_version: String,
    /// Every planned unit.
    pub units: Vec<UnitReport>,
    /// Where the manifest was written (URL or local path), once it was; not in the manifest.
    pub manifest_url: Option<String>,
}

/// Sums over the units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Units planned.
    pub units: u64,
    /// Units ok.
    pub ok: u64,
    /// Units failed.
    pub failed: u64,
    /// Units skipped.
    pub skipped: u64,
    /// Records published.
    pub records: u64,
    /// Rows of erased people dropped (units ok only, as `records`).
    pub suppressed: u64,
    /// Requests sent.
    pub attempts: u64,
    pub retries: u64,
    pub throttles: u64,
    /// Page bytes received.
    pub bytes: u64,
    /// Storage calls (PUT, COPY, DELETE, GET of a lease) tried again as a whole after a
    /// failure that may pass; object_store's own retries of single HTTP requests within a call
    /// are not counted.
    pub storage_retries: u64,
}

impl RunReport {
    /// Sums over the units, and the run's storage retries.
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            storage_retries: self.storage_retries,
            ..Totals::default()
        };
        for u in &self.units {
            t.units += 1;
            match u.status {
                UnitStatus::Ok => {
                    t.ok += 1;
                    t.records += u.records;
                    t.suppressed += u.suppressed;
                }
                UnitStatus::Failed => t.failed += 1,
                UnitStatus::Skipped => t.skipped += 1,
            }
            t.attempts += u.attempts;
            t.retries += u.retries;
            t.throttles += u.throttles;
            t.bytes += u.bytes;
        }
        t
    }

    /// The run's status, the one place it is decided: a signal makes it interrupted, a
    /// run-fatal `error` failed, any unit not ok partial (a unit skipped as already published
    /// is done), else ok.
    pub fn status(&self) -> RunStatus {
        let not_done = self
            .units
            .iter()
            .filter(|u| match u.status {
                UnitStatus::Ok => false,
                UnitStatus::Failed => true,
                UnitStatus::Skipped => u.reason != Some(SkipReason::AlreadyPublished),
            })
            .count();
        match (self.signal, &self.error) {
            (Some(_), _) => RunStatus::Interrupted,
            (None, Some(_)) => RunStatus::Failed,
            (None, None) if not_done > 0 => RunStatus::Partial,
            (None, None) => RunStatus::Ok,
        }
    }

    /// How the run ended (SPEC §5): done, some units failed, run-fatal, or a signal.
    pub fn exit(&self) -> exit::Exit {
        use exit::Exit;
        match self.status() {
            RunStatus::Ok => Exit::Done,
            RunStatus::Partial => Exit::Partial,
            RunStatus::Failed => Exit::Fatal,
            RunStatus::Interrupted => Exit::Signal(self.signal.unwrap_or(StopSignal::Terminate)),
        }
    }

    /// The process exit code: 0 ok, 3 some units failed, 1 run-fatal, 130/143 signal.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.exit().code())
    }

    /// The manifest JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_else(|e| {
            format!("{{\"error\": \"manifest could not be serialised: {e}\"}}").into_bytes()
        });
        v.push(b'\n');
        v
    }

    /// The summary table that closes every run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        writeln!(
            s,
            "{:<40} {:<9} {:<9} {:<7} {:>10} {:>7} {:>8} {:>7}  error",
            "account_id",
            "dataset",
            "provider",
            "status",
            "records",
            "pages",
            "requests",
            "retries"
        )
        .unwrap_or_default();
        for u in &self.units {
            let status = match u.status {
                UnitStatus::Ok => "ok",
                UnitStatus::Failed => "FAILED",
                UnitStatus::Skipped => "skipped",
            };
            let err = u.error.as_ref().map_or_else(
                || u.reason.map_or("", SkipReason::as_str),
                UnitFailure::label,
            );
            writeln!(
                s,
                "{:<40} {:<9} {:<9} {:<7} {:>10} {:>7} {:>8} {:>7}  {}",
                u.account_id,
                u.dataset,
                u.provider,
                status,
                u.records,
                u.pages,
                u.attempts,
                u.retries,
                err
            )
            .unwrap_or_default();
        }
        let t = self.totals();
        writeln!(
            s,
            "run {} ({}) {}: {} units, {} ok, {} failed, {} skipped; {} records, {} requests, {} retries, {} throttled{}",
            self.run_id,
            self.snapshot_date,
            match self.status() {
                RunStatus::Ok => "ok",
                RunStatus::Partial => "PARTIAL",
                RunStatus::Failed => "FAILED",
                RunStatus::Interrupted => "INTERRUPTED",
            },
            t.units,
            t.ok,
            t.failed,
            t.skipped,
            t.records,
            t.attempts,
            t.retries,
            t.throttles,
            self.error.as_ref().map_or(String::new(), |e| format!("; {e}"))
        ).unwrap_or_default();
        s
    }
}

/// The manifest as written: the report's fields with its status and totals computed.
#[derive(Serialize)]
struct ManifestJson<'a> {
    job: &'a str,
    run_id: &'a str,
    snapshot_date: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<&'a str>,
    destination: &'a str,
    started_at: &'a str,
    finished_at: &'a str,
    status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<StopSignal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    tool_version: &'a str,
    totals: Totals,
    units: &'a [UnitReport],
}

impl Serialize for RunReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ManifestJson {
            job: &self.job,
            run_id: &self.run_id,
            snapshot_date: &self.snapshot_date,
            shard: self.shard.as_deref(),
            destination: &self.destination,
            started_at: &self.started_at,
            finished_at: &self.finished_at,
            status: self.status(),
            signal: self.signal,
            error: self.error.as_deref(),
            tool_version: &self.tool_version,
            totals: self.totals(),
            units: &self.units,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn report(statuses: &[UnitStatus]) -> RunReport {
        RunReport {
            job: "j".into(),
            run_id: "r".into(),
            snapshot_date: "2026-11-26".into(),
            shard: None,
            destination: "out".into(),
            started_at: String::new(),
            finished_at: String::new(),
            signal: None,
            error: None,
            storage_retries: 0,
            tool_version: "0".into(),
            units: statuses
                .iter()
                .map(|s| {
                    let mut u = UnitReport::new("a", Dataset::Followers, Provider::Linkedin);
                    u.status = *s;
                    u
                })
                .collect(),
            manifest_url: None,
        }
    }

    /// Failure kinds serialise as the manifest's strings, and `as_str` agrees.
    #[test]
    fn failure_kinds_are_the_manifest_strings() {
        use FailureKind::*;
        for (kind, text) in [
            (Api, "api"),
            (InvalidPage, "invalid_page"),
            (Pagination, "pagination"),
            (Storage, "storage"),
            (Interrupted, "interrupted"),
            (Aborted, "aborted"),
            (Internal, "internal"),
            (HeldByLiveRun, "held_by_live_run"),
        ] {
            assert_eq!(serde_json::to_value(kind).expect("json"), text);
            assert_eq!(kind.as_str(), text);
        }
    }

    /// Exit codes follow SPEC §5.
    #[test]
    fn exit_codes() {
        assert_eq!(report(&[UnitStatus::Ok, UnitStatus::Ok]).exit_code(), 0);
        assert_eq!(report(&[UnitStatus::Ok, UnitStatus::Failed]).exit_code(), 3);
        let mut r = report(&[UnitStatus::Ok]);
        r.error = Some("the API key was rejected".into());
        assert_eq!(r.exit_code(), 1);
        r.signal = Some(StopSignal::Terminate);
        assert_eq!(r.exit_code(), 143);
        r.signal = Some(StopSignal::Interrupt);
        assert_eq!(r.exit_code(), 130);
        let j: serde_json::Value = serde_json::from_slice(&r.to_json()).expect("manifest is JSON");
        assert_eq!(j["status"], "interrupted");
        assert_eq!(j["signal"], "SIGINT");
        assert_eq!(j["units"][0]["dataset"], "followers");
    }
}
