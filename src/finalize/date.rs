//! What building one date's tables shares ([`DateCtx`]), and a table partition once staged.

use crate::lifecycle::SuppressedSet;
use crate::model::Provider;
use crate::sink::layout::Layout;
use crate::sink::parquet::{StagedPart, WriterOptions};
use object_store::ObjectStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A table partition written to staging.
#[derive(Debug, Clone)]
pub(crate) struct StagedTable {
    /// The table's directory name.
    pub table: &'static str,
    /// Its provider partition.
    pub provider: Option<Provider>,
    /// Its staged parts.
    pub parts: Vec<StagedPart>,
    /// Rows in them.
    pub rows: u64,
}

/// What building one date's tables shares.
pub(crate) struct DateCtx<'a> {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) layout: &'a Layout,
    pub(super) run_id: &'a str,
    pub(super) staging_area: &'a str,
    pub(super) day: String,
    pub(super) writer: WriterOptions,
    pub(super) cancel: &'a CancellationToken,
    /// Erased keys' hashes: their rows are left out of every table (SPEC §12).
    pub(super) suppressed: SuppressedSet,
}
