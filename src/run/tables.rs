//! A run's own reader tables: a run without `--shard` builds its date's tables at its end
//! (SPEC §9, `output.tables`, default true), once its manifest is written, since finalize reads
//! it. Sharded runs leave it to a `finalize` step after every shard.
//!
//! A failure here does not unpublish anything: the units stay published, and the run exits 1
//! with its manifest rewritten to say the tables were not built.

use super::output::RunOutput;
use super::stop::Stop;
use crate::error_chain as chain;
use crate::finalize::{self, FinalizeOptions};
use crate::job::Job;
use crate::report::{RunReport, RunStatus};
use chrono::NaiveDate;
use tracing::{error, info, warn};

/// Builds the reader tables of the run's date when the run should; `before` is called first
/// (the binary's allocator setting, `RunOptions::before_tables`).
pub(super) async fn build(
    job: &Job,
    out: &RunOutput,
    date: NaiveDate,
    before: Option<fn()>,
    report: &mut RunReport,
    stop: &Stop,
) {
    let published = matches!(report.status(), RunStatus::Ok | RunStatus::Partial);
    if !job.output.tables || report.shard.is_some() || !published {
        return;
    }
    if let Some(hook) = before {
        hook();
    }
    let opts = FinalizeOptions {
        from: date,
        to: date,
        run_id: out.run_id.clone(),
        staging_area: format!("{}-tables", out.run_id),
    };
    info!(snapshot_date = %out.snapshot_date, "Building the reader tables.");
    match finalize::finalize(job, &out.dest, &opts, stop.token()).await {
        Ok(r) => match r.dates.first() {
            Some(d) => {
                info!(manifest = %d.manifest, gained = d.totals.gained, lost = d.totals.lost, "Reader tables published.")
            }
            // Every unit failed: the run already exits 3 and says why.
            None => warn!("No reader tables: no unit of this date is published."),
        },
        Err(e) => {
            if e.is_interrupted() {
                report.signal = stop.received();
            } else {
                error!(error = %chain(&e), "The reader tables were not built; the units are published.");
                report.error = Some(format!(
                    "the units are published, but the reader tables of {} were not built: {}",
                    out.snapshot_date,
                    chain(&e)
                ));
            }
            out.write_manifest(report).await;
        }
    }
}
