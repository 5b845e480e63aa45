//! One unit's report: how it ended, why it failed (a kind and a message), and its counts.

use super::skip::SkipReason;
use crate::model::{Dataset, Provider};
use serde::Serialize;
use std::collections::BTreeMap;

/// How a unit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitStatus {
    /// Fetched completely and published.
    Ok,
    /// Failed; nothing published, earlier data of its partition untouched.
    Failed,
    /// Not run to the end because the run stopped (signal or run-fatal error); nothing published.
    Skipped,
}

/// What kind of failure stopped a unit; serialised as the manifest's `kind` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The API answered with an error, or could not be reached.
    Api,
    /// A page that breaks the schema (wrong list object, bad item).
    InvalidPage,
    /// The cursor loop went wrong (same cursor twice, too many pages).
    Pagination,
    /// Writing or publishing to the destination failed.
    Storage,
    /// The run was stopped by a signal.
    Interrupted,
    /// The run stopped on a run-fatal error.
    Aborted,
    /// A bug: the unit panicked.
    Internal,
    /// Not run: its checkpoint is held by a run still alive (SPEC §10), left to finish it.
    HeldByLiveRun,
}

impl FailureKind {
    /// The manifest's string.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Api => "api",
            FailureKind::InvalidPage => "invalid_page",
            FailureKind::Pagination => "pagination",
            FailureKind::Storage => "storage",
            FailureKind::Interrupted => "interrupted",
            FailureKind::Aborted => "aborted",
            FailureKind::Internal => "internal",
            FailureKind::HeldByLiveRun => "held_by_live_run",
        }
    }
}

/// Why a unit failed, with the API's error envelope when there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The whole error chain as one sentence.
    pub message: String,
    /// HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Envelope `type` (or `timeout`, `connection`, ...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Envelope `title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Envelope `detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Envelope `instance`: the request id support asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The page it happened on (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// The item at fault within the page (0-based), for an invalid page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    /// The field at fault, for an invalid page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl UnitFailure {
    /// A failure of `kind` with its message and no other detail.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> UnitFailure {
        UnitFailure {
            kind,
            message: message.into(),
            status: None,
            error_type: None,
            title: None,
            detail: None,
            instance: None,
            page: None,
            item: None,
            field: None,
        }
    }

    /// The envelope type, or else the kind: what the summary shows.
    pub fn label(&self) -> &str {
        self.error_type.as_deref().unwrap_or(self.kind.as_str())
    }
}

/// One unit's outcome and counters.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub account_id: String,
    pub dataset: Dataset,
    pub provider: Provider,
    /// ok | failed | skipped.
    pub status: UnitStatus,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    /// The run whose checkpoint this unit continued (SPEC §10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// Pages not requested again thanks to that checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_skipped: Option<u64>,
    /// Pages received by this run.
    pub pages: u64,
    /// Records of the unit: received (and, when ok, published), those of a resumed checkpoint
    /// included.
    pub records: u64,
    /// HTTP requests, retries included.
    pub attempts: u64,
    pub retries: u64,
    /// "Too fast" answers (429, x-ratelimit-remaining: 0).
    pub throttles: u64,
    /// Retryable failures other than throttles.
    pub faults: u64,
    /// Page bytes received.
    pub bytes: u64,
    /// Parquet bytes published.
    pub output_bytes: u64,
    /// Published file names.
    pub files: Vec<String>,
    /// Stale parts of earlier runs removed from the partition.
    pub stale_files_removed: u64,
    /// Rows dropped before staging because their key was erased (SPEC §12); `records`
    /// counts the rows published without them.
    pub suppressed: u64,
    /// Occurrences of item fields the schema does not know (ignored).
    pub unknown_fields: u64,
    /// Their names and counts (the first few names).
    pub unknown_field_names: BTreeMap<String, u64>,
    /// Wall time of the unit.
    pub duration_ms: u64,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<UnitFailure>,
}

impl UnitReport {
    /// A report with zero counters.
    pub fn new(account_id: &str, dataset: Dataset, provider: Provider) -> UnitReport {
        UnitReport {
            account_id: account_id.to_owned(),
            dataset,
            provider,
            status: UnitStatus::Skipped,
            reason: None,
            resumed_from: None,
            pages_skipped: None,
            pages: 0,
            records: 0,
            attempts: 0,
            retries: 0,
            throttles: 0,
            faults: 0,
            bytes: 0,
            output_bytes: 0,
            files: Vec::new(),
            stale_files_removed: 0,
            suppressed: 0,
            unknown_fields: 0,
            unknown_field_names: BTreeMap::new(),
            duration_ms: 0,
            error: None,
        }
    }
}
