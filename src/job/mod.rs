//! The job file: its raw serde model (`file.rs`), validation (`validate.rs`) into [`Job`]
//! (`validated.rs`) and the CSV account list (`accounts_csv.rs`).
//!
//! This module knows the job file's syntax and rules. It must not know about HTTP, Arrow or
//! storage: it hands validated values to the layers that do.

mod accounts;
mod accounts_csv;
mod error;
mod file;
mod origin;
mod retention;
#[cfg(test)]
mod tests;
mod validate;
mod validated;

pub use file::{AccountFile, ApiFile, FetchFile, JobFile, OutputFile};
pub use retention::{MAX_RETENTION_DAYS, Retention, RetentionFile};
pub use validate::{JobError, LoadOptions, Result, api_key_source};
pub use validated::{Account, Api, Fetch, Job, JobName, Output};
