//! Validation of scenario and flag values, with errors that name the origin (the scenario
//! file or "command line"), the key, the rejected value and what is allowed.
//!
//! Owns the rules of each value (ranges, durations, account ids, fault names). It must not know
//! where values are stored: `config` applies them.

use std::time::Duration;

use super::super::churn::MAX_DAY;
use super::super::error::{Result, SimError};
use super::super::fault::{Fault, FaultRule};
use super::{AccountConfig, AccountFile};

pub(super) const ABOVE_0: &str = "a number above 0";
pub(super) const DAYS: &str = "a day from 0 to 36500";

/// Validation of one origin's values, with errors naming the origin, the key and the value.
pub(super) struct Check<'a> {
    pub(super) origin: &'a str,
}

impl Check<'_> {
    pub(super) fn invalid(
        &self,
        key: &str,
        value: &dyn std::fmt::Display,
        allowed: &str,
    ) -> SimError {
        SimError::Invalid {
            origin: self.origin.to_owned(),
            key: key.to_owned(),
            value: value.to_string(),
            allowed: allowed.to_owned(),
        }
    }

    pub(super) fn duration(&self, key: &str, text: &str) -> Result<Duration> {
        humantime::parse_duration(text)
            .map_err(|_| self.invalid(key, &format!("{text:?}"), "a duration such as \"50ms\""))
    }

    pub(super) fn churn(&self, key: &str, churn: f64) -> Result<f64> {
        ((0.0..1.0).contains(&churn))
            .then_some(churn)
            .ok_or_else(|| {
                self.invalid(key, &churn, "a fraction from 0 (included) to 1 (excluded)")
            })
    }

    pub(super) fn shared(&self, key: &str, fraction: f64) -> Result<f64> {
        ((0.0..=1.0).contains(&fraction))
            .then_some(fraction)
            .ok_or_else(|| self.invalid(key, &fraction, "a fraction from 0 to 1"))
    }

    pub(super) fn ttl(&self, key: &str, text: &str) -> Result<Duration> {
        let ttl = self.duration(key, text)?;
        self.positive_ttl(key, ttl)
            .map_err(|_| self.invalid(key, &format!("{text:?}"), TTL))
    }

    pub(super) fn positive_ttl(&self, key: &str, ttl: Duration) -> Result<Duration> {
        if ttl.is_zero() {
            let shown = humantime::format_duration(ttl);
            return Err(self.invalid(key, &format!("\"{shown}\""), TTL));
        }
        Ok(ttl)
    }

    /// Validates `[[accounts]]` number `i`.
    pub(super) fn account(
        &self,
        i: usize,
        account: AccountFile,
        short_default: bool,
    ) -> Result<AccountConfig> {
        if !valid_account_id(&account.id) {
            return Err(self.invalid(
                &format!("accounts[{i}].id"),
                &format!("{:?}", account.id),
                "[A-Za-z0-9][A-Za-z0-9_.-]* without \"..\"",
            ));
        }
        let latency = account
            .latency
            .as_deref()
            .map(|text| self.duration(&format!("accounts[{i}].latency"), text))
            .transpose()?;
        let churn = account
            .churn
            .map(|c| self.churn(&format!("accounts[{i}].churn"), c))
            .transpose()?;
        let mut faults = Vec::with_capacity(account.faults.len());
        for (j, rule) in account.faults.into_iter().enumerate() {
            let fault = Fault::parse(&rule.fault).ok_or_else(|| {
                self.invalid(
                    &format!("accounts[{i}].faults[{j}].fault"),
                    &format!("{:?}", rule.fault),
                    &fault_names(),
                )
            })?;
            faults.push(FaultRule {
                dataset: rule.dataset,
                page: rule.page,
                fault,
                times: rule.times,
            });
        }
        Ok(AccountConfig {
            id: account.id,
            provider: account.provider,
            followers: account.followers,
            following: account.following,
            latency,
            short_pages: account.short_pages.unwrap_or(short_default),
            churn,
            faults,
        })
    }
}

pub(super) const TTL: &str = "a duration above 0 such as \"10s\"";

pub(super) fn day_in_range(day: u32) -> Option<u32> {
    (day <= MAX_DAY).then_some(day)
}

pub(super) fn positive(r: f64) -> Option<f64> {
    (r.is_finite() && r > 0.0).then_some(r)
}

pub(super) fn probability(p: f64) -> Option<f64> {
    (0.0..=1.0).contains(&p).then_some(p)
}

pub(super) fn parse_kinds(
    names: &[String],
    invalid: impl Fn(usize, &str) -> SimError,
) -> Result<Vec<Fault>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Fault::parse(name.trim()).ok_or_else(|| invalid(i, name)))
        .collect()
}

pub(super) fn fault_names() -> String {
    format!("one of {}", Fault::all_names().join(", "))
}

/// The job file's account id rule (SPEC section 2): `[A-Za-z0-9][A-Za-z0-9_.-]*`, no `..`.
pub(super) fn valid_account_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.contains("..")
}
