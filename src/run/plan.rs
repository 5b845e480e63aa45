//! Planning: which units a run has (accounts × datasets, after `--shard`), each with its
//! account's pacer; shard syntax and hashing; snapshot dates and run ids.

use crate::api::limit::AccountPacer;
use crate::job::{Account, Job};
use crate::model::Dataset;
use chrono::{NaiveDate, Utc};
use std::fmt;
use std::sync::Arc;

/// A shard of the account list: accounts whose stable hash mod `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I of `I/N`: which shard this is, from 0.
    pub index: u64,
    /// N of `I/N`: how many shards share the accounts.
    pub count: u64,
}

/// `--shard` is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--shard {value:?} is not allowed: {reason}; use I/N with 0 <= I < N, or auto/N to read JOB_COMPLETION_INDEX"
)]
pub struct ShardError {
    /// As given.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl Shard {
    /// Parses `I/N` or `auto/N` (`completion_index` is `JOB_COMPLETION_INDEX`).
    pub fn parse(value: &str, completion_index: Option<&str>) -> Result<Shard, ShardError> {
        let err = |reason: &str| ShardError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let (i, n) = value.split_once('/').ok_or_else(|| err("missing '/'"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| err("N is not a whole number"))?;
        if count == 0 {
            return Err(err("N must be at least 1"));
        }
        let index: u64 = if i.trim() == "auto" {
            let raw = completion_index
                .ok_or_else(|| err("auto needs JOB_COMPLETION_INDEX, which is not set"))?;
            raw.trim().parse().map_err(|_| {
                err(&format!(
                    "JOB_COMPLETION_INDEX = {raw:?} is not a whole number"
                ))
            })?
        } else {
            i.trim()
                .parse()
                .map_err(|_| err("I is not a whole number"))?
        };
        if index >= count {
            return Err(err(&format!("I = {index} must be less than N = {count}")));
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard owns an account: FNV-1a 64 of the id, stable across versions and hosts.
    pub fn owns(&self, account_id: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in account_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The share of the key's `requests_per_second` a run uses: all of it, or `1/N` under
/// `--shard I/N`, since the N shards run side by side on the same key (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyShare {
    /// `fetch.requests_per_second`: the whole key's budget.
    pub key_rate: f64,
    /// N, or 1 without `--shard`.
    pub shards: u64,
}

impl KeyShare {
    /// The share of `key_rate` for `shard`.
    pub fn new(key_rate: f64, shard: Option<Shard>) -> KeyShare {
        KeyShare {
            key_rate,
            shards: shard.map_or(1, |s| s.count.max(1)),
        }
    }

    /// Requests per second this run may send.
    pub fn rate(&self) -> f64 {
        self.key_rate / self.shards as f64
    }
}

impl fmt::Display for KeyShare {
    /// `2.5 requests/s (1/4 of the key's 10)`, or `10 requests/s (the key's whole budget)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |x: f64| {
            let s = format!("{x:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        if self.shards > 1 {
            write!(
                f,
                "{} requests/s (1/{} of the key's {})",
                num(self.rate()),
                self.shards,
                num(self.key_rate)
            )
        } else {
            write!(
                f,
                "{} requests/s (the key's whole budget)",
                num(self.key_rate)
            )
        }
    }
}

/// One planned unit.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The account.
    pub account: Arc<Account>,
    /// The dataset.
    pub dataset: Dataset,
    /// The account's pacer, shared by its datasets (SPEC §3: per account, both datasets).
    pub pacer: Arc<AccountPacer>,
}

/// The units of a job, after sharding: accounts × datasets, in file order.
pub fn plan(job: &Job, shard: Option<Shard>) -> Vec<Unit> {
    let per_minute = job.fetch.account_requests_per_minute;
    job.accounts
        .iter()
        .filter(|a| shard.is_none_or(|s| s.owns(&a.account_id)))
        .flat_map(|a| {
            let account = Arc::new(a.clone());
            let pacer = Arc::new(AccountPacer::per_minute(per_minute));
            a.datasets.clone().into_iter().map(move |dataset| Unit {
                account: account.clone(),
                dataset,
                pacer: pacer.clone(),
            })
        })
        .collect()
}

/// A new run id: UTC time plus randomness, safe as a path segment and sortable.
pub fn new_run_id() -> String {
    format!(
        "{}-{:06x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..0x0100_0000)
    )
}

/// The snapshot date default: today in UTC.
pub fn today_utc() -> NaiveDate {
    Utc::now().date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards partition the accounts: every account in exactly one shard.
    #[test]
    fn shards_partition_accounts() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        let mut sizes = [0; 3];
        for n in 0..300 {
            let id = format!("acc_linkedin_{n:04}");
            let owners: Vec<usize> = (0..3).filter(|i| shards[*i].owns(&id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|s| *s > 60), "{sizes:?}");
    }

    /// Shard syntax: I/N, auto/N, and what is refused.
    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse("auto/4", Some("2")),
            Ok(Shard { index: 2, count: 4 })
        );
        let e = Shard::parse("3/3", None).expect_err("I < N");
        assert_eq!(
            e.to_string(),
            "--shard \"3/3\" is not allowed: I = 3 must be less than N = 3; use I/N with 0 <= I < N, or auto/N to read JOB_COMPLETION_INDEX"
        );
        assert!(Shard::parse("x/0", None).is_err());
        assert!(Shard::parse("auto/2", None).is_err());
        assert!(Shard::parse("1", None).is_err());
    }

    /// A shard uses 1/N of the key's budget, and says so as a number.
    #[test]
    fn key_share() {
        let s = |i, n| Some(Shard { index: i, count: n });
        assert_eq!(KeyShare::new(10.0, s(0, 4)).rate(), 2.5);
        assert_eq!(
            KeyShare::new(10.0, s(0, 4)).to_string(),
            "2.5 requests/s (1/4 of the key's 10)"
        );
        assert_eq!(
            KeyShare::new(10.0, s(2, 3)).to_string(),
            "3.333 requests/s (1/3 of the key's 10)"
        );
        assert_eq!(
            KeyShare::new(5.0, None).to_string(),
            "5 requests/s (the key's whole budget)"
        );
        assert_eq!(KeyShare::new(5.0, s(0, 1)).rate(), 5.0);
    }
}
