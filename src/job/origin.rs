//! Where a job's values come from, for messages that name it: an account's table or CSV line,
//! and whether an API key can travel in a header. Knows nothing of the rules themselves.

use super::error::JobError;
use std::fmt;
use std::path::Path;

/// Where an account was listed, for its messages.
pub(super) enum Origin<'a> {
    /// `[[accounts]]` number `index` of the job file.
    Table { path: &'a Path, index: usize },
    /// A line of the accounts CSV.
    Csv { path: &'a Path, line: u64 },
}

impl Origin<'_> {
    /// A bad value of the account's `field`: a job-file key, or an accounts-file column.
    pub(super) fn invalid(&self, field: &str, value: impl fmt::Display, allowed: &str) -> JobError {
        match self {
            Origin::Table { path, index } => JobError::InvalidValue {
                path: path.to_path_buf(),
                key: format!("accounts[{index}].{field}"),
                value: value.to_string(),
                allowed: allowed.to_owned(),
            },
            Origin::Csv { path, line } => JobError::AccountsFileValue {
                path: path.to_path_buf(),
                line: *line,
                column: field.to_owned(),
                value: value.to_string(),
                allowed: allowed.to_owned(),
            },
        }
    }
}

impl fmt::Display for Origin<'_> {
    /// `accounts[2]`, or `accounts file accounts.csv, line 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Table { index, .. } => write!(f, "accounts[{index}]"),
            Origin::Csv { path, line } => {
                write!(f, "accounts file {}, line {line}", path.display())
            }
        }
    }
}

/// What `HeaderValue::from_str` accepts: no control bytes but tab (the client sends the key so).
pub(super) fn header_safe(key: &str) -> bool {
    key.bytes().all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}
