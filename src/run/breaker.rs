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
        signature: Option<Signature>,
    ) -> Option<Trip> {
        if self.tripped.is_some() || status == UnitStatus::Skipped {
            return None;
        }
        let trip = self
            .storage_rule(status, failure)
            .or_else(|| self.api_rule(signature));
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

    fn api_rule(&mut self, signature: Option<Signature>) -> Option<Trip> {
        if self.page_seen || self.cleared {
            return None;
        }
        self.ends.push(signature);
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

    /// Records a unit's end, with the signature of its API failure if it had one; returns the
    /// trip when it trips a breaker. The caller halts the run on a trip, which releases the
    /// units waiting at the gate.
    pub fn unit_ended(&self, report: &UnitReport, signature: Option<Signature>) -> Option<Trip> {
        let (trip, open) = {
            let mut rules = self.rules();
            let trip = rules.unit_ended(report.status, report.error.as_ref(), signature);
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
mod tests;
