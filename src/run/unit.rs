//! One unit's lifecycle: fetch its pages, decode them, write them into staged Parquet parts,
//! publish them, and say how it went in a [`UnitReport`]. This is where a unit is fetched.

use super::RunCtx;
use super::plan::Unit;
use crate::api::client::{FetchStats, PageError, ParseFailure, UnitRequest};
use crate::api::error::ApiError;
use crate::api::paginate::{PaginateError, Paginator};
use crate::error_chain as chain;
use crate::report::{FailureKind, UnitFailure, UnitReport, UnitStatus};
use crate::schema::decode::{DecodeError, DecodeFailure, DecodedPage, PageDecoder, merge_unknown};
use crate::sink::layout::PartitionKey;
use crate::sink::parquet::{FileIdentity, PartWriter};
use crate::sink::{SinkError, publish};
use chrono::Utc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use tokio::sync::SemaphorePermit;
use tracing::{Instrument, error, info, info_span};

/// Why a unit did not publish.
#[derive(Debug, thiserror::Error)]
pub(super) enum UnitError {
    /// A page was not delivered, or broke the schema.
    #[error("page {page}")]
    Page {
        page: u64,
        #[source]
        source: PageError<DecodeError>,
    },
    /// The cursor sequence went wrong.
    #[error(transparent)]
    Paginate(#[from] PaginateError),
    /// Writing or publishing failed.
    #[error("storage")]
    Sink(#[from] SinkError),
}

impl UnitError {
    fn is_cancelled(&self) -> bool {
        matches!(
            self,
            UnitError::Page {
                source: PageError::Api(ApiError::Cancelled),
                ..
            }
        )
    }

    fn is_key_rejected(&self) -> bool {
        matches!(
            self,
            UnitError::Page {
                source: PageError::Api(ApiError::KeyRejected { .. }),
                ..
            }
        )
    }

    /// The manifest's account of the failure: kind, envelope, and where it happened.
    pub(super) fn to_failure(&self) -> UnitFailure {
        let kind = match self {
            UnitError::Page {
                source: PageError::Api(_),
                ..
            } => FailureKind::Api,
            UnitError::Page {
                source: PageError::Invalid(_),
                ..
            } => FailureKind::InvalidPage,
            UnitError::Paginate(_) => FailureKind::Pagination,
            UnitError::Sink(_) => FailureKind::Storage,
        };
        let mut f = UnitFailure::new(kind, chain(self));
        match self {
            UnitError::Page { page, source } => {
                f.page = Some(*page);
                match source {
                    PageError::Api(api) => {
                        if let Some(a) = api.attempt_error() {
                            f.status = a.status();
                            f.error_type = Some(a.error_type());
                            if let Some(env) = a.envelope() {
                                f.title = env.title.clone();
                                f.detail = env.detail.clone();
                                f.instance = env.instance.clone();
                            }
                        }
                    }
                    PageError::Invalid(d) => {
                        f.error_type = Some(kind.as_str().to_owned());
                        f.item = d.item.map(|i| i as u64);
                        f.field = d.field.clone();
                    }
                }
            }
            UnitError::Paginate(_) | UnitError::Sink(_) => {
                f.error_type = Some(kind.as_str().to_owned());
            }
        }
        f
    }
}

/// Runs one unit to its end and reports it; never fails, a failure is in the report.
pub(super) async fn run_unit(ctx: &RunCtx, unit: &Unit) -> UnitReport {
    let a = &unit.account;
    let span = info_span!("unit", account_id = %a.account_id, dataset = %unit.dataset, provider = %a.provider);
    async {
        let slot = ctx.fetch_slot().await;
        let started = Instant::now();
        let mut report = UnitReport::new(&a.account_id, unit.dataset, a.provider);
        if ctx.halt.is_cancelled() {
            report.error = Some(ctx.stopped_failure());
            return finish(ctx, report, started);
        }
        let mut stats = FetchStats::default();
        let outcome = fetch_and_publish(ctx, unit, slot, &mut stats, &mut report).await;
        report.attempts = stats.attempts;
        report.retries = stats.retries;
        report.throttles = stats.throttles;
        report.faults = stats.faults;
        report.bytes = stats.bytes;
        match outcome {
            Ok(()) => {
                report.status = UnitStatus::Ok;
                info!(records = report.records, pages = report.pages, files = report.files.len(), "Unit published.");
            }
            Err(e) if e.is_cancelled() || ctx.halt.is_cancelled() => {
                report.status = UnitStatus::Skipped;
                report.error = Some(ctx.stopped_failure());
                info!("Unit abandoned unpublished: the run is stopping.");
            }
            Err(e) => {
                let f = e.to_failure();
                if e.is_key_rejected() {
                    error!(error = %chain(&e), "The API key was rejected; stopping the run.");
                    ctx.abort(format!("the API key was rejected ({}); stopping the run", f.label()));
                }
                error!(error = %f.message, error_type = f.error_type.as_deref(), "Unit failed; nothing published.");
                report.status = UnitStatus::Failed;
                report.error = Some(f);
            }
        }
        finish(ctx, report, started)
    }
    .instrument(span)
    .await
}

fn finish(ctx: &RunCtx, mut report: UnitReport, started: Instant) -> UnitReport {
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    ctx.counters.units_done.fetch_add(1, Relaxed);
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
            ("snapshot_date".into(), ctx.snapshot_date.clone()),
            ("run_id".into(), ctx.run_id.clone()),
            (
                "postpress_etl_version".into(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ],
    }
}

/// Fetches the unit holding `slot`, one of the run's fetch slots, and gives it up before the unit
/// is published (a small one before it is even encoded): the next unit fetches meanwhile.
async fn fetch_and_publish(
    ctx: &RunCtx,
    unit: &Unit,
    slot: SemaphorePermit<'_>,
    stats: &mut FetchStats,
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    let a = &unit.account;
    let key = PartitionKey {
        dataset: unit.dataset,
        provider: a.provider,
        snapshot_date: &ctx.snapshot_date,
        account_id: &a.account_id,
    };
    let decoder = PageDecoder::new(
        ctx.registry.variant(unit.dataset, a.provider),
        &a.account_id,
        a.provider,
        ctx.snapshot_days,
        &ctx.run_id,
    );
    let mut writer = PartWriter::try_new(
        ctx.dest.store.clone(),
        ctx.layout.clone(),
        &ctx.run_id,
        &key,
        decoder.schema(),
        ctx.writer_opts,
        &identity(ctx, unit),
    )?;
    let fetched = fetch_pages(ctx, unit, &decoder, &mut writer, stats, report).await;
    // A small unit, its rows all in memory, is encoded without its slot; a larger one after.
    let small = writer
        .unencoded_bytes()
        .is_some_and(|b| b <= super::EARLY_RELEASE_BYTES);
    let slot = (!small).then_some(slot);
    if let Err(e) = fetched {
        writer.abort().await;
        return Err(e);
    }
    let staged = writer.finish().await?;
    drop(slot);
    // A stop that arrived while the last page was written: abandon, do not publish.
    if ctx.halt.is_cancelled() {
        return Err(UnitError::Page {
            page: report.pages,
            source: PageError::Api(ApiError::Cancelled),
        });
    }
    let store = ctx.dest.store.as_ref();
    let published = publish::publish(store, &ctx.layout, &key, &staged, &ctx.halt).await?;
    report.output_bytes = staged.iter().map(|p| p.bytes).sum();
    report.files = published.files;
    report.stale_files_removed = published.removed;
    Ok(())
}

/// Pages through the unit's list, writing each page's rows.
async fn fetch_pages(
    ctx: &RunCtx,
    unit: &Unit,
    decoder: &PageDecoder,
    writer: &mut PartWriter,
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
    let mut pager = Paginator::new(ctx.max_pages);
    let mut position: i64 = 0;
    while let Some(cursor) = pager.next_request().map(|c| c.map(str::to_owned)) {
        let page_no = pager.pages();
        let before = *stats;
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
        position += page.batch.num_rows() as i64;
        let cursor = record_page(ctx, report, &page);
        if page.batch.num_rows() > 0 {
            writer.write(&page.batch).await?;
        }
        pager.advance(cursor)?;
    }
    Ok(())
}

/// Counts a received page into the report and the live counters; returns its cursor.
fn record_page(ctx: &RunCtx, report: &mut UnitReport, page: &DecodedPage) -> Option<String> {
    let rows = page.batch.num_rows() as u64;
    report.records += rows;
    report.pages += 1;
    report.unknown_fields += page.unknown_fields;
    for (name, n) in &page.unknown_names {
        merge_unknown(&mut report.unknown_field_names, name, *n);
    }
    ctx.counters.records.fetch_add(rows, Relaxed);
    page.cursor.clone()
}
