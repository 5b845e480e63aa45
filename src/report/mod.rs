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
mod run;
mod skip;
pub mod summary;
mod unit;

pub use skip::SkipReason;

pub use exit::StopSignal;
pub use run::{RunReport, RunStatus, Totals};
pub use unit::{FailureKind, UnitFailure, UnitReport, UnitStatus};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dataset, Provider};

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
