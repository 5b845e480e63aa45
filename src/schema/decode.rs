//! Page bytes → Arrow `RecordBatch` of the variant, in one pass: a serde visitor writes each
//! item's values straight into column builders (no `serde_json::Value` tree), then the
//! metadata columns are added.
//!
//! Errors carry the account, dataset, page, item index and field. A body that is not JSON (cut
//! short, garbled) is reported apart, because the request is worth retrying.

mod unknown;
mod visit;

pub use unknown::{MAX_UNKNOWN_NAMES, merge_unknown};

use super::variant::Variant;
use crate::lifecycle::SuppressedSet;
use crate::model::Dataset;
use arrow_array::Array as _;
use arrow_array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_select::filter::filter_record_batch;
use serde::de::DeserializeSeed;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use visit::{ColumnBuilder, PageSeed, PageState};

/// A page that breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account {account_id} {dataset} page {page}{}{}: {problem}",
    item.map(|i| format!(" item {i}")).unwrap_or_default(),
    field.as_ref().map(|f| format!(" field {f:?}")).unwrap_or_default())]
pub struct DecodeError {
    pub account_id: String,
    pub dataset: Dataset,
    /// 0-based page number.
    pub page: u64,
    /// 0-based index of the item within the page.
    pub item: Option<usize>,
    /// The field at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// Why a body did not decode.
#[derive(Debug)]
pub enum DecodeFailure {
    /// Not JSON or cut short: worth asking again.
    Unparseable(String),
    /// JSON, but not a valid page.
    Invalid(DecodeError),
}

/// One decoded page.
#[derive(Debug)]
pub struct DecodedPage {
    /// The rows, with the metadata columns.
    pub batch: RecordBatch,
    /// The next cursor; `None` ends the list.
    pub cursor: Option<String>,
    /// Occurrences of fields the schema does not know.
    pub unknown_fields: u64,
    /// Their names (at most [`MAX_UNKNOWN_NAMES`]) and counts.
    pub unknown_names: BTreeMap<String, u64>,
    /// Items the page served: the list position advances by this many, whatever was dropped.
    pub served: usize,
    /// Items dropped because their key is suppressed (SPEC §12).
    pub suppressed: u64,
}

/// Decodes the pages of one unit.
pub struct PageDecoder {
    variant: Arc<Variant>,
    account_id: String,
    dataset: Dataset,
    run_id: String,
    /// The previous page's rows and, per column, string bytes: the next page's builders start
    /// that large, so they are not regrown (and copied) item by item.
    rows_hint: AtomicUsize,
    bytes_hint: Vec<AtomicUsize>,
    /// Erased keys' hashes; their rows never leave the decoder.
    suppressed: SuppressedSet,
    /// The key column's index in the batch.
    key_column: Option<usize>,
}

impl PageDecoder {
    /// A decoder for one unit's pages. The account names its errors; the partition columns
    /// (account, provider, date) are the path's, not the rows'.
    pub fn new(variant: Arc<Variant>, account_id: &str, run_id: &str) -> PageDecoder {
        PageDecoder {
            dataset: variant.dataset,
            rows_hint: AtomicUsize::new(0),
            bytes_hint: variant
                .columns
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            key_column: variant.schema.index_of(&variant.key).ok(),
            variant,
            account_id: account_id.to_owned(),
            run_id: run_id.to_owned(),
            suppressed: SuppressedSet::default(),
        }
    }

    /// The same decoder dropping every row whose key is in `suppressed`; positions stay those
    /// of the list as served, so a dropped row leaves a gap.
    pub fn with_suppressed(mut self, suppressed: SuppressedSet) -> PageDecoder {
        self.suppressed = suppressed;
        self
    }

    /// The variant's unit file schema (API columns then the file's metadata columns).
    pub fn schema(&self) -> arrow_schema::SchemaRef {
        self.variant.schema.clone()
    }

    fn error(
        &self,
        page: u64,
        item: Option<usize>,
        field: Option<&str>,
        problem: impl Into<String>,
    ) -> DecodeError {
        DecodeError {
            account_id: self.account_id.clone(),
            dataset: self.dataset,
            page,
            item,
            field: field.map(str::to_owned),
            problem: problem.into(),
        }
    }

    /// Decodes page number `page` whose first item is at list position `position`.
    pub fn decode(
        &self,
        body: &[u8],
        page: u64,
        position: i64,
        fetched_at_ms: i64,
    ) -> Result<DecodedPage, DecodeFailure> {
        let mut state = self.new_state();
        // One UTF-8 check of the whole body, so the parser need not check every string again.
        let text = std::str::from_utf8(body).map_err(|e| {
            DecodeFailure::Unparseable(format!("page {page} is not valid UTF-8: {e}"))
        })?;
        let mut de = serde_json::Deserializer::from_str(text);
        let result = PageSeed {
            variant: &self.variant,
            st: &mut state,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = result {
            if let Some(err) = state.error.take() {
                let field = err.field.as_deref();
                let invalid = self.error(page, Some(err.item), field, err.problem);
                return Err(DecodeFailure::Invalid(invalid));
            }
            return Err(match e.classify() {
                serde_json::error::Category::Data => {
                    DecodeFailure::Invalid(self.error(page, None, None, e.to_string()))
                }
                _ => DecodeFailure::Unparseable(format!("page {page} is not valid JSON: {e}")),
            });
        }
        if let Some(problem) = self.envelope_problem(&state) {
            return Err(DecodeFailure::Invalid(
                self.error(page, None, None, problem),
            ));
        }
        self.remember_sizes(&state);
        let n = state.rows;
        let batch = self
            .assemble(state.columns, n, position, fetched_at_ms)
            .map_err(|e| {
                let problem = format!("cannot assemble the batch: {e}");
                DecodeFailure::Invalid(self.error(page, None, None, problem))
            })?;
        let (batch, suppressed) = self.suppress(batch).map_err(|e| {
            let problem = format!("cannot drop suppressed rows: {e}");
            DecodeFailure::Invalid(self.error(page, None, None, problem))
        })?;
        Ok(DecodedPage {
            batch,
            served: n,
            suppressed,
            cursor: state.cursor,
            unknown_fields: state.unknown,
            unknown_names: state.unknown_names,
        })
    }

    /// The batch without the rows of suppressed keys, and how many those were.
    fn suppress(&self, batch: RecordBatch) -> Result<(RecordBatch, u64), arrow_schema::ArrowError> {
        let (false, Some(i)) = (self.suppressed.is_empty(), self.key_column) else {
            return Ok((batch, 0));
        };
        let Some(keys) = batch.column(i).as_any().downcast_ref::<StringArray>() else {
            return Ok((batch, 0));
        };
        // Each key is hashed once; the mask is built only for a page that holds a listed one.
        let listed: Vec<usize> = (0..keys.len())
            .filter(|&i| keys.is_valid(i) && self.suppressed.contains_key(keys.value(i)))
            .collect();
        if listed.is_empty() {
            return Ok((batch, 0));
        }
        let mut keep = vec![true; keys.len()];
        for &i in &listed {
            keep[i] = false;
        }
        let keep = BooleanArray::from(keep);
        Ok((filter_record_batch(&batch, &keep)?, listed.len() as u64))
    }

    /// Empty builders, sized from the previous page.
    fn new_state(&self) -> PageState {
        let rows_hint = self.rows_hint.load(Relaxed);
        PageState {
            columns: self
                .variant
                .columns
                .iter()
                .zip(&self.bytes_hint)
                .map(|(c, bytes)| ColumnBuilder::new(c.ty, rows_hint, bytes.load(Relaxed)))
                .collect(),
            rows: 0,
            unknown: 0,
            unknown_names: BTreeMap::new(),
            object: None,
            cursor: None,
            saw_items: false,
            saw_cursor: false,
            error: None,
        }
    }

    /// What is wrong with the page object around the items, if anything.
    fn envelope_problem(&self, state: &PageState) -> Option<String> {
        let expected = &self.variant.list_object;
        match state.object.as_deref() {
            Some(o) if o == expected => {}
            Some(o) => return Some(format!("object is {o:?}, expected {expected:?}")),
            None => return Some(format!("no \"object\" field, expected {expected:?}")),
        }
        if !state.saw_items {
            return Some("no \"items\" field".to_owned());
        }
        if !state.saw_cursor {
            return Some("no \"cursor\" field (null ends the list)".to_owned());
        }
        if state.cursor.as_deref() == Some("") {
            return Some("empty cursor (null ends the list)".to_owned());
        }
        None
    }

    /// Keeps this page's sizes as the next page's builder capacities.
    fn remember_sizes(&self, state: &PageState) {
        if state.rows == 0 {
            return;
        }
        self.rows_hint.store(state.rows, Relaxed);
        for (c, hint) in state.columns.iter().zip(&self.bytes_hint) {
            if let ColumnBuilder::Utf8(b) = c {
                hint.store(b.values_slice().len(), Relaxed);
            }
        }
    }

    /// The API columns plus the file's metadata columns, as one batch of `n` rows.
    fn assemble(
        &self,
        columns: Vec<ColumnBuilder>,
        n: usize,
        position: i64,
        fetched_at_ms: i64,
    ) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut arrays: Vec<ArrayRef> = columns.into_iter().map(ColumnBuilder::finish).collect();
        arrays.push(Arc::new(
            TimestampMillisecondArray::from(vec![fetched_at_ms; n]).with_timezone("UTC"),
        ));
        arrays.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&self.run_id, n),
        )));
        let end = position + i64::try_from(n).unwrap_or(i64::MAX);
        arrays.push(Arc::new(Int64Array::from_iter_values(position..end)));
        RecordBatch::try_new(self.variant.schema.clone(), arrays)
    }
}

#[cfg(test)]
mod tests;
