//! The whole run's report: its units, its status and totals computed from them, and the
//! manifest JSON it is written as.

use super::exit::{self, StopSignal};
use super::skip::SkipReason;
use super::unit::{UnitFailure, UnitReport, UnitStatus};
use serde::Serialize;
use std::fmt::Write as _;

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
