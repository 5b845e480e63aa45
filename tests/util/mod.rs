//! The integration harness, one concern per file:
//!
//! * `sim` — the real `postpress-sim` on `127.0.0.1:0` and its control routes;
//! * `job` — a temp dir per test and the fast job files written into it;
//! * `command` — the real `postpress-etl` binary, run to its end or in the background;
//! * `files` — the output tree: file listings, partition directories, manifests;
//! * `read` — readers that turn the Parquet it wrote back into rows;
//! * `exact` — those rows compared with what the simulator served.
//!
//! The S3-compatible server's helpers are in the `s3` module.

#![allow(dead_code)]

mod command;
mod exact;
mod files;
mod job;
mod read;
mod sim;

pub use command::*;
pub use exact::*;
pub use files::*;
pub use job::*;
pub use read::*;
pub use sim::*;

use std::time::{Duration, Instant};

/// The key the simulator accepts in tests.
pub const KEY: &str = "pp_test_8c1f0d9a2b7e4c3f";
/// The simulator's seed in tests.
pub const SEED: u64 = 42;
/// The snapshot date tests run with.
pub const DATE: &str = "2026-11-26";

/// Waits until `cond` holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
