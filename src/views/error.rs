//! Everything that stops `views`, and the exit code each one means.

use crate::job::JobError;

/// Everything that stops `views`.
#[derive(Debug, thiserror::Error)]
pub enum ViewsError {
    /// The job file (or `--output`) is not valid: exit 2.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The working directory is needed to make a relative output path absolute.
    #[error("cannot resolve the relative output path {path:?}: no working directory")]
    NoWorkingDirectory {
        /// The output path as written.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A local output that is not there: nothing was exported to it yet, or a typo.
    #[error(
        "output {path} does not exist; run the job first, or name its output with --output PATH"
    )]
    NoOutput {
        /// The absolute path.
        path: String,
    },
    /// A path DuckDB cannot take as a glob prefix or SQL literal as it is.
    #[error(
        "output {path:?} is not allowed in a view: it {why}; use a path without glob characters (*?[]{{}}), not valid UTF-8 or with a newline"
    )]
    UnusablePath {
        /// The path as resolved.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A local output directory that cannot be listed.
    #[error("cannot list {path}")]
    List {
        /// The directory.
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ViewsError {
    /// The exit code of SPEC §5: 2 for a job, flag or path error, 1 for a destination error.
    pub fn exit(&self) -> crate::report::exit::Exit {
        use crate::report::exit::Exit;
        match self {
            ViewsError::List { .. } | ViewsError::NoWorkingDirectory { .. } => Exit::Fatal,
            _ => Exit::Usage,
        }
    }
}
