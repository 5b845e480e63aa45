//! The data lifecycle (SPEC §12): `prune` deletes what `[retention]` says is too old, `erase`
//! removes people from the whole output, and the suppressed set keeps them out of every later
//! `run` and `finalize`.
//!
//! It reads and writes the output only, through the sink; it must not know about HTTP or the
//! API, nor reach into `run`'s or `finalize`'s internals: it knows the layouts of SPEC §4 and §9
//! and what the manifests record (finish times, the files a finalize read and wrote), nothing
//! more.

pub mod erase;
mod error;
mod guard;
pub mod index;
pub mod keys;
pub mod lease;
mod manifests;
mod partitions;
pub mod plan;
pub mod prune;
pub mod rewrite;
pub mod scan;
pub mod suppressed;

pub use error::LifecycleError;
pub use guard::Invocation;
pub use keys::{KeyHash, KeysError, hashes, read_keys};
pub use suppressed::{SuppressedError, SuppressedSet};
