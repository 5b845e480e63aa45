//! `postpress-etl views`: DuckDB `CREATE VIEW` statements over a job's output, one per reader
//! table (SPEC §9) and unit dataset (SPEC §4), so an analyst writes `FROM follower_changes`
//! instead of a `read_parquet` glob.
//!
//! This module knows the output's layout as globs and DuckDB's SQL; it reads nothing but the
//! job file and, for a local output, the directory listing (never a Parquet file, never the API).
//!
//! This file is the command itself; one concern per file below it:
//!
//! * `error.rs`: [`ViewsError`] and its exit code.
//! * `root.rs`: where the output is, as DuckDB will read it ([`Root`]).
//! * `sql.rs`: the views and the SQL that creates them ([`VIEWS`], [`render`]), with the S3
//!   secret's settings ([`S3Settings`]).
//! * `listing.rs`: whether a view's glob matches a file of a local output ([`local_presence`]).

mod error;
mod listing;
mod root;
mod sql;

pub use error::ViewsError;
pub use listing::local_presence;
pub use root::Root;
pub use sql::{Presence, S3Settings, VIEWS, View, render};

use crate::job::{Job, LoadOptions};
use std::path::Path;

/// The whole command: load the job (no API key needed), resolve its output, list it when it is
/// local, and return the SQL to print.
pub fn command(job: &Path, output: Option<String>) -> Result<String, ViewsError> {
    let job = Job::load(job, &LoadOptions::from_env(output, false))?;
    let root = Root::resolve(&job.output.url, std::env::current_dir)?;
    match &root {
        Root::S3(_) => Ok(render(
            &root,
            &S3Settings::from_vars(|k| std::env::var(k).ok()),
            |_| Presence::Unknown,
        )),
        Root::Local(dir) => {
            if !dir.is_dir() {
                return Err(ViewsError::NoOutput {
                    path: dir.display().to_string(),
                });
            }
            let mut found = Vec::with_capacity(VIEWS.len());
            for v in &VIEWS {
                found.push((v.name, local_presence(dir, v.glob)?));
            }
            Ok(render(&root, &S3Settings::default(), |v| {
                found
                    .iter()
                    .find(|(n, _)| *n == v.name)
                    .map_or(Presence::NoFiles, |(_, p)| *p)
            }))
        }
    }
}
