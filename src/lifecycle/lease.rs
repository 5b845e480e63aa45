//! The output's lifecycle lease (SPEC §10, §12): one writer at a time between `erase`/`prune`
//! and the runs and finalizes of the same output.
//!
//! `erase` and `prune` take `_lifecycle/lease.json` with the sink's exclusive lease
//! (create-if-absent, conditional renewals, see `sink::exclusive`) and keep it renewed while
//! they work. A run holds its lease of (job, date, shard) and a finalize its lease of a date
//! (`_leases/…`); both look at the lifecycle lease only after taking their own. Each side
//! writes its lease first and reads the other's second, so of two that start at once at least
//! one sees the other, and:
//!
//! * `erase`/`prune` ([`hold_lifecycle_lease`]) that find a live run or finalize lease after
//!   taking theirs let theirs go again and wait; they never write while one is live;
//! * a run or finalize ([`admit`]) that finds the lifecycle lease live waits for it while
//!   holding its own (the lifecycle command gives way, so neither waits for the other forever),
//!   and reads the suppressed set only once it is free, so keys erased meanwhile are in it.
//!
//! A `--dry-run` never calls [`hold_lifecycle_lease`]: it writes nothing and takes no lease.

use std::time::Duration;

use chrono::Utc;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use tokio_util::sync::CancellationToken;

use super::suppressed::{self, SuppressedError, SuppressedSet};
use crate::sink::exclusive::{Kept, LeaseError, Leases, Taken, is_claim};
use crate::sink::layout::{LEASES_DIR, Layout};
use crate::sink::lease::{LIVE_FOR, Lease, RENEW_EVERY};
use crate::sink::store::Destination;

/// `--wait`'s default: how long `erase` and `prune` wait for other writers of the output.
pub const DEFAULT_WAIT: &str = "1h";

/// The longest `--wait` accepted.
const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a run or finalize waits for a live lifecycle lease (SPEC §12).
pub const ADMIT_WAIT: Duration = Duration::from_secs(3600);

/// How often a waiting process reads the leases again.
const POLL: Duration = Duration::from_secs(2);

/// How often a waiting process logs whom it waits for.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// A bad `--wait` (exit 2).
#[derive(Debug, thiserror::Error)]
#[error(
    "--wait {value:?} is not allowed; use a humantime duration from 0s to 7days, e.g. \"30m\" or \"1h\""
)]
pub struct WaitError {
    /// The value as given.
    pub value: String,
}

/// Parses `--wait`: a humantime duration up to a week (0 means "do not wait").
pub fn parse_wait(value: &str) -> Result<Duration, WaitError> {
    humantime::parse_duration(value)
        .ok()
        .filter(|d| *d <= MAX_WAIT)
        .ok_or_else(|| WaitError {
            value: value.to_owned(),
        })
}

/// Why `erase` or `prune` could not take the lifecycle lease (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// Other writers of the output were still live when `--wait` ran out.
    #[error(
        "other writers of the output were still live after waiting {waited_s} s (--wait): {holders}; run again once they end, or with a longer --wait"
    )]
    Busy {
        /// Who, as `what: run R on host H (pid P), renewed at T`, `; `-separated.
        holders: String,
        /// How long this process waited.
        waited_s: u64,
    },
    /// The lease could not be read, written or released.
    #[error("the lifecycle lease")]
    Lease(#[source] LeaseError),
    /// The destination cannot check conditional writes, or they do not work there.
    #[error("the lifecycle lease")]
    Preflight(#[source] crate::sink::diagnosis::PreflightError),
}

/// Why a run or finalize could not start after its wait for the lifecycle lease.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// An erase or prune held the lifecycle lease for the whole wait, or it could not be read.
    #[error("an erase or prune of the output held its lifecycle lease")]
    Lease(#[source] LeaseError),
    /// The suppressed set could not be read after the wait.
    #[error(transparent)]
    Suppressed(#[from] SuppressedError),
}

/// The path of the output's lifecycle lease: `_lifecycle/lease.json`.
pub fn lifecycle_lease(layout: &Layout) -> Path {
    layout.lifecycle_dir().join("lease.json")
}

/// The lifecycle lease while `erase` or `prune` holds it, renewed every 30 s until
/// [`LifecycleLease::release`]. Dropped without a release (a panic) it goes stale in 90 s.
#[derive(Debug)]
pub struct LifecycleLease {
    kept: Kept,
}

impl LifecycleLease {
    /// Cancelled when another process took the lease over (this one looked stale).
    pub fn lost(&self) -> CancellationToken {
        self.kept.lost()
    }

    /// Stops renewing and marks the lease released; a failure is logged (it goes stale).
    pub async fn release(self) {
        if let Err(e) = self.kept.release().await {
            tracing::warn!(error = %crate::error_chain(&e),
                "The lifecycle lease could not be released; it goes stale in 90 s.");
        }
    }
}

/// Who holds a lease, for messages: what it is a lease of, and its holder.
fn who(lease: &Lease) -> String {
    let what = match lease.area.as_str() {
        "" => "lease",
        a => a,
    };
    format!("{what} {}", lease.describe())
}

/// Every live run and finalize lease of the output (`_leases/…`), seen from run `my_run`.
async fn live_writers(
    leases: &Leases,
    store: &dyn ObjectStore,
    layout: &Layout,
    my_run: &str,
) -> Result<Vec<Lease>, LeaseError> {
    let dir = layout.top(LEASES_DIR);
    let listed: Vec<_> = store.list(Some(&dir)).try_collect().await.map_err(|e| {
        LeaseError::Store(crate::sink::SinkError::Store {
            op: "list",
            path: dir.to_string(),
            source: crate::sink::Cause(e),
        })
    })?;
    // Every renewal rewrites a lease, so one untouched for twice LIVE_FOR (a margin for the
    // store's clock) is stale: not read, as the leases of every past date and shard stay.
    let cutoff = chrono::Duration::from_std(LIVE_FOR * 2).unwrap_or(chrono::Duration::MAX);
    let now = Utc::now();
    let mut live = Vec::new();
    for meta in listed {
        let name = meta.location.as_ref();
        if !name.ends_with(".json") || is_claim(name) || now - meta.last_modified > cutoff {
            continue;
        }
        if let Some(l) = leases.read(&meta.location).await?
            && l.liveness_now(my_run).is_live()
        {
            live.push(l);
        }
    }
    Ok(live)
}

/// Takes the output's lifecycle lease for `command` (its holder: run `id`), waiting up to
/// `wait` while a run, a finalize, or another erase or prune of the output holds a live lease;
/// logs whom it waits for every 30 s and gives up naming them ([`HoldError::Busy`]).
pub async fn hold_lifecycle_lease(
    dest: &Destination,
    layout: &Layout,
    exclusive: bool,
    command: &str,
    id: &str,
    wait: Duration,
) -> Result<LifecycleLease, HoldError> {
    let leases = Leases::new(dest, exclusive);
    leases
        .preflight(dest, &layout.lease_check_marker(id))
        .await
        .map_err(HoldError::Preflight)?;
    let path = lifecycle_lease(layout);
    let store = dest.store.as_ref();
    let started = tokio::time::Instant::now();
    let mut logged: Option<tokio::time::Instant> = None;
    loop {
        let fresh = Lease::new("", "", None, command, id, Utc::now());
        let blockers = match leases
            .try_take(&path, fresh, id)
            .await
            .map_err(HoldError::Lease)?
        {
            Taken::Live(other) => vec![other],
            Taken::Held(held) => match live_writers(&leases, store, layout, id).await {
                Ok(live) if live.is_empty() => {
                    if logged.is_some() {
                        tracing::info!(
                            command,
                            waited_s = started.elapsed().as_secs(),
                            "No other writer of the output is live any more; going on."
                        );
                    }
                    tracing::debug!(lease = %path, "Lifecycle lease taken.");
                    return Ok(LifecycleLease {
                        kept: leases.keep(held, RENEW_EVERY),
                    });
                }
                found => {
                    // A run or finalize holds its lease: give way, so it never waits for this.
                    if let Err(e) = leases.release(held).await {
                        tracing::warn!(error = %crate::error_chain(&e),
                            "The lifecycle lease could not be released; it goes stale in 90 s.");
                    }
                    found.map_err(HoldError::Lease)?
                }
            },
        };
        let holders = blockers.iter().map(who).collect::<Vec<_>>().join("; ");
        let waited = started.elapsed();
        if waited >= wait {
            return Err(HoldError::Busy {
                holders,
                waited_s: waited.as_secs(),
            });
        }
        if logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            logged = Some(tokio::time::Instant::now());
            tracing::warn!(command, holders = %holders, waited_s = waited.as_secs(),
                bound_s = wait.as_secs(),
                "Other writers of the output are live; waiting for them to end before {command}.");
        }
        tokio::time::sleep(POLL.min(wait - waited)).await;
    }
}

/// For a run or finalize that holds its own lease (run `my_run`): waits while an erase or
/// prune holds the output's lifecycle lease, logging whom it waits for every 30 s, up to
/// [`ADMIT_WAIT`]; then reads the suppressed set (SPEC §12: after the wait, so keys that erase
/// added are in it).
pub async fn admit(
    leases: &Leases,
    store: &dyn ObjectStore,
    layout: &Layout,
    my_run: &str,
    halt: &CancellationToken,
) -> Result<SuppressedSet, AdmitError> {
    admit_within(leases, store, layout, my_run, halt, ADMIT_WAIT).await
}

/// [`admit`] with a given bound.
pub async fn admit_within(
    leases: &Leases,
    store: &dyn ObjectStore,
    layout: &Layout,
    my_run: &str,
    halt: &CancellationToken,
    bound: Duration,
) -> Result<SuppressedSet, AdmitError> {
    let path = lifecycle_lease(layout);
    let started = tokio::time::Instant::now();
    let mut logged: Option<tokio::time::Instant> = None;
    loop {
        let holder = match leases.read(&path).await.map_err(AdmitError::Lease)? {
            Some(l) if l.liveness_now(my_run).is_live() => l,
            _ => break,
        };
        let waited = started.elapsed();
        if waited >= bound {
            return Err(AdmitError::Lease(LeaseError::TimedOut {
                path: path.to_string(),
                holder: who(&holder),
                waited_s: waited.as_secs(),
            }));
        }
        if logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            logged = Some(tokio::time::Instant::now());
            tracing::warn!(lease = %path, holder = %who(&holder), waited_s = waited.as_secs(),
                bound_s = bound.as_secs(),
                "An erase or prune of the output holds its lifecycle lease; waiting for it to end.");
        }
        tokio::select! {
            () = tokio::time::sleep(POLL.min(bound - waited)) => {}
            () = halt.cancelled() => {
                return Err(AdmitError::Lease(LeaseError::Cancelled { path: path.to_string() }));
            }
        }
    }
    if logged.is_some() {
        tracing::info!(
            waited_s = started.elapsed().as_secs(),
            "The lifecycle lease is free; going on."
        );
    }
    let set = suppressed::load(store, layout).await?;
    if !set.is_empty() {
        tracing::info!(
            suppressed_keys = set.len(),
            "Rows of erased people are dropped before they are written."
        );
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--wait` takes humantime durations up to a week and names what is allowed otherwise.
    #[test]
    fn wait_values() {
        assert_eq!(parse_wait(DEFAULT_WAIT).unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_wait("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_wait("8days").unwrap_err().to_string(),
            "--wait \"8days\" is not allowed; use a humantime duration from 0s to 7days, e.g. \"30m\" or \"1h\""
        );
        assert!(parse_wait("soon").is_err());
    }
}
