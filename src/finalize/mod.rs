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
//! * `daily` — `account_daily`, and the manifest's account of each unit;
//! * `date` — what building one date's tables shares, and a table staged;
//! * `error` — why it stopped;
//! * `output` — publishing a date's tables and its manifest; `report` — the manifest and outcome;
//! * `memory` — the allocator setting that keeps big accounts' peak memory steady;
//! * here — the dates in order, and what one date takes.
//!
//! It reads and writes the destination only: it never calls the API and needs no API key. Memory
//! is bounded by the largest account: accounts are streamed one at a time, never a whole date.

mod consolidate;
mod daily;
mod date;
mod diff;
mod discover;
mod error;
mod output;
mod read;
pub mod report;

use date::{DateCtx, StagedTable};
pub use error::FinalizeError;
pub use output::ACCOUNT_DAILY;
pub use report::{DateReport, FinalizeReport, NoUnits};

use crate::error_chain as chain;
use crate::job::Job;
use crate::lifecycle::SuppressedSet;
use crate::model::{Dataset, Provider, SnapshotDate};
use crate::schema::{POSITION_COLUMN, Registry};
use crate::sink::exclusive::Leases;
use crate::sink::layout::Layout;
use crate::sink::lease::{Lease, RENEW_EVERY};
use crate::sink::parquet::{ColumnHints, WriterOptions};
use crate::sink::staging;
use crate::sink::store::{self, Destination};
use chrono::{NaiveDate, Utc};
use consolidate::AccountResult;
use discover::{DateListing, Previous, Status, UnitKey};
use report::DateTotals;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

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
    /// Names the manifests and the footers of the tables' files.
    pub run_id: String,
    /// The staging area the tables are built in, removed at the end: the finalize command's
    /// own run id, or, for a run's own tables, an area apart from the run's, which may keep the
    /// checkpoints of its failed units for the next run (SPEC §10).
    pub staging_area: String,
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
    /// Cancelled on a signal, or when the date's lease was taken over by another finalize.
    cancel: CancellationToken,
    suppressed: SuppressedSet,
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
    dest.preflight(&layout.preflight_marker(&opts.staging_area))
        .await
        .map_err(|source| FinalizeError::Preflight {
            destination: dest.display.clone(),
            source,
        })?;
    let leases = Leases::new(&dest, job.output.exclusive_leases);
    leases
        .preflight(&dest, &layout.lease_check_marker(&opts.staging_area))
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
    let layout = Layout::new(&dest.prefix);
    // Read per date once its lease is held and no erase or prune holds the output's (below).
    let suppressed = crate::lifecycle::SuppressedSet::to_be_loaded();
    let mut env = Env {
        job,
        dest,
        layout,
        registry: Registry::load()?,
        units,
        writer: writer_options(job),
        opts,
        cancel: cancel.clone(),
        suppressed,
    };
    let store = dest.store.as_ref();
    let mut previous =
        discover::previous_snapshots(store, &env.layout, &env.units, opts.from).await?;
    let mut report = FinalizeReport::default();
    let mut date = opts.from;
    let leases = Leases::new(dest, job.output.exclusive_leases);
    while date <= opts.to {
        // One finalize per date (SPEC §10): its lease, held while the date is built and published.
        let day = SnapshotDate::from(date).to_string();
        let path = env.layout.finalize_lease(&day);
        let fresh = Lease::new(
            &job.name.to_string(),
            &day,
            None,
            "finalize",
            &opts.run_id,
            Utc::now(),
        );
        let wait = crate::sink::exclusive::Wait::up_to(crate::sink::exclusive::WRITER_WAIT);
        let held = leases
            .take_waiting(&path, fresh, &opts.run_id, "finalize", wait, cancel)
            .await
            .map_err(|source| FinalizeError::Lease {
                date: day.clone(),
                source,
            })?;
        let kept = leases.keep(held, RENEW_EVERY);
        // SPEC §12: wait for a live erase or prune of the output, then read the suppressed set.
        let admitted =
            crate::lifecycle::lease::admit(&leases, store, &env.layout, &opts.run_id, cancel)
                .await
                .map_err(|source| FinalizeError::Lifecycle {
                    date: SnapshotDate::from(date).to_string(),
                    source,
                });
        // A lease lost while building (this finalize looked stale) stops the date unpublished.
        env.cancel = cancel.child_token();
        let lost = kept.lost();
        let stop_date = env.cancel.clone();
        let watcher = tokio::spawn(async move {
            lost.cancelled().await;
            stop_date.cancel();
        });
        let mut outcome = match admitted {
            Ok(set) => {
                env.suppressed = set;
                finalize_date(&env, date, &mut previous).await
            }
            Err(e) => Err(e),
        };
        watcher.abort();
        if kept.lost().is_cancelled() && outcome.is_err() && !cancel.is_cancelled() {
            outcome = Err(FinalizeError::Lease {
                date: day.clone(),
                source: crate::sink::exclusive::LeaseError::Lost {
                    path: path.to_string(),
                    by: "another finalize".to_owned(),
                },
            });
        }
        if let Err(e) = kept.release().await {
            tracing::warn!(error = %chain(&e), "The date's finalize lease could not be released; it goes stale in 90 s.");
        }
        let root = env.layout.staging_root(&opts.staging_area);
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
        codec: job.output.compression,
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

/// Every dataset and provider of the date: its sorted table and its changes, staged.
async fn dataset_tables(
    env: &Env<'_>,
    ctx: &DateCtx<'_>,
    listing: &DateListing,
    previous: &HashMap<UnitKey, Previous>,
) -> Result<(Vec<StagedTable>, HashMap<UnitKey, AccountResult>), FinalizeError> {
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
                consolidate::dataset_tables(ctx, dataset, provider, variant, accounts).await?;
            staged.extend(s);
            results.extend(r.into_iter().map(|a| (a.key.clone(), a)));
        }
    }
    Ok((staged, results))
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
    let day = SnapshotDate::from(date).to_string();
    let store = env.dest.store.as_ref();
    let listing = discover::discover(store, &env.layout, &env.units, &day).await?;
    if !listing.units.values().any(|u| u.status == Status::Ok) {
        return Ok(Err(no_units(env, &day, &listing)));
    }
    let ctx = DateCtx {
        store: env.dest.store.clone(),
        layout: &env.layout,
        run_id: &env.opts.run_id,
        staging_area: &env.opts.staging_area,
        day: day.clone(),
        writer: env.writer,
        cancel: &env.cancel,
        suppressed: env.suppressed.clone(),
    };
    let (mut staged, results) = dataset_tables(env, &ctx, &listing, previous).await?;
    let (rows, reads) = daily::account_rows(&env.units, &listing, previous, &results, date);
    staged.push(daily::stage_daily(&ctx, &rows).await?);
    if env.cancel.is_cancelled() {
        return Err(FinalizeError::Interrupted { date: day });
    }
    let tables =
        output::publish_tables(store, env.dest.part_move(), &env.layout, &day, &staged).await?;
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
        totals: DateTotals::of(&reads),
        units: reads,
        tables,
        manifest: manifest.to_string(),
    };
    // On a local disk the tables are on disk before their manifest names them (SPEC §4).
    let dirs = [env.layout.tables_root()];
    staging::make_published_durable(env.dest, &dirs)
        .await
        .map_err(|source| FinalizeError::Write {
            date: day.clone(),
            source,
        })?;
    output::write_manifest(store, &manifest, &day, report.to_json()).await?;
    Ok(Ok(report))
}
