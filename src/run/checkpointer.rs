//! A unit's checkpoint writer (SPEC §10): every `checkpoint_rows` rows while the unit pages it
//! closes the part, makes it durable, and only then writes `checkpoint.json`; before the publish
//! it marks the checkpoint complete, and removes it once the unit is published. Also the store
//! operations on one unit's checkpoint: whether its parts are all staged, and discarding it.
//!
//! Knows the part writer and the staging layout; knows nothing about HTTP.

use super::RunCtx;
use super::checkpoint::{Checkpoint, CheckpointPart, FORMAT_VERSION, State};
use super::plan::Unit;
use crate::sink::layout::{Area, PartitionKey};
use crate::sink::lease::timestamp;
use crate::sink::parquet::{PartWriter, StagedPart};
use crate::sink::{self, SinkError, staging};
use chrono::Utc;
use futures::TryStreamExt;
use object_store::ObjectMeta;
use object_store::path::Path;
use std::collections::HashMap;
use tracing::{info, warn};

/// The partition key of a unit of this run.
pub(crate) fn unit_key<'a>(ctx: &'a RunCtx, unit: &'a Unit) -> PartitionKey<'a> {
    PartitionKey {
        dataset: unit.dataset,
        provider: unit.account.provider,
        snapshot_date: &ctx.snapshot_date,
        account_id: &unit.account.account_id,
    }
}

/// Where a unit stands after a page: rows written, the list position of its next row (rows
/// plus the suppressed ones), and rows dropped as suppressed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    pub(super) rows: u64,
    pub(super) position: u64,
    pub(super) suppressed: u64,
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
    /// A checkpoint may exist at `path`: one was resumed, or a save was tried (a failed put
    /// may still have landed).
    may_exist: bool,
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
                suppressed: 0,
                parts: Vec::new(),
                run_id: ctx.run_id.clone(),
                runs: vec![ctx.run_id.clone()],
                started_at: now.clone(),
                updated_at: now,
            },
            every: ctx.checkpoint_rows,
            since: 0,
            kept: 0,
            may_exist: false,
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
            may_exist: true,
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
        progress: Progress,
        cursor: Option<&str>,
        pages: u64,
    ) -> Result<(), SinkError> {
        self.since += progress.rows;
        self.cp.position = progress.position;
        self.cp.suppressed = progress.suppressed;
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
        // Counted from here either way: a failed checkpoint is tried again after another
        // `checkpoint_rows` rows, not on every page (which would close a part per page).
        self.since = 0;
        match saved {
            Ok(()) => {
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
        self.may_exist = true;
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
        // `position` and `suppressed` are those of the last page written (`page_written`).
        // A complete checkpoint names every part: its position follows from them.
        if state == State::Complete {
            self.cp.position = self.cp.rows + self.cp.suppressed;
        }
        self.cp.run_id.clone_from(&ctx.run_id);
        self.cp.updated_at = timestamp(Utc::now());
        sink::put_object(ctx.dest.store.as_ref(), &self.path, self.cp.to_json()).await
    }

    /// After the unit is published: its checkpoint goes.
    /// A unit that never checkpointed has nothing to remove: no store call then.
    pub(super) async fn remove(&self, ctx: &RunCtx) {
        if !self.may_exist {
            return;
        }
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

/// Whether a complete checkpoint's publish can be finished: each part it names is still staged
/// or already published, at its size.
pub(crate) async fn parts_publishable(
    ctx: &RunCtx,
    key: &PartitionKey<'_>,
    cp: &Checkpoint,
) -> bool {
    let staged_dir = ctx
        .layout
        .partition(Area::Staging { run_id: &cp.area }, key);
    let final_dir = ctx.layout.partition(Area::Final, key);
    let mut sizes: HashMap<String, Vec<u64>> = HashMap::new();
    for dir in [&staged_dir, &final_dir] {
        let listed: Result<Vec<ObjectMeta>, _> = ctx.dest.store.list(Some(dir)).try_collect().await;
        let Ok(listed) = listed else {
            return false;
        };
        for m in listed {
            let name = m.location.filename().unwrap_or_default().to_owned();
            sizes.entry(name).or_default().push(m.size);
        }
    }
    cp.parts
        .iter()
        .all(|p| sizes.get(&p.file).is_some_and(|s| s.contains(&p.bytes)))
}

/// Deletes a unit's checkpoint and every part staged beside it in its area: a refused cursor,
/// a checkpoint too old, or one whose unit was published since.
pub(crate) async fn discard(ctx: &RunCtx, key: &PartitionKey<'_>, area: &str) {
    let dir = ctx.layout.partition(Area::Staging { run_id: area }, key);
    if let Err(e) = sink::delete_prefix(ctx.dest.store.as_ref(), &dir).await {
        warn!(error = %crate::error_chain(&e), staging = %dir, "A discarded checkpoint's parts could not be deleted.");
    }
}
