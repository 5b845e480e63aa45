//! The job file as written: its TOML tables and keys, unknown keys refused, defaults filled.
//! Nothing here is checked beyond its syntax; `validate` makes a `Job` of it.

use super::retention::RetentionFile;
use serde::Deserialize;
use std::path::PathBuf;

/// The job file exactly as written (SPEC §2). Every table rejects unknown keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// Job name, `[a-z0-9_-]+`, recorded in the run manifest.
    pub name: String,
    /// How to reach the API.
    #[serde(default)]
    pub api: ApiFile,
    /// Concurrency, rate limits and retries.
    #[serde(default)]
    pub fetch: FetchFile,
    /// Where and how Parquet is written.
    #[serde(default)]
    pub output: OutputFile,
    /// How long `prune` keeps each kind of data (SPEC §12).
    #[serde(default)]
    pub retention: RetentionFile,
    /// The accounts to export.
    #[serde(default)]
    pub accounts: Vec<AccountFile>,
    /// A CSV file of more accounts, relative to the job file.
    pub accounts_file: Option<PathBuf>,
}

/// `[api]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// Base URL, up to and including the version: `https://api.postpress.ai/api/v1` by default.
    /// `POSTPRESS_BASE_URL` overrides it.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// A file holding the API key (a mounted Kubernetes secret). `POSTPRESS_API_KEY` wins when set.
    pub api_key_file: Option<PathBuf>,
    /// Per-request timeout, humantime ("30s"), for each attempt. Default 30s.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Allow `http://` to a non-loopback host. Default false: the key would travel in clear.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl Default for ApiFile {
    fn default() -> Self {
        ApiFile {
            base_url: default_base_url(),
            api_key_file: None,
            timeout: default_timeout(),
            allow_insecure_http: false,
        }
    }
}

/// `[fetch]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchFile {
    /// (account, dataset) units in flight at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: i64,
    /// Requests per second for the whole API key, all accounts together. Default 5.0.
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    /// Requests per minute per linked account, both datasets together. Default 30.0.
    #[serde(default = "default_rpm")]
    pub account_requests_per_minute: f64,
    /// Attempts per request, the first try included. Default 8.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// Smallest backoff ceiling, humantime. Default 1s.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial: String,
    /// Largest backoff (and cap on Retry-After), humantime. Default 2m.
    #[serde(default = "default_backoff_max")]
    pub backoff_max: String,
    /// Pages per unit at most; a guard against endless cursors. Default 100000.
    #[serde(default = "default_max_pages")]
    pub max_pages: i64,
}

impl Default for FetchFile {
    fn default() -> Self {
        FetchFile {
            concurrency: default_concurrency(),
            requests_per_second: default_rps(),
            account_requests_per_minute: default_rpm(),
            max_attempts: default_max_attempts(),
            backoff_initial: default_backoff_initial(),
            backoff_max: default_backoff_max(),
            max_pages: default_max_pages(),
        }
    }
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// A path, `file:///abs/path` or `s3://bucket/prefix`. Default `./out`. `--output` overrides.
    #[serde(default = "default_output_url")]
    pub url: String,
    /// zstd | snappy | gzip | none. Default zstd.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Rows per Parquet file before rolling over to the next part. Default 1000000.
    #[serde(default = "default_max_rows_per_file")]
    pub max_rows_per_file: i64,
    /// Rows per row group. Default 131072.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: i64,
    /// A unit still paging closes its part and writes a checkpoint every this many rows, so a
    /// later run can continue it after a crash (SPEC §10). Default 100000.
    #[serde(default = "default_checkpoint_rows")]
    pub checkpoint_rows: i64,
    /// Whether a run without `--shard` builds its date's reader tables at its end (SPEC §9).
    /// Default true; sharded runs leave it to `postpress-etl finalize`.
    #[serde(default = "default_tables")]
    pub tables: bool,
    /// Whether leases are exclusive (SPEC §10): taken, renewed and taken over by conditional
    /// writes, so two runs of one job, date and shard, or two finalizes of one date, never
    /// write at once. Default true; a store that ignores conditional writes is then refused
    /// before any request. `false` runs on such a store with advisory leases: the scheduler
    /// must then keep one run per job, date and shard, and one finalize per date.
    #[serde(default = "default_exclusive_leases")]
    pub exclusive_leases: bool,
}

impl Default for OutputFile {
    fn default() -> Self {
        OutputFile {
            url: default_output_url(),
            compression: default_compression(),
            max_rows_per_file: default_max_rows_per_file(),
            row_group_rows: default_row_group_rows(),
            checkpoint_rows: default_checkpoint_rows(),
            tables: default_tables(),
            exclusive_leases: default_exclusive_leases(),
        }
    }
}

/// One `[[accounts]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    /// The linked account id, `[A-Za-z0-9][A-Za-z0-9_.-]*` without `..`.
    pub account_id: String,
    /// linkedin | instagram.
    pub provider: String,
    /// followers and/or following. Default both.
    pub datasets: Option<Vec<String>>,
    /// Passed through as the API's `user_id`.
    pub user_id: Option<String>,
    /// Items per page; default and maximum: followers 100 (linkedin) / 200 (instagram), following 1000.
    pub page_size: Option<i64>,
}

fn default_base_url() -> String {
    "https://api.postpress.ai/api/v1".to_owned()
}
fn default_timeout() -> String {
    "30s".to_owned()
}
fn default_concurrency() -> i64 {
    8
}
fn default_rps() -> f64 {
    5.0
}
fn default_rpm() -> f64 {
    30.0
}
fn default_max_attempts() -> i64 {
    8
}
fn default_backoff_initial() -> String {
    "1s".to_owned()
}
fn default_backoff_max() -> String {
    "2m".to_owned()
}
fn default_max_pages() -> i64 {
    100_000
}
fn default_output_url() -> String {
    "./out".to_owned()
}
fn default_compression() -> String {
    "zstd".to_owned()
}
fn default_max_rows_per_file() -> i64 {
    1_000_000
}
fn default_row_group_rows() -> i64 {
    131_072
}
fn default_exclusive_leases() -> bool {
    true
}

fn default_checkpoint_rows() -> i64 {
    100_000
}
fn default_tables() -> bool {
    true
}
