//! A unit's checkpoint (SPEC §10): `checkpoint.json` beside its staged parts, naming the cursor
//! of the next page, the parts written (rows, bytes, the run that fetched them), rows and
//! position so far, the runs involved and times. It is written only after the parts it names
//! are durable: the part is closed (on S3, its upload completed) and, on a local disk, synced.
//!
//! Two states: `paging` (a later run continues with `cursor`) and `complete` (every page was
//! fetched and the unit is being published; a later run finishes the publish without a
//! request). Only publishing, a refused cursor or age removes a checkpoint.
//!
//! Owns the checkpoint's form, its checks on load, and reading it; the unit writes checkpoints
//! with `checkpointer`. Knows nothing about HTTP.

use crate::model::{Dataset, Provider};
use crate::sink;
use crate::sink::layout::part_file_name;
use crate::sink::lease::parse_timestamp;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// The checkpoint format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Checkpoints older than this are not resumed; they are removed with their staging area.
pub const MAX_AGE: chrono::Duration = chrono::Duration::days(7);

/// Where the unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Still paging: continue with `cursor`.
    Paging,
    /// Every page fetched; publishing.
    Complete,
}

/// A part a checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPart {
    /// `part-00000.parquet`, numbered from 0 in order.
    pub file: String,
    /// Rows in it.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
    /// The run that fetched its rows.
    pub run_id: String,
}

/// `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The job.
    pub job: String,
    pub snapshot_date: String,
    /// `I/N`, or `None` unsharded.
    pub shard: Option<String>,
    /// followers | following.
    pub dataset: String,
    /// linkedin | instagram.
    pub provider: String,
    /// The account.
    pub account_id: String,
    /// The staging area holding the parts.
    pub area: String,
    /// paging | complete.
    pub state: State,
    /// The cursor of the next page (`None` once complete).
    pub cursor: Option<String>,
    /// Pages received so far, by every run.
    pub pages: u64,
    /// Rows in the parts.
    pub rows: u64,
    /// The list position of the next row: rows plus those dropped as suppressed (SPEC §12).
    pub position: u64,
    /// Rows dropped so far because their key is suppressed; absent in older checkpoints.
    #[serde(default)]
    pub suppressed: u64,
    /// The parts, in order.
    pub parts: Vec<CheckpointPart>,
    /// The run that wrote this checkpoint.
    pub run_id: String,
    /// Every run that fetched pages of the unit, in order.
    pub runs: Vec<String>,
    /// When the unit's first page was asked for, RFC 3339.
    pub started_at: String,
    /// When this checkpoint was written, RFC 3339.
    pub updated_at: String,
}

/// A checkpoint that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// It could not be read.
    #[error("checkpoint {path} could not be read")]
    Read {
        /// The file.
        path: String,
        #[source]
        source: sink::Cause<object_store::Error>,
    },
    /// It is not JSON of a checkpoint.
    #[error("checkpoint {path} is not a valid checkpoint")]
    Malformed {
        /// The file.
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Its fields contradict each other or this version.
    #[error("checkpoint {path} cannot be resumed: {problem}")]
    Inconsistent {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

impl Checkpoint {
    /// Parses and checks a checkpoint read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let cp: Checkpoint =
            serde_json::from_slice(bytes).map_err(|source| CheckpointError::Malformed {
                path: path.to_string(),
                source,
            })?;
        match cp.problem() {
            None => Ok(cp),
            Some(problem) => Err(CheckpointError::Inconsistent {
                path: path.to_string(),
                problem,
            }),
        }
    }

    fn problem(&self) -> Option<String> {
        let rows: u64 = self.parts.iter().map(|p| p.rows).sum();
        if self.version != FORMAT_VERSION {
            return Some(format!(
                "format version {} is not {FORMAT_VERSION}",
                self.version
            ));
        }
        if self.unit_key().is_none() {
            return Some(format!(
                "unknown dataset {:?} or provider {:?}",
                self.dataset, self.provider
            ));
        }
        // Suppressed rows leave gaps: the position is the rows plus those dropped.
        if self.parts.is_empty()
            || rows != self.rows
            || self.position != self.rows.saturating_add(self.suppressed)
        {
            return Some(format!(
                "its {} parts hold {rows} rows, it says {} rows at position {}",
                self.parts.len(),
                self.rows,
                self.position
            ));
        }
        if let Some((i, p)) = self
            .parts
            .iter()
            .enumerate()
            .find(|(i, p)| p.file != part_file_name(*i))
        {
            return Some(format!("part {i} is named {:?}", p.file));
        }
        match (self.state, &self.cursor) {
            (State::Paging, None) => Some("paging without a cursor".to_owned()),
            (State::Complete, Some(_)) => Some("complete with a cursor".to_owned()),
            _ => parse_timestamp(&self.updated_at)
                .is_none()
                .then(|| format!("updated_at {:?} is not a time", self.updated_at)),
        }
    }

    /// The unit it belongs to.
    pub fn unit_key(&self) -> Option<(Dataset, Provider)> {
        Some((self.dataset.parse().ok()?, self.provider.parse().ok()?))
    }

    /// When it was written.
    pub fn updated(&self) -> Option<DateTime<Utc>> {
        parse_timestamp(&self.updated_at)
    }

    /// JSON, one key per line.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            version: 1,
            job: "daily".into(),
            snapshot_date: "2026-11-26".into(),
            shard: Some("0/4".into()),
            dataset: "followers".into(),
            provider: "linkedin".into(),
            account_id: "acc_1".into(),
            area: "r1".into(),
            state: State::Paging,
            cursor: Some("c200".into()),
            pages: 200,
            rows: 20_000,
            position: 20_000,
            suppressed: 0,
            parts: (0..2)
                .map(|i| CheckpointPart {
                    file: part_file_name(i),
                    rows: 10_000,
                    bytes: 4096 + i as u64,
                    run_id: "r1".into(),
                })
                .collect(),
            run_id: "r1".into(),
            runs: vec!["r1".into()],
            started_at: "2026-11-26T01:00:00.000Z".into(),
            updated_at: "2026-11-26T01:05:00.000Z".into(),
        }
    }

    fn parse(cp: &Checkpoint) -> Result<Checkpoint, String> {
        Checkpoint::parse(&Path::from("s/checkpoint.json"), &cp.to_json())
            .map_err(|e| e.to_string())
    }

    /// A checkpoint survives its JSON form exactly, with the keys an operator reads.
    #[test]
    fn round_trip() {
        let cp = sample();
        assert_eq!(parse(&cp), Ok(cp.clone()));
        let v: serde_json::Value = serde_json::from_slice(&cp.to_json()).expect("json");
        assert_eq!(v["state"], "paging");
        assert_eq!(v["cursor"], "c200");
        assert_eq!(v["parts"][1]["file"], "part-00001.parquet");
        assert_eq!(v["parts"][1]["run_id"], "r1");
        assert_eq!(
            cp.unit_key(),
            Some((Dataset::Followers, Provider::Linkedin))
        );
    }

    /// A checkpoint that contradicts itself is refused, saying why.
    #[test]
    fn inconsistent_checkpoints_are_refused() {
        let mut c = sample();
        c.rows = 19_999;
        c.position = 19_999;
        assert_eq!(
            parse(&c).expect_err("rows"),
            "checkpoint s/checkpoint.json cannot be resumed: its 2 parts hold 20000 rows, it says 19999 rows at position 19999"
        );
        let mut c = sample();
        c.parts[1].file = "part-00007.parquet".into();
        assert_eq!(
            parse(&c).expect_err("names"),
            "checkpoint s/checkpoint.json cannot be resumed: part 1 is named \"part-00007.parquet\""
        );
        let mut c = sample();
        c.cursor = None;
        assert!(
            parse(&c)
                .expect_err("cursor")
                .ends_with("paging without a cursor")
        );
        let mut c = sample();
        c.version = 2;
        assert!(
            parse(&c)
                .expect_err("version")
                .ends_with("format version 2 is not 1")
        );
        let e = Checkpoint::parse(&Path::from("x"), b"{\"version\": 1}").expect_err("fields");
        assert!(
            e.to_string()
                .starts_with("checkpoint x is not a valid checkpoint"),
            "{e}"
        );
    }
}
