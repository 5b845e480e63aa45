//! postpress-etl: exports postpress followers/following lists to hive-partitioned Parquet.
//!
//! Data flows one way: job file → validated [`job::Job`] → units → [`api`] pages →
//! [`schema::decode`] record batches → [`sink`] Parquet, staged then published → [`report`].
//! Only [`run`] knows every layer.
#![deny(clippy::unwrap_used)]

pub mod api;
pub mod cli;
pub mod job;
pub mod model;
pub mod progress;
pub mod report;
pub mod run;
pub mod schema;
pub mod sim;
pub mod sink;
