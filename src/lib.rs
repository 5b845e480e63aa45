//! postpress-etl: exports postpress followers/following lists to hive-partitioned Parquet.
//!
//! Data flows one way: job file → validated [`job::Job`] → units → [`api`] pages →
//! [`schema::decode`] record batches → [`sink`] Parquet, staged then published → [`report`].
//! Only [`run`] knows every layer. Readers' side: [`finalize`] turns the published units of a
//! date into the reader tables, through the same sink.
#![deny(clippy::unwrap_used)]

pub mod api;
pub mod cli;
pub mod finalize;
pub mod job;
pub mod lifecycle;
pub mod manifest;
pub mod model;
pub mod progress;
pub mod report;
pub mod run;
pub mod schema;
pub mod sink;
pub mod tls;
pub mod views;

/// An error and every `source()` below it as one sentence, for logs and manifests.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
