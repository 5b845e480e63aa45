//! Rate enforcement: the limits a well-behaved client must stay under.
//!
//! Owns the per-account rule (a request sooner than `60/R` seconds after the previous
//! *accepted* one of that account is refused) and the key-wide GCRA with burst 1, both with
//! 20 ms of tolerance for timer jitter. A refused request does not move the clock. It must not
//! know about HTTP: the server turns a refusal into a 429.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How much earlier than allowed a request may arrive and still pass.
pub(crate) const TOLERANCE: Duration = Duration::from_millis(20);

/// The per-account limit: a minimum interval between accepted requests.
#[derive(Debug)]
pub(crate) struct AccountGate {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl AccountGate {
    pub(crate) fn new(per_minute: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(60.0 / per_minute),
            last: Mutex::new(None),
        }
    }

    /// The minimum interval between two requests.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Accepts the request arriving at `now`, or says how long until one would be accepted.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = *last {
            let due = prev + self.interval;
            if now + TOLERANCE < due {
                return Err(due - now);
            }
        }
        *last = Some(now);
        Ok(())
    }
}

/// The key-wide limit: GCRA with burst 1 (one request per emission interval, no saving up).
#[derive(Debug)]
pub(crate) struct KeyGate {
    interval: Duration,
    /// Theoretical arrival time of the next conforming request.
    tat: Mutex<Option<Instant>>,
}

impl KeyGate {
    pub(crate) fn new(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            tat: Mutex::new(None),
        }
    }

    /// Accepts the request arriving at `now`, or says how long until one would be accepted.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        let mut tat = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        let due = tat.unwrap_or(now);
        if now + TOLERANCE < due {
            return Err(due - now);
        }
        *tat = Some(due.max(now) + self.interval);
        Ok(())
    }
}

/// Whole seconds for `Retry-After`, rounded up.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_gate() {
        let gate = AccountGate::new(600.0); // 100 ms
        let t0 = Instant::now();
        assert_eq!(gate.check(t0), Ok(()));
        assert_eq!(
            gate.check(t0 + Duration::from_millis(50)),
            Err(Duration::from_millis(50))
        );
        // A refusal does not move the clock; 85 ms is within the tolerance.
        assert_eq!(gate.check(t0 + Duration::from_millis(85)), Ok(()));
        assert!(gate.check(t0 + Duration::from_millis(150)).is_err());
        assert_eq!(gate.check(t0 + Duration::from_millis(200)), Ok(()));
    }

    #[test]
    fn key_gate() {
        let gate = KeyGate::new(10.0); // 100 ms
        let t0 = Instant::now();
        assert_eq!(gate.check(t0), Ok(()));
        assert!(gate.check(t0 + Duration::from_millis(10)).is_err());
        assert_eq!(gate.check(t0 + Duration::from_millis(90)), Ok(()));
        // Early by 10 ms does not accumulate: the next slot is still t0 + 200 ms.
        assert!(gate.check(t0 + Duration::from_millis(170)).is_err());
        assert_eq!(gate.check(t0 + Duration::from_millis(185)), Ok(()));
        // After a pause there is no burst to spend.
        assert_eq!(gate.check(t0 + Duration::from_secs(5)), Ok(()));
        assert!(gate.check(t0 + Duration::from_millis(5010)).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }
}
