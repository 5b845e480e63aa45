//! Peak request counts over sliding windows, so tests can assert a client's rate.
//!
//! Owns the arrival times of recent requests and, for each window length, the most requests
//! ever seen within one window `(t - span, t]`. The maximum over all windows is reached at a
//! window that ends on a request, so checking at each arrival is exact. A perfectly paced
//! client at `r` requests/s shows up to `ceil(r * span)` in a window of `span` seconds.
//! It must not know what a request is for.

use std::collections::VecDeque;
use std::time::Duration;

/// Beyond this many arrivals inside the longest window, the oldest are forgotten (and counts
/// become lower bounds): only a benchmark gets there.
const MAX_KEPT: usize = 1 << 20;

/// Peaks over several window lengths, from one list of arrivals.
#[derive(Debug)]
pub(crate) struct Peaks<const N: usize> {
    /// Window lengths in microseconds, shortest first.
    spans: [u64; N],
    peaks: [u64; N],
    /// Arrival times in microseconds, oldest first, within the longest span.
    times: VecDeque<u64>,
}

impl<const N: usize> Peaks<N> {
    /// Windows of these lengths, shortest first.
    pub(crate) fn new(spans: [Duration; N]) -> Self {
        Self {
            spans: spans.map(|s| u64::try_from(s.as_micros()).unwrap_or(u64::MAX)),
            peaks: [0; N],
            times: VecDeque::new(),
        }
    }

    /// A request arrived at `t` microseconds (times are made non-decreasing).
    pub(crate) fn record(&mut self, t: u64) {
        let t = self.times.back().map_or(t, |&last| t.max(last));
        let longest = self.spans.last().copied().unwrap_or(0);
        while self
            .times
            .front()
            .is_some_and(|&old| old.saturating_add(longest) <= t)
        {
            self.times.pop_front();
        }
        if self.times.len() >= MAX_KEPT {
            self.times.pop_front();
        }
        self.times.push_back(t);
        for (span, peak) in self.spans.iter().zip(&mut self.peaks) {
            let outside = self
                .times
                .partition_point(|&old| old.saturating_add(*span) <= t);
            *peak = (*peak).max((self.times.len() - outside) as u64);
        }
    }

    /// The peak of each window, in the order of `new`.
    pub(crate) fn peaks(&self) -> [u64; N] {
        self.peaks
    }

    /// Forgets every arrival and peak.
    pub(crate) fn reset(&mut self) {
        self.times.clear();
        self.peaks = [0; N];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn paced_and_bursty() {
        let mut p = Peaks::new([Duration::from_secs(1), Duration::from_secs(10)]);
        // 2.5 requests/s, perfectly paced: 3 in some second, 25 in any 10 s.
        for i in 0..40 {
            p.record(i * 400 * MS);
        }
        assert_eq!(p.peaks(), [3, 25]);
        // A burst of 5 within 100 ms, long after.
        for i in 0..5 {
            p.record(100_000 * MS + i * 20 * MS);
        }
        assert_eq!(p.peaks(), [5, 25]);
        p.reset();
        assert_eq!(p.peaks(), [0, 0]);
        // Exactly one span apart: the window is half-open, so they never count together.
        p.record(0);
        p.record(1000 * MS);
        assert_eq!(p.peaks(), [1, 2]);
        // Out-of-order times count as the latest.
        p.record(500 * MS);
        assert_eq!(p.peaks(), [2, 3]);
    }
}
