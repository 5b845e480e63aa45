//! Reader tables (SPEC §9): `finalize` rebuilds, for a snapshot date (or each date of a range, in
//! order), `tables/followers`, `tables/following`, their `*_changes` and `tables/account_daily`
//! from the units published complete for that date, staged then published like units, and
//! records what it read and wrote in `_runs/snapshot_date={D}/finalize-{run_id}.json`.
//!
//! * `discover` — what was published for a date, what the run manifests say, and each unit's
//!   previous complete snapshot;
//! * `read` — a published unit's files, checked (readable, written for that unit) and streamed;
//! * `consolidate` — one dataset and provider: sorted rows, row groups per big account, and the
//!   changes of each account;
//! * `diff` — gained and lost by the schema's item key;
//! * `daily` — `account_daily`;
//! * `output` — publishing a date's tables and its manifest; `report` — the manifest and outcome;
//! * here — the dates in order, and what one date takes.
//!
//! It reads and writes the destination only: it never calls the API and needs no API key. Memory
//! is bounded by the largest account: accounts are streamed one at a time, never a whole date.

mod consolidate;
mod daily;
mod diff;
mod discover;
mod output;
mod read;
pub mod report;

pub use report::{DateReport, FinalizeReport, NoUnits};

use crate::error_chain as chain;
use crate::job::{Compression, Job};
use crate::model::{Dataset, Provider};
use crate::schema::{POSITION_COLUMN, Registry};
use crate::sink::layout::{Area, Layout, TableKey};
use crate::sink::parquet::{Codec, ColumnHints, FileIdentity, StagedPart, WriterOptions};
use crate::sink::store::{self, Destination};
use crate::sink::table::TableWriter;
use crate::sink::{Cause, SinkError, staging};
use chrono::{NaiveDate, Utc};
use discover::{DateListing, Previous, Status, UnitKey};
use object_store::ObjectStore;
use report::{DateTotals, UnitRead};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// The directory name of the daily summary table.
pub const ACCOUNT_DAILY: &str = "account_daily";

/// Columns of the reader tables with few distinct values per row group: dictionary-encoded.
const TABLE_CONSTANT_COLUMNS: [&str; 9] = [
    "account_id",
    "provider",
    "snapshot_date",
    "fetched_at",
    "run_id",
    "previous_snapshot_date",
    "change",
    "dataset",
    "status",
];

/// Which dates to finalize, under which run id.
#[derive(Debug, Clone)]
pub struct FinalizeOptions {
    /// The first date (`--snapshot-date`).
    pub from: NaiveDate,
    /// The last date (`--to`, else the first).
    pub to: NaiveDate,
    /// Names the staging area and the manifests.
    pub run_id: String,
}

/// Why finalize stopped. Nothing more is published for the date it was building.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The embedded schemas are broken (a build defect).
    #[error("schema registry")]
    Schema(#[from] crate::schema::SchemaError),
    /// The destination cannot be opened.
    #[error("destination")]
    Store(#[from] store::StoreError),
    /// The destination is unreachable or not writable.
    #[error("destination {destination} is not usable")]
    Preflight {
        /// The destination.
        destination: String,
        /// Why, naming the bucket or directory.
        #[source]
        source: store::PreflightError,
    },
    /// Listing the published units or manifests failed.
    #[error("listing {path} failed")]
    List {
        /// The prefix.
        path: String,
        /// Why.
        #[source]
        source: Cause<object_store::Error>,
    },
    /// Reading a published file failed.
    #[error("reading {path} failed")]
    Read {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: Cause<object_store::Error>,
    },
    /// A run manifest is not what `run` writes.
    #[error(
        "run manifest {path} cannot be read ({problem}); remove it if it is not a run manifest"
    )]
    Manifest {
        /// The manifest.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A file in a unit partition is not readable Parquet.
    #[error(
        "{path} is not a readable Parquet file; nothing was published for {date}: remove the file or rerun the export of its date"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// The date being finalized.
        date: String,
        /// The reader's error.
        #[source]
        source: Cause<parquet::errors::ParquetError>,
    },
    /// A file in a unit partition was not written for that unit.
    #[error(
        "{path} is not a part of its unit: {problem}; nothing was published for {date}: remove the file or rerun the export of its date"
    )]
    Foreign {
        /// The file.
        path: String,
        /// The date being finalized.
        date: String,
        /// What gives it away.
        problem: String,
    },
    /// Writing or publishing the tables failed.
    #[error("writing the reader tables of {date} failed")]
    Write {
        /// The date.
        date: String,
        /// Why.
        #[source]
        source: SinkError,
    },
    /// A signal stopped finalize before the date's tables were published.
    #[error("stopped before the reader tables of {date} were published")]
    Interrupted {
        /// The date.
        date: String,
    },
    /// An account has more distinct keys than an index can hold.
    #[error("an account has more than 4,294,967,295 distinct keys")]
    TooManyKeys,
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl FinalizeError {
    fn internal(e: impl std::fmt::Display) -> FinalizeError {
        FinalizeError::Internal(e.to_string())
    }

    /// Whether a signal stopped it.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, FinalizeError::Interrupted { .. })
    }

    /// The error with its object named by its full location (`s3://bucket/key`, a local path)
    /// rather than by its key in the store.
    fn located(mut self, dest: &Destination) -> FinalizeError {
        match &mut self {
            FinalizeError::List { path, .. }
            | FinalizeError::Read { path, .. }
            | FinalizeError::Manifest { path, .. }
            | FinalizeError::Corrupt { path, .. }
            | FinalizeError::Foreign { path, .. } => *path = dest.location(path),
            _ => {}
        }
        self
    }
}

/// A table partition written to staging.
#[derive(Debug, Clone)]
pub(crate) struct StagedTable {
    /// The table's directory name.
    pub table: &'static str,
    /// Its provider partition.
    pub provider: Option<Provider>,
    /// Its staged parts.
    pub parts: Vec<StagedPart>,
    /// Rows in them.
    pub rows: u64,
}

/// What building one date's tables shares.
pub(crate) struct DateCtx<'a> {
    store: Arc<dyn ObjectStore>,
    layout: &'a Layout,
    run_id: &'a str,
    day: String,
    days: i32,
    writer: WriterOptions,
    cancel: &'a CancellationToken,
}

/// What stays the same across dates.
struct Env<'a> {
    job: &'a Job,
    dest: &'a Destination,
    layout: Layout,
    registry: Registry,
    units: Vec<(UnitKey, Provider)>,
    writer: WriterOptions,
    opts: &'a FinalizeOptions,
    cancel: &'a CancellationToken,
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `finalize` command: opens the job's destination, checks it can be written, and builds the
/// tables of every date of `opts` in order.
pub async fn run_command(
    job: &Job,
    opts: &FinalizeOptions,
    cancel: &CancellationToken,
) -> Result<FinalizeReport, FinalizeError> {
    let dest = store::open(&job.output.url)?;
    let layout = Layout::new(&dest.prefix);
    dest.preflight(&layout.preflight_marker(&opts.run_id))
        .await
        .map_err(|source| FinalizeError::Preflight {
            destination: dest.display.clone(),
            source,
        })?;
    finalize(job, &dest, opts, cancel).await
}

/// Builds the reader tables of every date `opts.from ..= opts.to`, in date order (a date's
/// changes are against the units published before it). A date without published units is
/// skipped and reported in [`FinalizeReport::no_units`]; an error stops at the date it was
/// building, with nothing published for that date.
pub async fn finalize(
    job: &Job,
    dest: &Destination,
    opts: &FinalizeOptions,
    cancel: &CancellationToken,
) -> Result<FinalizeReport, FinalizeError> {
    finalize_dates(job, dest, opts, cancel)
        .await
        .map_err(|e| e.located(dest))
}

async fn finalize_dates(
    job: &Job,
    dest: &Destination,
    opts: &FinalizeOptions,
    cancel: &CancellationToken,
) -> Result<FinalizeReport, FinalizeError> {
    let mut units: Vec<(UnitKey, Provider)> = job
        .accounts
        .iter()
        .flat_map(|a| {
            a.datasets.iter().map(|d| {
                let key = UnitKey {
                    account_id: a.account_id.clone(),
                    dataset: *d,
                };
                (key, a.provider)
            })
        })
        .collect();
    units.sort();
    let env = Env {
        job,
        dest,
        layout: Layout::new(&dest.prefix),
        registry: Registry::load()?,
        units,
        writer: writer_options(job),
        opts,
        cancel,
    };
    let store = dest.store.as_ref();
    let mut previous =
        discover::previous_snapshots(store, &env.layout, &env.units, opts.from).await?;
    let mut report = FinalizeReport::default();
    let mut date = opts.from;
    while date <= opts.to {
        let outcome = finalize_date(&env, date, &mut previous).await;
        let root = env.layout.staging_root(&opts.run_id);
        if let Err(e) = staging::delete_staging(dest, &root).await {
            tracing::warn!(error = %chain(&e), "Could not clean finalize's staging area.");
        }
        match outcome? {
            Ok(r) => {
                let t = &r.totals;
                info!(snapshot_date = %r.snapshot_date, manifest = %r.manifest, ok = t.ok,
                    failed = t.failed, missing = t.missing, gained = t.gained, lost = t.lost,
                    "Reader tables published.");
                report.dates.push(r);
            }
            Err(n) => {
                error!(snapshot_date = %n.snapshot_date, "{}", n.message);
                report.no_units.push(n);
            }
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    Ok(report)
}

fn writer_options(job: &Job) -> WriterOptions {
    WriterOptions {
        codec: match job.output.compression {
            Compression::Zstd => Codec::Zstd,
            Compression::Snappy => Codec::Snappy,
            Compression::Gzip => Codec::Gzip,
            Compression::None => Codec::None,
        },
        max_rows_per_file: job.output.max_rows_per_file,
        row_group_rows: job.output.row_group_rows,
        hints: ColumnHints {
            constant: &TABLE_CONSTANT_COLUMNS,
            counter: Some(POSITION_COLUMN),
        },
    }
}

/// What is missing when nothing was published for a date.
fn no_units(env: &Env<'_>, day: &str, listing: &DateListing) -> NoUnits {
    let mut datasets: Vec<Dataset> = env.units.iter().map(|(u, _)| u.dataset).collect();
    datasets.dedup();
    datasets.sort();
    datasets.dedup();
    let under: Vec<String> = datasets
        .iter()
        .map(|d| format!("{d}/provider=*/snapshot_date={day}/"))
        .collect();
    let reported = listing
        .units
        .values()
        .filter(|u| u.status == Status::Failed)
        .count();
    let manifests = match listing.manifests.len() {
        0 => format!("and no run manifest of that date exists under _runs/snapshot_date={day}/"),
        n => format!(
            "and the {n} run manifest(s) of that date report {reported} of them failed or not run to their end"
        ),
    };
    NoUnits {
        snapshot_date: day.to_owned(),
        message: format!(
            "snapshot date {day} has no published units in {}: none of the job's {} units has part files under {}, {manifests}; run the export for {day} first (no tables were written for it)",
            env.dest.display,
            env.units.len(),
            under.join(" or "),
        ),
    }
}

/// Builds, stages and publishes one date's tables; `Err(NoUnits)` inside when there is nothing
/// published for it. `previous` is each unit's latest complete snapshot before `date`, and
/// after it when the date was built.
async fn finalize_date(
    env: &Env<'_>,
    date: NaiveDate,
    previous: &mut HashMap<UnitKey, Previous>,
) -> Result<Result<DateReport, NoUnits>, FinalizeError> {
    let started_at = now();
    let day = ymd(date);
    let store = env.dest.store.as_ref();
    let listing = discover::discover(store, &env.layout, &env.units, &day).await?;
    if !listing.units.values().any(|u| u.status == Status::Ok) {
        return Ok(Err(no_units(env, &day, &listing)));
    }
    let ctx = DateCtx {
        store: env.dest.store.clone(),
        layout: &env.layout,
        run_id: &env.opts.run_id,
        days: crate::run::plan::days_since_epoch(date),
        day: day.clone(),
        writer: env.writer,
        cancel: env.cancel,
    };
    let mut staged = Vec::new();
    let mut results = HashMap::new();
    for dataset in Dataset::ALL {
        for provider in Provider::ALL {
            let accounts: Vec<consolidate::AccountPlan> = env
                .units
                .iter()
                .filter(|(u, p)| u.dataset == dataset && *p == provider)
                .filter_map(|(u, _)| {
                    let on = listing.units.get(u).filter(|s| s.status == Status::Ok)?;
                    Some(consolidate::AccountPlan {
                        key: u.clone(),
                        files: on.files.clone(),
                        previous: previous.get(u).cloned(),
                    })
                })
                .collect();
            if accounts.is_empty() {
                continue;
            }
            let variant = env.registry.variant(dataset, provider);
            let (s, r) =
                consolidate::dataset_tables(&ctx, dataset, provider, &variant, accounts).await?;
            staged.extend(s);
            results.extend(r.into_iter().map(|a| (a.key.clone(), a)));
        }
    }
    let (rows, reads) = account_rows(env, &listing, previous, &results, date);
    staged.push(stage_daily(&ctx, &rows).await?);
    if env.cancel.is_cancelled() {
        return Err(FinalizeError::Interrupted { date: day });
    }
    let tables = output::publish_tables(store, &env.layout, &day, &staged).await?;
    for (u, on) in &listing.units {
        if on.status == Status::Ok {
            let files = on.files.clone();
            previous.insert(u.clone(), Previous { date, files });
        }
    }
    let manifest = env.layout.finalize_manifest(&day, &env.opts.run_id);
    let report = DateReport {
        job: env.job.name.to_string(),
        run_id: env.opts.run_id.clone(),
        snapshot_date: day.clone(),
        destination: env.dest.display.clone(),
        started_at,
        finished_at: now(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        manifests_read: listing.manifests.clone(),
        totals: totals(&reads),
        units: reads,
        tables,
        manifest: manifest.to_string(),
    };
    output::write_manifest(store, &manifest, &day, report.to_json()).await?;
    Ok(Ok(report))
}

/// `account_daily`'s rows and the manifest's units, in account then dataset order.
fn account_rows(
    env: &Env<'_>,
    listing: &DateListing,
    previous: &HashMap<UnitKey, Previous>,
    results: &HashMap<UnitKey, consolidate::AccountResult>,
    date: NaiveDate,
) -> (Vec<daily::DailyRow>, Vec<UnitRead>) {
    let mut rows = Vec::with_capacity(env.units.len());
    let mut reads = Vec::with_capacity(env.units.len());
    for (u, provider) in &env.units {
        let Some(on) = listing.units.get(u) else {
            continue;
        };
        let prev = previous.get(u).filter(|p| p.date < date);
        let res = results.get(u);
        let run_id = match on.status {
            Status::Ok => on
                .run_id
                .clone()
                .or_else(|| res.and_then(|r| r.footer_run_id.clone())),
            _ => on.run_id.clone(),
        };
        let records = res.map(|r| r.records);
        rows.push(daily::DailyRow {
            account_id: u.account_id.clone(),
            provider: *provider,
            dataset: u.dataset,
            status: on.status,
            records,
            previous: prev.map(|p| crate::run::plan::days_since_epoch(p.date)),
            gained: res.and_then(|r| r.gained),
            lost: res.and_then(|r| r.lost),
            run_id: run_id.clone(),
        });
        let with_changes = res.is_some_and(|r| r.gained.is_some());
        reads.push(UnitRead {
            account_id: u.account_id.clone(),
            dataset: u.dataset.to_string(),
            provider: provider.to_string(),
            status: on.status.as_str().to_owned(),
            run_id,
            records,
            files: on.files.iter().map(|f| f.location.to_string()).collect(),
            previous_snapshot_date: prev.map(|p| ymd(p.date)),
            previous_files: match prev {
                Some(p) if with_changes => p.files.iter().map(|f| f.location.to_string()).collect(),
                _ => Vec::new(),
            },
            gained: res.and_then(|r| r.gained),
            lost: res.and_then(|r| r.lost),
        });
    }
    (rows, reads)
}

fn totals(reads: &[UnitRead]) -> DateTotals {
    let mut t = DateTotals::default();
    for r in reads {
        t.units += 1;
        match r.status.as_str() {
            "ok" => t.ok += 1,
            "failed" => t.failed += 1,
            _ => t.missing += 1,
        }
        t.records += r.records.unwrap_or(0);
        t.gained += r.gained.unwrap_or(0);
        t.lost += r.lost.unwrap_or(0);
    }
    t
}

/// Writes `account_daily` into staging.
async fn stage_daily(
    ctx: &DateCtx<'_>,
    rows: &[daily::DailyRow],
) -> Result<StagedTable, FinalizeError> {
    let key = TableKey {
        table: ACCOUNT_DAILY,
        provider: None,
        snapshot_date: &ctx.day,
    };
    let dir = ctx
        .layout
        .table_partition(Area::Staging { run_id: ctx.run_id }, &key);
    let identity = FileIdentity {
        pairs: vec![
            ("table".into(), ACCOUNT_DAILY.to_owned()),
            ("snapshot_date".into(), ctx.day.clone()),
            ("run_id".into(), ctx.run_id.to_owned()),
            (
                "postpress_etl_version".into(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ],
    };
    let batch = daily::batch(rows, ctx.days)?;
    let schema = batch.schema();
    let mut w = TableWriter::new(ctx.store.clone(), dir, schema, &ctx.writer, &identity);
    let write_error = |source| FinalizeError::Write {
        date: ctx.day.clone(),
        source,
    };
    if let Err(e) = w.write(&batch).await {
        w.abort().await;
        return Err(write_error(e));
    }
    let rows = w.rows();
    let parts = w.finish().await.map_err(write_error)?;
    Ok(StagedTable {
        table: ACCOUNT_DAILY,
        provider: None,
        parts,
        rows,
    })
}
