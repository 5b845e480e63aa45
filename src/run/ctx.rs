//! What every unit of a run shares: the run's place in the output, the API client, the fetch
//! slots, the breakers, the staging areas it holds, and its run-fatal cause. Built by the run
//! (`run::setup`), read by `unit`; checkpoint, resume, areas and tables code gets the narrower
//! [`RunOutput`] or a [`Resumer`] instead.

use super::areas::{Areas, Renewal};
use super::breaker::Breakers;
use super::fatal::Fatal;
use super::output::RunOutput;
use super::resume::Resumer;
use crate::api::client::Client;
use crate::lifecycle::SuppressedSet;
use crate::progress::Counters;
use crate::report::{FailureKind, UnitFailure};
use crate::schema::Registry;
use crate::sink::parquet::WriterOptions;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

/// What every unit of a run shares.
pub(crate) struct RunCtx {
    /// Where the run writes, and as whom.
    pub(super) out: RunOutput,
    pub(super) client: Arc<Client>,
    pub(super) registry: Registry,
    /// `--skip-published`: units already published for the date are not fetched again.
    pub(super) skip_published: bool,
    /// The staging areas the run holds (SPEC §10).
    pub(super) areas: Areas,
    pub(super) writer_opts: WriterOptions,
    pub(super) max_pages: u64,
    pub(super) counters: Arc<Counters>,
    /// `concurrency` slots: a unit holds one while it fetches (a large unit also while its last
    /// rows are encoded and its last file put), never while it is published, so the next unit
    /// fetches meanwhile.
    pub(super) fetch_slots: Semaphore,
    /// Cancelled on a signal or a run-fatal error: stop sending, abandon units.
    pub(super) halt: CancellationToken,
    /// The run-fatal cause, the first one only.
    pub(super) fatal: Mutex<Option<Fatal>>,
    /// When to stop early: the API refuses everyone, or the destination is gone.
    pub(super) breakers: Breakers,
    /// The hashes of erased keys (SPEC §12): their rows are dropped before they are staged.
    pub(super) suppressed: SuppressedSet,
}

impl RunCtx {
    /// What deciding and settling a unit's start needs.
    pub(super) fn resumer(&self) -> Resumer<'_> {
        Resumer {
            out: &self.out,
            areas: &self.areas,
            halt: &self.halt,
            skip_published: self.skip_published,
        }
    }

    /// A run-fatal error: recorded once, and every unit stops.
    pub(super) fn abort(&self, cause: Fatal) {
        self.record(cause);
        self.halt.cancel();
    }

    /// Records a run-fatal cause (the first one only) without stopping the other units.
    pub(super) fn record(&self, cause: Fatal) {
        self.fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(cause);
    }

    /// Waits for a fetch slot (first come, first served).
    pub(super) async fn fetch_slot(&self) -> SemaphorePermit<'_> {
        self.fetch_slots
            .acquire()
            .await
            .expect("the fetch semaphore is never closed")
    }

    /// The run-fatal cause, if any.
    pub(super) fn fatal(&self) -> Option<Fatal> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why a unit was not run to its end: the run-fatal error, or the signal.
    pub(super) fn stopped_failure(&self) -> UnitFailure {
        match self.fatal() {
            Some(f) => UnitFailure::new(FailureKind::Aborted, format!("not run to the end: {f}")),
            None => UnitFailure::new(
                FailureKind::Interrupted,
                "not run to the end: the run was interrupted",
            ),
        }
    }

    /// Renews the staging areas' leases every [`crate::sink::lease::RENEW_EVERY`] while the run
    /// lasts; an area taken over by another process stops the run.
    pub(super) fn renew_areas(self: &Arc<Self>) -> Renewal {
        let ctx = self.clone();
        Renewal::start(move || {
            let ctx = ctx.clone();
            Box::pin(async move {
                if let Some(lost) = ctx.areas.renew(&ctx.out).await {
                    ctx.abort(lost);
                }
            })
        })
    }
}
