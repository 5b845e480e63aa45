//! Why a schema file is unusable, each naming the file and what is wrong in it.

use crate::model::{Dataset, Provider};

/// A schema file is unusable. Found at startup, before any request.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Not valid TOML or missing keys.
    #[error("schema file {file} is not valid: {message}")]
    Syntax {
        /// File name.
        file: String,
        /// Parser message.
        message: String,
    },
    /// A type the decoder cannot produce.
    #[error(
        "schema file {file}: column {column:?} has unsupported type {ty:?}; supported: utf8, bool, int64, timestamp_ms, date32"
    )]
    UnsupportedType {
        /// File name.
        file: String,
        column: String,
        /// The type as written.
        ty: String,
    },
    /// Column names must be unique, and API columns must not shadow the metadata columns.
    #[error(
        "schema file {file}: column {column:?} is defined twice (metadata columns are added to every variant)"
    )]
    DuplicateColumn {
        /// File name.
        file: String,
        column: String,
    },
    /// The files do not cover every (dataset, provider).
    #[error("no schema file for dataset {dataset} and provider {provider}")]
    MissingVariant {
        dataset: Dataset,
        provider: Provider,
    },
    /// The item key is missing or does not name a required utf8 column of the variant.
    #[error(
        "schema file {file}: key = {key:?} is not allowed; name a required utf8 column of the file, the one that identifies an item across days"
    )]
    Key {
        /// File name.
        file: String,
        /// The key as written (empty when missing).
        key: String,
    },
    /// A dataset or provider name not known to the code.
    #[error("schema file {file}: unknown {key} {value:?}")]
    UnknownName {
        /// File name.
        file: String,
        /// `dataset` or `provider`.
        key: &'static str,
        value: String,
    },
}
