//! What a variant is: its columns, each with a type the schema files name, its Arrow schema, and
//! the metadata columns added to every variant.
//!
//! Knows column types and Arrow fields; knows nothing of the schema files' syntax or checks.

use crate::model::{Dataset, Provider};
use arrow_schema::{DataType, Field, SchemaRef, TimeUnit};

/// A column's type as the schema files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 string.
    Utf8,
    Bool,
    /// 64-bit integer.
    Int64,
    /// Milliseconds since the epoch (the API's Unix ms), as a UTC timestamp.
    TimestampMs,
    /// Days since the epoch.
    Date32,
}

impl ColumnType {
    pub(super) fn parse(s: &str) -> Option<ColumnType> {
        Some(match s {
            "utf8" => ColumnType::Utf8,
            "bool" => ColumnType::Bool,
            "int64" => ColumnType::Int64,
            "timestamp_ms" => ColumnType::TimestampMs,
            "date32" => ColumnType::Date32,
            _ => return None,
        })
    }

    /// The Arrow type.
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::TimestampMs => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
            ColumnType::Date32 => DataType::Date32,
        }
    }

    /// The name used in the schema files.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Utf8 => "utf8",
            ColumnType::Bool => "bool",
            ColumnType::Int64 => "int64",
            ColumnType::TimestampMs => "timestamp_ms",
            ColumnType::Date32 => "date32",
        }
    }
}

/// One column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name, the API's own.
    pub name: String,
    pub ty: ColumnType,
    /// The API marks it required (non-nullable).
    pub required: bool,
    /// A hive partition column: carried by the path, never written inside the file (SPEC §4).
    pub in_path: bool,
    /// One line for the data dictionary.
    pub description: String,
}

impl Column {
    /// The Arrow field of a column written inside the file.
    pub fn field(&self) -> Field {
        Field::new(&self.name, self.ty.arrow(), !self.required)
    }
}

/// One dataset/provider variant.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The file it came from.
    pub file: String,
    pub dataset: Dataset,
    /// Provider, or `None` when the variant serves both.
    pub provider: Option<Provider>,
    /// Expected `object` of a page.
    pub list_object: String,
    /// Expected `object` of an item.
    pub item_object: String,
    /// The column that identifies an item across days (`id`, `member_id`): reader tables diff
    /// an account's lists by it.
    pub key: String,
    /// The API's columns, in order (`object` excluded).
    pub columns: Vec<Column>,
    /// A unit file's columns: the API columns, then the metadata columns that are not
    /// partition columns ([`FILE_METADATA_COLUMNS`]).
    pub schema: SchemaRef,
}

/// Names of the metadata columns, in order.
pub const METADATA_COLUMNS: [&str; 6] = [
    "account_id",
    "provider",
    "snapshot_date",
    "fetched_at",
    "run_id",
    "position",
];

/// The metadata columns that are hive partition columns of the unit layout: in the path only.
pub const PATH_COLUMNS: [&str; 3] = ["account_id", "provider", "snapshot_date"];

/// The metadata columns written inside a unit file, in order; the decoder fills them.
pub const FILE_METADATA_COLUMNS: [&str; 3] = ["fetched_at", "run_id", "position"];

/// Metadata columns with one value per file (or per page), which a writer can encode as a
/// dictionary of almost nothing.
pub const CONSTANT_COLUMNS: [&str; 2] = ["fetched_at", "run_id"];

/// The metadata column that counts the list's items up by one.
pub const POSITION_COLUMN: &str = "position";
