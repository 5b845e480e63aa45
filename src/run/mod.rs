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
//! * `output` — the run's place in the output (destination, layout, leases, who it is): all
//!   that checkpoint, resume, areas and tables code sees of the run;
//! * `ctx` — what every unit shares besides: the client, fetch slots, breakers, run-fatal cause;
//! * here — the run: setup, concurrency, panics and the order of its ending (areas released,
//!   published files synced, manifest, tables). Its status is computed from its report.

mod areas;
mod breaker;
pub mod checkpoint;
mod checkpointer;
mod ctx;
mod fatal;
mod output;
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
use crate::progress::{Counters, Progress, ProgressMode};
use crate::report::{FailureKind, RunReport, UnitFailure, UnitReport, UnitStatus};
use crate::schema::{CONSTANT_COLUMNS, POSITION_COLUMN, Registry};
use crate::sink;
use crate::sink::layout::Layout;
use crate::sink::parquet::{ColumnHints, WriterOptions};
use chrono::{NaiveDate, Utc};
use ctx::RunCtx;
use futures::StreamExt;
use output::RunOutput;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
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
        source: sink::diagnosis::PreflightError,
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

/// How many units exist at once: `concurrency` fetching, and the publish backlog.
fn units_at_once(concurrency: usize) -> usize {
    concurrency + concurrency.min(PUBLISH_BACKLOG)
}

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
        out: RunOutput {
            dest,
            layout,
            leases,
            job: job.name.to_string(),
            shard: opts.shard.map(|s| s.to_string()),
            snapshot_date: opts.snapshot_date.format("%Y-%m-%d").to_string(),
            run_id,
            checkpoint_rows: job.output.checkpoint_rows.get(),
        },
        client,
        registry,
        skip_published: opts.skip_published,
        areas: areas::Areas::default(),
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
        run_id = %ctx.out.run_id,
        snapshot_date = %ctx.out.snapshot_date,
        shard = opts.shard.map(|s| s.to_string()),
        units = units.len(),
        concurrency,
        requests_per_second = share.rate(),
        destination = %ctx.out.dest.display,
        "Run started at {share}."
    );
    let run_lease = hold_run_lease(&ctx).await?;
    // SPEC §12: wait for a live erase or prune of the output, then read the suppressed set.
    let admitted = crate::lifecycle::lease::admit(
        &ctx.out.leases,
        ctx.out.dest.store.as_ref(),
        &ctx.out.layout,
        &ctx.out.run_id,
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
    ctx.areas.hold_own(&ctx.out).await;
    let renewal = ctx.renew_areas();
    let units = resume::prepare(&ctx.resumer(), units).await;
    let progress = Progress::start(ctx.counters.clone(), opts.progress);
    let reports = run_units(&ctx, units, concurrency).await;
    progress.finish().await;

    // Checkpoints of units not published, and their parts, stay for the next run; whatever
    // else a stopped or failed unit left in staging goes now.
    renewal.stop().await;
    ctx.areas.release(&ctx.out).await;
    let mut report = RunReport {
        job: job.name.to_string(),
        run_id: ctx.out.run_id.clone(),
        snapshot_date: ctx.out.snapshot_date.clone(),
        shard: opts.shard.map(|s| s.to_string()),
        destination: ctx.out.dest.display.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        signal: stop.received(),
        error: ctx.fatal().map(|f| f.to_string()),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        storage_retries: sink::storage_retries() - storage_retries_before,
        units: reports,
        manifest_url: None,
    };
    ctx.out.make_durable(&mut report).await;
    ctx.out.write_manifest(&mut report).await;
    let (date, before) = (opts.snapshot_date, opts.before_tables);
    tables::build(job, &ctx.out, date, before, &mut report, &stop).await;
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
    let out = &ctx.out;
    let path = out
        .layout
        .run_lease(&out.job, &out.snapshot_date, out.shard.as_deref());
    let fresh = sink::lease::Lease::new(
        &out.job,
        &out.snapshot_date,
        out.shard.as_deref(),
        "run",
        &out.run_id,
        Utc::now(),
    );
    let held = out
        .leases
        .take_waiting(
            &path,
            fresh,
            &out.run_id,
            "run",
            sink::exclusive::Wait::up_to(sink::exclusive::WRITER_WAIT),
            &ctx.halt,
        )
        .await
        .map_err(RunError::RunLease)?;
    let kept = out.leases.keep(held, sink::lease::RENEW_EVERY);
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
            ctx.record(fatal::Fatal::Internal { message: msg });
            unit::Ended {
                report: crashed,
                signature: None,
            }
        }
    }
}
