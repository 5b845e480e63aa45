//! The `run --summary-json` and `--metrics-file` files: their paths checked before the run,
//! then written once, at the end, whatever the end was.
//!
//! Each file is written to a temporary name beside it and renamed over it, so a reader (the
//! Airflow XCom sidecar, the node-exporter textfile collector, a Pushgateway push) sees the
//! previous file or the new one, never half of one. The temporary name starts with a dot and
//! ends in `.tmp`, so the textfile collector's `*.prom` never matches it.
//!
//! This module writes local files; it must not know what they say beyond asking [`summary`]
//! and [`metrics`] for their text.
//!
//! [`summary`]: super::summary
//! [`metrics`]: super::metrics

use super::metrics;
use super::outcome::{Outcome, RunFacts};
use super::summary::Summary;
use chrono::Utc;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The flag naming the summary file.
pub const SUMMARY_FLAG: &str = "--summary-json";
/// The flag naming the metrics file.
pub const METRICS_FLAG: &str = "--metrics-file";

/// Why a path cannot be one of these files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// It ends in `..` or is a root: no file name.
    NoFileName,
    /// It is an existing directory.
    IsDirectory,
    /// Its directory does not exist (it is not created: a typo should not make a tree).
    NoDirectory {
        /// The directory.
        dir: String,
    },
    /// What should be its directory is a file.
    NotADirectory {
        /// The would-be directory.
        dir: String,
    },
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::NoFileName => f.write_str("names no file"),
            PathProblem::IsDirectory => f.write_str("is a directory"),
            PathProblem::NoDirectory { dir } => write!(f, "directory {dir} does not exist"),
            PathProblem::NotADirectory { dir } => write!(f, "{dir} is not a directory"),
        }
    }
}

/// A summary or metrics file that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportFileError {
    /// The path given cannot be a file (checked before the run: a usage error).
    #[error("{flag} {path}: {problem}; give a file path in an existing directory")]
    BadPath {
        /// The flag.
        flag: &'static str,
        /// The path as given.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The temporary file could not be written.
    #[error("{flag} {path}: cannot write {temp}")]
    Write {
        /// The flag.
        flag: &'static str,
        /// The path as given.
        path: String,
        /// The temporary file.
        temp: String,
        #[source]
        source: std::io::Error,
    },
    /// The temporary file could not be renamed over the path.
    #[error("{flag} {path}: cannot move {temp} into place")]
    Rename {
        /// The flag.
        flag: &'static str,
        /// The path as given.
        path: String,
        /// The temporary file.
        temp: String,
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong with `path` as a file to write, if anything.
pub fn check_path(flag: &'static str, path: &Path) -> Result<(), ReportFileError> {
    let bad = |problem| ReportFileError::BadPath {
        flag,
        path: path.display().to_string(),
        problem,
    };
    if path.file_name().is_none() {
        return Err(bad(PathProblem::NoFileName));
    }
    if path.is_dir() {
        return Err(bad(PathProblem::IsDirectory));
    }
    let dir = parent_dir(path);
    if !dir.exists() {
        return Err(bad(PathProblem::NoDirectory {
            dir: dir.display().to_string(),
        }));
    }
    if !dir.is_dir() {
        return Err(bad(PathProblem::NotADirectory {
            dir: dir.display().to_string(),
        }));
    }
    Ok(())
}

/// The directory a file path is in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory (synced) and a
/// rename: a reader sees the old file or the new one, never half of one. The temporary file is
/// removed on any failure (`tempfile` deletes it when dropped).
pub fn write_atomic(flag: &'static str, path: &Path, bytes: &[u8]) -> Result<(), ReportFileError> {
    let shown = |p: &Path| p.display().to_string();
    let mut temp = tempfile::Builder::new()
        .prefix(".postpress-etl-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(path))
        .map_err(|source| ReportFileError::Write {
            flag,
            path: shown(path),
            temp: shown(parent_dir(path)),
            source,
        })?;
    let written = temp
        .write_all(bytes)
        .and_then(|()| temp.as_file().sync_all());
    if let Err(source) = written {
        return Err(ReportFileError::Write {
            flag,
            path: shown(path),
            temp: shown(temp.path()),
            source,
        });
    }
    temp.persist(path)
        .map(drop)
        .map_err(|e| ReportFileError::Rename {
            flag,
            path: shown(path),
            temp: shown(e.file.path()),
            source: e.error,
        })
}

/// The files a `run` was asked for, written once: the first outcome to be written wins, so a
/// signal handler's late write never replaces the finished run's.
#[derive(Debug, Clone, Default)]
pub struct ReportFiles {
    summary_json: Option<PathBuf>,
    metrics_file: Option<PathBuf>,
    written: Arc<Mutex<bool>>,
}

impl ReportFiles {
    /// The files of `--summary-json` and `--metrics-file`, either or both absent.
    pub fn new(summary_json: Option<PathBuf>, metrics_file: Option<PathBuf>) -> ReportFiles {
        ReportFiles {
            summary_json,
            metrics_file,
            written: Arc::default(),
        }
    }

    /// Checks both paths before the run, so a typo is a usage error now rather than a file
    /// missing at the end. A path that fails is forgotten (nothing will be written there); the
    /// other stays, so the summary can still report a bad metrics path.
    pub fn check(&mut self) -> Result<(), ReportFileError> {
        if let Some(p) = &self.summary_json
            && let Err(e) = check_path(SUMMARY_FLAG, p)
        {
            self.summary_json = None;
            return Err(e);
        }
        if let Some(p) = &self.metrics_file
            && let Err(e) = check_path(METRICS_FLAG, p)
        {
            self.metrics_file = None;
            return Err(e);
        }
        Ok(())
    }

    /// Writes the summary, and the metrics unless the outcome is a usage error, unless an
    /// outcome was written before. Returns what could not be written.
    pub fn write(&self, facts: &RunFacts, outcome: &Outcome<'_>) -> Vec<ReportFileError> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if *written {
            return Vec::new();
        }
        *written = true;
        let mut errors = Vec::new();
        if let Some(path) = &self.summary_json {
            let json = Summary::new(facts, outcome).to_json();
            errors.extend(write_atomic(SUMMARY_FLAG, path, &json).err());
        }
        if let Some(path) = &self.metrics_file
            && let Some(text) = metrics::render(facts, outcome, Utc::now())
        {
            errors.extend(write_atomic(METRICS_FLAG, path, text.as_bytes()).err());
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::super::outcome::fixtures;
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    /// Each bad path is refused before the run with a message naming the flag, the path and
    /// what is wrong.
    #[test]
    fn bad_paths_are_named() {
        let d = dir();
        let file = d.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let msg = |flag, p: &Path| check_path(flag, p).unwrap_err().to_string();
        let root = d.path().display();
        assert_eq!(
            msg(SUMMARY_FLAG, &d.path().join("nope/s.json")),
            format!(
                "--summary-json {root}/nope/s.json: directory {root}/nope does not exist; give a \
                 file path in an existing directory"
            )
        );
        assert_eq!(
            msg(METRICS_FLAG, d.path()),
            format!(
                "--metrics-file {root}: is a directory; give a file path in an existing directory"
            )
        );
        assert_eq!(
            msg(METRICS_FLAG, &file.join("m.prom")),
            format!(
                "--metrics-file {root}/f/m.prom: {root}/f is not a directory; give a file path in \
                 an existing directory"
            )
        );
        assert_eq!(
            msg(SUMMARY_FLAG, Path::new("/")),
            "--summary-json /: names no file; give a file path in an existing directory"
        );
        assert!(
            check_path(SUMMARY_FLAG, &file).is_ok(),
            "an existing file is replaced"
        );
        assert!(
            check_path(SUMMARY_FLAG, Path::new("s.json")).is_ok(),
            "a bare name is in ."
        );
    }

    /// The file is replaced whole and no temporary file is left beside it.
    #[test]
    fn writes_replace_atomically() {
        let d = dir();
        let p = d.path().join("m.prom");
        write_atomic(METRICS_FLAG, &p, b"old\n").unwrap();
        write_atomic(METRICS_FLAG, &p, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m.prom"]);
        let err = write_atomic(METRICS_FLAG, &d.path().join("gone/m.prom"), b"x").unwrap_err();
        assert!(matches!(err, ReportFileError::Write { .. }), "{err}");
    }

    /// The first outcome written wins: a late write (the signal handler's) changes nothing. A
    /// bad metrics path is forgotten by `check`, the summary's kept.
    #[test]
    fn first_outcome_wins() {
        let d = dir();
        let (s, m) = (d.path().join("s.json"), d.path().join("nope/m.prom"));
        let mut files = ReportFiles::new(Some(s.clone()), Some(m));
        assert!(matches!(
            files.check(),
            Err(ReportFileError::BadPath {
                flag: METRICS_FLAG,
                ..
            })
        ));
        let facts = RunFacts::new(Utc::now());
        let r = fixtures::ok();
        assert!(files.write(&facts, &Outcome::Ran(&r)).is_empty());
        let late = Outcome::Abandoned {
            signal: super::super::StopSignal::Terminate,
        };
        assert!(files.clone().write(&facts, &late).is_empty());
        let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&s).unwrap()).unwrap();
        assert_eq!(
            (j["status"].as_str(), j["exit_code"].as_i64()),
            (Some("ok"), Some(0))
        );
        assert!(!d.path().join("nope").exists());
    }
}
