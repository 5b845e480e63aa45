//! Page bytes → Arrow `RecordBatch` of the variant, in one pass: a serde visitor writes each
//! item's values straight into column builders (no `serde_json::Value` tree), then the
//! metadata columns are added.
//!
//! Errors carry the account, dataset, page, item index and field. A body that is not JSON (cut
//! short, garbled) is reported apart, because the request is worth retrying.

use super::{ColumnType, Variant};
use crate::model::{Dataset, Provider};
use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{
    ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// How many distinct unknown field names a page or unit remembers (their counts stay exact).
pub const MAX_UNKNOWN_NAMES: usize = 32;

/// A page that breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account {account_id} {dataset} page {page}{}{}: {problem}",
    item.map(|i| format!(" item {i}")).unwrap_or_default(),
    field.as_ref().map(|f| format!(" field {f:?}")).unwrap_or_default())]
pub struct DecodeError {
    /// Account.
    pub account_id: String,
    /// Dataset.
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
}

/// Decodes the pages of one unit.
pub struct PageDecoder {
    variant: Arc<Variant>,
    account_id: String,
    provider: Provider,
    dataset: Dataset,
    snapshot_date: i32,
    run_id: String,
    /// The previous page's rows and, per column, string bytes: the next page's builders start
    /// that large, so they are not regrown (and copied) item by item.
    rows_hint: AtomicUsize,
    bytes_hint: Vec<AtomicUsize>,
}

impl PageDecoder {
    /// A decoder for one unit's pages. `snapshot_date` is days since the epoch.
    pub fn new(
        variant: Arc<Variant>,
        account_id: &str,
        provider: Provider,
        snapshot_date: i32,
        run_id: &str,
    ) -> PageDecoder {
        PageDecoder {
            dataset: variant.dataset,
            rows_hint: AtomicUsize::new(0),
            bytes_hint: variant
                .columns
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            variant,
            account_id: account_id.to_owned(),
            provider,
            snapshot_date,
            run_id: run_id.to_owned(),
        }
    }

    /// The variant's Arrow schema (API columns then metadata columns).
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
        let rows_hint = self.rows_hint.load(Relaxed);
        let mut state = PageState {
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
        };
        // One UTF-8 check of the whole body, so the parser need not check every string again.
        let text = std::str::from_utf8(body).map_err(|e| {
            DecodeFailure::Unparseable(format!("page {page} is not valid UTF-8: {e}"))
        })?;
        let mut de = serde_json::Deserializer::from_str(text);
        let result = PageSeed {
            dec: self,
            st: &mut state,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = result {
            if let Some(err) = state.error.take() {
                return Err(DecodeFailure::Invalid(DecodeError { page, ..err }));
            }
            return Err(match e.classify() {
                serde_json::error::Category::Data => {
                    DecodeFailure::Invalid(self.error(page, None, None, e.to_string()))
                }
                _ => DecodeFailure::Unparseable(format!("page {page} is not valid JSON: {e}")),
            });
        }
        let bad = |problem: String| {
            Err(DecodeFailure::Invalid(
                self.error(page, None, None, problem),
            ))
        };
        match state.object.as_deref() {
            Some(o) if o == self.variant.list_object => {}
            Some(o) => {
                return bad(format!(
                    "object is {o:?}, expected {:?}",
                    self.variant.list_object
                ));
            }
            None => {
                return bad(format!(
                    "no \"object\" field, expected {:?}",
                    self.variant.list_object
                ));
            }
        }
        if !state.saw_items {
            return bad("no \"items\" field".to_owned());
        }
        if !state.saw_cursor {
            return bad("no \"cursor\" field (null ends the list)".to_owned());
        }
        if state.cursor.as_deref() == Some("") {
            return bad("empty cursor (null ends the list)".to_owned());
        }
        let n = state.rows;
        if n > 0 {
            self.rows_hint.store(n, Relaxed);
            for (c, hint) in state.columns.iter().zip(&self.bytes_hint) {
                if let ColumnBuilder::Utf8(b) = c {
                    hint.store(b.values_slice().len(), Relaxed);
                }
            }
        }
        let mut arrays: Vec<ArrayRef> = state
            .columns
            .into_iter()
            .map(ColumnBuilder::finish)
            .collect();
        arrays.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&self.account_id, n),
        )));
        arrays.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(self.provider.as_str(), n),
        )));
        arrays.push(Arc::new(Date32Array::from(vec![self.snapshot_date; n])));
        arrays.push(Arc::new(
            TimestampMillisecondArray::from(vec![fetched_at_ms; n]).with_timezone("UTC"),
        ));
        arrays.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&self.run_id, n),
        )));
        let end = position + i64::try_from(n).unwrap_or(i64::MAX);
        arrays.push(Arc::new(Int64Array::from_iter_values(position..end)));
        let batch = RecordBatch::try_new(self.variant.schema.clone(), arrays).map_err(|e| {
            DecodeFailure::Invalid(self.error(
                page,
                None,
                None,
                format!("cannot assemble the batch: {e}"),
            ))
        })?;
        Ok(DecodedPage {
            batch,
            cursor: state.cursor,
            unknown_fields: state.unknown,
            unknown_names: state.unknown_names,
        })
    }
}

enum ColumnBuilder {
    Utf8(StringBuilder),
    Bool(BooleanBuilder),
    Int64(Int64Builder),
    Ts(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    /// A builder sized for `rows` rows and `bytes` of string data (the previous page's), with
    /// some headroom; the first page of a unit starts small.
    fn new(ty: ColumnType, rows: usize, bytes: usize) -> ColumnBuilder {
        let rows = if rows == 0 { 256 } else { rows + rows / 8 };
        let bytes = if bytes == 0 {
            rows * 48
        } else {
            bytes + bytes / 8
        };
        match ty {
            ColumnType::Utf8 => ColumnBuilder::Utf8(StringBuilder::with_capacity(rows, bytes)),
            ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(rows)),
            ColumnType::Int64 | ColumnType::Date32 => {
                ColumnBuilder::Int64(Int64Builder::with_capacity(rows))
            }
            ColumnType::TimestampMs => {
                ColumnBuilder::Ts(TimestampMillisecondBuilder::with_capacity(rows))
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Ts(b) => b.append_null(),
        }
    }

    fn expected(&self) -> &'static str {
        match self {
            ColumnBuilder::Utf8(_) => "a string",
            ColumnBuilder::Bool(_) => "a boolean",
            ColumnBuilder::Int64(_) => "an integer",
            ColumnBuilder::Ts(_) => "an integer of Unix milliseconds",
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Ts(mut b) => Arc::new(b.finish().with_timezone("UTC")),
        }
    }
}

struct PageState {
    columns: Vec<ColumnBuilder>,
    rows: usize,
    unknown: u64,
    unknown_names: BTreeMap<String, u64>,
    object: Option<String>,
    cursor: Option<String>,
    saw_items: bool,
    saw_cursor: bool,
    /// The structured error behind a `de::Error::custom`, so the caller gets fields, not text.
    error: Option<DecodeError>,
}

impl PageState {
    fn note_unknown(&mut self, name: &str) {
        self.unknown += 1;
        merge_unknown(&mut self.unknown_names, name, 1);
    }
}

/// Adds `n` occurrences of unknown field `name` to `names`, which remembers at most
/// [`MAX_UNKNOWN_NAMES`] distinct names (counts of the names it has stay exact).
pub fn merge_unknown(names: &mut BTreeMap<String, u64>, name: &str, n: u64) {
    if let Some(c) = names.get_mut(name) {
        *c += n;
    } else if names.len() < MAX_UNKNOWN_NAMES {
        names.insert(name.to_owned(), n);
    }
}

/// A map key borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct PageSeed<'a> {
    dec: &'a PageDecoder,
    st: &'a mut PageState,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page object {object, items, cursor}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            match k.as_ref() {
                "object" => self.st.object = map.next_value::<Option<String>>()?,
                "items" => {
                    self.st.saw_items = true;
                    map.next_value_seed(ItemsSeed {
                        dec: self.dec,
                        st: &mut *self.st,
                    })?;
                }
                "cursor" => {
                    self.st.saw_cursor = true;
                    self.st.cursor = map.next_value::<Option<String>>()?;
                }
                other => {
                    let other = other.to_owned();
                    map.next_value::<IgnoredAny>()?;
                    self.st.note_unknown(&other);
                }
            }
        }
        Ok(())
    }
}

struct ItemsSeed<'a> {
    dec: &'a PageDecoder,
    st: &'a mut PageState,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(ItemSeed {
                dec: self.dec,
                st: &mut *self.st,
                index,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }
}

struct ItemSeed<'a> {
    dec: &'a PageDecoder,
    st: &'a mut PageState,
    index: usize,
}

impl ItemSeed<'_> {
    fn fail<E: de::Error>(&mut self, field: Option<&str>, problem: impl Into<String>) -> E {
        let err = self.dec.error(0, Some(self.index), field, problem);
        let text = err.to_string();
        self.st.error = Some(err);
        E::custom(text)
    }
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let cols = &self.dec.variant.columns;
        let mut seen: u64 = 0;
        // Items list their fields in the same order, mostly the schema's: try the column after
        // the last one first, and search only when that guess is wrong.
        let mut guess = 0;
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            let name = k.as_ref();
            let found = match cols.get(guess) {
                Some(c) if c.name == name => Some(guess),
                _ => cols.iter().position(|c| c.name == name),
            };
            if let Some(i) = found {
                guess = i + 1;
                if seen & (1 << i) != 0 {
                    return Err(self.fail(Some(name), "appears twice"));
                }
                seen |= 1 << i;
                let required = cols[i].required;
                let outcome = map.next_value_seed(ValueSeed {
                    builder: &mut self.st.columns[i],
                    required,
                })?;
                if let Err(problem) = outcome {
                    return Err(self.fail(Some(name), problem));
                }
            } else if name == "object" {
                let o: Option<Cow<'de, str>> =
                    map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0);
                if o.as_deref() != Some(self.dec.variant.item_object.as_str()) {
                    return Err(self.fail(
                        Some("object"),
                        format!("is {o:?}, expected {:?}", self.dec.variant.item_object),
                    ));
                }
            } else {
                let name = name.to_owned();
                map.next_value::<IgnoredAny>()?;
                self.st.note_unknown(&name);
            }
        }
        for (i, c) in cols.iter().enumerate() {
            if seen & (1 << i) == 0 {
                if c.required {
                    return Err(self.fail(Some(&c.name), "required field is missing"));
                }
                self.st.columns[i].append_null();
            }
        }
        self.st.rows += 1;
        Ok(())
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        Err(self.fail(None, "item is null, expected an object"))
    }
    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        Err(self.fail(None, "item is a boolean, expected an object"))
    }
    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        Err(self.fail(None, "item is a number, expected an object"))
    }
    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        Err(self.fail(None, "item is a number, expected an object"))
    }
    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        Err(self.fail(None, "item is a number, expected an object"))
    }
    fn visit_str<E: de::Error>(mut self, _: &str) -> Result<(), E> {
        Err(self.fail(None, "item is a string, expected an object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, _: A) -> Result<(), A::Error> {
        Err(self.fail(None, "item is an array, expected an object"))
    }
}

struct CowStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Key::deserialize(d).map(|k| CowStr(k.0))
    }
}

/// Deserializes one value into its column. The inner `Err` is a schema problem (wrong type,
/// null in a required field); the outer one, a JSON error.
struct ValueSeed<'a> {
    builder: &'a mut ColumnBuilder,
    required: bool,
}

type Outcome = Result<(), String>;

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Outcome;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        d.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn wrong(&self, got: &str) -> Outcome {
        Err(format!("is {got}, expected {}", self.builder.expected()))
    }
    fn int(self, v: i64) -> Outcome {
        match self.builder {
            ColumnBuilder::Int64(b) => b.append_value(v),
            ColumnBuilder::Ts(b) => b.append_value(v),
            _ => return self.wrong("a number"),
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Outcome;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.builder.expected())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Outcome, E> {
        Ok(match self.builder {
            ColumnBuilder::Utf8(b) => {
                b.append_value(v);
                Ok(())
            }
            _ => self.wrong("a string"),
        })
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Outcome, E> {
        Ok(match self.builder {
            ColumnBuilder::Bool(b) => {
                b.append_value(v);
                Ok(())
            }
            _ => self.wrong("a boolean"),
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Outcome, E> {
        Ok(self.int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Outcome, E> {
        Ok(match i64::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => Err("is a number too large for a 64-bit integer".to_owned()),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Outcome, E> {
        // 1.7474e12 is a whole number of milliseconds written as a float; 1.5 is not.
        let whole = v.fract() == 0.0 && v.abs() < 9.0e15;
        Ok(match (&self.builder, whole) {
            (ColumnBuilder::Int64(_) | ColumnBuilder::Ts(_), true) => self.int(v as i64),
            _ => self.wrong("a fractional number"),
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Outcome, E> {
        if self.required {
            return Ok(Err("required field is null".to_owned()));
        }
        self.builder.append_null();
        Ok(Ok(()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Outcome, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outcome, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.wrong("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.wrong("an object"))
    }
}
