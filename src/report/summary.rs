//! The run's summary for schedulers (SPEC §11): one JSON object with the status, the exit code,
//! the counts, the units that were not published and where the manifest is. Airflow's
//! KubernetesPodOperator pushes it to XCom from `/airflow/xcom/return.json`.
//!
//! Built from an [`Outcome`], for every way a run ends; this module must not know where or how
//! the file is written.

use super::outcome::{Outcome, RunFacts};
use super::run::{RunReport, RunStatus};
use super::unit::{UnitFailure, UnitStatus};
use serde::Serialize;

/// How the command ended, as the summary says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryStatus {
    /// Every unit published (exit 0).
    Ok,
    /// Some units failed, the rest published (exit 3).
    Partial,
    /// Run-fatal, or the run could not start (exit 1).
    Failed,
    /// Stopped by SIGINT/SIGTERM (exit 130/143).
    Interrupted,
    /// A job-file or usage error: nothing done (exit 2).
    Invalid,
}

impl From<RunStatus> for SummaryStatus {
    fn from(s: RunStatus) -> SummaryStatus {
        match s {
            RunStatus::Ok => SummaryStatus::Ok,
            RunStatus::Partial => SummaryStatus::Partial,
            RunStatus::Failed => SummaryStatus::Failed,
            RunStatus::Interrupted => SummaryStatus::Interrupted,
        }
    }
}

/// The run's figures; the same sums as the manifest's `totals`, under SPEC §11's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Units planned.
    pub units: u64,
    /// Units published.
    pub ok: u64,
    /// Units failed.
    pub failed: u64,
    /// Units not run to their end (the run stopped).
    pub skipped: u64,
    /// Records published.
    pub records: u64,
    /// Rows of erased people dropped before staging (SPEC §12).
    pub suppressed: u64,
    /// HTTP requests sent, retries included (the manifest's `attempts`).
    pub requests: u64,
    pub retries: u64,
    /// "Too fast" answers (the manifest's `throttles`).
    pub throttled: u64,
    /// Storage calls tried again as a whole (the manifest's `storage_retries`).
    pub storage_retries: u64,
}

/// A unit this run did not publish, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedUnit {
    /// The account.
    pub account_id: String,
    /// followers | following.
    pub dataset: String,
    /// linkedin | instagram.
    pub provider: String,
    /// failed | skipped.
    pub status: UnitStatus,
    /// The API's error type (`errors/account_restricted`, `timeout`, ...) or the failure kind
    /// (`invalid_page`, `storage`, `interrupted`, ...).
    pub error_type: Option<String>,
}

/// The summary file's JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// ok | partial | failed | interrupted | invalid.
    pub status: SummaryStatus,
    /// The process exit code.
    pub exit_code: i32,
    /// Why the run failed or could not start; null otherwise.
    pub error: Option<String>,
    /// The job's name; null when the job file could not be read.
    pub job: Option<String>,
    /// The run id; null when the run did not start.
    pub run_id: Option<String>,
    /// `YYYY-MM-DD`; null when `--snapshot-date` was invalid.
    pub snapshot_date: Option<String>,
    /// `I/N`; null when not sharded.
    pub shard: Option<String>,
    /// The run's figures (all zero when it did not start).
    pub counts: Counts,
    /// Every unit failed, or skipped because the run stopped.
    pub failed_units: Vec<FailedUnit>,
    /// Where the manifest was written (an `s3://` URL or a local path); null when none was.
    pub manifest: Option<String>,
}

impl Summary {
    /// The summary of an outcome; `facts` fill in what a run that never ran cannot say.
    pub fn new(facts: &RunFacts, outcome: &Outcome<'_>) -> Summary {
        let early = |status, error: Option<String>| Summary {
            status,
            exit_code: outcome.exit_code(),
            error,
            job: facts.job.clone(),
            run_id: None,
            snapshot_date: facts.snapshot_date.clone(),
            shard: facts.shard.clone(),
            counts: Counts::default(),
            failed_units: Vec::new(),
            manifest: None,
        };
        match outcome {
            Outcome::Ran(report) => Summary::of_report(report),
            Outcome::Invalid { error } => early(SummaryStatus::Invalid, Some((*error).to_owned())),
            Outcome::NotStarted { error } => {
                early(SummaryStatus::Failed, Some((*error).to_owned()))
            }
            Outcome::Abandoned { .. } => {
                early(SummaryStatus::Interrupted, Some(ABANDONED.to_owned()))
            }
        }
    }

    fn of_report(r: &RunReport) -> Summary {
        let t = r.totals();
        Summary {
            status: r.status().into(),
            exit_code: r.exit_code(),
            error: r.error.clone(),
            job: Some(r.job.clone()),
            run_id: Some(r.run_id.clone()),
            snapshot_date: Some(r.snapshot_date.clone()),
            shard: r.shard.clone(),
            counts: Counts {
                units: t.units,
                ok: t.ok,
                failed: t.failed,
                skipped: t.skipped,
                records: t.records,
                suppressed: t.suppressed,
                requests: t.attempts,
                retries: t.retries,
                throttled: t.throttles,
                storage_retries: t.storage_retries,
            },
            failed_units: r
                .units
                .iter()
                // A skipped unit without an error was not meant to run; one with an error was
                // stopped before its end and is as unpublished as a failed one.
                .filter(|u| {
                    u.status == UnitStatus::Failed
                        || (u.status == UnitStatus::Skipped && u.error.is_some())
                })
                .map(|u| FailedUnit {
                    account_id: u.account_id.clone(),
                    dataset: u.dataset.to_string(),
                    provider: u.provider.to_string(),
                    status: u.status,
                    error_type: u.error.as_ref().map(|e| UnitFailure::label(e).to_owned()),
                })
                .collect(),
            manifest: r.manifest_url.clone(),
        }
    }

    /// The file's bytes: pretty JSON and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_else(|e| {
            format!("{{\"error\": \"summary could not be serialised: {e}\"}}").into_bytes()
        });
        v.push(b'\n');
        v
    }
}

/// The error of an abandoned run's summary.
const ABANDONED: &str = "stopped before the run's report was complete (a second signal, or the \
                         grace period ran out): its counts and manifest are unknown";

#[cfg(test)]
mod tests {
    use super::super::outcome::fixtures;
    use super::*;
    use chrono::{TimeZone, Utc};

    fn facts() -> RunFacts {
        let mut f = RunFacts::new(Utc.with_ymd_and_hms(2026, 11, 26, 2, 30, 0).unwrap());
        f.snapshot_date = Some("2026-11-26".into());
        f.shard = Some("1/4".into());
        f
    }

    fn text(outcome: &Outcome<'_>) -> String {
        String::from_utf8(Summary::new(&facts(), outcome).to_json()).unwrap()
    }

    /// A partial run: counts are the manifest's totals under SPEC §11's names, and every unit
    /// not published is listed with its error type, the manifest with its path.
    #[test]
    fn partial_run_summary_is_exact() {
        let r = fixtures::partial();
        assert_eq!(text(&Outcome::Ran(&r)), PARTIAL);
    }

    /// A job-file error: status invalid, exit 2, the message, what was known, zero counts.
    #[test]
    fn invalid_summary_is_exact() {
        let got = text(&Outcome::Invalid {
            error: "job file j.toml: unknown field `concurency`",
        });
        assert_eq!(got, INVALID);
    }

    /// A run that could not start, and one abandoned by a second signal: no run id, no manifest.
    #[test]
    fn runs_without_a_report_have_null_ids() {
        let mut f = facts();
        f.job = Some("daily".into());
        let s = Summary::new(
            &f,
            &Outcome::NotStarted {
                error: "destination x is not usable",
            },
        );
        assert_eq!(
            (s.status, s.exit_code, s.error.as_deref(), s.job.as_deref()),
            (
                SummaryStatus::Failed,
                1,
                Some("destination x is not usable"),
                Some("daily")
            )
        );
        assert_eq!(
            (s.run_id, s.manifest, s.counts),
            (None, None, Counts::default())
        );
        let s = Summary::new(
            &f,
            &Outcome::Abandoned {
                signal: super::super::StopSignal::Interrupt,
            },
        );
        assert_eq!((s.status, s.exit_code), (SummaryStatus::Interrupted, 130));
        assert!(
            s.error
                .as_deref()
                .unwrap_or_default()
                .contains("counts and manifest are unknown")
        );
    }

    const PARTIAL: &str = r#"{
  "status": "partial",
  "exit_code": 3,
  "error": null,
  "job": "daily",
  "run_id": "20261126T023000Z-ab12",
  "snapshot_date": "2026-11-26",
  "shard": "1/4",
  "counts": {
    "units": 4,
    "ok": 2,
    "failed": 1,
    "skipped": 1,
    "records": 257,
    "suppressed": 0,
    "requests": 8,
    "retries": 2,
    "throttled": 1,
    "storage_retries": 0
  },
  "failed_units": [
    {
      "account_id": "acc_a",
      "dataset": "following",
      "provider": "linkedin",
      "status": "failed",
      "error_type": "errors/account_restricted"
    },
    {
      "account_id": "acc_b",
      "dataset": "followers",
      "provider": "instagram",
      "status": "skipped",
      "error_type": "interrupted"
    }
  ],
  "manifest": "/data/out/_runs/snapshot_date=2026-11-26/20261126T023000Z-ab12.json"
}
"#;

    const INVALID: &str = r#"{
  "status": "invalid",
  "exit_code": 2,
  "error": "job file j.toml: unknown field `concurency`",
  "job": null,
  "run_id": null,
  "snapshot_date": "2026-11-26",
  "shard": "1/4",
  "counts": {
    "units": 0,
    "ok": 0,
    "failed": 0,
    "skipped": 0,
    "records": 0,
    "suppressed": 0,
    "requests": 0,
    "retries": 0,
    "throttled": 0,
    "storage_retries": 0
  },
  "failed_units": [],
  "manifest": null
}
"#;
}
