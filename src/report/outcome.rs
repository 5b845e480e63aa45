//! How a `run` command ended, as the summary and metrics files see it: a run that ran (its sealed
//! [`RunReport`]), or one that never got that far, with what was known of it by then.
//!
//! This module only describes outcomes; it must not know how they are formatted or written.

use super::exit::Exit;
use super::exit::StopSignal;
use super::run::RunReport;
use chrono::{DateTime, Utc};

/// What the command knew of the run before it had a report: filled in as the command line and
/// the job file are read, so a run that stops early still says what it was.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The job's name, once the job file is loaded.
    pub job: Option<String>,
    /// `YYYY-MM-DD`, once `--snapshot-date` is parsed (or defaulted).
    pub snapshot_date: Option<String>,
    /// `I/N`, once `--shard` is parsed.
    pub shard: Option<String>,
    /// When the command started.
    pub started_at: DateTime<Utc>,
}

impl RunFacts {
    /// Nothing known yet; the command started at `started_at`.
    pub fn new(started_at: DateTime<Utc>) -> RunFacts {
        RunFacts {
            job: None,
            snapshot_date: None,
            shard: None,
            started_at,
        }
    }
}

/// How a `run` command ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The run ran: its report is sealed, its manifest written (or its `error` says why not).
    Ran(&'a RunReport),
    /// A job-file or usage error: nothing was done (exit 2).
    Invalid {
        /// The message printed on stderr.
        error: &'a str,
    },
    /// The run could not start (destination unusable, no runtime): nothing was fetched (exit 1).
    NotStarted {
        /// The message printed on stderr.
        error: &'a str,
    },
    /// Stopped by a second signal, or by the grace period running out, before the run's report
    /// was complete: its counts and manifest are unknown here.
    Abandoned {
        /// The first signal received.
        signal: StopSignal,
    },
}

impl Outcome<'_> {
    /// How the command ended (SPEC §5).
    pub fn exit(&self) -> Exit {
        match self {
            Outcome::Ran(r) => r.exit(),
            Outcome::Invalid { .. } => Exit::Usage,
            Outcome::NotStarted { .. } => Exit::Fatal,
            Outcome::Abandoned { signal } => Exit::Signal(*signal),
        }
    }

    /// The process exit code of this outcome.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.exit().code())
    }
}

/// Reports for the summary and metrics tests.
#[cfg(test)]
pub(super) mod fixtures {
    use super::super::{FailureKind, RunReport, UnitFailure, UnitReport};
    use super::super::{UnitStatus, UnitStatus::*};
    use crate::model::{Dataset, Provider};

    fn unit(
        account: &str,
        dataset: Dataset,
        provider: Provider,
        status: UnitStatus,
        figures: [u64; 6],
    ) -> UnitReport {
        let mut u = UnitReport::new(account, dataset, provider);
        u.status = status;
        [
            u.records,
            u.attempts,
            u.retries,
            u.throttles,
            u.bytes,
            u.output_bytes,
        ] = figures;
        u
    }

    /// A sealed run of shard 1/4: acc_a's followers ok, its following failed with a 403,
    /// acc_b's followers not run to the end (the run was stopping), its following ok.
    pub fn partial() -> RunReport {
        let mut failed = unit(
            "acc_a",
            Dataset::Following,
            Provider::Linkedin,
            Failed,
            [0, 1, 0, 0, 0, 0],
        );
        let mut f = UnitFailure::new(FailureKind::Api, "page 0: HTTP 403");
        f.status = Some(403);
        f.error_type = Some("errors/account_restricted".into());
        failed.error = Some(f);
        let mut stopped = unit(
            "acc_b",
            Dataset::Followers,
            Provider::Instagram,
            Skipped,
            [0, 2, 1, 0, 300, 0],
        );
        stopped.error = Some(UnitFailure::new(
            FailureKind::Interrupted,
            "not run to the end",
        ));
        RunReport {
            job: "daily".into(),
            run_id: "20261126T023000Z-ab12".into(),
            snapshot_date: "2026-11-26".into(),
            shard: Some("1/4".into()),
            destination: "/data/out".into(),
            started_at: "2026-11-26T02:30:00.000Z".into(),
            finished_at: "2026-11-26T02:31:02.500Z".into(),
            signal: None,
            error: None,
            storage_retries: 0,
            tool_version: "0".into(),
            units: vec![
                unit(
                    "acc_a",
                    Dataset::Followers,
                    Provider::Linkedin,
                    Ok,
                    [250, 4, 1, 1, 1000, 500],
                ),
                failed,
                stopped,
                unit(
                    "acc_b",
                    Dataset::Following,
                    Provider::Instagram,
                    Ok,
                    [7, 1, 0, 0, 70, 40],
                ),
            ],
            manifest_url: Some(
                "/data/out/_runs/snapshot_date=2026-11-26/20261126T023000Z-ab12.json".into(),
            ),
        }
    }

    /// An unsharded run whose two units were both published.
    pub fn ok() -> RunReport {
        let mut r = partial();
        r.shard = None;
        r.units.retain(|u| u.status == Ok);
        r
    }
}
