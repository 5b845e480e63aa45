//! Exclusive leases (SPEC §10): the one lease primitive of the output — take, renew, take over
//! once stale, release, and wait while another holds it — for staging areas, a run's (job, date,
//! shard), a finalize's date and the output's lifecycle alike.
//!
//! Every write of a lease is conditional, so two processes can never both believe they hold it,
//! even when both read the same stale lease at once:
//!
//! * **S3**: taking is a create-if-absent PUT (`If-None-Match: *`, [`PutMode::Create`]);
//!   renewing, taking over and releasing are PUTs conditional on the ETag last read
//!   (`If-Match`, [`PutMode::Update`]). See `etag.rs`.
//! * **A local disk**: taking is a hard link of a fresh file (object_store's [`PutMode::Create`]
//!   on `LocalFileSystem`). `LocalFileSystem` has no conditional update, so the lease carries a
//!   `generation`, and a write from generation `g` first creates the claim `{lease}.g{g+1}` by
//!   a hard link (create-if-absent): exactly one of two racers creates it. The winner reads the
//!   lease again (still `g`: no one got there first through a claim since removed), then renames
//!   its lease into place and removes the claim two generations back. A claim left by a process
//!   that died between the two steps is stepped over once it is older than [`LIVE_FOR`]. See
//!   `generation.rs`.
//! * **Advisory** (a store without conditional writes, where the job opted out with
//!   `output.exclusive_leases = false`): plain PUTs, as before this module.
//!
//! A PUT whose answer was lost and that object_store sent again can come back "precondition
//! failed" although it was applied: each lease carries a random `token`, and a write that seems
//! refused is checked by reading the lease back.
//!
//! One concern per file:
//!
//! * `error.rs`: [`LeaseError`] and the module's [`Result`].
//! * `leases.rs`: [`Leases`] over any store — read, take, renew, release — dispatching each
//!   conditional write to the way of its [`Mode`]; advisory writes are plain PUTs there.
//! * `etag.rs`: the S3 way, writes conditional on the ETag last read.
//! * `generation.rs`: the local-disk way, generation claims by hard link.
//! * `preflight.rs`: whether a store honours conditional writes at all, checked before a job
//!   writes anything.
//! * `wait.rs`: taking a lease another holds, polling until it is free or a bound passes.
//! * `keep.rs`: a held lease renewed in the background until released, and its loss noticed.
//!
//! Knows leases and object stores; knows nothing about runs, units or dates.
//!
//! [`PutMode::Create`]: object_store::PutMode::Create
//! [`PutMode::Update`]: object_store::PutMode::Update
//! [`LIVE_FOR`]: crate::sink::lease::LIVE_FOR

mod error;
mod etag;
mod generation;
mod keep;
mod leases;
mod preflight;
#[cfg(test)]
mod tests;
mod wait;

pub use error::{LeaseError, Result};
pub use generation::is_claim;
pub use keep::Kept;
pub use leases::{Held, Leases, Mode, Taken};
pub use preflight::conditional_writes_work;
pub use wait::{WRITER_WAIT, Wait};
