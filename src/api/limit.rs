//! Rate limiters: the key-wide one and one per linked account. Awaited before every attempt,
//! retries included (SPEC §3), so the job never sends faster than configured.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A request could not wait for its slot because the run is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled while waiting for a rate-limit slot")]
pub struct Cancelled;

/// A strict pacer (GCRA with a burst of one): slots are handed out in order, each at least
/// `interval` after the previous. Waiting tasks hold a reserved slot, so N waiters never burst.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// At most `rate` requests per second (`rate` > 0, validated by the job).
    pub fn per_second(rate: f64) -> RateLimiter {
        RateLimiter::with_interval(Duration::from_secs_f64(1.0 / rate))
    }

    /// At most `rate` requests per minute.
    pub fn per_minute(rate: f64) -> RateLimiter {
        RateLimiter::with_interval(Duration::from_secs_f64(60.0 / rate))
    }

    /// One request per `interval`.
    pub fn with_interval(interval: Duration) -> RateLimiter {
        RateLimiter {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Reserves the next slot and returns when it opens; returns how long it waited.
    pub async fn acquire(&self, cancel: &CancellationToken) -> Result<Duration, Cancelled> {
        let now = Instant::now();
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        if at > now {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = cancel.cancelled() => return Err(Cancelled),
            }
        }
        Ok(at - now)
    }

    /// Pushes the next slot to `at` at the earliest: the server said its window is spent.
    pub fn defer_until(&self, at: Instant) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if next.is_none_or(|n| n < at) {
            *next = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten acquisitions at 5/s take 1.8 s of virtual time: the first is immediate.
    #[tokio::test(start_paused = true)]
    async fn paces_at_the_configured_rate() {
        let l = RateLimiter::per_second(5.0);
        let c = CancellationToken::new();
        let start = Instant::now();
        for _ in 0..10 {
            l.acquire(&c).await.expect("not cancelled");
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1800));
    }

    /// Concurrent waiters are spread out, never released together.
    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_do_not_burst() {
        let l = std::sync::Arc::new(RateLimiter::per_minute(60.0));
        let c = CancellationToken::new();
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..4 {
            let (l, c) = (l.clone(), c.clone());
            handles.push(tokio::spawn(async move {
                l.acquire(&c).await.expect("not cancelled");
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.expect("task ran") - start);
        }
        times.sort();
        assert_eq!(times, (0..4).map(Duration::from_secs).collect::<Vec<_>>());
    }

    /// A deferral from x-ratelimit-reset delays the next slot.
    #[tokio::test(start_paused = true)]
    async fn defer_pushes_next_slot() {
        let l = RateLimiter::per_second(100.0);
        let c = CancellationToken::new();
        let start = Instant::now();
        l.defer_until(start + Duration::from_secs(3));
        l.acquire(&c).await.expect("not cancelled");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    /// Cancellation ends the wait at once.
    #[tokio::test(start_paused = true)]
    async fn cancel_interrupts_wait() {
        let l = RateLimiter::per_minute(1.0);
        let c = CancellationToken::new();
        l.acquire(&c).await.expect("first is free");
        c.cancel();
        assert_eq!(l.acquire(&c).await, Err(Cancelled));
    }
}
