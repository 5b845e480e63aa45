//! The schema registry: (dataset, provider) → the variant's columns and Arrow schema, loaded from
//! the `schemas/` files embedded at build time (the single source of truth, SPEC §7), plus the
//! page decoder (`decode.rs`), the reader tables' columns (`tables.rs`) and the data dictionary
//! (`dictionary.rs`).
//!
//! The registry itself is three files: what a variant is (`variant.rs`: column types, columns,
//! the metadata columns every variant gets), how the schema files become a checked registry
//! (`registry.rs`), and how that fails (`error.rs`).
//!
//! It must not know where bytes come from (HTTP) or where batches go (Parquet, storage).

pub mod decode;
mod dictionary;
mod error;
mod registry;
pub mod tables;
mod variant;

pub use error::SchemaError;
pub use registry::{FILES, Registry};
pub use variant::{
    CONSTANT_COLUMNS, Column, ColumnType, FILE_METADATA_COLUMNS, METADATA_COLUMNS, PATH_COLUMNS,
    POSITION_COLUMN, Variant,
};
