//! Waiting for a lease another process holds: try to take it, and while a live process holds
//! it, read it again every poll, log whom it waits for, and give up after a bound or when the
//! process is stopping.
//!
//! Knows only `Leases::try_take`; how a lease is written is not its business.

use super::error::{LeaseError, Result};
use super::leases::{Held, Leases, Taken};
use crate::sink::lease::Lease;
use object_store::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long and how often [`Leases::take_waiting`] waits.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// At most this long.
    pub bound: Duration,
    /// Reads the lease this often.
    pub poll: Duration,
    /// Logs whom it waits for this often.
    pub log_every: Duration,
}

/// How long a run or finalize waits for a lease another holds (SPEC §10: up to 1 hour).
pub const WRITER_WAIT: Duration = Duration::from_secs(3600);

impl Wait {
    /// How a run, finalize or lifecycle command waits for a lease held by another: at most
    /// `bound`, reading it every 2 s and logging whom it waits for every 30 s.
    pub fn up_to(bound: Duration) -> Wait {
        Wait {
            bound,
            poll: Duration::from_secs(2),
            log_every: Duration::from_secs(30),
        }
    }
}

impl Leases {
    /// Takes the lease at `path`, waiting while a live process holds it: reads it every
    /// `wait.poll`, logs whom it waits for every `wait.log_every`, and gives up after
    /// `wait.bound` ([`LeaseError::TimedOut`]) or when `halt` is cancelled.
    pub async fn take_waiting(
        &self,
        path: &Path,
        fresh: Lease,
        my_run: &str,
        what: &str,
        wait: Wait,
        halt: &CancellationToken,
    ) -> Result<Held> {
        let started = tokio::time::Instant::now();
        let mut logged: Option<tokio::time::Instant> = None;
        loop {
            let holder = match self.try_take(path, fresh.clone(), my_run).await? {
                Taken::Held(h) => {
                    if logged.is_some() {
                        tracing::info!(lease = %path, waited_s = started.elapsed().as_secs(),
                            "The {what} lease is free; going on.");
                    }
                    return Ok(h);
                }
                Taken::Live(l) => l,
            };
            let waited = started.elapsed();
            if waited >= wait.bound {
                return Err(LeaseError::TimedOut {
                    path: path.to_string(),
                    holder: holder.describe(),
                    waited_s: waited.as_secs(),
                });
            }
            if logged.is_none_or(|t| t.elapsed() >= wait.log_every) {
                logged = Some(tokio::time::Instant::now());
                tracing::warn!(lease = %path, holder = %holder.describe(), waited_s = waited.as_secs(),
                    bound_s = wait.bound.as_secs(),
                    "Another process holds the {what} lease; waiting for it to end.");
            }
            tokio::select! {
                () = tokio::time::sleep(wait.poll) => {}
                () = halt.cancelled() => return Err(LeaseError::Cancelled { path: path.to_string() }),
            }
        }
    }
}
