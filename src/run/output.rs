//! Where a run writes and as whom: the destination with its layout and leases, and the run's
//! identity (job, date, shard, run id). What checkpoint, resume, areas and tables code needs,
//! and the two writes that end a run (syncing what it published, then its manifest).
//!
//! Knows the destination and the layout; knows nothing about the API, the fetch slots or the
//! breakers.

use super::checkpointer;
use super::plan::Unit;
use super::unit_staging::UnitStaging;
use crate::error_chain as chain;
use crate::model::{Dataset, Provider};
use crate::report::RunReport;
use crate::sink;
use crate::sink::exclusive::Leases;
use crate::sink::layout::{Layout, PartitionKey};
use crate::sink::store::Destination;
use tracing::{error, info};

/// The run's place in the output.
pub(crate) struct RunOutput {
    pub(crate) dest: Destination,
    pub(crate) layout: Layout,
    /// The destination's leases: exclusive, or advisory where the job opted out.
    pub(crate) leases: Leases,
    pub(crate) job: String,
    pub(crate) shard: Option<String>,
    pub(crate) snapshot_date: String,
    pub(crate) run_id: String,
    /// Rows between two checkpoints of a unit (`output.checkpoint_rows`).
    pub(crate) checkpoint_rows: u64,
}

impl RunOutput {
    /// A unit's staging in `area` (this run's id, or the earlier run's it continues).
    pub(crate) fn staging(&self, unit: &Unit, area: &str) -> UnitStaging {
        let key = PartitionKey {
            dataset: unit.dataset,
            provider: unit.account.provider,
            snapshot_date: &self.snapshot_date,
            account_id: &unit.account.account_id,
        };
        UnitStaging::new(&self.dest, &self.layout, &key, area)
    }

    /// The run as its units' checkpoints record it.
    pub(crate) fn checkpoint_writer(&self) -> checkpointer::Writer<'_> {
        checkpointer::Writer {
            job: &self.job,
            shard: self.shard.as_deref(),
            run_id: &self.run_id,
            every: self.checkpoint_rows,
        }
    }

    /// On a local disk, syncs what the run published before its manifest names it (SPEC §4); a
    /// sync that fails fails the run.
    pub(crate) async fn make_durable(&self, report: &mut RunReport) {
        let dirs: Vec<_> = Dataset::ALL
            .into_iter()
            .flat_map(|d| {
                Provider::ALL
                    .into_iter()
                    .map(move |p| self.layout.published_date(d, p, &self.snapshot_date))
            })
            .collect();
        if let Err(e) = sink::staging::make_published_durable(&self.dest, &dirs).await {
            error!(error = %chain(&e), "The published files could not be synced to disk.");
            report
                .error
                .get_or_insert(format!("published files not synced to disk: {}", chain(&e)));
        }
    }

    /// Writes the manifest; a run whose manifest is lost has failed (unless it was interrupted).
    pub(crate) async fn write_manifest(&self, report: &mut RunReport) {
        let manifest = self.layout.manifest(&self.snapshot_date, &self.run_id);
        match sink::put_object(self.dest.store.as_ref(), &manifest, report.to_json()).await {
            Ok(()) => {
                info!(manifest = %manifest, status = ?report.status(), "Run finished.");
                report.manifest_url = Some(self.dest.url_of(&manifest));
            }
            Err(e) => {
                error!(error = %chain(&e), "The run manifest could not be written.");
                report
                    .error
                    .get_or_insert(format!("manifest not written: {}", chain(&e)));
            }
        }
    }
}
