//! What the simulator saw, for `GET /_sim/stats`.
//!
//! Owns lock-free counters (requests by status and route, pages, items, faults by kind, rate
//! and limit violations, refused cursors; per account and per list: requests, pages, items),
//! the peak request counts over sliding windows, each under its own mutex (key-wide per 1 s and
//! 10 s, per account per 1 s and 60 s), and their JSON form with stable keys. It must not decide anything: the
//! server counts, tests and benchmarks read.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::data::Dataset;
use super::fault::{Fault, KINDS};
use super::window::Peaks;

/// The route a request was for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route {
    Followers,
    Following,
    Other,
}

/// A client behaviour the API forbids.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Violation {
    /// Faster than `account_rpm` for one account.
    AccountRate,
    /// Faster than `key_rps` for the whole key.
    KeyRate,
    /// `limit` out of bounds or not an integer.
    Limit,
}

/// Counters of one list of one account.
#[derive(Debug, Default)]
struct ListCounters {
    requests: AtomicU64,
    pages: AtomicU64,
    items: AtomicU64,
}

/// Counters of one account.
#[derive(Debug)]
pub(crate) struct AccountCounters {
    requests: AtomicU64,
    violations: AtomicU64,
    /// Followers, following.
    lists: [ListCounters; 2],
    /// Requests in 1 s and in 60 s windows.
    peaks: Mutex<Peaks<2>>,
}

impl Default for AccountCounters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            violations: AtomicU64::new(0),
            lists: Default::default(),
            peaks: Mutex::new(Peaks::new([
                Duration::from_secs(1),
                Duration::from_secs(60),
            ])),
        }
    }
}

impl AccountCounters {
    fn reset(&self) {
        let lists = self.lists.iter();
        for c in [&self.requests, &self.violations]
            .into_iter()
            .chain(lists.flat_map(|l| [&l.requests, &l.pages, &l.items]))
        {
            c.store(0, Ordering::Relaxed);
        }
        lock(&self.peaks).reset();
    }

    fn to_json(&self) -> Option<Value> {
        let (requests, violations) = (get(&self.requests), get(&self.violations));
        if requests == 0 && violations == 0 {
            return None;
        }
        let list = |d: Dataset| {
            let l = &self.lists[d.index()];
            json!({"requests": get(&l.requests), "pages": get(&l.pages), "items": get(&l.items)})
        };
        let [second, minute] = lock(&self.peaks).peaks();
        Some(json!({
            "requests": requests,
            "violations": violations,
            "peak_requests": {"1s": second, "60s": minute},
            "followers": list(Dataset::Followers),
            "following": list(Dataset::Following),
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CursorRefusal {
    /// Malformed, tampered with, or another list's.
    Invalid,
    /// Expired on demand or older than the TTL.
    Expired,
}

/// One data request being answered (see [`Stats::in_flight`]).
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The simulator's counters.
#[derive(Debug)]
pub(crate) struct Stats {
    requests: AtomicU64,
    by_status: Box<[AtomicU64]>,
    routes: [AtomicU64; 3],
    pages: AtomicU64,
    items: AtomicU64,
    user_id: AtomicU64,
    faults: Box<[AtomicU64]>,
    violations: [AtomicU64; 3],
    cursors: [AtomicU64; 2],
    /// Data requests in 1 s and in 10 s windows, whatever their outcome.
    peaks: Mutex<Peaks<2>>,
    /// Data requests being answered now, and the most at any one time: how many a client
    /// really had in flight together, the evidence of its concurrency that needs no clock.
    in_flight: AtomicU64,
    in_flight_peak: AtomicU64,
    /// The origin of the windows' clock.
    started: Instant,
}

const STATUSES: usize = 600;

fn counters(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            requests: AtomicU64::new(0),
            by_status: counters(STATUSES),
            routes: Default::default(),
            pages: AtomicU64::new(0),
            items: AtomicU64::new(0),
            user_id: AtomicU64::new(0),
            faults: counters(KINDS),
            violations: Default::default(),
            cursors: Default::default(),
            peaks: Mutex::new(Peaks::new([
                Duration::from_secs(1),
                Duration::from_secs(10),
            ])),
            in_flight: AtomicU64::new(0),
            in_flight_peak: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }

    /// A request on a data route arrived at `now`.
    pub(crate) fn data_request(&self, now: Instant) {
        lock(&self.peaks).record(self.micros(now));
    }

    /// A data request started being answered; the guard marks its end when dropped.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.in_flight_peak.fetch_max(now, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// A data request arrived at `now` for a known account's list.
    pub(crate) fn account_request(&self, a: &AccountCounters, dataset: Dataset, now: Instant) {
        bump(&a.requests);
        bump(&a.lists[dataset.index()].requests);
        lock(&a.peaks).record(self.micros(now));
    }

    /// A cursor was refused.
    pub(crate) fn cursor_refused(&self, why: CursorRefusal) {
        bump(&self.cursors[why as usize]);
    }

    pub(crate) fn request(&self, route: Route) {
        bump(&self.requests);
        bump(&self.routes[route as usize]);
    }

    pub(crate) fn status(&self, status: u16) {
        if let Some(c) = self.by_status.get(usize::from(status)) {
            bump(c);
        }
    }

    /// A page of `items` items was served for this account's list.
    pub(crate) fn page(&self, items: u64, account: &AccountCounters, dataset: Dataset) {
        bump(&self.pages);
        self.items.fetch_add(items, Ordering::Relaxed);
        let list = &account.lists[dataset.index()];
        bump(&list.pages);
        list.items.fetch_add(items, Ordering::Relaxed);
    }

    pub(crate) fn user_id(&self) {
        bump(&self.user_id);
    }

    pub(crate) fn fault(&self, fault: Fault) {
        if let Some(c) = self.faults.get(fault.index()) {
            bump(c);
        }
    }

    pub(crate) fn violation(&self, v: Violation, account: Option<&AccountCounters>) {
        bump(&self.violations[v as usize]);
        if let Some(a) = account {
            bump(&a.violations);
        }
    }

    /// Zeroes every counter, the accounts' included.
    pub(crate) fn reset<'a>(&self, accounts: impl Iterator<Item = &'a AccountCounters>) {
        let all = [&self.requests, &self.pages, &self.items, &self.user_id];
        for c in all
            .into_iter()
            .chain(self.by_status.iter())
            .chain(self.routes.iter())
            .chain(self.faults.iter())
            .chain(self.violations.iter())
            .chain(self.cursors.iter())
        {
            c.store(0, Ordering::Relaxed);
        }
        lock(&self.peaks).reset();
        self.in_flight_peak.store(0, Ordering::Relaxed);
        for a in accounts {
            a.reset();
        }
    }

    /// The `/_sim/stats` document. Accounts appear once they have seen a request or a
    /// violation.
    pub(crate) fn to_json<'a>(
        &self,
        accounts: impl Iterator<Item = (&'a str, &'a AccountCounters)>,
    ) -> Value {
        let by_status: BTreeMap<String, u64> = self
            .by_status
            .iter()
            .enumerate()
            .filter(|(_, c)| get(c) > 0)
            .map(|(s, c)| (s.to_string(), get(c)))
            .collect();
        let faults: BTreeMap<&str, u64> = self
            .faults
            .iter()
            .enumerate()
            .filter(|(_, c)| get(c) > 0)
            .filter_map(|(i, c)| Some((Fault::from_index(i)?.name(), get(c))))
            .collect();
        let per_account: Map<String, Value> = accounts
            .filter_map(|(id, a)| Some((id.to_owned(), a.to_json()?)))
            .collect();
        let [second, ten] = lock(&self.peaks).peaks();
        json!({
            "requests": get(&self.requests),
            "by_status": by_status,
            "by_route": {
                "followers": get(&self.routes[Route::Followers as usize]),
                "following": get(&self.routes[Route::Following as usize]),
                "other": get(&self.routes[Route::Other as usize]),
            },
            "pages": get(&self.pages),
            "items": get(&self.items),
            "user_id": get(&self.user_id),
            "faults": faults,
            "violations": {
                "account_rate": get(&self.violations[Violation::AccountRate as usize]),
                "key_rate": get(&self.violations[Violation::KeyRate as usize]),
                "limit": get(&self.violations[Violation::Limit as usize]),
            },
            "cursors": {
                "invalid": get(&self.cursors[CursorRefusal::Invalid as usize]),
                "expired": get(&self.cursors[CursorRefusal::Expired as usize]),
            },
            "peak_requests": {"1s": second, "10s": ten},
            "in_flight": get(&self.in_flight),
            "peak_in_flight": get(&self.in_flight_peak),
            "accounts": per_account,
        })
    }
}
