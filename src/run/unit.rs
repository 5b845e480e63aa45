//! One unit's lifecycle: fetch its pages (from page 1, or from an earlier run's checkpoint),
//! decode them, write them into staged Parquet parts with a checkpoint every `checkpoint_rows`
//! rows, publish them, and say how it went in a [`UnitReport`]. This is where a unit is fetched.

use super::breaker::Signature;
use super::checkpoint::Checkpoint;
use super::checkpointer::{self, Checkpointer};
use super::ctx::RunCtx;
use super::plan::Unit;
use super::resume::{self, Start, Waited};
use super::unit_staging::UnitStaging;
use crate::api::client::{FetchStats, PageError, ParseFailure, UnitRequest};
use crate::api::error::ApiError;
use crate::api::paginate::Paginator;
use crate::error_chain as chain;
use crate::report::{FailureKind, SkipReason, UnitFailure, UnitReport, UnitStatus};
use crate::schema::decode::{DecodeFailure, DecodedPage, PageDecoder, merge_unknown};
use crate::sink::parquet::{FileIdentity, PartWriter, StagedPart};
use crate::sink::publish;
use chrono::Utc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use tokio::sync::SemaphorePermit;
use tracing::{Instrument, error, info, info_span, warn};

/// A fetched unit whose rows take at most this much memory, not yet encoded, gives its fetch
/// slot up before it is encoded; a larger one is encoded and its last file put first. So units
/// past the fetch slots hold at most this much each (then a few compressed bytes, then their list
/// of parts), and the backlog adds at most `run::PUBLISH_BACKLOG` MiB to the run's memory.
pub(crate) const EARLY_RELEASE_BYTES: usize = 1 << 20;

mod error;
pub(super) use error::UnitError;

/// How a unit ended: its report, and the signature of its API failure (what the run-level
/// breaker compares), taken from the typed error before it became the report's words.
pub(super) struct Ended {
    pub(super) report: UnitReport,
    pub(super) signature: Option<Signature>,
}

/// Runs one unit to its end and reports it; never fails, a failure is in the report.
pub(super) async fn run_unit(ctx: &RunCtx, unit: &Unit, start: Start) -> Ended {
    let a = &unit.account;
    let span = info_span!("unit", account_id = %a.account_id, dataset = %unit.dataset, provider = %a.provider);
    async {
        let started = Instant::now();
        let mut report = UnitReport::new(&a.account_id, unit.dataset, a.provider);
        let ended = |report| Ended {
            report: finish(ctx, report, started),
            signature: None,
        };
        if ctx.halt.is_cancelled() {
            stopped(ctx, &mut report);
            return ended(report);
        }
        let Some(start) = settle(ctx, unit, start, &mut report).await else {
            return ended(report);
        };
        let mut stats = FetchStats::default();
        // A fetch slot for the fetch, given up before the publish (see `publish_unit`).
        let slot = ctx.fetch_slot().await;
        let outcome = fetch_and_publish(ctx, unit, start, slot, &mut stats, &mut report).await;
        report.attempts = stats.attempts;
        report.retries = stats.retries;
        report.throttles = stats.throttles;
        report.faults = stats.faults;
        report.bytes = stats.bytes;
        let mut signature = None;
        match outcome {
            Ok(()) => {
                report.status = UnitStatus::Ok;
                info!(records = report.records, pages = report.pages, files = report.files.len(), "Unit published.");
            }
            Err(e) if e.is_cancelled() || ctx.halt.is_cancelled() => {
                stopped(ctx, &mut report);
                info!("Unit abandoned unpublished: the run is stopping (its last checkpoint stays for the next run).");
            }
            Err(e) => {
                let f = e.to_failure();
                if e.is_key_rejected() {
                    error!(error = %chain(&e), "The API key was rejected; stopping the run.");
                    ctx.abort(super::fatal::Fatal::KeyRejected { error_type: f.label().to_owned() });
                }
                error!(error = %f.message, error_type = f.error_type.as_deref(), "Unit failed; nothing published.");
                report.status = UnitStatus::Failed;
                report.error = Some(f);
                signature = e.signature();
            }
        }
        Ended {
            report: finish(ctx, report, started),
            signature,
        }
    }
    .instrument(span)
    .await
}

/// A unit not run to its end because the run stops: skipped, saying why.
fn stopped(ctx: &RunCtx, report: &mut UnitReport) {
    let f = ctx.stopped_failure();
    report.status = UnitStatus::Skipped;
    report.reason = Some(match f.kind {
        FailureKind::Interrupted => SkipReason::Interrupted,
        _ => SkipReason::Aborted,
    });
    report.error = Some(f);
}

/// The start a unit really has: `None` (and the report says why) when it is not fetched at all:
/// published already, left to a live run, or the run stopped while it waited.
async fn settle(ctx: &RunCtx, unit: &Unit, start: Start, report: &mut UnitReport) -> Option<Start> {
    let start = match start {
        Start::Deferred(f) => match resume::settle(&ctx.resumer(), unit, *f).await {
            // Now that it will ask the API, it waits at the breakers' gate like the others.
            Ok(s) if s.gated() && !ctx.breakers.admit(&ctx.halt).await => {
                stopped(ctx, report);
                return None;
            }
            Ok(s) => s,
            Err(Waited::StillLive(lease)) => {
                let why = format!(
                    "not run: its checkpoint is held by a live run ({}); left to it, not fetched twice",
                    lease.describe()
                );
                warn!(holder = %lease.describe(), waited_s = resume::LEASE_WAIT.as_secs(),
                    "The unit's checkpoint is still held by a live run; the unit is left to it, not fetched twice.");
                report.reason = Some(SkipReason::HeldByLiveRun);
                report.error = Some(UnitFailure::new(FailureKind::HeldByLiveRun, why));
                return None;
            }
            Err(_) => {
                stopped(ctx, report);
                return None;
            }
        },
        s => s,
    };
    if let Start::Published = start {
        report.reason = Some(SkipReason::AlreadyPublished);
        info!("Unit skipped: already published for this date (--skip-published).");
        return None;
    }
    Some(start)
}

fn finish(ctx: &RunCtx, mut report: UnitReport, started: Instant) -> UnitReport {
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Release: progress reads units done first, then finds this unit's records counted.
    ctx.counters
        .units_done
        .fetch_add(1, std::sync::atomic::Ordering::Release);
    if report.status == UnitStatus::Failed {
        ctx.counters.units_failed.fetch_add(1, Relaxed);
    }
    report
}

/// Footer metadata naming what a file holds.
fn identity(ctx: &RunCtx, unit: &Unit) -> FileIdentity {
    let a = &unit.account;
    FileIdentity {
        pairs: vec![
            ("dataset".into(), unit.dataset.to_string()),
            ("provider".into(), a.provider.to_string()),
            ("account_id".into(), a.account_id.clone()),
            ("snapshot_date".into(), ctx.out.snapshot_date.clone()),
            ("run_id".into(), ctx.out.run_id.clone()),
            (
                "postpress_etl_version".into(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ],
    }
}

/// Where a unit's rows go while it pages: its part writer, its checkpoints, the list position
/// of its next row.
struct UnitSink {
    writer: PartWriter,
    checkpoints: Checkpointer,
    /// Where the writer stages: the run's area, or the resumed checkpoint's.
    staging: UnitStaging,
    position: i64,
}

/// Where a unit's fetch begins, decided once from its start: only the states that reach the
/// fetch, each checked against its staging (a checkpoint whose parts are gone starts again).
enum Begin {
    /// From page 1, staging into the run's own area.
    Fresh,
    /// From a checkpoint whose parts are all staged, in its area.
    Resume {
        cp: Checkpoint,
        staging: UnitStaging,
        staged: Vec<StagedPart>,
    },
    /// An earlier run fetched every page and its publish was cut short: finish it, no request.
    Finish {
        cp: Checkpoint,
        staging: UnitStaging,
    },
}

/// The unit's begin from its settled start: a checkpoint is resumed only when every part it
/// names is staged, a publish finished only when every part is staged or published; otherwise
/// its staging is discarded and the unit begins at page 1.
async fn begin(ctx: &RunCtx, unit: &Unit, start: Start) -> Begin {
    match start {
        Start::Finish(f) => {
            let staging = ctx.out.staging(unit, &f.cp.area);
            if staging.publishable(&f.cp).await {
                return Begin::Finish { cp: f.cp, staging };
            }
            warn!(checkpoint_of = %f.cp.run_id, "Parts the complete checkpoint names are missing: fetching the unit from page 1.");
            staging.discard().await;
            Begin::Fresh
        }
        Start::Resume(f) => {
            let staging = ctx.out.staging(unit, &f.cp.area);
            let staged = staging.staged(&f.cp);
            if staging.parts_present(&staged).await {
                return Begin::Resume {
                    cp: f.cp,
                    staging,
                    staged,
                };
            }
            warn!(checkpoint_of = %f.cp.run_id, "Parts the checkpoint names are missing from staging: restarting the unit from page 1.");
            staging.discard().await;
            Begin::Fresh
        }
        Start::Fresh | Start::Published | Start::Deferred(_) => Begin::Fresh,
    }
}

/// Fetches the unit holding `slot`, one of the run's fetch slots, which `publish_unit` gives up
/// before the unit is published: the next unit fetches meanwhile.
async fn fetch_and_publish(
    ctx: &RunCtx,
    unit: &Unit,
    start: Start,
    slot: SemaphorePermit<'_>,
    stats: &mut FetchStats,
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    let mut begin = begin(ctx, unit, start).await;
    if let Begin::Finish { cp, staging } = begin {
        return finish_publish(ctx, &staging, cp, report).await;
    }
    let a = &unit.account;
    let decoder = PageDecoder::new(
        ctx.registry.variant(unit.dataset, a.provider),
        &a.account_id,
        &ctx.out.run_id,
    )
    .with_suppressed(ctx.suppressed.clone());
    loop {
        let (mut sink, mut pager) = open_sink(ctx, unit, &decoder, &begin, report)?;
        let fetched = fetch_pages(ctx, unit, &decoder, &mut sink, &mut pager, stats, report).await;
        match fetched {
            Ok(()) => return publish_unit(ctx, sink, pager.pages(), slot, report).await,
            Err(e)
                if matches!(begin, Begin::Resume { .. })
                    && report.pages == 0
                    && e.is_refused_cursor() =>
            {
                warn!(error = %chain(&e), discarded_rows = report.records,
                    "The API refused the checkpoint's cursor: restarting the unit from page 1 and discarding its staged parts.");
                sink.writer.abort().await;
                sink.staging.discard().await;
                report.resumed_from = None;
                report.pages_skipped = None;
                report.records = 0;
                report.suppressed = 0;
                begin = Begin::Fresh;
            }
            Err(e) => {
                let keep = sink.checkpoints.kept();
                sink.writer.abandon(keep).await;
                return Err(e);
            }
        }
    }
}

/// The unit's writer, checkpoints and cursor: from page 1 in the run's area, or from a
/// checkpoint whose parts are staged, in its area.
fn open_sink(
    ctx: &RunCtx,
    unit: &Unit,
    decoder: &PageDecoder,
    begin: &Begin,
    report: &mut UnitReport,
) -> Result<(UnitSink, Paginator), UnitError> {
    let staging = match begin {
        Begin::Resume { staging, .. } | Begin::Finish { staging, .. } => staging.clone(),
        Begin::Fresh => ctx.out.staging(unit, &ctx.out.run_id),
    };
    let writer = PartWriter::try_new(
        staging.store().clone(),
        staging.layout().clone(),
        staging.area(),
        &staging.key(),
        decoder.schema(),
        ctx.writer_opts,
        &identity(ctx, unit),
    )?;
    let by = ctx.out.checkpoint_writer();
    let Begin::Resume { cp, staged, .. } = begin else {
        let sink = UnitSink {
            writer,
            checkpoints: Checkpointer::fresh(&by, staging.clone()),
            staging,
            position: 0,
        };
        return Ok((sink, Paginator::new(ctx.max_pages)));
    };
    let cursor = cp.cursor.clone().unwrap_or_default();
    info!(checkpoint_of = %cp.run_id, rows = cp.rows, pages_skipped = cp.pages, "Resuming the unit from its checkpoint.");
    report.resumed_from = Some(cp.run_id.clone());
    report.pages_skipped = Some(cp.pages);
    report.records = cp.rows;
    report.suppressed = cp.suppressed;
    let sink = UnitSink {
        writer: writer.with_staged(staged.clone()),
        checkpoints: Checkpointer::resumed(&by, staging.clone(), cp.clone()),
        staging,
        position: i64::try_from(cp.position).unwrap_or(i64::MAX),
    };
    Ok((sink, Paginator::resume(ctx.max_pages, cursor, cp.pages)))
}

/// Closes the last part and publishes the unit; a unit that checkpointed is marked complete
/// first, and its checkpoint goes once it is published.
/// The fetch slot goes before the last part is encoded for a small unit (its rows all in
/// memory), which is then encoded on the encode pool; a larger one is encoded on its worker,
/// holding its slot, so encoding that falls behind slows the fetching down instead of piling up
/// rows. Either way the next unit fetches while this one publishes.
async fn publish_unit(
    ctx: &RunCtx,
    sink: UnitSink,
    pages: u64,
    slot: SemaphorePermit<'_>,
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    let UnitSink {
        writer,
        mut checkpoints,
        staging,
        ..
    } = sink;
    let small = writer
        .unencoded_bytes()
        .is_some_and(|b| b <= EARLY_RELEASE_BYTES);
    let staged = if small {
        drop(slot);
        writer.finish_on_encode_pool().await?
    } else {
        let staged = writer.finish().await?;
        drop(slot);
        staged
    };
    // A stop that arrived while the last page was written: abandon, do not publish.
    if ctx.halt.is_cancelled() {
        return Err(UnitError::Page {
            page: report.pages,
            source: PageError::Api(ApiError::Cancelled),
        });
    }
    checkpoints.complete(&staged, pages).await;
    publish_staged(ctx, &staging, &staged, report).await?;
    checkpoints.remove().await;
    Ok(())
}

/// Moves a unit's staged parts into its partition and records what was published.
async fn publish_staged(
    ctx: &RunCtx,
    staging: &UnitStaging,
    staged: &[StagedPart],
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    let store = staging.store().as_ref();
    let how = ctx.out.dest.part_move();
    let key = staging.key();
    let published = publish::publish(store, staging.layout(), &key, staged, how, &ctx.halt).await?;
    report.output_bytes = staged.iter().map(|p| p.bytes).sum();
    report.files = published.files;
    report.stale_files_removed = published.removed;
    Ok(())
}

/// Finishes the publish of a unit an earlier run fetched completely (its checkpoint is
/// `complete`): no request is sent.
async fn finish_publish(
    ctx: &RunCtx,
    staging: &UnitStaging,
    cp: Checkpoint,
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    info!(checkpoint_of = %cp.run_id, rows = cp.rows, "Finishing the publish an earlier run started.");
    report.resumed_from = Some(cp.run_id.clone());
    report.pages_skipped = Some(cp.pages);
    report.records = cp.rows;
    report.suppressed = cp.suppressed;
    let staged = staging.staged(&cp);
    publish_staged(ctx, staging, &staged, report).await?;
    staging.remove_checkpoint().await?;
    Ok(())
}

/// Pages through the unit's list, writing each page's rows and checkpointing as it goes.
async fn fetch_pages(
    ctx: &RunCtx,
    unit: &Unit,
    decoder: &PageDecoder,
    sink: &mut UnitSink,
    pager: &mut Paginator,
    stats: &mut FetchStats,
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    let a = &unit.account;
    let req = UnitRequest {
        account_id: &a.account_id,
        dataset: unit.dataset,
        user_id: a.user_id.as_deref(),
        limit: a.page_size(unit.dataset),
        account_limiter: &unit.pacer,
    };
    while let Some(cursor) = pager.next_request().map(|c| c.map(str::to_owned)) {
        let page_no = pager.pages();
        let before = *stats;
        let position = sink.position;
        let page = ctx
            .client
            .get_page(&req, cursor.as_deref(), stats, |body| {
                let fetched_at = Utc::now().timestamp_millis();
                decoder
                    .decode(&body, page_no, position, fetched_at)
                    .map_err(|f| match f {
                        DecodeFailure::Unparseable(m) => ParseFailure::Unparseable(m),
                        DecodeFailure::Invalid(e) => ParseFailure::Invalid(e),
                    })
            })
            .await;
        ctx.counters
            .requests
            .fetch_add(stats.attempts - before.attempts, Relaxed);
        ctx.counters
            .retries
            .fetch_add(stats.retries - before.retries, Relaxed);
        let page = page.map_err(|source| UnitError::Page {
            page: page_no,
            source,
        })?;
        let rows = page.batch.num_rows();
        sink.position += page.served as i64;
        let cursor = record_page(ctx, report, &page);
        if rows > 0 {
            sink.writer.write(&page.batch).await?;
        }
        pager.advance(cursor.clone())?;
        let (writer, cps) = (&mut sink.writer, &mut sink.checkpoints);
        let progress = checkpointer::Progress {
            rows: rows as u64,
            position: u64::try_from(sink.position).unwrap_or(0),
            suppressed: report.suppressed,
        };
        cps.page_written(writer, progress, cursor.as_deref(), pager.pages())
            .await?;
    }
    Ok(())
}

/// Counts a received page into the report and the live counters; returns its cursor.
fn record_page(ctx: &RunCtx, report: &mut UnitReport, page: &DecodedPage) -> Option<String> {
    let rows = page.batch.num_rows() as u64;
    report.records += rows;
    report.pages += 1;
    report.unknown_fields += page.unknown_fields;
    report.suppressed += page.suppressed;
    for (name, n) in &page.unknown_names {
        merge_unknown(&mut report.unknown_field_names, name, *n);
    }
    ctx.counters.records.fetch_add(rows, Relaxed);
    ctx.breakers.page_received();
    page.cursor.clone()
}

#[cfg(test)]
mod tests;
