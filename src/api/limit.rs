//! Rate limiters: the key-wide [`KeyCalendar`] and one [`AccountPacer`] per linked account.
//! Awaited before every attempt, retries included (SPEC §3), so the job never sends faster than
//! configured.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A request could not wait for its slot because the run is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled while waiting for a rate-limit slot")]
pub struct Cancelled;

/// One linked account's pacer (GCRA with a burst of one), shared by its datasets: slots are
/// handed out in order, each at least `interval` after the previous. Waiting tasks hold a
/// reserved slot, so N waiters never burst.
#[derive(Debug)]
pub struct AccountPacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

/// The key-wide budget, kept as a calendar: instants booked by requests of every account, any
/// two at least `interval` apart, so a request whose account makes it wait can book a later
/// instant without holding back the others.
#[derive(Debug)]
pub struct KeyCalendar {
    interval: Duration,
    /// Booked instants, ascending; those more than `interval` in the past are dropped.
    booked: Mutex<Vec<Instant>>,
}

impl KeyCalendar {
    /// At most `rate` requests per second (`rate` > 0, validated by the job).
    pub fn per_second(rate: f64) -> KeyCalendar {
        KeyCalendar {
            interval: Duration::from_secs_f64(1.0 / rate),
            booked: Mutex::new(Vec::new()),
        }
    }
}

impl AccountPacer {
    /// At most `rate` requests per minute.
    pub fn per_minute(rate: f64) -> AccountPacer {
        AccountPacer::with_interval(Duration::from_secs_f64(60.0 / rate))
    }

    /// At most `rate` requests per second.
    pub fn per_second(rate: f64) -> AccountPacer {
        AccountPacer::with_interval(Duration::from_secs_f64(1.0 / rate))
    }

    /// One request per `interval`.
    pub fn with_interval(interval: Duration) -> AccountPacer {
        AccountPacer {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Reserves one instant that is a slot of both the account and the `key`, and returns when
    /// it comes; returns how long it waited. Both limits hold between the requests as they are
    /// sent: waiting for one limiter after the other would let a request delayed by the key go
    /// out late while its account's next one goes out on time, too soon after it.
    pub async fn acquire_with(
        &self,
        key: &KeyCalendar,
        cancel: &CancellationToken,
    ) -> Result<Duration, Cancelled> {
        let now = Instant::now();
        let at = {
            // Always the account's lock first, then the key's: no two tasks wait on each other.
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let mut booked = key.booked.lock().unwrap_or_else(|p| p.into_inner());
            let earliest = next.map_or(now, |n| n.max(now));
            let at = book(&mut booked, key.interval, earliest, now);
            *next = Some(at + self.interval);
            at
        };
        wait_until(at, now, cancel).await
    }

    /// Reserves the account's next slot and returns when it opens; returns how long it waited.
    pub async fn acquire(&self, cancel: &CancellationToken) -> Result<Duration, Cancelled> {
        let now = Instant::now();
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        wait_until(at, now, cancel).await
    }

    /// Pushes the next slot to `at` at the earliest: the server said its window is spent.
    pub fn defer_until(&self, at: Instant) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if next.is_none_or(|n| n < at) {
            *next = Some(at);
        }
    }
}

async fn wait_until(
    at: Instant,
    now: Instant,
    cancel: &CancellationToken,
) -> Result<Duration, Cancelled> {
    if at > now {
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = cancel.cancelled() => return Err(Cancelled),
        }
    }
    Ok(at - now)
}

/// Books the first instant from `earliest` on that is at least `interval` away from every
/// instant in `booked` (ascending), and returns it.
fn book(booked: &mut Vec<Instant>, interval: Duration, earliest: Instant, now: Instant) -> Instant {
    // Bookings a whole interval in the past constrain nothing from now on.
    let stale = booked.iter().take_while(|b| **b + interval <= now).count();
    booked.drain(..stale);
    let mut at = earliest;
    let mut index = booked.len();
    for (i, b) in booked.iter().enumerate() {
        if *b + interval <= at {
            continue;
        }
        if at + interval <= *b {
            index = i;
            break;
        }
        at = *b + interval;
    }
    booked.insert(index.min(booked.len()), at);
    // `at` only moves forward past bookings, so the insertion point keeps the order.
    debug_assert!(booked.windows(2).all(|w| w[0] <= w[1]));
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten acquisitions at 5/s take 1.8 s of virtual time: the first is immediate.
    #[tokio::test(start_paused = true)]
    async fn paces_at_the_configured_rate() {
        let l = AccountPacer::per_second(5.0);
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
        let l = std::sync::Arc::new(AccountPacer::per_minute(60.0));
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
        let l = AccountPacer::per_second(100.0);
        let c = CancellationToken::new();
        let start = Instant::now();
        l.defer_until(start + Duration::from_secs(3));
        l.acquire(&c).await.expect("not cancelled");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    /// Two accounts whose slots fall at the same instants share a key limiter: whatever order
    /// the key serves them in, every account's sends stay an account interval apart and all
    /// sends a key interval apart (waiting for the account, then separately for the key, sent an
    /// account's request late and its next one on time: too soon after it).
    #[tokio::test(start_paused = true)]
    async fn both_limits_hold_between_sends() {
        use std::sync::Arc;
        let key = Arc::new(KeyCalendar::per_second(20.0));
        let c = CancellationToken::new();
        let start = Instant::now();
        let mut handles = Vec::new();
        for _account in 0..4 {
            let account = Arc::new(AccountPacer::per_minute(120.0));
            // Two units (datasets) per account, as the job runs them.
            for _unit in 0..2 {
                let (account, key, c) = (account.clone(), key.clone(), c.clone());
                handles.push(tokio::spawn(async move {
                    let mut sent = Vec::new();
                    for _ in 0..5 {
                        account.acquire_with(&key, &c).await.expect("not cancelled");
                        sent.push(Instant::now() - start);
                    }
                    sent
                }));
            }
        }
        let mut by_account: Vec<Vec<Duration>> = Vec::new();
        let mut all = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            let sent = h.await.expect("task ran");
            all.extend(sent.iter().copied());
            if i % 2 == 0 {
                by_account.push(sent);
            } else if let Some(last) = by_account.last_mut() {
                last.extend(sent);
            }
        }
        for sends in &mut by_account {
            sends.sort();
            assert!(
                sends
                    .windows(2)
                    .all(|w| w[1] - w[0] >= Duration::from_millis(500)),
                "{sends:?}"
            );
        }
        all.sort();
        assert!(
            all.windows(2)
                .all(|w| w[1] - w[0] >= Duration::from_millis(50)),
            "{all:?}"
        );
        // 4 accounts at 2/s: 8/s in all, below the key's 20/s: 10 sends each take about 4.5 s.
        assert!(all.last().copied().unwrap_or_default() < Duration::from_millis(4700));
    }

    /// A booking fills a gap between two others when it fits, and goes after them when not.
    #[test]
    fn calendar_booking() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut booked = vec![t0, t0 + ms(300)];
        let i = ms(100);
        assert_eq!(book(&mut booked, i, t0, t0), t0 + ms(100));
        assert_eq!(book(&mut booked, i, t0 + ms(150), t0), t0 + ms(200));
        assert_eq!(book(&mut booked, i, t0 + ms(120), t0), t0 + ms(400));
        assert_eq!(
            booked,
            vec![t0, t0 + ms(100), t0 + ms(200), t0 + ms(300), t0 + ms(400)]
        );
        // Bookings older than an interval are dropped.
        assert_eq!(
            book(&mut booked, i, t0 + ms(1000), t0 + ms(1000)),
            t0 + ms(1000)
        );
        assert_eq!(booked, vec![t0 + ms(1000)]);
    }

    /// Cancellation ends the wait at once.
    #[tokio::test(start_paused = true)]
    async fn cancel_interrupts_wait() {
        let l = AccountPacer::per_minute(1.0);
        let c = CancellationToken::new();
        l.acquire(&c).await.expect("first is free");
        c.cancel();
        assert_eq!(l.acquire(&c).await, Err(Cancelled));
    }
}
