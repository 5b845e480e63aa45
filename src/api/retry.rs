//! How long to wait before the next attempt: exponential backoff with full jitter, and
//! `Retry-After` honoured but capped. Whether to retry at all is `error.rs`'s business.

use std::time::{Duration, SystemTime};

/// Exponential backoff with full jitter (uniform between zero and a ceiling that doubles per
/// retry from `initial` up to `max`), see <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    rng: Box<dyn FnMut() -> f64 + Send>,
}

impl Backoff {
    /// A backoff drawing its jitter from `fastrand`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff::new_with_rng(initial, max, Box::new(fastrand::f64))
    }

    /// A backoff with an injected source of uniform numbers in `[0, 1)`, for tests.
    pub fn new_with_rng(
        initial: Duration,
        max: Duration,
        rng: Box<dyn FnMut() -> f64 + Send>,
    ) -> Backoff {
        Backoff { initial, max, rng }
    }

    /// The ceiling before retry number `retry` (1 = the wait after the first failed attempt).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2f64.powi(i32::try_from(retry.saturating_sub(1).min(62)).unwrap_or(62));
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The wait before retry number `retry`: `Retry-After` when the server sent one (capped at
    /// `max`), else a jittered draw below the ceiling.
    pub fn delay(&mut self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max),
            None => {
                let u = (self.rng)().clamp(0.0, 1.0);
                self.ceiling(retry).mul_f64(u)
            }
        }
    }
}

/// Parses a `Retry-After` value: delta seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2026 07:28:00 GMT"`, RFC 9110 §10.2.3). A date in the past means now.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses `x-ratelimit-reset`: seconds until the reset (`"0.5"`, `"30"`), or a Unix epoch time
/// in seconds when the number is that large.
pub fn parse_ratelimit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    if secs > 1_000_000_000.0 {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs);
        return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
    }
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(u: f64) -> Backoff {
        Backoff::new_with_rng(
            Duration::from_secs(1),
            Duration::from_secs(120),
            Box::new(move || u),
        )
    }

    /// The ceiling doubles from initial and stops at max.
    #[test]
    fn ceiling_doubles_then_caps() {
        let b = fixed(1.0);
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(2), Duration::from_secs(2));
        assert_eq!(b.ceiling(5), Duration::from_secs(16));
        assert_eq!(b.ceiling(8), Duration::from_secs(120));
        assert_eq!(b.ceiling(1000), Duration::from_secs(120));
    }

    /// Jitter spans zero to the ceiling: min, midpoint and max draws.
    #[test]
    fn full_jitter_bounds() {
        assert_eq!(fixed(0.0).delay(3, None), Duration::ZERO);
        assert_eq!(fixed(0.5).delay(3, None), Duration::from_secs(2));
        assert_eq!(fixed(1.0).delay(3, None), Duration::from_secs(4));
        assert_eq!(fixed(1.0).delay(30, None), Duration::from_secs(120));
    }

    /// Retry-After wins over the jitter, capped at max.
    #[test]
    fn retry_after_wins_and_is_capped() {
        assert_eq!(
            fixed(0.0).delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            fixed(0.0).delay(1, Some(Duration::from_secs(7200))),
            Duration::from_secs(120)
        );
    }

    /// Both forms of Retry-After parse: seconds and HTTP date.
    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").expect("valid date");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    /// x-ratelimit-reset as delta seconds or as an epoch time.
    #[test]
    fn ratelimit_reset_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_ratelimit_reset("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_ratelimit_reset("1800000010", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_ratelimit_reset("x", now), None);
    }
}
