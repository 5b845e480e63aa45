//! Where generated items go: the page's JSON writer on the hot path, a `serde_json::Value` for
//! tests, or just the key field.
//!
//! Owns the [`ItemOut`] sinks, so `data` generates an item once and every consumer sees the
//! same fields in the same order. It must not know which fields an item has.

use std::fmt;

use serde_json::{Map, Value};

use super::json::ObjectWriter;

/// Where a generated item goes: the page's JSON writer, or a `serde_json::Value` for tests.
pub(crate) trait ItemOut {
    /// A string field.
    fn str(&mut self, key: &'static str, value: &str);
    /// A string field formatted from `args`.
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>);
    /// An integer field.
    fn int(&mut self, key: &'static str, value: i64);
    /// A boolean field.
    fn bool(&mut self, key: &'static str, value: bool);
    /// A `null` field.
    fn null(&mut self, key: &'static str);
    /// A field given both as JSON text and as the equivalent value.
    fn raw(&mut self, key: &'static str, json: &'static str, value: Value);
}

impl ItemOut for ObjectWriter<'_> {
    fn str(&mut self, key: &'static str, value: &str) {
        ObjectWriter::str(self, key, value);
    }
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>) {
        ObjectWriter::fmt(self, key, args);
    }
    fn int(&mut self, key: &'static str, value: i64) {
        ObjectWriter::int(self, key, value);
    }
    fn bool(&mut self, key: &'static str, value: bool) {
        ObjectWriter::bool(self, key, value);
    }
    fn null(&mut self, key: &'static str) {
        ObjectWriter::null(self, key);
    }
    fn raw(&mut self, key: &'static str, json: &'static str, _value: Value) {
        ObjectWriter::raw(self, key, json);
    }
}

/// Keeps one string field and drops the rest, unformatted.
pub(crate) struct KeyOut {
    /// The field kept.
    pub(crate) field: &'static str,
    /// Its value, empty until written.
    pub(crate) value: String,
}

impl ItemOut for KeyOut {
    fn str(&mut self, key: &'static str, value: &str) {
        if key == self.field {
            value.clone_into(&mut self.value);
        }
    }
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>) {
        if key == self.field {
            self.value = args.to_string();
        }
    }
    fn int(&mut self, _key: &'static str, _value: i64) {}
    fn bool(&mut self, _key: &'static str, _value: bool) {}
    fn null(&mut self, _key: &'static str) {}
    fn raw(&mut self, _key: &'static str, _json: &'static str, _value: Value) {}
}

/// Builds the item as a JSON object.
pub(crate) struct ValueOut(pub(crate) Map<String, Value>);

impl ItemOut for ValueOut {
    fn str(&mut self, key: &'static str, value: &str) {
        self.0
            .insert(key.to_owned(), Value::String(value.to_owned()));
    }
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>) {
        self.0
            .insert(key.to_owned(), Value::String(args.to_string()));
    }
    fn int(&mut self, key: &'static str, value: i64) {
        self.0.insert(key.to_owned(), Value::from(value));
    }
    fn bool(&mut self, key: &'static str, value: bool) {
        self.0.insert(key.to_owned(), Value::Bool(value));
    }
    fn null(&mut self, key: &'static str) {
        self.0.insert(key.to_owned(), Value::Null);
    }
    fn raw(&mut self, key: &'static str, _json: &'static str, value: Value) {
        self.0.insert(key.to_owned(), value);
    }
}
