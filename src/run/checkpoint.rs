//! A unit's checkpoint (SPEC §10): `checkpoint.json` beside its staged parts, naming the cursor
//! of the next page, the parts written (rows, bytes, the run that fetched them), rows and
//! position so far, the runs involved and times. It is written only after the parts it names
//! are durable: the part is closed (on S3, its upload completed) and, on a local disk, synced.
//!
//! Two states: `paging` (a later run continues with `cursor`) and `complete` (every page was
//! fetched and the unit is being published; a later run finishes the publish without a
//! request). Only publishing, a refused cursor or age removes a checkpoint.
//!
//! Owns the checkpoint's form, its checks on load, and the [`Checkpointer`] a unit writes them
//! with; knows nothing about HTTP.

use super::RunCtx;
use super::plan::Unit;
use crate::model::{Dataset, Provider};
use crate::sink::layout::{Area, PartitionKey, part_file_name};
use crate::sink::lease::{parse_timestamp, timestamp};
use crate::sink::parquet::{PartWriter, StagedPart};
use crate::sink::{self, SinkError, staging};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tracing::{info, warn};

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
    /// `YYYY-MM-DD`.
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
    /// The list position of the next row (= rows).
    pub position: u64,
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
        /// Why.
        #[source]
        source: sink::Cause<object_store::Error>,
    },
    /// It is not JSON of a checkpoint.
    #[error("checkpoint {path} is not a valid checkpoint")]
    Malformed {
        /// The file.
        path: String,
        /// Why.
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
        if self.parts.is_empty() || rows != self.rows || self.position != self.rows {
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

    /// Its parts as the part writer and the publish step know them.
    pub(crate) fn staged(&self, ctx: &RunCtx, key: &PartitionKey<'_>) -> Vec<StagedPart> {
        let area = Area::Staging { run_id: &self.area };
        self.parts
            .iter()
            .enumerate()
            .map(|(i, p)| StagedPart {
                path: ctx.layout.part(area, key, i),
                file_name: p.file.clone(),
                rows: p.rows,
                bytes: p.bytes,
            })
            .collect()
    }

    /// JSON, one key per line.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Reads the checkpoint at `path`; `Ok(None)` when there is none.
pub(crate) async fn load(ctx: &RunCtx, path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let read = async { ctx.dest.store.get(path).await?.bytes().await };
    match read.await {
        Ok(bytes) => Checkpoint::parse(path, &bytes).map(Some),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(CheckpointError::Read {
            path: path.to_string(),
            source: source.into(),
        }),
    }
}

/// The partition key of a unit of this run.
pub(crate) fn unit_key<'a>(ctx: &'a RunCtx, unit: &'a Unit) -> PartitionKey<'a> {
    PartitionKey {
        dataset: unit.dataset,
        provider: unit.account.provider,
        snapshot_date: &ctx.snapshot_date,
        account_id: &unit.account.account_id,
    }
}

/// Writes one unit's checkpoints: every `checkpoint_rows` rows while it pages, `complete` before
/// its publish, and removes them once it is published.
pub(super) struct Checkpointer {
    /// The checkpoint as last written (or resumed); its progress fields are rewritten each time.
    cp: Checkpoint,
    path: Path,
    every: u64,
    since: u64,
    /// Parts named by the last checkpoint written: a later run continues after them.
    kept: usize,
}

impl Checkpointer {
    /// For a unit starting from page 1, staging into `area`.
    pub(super) fn fresh(ctx: &RunCtx, unit: &Unit, area: &str) -> Checkpointer {
        let key = unit_key(ctx, unit);
        let now = timestamp(Utc::now());
        Checkpointer {
            path: ctx.layout.checkpoint(Area::Staging { run_id: area }, &key),
            cp: Checkpoint {
                version: FORMAT_VERSION,
                job: ctx.job.clone(),
                snapshot_date: ctx.snapshot_date.clone(),
                shard: ctx.shard.clone(),
                dataset: unit.dataset.to_string(),
                provider: unit.account.provider.to_string(),
                account_id: unit.account.account_id.clone(),
                area: area.to_owned(),
                state: State::Paging,
                cursor: None,
                pages: 0,
                rows: 0,
                position: 0,
                parts: Vec::new(),
                run_id: ctx.run_id.clone(),
                runs: vec![ctx.run_id.clone()],
                started_at: now.clone(),
                updated_at: now,
            },
            every: ctx.checkpoint_rows,
            since: 0,
            kept: 0,
        }
    }

    /// For a unit continuing `cp`.
    pub(super) fn resumed(ctx: &RunCtx, unit: &Unit, mut cp: Checkpoint) -> Checkpointer {
        let key = unit_key(ctx, unit);
        if cp.runs.last() != Some(&ctx.run_id) {
            cp.runs.push(ctx.run_id.clone());
        }
        Checkpointer {
            path: ctx
                .layout
                .checkpoint(Area::Staging { run_id: &cp.area }, &key),
            kept: cp.parts.len(),
            cp,
            every: ctx.checkpoint_rows,
            since: 0,
        }
    }

    /// Parts named by the last checkpoint: an abandoned unit keeps them.
    pub(super) fn kept(&self) -> usize {
        self.kept
    }

    /// After a page's rows were written: once `checkpoint_rows` rows have come since the last
    /// checkpoint and the list goes on, closes the part, makes it durable and only then writes
    /// the checkpoint. A part that cannot be closed fails the unit; a checkpoint that cannot be
    /// written is only logged (the previous one stays valid).
    pub(super) async fn page_written(
        &mut self,
        ctx: &RunCtx,
        writer: &mut PartWriter,
        rows: u64,
        cursor: Option<&str>,
        pages: u64,
    ) -> Result<(), SinkError> {
        self.since += rows;
        let Some(cursor) = cursor else {
            return Ok(());
        };
        if self.since < self.every {
            return Ok(());
        }
        let parts = writer.checkpoint().await?.to_vec();
        // Everything after the last checkpoint written: synced again if that one failed.
        let fresh: Vec<Path> = parts[self.kept.min(parts.len())..]
            .iter()
            .map(|p| p.path.clone())
            .collect();
        let saved = match staging::make_durable(&ctx.dest, &fresh).await {
            Ok(()) => {
                self.save(ctx, State::Paging, Some(cursor), &parts, pages)
                    .await
            }
            Err(e) => Err(e),
        };
        match saved {
            Ok(()) => {
                self.since = 0;
                self.kept = parts.len();
                info!(
                    rows = self.cp.rows,
                    pages,
                    parts = parts.len(),
                    "Checkpoint written."
                );
            }
            Err(e) => {
                warn!(error = %crate::error_chain(&e), "A checkpoint could not be written; the previous one stays.")
            }
        }
        Ok(())
    }

    /// Before the publish of a unit that checkpointed: marks it complete, so a crash during the
    /// publish is finished by the next run instead of fetched again.
    pub(super) async fn complete(&mut self, ctx: &RunCtx, staged: &[StagedPart], pages: u64) {
        if self.kept == 0 {
            return;
        }
        if let Err(e) = self.save(ctx, State::Complete, None, staged, pages).await {
            warn!(error = %crate::error_chain(&e), "The complete checkpoint could not be written.");
        }
    }

    async fn save(
        &mut self,
        ctx: &RunCtx,
        state: State,
        cursor: Option<&str>,
        parts: &[StagedPart],
        pages: u64,
    ) -> Result<(), SinkError> {
        let known = self.cp.parts.len().min(parts.len());
        self.cp.parts.truncate(known);
        for p in &parts[known..] {
            self.cp.parts.push(CheckpointPart {
                file: p.file_name.clone(),
                rows: p.rows,
                bytes: p.bytes,
                run_id: ctx.run_id.clone(),
            });
        }
        self.cp.state = state;
        self.cp.cursor = cursor.map(str::to_owned);
        self.cp.pages = pages;
        self.cp.rows = parts.iter().map(|p| p.rows).sum();
        self.cp.position = self.cp.rows;
        self.cp.run_id.clone_from(&ctx.run_id);
        self.cp.updated_at = timestamp(Utc::now());
        sink::put_object(ctx.dest.store.as_ref(), &self.path, self.cp.to_json()).await
    }

    /// After the unit is published: its checkpoint goes.
    pub(super) async fn remove(&self, ctx: &RunCtx) {
        if let Err(e) = sink::delete_if_exists(ctx.dest.store.as_ref(), &self.path).await {
            warn!(error = %crate::error_chain(&e), "A published unit's checkpoint could not be deleted.");
        }
    }
}

/// Whether every part a checkpoint names is staged, at the size it had when it was named.
/// A listing that fails counts as parts missing (the unit then starts again from page 1).
pub(crate) async fn parts_present(
    ctx: &RunCtx,
    key: &PartitionKey<'_>,
    area: &str,
    staged: &[StagedPart],
) -> bool {
    let dir = ctx.layout.partition(Area::Staging { run_id: area }, key);
    let listed: Result<Vec<ObjectMeta>, _> = ctx.dest.store.list(Some(&dir)).try_collect().await;
    let listed = match listed {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %sink::Cause(e), staging = %dir, "A checkpoint's parts could not be listed.");
            return false;
        }
    };
    let sizes: HashMap<&Path, u64> = listed.iter().map(|m| (&m.location, m.size)).collect();
    staged.iter().all(|p| sizes.get(&p.path) == Some(&p.bytes))
}

/// Deletes a unit's checkpoint and every part staged beside it in its area: a refused cursor,
/// a checkpoint too old, or one whose unit was published since.
pub(crate) async fn discard(ctx: &RunCtx, key: &PartitionKey<'_>, area: &str) {
    let dir = ctx.layout.partition(Area::Staging { run_id: area }, key);
    if let Err(e) = sink::delete_prefix(ctx.dest.store.as_ref(), &dir).await {
        warn!(error = %crate::error_chain(&e), staging = %dir, "A discarded checkpoint's parts could not be deleted.");
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
