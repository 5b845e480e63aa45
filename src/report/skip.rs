//! Why a unit was skipped (`reason` in the manifest): what a finalize step needs to tell
//! "already published" from "interrupted" (SPEC §10).

use serde::Serialize;

/// Why a unit was skipped: what a finalize step needs to tell "already published" from
/// "interrupted"; serialised as the manifest's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// `--skip-published`: a run of the job published it for that date already. Not a failure.
    AlreadyPublished,
    /// The run was stopped by a signal before the unit was published.
    Interrupted,
    /// The run stopped on a run-fatal error before the unit was published.
    Aborted,
    /// Its checkpoint belongs to a run that is still alive (a live lease), which is left to
    /// finish it (SPEC §10).
    HeldByLiveRun,
}

impl SkipReason {
    /// The manifest's string.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyPublished => "already_published",
            SkipReason::Interrupted => "interrupted",
            SkipReason::Aborted => "aborted",
            SkipReason::HeldByLiveRun => "held_by_live_run",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::UnitStatus;
    use super::super::tests::report;
    use super::*;

    /// A unit skipped as already published leaves the run ok (exit 0); one left to a live run
    /// makes it partial (exit 3); the manifest says why each was skipped.
    #[test]
    fn skip_reasons() {
        let mut r = report(&[UnitStatus::Ok, UnitStatus::Skipped]);
        r.units[1].reason = Some(SkipReason::AlreadyPublished);
        assert_eq!((r.exit_code(), r.totals().skipped), (0, 1));
        let j: serde_json::Value = serde_json::from_slice(&r.to_json()).expect("JSON");
        assert_eq!(j["units"][1]["reason"], "already_published");
        assert!(j["units"][0].get("reason").is_none());
        r.units[1].reason = Some(SkipReason::HeldByLiveRun);
        assert_eq!(r.exit_code(), 3);
    }
}
