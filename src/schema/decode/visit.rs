//! The serde visitors of the one-pass decoder: a page object's keys, its items, and each item's
//! values written straight into the column builders. Only `decode` uses them.

use super::unknown::merge_unknown;
use crate::schema::ColumnType;
use crate::schema::variant::Variant;
use arrow_array::ArrayRef;
use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub(super) enum ColumnBuilder {
    Utf8(StringBuilder),
    Bool(BooleanBuilder),
    Int64(Int64Builder),
    Ts(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    /// A builder sized for `rows` rows and `bytes` of string data (the previous page's), with
    /// some headroom; the first page of a unit starts small.
    pub(super) fn new(ty: ColumnType, rows: usize, bytes: usize) -> ColumnBuilder {
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

    pub(super) fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Ts(mut b) => Arc::new(b.finish().with_timezone("UTC")),
        }
    }
}

/// An item that breaks the schema: which one, the field at fault and what is wrong. The
/// decoder makes it a `DecodeError` naming the account, dataset and page.
#[derive(Debug)]
pub(super) struct ItemError {
    pub(super) item: usize,
    pub(super) field: Option<String>,
    pub(super) problem: String,
}

/// What the visitors gather from one page.
pub(super) struct PageState {
    pub(super) columns: Vec<ColumnBuilder>,
    pub(super) rows: usize,
    pub(super) unknown: u64,
    pub(super) unknown_names: BTreeMap<String, u64>,
    pub(super) object: Option<String>,
    pub(super) cursor: Option<String>,
    pub(super) saw_items: bool,
    pub(super) saw_cursor: bool,
    /// The structured error behind a `de::Error::custom`, so the caller gets fields, not text.
    pub(super) error: Option<ItemError>,
}

impl PageState {
    fn note_unknown(&mut self, name: &str) {
        self.unknown += 1;
        merge_unknown(&mut self.unknown_names, name, 1);
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

/// The page object `{object, items, cursor}`, decoded into `st`.
pub(super) struct PageSeed<'a> {
    pub(super) variant: &'a Variant,
    pub(super) st: &'a mut PageState,
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
                        variant: self.variant,
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
    variant: &'a Variant,
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
                variant: self.variant,
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
    variant: &'a Variant,
    st: &'a mut PageState,
    index: usize,
}

impl ItemSeed<'_> {
    fn fail<E: de::Error>(&mut self, field: Option<&str>, problem: impl Into<String>) -> E {
        let err = ItemError {
            item: self.index,
            field: field.map(str::to_owned),
            problem: problem.into(),
        };
        let text = format!("item {} {:?}: {}", err.item, err.field, err.problem);
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
        let cols = &self.variant.columns;
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
                if o.as_deref() != Some(self.variant.item_object.as_str()) {
                    return Err(self.fail(
                        Some("object"),
                        format!("is {o:?}, expected {:?}", self.variant.item_object),
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
