//! The validated job: the types everything downstream takes, each value already checked against
//! SPEC §2 (durations parsed, counts non-zero, names and accounts checked), so nothing downstream
//! checks them again.
//!
//! Built by `validate.rs`; knows nothing of the job file's syntax or of how its rules are checked.

use super::retention::Retention;
use crate::api::secret::ApiKey;
use crate::model::{Compression, Dataset, Provider};
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

/// A validated job name, `[a-z0-9_-]+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobName(String);

impl JobName {
    /// Checks the syntax.
    pub fn try_new(s: &str) -> Option<JobName> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        ok.then(|| JobName(s.to_owned()))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The validated job: everything downstream takes this and never re-checks.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job file it came from.
    pub path: PathBuf,
    pub name: JobName,
    /// `[api]`.
    pub api: Api,
    /// `[fetch]`.
    pub fetch: Fetch,
    /// `[output]`.
    pub output: Output,
    /// Accounts, in file order, unique.
    pub accounts: Vec<Account>,
    /// `[retention]`: what `prune` keeps.
    pub retention: Retention,
}

/// Validated `[api]`.
#[derive(Debug, Clone)]
pub struct Api {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// The key; `None` only when loaded without `LoadOptions::require_api_key`.
    pub api_key: Option<ApiKey>,
    /// Where the key came from, for the plan (never the key).
    pub api_key_source: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

/// Validated `[fetch]`.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Units in flight.
    pub concurrency: NonZeroUsize,
    /// Key-wide requests per second (> 0).
    pub requests_per_second: f64,
    /// Per-account requests per minute (> 0).
    pub account_requests_per_minute: f64,
    /// Attempts per request, first included.
    pub max_attempts: NonZeroU32,
    /// Backoff ceiling of the first retry.
    pub backoff_initial: Duration,
    /// Backoff ceiling cap and Retry-After cap.
    pub backoff_max: Duration,
    /// Pages per unit at most.
    pub max_pages: NonZeroU64,
}

/// Validated `[output]`.
#[derive(Debug, Clone)]
pub struct Output {
    /// The destination URL or path as given (parsed by the sink).
    pub url: String,
    pub compression: Compression,
    /// Rows per file.
    pub max_rows_per_file: NonZeroUsize,
    /// Rows per row group.
    pub row_group_rows: NonZeroUsize,
    /// Rows between a paging unit's checkpoints.
    pub checkpoint_rows: NonZeroU64,
    /// An unsharded run builds the reader tables of its date at its end.
    pub tables: bool,
    /// Leases are written conditionally (exclusive), else plainly (advisory).
    pub exclusive_leases: bool,
}

/// One validated account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The checked account id (safe as a path segment).
    pub account_id: String,
    /// Its provider.
    pub provider: Provider,
    /// Datasets to export, unique, in canonical order.
    pub datasets: Vec<Dataset>,
    /// The API's `user_id`, passed through.
    pub user_id: Option<String>,
    /// The page size asked for, if any; see [`Account::page_size`].
    pub page_size: Option<u32>,
}

impl Account {
    /// The `limit` to send for a dataset: the account's page_size, else the provider's maximum.
    pub fn page_size(&self, dataset: Dataset) -> u32 {
        self.page_size
            .unwrap_or_else(|| self.provider.max_page_size(dataset))
    }
}
