//! What the simulator saw, for `GET /_sim/stats`.
//!
//! Owns lock-free counters (requests by status and route, pages, items, faults by kind, rate
//! and limit violations, per-account requests) and their JSON form with stable keys. It must
//! not decide anything: the server counts, tests and benchmarks read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::fault::{Fault, KINDS};

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

/// Counters of one account.
#[derive(Debug, Default)]
pub(crate) struct AccountCounters {
    pub(crate) requests: AtomicU64,
    pub(crate) violations: AtomicU64,
}

impl AccountCounters {
    fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.violations.store(0, Ordering::Relaxed);
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
        }
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

    pub(crate) fn page(&self, items: u64) {
        bump(&self.pages);
        self.items.fetch_add(items, Ordering::Relaxed);
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
        {
            c.store(0, Ordering::Relaxed);
        }
        for a in accounts {
            a.reset();
        }
    }

    /// The `/_sim/stats` document. Accounts appear once they have seen a request.
    pub(crate) fn to_json<'a>(
        &self,
        accounts: impl Iterator<Item = (&'a str, &'a AccountCounters)>,
    ) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
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
        let mut per_account = Map::new();
        for (id, a) in accounts {
            let (requests, violations) = (get(&a.requests), get(&a.violations));
            if requests > 0 || violations > 0 {
                per_account.insert(
                    id.to_owned(),
                    json!({"requests": requests, "violations": violations}),
                );
            }
        }
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
            "accounts": per_account,
        })
    }
}
