//! The encode pool: one thread per core that turns the rows of units done fetching into Parquet,
//! off the runtime's workers.
//!
//! Encoding a unit is CPU work of a millisecond or more that nothing waits for but its own
//! publish, while the workers carry every unit's requests: a response that arrives while both
//! workers encode waits for them, and so does the request after it. With many units closing at
//! once (a latency-bound run's units all finish their last page within a few milliseconds of
//! each other), responses waited up to 40 ms. On threads of their own the kernel shares the CPU
//! between encoding and fetching instead. One thread per core, not `spawn_blocking`'s hundreds:
//! 64 units closing together are encoded a few at a time, not 64 encoders at once.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    jobs: Mutex<Sender<Job>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("postpress-encode-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                // The jobs then wait for the threads that did start; with none, `run` runs them
                // in place (see there).
                tracing::warn!(error = %e, "Could not start an encoder thread.");
            }
        }
        Pool {
            jobs: Mutex::new(tx),
        }
    })
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Runs `f` on an encode thread and waits for it without blocking the runtime. A panic in `f`
/// (a bug) is raised again here, in the caller's task, as if `f` had run there: the run then
/// reports the unit as crashed (an internal error), not as a storage failure.
pub(super) async fn run<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // The caller may have gone (its unit was abandoned): nothing to tell then.
        if tx.send(out).is_err() {
            tracing::debug!("An encoded part was not waited for.");
        }
    });
    let sent = match pool().jobs.lock() {
        Ok(jobs) => jobs.send(job),
        Err(poisoned) => poisoned.into_inner().send(job),
    };
    if let Err(std::sync::mpsc::SendError(job)) = sent {
        // No encoder thread could be started: encode here rather than not at all.
        job();
    }
    match rx.await {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // The job always sends, even after a panic: only a thread killed mid-job gets here.
        Err(_) => panic!("an encode thread ended without finishing its job"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_runtime_and_returns_their_results() {
        let here = std::thread::current().id();
        let (id, name) = run(|| {
            let t = std::thread::current();
            (t.id(), t.name().map(str::to_owned))
        })
        .await;
        assert_ne!(id, here);
        assert!(name.unwrap().starts_with("postpress-encode-"));
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
