//! Precise deadlines for the simulated latency: one thread sleeps until the earliest deadline
//! and wakes every request whose time has come.
//!
//! tokio's timer rounds a deadline up to the next millisecond and may wake a millisecond later
//! still, so a 50 ms latency lasted about 51.7 ms. Sleeping the last milliseconds on a blocking
//! thread was precise but took a pool thread per request in flight, and with 64 requests due
//! together the simulator spent its CPU handing them over; one timer thread wakes them all.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::oneshot;

/// A request waiting for its deadline.
struct Waiter {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    /// Reversed, so the heap's top is the earliest deadline (and the earliest request among equals).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    waiters: BinaryHeap<Waiter>,
    next_seq: u64,
}

struct Clock {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// The timer thread, started on first use; `None` when the thread could not be started.
fn clock() -> Option<&'static Clock> {
    static CLOCK: OnceLock<Option<&'static Clock>> = OnceLock::new();
    *CLOCK.get_or_init(|| {
        let clock: &'static Clock = Box::leak(Box::new(Clock {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        let started = std::thread::Builder::new()
            .name("postpress-sim-clock".into())
            .spawn(move || clock.run());
        match started {
            Ok(_) => Some(clock),
            Err(error) => {
                tracing::warn!(error = %error, "Cannot start the latency clock; latency will be a millisecond late.");
                None
            }
        }
    })
}

impl Clock {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let mut queue = self.lock();
        loop {
            let now = Instant::now();
            while queue.waiters.peek().is_some_and(|w| w.at <= now) {
                if let Some(w) = queue.waiters.pop() {
                    // The request may be gone (its connection closed): nothing to wake then.
                    w.wake.send(()).unwrap_or_default();
                }
            }
            queue = match queue.waiters.peek() {
                None => self.changed.wait(queue).unwrap_or_else(|p| p.into_inner()),
                Some(w) => {
                    let wait = w.at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

/// Sleeps until `deadline`, to within the operating system's timer precision (tens of
/// microseconds), however many requests wait at once.
pub(super) async fn sleep_until(deadline: Instant) {
    let Some(clock) = clock() else {
        tokio::time::sleep_until(deadline.into()).await;
        return;
    };
    let (wake, woken) = oneshot::channel();
    {
        let mut queue = clock.lock();
        let earliest = queue.waiters.peek().map(|w| w.at);
        let seq = queue.next_seq;
        queue.next_seq += 1;
        queue.waiters.push(Waiter {
            at: deadline,
            seq,
            wake,
        });
        if earliest.is_none_or(|e| deadline < e) {
            clock.changed.notify_one();
        }
    }
    // The sender is only dropped after it was sent on; an error would mean the clock is gone,
    // and the request is then answered at once rather than never.
    woken.await.unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_each_request_at_its_deadline_not_before() {
        let start = Instant::now();
        // Out of order, and many due at the same instant.
        let delays_ms = [30u64, 5, 20, 20, 20, 1, 12, 30, 0];
        let woke = spawn_all(delays_ms.iter().map(|&ms| async move {
            let deadline = start + Duration::from_millis(ms);
            sleep_until(deadline).await;
            Instant::now().saturating_duration_since(deadline)
        }))
        .await;
        for (late, ms) in woke.iter().zip(delays_ms) {
            // Late by a timer's precision, with a loaded test machine's margin (early wakes,
            // which this subtraction would hide, are the next test's).
            assert!(
                *late < Duration::from_millis(20),
                "{ms} ms: woke {late:?} late"
            );
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn never_wakes_early() {
        for ms in [1u64, 3, 7] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "{ms} ms: woke early");
        }
    }

    /// Runs each future as a task of its own, all at once; their outputs in order.
    async fn spawn_all<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = fs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("task"));
        }
        out
    }
}
