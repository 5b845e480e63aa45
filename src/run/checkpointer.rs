//! A unit's checkpoint writer (SPEC §10): every `checkpoint_rows` rows while the unit pages it
//! closes the part, makes it durable, and only then writes `checkpoint.json`; before the publish
//! it marks the checkpoint complete, and removes it once the unit is published. Also the store
//! operations on one unit's checkpoint: whether its parts are all staged, and discarding it.
//!
//! Knows the part writer and the staging layout; knows nothing about HTTP.

use super::checkpoint::{Checkpoint, CheckpointPart, FORMAT_VERSION, State};
use super::unit_staging::UnitStaging;
use crate::sink::lease::timestamp;
use crate::sink::parquet::{PartWriter, StagedPart};
use crate::sink::{self, SinkError, staging};
use chrono::Utc;
use object_store::path::Path;
use tracing::{info, warn};

/// Who writes a unit's checkpoints: the run's identity as a checkpoint records it.
pub(super) struct Writer<'a> {
    pub(super) job: &'a str,
    pub(super) shard: Option<&'a str>,
    pub(super) run_id: &'a str,
    /// Rows between two checkpoints (`output.checkpoint_rows`).
    pub(super) every: u64,
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
    /// The unit's staging in the checkpoint's area.
    staging: UnitStaging,
    run_id: String,
    every: u64,
    since: u64,
    /// Parts named by the last checkpoint written: a later run continues after them.
    kept: usize,
    /// A checkpoint may exist at `path`: one was resumed, or a save was tried (a failed put
    /// may still have landed).
    may_exist: bool,
}

impl Checkpointer {
    /// For a unit starting from page 1, staging into `staging`'s area.
    pub(super) fn fresh(by: &Writer<'_>, staging: UnitStaging) -> Checkpointer {
        let key = staging.key();
        let now = timestamp(Utc::now());
        let cp = Checkpoint {
            version: FORMAT_VERSION,
            job: by.job.to_owned(),
            snapshot_date: key.snapshot_date.to_owned(),
            shard: by.shard.map(str::to_owned),
            dataset: key.dataset.to_string(),
            provider: key.provider.to_string(),
            account_id: key.account_id.to_owned(),
            area: staging.area().to_owned(),
            state: State::Paging,
            cursor: None,
            pages: 0,
            rows: 0,
            position: 0,
            suppressed: 0,
            parts: Vec::new(),
            run_id: by.run_id.to_owned(),
            runs: vec![by.run_id.to_owned()],
            started_at: now.clone(),
            updated_at: now,
        };
        Checkpointer {
            cp,
            staging,
            run_id: by.run_id.to_owned(),
            every: by.every,
            since: 0,
            kept: 0,
            may_exist: false,
        }
    }

    /// For a unit continuing `cp`, whose area `staging` is.
    pub(super) fn resumed(
        by: &Writer<'_>,
        staging: UnitStaging,
        mut cp: Checkpoint,
    ) -> Checkpointer {
        if cp.runs.last().map(String::as_str) != Some(by.run_id) {
            cp.runs.push(by.run_id.to_owned());
        }
        Checkpointer {
            kept: cp.parts.len(),
            cp,
            staging,
            run_id: by.run_id.to_owned(),
            every: by.every,
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
        let saved = match staging::make_durable(self.staging.dest(), &fresh).await {
            Ok(()) => self.save(State::Paging, Some(cursor), &parts, pages).await,
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
    pub(super) async fn complete(&mut self, staged: &[StagedPart], pages: u64) {
        if self.kept == 0 {
            return;
        }
        if let Err(e) = self.save(State::Complete, None, staged, pages).await {
            warn!(error = %crate::error_chain(&e), "The complete checkpoint could not be written.");
        }
    }

    async fn save(
        &mut self,
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
                run_id: self.run_id.clone(),
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
        self.cp.run_id.clone_from(&self.run_id);
        self.cp.updated_at = timestamp(Utc::now());
        let path = self.staging.checkpoint_path();
        sink::put_object(self.staging.store().as_ref(), &path, self.cp.to_json()).await
    }

    /// After the unit is published: its checkpoint goes.
    /// A unit that never checkpointed has nothing to remove: no store call then.
    pub(super) async fn remove(&self) {
        if !self.may_exist {
            return;
        }
        if let Err(e) = self.staging.remove_checkpoint().await {
            warn!(error = %crate::error_chain(&e), "A published unit's checkpoint could not be deleted.");
        }
    }
}
