//! When a cursor is too old: expiry on demand and the cursor TTL (SPEC section 10 tests that a
//! refused cursor restarts a unit).
//!
//! Owns the expiry generation (`POST /_sim/expire-cursors` refuses every cursor issued before
//! it) and the optional TTL, with the issue stamps cursors carry for it. Stamps are rounded
//! down to a quantum (a tenth of the TTL, between 1 ms and 1 s) so that a page body, cursor
//! included, can still be cached for that long; a cursor is therefore refused between
//! `ttl - quantum` and `ttl` after the page that carried it. It must not know the cursor's wire
//! form or HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cursor::Issue;

/// Why a cursor is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Issued before the last `POST /_sim/expire-cursors`.
    Expired,
    /// Older than the TTL, or without the issue time a TTL needs.
    TooOld(Duration),
}

impl Refusal {
    /// The `detail` of the 400 that refuses the cursor.
    pub(crate) fn detail(self) -> String {
        match self {
            Refusal::Expired => "expired cursor".to_owned(),
            Refusal::TooOld(ttl) => format!(
                "expired cursor: older than the cursor TTL of {}",
                humantime::format_duration(ttl)
            ),
        }
    }
}

/// The simulator's expiry rules.
#[derive(Debug)]
pub(crate) struct Expiry {
    generation: AtomicU64,
    ttl_ms: Option<u64>,
    quantum_ms: u64,
}

impl Expiry {
    pub(crate) fn new(ttl: Option<Duration>) -> Self {
        let ttl_ms = ttl.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1));
        Self {
            generation: AtomicU64::new(0),
            ttl_ms,
            quantum_ms: ttl_ms.map_or(1, |t| (t / 10).clamp(1, 1000)),
        }
    }

    /// The current generation: cursors issued now carry it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Refuses every cursor issued so far; returns the new generation.
    pub(crate) fn expire_all(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The issue of a cursor minted now (`now_ms`, Unix milliseconds) for a list of `day`.
    pub(crate) fn issue(&self, day: u32, now_ms: u64) -> Issue {
        Issue {
            day,
            generation: self.generation(),
            stamp: self.ttl_ms.map(|_| now_ms - now_ms % self.quantum_ms),
        }
    }

    /// Why a cursor issued as `issue` is refused at `now_ms`, if it is.
    pub(crate) fn refusal(&self, issue: &Issue, now_ms: u64) -> Option<Refusal> {
        if issue.generation < self.generation() {
            return Some(Refusal::Expired);
        }
        let ttl_ms = self.ttl_ms?;
        let too_old = Refusal::TooOld(Duration::from_millis(ttl_ms));
        match issue.stamp {
            // Without a stamp the cursor cannot be shown to be young.
            None => Some(too_old),
            Some(stamp) => (now_ms.saturating_sub(stamp) > ttl_ms).then_some(too_old),
        }
    }
}

/// Now, in Unix milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_all_refuses_earlier_generations_only() {
        let expiry = Expiry::new(None);
        let old = expiry.issue(3, 1000);
        assert_eq!(old.stamp, None);
        assert_eq!(expiry.refusal(&old, 1_000_000), None);
        assert_eq!(expiry.expire_all(), 1);
        assert_eq!(expiry.refusal(&old, 1001), Some(Refusal::Expired));
        let new = expiry.issue(3, 1002);
        assert_eq!((new.day, new.generation), (3, 1));
        assert_eq!(expiry.refusal(&new, u64::MAX), None);
    }

    #[test]
    fn ttl_refuses_old_and_unstamped_cursors() {
        let expiry = Expiry::new(Some(Duration::from_secs(10)));
        // Stamps are rounded down to a second (a tenth of 10 s).
        let issue = expiry.issue(0, 1_700_000_000_999);
        assert_eq!(issue.stamp, Some(1_700_000_000_000));
        assert_eq!(expiry.refusal(&issue, 1_700_000_010_000), None);
        let refused = expiry.refusal(&issue, 1_700_000_010_001);
        assert_eq!(refused, Some(Refusal::TooOld(Duration::from_secs(10))));
        assert_eq!(
            refused.map(Refusal::detail).as_deref(),
            Some("expired cursor: older than the cursor TTL of 10s")
        );
        assert!(expiry.refusal(&Issue::default(), 0).is_some());
        // A clock that went back does not refuse.
        assert_eq!(expiry.refusal(&issue, 0), None);
        let fine = Expiry::new(Some(Duration::from_millis(5)));
        assert_eq!(fine.issue(0, 1234).stamp, Some(1234));
    }
}
