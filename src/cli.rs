//! Command-line arguments (clap derive). Values are checked here or at job load, never later.

use crate::progress::ProgressMode;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Export postpress followers/following lists to hive-partitioned Parquet.
#[derive(Debug, Parser)]
#[command(
    name = "postpress-etl",
    version,
    about,
    after_help = "Example:\n  postpress-etl run jobs/demo.toml --snapshot-date 2024-05-02"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the batch job.
    #[command(
        after_help = "Example (Airflow passes {{ ds }}):\n  postpress-etl run job.toml --snapshot-date 2024-05-02 --summary-json summary.json"
    )]
    Run(RunArgs),
    /// Check a job file exactly as `run` would before its first request (the API key's presence
    /// and readability included) and print the plan; sends nothing, writes nothing.
    #[command(after_help = "Example:\n  postpress-etl validate job.toml --shard 0/4")]
    Validate {
        /// The job file.
        job: PathBuf,
        /// Print the plan for this shard only (I/N).
        #[arg(long)]
        shard: Option<String>,
    },
    /// Build the reader tables of a snapshot date (or of each date of a range, in order) from
    /// its published units; reads and writes the output only, needs no API key.
    #[command(
        after_help = "Example (rebuild two days after a backfill):\n  postpress-etl finalize job.toml --snapshot-date 2024-05-01 --to 2024-05-02"
    )]
    Finalize(FinalizeArgs),
    /// Print every dataset/provider schema (the data dictionary), reader tables included.
    #[command(after_help = "Example:\n  postpress-etl schema | less")]
    Schema,
    /// Print DuckDB CREATE VIEW statements over the job's output, one per reader table and unit
    /// dataset; reads the job file and lists the output, needs no API key.
    #[command(
        after_help = "Example:\n  postpress-etl views job.toml > views.sql && duckdb -init views.sql"
    )]
    Views(ViewsArgs),
    /// Delete what the job's [retention] says is too old (SPEC §12); needs no API key.
    #[command(
        after_help = "Example:\n  postpress-etl prune job.toml --snapshot-date 2026-11-26 --dry-run"
    )]
    Prune(PruneArgs),
    /// Remove every row of the given people from the whole output and keep them out of later
    /// runs (SPEC §12); needs no API key.
    #[command(
        after_help = "Example:\n  postpress-etl erase job.toml --keys-file /var/run/secrets/erase/keys.txt"
    )]
    Erase(EraseArgs),
}

/// `views` flags.
#[derive(Debug, clap::Args)]
pub struct ViewsArgs {
    /// The job file (TOML): its output; its API key is not needed.
    pub job: PathBuf,
    /// Output to read, overriding output.url: a path, file:///abs/path or s3://bucket/prefix.
    #[arg(long)]
    pub output: Option<String>,
}

/// `prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The job file (TOML): its [retention] and output.
    pub job: PathBuf,
    /// The date the limits count back from, YYYY-MM-DD (Airflow: {{ ds }}); default: today in UTC.
    #[arg(long)]
    pub snapshot_date: Option<String>,
    /// Destination, overriding output.url: a path, file:///abs/path or s3://bucket/prefix.
    #[arg(long)]
    pub output: Option<String>,
    /// Print per table and date the objects and bytes that would go; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for runs, finalizes and other lifecycle commands of the output.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub wait: String,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `erase` flags. Keys come from `--key` or `--keys-file` (a mounted Secret), never both.
#[derive(Debug, clap::Args)]
pub struct EraseArgs {
    /// The job file (TOML): its output.
    pub job: PathBuf,
    /// A follower's `id` or a followed member's `member_id`; repeatable.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// A file of keys, one per line (blank lines and lines starting with # skipped).
    #[arg(long, value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    /// Destination, overriding output.url: a path, file:///abs/path or s3://bucket/prefix.
    #[arg(long)]
    pub output: Option<String>,
    /// Print the files and row counts that would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for runs, finalizes and other lifecycle commands of the output.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub wait: String,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `finalize` flags.
#[derive(Debug, clap::Args)]
pub struct FinalizeArgs {
    /// The job file (TOML): its accounts and output; its API key is not needed.
    pub job: PathBuf,
    /// The snapshot date YYYY-MM-DD whose tables to build (Airflow: {{ ds }}).
    #[arg(long)]
    pub snapshot_date: String,
    /// Rebuild every date from --snapshot-date to this one (YYYY-MM-DD), in date order.
    #[arg(long)]
    pub to: Option<String>,
    /// Destination, overriding output.url: a path, file:///abs/path or s3://bucket/prefix.
    #[arg(long)]
    pub output: Option<String>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `run` flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// Snapshot date YYYY-MM-DD (Airflow: {{ ds }}); default: today in UTC.
    #[arg(long)]
    pub snapshot_date: Option<String>,
    /// Destination, overriding output.url: a path, file:///abs/path or s3://bucket/prefix.
    #[arg(long)]
    pub output: Option<String>,
    /// Keep only accounts whose stable hash mod N is I: I/N, or auto/N to read JOB_COMPLETION_INDEX.
    #[arg(long)]
    pub shard: Option<String>,
    /// Units in flight, overriding fetch.concurrency.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Skip every unit already published for the snapshot date (by any run of the job): what a
    /// retried pod or Airflow task wants. Without it a rerun replaces.
    #[arg(long)]
    pub skip_published: bool,
    /// Write the run's summary as one JSON object to this file, on every exit
    /// (Airflow: /airflow/xcom/return.json).
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// Write the run's metrics in the Prometheus text format to this file, on every exit but
    /// a usage error.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// The `--summary-json` path of a `run` command line that clap rejected, so that even a usage
/// error reaches the scheduler's summary file. Stops at `--`; `None` for other commands.
pub fn summary_json_in(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    if args.get(1).is_none_or(|a| a != "run") {
        return None;
    }
    let mut it = args.iter().skip(2);
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        if a == "--summary-json" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--summary-json=")) {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    /// The summary path is found in a `run` command line clap rejected, in both spellings.
    #[test]
    fn summary_json_is_found_in_rejected_run_lines() {
        let got = |a: &[&str]| summary_json_in(&args(a));
        let want = Some(PathBuf::from("/x/s.json"));
        assert_eq!(
            got(&[
                "etl",
                "run",
                "j.toml",
                "--bogus",
                "--summary-json",
                "/x/s.json"
            ]),
            want
        );
        assert_eq!(
            got(&[
                "etl",
                "run",
                "--summary-json=/x/s.json",
                "--concurrency",
                "x"
            ]),
            want
        );
        assert_eq!(got(&["etl", "run", "j.toml", "--summary-json"]), None);
        assert_eq!(
            got(&["etl", "run", "--", "--summary-json", "/x/s.json"]),
            None
        );
        assert_eq!(
            got(&["etl", "validate", "--summary-json", "/x/s.json"]),
            None
        );
        assert_eq!(got(&["etl"]), None);
    }
}
