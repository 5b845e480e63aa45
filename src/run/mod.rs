//! Orchestration: plan the units, check the destination, run units with bounded concurrency,
//! write the manifest. The only module that knows every layer.
//!
//! * `plan` — which units a run has (sharding, snapshot dates, run ids);
//! * `resume` — where each unit starts: page 1, a checkpoint, or not at all (SPEC §10);
//! * `checkpoint`, `checkpointer` — a unit's checkpoint, and writing it as the unit pages;
//! * `areas` — the staging areas the run holds, their leases, and their release;
//! * `unit` — one unit's fetch, write and publish;
//! * `stop` — signals and the grace period;
//! * `breaker` — the run-level and destination breakers (SPEC §3): when to stop early;
//! * `tables` — the reader tables of an unsharded run's date, built at its end;
//! * here — the run: setup, concurrency, panics, run-fatal errors and the manifest. The run's
//!   status is derived from what this gathers in one place, [`RunReport::seal`].

mod areas;
mod breaker;
pub mod checkpoint;
mod checkpointer;
mod fatal;
pub mod plan;
mod resume;
pub mod stop;
mod tables;
#[cfg(test)]
mod tests;
mod unit;
mod unit_staging;

pub use plan::{KeyShare, Shard, ShardError, Unit, new_run_id, plan, today_utc};
pub use stop::{STOP_GRACE, Stop};

use crate::api::client::{Client, ClientConfig};
use crate::error_chain as chain;
use crate::job::Job;
use crate::lifecycle::SuppressedSet;
use crate::progress::{Counters, Progress, ProgressMode};
use crate::report::{FailureKind, RunReport, UnitFailure, UnitReport, UnitStatus};
use crate::schema::{CONSTANT_COLUMNS, POSITION_COLUMN, Registry};
use crate::sink;
use crate::sink::layout::Layout;
use crate::sink::parquet::{ColumnHints, WriterOptions};
use crate::sink::store::Destination;
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Run options from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The snapshot date.
    pub snapshot_date: NaiveDate,
    /// The shard, if any.
    pub shard: Option<Shard>,
    /// Overrides fetch.concurrency.
    pub concurrency: Option<usize>,
    /// Progress display.
    pub progress: ProgressMode,
    /// `--skip-published`: units already published for the date are not fetched again.
    pub skip_published: bool,
    /// Called once before the run builds its reader tables: the binary's process-wide
    /// allocator setting for finalize's large buffers, which the fetch does without.
    pub before_tables: Option<fn()>,
}

/// A run that could not start: nothing was fetched.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The embedded schemas are broken (a build defect).
    #[error("schema registry")]
    Schema(#[from] crate::schema::SchemaError),
    /// The destination cannot be opened.
    #[error("destination")]
    Store(#[from] sink::store::StoreError),
    /// The destination is unreachable or not writable.
    #[error("destination {destination} is not usable (checked before any API request)")]
    Preflight {
        /// The destination.
        destination: String,
        /// Why, naming the bucket or directory.
        #[source]
        source: sink::store::PreflightError,
    },
    /// The HTTP client cannot be built.
    #[error("HTTP client")]
    Client(#[from] crate::api::client::ClientBuildError),
    /// No API key (validated jobs always have one for `run`).
    #[error("no API key")]
    NoKey,
    /// Another run of the same job, date and shard held its lease for the whole wait, or the
    /// lease could not be taken (SPEC §10).
    #[error("this run of the job, snapshot date and shard could not start")]
    RunLease(#[source] sink::exclusive::LeaseError),
    /// An erase or prune of the output held its lifecycle lease for the whole wait, or the
    /// suppressed set could not be read after it (SPEC §12).
    #[error("this run could not start")]
    Lifecycle(#[source] crate::lifecycle::lease::AdmitError),
}

/// Units beyond `concurrency` that may exist at once: fetched, and encoding or publishing without
/// a fetch slot (as many as `concurrency` up to this bound, so a run of one unit at a time has
/// two). Without a bound a slow destination would let every unit of the run fetch ahead.
pub const PUBLISH_BACKLOG: usize = 64;

/// A fetched unit whose rows take at most this much memory, not yet encoded, gives its fetch
/// slot up before it is encoded; a larger one is encoded and its last file put first. So units
/// past the fetch slots hold at most this much each (then a few compressed bytes, then their list
/// of parts), and the backlog adds at most `PUBLISH_BACKLOG` MiB to the run's memory.
pub(crate) const EARLY_RELEASE_BYTES: usize = 1 << 20;

/// How many units exist at once: `concurrency` fetching, and the publish backlog.
fn units_at_once(concurrency: usize) -> usize {
    concurrency + concurrency.min(PUBLISH_BACKLOG)
}

/// What every unit of a run shares.
pub(crate) struct RunCtx {
    client: Arc<Client>,
    dest: Destination,
    layout: Layout,
    registry: Registry,
    run_id: String,
    job: String,
    shard: Option<String>,
    snapshot_date: String,
    checkpoint_rows: u64,
    skip_published: bool,
    /// The staging areas the run holds (SPEC §10).
    areas: areas::Areas,
    /// The destination's leases: exclusive, or advisory where the job opted out.
    leases: sink::exclusive::Leases,
    writer_opts: WriterOptions,
    max_pages: u64,
    counters: Arc<Counters>,
    /// `concurrency` slots: a unit holds one while it fetches (a large unit also while its last
    /// rows are encoded and its last file put), never while it is published, so the next unit
    /// fetches meanwhile.
    fetch_slots: Semaphore,
    /// Cancelled on a signal or a run-fatal error: stop sending, abandon units.
    halt: CancellationToken,
    /// The run-fatal cause, the first one only.
    fatal: Mutex<Option<fatal::Fatal>>,
    /// When to stop early: the API refuses everyone, or the destination is gone.
    breakers: breaker::Breakers,
    /// The hashes of erased keys (SPEC §12): their rows are dropped before they are staged.
    suppressed: SuppressedSet,
}

impl RunCtx {
    /// A unit's staging in `area` (this run's id, or the earlier run's it continues).
    fn staging(&self, unit: &Unit, area: &str) -> unit_staging::UnitStaging {
        let key = crate::sink::layout::PartitionKey {
            dataset: unit.dataset,
            provider: unit.account.provider,
            snapshot_date: &self.snapshot_date,
            account_id: &unit.account.account_id,
        };
        unit_staging::UnitStaging::new(&self.dest, &self.layout, &key, area)
    }

    /// The run as its units' checkpoints record it.
    fn checkpoint_writer(&self) -> checkpointer::Writer<'_> {
        checkpointer::Writer {
            job: &self.job,
            shard: self.shard.as_deref(),
            run_id: &self.run_id,
            every: self.checkpoint_rows,
        }
    }

    /// A run-fatal error: recorded once, and every unit stops.
    fn abort(&self, cause: fatal::Fatal) {
        self.fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(cause);
        self.halt.cancel();
    }

    /// Waits for a fetch slot (first come, first served).
    async fn fetch_slot(&self) -> SemaphorePermit<'_> {
        self.fetch_slots
            .acquire()
            .await
            .expect("the fetch semaphore is never closed")
    }

    fn fatal(&self) -> Option<fatal::Fatal> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why a unit was not run to its end: the run-fatal error, or the signal.
    fn stopped_failure(&self) -> UnitFailure {
        match self.fatal() {
            Some(f) => UnitFailure::new(FailureKind::Aborted, format!("not run to the end: {f}")),
            None => UnitFailure::new(
                FailureKind::Interrupted,
                "not run to the end: the run was interrupted",
            ),
        }
    }
}

/// The sink's codec for the job's `output.compression`.
/// Opens and checks the destination, builds the client: everything before the first request.
async fn setup(
    job: &Job,
    opts: &RunOptions,
    stop: &Stop,
    concurrency: usize,
    units: usize,
) -> Result<RunCtx, RunError> {
    let registry = Registry::load()?;
    let run_id = new_run_id();
    let dest = sink::store::open(&job.output.url)?;
    let layout = Layout::new(&dest.prefix);
    dest.preflight(&layout.preflight_marker(&run_id))
        .await
        .map_err(|source| RunError::Preflight {
            destination: dest.display.clone(),
            source,
        })?;
    let leases = sink::exclusive::Leases::new(&dest, job.output.exclusive_leases);
    leases
        .preflight(&dest, &layout.lease_check_marker(&run_id))
        .await
        .map_err(|source| RunError::Preflight {
            destination: dest.display.clone(),
            source,
        })?;
    // Filled once the run holds its lease and no erase or prune does (`run`), before any unit.
    let suppressed = crate::lifecycle::SuppressedSet::to_be_loaded();
    let halt = stop.token().child_token();
    let api_key = job.api.api_key.clone().ok_or(RunError::NoKey)?;
    let client = Client::try_new(
        ClientConfig {
            base_url: job.api.base_url.clone(),
            api_key,
            timeout: job.api.timeout,
            max_attempts: job.fetch.max_attempts,
            backoff_initial: job.fetch.backoff_initial,
            backoff_max: job.fetch.backoff_max,
            requests_per_second: KeyShare::new(job.fetch.requests_per_second, opts.shard).rate(),
            pool_size: concurrency,
        },
        halt.clone(),
    )?;
    Ok(RunCtx {
        client,
        layout,
        registry,
        snapshot_date: opts.snapshot_date.format("%Y-%m-%d").to_string(),
        run_id,
        job: job.name.to_string(),
        shard: opts.shard.map(|s| s.to_string()),
        checkpoint_rows: job.output.checkpoint_rows.get(),
        skip_published: opts.skip_published,
        areas: areas::Areas::default(),
        leases,
        writer_opts: WriterOptions {
            codec: job.output.compression,
            max_rows_per_file: job.output.max_rows_per_file,
            row_group_rows: job.output.row_group_rows,
            hints: ColumnHints {
                constant: &CONSTANT_COLUMNS,
                counter: Some(POSITION_COLUMN),
            },
        },
        max_pages: job.fetch.max_pages.get(),
        counters: Arc::new(Counters::default()),
        fetch_slots: Semaphore::new(concurrency),
        halt,
        fatal: Mutex::new(None),
        breakers: breaker::Breakers::new(units, breaker::host_port(&job.api.base_url)),
        suppressed,
        dest,
    })
}

/// Runs a job. Returns the report (with its exit code) whenever units were planned; a `RunError`
/// means the run could not start and nothing was sent.
pub async fn run(job: &Job, opts: RunOptions, stop: Stop) -> Result<RunReport, RunError> {
    let started_at = Utc::now();
    let storage_retries_before = sink::storage_retries();
    let units = plan(job, opts.shard);
    let concurrency = opts
        .concurrency
        .unwrap_or(job.fetch.concurrency.get())
        .max(1);
    let ctx = Arc::new(setup(job, &opts, &stop, concurrency, units.len()).await?);
    ctx.counters.units_total.store(units.len() as u64, Relaxed);
    let share = KeyShare::new(job.fetch.requests_per_second, opts.shard);
    info!(
        job = %job.name,
        run_id = %ctx.run_id,
        snapshot_date = %ctx.snapshot_date,
        shard = opts.shard.map(|s| s.to_string()),
        units = units.len(),
        concurrency,
        requests_per_second = share.rate(),
        destination = %ctx.dest.display,
        "Run started at {share}."
    );
    let run_lease = hold_run_lease(&ctx).await?;
    // SPEC §12: wait for a live erase or prune of the output, then read the suppressed set.
    let admitted = crate::lifecycle::lease::admit(
        &ctx.leases,
        ctx.dest.store.as_ref(),
        &ctx.layout,
        &ctx.run_id,
        &ctx.halt,
    )
    .await;
    match admitted {
        Ok(set) => _ = ctx.suppressed.fill(&set),
        Err(e) => {
            if let Err(r) = run_lease.release().await {
                tracing::warn!(error = %chain(&r), "The run's lease could not be released; it goes stale in 90 s.");
            }
            return Err(RunError::Lifecycle(e));
        }
    }
    ctx.areas.hold_own(&ctx).await;
    let renewal = areas::Renewal::start(ctx.clone());
    let units = resume::prepare(&ctx, units).await;
    let progress = Progress::start(ctx.counters.clone(), opts.progress);
    let reports = run_units(&ctx, units, concurrency).await;
    progress.finish().await;

    // Checkpoints of units not published, and their parts, stay for the next run; whatever
    // else a stopped or failed unit left in staging goes now.
    renewal.stop().await;
    ctx.areas.release(&ctx).await;
    let mut report = RunReport {
        job: job.name.to_string(),
        run_id: ctx.run_id.clone(),
        snapshot_date: ctx.snapshot_date.clone(),
        shard: opts.shard.map(|s| s.to_string()),
        destination: ctx.dest.display.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        signal: stop.received(),
        error: ctx.fatal().map(|f| f.to_string()),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        storage_retries: sink::storage_retries() - storage_retries_before,
        units: reports,
        manifest_url: None,
    };
    make_durable(&ctx, &mut report).await;
    write_manifest(&ctx, &mut report).await;
    tables::build(job, &ctx, &opts, &mut report, &stop).await;
    if let Err(e) = run_lease.release().await {
        tracing::warn!(error = %chain(&e), "The run's lease could not be released; it goes stale in 90 s.");
    }
    if let Some(why) = &report.error {
        // The run's last ERROR line: what went wrong for every unit, and what to check.
        error!(error = %why, "Run failed.");
    }
    Ok(report)
}

/// Takes the lease of the run's job, snapshot date and shard (SPEC §10), waiting up to
/// [`sink::exclusive::WRITER_WAIT`] while another run holds it, and keeps it renewed for the run's life. A
/// lease lost to another process (this one looked stale) stops the run.
async fn hold_run_lease(ctx: &Arc<RunCtx>) -> Result<sink::exclusive::Kept, RunError> {
    let path = ctx
        .layout
        .run_lease(&ctx.job, &ctx.snapshot_date, ctx.shard.as_deref());
    let fresh = sink::lease::Lease::new(
        &ctx.job,
        &ctx.snapshot_date,
        ctx.shard.as_deref(),
        "run",
        &ctx.run_id,
        Utc::now(),
    );
    let held = ctx
        .leases
        .take_waiting(
            &path,
            fresh,
            &ctx.run_id,
            "run",
            sink::exclusive::Wait::up_to(sink::exclusive::WRITER_WAIT),
            &ctx.halt,
        )
        .await
        .map_err(RunError::RunLease)?;
    let kept = ctx.leases.keep(held, sink::lease::RENEW_EVERY);
    let lost = kept.lost();
    let watcher = ctx.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = lost.cancelled() => watcher.abort(fatal::Fatal::LeaseLost {
                what: "another run took this run's lease of its job, date and shard over".to_owned(),
            }),
            () = watcher.halt.cancelled() => {}
        }
    });
    Ok(kept)
}

/// Runs every unit in the order given, at most `concurrency` fetching at once (the run's fetch
/// slots) and a publish backlog beside them, and returns their reports in plan order (each unit
/// comes with its index in the plan).
async fn run_units(
    ctx: &Arc<RunCtx>,
    units: Vec<(usize, Unit, resume::Start)>,
    concurrency: usize,
) -> Vec<UnitReport> {
    // Unordered, so one slow unit never holds a slot; the reports are put back in plan order.
    // Units start in plan order and take fetch slots in the order they asked for them.
    let mut indexed: Vec<(usize, UnitReport)> =
        futures::stream::iter(units.into_iter().map(|(i, u, start)| {
            let ctx = ctx.clone();
            async move { (i, spawn_unit(ctx, u, start).await) }
        }))
        .buffer_unordered(units_at_once(concurrency))
        .collect()
        .await;
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

/// Runs a unit once the breakers admit it, and tells them how it ended; a trip stops the run.
async fn spawn_unit(ctx: Arc<RunCtx>, unit: Unit, start: resume::Start) -> UnitReport {
    // Until the API has answered with a page, only the first few units go (SPEC §3); a unit
    // refused here finds the run halted and reports itself skipped. Units that send no request
    // (already published, a publish to finish) pass by: they would hold a probe's place and tell
    // nothing about the API; a unit waiting for a live lease asks once it knows (`unit`).
    let gated = start.gated();
    if gated {
        ctx.breakers.admit(&ctx.halt).await;
    }
    let unit::Ended { report, signature } = run_spawned(&ctx, unit, start).await;
    if (gated || report.attempts > 0)
        && let Some(trip) = ctx.breakers.unit_ended(&report, signature)
    {
        ctx.abort(fatal::Fatal::Breaker(trip));
    }
    report
}

/// Runs a unit as a task of its own, so decoding and encoding use every worker thread. A panic
/// is a bug: the unit publishes nothing and the run says so (exit 1), but the other units and
/// the manifest still happen.
async fn run_spawned(ctx: &Arc<RunCtx>, unit: Unit, start: resume::Start) -> unit::Ended {
    let mut crashed = UnitReport::new(
        &unit.account.account_id,
        unit.dataset,
        unit.account.provider,
    );
    let task = tokio::spawn({
        let ctx = ctx.clone();
        async move { unit::run_unit(&ctx, &unit, start).await }
    });
    match task.await {
        Ok(ended) => ended,
        Err(e) => {
            let msg = format!(
                "internal error in unit {} {}: {e}",
                crashed.account_id, crashed.dataset
            );
            error!(error = %msg, "Unit crashed; nothing published.");
            crashed.status = UnitStatus::Failed;
            crashed.error = Some(UnitFailure::new(FailureKind::Internal, msg.clone()));
            ctx.fatal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(fatal::Fatal::Internal { message: msg });
            unit::Ended {
                report: crashed,
                signature: None,
            }
        }
    }
}

/// On a local disk, syncs what the run published before its manifest names it (SPEC §4); a
/// sync that fails fails the run.
async fn make_durable(ctx: &RunCtx, report: &mut RunReport) {
    let dirs: Vec<_> = crate::model::Dataset::ALL
        .into_iter()
        .flat_map(|d| {
            crate::model::Provider::ALL
                .into_iter()
                .map(move |p| ctx.layout.published_date(d, p, &ctx.snapshot_date))
        })
        .collect();
    if let Err(e) = sink::staging::make_published_durable(&ctx.dest, &dirs).await {
        error!(error = %chain(&e), "The published files could not be synced to disk.");
        report
            .error
            .get_or_insert(format!("published files not synced to disk: {}", chain(&e)));
    }
}

/// Writes the manifest; a run whose manifest is lost has failed (unless it was interrupted).
async fn write_manifest(ctx: &RunCtx, report: &mut RunReport) {
    let manifest = ctx.layout.manifest(&ctx.snapshot_date, &ctx.run_id);
    match sink::put_object(ctx.dest.store.as_ref(), &manifest, report.to_json()).await {
        Ok(()) => {
            info!(manifest = %manifest, status = ?report.status(), "Run finished.");
            report.manifest_url = Some(ctx.dest.url_of(&manifest));
        }
        Err(e) => {
            error!(error = %chain(&e), "The run manifest could not be written.");
            report
                .error
                .get_or_insert(format!("manifest not written: {}", chain(&e)));
        }
    }
}
