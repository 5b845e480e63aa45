//! Timing of the lease primitive under virtual time: waiting for a live lease, and noticing a
//! kept lease taken over.

use super::error::LeaseError;
use super::leases::{Leases, Mode, Taken};
use super::wait::Wait;
use crate::sink::lease::Lease;
use chrono::Utc;
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn lease(run: &str, host: &str) -> Lease {
    let mut l = Lease::new("daily", "2026-11-26", None, "run", run, Utc::now());
    l.host = host.to_owned();
    l
}

/// A waiter facing a live lease logs and polls until its bound, then names the holder; no
/// real time passes.
#[tokio::test(start_paused = true)]
async fn a_live_lease_is_waited_for_until_the_bound() {
    let leases = Leases::with_mode(Arc::new(InMemory::new()), Mode::ETag);
    let path = Path::from("_leases/run/daily.json");
    let Taken::Held(_first) = leases
        .try_take(&path, lease("r1", "host-1"), "r1")
        .await
        .expect("take")
    else {
        panic!("the first take holds it");
    };
    let wait = Wait {
        bound: Duration::from_secs(60),
        poll: Duration::from_secs(2),
        log_every: Duration::from_secs(30),
    };
    let started = tokio::time::Instant::now();
    let e = leases
        .take_waiting(
            &path,
            lease("r2", "host-2"),
            "r2",
            "run",
            wait,
            &CancellationToken::new(),
        )
        .await
        .expect_err("still held");
    assert!(
        matches!(&e, LeaseError::TimedOut { holder, .. } if holder.contains("run r1")),
        "{e}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}

/// A kept lease taken over by another process (after it looked stale) is reported lost at
/// the next renewal, and its release then leaves the new holder's lease alone.
#[tokio::test(start_paused = true)]
async fn a_kept_lease_taken_over_is_reported_lost() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let leases = Leases::with_mode(store.clone(), Mode::ETag);
    let path = Path::from("_leases/finalize/snapshot_date=2026-11-26.json");
    let Taken::Held(held) = leases
        .try_take(&path, lease("r1", "host-1"), "r1")
        .await
        .expect("take")
    else {
        panic!("the first take holds it");
    };
    let kept = leases.keep(held, Duration::from_secs(30));
    // Another process writes over it, as a take-over of a stale lease would.
    let other = Leases::with_mode(store, Mode::ETag);
    let (current, version) = other
        .read_versioned(&path)
        .await
        .expect("read")
        .expect("lease");
    let mut next = lease("r2", "host-2");
    next.acquired_at = current.acquired_at.clone();
    other
        .write_from(&path, &version, next)
        .await
        .expect("write")
        .expect("the conditional write wins");
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(kept.lost().is_cancelled(), "the renewal found it taken");
    kept.release().await.expect("release");
    let now = leases.read(&path).await.expect("read").expect("lease");
    assert_eq!((now.holder.as_str(), now.released_at), ("r2", None));
}
