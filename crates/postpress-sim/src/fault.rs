//! Injected faults: what can go wrong with a data request, and when it does.
//!
//! Owns the fault vocabulary (documented error types, 429, transport faults, malformed pages),
//! its names in scenario files and stats, scripted per-account rules with their remaining
//! counts, and the random faults with their "never more than N in a row" guard. It must not
//! know how a fault is rendered on the wire: `server` does that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::api_errors::{self, ApiErrorType, ERROR_TYPES};
use super::data::Dataset;

/// A way a malformed page breaks the contract while staying a 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The body is cut in the middle: not JSON at all.
    InvalidJson,
    /// The page's `object` is `UserList` instead of the list's type.
    WrongObject,
    /// A required field of item 0 is missing.
    MissingField,
    /// A field of item 0 has the wrong JSON type (`name: 123`, `is_private: "yes"`).
    WrongType,
    /// A required field of item 0 is `null`.
    NullRequired,
}

const MALFORMED: [(Malformed, &str); 5] = [
    (Malformed::InvalidJson, "malformed:invalid_json"),
    (Malformed::WrongObject, "malformed:wrong_object"),
    (Malformed::MissingField, "malformed:missing_field"),
    (Malformed::WrongType, "malformed:wrong_type"),
    (Malformed::NullRequired, "malformed:null_required"),
];

/// One injectable fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A documented error type, served with its status and envelope.
    Api(&'static ApiErrorType),
    /// 429 with `Retry-After`.
    TooManyRequests,
    /// The connection is closed without a response.
    Drop,
    /// Headers with the full `Content-Length`, then half the body, then the connection closes.
    Truncate,
    /// `items: []` with a fresh cursor that resumes at the same offset.
    EmptyPage,
    /// The normal page, after an extra delay.
    Latency,
    /// A 200 whose body breaks the contract.
    Malformed(Malformed),
}

/// How many distinct fault kinds there are (the size of the stats table).
pub(crate) const KINDS: usize = ERROR_TYPES.len() + 5 + MALFORMED.len();

impl Fault {
    /// Parses a fault name as written in scenario files and `--fault-kinds`.
    pub fn parse(name: &str) -> Option<Fault> {
        let fault = match name {
            "429" => Fault::TooManyRequests,
            "drop" => Fault::Drop,
            "truncate" => Fault::Truncate,
            "empty_page" => Fault::EmptyPage,
            "latency" => Fault::Latency,
            _ => {
                if let Some(t) = api_errors::find(name) {
                    Fault::Api(t)
                } else {
                    let (m, _) = MALFORMED.iter().find(|(_, n)| *n == name)?;
                    Fault::Malformed(*m)
                }
            }
        };
        Some(fault)
    }

    /// The name of this fault in scenario files and in `/_sim/stats`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Api(t) => t.kind,
            Fault::TooManyRequests => "429",
            Fault::Drop => "drop",
            Fault::Truncate => "truncate",
            Fault::EmptyPage => "empty_page",
            Fault::Latency => "latency",
            Fault::Malformed(m) => MALFORMED
                .iter()
                .find(|(k, _)| *k == m)
                .map_or("malformed", |(_, n)| n),
        }
    }

    /// A stable index in `0..KINDS` for the stats table.
    pub(crate) fn index(self) -> usize {
        let n = ERROR_TYPES.len();
        match self {
            Fault::Api(t) => api_errors::index_of(t.kind).unwrap_or(0),
            Fault::TooManyRequests => n,
            Fault::Drop => n + 1,
            Fault::Truncate => n + 2,
            Fault::EmptyPage => n + 3,
            Fault::Latency => n + 4,
            Fault::Malformed(m) => n + 5 + MALFORMED.iter().position(|(k, _)| *k == m).unwrap_or(0),
        }
    }

    /// The fault with stats index `i` (the inverse of [`Fault::index`]).
    pub(crate) fn from_index(i: usize) -> Option<Fault> {
        let n = ERROR_TYPES.len();
        Some(match i {
            _ if i < n => Fault::Api(&ERROR_TYPES[i]),
            _ if i == n => Fault::TooManyRequests,
            _ if i == n + 1 => Fault::Drop,
            _ if i == n + 2 => Fault::Truncate,
            _ if i == n + 3 => Fault::EmptyPage,
            _ if i == n + 4 => Fault::Latency,
            _ => Fault::Malformed(MALFORMED.get(i - n - 5)?.0),
        })
    }

    /// Every name [`Fault::parse`] accepts, for error messages.
    pub fn all_names() -> Vec<&'static str> {
        (0..KINDS)
            .filter_map(Fault::from_index)
            .map(Fault::name)
            .collect()
    }

    /// The default random fault kinds: everything a client is expected to retry.
    pub fn retryable() -> Vec<Fault> {
        [
            "errors/provider_error",
            "errors/unexpected_error",
            "errors/service_unavailable",
            "errors/no_client_session",
            "errors/no_channel",
            "errors/no_handler",
            "errors/network_down",
            "errors/request_timeout",
            "429",
            "drop",
            "truncate",
            "empty_page",
            "latency",
        ]
        .into_iter()
        .filter_map(Fault::parse)
        .collect()
    }
}

/// A scripted fault of one account: fires on matching requests, `times` times or forever.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Only requests for this list; both lists when `None`.
    pub dataset: Option<Dataset>,
    /// Only this 0-based page number; every page when `None`.
    pub page: Option<u64>,
    /// What happens.
    pub fault: Fault,
    /// How many times the rule fires; forever when `None`.
    pub times: Option<u64>,
}

/// A rule and how many times it may still fire.
#[derive(Debug)]
pub(crate) struct ArmedRule {
    rule: FaultRule,
    remaining: AtomicU64,
}

impl ArmedRule {
    pub(crate) fn new(rule: FaultRule) -> Self {
        let remaining = AtomicU64::new(rule.times.unwrap_or(u64::MAX));
        Self { rule, remaining }
    }
}

/// The first armed rule matching `(dataset, page_no)` that still has shots left, consuming one.
pub(crate) fn scripted(rules: &[ArmedRule], dataset: Dataset, page_no: u64) -> Option<Fault> {
    rules.iter().find_map(|armed| {
        let r = &armed.rule;
        if r.dataset.is_some_and(|d| d != dataset) || r.page.is_some_and(|p| p != page_no) {
            return None;
        }
        let forever = r.times.is_none();
        let fired = forever
            || armed
                .remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok();
        fired.then_some(r.fault)
    })
}

/// Global random faults, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    /// Probability that a data request gets a fault, `0.0..=1.0`.
    pub rate: f64,
    /// The kinds drawn from, uniformly.
    pub kinds: Vec<Fault>,
    /// Never more than this many faults in a row for the same (account, dataset, offset).
    pub max_consecutive: u32,
    /// `Retry-After` on injected 429s.
    pub retry_after: std::time::Duration,
}

impl Default for RandomFaults {
    fn default() -> Self {
        Self {
            rate: 0.0,
            kinds: Fault::retryable(),
            max_consecutive: 3,
            retry_after: std::time::Duration::from_secs(1),
        }
    }
}

/// The key of the "in a row" guard: one page position of one list.
type StreakKey = (u32, Dataset, u64);

/// Draws random faults and remembers streaks.
#[derive(Debug)]
pub(crate) struct RandomInjector {
    config: RandomFaults,
    state: Mutex<(fastrand::Rng, HashMap<StreakKey, u32>)>,
}

impl RandomInjector {
    pub(crate) fn new(config: RandomFaults, seed: u64) -> Self {
        Self {
            config,
            state: Mutex::new((fastrand::Rng::with_seed(seed ^ 0xfa17), HashMap::new())),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.rate > 0.0 && !self.config.kinds.is_empty()
    }

    pub(crate) fn retry_after(&self) -> std::time::Duration {
        self.config.retry_after
    }

    /// Maybe a fault for this request. `scripted` is the fault a rule already chose, which
    /// counts towards the streak without a draw.
    pub(crate) fn decide(&self, key: StreakKey, scripted: Option<Fault>) -> Option<Fault> {
        if !self.enabled() {
            return scripted;
        }
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (rng, streaks) = &mut *guard;
        let fault = scripted.or_else(|| {
            let streak = streaks.get(&key).copied().unwrap_or(0);
            if streak >= self.config.max_consecutive || rng.f64() >= self.config.rate {
                return None;
            }
            Some(self.config.kinds[rng.usize(..self.config.kinds.len())])
        });
        match fault {
            Some(_) => *streaks.entry(key).or_insert(0) += 1,
            None => {
                streaks.remove(&key);
            }
        }
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let names = Fault::all_names();
        assert_eq!(names.len(), KINDS);
        for (i, name) in names.iter().enumerate() {
            let f = Fault::parse(name).unwrap();
            assert_eq!(f.name(), *name);
            assert_eq!(f.index(), i);
        }
        assert_eq!(Fault::parse("nope"), None);
        assert_eq!(Fault::retryable().len(), 13);
    }

    #[test]
    fn scripted_rules_count_down() {
        let rules = vec![
            ArmedRule::new(FaultRule {
                dataset: Some(Dataset::Followers),
                page: Some(1),
                fault: Fault::Drop,
                times: Some(2),
            }),
            ArmedRule::new(FaultRule {
                dataset: None,
                page: None,
                fault: Fault::Latency,
                times: None,
            }),
        ];
        assert_eq!(scripted(&rules, Dataset::Followers, 1), Some(Fault::Drop));
        assert_eq!(scripted(&rules, Dataset::Followers, 1), Some(Fault::Drop));
        assert_eq!(
            scripted(&rules, Dataset::Followers, 1),
            Some(Fault::Latency)
        );
        assert_eq!(
            scripted(&rules, Dataset::Following, 0),
            Some(Fault::Latency)
        );
    }

    #[test]
    fn random_faults_respect_max_consecutive() {
        let inj = RandomInjector::new(
            RandomFaults {
                rate: 1.0,
                max_consecutive: 3,
                ..RandomFaults::default()
            },
            1,
        );
        let key = (0, Dataset::Followers, 0);
        let run: Vec<bool> = (0..8).map(|_| inj.decide(key, None).is_some()).collect();
        assert_eq!(run, [true, true, true, false, true, true, true, false]);
    }
}
