//! Command-line arguments (clap derive). Values are checked here or at job load, never later.

use crate::progress::ProgressMode;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Export postpress followers/following lists to hive-partitioned Parquet.
#[derive(Debug, Parser)]
#[command(name = "postpress-etl", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the batch job.
    Run(RunArgs),
    /// Parse and check a job file and print the plan; sends nothing, writes nothing.
    Validate {
        /// The job file.
        job: PathBuf,
        /// Print the plan for this shard only (I/N).
        #[arg(long)]
        shard: Option<String>,
    },
    /// Build the reader tables of a snapshot date (or of each date of a range, in order) from
    /// its published units; reads and writes the output only, needs no API key.
    Finalize(FinalizeArgs),
    /// Print every dataset/provider schema (the data dictionary), reader tables included.
    Schema,
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
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
