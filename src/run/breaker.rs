//! The run's breakers (SPEC §3): when something global is wrong, stop early instead of failing
//! every unit one by one.
//!
//! * The run-level breaker: until the first page is received, at most [`PROBE_UNITS`] units are
//!   started. When the first units to end (that many, or all when the run has fewer) all failed
//!   the same way — same status and type, or the same connection error — and not one page was
//!   received, it trips. It never trips once any page was received.
//! * The destination breaker: [`STORAGE_FAILURES`] units in a row that fail for a storage error
//!   trip it. A unit that publishes resets the count; a unit that fails at the API neither counts
//!   nor resets it (it says nothing about the destination).
//!
//! [`Breaker`] holds the rules and nothing else, so they are tested as a table; [`Breakers`]
//! shares it between the units and lets units wait at the gate. This module knows unit reports
//! and failures; it must not know HTTP, storage or how units run.

use crate::report::{FailureKind, UnitFailure, UnitReport, UnitStatus};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Units started before the first page is received, and the number of ends the run-level
/// breaker judges.
pub const PROBE_UNITS: usize = 10;

/// Storage failures in a row that trip the destination breaker.
pub const STORAGE_FAILURES: u32 = 3;

/// How a unit failed at the API, as the run-level breaker compares failures: the status and
/// type, or the transport error's kind and root cause (never the URL, which names the account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// HTTP status, when the server answered.
    pub status: Option<u16>,
    /// Envelope type (`errors/invalid_credentials`), or `connection`, `timeout`, ...
    pub error_type: String,
    /// For a transport error: the deepest cause (`Connection refused (os error 111)`).
    pub cause: Option<String>,
}

impl Signature {
    /// The signature of an API failure; `None` for any other kind (storage, invalid page, ...).
    pub fn of(f: &UnitFailure) -> Option<Signature> {
        (f.kind == FailureKind::Api).then(|| Signature {
            status: f.status,
            error_type: f.label().to_owned(),
            cause: f.cause.clone(),
        })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, &self.cause) {
            (Some(s), _) => write!(f, "HTTP {s} {}", self.error_type),
            (None, Some(c)) => write!(f, "a {} error ({c})", self.error_type),
            (None, None) => write!(f, "a {} error", self.error_type),
        }
    }
}

/// Why a breaker tripped; its `Display` is the run's error and its last ERROR line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trip {
    /// The first units all failed the same way before any page was received.
    Global {
        /// How many units ended that way.
        units: usize,
        /// What each of them got.
        signature: Signature,
        /// `host:port` of `base_url`, for what to check.
        api_host: String,
    },
    /// Units in a row failed for a storage error.
    Destination {
        /// How many.
        units: u32,
        /// The last one's error.
        last_error: String,
    },
}

impl Trip {
    /// What to check, named: the API key for 401/403, base_url for 404 or a transport error.
    fn advice(signature: &Signature, host: &str) -> String {
        match signature.status {
            Some(401 | 403) => "check the API key (POSTPRESS_API_KEY or api.api_key_file)".into(),
            Some(404) => format!(
                "check base_url: {host} does not serve the API's paths there, or knows none of the accounts"
            ),
            Some(429 | 500..=599) => {
                "the API is failing for every account; check its status, then rerun".into()
            }
            Some(_) => format!("check base_url ({host}) and the API key"),
            None => format!("check base_url and the network: nothing usable answered at {host}"),
        }
    }
}

impl fmt::Display for Trip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trip::Global {
                units,
                signature,
                api_host,
            } => write!(
                f,
                "every account tried got {signature} (the first {units} units, no page received): {}; no other unit was started",
                Trip::advice(signature, api_host)
            ),
            Trip::Destination { units, last_error } => write!(
                f,
                "{units} units in a row could not be written to the destination; check it, then rerun (no further fetching: it would be thrown away); the last error: {last_error}"
            ),
        }
    }
}

/// What the gate says to a unit that wants to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Start now.
    Start,
    /// Wait: the probe units have not told yet whether the API answers.
    Wait,
    /// A breaker tripped: do not start.
    Stop,
}

/// The breakers' rules, without any waiting or locking.
#[derive(Debug)]
pub struct Breaker {
    /// Ends the run-level breaker judges: `PROBE_UNITS`, or every unit when fewer.
    probes: usize,
    api_host: String,
    started: usize,
    page_seen: bool,
    /// Signatures of the units that ended while no page was received, in order of ending.
    ends: Vec<Option<Signature>>,
    /// The probe ends were not all the same: the gate is open, the run-level breaker is off.
    cleared: bool,
    storage_streak: u32,
    tripped: Option<Trip>,
}

impl Breaker {
    /// Breakers for a run of `units` units against the API at `api_host` (`host:port`).
    pub fn new(units: usize, api_host: impl Into<String>) -> Breaker {
        Breaker {
            probes: units.min(PROBE_UNITS),
            api_host: api_host.into(),
            started: 0,
            page_seen: false,
            ends: Vec::new(),
            cleared: false,
            storage_streak: 0,
            tripped: None,
        }
    }

    /// Asks to start a unit; `Start` counts it as started.
    pub fn try_start(&mut self) -> Gate {
        if self.tripped.is_some() {
            return Gate::Stop;
        }
        if self.page_seen || self.cleared || self.started < self.probes {
            self.started += 1;
            return Gate::Start;
        }
        Gate::Wait
    }

    /// A page was received somewhere in the run: the API answers; the gate opens for good.
    pub fn page_received(&mut self) {
        self.page_seen = true;
    }

    /// A unit ended; returns the trip when this end trips a breaker. Skipped units (the run
    /// stopping) say nothing and are ignored.
    pub fn unit_ended(
        &mut self,
        status: UnitStatus,
        failure: Option<&UnitFailure>,
    ) -> Option<Trip> {
        if self.tripped.is_some() || status == UnitStatus::Skipped {
            return None;
        }
        let trip = self
            .storage_rule(status, failure)
            .or_else(|| self.api_rule(failure));
        self.tripped.clone_from(&trip);
        trip
    }

    fn storage_rule(&mut self, status: UnitStatus, failure: Option<&UnitFailure>) -> Option<Trip> {
        match (status, failure) {
            (UnitStatus::Ok, _) => self.storage_streak = 0,
            (_, Some(f)) if f.kind == FailureKind::Storage => {
                self.storage_streak += 1;
                if self.storage_streak >= STORAGE_FAILURES {
                    return Some(Trip::Destination {
                        units: self.storage_streak,
                        last_error: f.message.clone(),
                    });
                }
            }
            _ => {}
        }
        None
    }

    fn api_rule(&mut self, failure: Option<&UnitFailure>) -> Option<Trip> {
        if self.page_seen || self.cleared {
            return None;
        }
        self.ends.push(failure.and_then(Signature::of));
        if self.ends.len() < self.probes {
            return None;
        }
        match self.ends.first() {
            Some(Some(first)) if self.ends.iter().all(|s| s.as_ref() == Some(first)) => {
                Some(Trip::Global {
                    units: self.ends.len(),
                    signature: first.clone(),
                    api_host: self.api_host.clone(),
                })
            }
            _ => {
                self.cleared = true;
                None
            }
        }
    }

    /// Whether the gate may have changed for waiting units.
    fn gate_open(&self) -> bool {
        self.page_seen || self.cleared || self.tripped.is_some()
    }
}

/// The breakers shared by a run's units: the rules behind a lock, a gate units wait at.
#[derive(Debug)]
pub struct Breakers {
    rules: Mutex<Breaker>,
    /// A lock-free fast path for `page_received`, called on every page.
    page_seen: AtomicBool,
    opened: Notify,
}

impl Breakers {
    /// See [`Breaker::new`].
    pub fn new(units: usize, api_host: impl Into<String>) -> Breakers {
        Breakers {
            rules: Mutex::new(Breaker::new(units, api_host)),
            page_seen: AtomicBool::new(false),
            opened: Notify::new(),
        }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the unit may start; false when a breaker tripped or the run stops.
    pub async fn admit(&self, halt: &CancellationToken) -> bool {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            let gate = self.rules().try_start();
            match gate {
                Gate::Start => return true,
                Gate::Stop => {
                    // The trip's abort halts the run right after it is recorded: wait for it,
                    // so the unit finds the run halted and reports itself skipped.
                    halt.cancelled().await;
                    return false;
                }
                Gate::Wait => {}
            }
            tokio::select! {
                () = opened => {}
                () = halt.cancelled() => return false,
            }
        }
    }

    /// Records that a page was received (cheap after the first call).
    pub fn page_received(&self) {
        if !self.page_seen.swap(true, Ordering::Relaxed) {
            self.rules().page_received();
            self.opened.notify_waiters();
        }
    }

    /// Records a unit's end; returns the trip when it trips a breaker. The caller halts the
    /// run on a trip, which releases the units waiting at the gate.
    pub fn unit_ended(&self, report: &UnitReport) -> Option<Trip> {
        let (trip, open) = {
            let mut rules = self.rules();
            let trip = rules.unit_ended(report.status, report.error.as_ref());
            (trip, rules.gate_open())
        };
        if open && trip.is_none() {
            self.opened.notify_waiters();
        }
        trip
    }
}

/// `host:port` of a URL, for messages; the URL itself when it has no host.
pub fn host_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One unit's end in a table row.
    #[derive(Clone, Copy)]
    enum End {
        /// Published.
        Ok,
        /// Failed at the API with this status and type.
        Http(u16, &'static str),
        /// Failed with a connection error of this cause.
        Conn(&'static str),
        /// Failed for a storage error.
        Storage,
        /// Failed with an invalid page.
        Invalid,
        /// Abandoned: the run stopping.
        Skipped,
    }

    fn failure(e: End) -> (UnitStatus, Option<UnitFailure>) {
        let mut f = match e {
            End::Ok => return (UnitStatus::Ok, None),
            End::Skipped => return (UnitStatus::Skipped, None),
            End::Http(..) | End::Conn(_) => UnitFailure::new(FailureKind::Api, "x"),
            End::Storage => UnitFailure::new(FailureKind::Storage, "put failed"),
            End::Invalid => UnitFailure::new(FailureKind::InvalidPage, "x"),
        };
        match e {
            End::Http(status, ty) => {
                f.status = Some(status);
                f.error_type = Some(ty.to_owned());
            }
            End::Conn(cause) => {
                f.error_type = Some("connection".to_owned());
                f.cause = Some(cause.to_owned());
            }
            _ => {}
        }
        (UnitStatus::Failed, Some(f))
    }

    /// What happens in a row of the table.
    #[derive(Clone, Copy)]
    enum Step {
        /// A unit asks to start; the gate answers this.
        Start(Gate),
        /// A page is received.
        Page,
        /// A unit ends; `true` when that end trips a breaker.
        End(End, bool),
    }

    const INVALID_KEY: End = End::Http(401, "errors/invalid_credentials");
    const REFUSED: End = End::Conn("Connection refused (os error 111)");

    fn starts(n: usize) -> Vec<Step> {
        vec![Step::Start(Gate::Start); n]
    }
    fn ends(e: End, n: usize) -> Vec<Step> {
        vec![Step::End(e, false); n]
    }

    fn run(what: &str, units: usize, steps: &[Step]) -> Option<Trip> {
        let mut b = Breaker::new(units, "127.0.0.1:9");
        let mut tripped = None;
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Start(want) => assert_eq!(b.try_start(), want, "{what}: step {i}"),
                Step::Page => b.page_received(),
                Step::End(e, trips) => {
                    let (status, f) = failure(e);
                    let t = b.unit_ended(status, f.as_ref());
                    assert_eq!(t.is_some(), trips, "{what}: step {i}: {t:?}");
                    tripped = tripped.or(t);
                }
            }
        }
        tripped
    }

    fn cat(parts: &[Vec<Step>]) -> Vec<Step> {
        parts.concat()
    }

    /// The rules of SPEC §3, row by row: (what the row proves, units planned, steps).
    #[test]
    fn rules_table() {
        let t = Step::End(INVALID_KEY, true);
        let table: Vec<(&str, usize, Vec<Step>)> = vec![
            (
                "10 units rejected the same way, no page: trips on the 10th end",
                120,
                cat(&[
                    starts(10),
                    vec![Step::Start(Gate::Wait)],
                    ends(INVALID_KEY, 9),
                    vec![t],
                ]),
            ),
            (
                "after a trip nothing starts",
                120,
                cat(&[
                    starts(10),
                    ends(INVALID_KEY, 9),
                    vec![t, Step::Start(Gate::Stop)],
                ]),
            ),
            (
                "fewer than 10 units: all of them judge",
                3,
                cat(&[starts(3), ends(INVALID_KEY, 2), vec![t]]),
            ),
            (
                "the same connection error trips",
                50,
                cat(&[starts(10), ends(REFUSED, 9), vec![Step::End(REFUSED, true)]]),
            ),
            (
                "a page received anywhere: never trips, the gate opens",
                120,
                cat(&[
                    starts(10),
                    vec![Step::Start(Gate::Wait), Step::Page],
                    starts(5),
                    ends(INVALID_KEY, 15),
                ]),
            ),
            (
                "the first ends differ: no trip, the gate opens, later ends are not judged",
                120,
                cat(&[
                    starts(10),
                    ends(INVALID_KEY, 9),
                    vec![Step::End(
                        End::Http(403, "errors/account_restricted"),
                        false,
                    )],
                    starts(3),
                    ends(INVALID_KEY, 12),
                ]),
            ),
            (
                "same type, another status: not the same failure",
                10,
                cat(&[
                    starts(10),
                    ends(INVALID_KEY, 9),
                    vec![Step::End(
                        End::Http(403, "errors/invalid_credentials"),
                        false,
                    )],
                ]),
            ),
            (
                "another connection error: not the same failure",
                10,
                cat(&[
                    starts(10),
                    ends(REFUSED, 9),
                    vec![Step::End(End::Conn("timed out"), false)],
                ]),
            ),
            (
                "failures that are not the API's do not trip the run-level breaker",
                10,
                cat(&[starts(10), ends(End::Invalid, 10)]),
            ),
            (
                "skipped units are not judged",
                10,
                cat(&[starts(10), ends(End::Skipped, 5), ends(INVALID_KEY, 5)]),
            ),
            (
                "3 storage failures in a row trip the destination breaker",
                100,
                cat(&[
                    starts(10),
                    vec![Step::Page],
                    ends(End::Storage, 2),
                    vec![Step::End(End::Storage, true), Step::Start(Gate::Stop)],
                ]),
            ),
            (
                "a published unit resets the storage count; API failures leave it",
                100,
                cat(&[
                    starts(10),
                    vec![Step::Page],
                    ends(End::Storage, 2),
                    ends(End::Ok, 1),
                    ends(End::Storage, 1),
                    ends(INVALID_KEY, 1),
                    ends(End::Storage, 1),
                    vec![Step::End(End::Storage, true)],
                ]),
            ),
        ];
        for (what, units, steps) in table {
            run(what, units, &steps);
        }
    }

    /// The trip's message names what every account got and what to check.
    #[test]
    fn messages() {
        let trip = |e: End| cat(&[starts(10), ends(e, 9), vec![Step::End(e, true)]]);
        let cases: [(End, &str); 4] = [
            (
                INVALID_KEY,
                "every account tried got HTTP 401 errors/invalid_credentials (the first 10 units, no page received): check the API key (POSTPRESS_API_KEY or api.api_key_file); no other unit was started",
            ),
            (
                End::Http(404, "http_404"),
                "every account tried got HTTP 404 http_404 (the first 10 units, no page received): check base_url: 127.0.0.1:9 does not serve the API's paths there, or knows none of the accounts; no other unit was started",
            ),
            (
                REFUSED,
                "every account tried got a connection error (Connection refused (os error 111)) (the first 10 units, no page received): check base_url and the network: nothing usable answered at 127.0.0.1:9; no other unit was started",
            ),
            (
                End::Http(503, "errors/service_unavailable"),
                "every account tried got HTTP 503 errors/service_unavailable (the first 10 units, no page received): the API is failing for every account; check its status, then rerun; no other unit was started",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(
                run(want, 20, &trip(e)).map(|t| t.to_string()).as_deref(),
                Some(want)
            );
        }
        let storage = cat(&[
            vec![Step::Page],
            ends(End::Storage, 2),
            vec![Step::End(End::Storage, true)],
        ]);
        assert_eq!(
            run("storage", 20, &storage)
                .map(|t| t.to_string())
                .as_deref(),
            Some(
                "3 units in a row could not be written to the destination; check it, then rerun (no further fetching: it would be thrown away); the last error: put failed"
            )
        );
        assert_eq!(
            host_port("https://api.postpress.ai/api/v1"),
            "api.postpress.ai:443"
        );
        assert_eq!(host_port("http://127.0.0.1:8080/api/v1"), "127.0.0.1:8080");
    }

    /// Units waiting at the gate start when a page arrives, and give up when the run stops.
    #[tokio::test]
    async fn waiting_units_are_released() {
        let b = std::sync::Arc::new(Breakers::new(50, "h:1"));
        let halt = CancellationToken::new();
        for _ in 0..PROBE_UNITS {
            assert!(b.admit(&halt).await);
        }
        let waiter = tokio::spawn({
            let (b, halt) = (b.clone(), halt.clone());
            async move { b.admit(&halt).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        b.page_received();
        assert!(waiter.await.expect("join"));

        let b = std::sync::Arc::new(Breakers::new(50, "h:1"));
        for _ in 0..PROBE_UNITS {
            assert!(b.admit(&halt).await);
        }
        let waiter = tokio::spawn({
            let (b, halt) = (b.clone(), halt.clone());
            async move { b.admit(&halt).await }
        });
        halt.cancel();
        assert!(!waiter.await.expect("join"));
    }
}
