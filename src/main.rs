//! The `postpress-etl` binary: parse the command line, set up logging, call the library, map the
//! outcome to an exit code.

use anyhow::Context as _;
use clap::Parser;
use postpress_etl::cli::{self, Cli, Command, EraseArgs, FinalizeArgs, PruneArgs, RunArgs};
use postpress_etl::finalize::{self, FinalizeOptions};
use postpress_etl::job::{Job, LoadOptions};
use postpress_etl::model::SnapshotDate;
use postpress_etl::report::StopSignal;
use postpress_etl::report::exit::Exit;
use postpress_etl::report::files::ReportFiles;
use postpress_etl::report::outcome::{Outcome, RunFacts};
use postpress_etl::run::{self, RunOptions, Shard, Stop};
use postpress_etl::schema::Registry;
use std::process::ExitCode;

mod allocator;
mod logging;

use logging::init_tracing;

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    match cli.command {
        Command::Schema => match Registry::load() {
            Ok(r) => {
                print!("{}", r.dictionary());
                Exit::Done.into()
            }
            Err(e) => fail(Exit::Fatal, &anyhow::Error::new(e)),
        },
        Command::Validate { job, shard } => validate(&job, shard.as_deref()),
        Command::Run(args) => run_command(args),
        Command::Finalize(args) => finalize_command(args),
        Command::Views(args) => match postpress_etl::views::command(&args.job, args.output) {
            Ok(sql) => {
                print!("{sql}");
                Exit::Done.into()
            }
            Err(e) => fail(e.exit(), &anyhow::Error::new(e)),
        },
        Command::Erase(args) => erase_command(args),
        Command::Prune(args) => prune_command(args),
    }
}

fn fail(exit: Exit, e: &anyhow::Error) -> ExitCode {
    eprintln!("postpress-etl: error: {e:#}");
    exit.into()
}

/// A command line clap rejected: a `run` that named a summary file still gets one (status
/// "invalid"); then clap prints its message and exits (2; 0 for --help and --version).
fn usage_error(e: clap::Error) -> ! {
    let args: Vec<_> = std::env::args_os().collect();
    if let (true, Some(path)) = (e.use_stderr(), cli::summary_json_in(&args)) {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let error = first.strip_prefix("error: ").unwrap_or(first);
        let facts = RunFacts::new(chrono::Utc::now());
        write_run_files(
            &ReportFiles::new(Some(path), None),
            &facts,
            &Outcome::Invalid { error },
        );
    }
    e.exit()
}

/// Writes the summary and metrics files of a `run` for how it ended (SPEC §11). A file that
/// cannot be written is reported here and leaves the exit code alone, so the summary's
/// `exit_code` is always the process's.
fn write_run_files(files: &ReportFiles, facts: &RunFacts, outcome: &Outcome<'_>) {
    for e in files.write(facts, outcome) {
        eprintln!("postpress-etl: error: {:#}", anyhow::Error::new(e));
    }
}

/// A `run` that ends before it starts: exit 2 (usage, job file) or 1, its files written first.
fn fail_run(files: &ReportFiles, facts: &RunFacts, exit: Exit, e: &anyhow::Error) -> ExitCode {
    let error = format!("{e:#}");
    let outcome = if exit == Exit::Usage {
        Outcome::Invalid { error: &error }
    } else {
        Outcome::NotStarted { error: &error }
    };
    write_run_files(files, facts, &outcome);
    fail(exit, e)
}

fn parse_shard(s: Option<&str>) -> Result<Option<Shard>, anyhow::Error> {
    s.map(|s| Shard::parse(s, std::env::var("JOB_COMPLETION_INDEX").ok().as_deref()))
        .transpose()
        .map_err(anyhow::Error::new)
}

fn validate(path: &std::path::Path, shard: Option<&str>) -> ExitCode {
    let shard = match parse_shard(shard) {
        Ok(s) => s,
        Err(e) => return fail(Exit::Usage, &e),
    };
    // Everything `run` checks before its first request, the API key's presence and readability
    // included; nothing is written and nothing is contacted.
    let job = match Job::load(path, &LoadOptions::from_env(None, true)) {
        Ok(j) => j,
        Err(e) => return fail(Exit::Usage, &anyhow::Error::new(e)),
    };
    if let Err(e) = postpress_etl::sink::store::check(&job.output.url) {
        return fail(Exit::Usage, &anyhow::Error::new(e));
    }
    let units = run::plan(&job, shard);
    println!("job {} ({}) is valid", job.name, job.path.display());
    println!(
        "  api: {} (key: {})",
        job.api.base_url, job.api.api_key_source
    );
    println!(
        "  fetch: concurrency {}, {}, {} requests/min per account, {} attempts",
        job.fetch.concurrency,
        run::KeyShare::new(job.fetch.requests_per_second, shard),
        job.fetch.account_requests_per_minute,
        job.fetch.max_attempts
    );
    println!(
        "  output: {} ({:?}, {} rows per file, {} rows per row group, a checkpoint every {} rows)",
        job.output.url,
        job.output.compression,
        job.output.max_rows_per_file,
        job.output.row_group_rows,
        job.output.checkpoint_rows
    );
    println!("  retention: {}", job.retention);
    println!(
        "  {} accounts, {} units{}:",
        job.accounts.len(),
        units.len(),
        shard.map(|s| format!(" in shard {s}")).unwrap_or_default()
    );
    for u in &units {
        println!(
            "    {:<40} {:<9} {:<9} limit {}",
            u.account.account_id,
            u.account.provider,
            u.dataset,
            u.account.page_size(u.dataset)
        );
    }
    Exit::Done.into()
}

/// A date flag's value, or an error naming the flag and what it takes.
fn date_flag(flag: &str, s: &str) -> Result<chrono::NaiveDate, anyhow::Error> {
    s.parse::<SnapshotDate>()
        .map(SnapshotDate::date)
        .map_err(|()| anyhow::anyhow!("{flag} {s:?} is not allowed; use a real date as YYYY-MM-DD"))
}

/// `--snapshot-date` of `run` and `prune`: today in UTC when not given.
fn snapshot_date_or_today(s: Option<&str>) -> Result<chrono::NaiveDate, anyhow::Error> {
    s.map_or_else(|| Ok(run::today_utc()), |s| date_flag("--snapshot-date", s))
}

/// The longest range `finalize --to` rebuilds in one go.
const MAX_FINALIZE_DAYS: i64 = 3660;

/// `--snapshot-date` and `--to` of `finalize`, checked.
fn finalize_dates(
    args: &FinalizeArgs,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), anyhow::Error> {
    let from = date_flag("--snapshot-date", &args.snapshot_date)?;
    let Some(to) = args.to.as_deref() else {
        return Ok((from, from));
    };
    let to = date_flag("--to", to)?;
    let days = (to - from).num_days();
    if days < 0 {
        anyhow::bail!(
            "--to {to} is not allowed: it is before --snapshot-date {from}; use a date on or after it"
        );
    }
    if days >= MAX_FINALIZE_DAYS {
        anyhow::bail!(
            "--to {to} is not allowed: it is {days} days after --snapshot-date {from}; rebuild at most {MAX_FINALIZE_DAYS} dates at once"
        );
    }
    Ok((from, to))
}

fn finalize_command(args: FinalizeArgs) -> ExitCode {
    allocator::return_large_buffers();
    let (from, to) = match finalize_dates(&args) {
        Ok(d) => d,
        Err(e) => return fail(Exit::Usage, &e),
    };
    // No API key: finalize sends no request (its pods mount no Secret).
    let job = match Job::load(
        &args.job,
        &LoadOptions::from_env(args.output.clone(), false),
    ) {
        Ok(j) => j,
        Err(e) => return fail(Exit::Usage, &anyhow::Error::new(e)),
    };
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            return fail(Exit::Fatal, &e);
        }
    };
    let run_id = run::new_run_id();
    let opts = FinalizeOptions {
        from,
        to,
        staging_area: run_id.clone(),
        run_id,
    };
    let stop = Stop::new();
    let outcome = runtime.block_on(async {
        // finalize writes no summary or metrics file: nothing for the handler to write.
        let no_files = ReportFiles::new(None, None);
        spawn_signal_handler(
            stop.clone(),
            no_files,
            RunFacts::new(chrono::Utc::now()),
            "the date being built is left unpublished.",
        );
        finalize::run_command(&job, &opts, stop.token()).await
    });
    match outcome {
        Ok(report) => {
            print!("{}", report.summary());
            for n in &report.no_units {
                eprintln!("postpress-etl: error: {}", n.message);
            }
            report.exit().into()
        }
        Err(e) if e.is_interrupted() => {
            eprintln!("postpress-etl: {e}");
            Exit::Signal(stop.received().unwrap_or(StopSignal::Terminate)).into()
        }
        Err(e) => fail(Exit::Fatal, &anyhow::Error::new(e)),
    }
}

fn run_command(args: RunArgs) -> ExitCode {
    let mut facts = RunFacts::new(chrono::Utc::now());
    let mut files = ReportFiles::new(args.summary_json.clone(), args.metrics_file.clone());
    let prepared = files
        .check()
        .map_err(anyhow::Error::new)
        .and_then(|()| prepare(&args, &mut facts));
    let (job, opts) = match prepared {
        Ok(p) => p,
        Err(e) => return fail_run(&files, &facts, Exit::Usage, &e),
    };
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return fail_run(
                &files,
                &facts,
                Exit::Fatal,
                &anyhow::Error::new(e).context("cannot start the async runtime"),
            );
        }
    };
    let outcome = runtime.block_on(async {
        let stop = Stop::new();
        spawn_signal_handler(
            stop.clone(),
            files.clone(),
            facts.clone(),
            "no new requests, units in flight are abandoned unpublished.",
        );
        run::run(&job, opts, stop).await
    });
    match outcome.context("the run could not start; nothing was fetched") {
        Ok(report) => {
            write_run_files(&files, &facts, &Outcome::Ran(&report));
            print!("{}", report.summary());
            let exit = report.exit();
            // Leave without waiting for abandoned requests: the manifest is written.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            exit.into()
        }
        Err(e) => fail_run(&files, &facts, Exit::Fatal, &e),
    }
}

/// The job and run options from the command line, noting in `facts` what is known as it goes;
/// any error here is a usage or job-file error (exit 2).
fn prepare(args: &RunArgs, facts: &mut RunFacts) -> Result<(Job, RunOptions), anyhow::Error> {
    let snapshot_date = snapshot_date_or_today(args.snapshot_date.as_deref())?;
    facts.snapshot_date = Some(snapshot_date.format("%Y-%m-%d").to_string());
    let shard = parse_shard(args.shard.as_deref())?;
    facts.shard = shard.map(|s| s.to_string());
    if args.concurrency == Some(0) {
        anyhow::bail!("--concurrency 0 is not allowed; use 1 or more");
    }
    let job = Job::load(&args.job, &LoadOptions::from_env(args.output.clone(), true))?;
    facts.job = Some(job.name.to_string());
    let opts = RunOptions {
        snapshot_date,
        shard,
        concurrency: args.concurrency.map(|c| c as usize),
        progress: args.progress,
        skip_published: args.skip_published,
        before_tables: Some(allocator::return_large_buffers),
    };
    Ok((job, opts))
}

/// First SIGINT/SIGTERM: stop sending, abandon units, write the manifest; a watchdog exits if
/// that takes longer than the grace period. A second signal exits at once. Either way the
/// summary and metrics files say so, unless the finished run's were written first.
fn spawn_signal_handler(stop: Stop, files: ReportFiles, facts: RunFacts, what: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed before this returns, so a signal arriving as the work starts is not the default
    // action's (an exit without the lease released or the files written).
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("Signal handlers could not be installed.");
        return;
    };
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = int.recv() => StopSignal::Interrupt,
            _ = term.recv() => StopSignal::Terminate,
        };
        let code = if first == StopSignal::Interrupt {
            130
        } else {
            143
        };
        tracing::warn!(signal = ?first, "Stop requested: {what}");
        stop.signal(first);
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            () = tokio::time::sleep(run::STOP_GRACE) => {
                tracing::error!("It did not stop within the grace period; exiting.");
            }
        }
        write_run_files(&files, &facts, &Outcome::Abandoned { signal: first });
        std::process::exit(code);
    });
}

/// A runtime for the commands that only read and write the output.
fn runtime() -> Result<tokio::runtime::Runtime, anyhow::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `erase` (SPEC §12): keys refused or a bad flag exit 2 having changed nothing; a destination
/// error exits 1. No key is ever printed.
fn erase_command(args: EraseArgs) -> ExitCode {
    // A rewrite holds a whole file and its new row groups: large, short-lived buffers.
    allocator::return_large_buffers();
    use postpress_etl::lifecycle::{erase, read_keys, scan::EraseKeys};
    let keys = match read_keys(&args.keys, args.keys_file.as_deref()) {
        Ok(k) => k,
        Err(e) => return fail(Exit::Usage, &anyhow::Error::new(e)),
    };
    let stop = Stop::new();
    let setup = lifecycle_setup(
        &args.job,
        args.output.clone(),
        &args.wait,
        args.dry_run,
        &stop,
    );
    let (job, run) = match setup {
        Ok(s) => s,
        Err(e) => return fail(Exit::Usage, &e),
    };
    init_tracing(args.log_format);
    let opts = erase::EraseOptions {
        hashes: postpress_etl::lifecycle::hashes(&keys),
        keys: EraseKeys::new(keys),
        run,
    };
    lifecycle_run(
        &stop,
        erase::erase(&job, &opts),
        erase::EraseReport::summary,
    )
}

/// `prune` (SPEC §12): exit 0 done, 1 destination error, 2 job or flag error.
fn prune_command(args: PruneArgs) -> ExitCode {
    use postpress_etl::lifecycle::prune;
    let date = match snapshot_date_or_today(args.snapshot_date.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(Exit::Usage, &e),
    };
    let stop = Stop::new();
    let setup = lifecycle_setup(
        &args.job,
        args.output.clone(),
        &args.wait,
        args.dry_run,
        &stop,
    );
    let (job, run) = match setup {
        Ok(s) => s,
        Err(e) => return fail(Exit::Usage, &e),
    };
    init_tracing(args.log_format);
    let opts = prune::PruneOptions { date, run };
    lifecycle_run(
        &stop,
        prune::prune(&job, &opts),
        prune::PruneReport::summary,
    )
}

/// What `erase` and `prune` read before they touch anything: the job (no API key: they send
/// no request), and how they were started: `--dry-run`, `--wait`, a new id, `stop`'s token.
/// Any error here is a usage or job-file error (exit 2).
fn lifecycle_setup(
    job: &std::path::Path,
    output: Option<String>,
    wait: &str,
    dry_run: bool,
    stop: &Stop,
) -> Result<(Job, postpress_etl::lifecycle::Invocation), anyhow::Error> {
    let wait = postpress_etl::lifecycle::lease::parse_wait(wait)?;
    let job = Job::load(job, &LoadOptions::from_env(output, false))?;
    let run = postpress_etl::lifecycle::Invocation {
        dry_run,
        wait,
        cancel: stop.token().clone(),
        id: run::new_run_id(),
    };
    Ok((job, run))
}

/// Runs an erase or a prune with its signal handler, and says how it ended.
fn lifecycle_run<R>(
    stop: &Stop,
    work: impl std::future::Future<Output = Result<R, postpress_etl::lifecycle::LifecycleError>>,
    summary: fn(&R) -> String,
) -> ExitCode {
    let outcome = runtime().and_then(|rt| {
        rt.block_on(async {
            lifecycle_signals(stop);
            work.await
        })
        .map(|r| summary(&r))
        .map_err(anyhow::Error::new)
    });
    lifecycle_ended(stop, outcome)
}

/// SIGINT or SIGTERM stops an erase or prune between two steps and releases its lease (it writes
/// no summary or metrics file).
fn lifecycle_signals(stop: &Stop) {
    let no_files = ReportFiles::new(None, None);
    let facts = RunFacts::new(chrono::Utc::now());
    spawn_signal_handler(
        stop.clone(),
        no_files,
        facts,
        "stopping after the file in hand; every file stays whole.",
    );
}

/// How `erase` or `prune` ended: its summary on stdout and exit 0, 130 or 143 after a signal,
/// or the error and exit 1.
fn lifecycle_ended(stop: &Stop, outcome: Result<String, anyhow::Error>) -> ExitCode {
    use postpress_etl::lifecycle::LifecycleError;
    match outcome {
        Ok(summary) => {
            print!("{summary}");
            Exit::Done.into()
        }
        Err(e) if matches!(e.downcast_ref(), Some(LifecycleError::Interrupted)) => {
            eprintln!("postpress-etl: {e}");
            Exit::Signal(stop.received().unwrap_or(StopSignal::Terminate)).into()
        }
        Err(e) => fail(Exit::Fatal, &e),
    }
}
