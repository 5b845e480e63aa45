//! The difference of an account's list on D and on its previous complete snapshot P, by the
//! item key the schema declares: gained = in D and not in P, lost = in P and not in D.
//!
//! Only P's keys are held, once each, in one byte arena with a hash table of indices into it
//! (about 40 bytes per key for ids of 20 characters), plus a "seen in D" bit per key: D's rows
//! are streamed past it once, P's rows once more to emit the lost ones. Nothing else of either
//! day is held. It knows nothing about storage.

use super::error::FinalizeError;
use crate::schema::tables::{GAINED, LOST};
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use arrow_select::filter::filter_record_batch;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

/// The distinct keys of P's list, and which of them D's list has.
pub(super) struct KeyIndex {
    arena: Vec<u8>,
    ends: Vec<usize>,
    table: HashTable<u32>,
    seen: Vec<bool>,
    hasher: RandomState,
}

impl KeyIndex {
    /// An empty index.
    #[cfg(test)]
    pub(super) fn new() -> KeyIndex {
        KeyIndex::with_capacity(0, 0)
    }

    /// An empty index sized for `keys` keys of `bytes` bytes in all (from the files' footers),
    /// so that a big account's index is allocated once rather than grown by doubling, which
    /// briefly holds the old and the new copy.
    pub(super) fn with_capacity(keys: usize, bytes: usize) -> KeyIndex {
        KeyIndex {
            arena: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(keys),
            table: HashTable::with_capacity(keys),
            seen: Vec::with_capacity(keys),
            hasher: RandomState::new(),
        }
    }

    fn find(&self, key: &str) -> Option<u32> {
        let h = self.hasher.hash_one(key.as_bytes());
        let (arena, ends) = (&self.arena, &self.ends);
        self.table
            .find(h, |&i| slot(arena, ends, i) == key.as_bytes())
            .copied()
    }

    /// Adds P's keys (a key column); a key listed twice is kept once.
    pub(super) fn add(&mut self, keys: &StringArray) -> Result<(), FinalizeError> {
        for k in keys.iter().flatten() {
            if self.find(k).is_some() {
                continue;
            }
            let id = u32::try_from(self.ends.len()).map_err(|_| FinalizeError::TooManyKeys)?;
            self.arena.extend_from_slice(k.as_bytes());
            self.ends.push(self.arena.len());
            self.seen.push(false);
            let (hasher, arena, ends) = (&self.hasher, &self.arena, &self.ends);
            let h = hasher.hash_one(k.as_bytes());
            self.table
                .insert_unique(h, id, |&i| hasher.hash_one(slot(arena, ends, i)));
        }
        Ok(())
    }

    /// Distinct keys held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// For each of D's keys: true when P does not have it (gained). Marks the others seen.
    pub(super) fn gained(&mut self, keys: &StringArray) -> BooleanArray {
        keys.iter()
            .map(|k| {
                let found = k.and_then(|k| self.find(k));
                if let Some(i) = found {
                    self.seen[i as usize] = true;
                }
                Some(found.is_none())
            })
            .collect()
    }

    /// For each of P's keys: true when D did not have it (lost). Call after every D batch
    /// went through [`KeyIndex::gained`].
    pub(super) fn lost(&self, keys: &StringArray) -> BooleanArray {
        keys.iter()
            .map(|k| {
                Some(
                    k.and_then(|k| self.find(k))
                        .is_none_or(|i| !self.seen[i as usize]),
                )
            })
            .collect()
    }
}

/// Key `i` of the arena.
fn slot<'a>(arena: &'a [u8], ends: &[usize], i: u32) -> &'a [u8] {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &arena[start..ends[i]]
}

/// What a change row says besides the item: its account, P, and gained or lost (D is the
/// path's).
#[derive(Debug, Clone, Copy)]
pub(super) struct ChangeKind<'a> {
    /// The account whose list changed.
    pub account_id: &'a str,
    /// P, days since the epoch.
    pub previous_snapshot_date: i32,
    /// Gained (rows of D) or lost (rows of P).
    pub gained: bool,
}

/// The rows of `batch` (a unit batch of the variant) selected by `mask`, as change rows of
/// `schema` (see `schema::tables::changes_columns`). `None` when no row is selected.
pub(super) fn change_rows(
    batch: &RecordBatch,
    mask: &BooleanArray,
    schema: &SchemaRef,
    kind: ChangeKind<'_>,
) -> Result<Option<RecordBatch>, FinalizeError> {
    if mask.true_count() == 0 {
        return Ok(None);
    }
    let rows = filter_record_batch(batch, mask).map_err(FinalizeError::internal)?;
    let n = rows.num_rows();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> Result<ArrayRef, FinalizeError> {
            Ok(match f.name().as_str() {
                "account_id" => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    kind.account_id,
                    n,
                ))),
                "previous_snapshot_date" => {
                    Arc::new(Date32Array::from(vec![kind.previous_snapshot_date; n]))
                }
                "change" => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    if kind.gained { GAINED } else { LOST },
                    n,
                ))),
                name => rows
                    .column_by_name(name)
                    .cloned()
                    .ok_or_else(|| FinalizeError::internal(format!("no column {name}")))?,
            })
        })
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
        .map(Some)
        .map_err(FinalizeError::internal)
}

/// The key column of a unit batch.
pub(super) fn key_column<'a>(
    batch: &'a RecordBatch,
    key: &str,
) -> Result<&'a StringArray, FinalizeError> {
    batch
        .column_by_name(key)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| FinalizeError::internal(format!("no utf8 key column {key}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> StringArray {
        StringArray::from_iter_values(k.iter().copied())
    }

    fn bools(b: &BooleanArray) -> Vec<bool> {
        b.iter().map(|v| v.unwrap_or(false)).collect()
    }

    /// gained = in D not in P, lost = in P not in D, by key; duplicates in P count once.
    #[test]
    fn gained_and_lost_by_key() {
        let mut ix = KeyIndex::new();
        ix.add(&keys(&["a", "b", "c"])).expect("add");
        ix.add(&keys(&["d", "b"])).expect("add");
        assert_eq!(ix.len(), 4);
        assert_eq!(bools(&ix.gained(&keys(&["e", "a"]))), vec![true, false]);
        assert_eq!(
            bools(&ix.gained(&keys(&["d", "f", ""]))),
            vec![false, true, true]
        );
        assert_eq!(
            bools(&ix.lost(&keys(&["a", "b", "c", "d", "b"]))),
            vec![false, true, true, false, true]
        );
    }

    /// Many keys, including ones that share prefixes, are told apart exactly.
    #[test]
    fn many_keys_are_exact() {
        let p: Vec<String> = (0..20_000).map(|i| format!("id{i}")).collect();
        let d: Vec<String> = (100..20_100).map(|i| format!("id{i}")).collect();
        let mut ix = KeyIndex::new();
        ix.add(&StringArray::from_iter_values(p.iter()))
            .expect("add");
        let g = ix.gained(&StringArray::from_iter_values(d.iter()));
        assert_eq!(g.true_count(), 100);
        let l = ix.lost(&StringArray::from_iter_values(p.iter()));
        assert_eq!(l.true_count(), 100);
        assert!(bools(&l)[..100].iter().all(|b| *b));
    }
}
