//! Everything that can be wrong with a job file, each a variant with the file, the key, the
//! value and what is allowed as fields.

use std::path::PathBuf;

/// Result alias of the job layer.
pub type Result<T, E = JobError> = std::result::Result<T, E>;

/// Everything that can be wrong with a job file. Each is an exit-2 usage error.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job file cannot be read.
    #[error("cannot read job file {path}")]
    Read {
        /// The job file.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("job file {path} is not valid: {message}")]
    Parse {
        /// The job file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A value breaks a rule.
    #[error("job file {path}: {key} = {value} is not allowed; {allowed}")]
    InvalidValue {
        /// The job (or accounts) file.
        path: PathBuf,
        /// The key, e.g. `accounts[2].provider` or `fetch.concurrency`.
        key: String,
        /// The value as written.
        value: String,
        /// What would be accepted.
        allowed: String,
    },
    /// The same account listed twice.
    #[error(
        "job file {path}: account_id {account_id:?} is listed twice ({first} and {second}); list each account once, with datasets = [\"followers\", \"following\"] for both lists"
    )]
    DuplicateAccount {
        /// The job file.
        path: PathBuf,
        /// The repeated id.
        account_id: String,
        /// Where it appeared first.
        first: String,
        /// Where it appeared again.
        second: String,
    },
    /// No accounts at all.
    #[error(
        "job file {path}: no accounts; add [[accounts]] tables or accounts_file = \"accounts.csv\""
    )]
    NoAccounts {
        /// The job file.
        path: PathBuf,
    },
    /// No API key in the environment or the key file.
    #[error(
        "job file {path}: no API key; set the environment variable POSTPRESS_API_KEY or api.api_key_file (the key is never read from the job file or a flag)"
    )]
    MissingApiKey {
        /// The job file.
        path: PathBuf,
    },
    /// The key file named by `api.api_key_file` cannot be read or is empty.
    #[error("job file {path}: api.api_key_file = {key_file:?} cannot be used: {reason}")]
    ApiKeyFile {
        /// The job file.
        path: PathBuf,
        /// The key file.
        key_file: PathBuf,
        /// Why it is unusable (never the key's content).
        reason: String,
    },
    /// The accounts CSV cannot be read or parsed.
    #[error("accounts file {path}: {message}")]
    AccountsFile {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// A cell of the accounts CSV breaks a rule.
    #[error(
        "accounts file {path}, line {line}, column {column}: {value} is not allowed; {allowed}"
    )]
    AccountsFileValue {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// The column, e.g. `provider`.
        column: String,
        /// The value as written.
        value: String,
        /// What would be accepted.
        allowed: String,
    },
    /// A flag or environment variable that overrides the job file holds a bad value: the
    /// message names it, not the job file.
    #[error("{name} {value} is not allowed; {allowed}")]
    Override {
        /// `--output`, or `environment variable POSTPRESS_BASE_URL`.
        name: String,
        /// The value as given.
        value: String,
        /// What would be accepted.
        allowed: String,
    },
    /// The API key holds bytes an HTTP header cannot carry (never the key itself).
    #[error(
        "the API key from {source_name} cannot be sent: it holds a line break or another control character; put the key alone on one line"
    )]
    ApiKeyNotHeaderSafe {
        /// Where the key came from: the variable or the file.
        source_name: String,
    },
}
