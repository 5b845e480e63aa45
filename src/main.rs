//! The `postpress-etl` binary: parse the command line, set up logging, call the library, map the
//! outcome to an exit code.

use anyhow::Context as _;
use clap::Parser;
use postpress_etl::cli::{Cli, Command, FinalizeArgs, LogFormat, RunArgs};
use postpress_etl::finalize::{self, FinalizeOptions};
use postpress_etl::job::{Job, LoadOptions};
use postpress_etl::report::StopSignal;
use postpress_etl::run::{self, RunOptions, Shard, Stop};
use postpress_etl::schema::Registry;
use std::process::ExitCode;

/// Exit codes of SPEC §5.
const EXIT_USAGE: u8 = 2;
const EXIT_FATAL: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schema => match Registry::load() {
            Ok(r) => {
                print!("{}", r.dictionary());
                ExitCode::SUCCESS
            }
            Err(e) => fail(EXIT_FATAL, &anyhow::Error::new(e)),
        },
        Command::Validate { job, shard } => validate(&job, shard.as_deref()),
        Command::Run(args) => run_command(args),
        Command::Finalize(args) => finalize_command(args),
    }
}

fn fail(code: u8, e: &anyhow::Error) -> ExitCode {
    eprintln!("postpress-etl: error: {e:#}");
    ExitCode::from(code)
}

fn parse_shard(s: Option<&str>) -> Result<Option<Shard>, anyhow::Error> {
    s.map(|s| Shard::parse(s, std::env::var("JOB_COMPLETION_INDEX").ok().as_deref()))
        .transpose()
        .map_err(anyhow::Error::new)
}

fn validate(path: &std::path::Path, shard: Option<&str>) -> ExitCode {
    let shard = match parse_shard(shard) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    let job = match Job::load(path, &LoadOptions::from_env(None, false)) {
        Ok(j) => j,
        Err(e) => return fail(EXIT_USAGE, &anyhow::Error::new(e)),
    };
    let units = run::plan(&job, shard);
    println!("job {} ({}) is valid", job.name, job.path.display());
    println!(
        "  api: {} (key: {})",
        job.api.base_url, job.api.api_key_source
    );
    println!(
        "  fetch: concurrency {}, {} requests/s for the key, {} requests/min per account, {} attempts",
        job.fetch.concurrency,
        job.fetch.requests_per_second,
        job.fetch.account_requests_per_minute,
        job.fetch.max_attempts
    );
    println!(
        "  output: {} ({:?}, {} rows per file, {} rows per row group)",
        job.output.url,
        job.output.compression,
        job.output.max_rows_per_file,
        job.output.row_group_rows
    );
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
    ExitCode::SUCCESS
}

/// The longest range `finalize --to` rebuilds in one go.
const MAX_FINALIZE_DAYS: i64 = 3660;

/// `--snapshot-date` and `--to` of `finalize`, checked.
fn finalize_dates(
    args: &FinalizeArgs,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), anyhow::Error> {
    let date = |flag: &str, s: &str| {
        run::parse_snapshot_date(s).ok_or_else(|| {
            anyhow::anyhow!("{flag} {s:?} is not allowed; use a real date as YYYY-MM-DD")
        })
    };
    let from = date("--snapshot-date", &args.snapshot_date)?;
    let Some(to) = args.to.as_deref() else {
        return Ok((from, from));
    };
    let to = date("--to", to)?;
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
    let (from, to) = match finalize_dates(&args) {
        Ok(d) => d,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    // No API key: finalize sends no request (its pods mount no Secret).
    let job = match Job::load(
        &args.job,
        &LoadOptions::from_env(args.output.clone(), false),
    ) {
        Ok(j) => j,
        Err(e) => return fail(EXIT_USAGE, &anyhow::Error::new(e)),
    };
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            return fail(EXIT_FATAL, &e);
        }
    };
    let opts = FinalizeOptions {
        from,
        to,
        run_id: run::new_run_id(),
    };
    let stop = Stop::new();
    let outcome = runtime.block_on(async {
        spawn_signal_handler(stop.clone());
        finalize::run_command(&job, &opts, stop.token()).await
    });
    match outcome {
        Ok(report) => {
            print!("{}", report.summary());
            for n in &report.no_units {
                eprintln!("postpress-etl: error: {}", n.message);
            }
            ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(EXIT_FATAL))
        }
        Err(e) if e.is_interrupted() => {
            eprintln!("postpress-etl: {e}");
            match stop.received() {
                Some(StopSignal::Interrupt) => ExitCode::from(130),
                _ => ExitCode::from(143),
            }
        }
        Err(e) => fail(EXIT_FATAL, &anyhow::Error::new(e)),
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn run_command(args: RunArgs) -> ExitCode {
    let snapshot_date = match args.snapshot_date.as_deref() {
        None => run::today_utc(),
        Some(s) => match run::parse_snapshot_date(s) {
            Some(d) => d,
            None => {
                return fail(
                    EXIT_USAGE,
                    &anyhow::anyhow!(
                        "--snapshot-date {s:?} is not allowed; use a real date as YYYY-MM-DD"
                    ),
                );
            }
        },
    };
    let shard = match parse_shard(args.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    if args.concurrency == Some(0) {
        return fail(
            EXIT_USAGE,
            &anyhow::anyhow!("--concurrency 0 is not allowed; use 1 or more"),
        );
    }
    let job = match Job::load(&args.job, &LoadOptions::from_env(args.output.clone(), true)) {
        Ok(j) => j,
        Err(e) => return fail(EXIT_USAGE, &anyhow::Error::new(e)),
    };
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return fail(
                EXIT_FATAL,
                &anyhow::Error::new(e).context("cannot start the async runtime"),
            );
        }
    };
    let opts = RunOptions {
        snapshot_date,
        shard,
        concurrency: args.concurrency.map(|c| c as usize),
        progress: args.progress,
    };
    let outcome = runtime.block_on(async {
        let stop = Stop::new();
        spawn_signal_handler(stop.clone());
        run::run(&job, opts, stop).await
    });
    match outcome.context("the run could not start; nothing was fetched") {
        Ok(report) => {
            print!("{}", report.summary());
            let code = report.exit_code();
            // Leave without waiting for abandoned requests: the manifest is written.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FATAL))
        }
        Err(e) => fail(EXIT_FATAL, &e),
    }
}

/// First SIGINT/SIGTERM: stop sending, abandon units, write the manifest; a watchdog exits if
/// that takes longer than the grace period. A second signal exits at once.
fn spawn_signal_handler(stop: Stop) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("Signal handlers could not be installed.");
            return;
        };
        let first = tokio::select! {
            _ = int.recv() => StopSignal::Interrupt,
            _ = term.recv() => StopSignal::Terminate,
        };
        let code = if first == StopSignal::Interrupt {
            130
        } else {
            143
        };
        tracing::warn!(signal = ?first, "Stop requested: no new requests, units in flight are abandoned unpublished.");
        stop.signal(first);
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            () = tokio::time::sleep(run::STOP_GRACE) => {
                tracing::error!("The run did not stop within the grace period; exiting.");
            }
        }
        std::process::exit(code);
    });
}
