//! Orchestration: plan the units, check the destination, run units with bounded concurrency,
//! publish completed ones, write the manifest. The only module that knows every layer.

use crate::api::client::{Client, ClientConfig, FetchStats, PageError, ParseFailure, UnitRequest};
use crate::api::error::ApiError;
use crate::api::limit::RateLimiter;
use crate::api::paginate::{PaginateError, Paginator};
use crate::error_chain as chain;
use crate::job::{Account, Job};
use crate::model::Dataset;
use crate::progress::{Counters, Progress, ProgressMode};
use crate::report::{
    RunReport, RunStatus, StopSignal, Totals, UnitFailure, UnitReport, UnitStatus,
};
use crate::schema::Registry;
use crate::schema::decode::{DecodeFailure, MAX_UNKNOWN_NAMES, PageDecoder};
use crate::sink::layout::{Layout, PartitionKey};
use crate::sink::parquet::{FileIdentity, PartWriter, WriterOptions};
use crate::sink::store::Destination;
use crate::sink::{self, SinkError, publish};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// A shard of the account list: accounts whose stable hash mod `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I.
    pub index: u64,
    /// N.
    pub count: u64,
}

/// `--shard` is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--shard {value:?} is not allowed: {reason}; use I/N with 0 <= I < N, or auto/N to read JOB_COMPLETION_INDEX"
)]
pub struct ShardError {
    /// As given.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl Shard {
    /// Parses `I/N` or `auto/N` (`completion_index` is `JOB_COMPLETION_INDEX`).
    pub fn parse(value: &str, completion_index: Option<&str>) -> Result<Shard, ShardError> {
        let err = |reason: &str| ShardError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let (i, n) = value.split_once('/').ok_or_else(|| err("missing '/'"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| err("N is not a whole number"))?;
        if count == 0 {
            return Err(err("N must be at least 1"));
        }
        let index: u64 = if i.trim() == "auto" {
            let raw = completion_index
                .ok_or_else(|| err("auto needs JOB_COMPLETION_INDEX, which is not set"))?;
            raw.trim().parse().map_err(|_| {
                err(&format!(
                    "JOB_COMPLETION_INDEX = {raw:?} is not a whole number"
                ))
            })?
        } else {
            i.trim()
                .parse()
                .map_err(|_| err("I is not a whole number"))?
        };
        if index >= count {
            return Err(err(&format!("I = {index} must be less than N = {count}")));
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard owns an account: FNV-1a 64 of the id, stable across versions and hosts.
    pub fn owns(&self, account_id: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in account_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

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
}

/// The run's stop signal, set by the signal handler before it cancels the token.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    signal: Arc<Mutex<Option<StopSignal>>>,
}

impl Stop {
    /// A fresh, unsignalled stop.
    pub fn new() -> Stop {
        Stop::default()
    }
    /// Records the signal and cancels everything waiting.
    pub fn signal(&self, s: StopSignal) {
        let mut g = self.signal.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert(s);
        self.token.cancel();
    }
    /// The signal received, if any.
    pub fn received(&self) -> Option<StopSignal> {
        *self.signal.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The token cancelled on a signal.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
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
}

/// One planned unit.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The account.
    pub account: Arc<Account>,
    /// The dataset.
    pub dataset: Dataset,
}

/// The units of a job, after sharding: accounts × datasets, in file order.
pub fn plan(job: &Job, shard: Option<Shard>) -> Vec<Unit> {
    job.accounts
        .iter()
        .filter(|a| shard.is_none_or(|s| s.owns(&a.account_id)))
        .flat_map(|a| {
            let a = Arc::new(a.clone());
            a.datasets.clone().into_iter().map(move |d| Unit {
                account: a.clone(),
                dataset: d,
            })
        })
        .collect()
}

/// A new run id: UTC time plus randomness, safe as a path segment and sortable.
pub fn new_run_id() -> String {
    format!(
        "{}-{:06x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..0x0100_0000)
    )
}

struct RunCtx {
    client: Arc<Client>,
    dest: Destination,
    layout: Layout,
    registry: Registry,
    run_id: String,
    snapshot_date: String,
    snapshot_days: i32,
    writer_opts: WriterOptions,
    max_pages: u64,
    limiters: HashMap<String, Arc<RateLimiter>>,
    counters: Arc<Counters>,
    /// Cancelled on a signal or a run-fatal error: stop sending, abandon units.
    halt: CancellationToken,
    fatal: Mutex<Option<String>>,
}

/// Runs a job. Returns the report (with its exit code) whenever units were planned; a `RunError`
/// means the run could not start and nothing was sent.
pub async fn run(job: &Job, opts: RunOptions, stop: Stop) -> Result<RunReport, RunError> {
    let started_at = Utc::now();
    let registry = Registry::load()?;
    let run_id = new_run_id();
    let snapshot_date = opts.snapshot_date.format("%Y-%m-%d").to_string();
    let units = plan(job, opts.shard);
    let dest = sink::store::open(&job.output.url)?;
    let layout = Layout::new(&dest.prefix);
    dest.preflight(&layout.preflight_marker(&run_id))
        .await
        .map_err(|source| RunError::Preflight {
            destination: dest.display.clone(),
            source,
        })?;
    let halt = stop.token().child_token();
    let concurrency = opts
        .concurrency
        .unwrap_or(job.fetch.concurrency.get())
        .max(1);
    let api_key = job.api.api_key.clone().ok_or(RunError::NoKey)?;
    let client = Client::try_new(
        ClientConfig {
            base_url: job.api.base_url.clone(),
            api_key,
            timeout: job.api.timeout,
            max_attempts: job.fetch.max_attempts,
            backoff_initial: job.fetch.backoff_initial,
            backoff_max: job.fetch.backoff_max,
            requests_per_second: job.fetch.requests_per_second,
            pool_size: concurrency,
        },
        halt.clone(),
    )?;
    let limiters = units
        .iter()
        .map(|u| {
            (
                u.account.account_id.clone(),
                Arc::new(RateLimiter::per_minute(
                    job.fetch.account_requests_per_minute,
                )),
            )
        })
        .collect();
    let counters = Arc::new(Counters::default());
    counters.units_total.store(units.len() as u64, Relaxed);
    let ctx = Arc::new(RunCtx {
        client,
        layout,
        registry,
        snapshot_days: days_since_epoch(opts.snapshot_date),
        snapshot_date: snapshot_date.clone(),
        run_id: run_id.clone(),
        writer_opts: WriterOptions {
            compression: job.output.compression,
            max_rows_per_file: job.output.max_rows_per_file,
            row_group_rows: job.output.row_group_rows,
        },
        max_pages: job.fetch.max_pages.get(),
        limiters,
        counters: counters.clone(),
        halt: halt.clone(),
        fatal: Mutex::new(None),
        dest: dest.clone(),
    });
    info!(
        job = %job.name,
        run_id = %run_id,
        snapshot_date = %snapshot_date,
        shard = opts.shard.map(|s| s.to_string()),
        units = units.len(),
        concurrency,
        destination = %dest.display,
        "Run started."
    );
    remove_abandoned_staging(&ctx).await;
    let progress = Progress::start(counters, opts.progress);

    // Unordered, so one slow unit never holds a slot; the reports are put back in plan order.
    // Each unit is a task of its own, so decoding and encoding use every worker thread.
    let mut indexed: Vec<(usize, UnitReport)> =
        futures::stream::iter(units.into_iter().enumerate().map(|(i, u)| {
            let ctx = ctx.clone();
            async move {
                let mut crashed =
                    UnitReport::new(&u.account.account_id, u.dataset, u.account.provider);
                let task = tokio::spawn({
                    let ctx = ctx.clone();
                    async move { run_unit(&ctx, &u).await }
                });
                match task.await {
                    Ok(report) => (i, report),
                    // A panic is a bug: the unit publishes nothing and the run says so (exit 1),
                    // but the other units and the manifest still happen.
                    Err(e) => {
                        let msg = format!(
                            "internal error in unit {} {}: {e}",
                            crashed.account_id, crashed.dataset
                        );
                        error!(error = %msg, "Unit crashed; nothing published.");
                        crashed.status = UnitStatus::Failed;
                        crashed.error = Some(UnitFailure {
                            kind: "internal".to_owned(),
                            message: msg.clone(),
                            ..UnitFailure::default()
                        });
                        ctx.fatal
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(msg);
                        (i, crashed)
                    }
                }
            }
        }))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    indexed.sort_by_key(|(i, _)| *i);
    let reports: Vec<UnitReport> = indexed.into_iter().map(|(_, r)| r).collect();
    progress.finish().await;

    // Whatever a stopped or failed unit left in staging goes now.
    if let Err(e) = sink::delete_staging(&ctx.dest, &ctx.layout.staging_root(&run_id)).await {
        warn!(error = %e, "Could not clean this run's staging area.");
    }
    let fatal = ctx.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let signal = stop.received();
    let mut report = RunReport {
        job: job.name.to_string(),
        run_id: run_id.clone(),
        snapshot_date: snapshot_date.clone(),
        shard: opts.shard.map(|s| s.to_string()),
        destination: dest.display.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: String::new(),
        status: match (&fatal, signal) {
            (_, Some(_)) => RunStatus::Interrupted,
            (Some(_), None) => RunStatus::Failed,
            (None, None) => RunStatus::Ok,
        },
        signal,
        error: fatal,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        totals: Totals::default(),
        units: reports,
    };
    report.finished_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    report.seal();
    let manifest = ctx.layout.manifest(&snapshot_date, &run_id);
    match sink::put_object(ctx.dest.store.as_ref(), &manifest, report.to_json()).await {
        Ok(()) => info!(manifest = %manifest, status = ?report.status, "Run finished."),
        Err(e) => {
            error!(error = %chain(&e), "The run manifest could not be written.");
            if report.status != RunStatus::Interrupted {
                report.status = RunStatus::Failed;
                report.error = Some(format!("manifest not written: {}", chain(&e)));
            }
        }
    }
    Ok(report)
}

/// Staging areas of crashed runs older than a day are garbage; younger ones may belong to a
/// shard running right now, so they stay.
async fn remove_abandoned_staging(ctx: &RunCtx) {
    use futures::TryStreamExt;
    let store = ctx.dest.store.as_ref();
    let Ok(listing) = store
        .list_with_delimiter(Some(&ctx.layout.staging_all()))
        .await
    else {
        return;
    };
    let cutoff = Utc::now() - chrono::Duration::hours(24);
    for dir in listing.common_prefixes {
        let newest = store
            .list(Some(&dir))
            .try_fold(None, |acc: Option<chrono::DateTime<Utc>>, m| async move {
                Ok(Some(
                    acc.map_or(m.last_modified, |a| a.max(m.last_modified)),
                ))
            })
            .await;
        if let Ok(Some(t)) = newest
            && t < cutoff
        {
            info!(staging = %dir, "Removing the staging area of an abandoned run.");
            if let Err(e) = sink::delete_prefix(store, &dir).await {
                warn!(error = %chain(&e), "Could not remove an abandoned staging area.");
            }
        }
    }
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((d - epoch).num_days()).unwrap_or(0)
}

/// Why a unit did not publish.
#[derive(Debug, thiserror::Error)]
enum UnitError {
    #[error("page {page}")]
    Page {
        page: u64,
        #[source]
        source: PageError,
    },
    #[error(transparent)]
    Paginate(#[from] PaginateError),
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

    fn to_failure(&self) -> UnitFailure {
        let mut f = UnitFailure {
            message: chain(self),
            ..UnitFailure::default()
        };
        match self {
            UnitError::Page { page, source } => {
                f.page = Some(*page);
                match source {
                    PageError::Api(api) => {
                        f.kind = "api".to_owned();
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
                    PageError::Invalid(_) => {
                        f.kind = "invalid_page".to_owned();
                        f.error_type = Some("invalid_page".to_owned());
                    }
                }
            }
            UnitError::Paginate(_) => {
                f.kind = "pagination".to_owned();
                f.error_type = Some("pagination".to_owned());
            }
            UnitError::Sink(_) => {
                f.kind = "storage".to_owned();
                f.error_type = Some("storage".to_owned());
            }
        }
        f
    }
}

async fn run_unit(ctx: &RunCtx, unit: &Unit) -> UnitReport {
    let a = &unit.account;
    let span = info_span!("unit", account_id = %a.account_id, dataset = %unit.dataset, provider = %a.provider);
    async {
        let started = Instant::now();
        let mut report = UnitReport::new(&a.account_id, unit.dataset, a.provider);
        if ctx.halt.is_cancelled() {
            report.error = Some(stopped_failure(ctx));
            return finish(ctx, report, started);
        }
        let key = PartitionKey {
            dataset: unit.dataset,
            provider: a.provider,
            snapshot_date: &ctx.snapshot_date,
            account_id: &a.account_id,
        };
        let mut stats = FetchStats::default();
        let outcome = fetch_and_write(ctx, unit, &key, &mut stats, &mut report).await;
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
                report.error = Some(stopped_failure(ctx));
                info!("Unit abandoned unpublished: the run is stopping.");
            }
            Err(e) => {
                if let UnitError::Page { source: PageError::Api(ApiError::KeyRejected { .. }), .. } = &e {
                    let msg = format!(
                        "the API key was rejected ({}); stopping the run",
                        e.to_failure().error_type.unwrap_or_default()
                    );
                    error!(error = %chain(&e), "The API key was rejected; stopping the run.");
                    ctx.fatal.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(msg);
                    ctx.halt.cancel();
                }
                report.status = UnitStatus::Failed;
                let f = e.to_failure();
                error!(error = %f.message, error_type = f.error_type.as_deref(), "Unit failed; nothing published.");
                report.error = Some(f);
            }
        }
        finish(ctx, report, started)
    }
    .instrument(span)
    .await
}

fn stopped_failure(ctx: &RunCtx) -> UnitFailure {
    let fatal = ctx.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match fatal {
        Some(f) => UnitFailure {
            kind: "aborted".to_owned(),
            message: format!("not run to the end: {f}"),
            ..UnitFailure::default()
        },
        None => UnitFailure {
            kind: "interrupted".to_owned(),
            message: "not run to the end: the run was interrupted".to_owned(),
            ..UnitFailure::default()
        },
    }
}

fn finish(ctx: &RunCtx, mut report: UnitReport, started: Instant) -> UnitReport {
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    ctx.counters.units_done.fetch_add(1, Relaxed);
    if report.status == UnitStatus::Failed {
        ctx.counters.units_failed.fetch_add(1, Relaxed);
    }
    report
}

async fn fetch_and_write(
    ctx: &RunCtx,
    unit: &Unit,
    key: &PartitionKey<'_>,
    stats: &mut FetchStats,
    report: &mut UnitReport,
) -> Result<(), UnitError> {
    let a = &unit.account;
    let variant = ctx.registry.variant(unit.dataset, a.provider);
    let decoder = PageDecoder::new(
        variant,
        &a.account_id,
        a.provider,
        ctx.snapshot_days,
        &ctx.run_id,
    );
    let identity = FileIdentity {
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
    };
    let mut writer = PartWriter::try_new(
        ctx.dest.store.clone(),
        ctx.layout.clone(),
        &ctx.run_id,
        key,
        decoder.schema(),
        ctx.writer_opts,
        &identity,
    )?;
    let limiter = ctx
        .limiters
        .get(&a.account_id)
        .cloned()
        .unwrap_or_else(|| Arc::new(RateLimiter::per_minute(30.0)));
    let req = UnitRequest {
        account_id: &a.account_id,
        dataset: unit.dataset,
        user_id: a.user_id.as_deref(),
        limit: a.page_size(unit.dataset),
        account_limiter: &limiter,
    };
    let mut pager = Paginator::new(ctx.max_pages);
    let mut position: i64 = 0;
    let result = async {
        while let Some(cursor) = pager.next_request().map(|c| c.map(str::to_owned)) {
            let page_no = pager.pages();
            let before = *stats;
            let page = ctx
                .client
                .get_page(&req, cursor.as_deref(), stats, |body| {
                    decoder
                        .decode(&body, page_no, position, Utc::now().timestamp_millis())
                        .map_err(|f| match f {
                            DecodeFailure::Unparseable(m) => ParseFailure::Unparseable(m),
                            DecodeFailure::Invalid(e) => ParseFailure::Invalid(Box::new(e)),
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
            position += rows as i64;
            report.records += rows as u64;
            report.pages += 1;
            report.unknown_fields += page.unknown_fields;
            for (name, n) in page.unknown_names {
                if let Some(c) = report.unknown_field_names.get_mut(&name) {
                    *c += n;
                } else if report.unknown_field_names.len() < MAX_UNKNOWN_NAMES {
                    report.unknown_field_names.insert(name, n);
                }
            }
            ctx.counters.records.fetch_add(rows as u64, Relaxed);
            if rows > 0 {
                writer.write(&page.batch).await?;
            }
            pager.advance(page.cursor)?;
        }
        Ok::<(), UnitError>(())
    }
    .await;
    if let Err(e) = result {
        writer.abort().await;
        return Err(e);
    }
    let staged = match writer.finish().await {
        Ok(s) => s,
        Err(e) => return Err(e.into()),
    };
    // A stop that arrived while the last page was written: abandon, do not publish.
    if ctx.halt.is_cancelled() {
        return Err(UnitError::Page {
            page: pager.pages(),
            source: PageError::Api(ApiError::Cancelled),
        });
    }
    let published = publish::publish(ctx.dest.store.as_ref(), &ctx.layout, key, &staged).await?;
    report.output_bytes = staged.iter().map(|p| p.bytes).sum();
    report.files = published.files;
    report.stale_files_removed = published.removed;
    Ok(())
}

/// The snapshot date default: today in UTC.
pub fn today_utc() -> NaiveDate {
    Utc::now().date_naive()
}

/// Parses `--snapshot-date`.
pub fn parse_snapshot_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10)
}

/// How long a stopping run may take before the process exits anyway (SPEC §5: within 10 s).
pub const STOP_GRACE: Duration = Duration::from_secs(8);

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards partition the accounts: every account in exactly one shard.
    #[test]
    fn shards_partition_accounts() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        let mut sizes = [0; 3];
        for n in 0..300 {
            let id = format!("acc_linkedin_{n:04}");
            let owners: Vec<usize> = (0..3).filter(|i| shards[*i].owns(&id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|s| *s > 60), "{sizes:?}");
    }

    /// Shard syntax: I/N, auto/N, and what is refused.
    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse("auto/4", Some("2")),
            Ok(Shard { index: 2, count: 4 })
        );
        let e = Shard::parse("3/3", None).expect_err("I < N");
        assert_eq!(
            e.to_string(),
            "--shard \"3/3\" is not allowed: I = 3 must be less than N = 3; use I/N with 0 <= I < N, or auto/N to read JOB_COMPLETION_INDEX"
        );
        assert!(Shard::parse("x/0", None).is_err());
        assert!(Shard::parse("auto/2", None).is_err());
        assert!(Shard::parse("1", None).is_err());
    }

    /// Snapshot dates are strict YYYY-MM-DD.
    #[test]
    fn snapshot_dates() {
        assert!(parse_snapshot_date("2026-11-26").is_some());
        assert!(parse_snapshot_date("2026-2-3").is_none());
        assert!(parse_snapshot_date("2026-02-30").is_none());
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 11).expect("date")),
            10
        );
    }
}
