//! Encoding off the runtime's workers: the rows of units done fetching are turned into Parquet
//! on the runtime's blocking threads, at most one per core at a time.
//!
//! Encoding a unit is CPU work of a millisecond or more that nothing waits for but its own
//! publish, while the workers carry every unit's requests: a response that arrives while both
//! workers encode waits for them, and so does the request after it. With many units closing at
//! once (a latency-bound run's units all finish their last page within a few milliseconds of
//! each other), responses waited up to 40 ms. On blocking threads the kernel shares the CPU
//! between encoding and fetching instead. The semaphore keeps it to one encoder per core, not
//! `spawn_blocking`'s hundreds: 64 units closing together are encoded a few at a time.

use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// One permit per core.
fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Runs `f` on a blocking thread once a core's permit is free, and waits for it without
/// blocking the runtime. A panic in `f` (a bug) is raised again here, in the caller's task, as
/// if `f` had run there: the run then reports the unit as crashed (an internal error), not as
/// a storage failure.
pub(super) async fn run<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // The semaphore is never closed, so acquiring only fails if it were: then encode unbounded.
    let permit = permits().acquire_owned().await.ok();
    let job = tokio::task::spawn_blocking(move || {
        let out = f();
        drop(permit);
        out
    });
    match job.await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Blocking tasks are not cancelled; only a runtime shutting down gets here.
        Err(e) => panic!("an encode task did not finish: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_runtime_and_returns_their_results() {
        let here = std::thread::current().id();
        let id = run(|| std::thread::current().id()).await;
        assert_ne!(id, here, "not on the caller's thread");
        let sums =
            futures::future::join_all((0..16u64).map(|n| run(move || (0..=n).sum::<u64>()))).await;
        assert_eq!(
            sums,
            (0..16u64).map(|n| n * (n + 1) / 2).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_panic_is_raised_in_the_caller_and_the_pool_goes_on() {
        use futures::FutureExt;
        let out = std::panic::AssertUnwindSafe(run(|| -> u32 { panic!("encoder bug") }))
            .catch_unwind()
            .await;
        let message = out.expect_err("the caller panics");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"encoder bug"));
        assert_eq!(run(|| 7).await, 7);
    }
}
