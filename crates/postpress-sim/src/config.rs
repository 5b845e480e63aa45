//! Scenario files and their validated form.
//!
//! Owns the scenario TOML (`ScenarioFile`, plain serde with `deny_unknown_fields` everywhere),
//! its validation into [`SimConfig`], and how command-line flags override the file's globals
//! and add generated accounts. Everything downstream takes a `SimConfig` and never re-checks.
//! It must not know about sockets or rendering.

mod check;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::cli::{ProviderChoice, SimArgs};
use super::data::{Dataset, Provider};
use super::error::{Result, SimError};
use super::fault::{FaultRule, RandomFaults};
use check::{ABOVE_0, Check, DAYS, day_in_range, fault_names, parse_kinds, positive, probability};

/// A scenario file as written: every key optional except each account's `id` and `provider`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Seed of all generated data and cursors (default 42).
    pub seed: Option<u64>,
    /// Delay before every data response, humantime ("50ms").
    pub latency: Option<String>,
    /// Enforced requests per minute per account.
    pub account_rpm: Option<f64>,
    /// Enforced requests per second for the whole key.
    pub key_rps: Option<f64>,
    /// Send `x-ratelimit-remaining` / `x-ratelimit-reset` on 200s.
    pub ratelimit_headers: Option<bool>,
    /// Default of every Instagram account's `short_pages`.
    pub short_pages: Option<bool>,
    /// The current day at start, 0 to 36500 (default 0).
    pub day: Option<u32>,
    /// Daily churn of every list, 0 (included) to 1 (excluded); default 0.
    pub churn: Option<f64>,
    /// Cursors older than this are refused, humantime ("10s"); default never.
    pub cursor_ttl: Option<String>,
    /// Fraction of every list drawn from one population shared by all accounts, 0 to 1.
    pub shared_followers: Option<f64>,
    /// Global random faults.
    pub faults: Option<FaultsFile>,
    /// The linked accounts served.
    #[serde(default)]
    pub accounts: Vec<AccountFile>,
}

/// `[faults]`: random faults over all data requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsFile {
    /// Probability per data request, 0..1.
    pub rate: Option<f64>,
    /// Fault names drawn from; default every retryable kind.
    pub kinds: Option<Vec<String>>,
    /// Never more than this many faults in a row on one page (default 3).
    pub max_consecutive: Option<u32>,
    /// `Retry-After` of injected 429s, humantime (default "1s").
    pub retry_after: Option<String>,
}

/// `[[accounts]]`: one linked account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    /// The `account_id` clients ask for.
    pub id: String,
    /// `linkedin` or `instagram`.
    pub provider: Provider,
    /// Size of the followers list (default 0).
    #[serde(default)]
    pub followers: u64,
    /// Size of the following list (default 0).
    #[serde(default)]
    pub following: u64,
    /// This account's delay, overriding the global one.
    pub latency: Option<String>,
    /// Short Instagram follower pages now and then.
    pub short_pages: Option<bool>,
    /// This account's daily churn, overriding the global one.
    pub churn: Option<f64>,
    /// Scripted faults.
    #[serde(default)]
    pub faults: Vec<FaultRuleFile>,
}

/// `[[accounts.faults]]`: a scripted fault.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRuleFile {
    /// Only this list; both when absent.
    pub dataset: Option<Dataset>,
    /// Only this 0-based page number; every page when absent.
    pub page: Option<u64>,
    /// The fault's name.
    pub fault: String,
    /// How many times it fires; forever when absent.
    pub times: Option<u64>,
}

/// The simulator's validated configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// The key clients must send in `X-API-KEY`.
    pub api_key: String,
    /// Seed of all generated data and cursors.
    pub seed: u64,
    /// Default delay before every data response.
    pub latency: Duration,
    /// Enforced requests per minute per account, if any.
    pub account_rpm: Option<f64>,
    /// Enforced requests per second for the key, if any.
    pub key_rps: Option<f64>,
    /// Send rate-limit headers on 200s.
    pub ratelimit_headers: bool,
    /// Random faults.
    pub faults: RandomFaults,
    /// The accounts served, in order.
    pub accounts: Vec<AccountConfig>,
    /// Upper bound of the rendered-page cache, in bytes.
    pub cache_bytes: usize,
    /// The current day at start.
    pub day: u32,
    /// Daily churn of every list whose account sets none, `0.0..1.0`.
    pub churn: f64,
    /// Cursors older than this are refused; never when `None`.
    pub cursor_ttl: Option<Duration>,
    /// Fraction of every list drawn from the population shared by all accounts, `0.0..=1.0`.
    pub shared_followers: f64,
}

/// One validated account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    /// The `account_id`.
    pub id: String,
    /// Which provider's variant its lists use.
    pub provider: Provider,
    /// Size of the followers list.
    pub followers: u64,
    /// Size of the following list.
    pub following: u64,
    /// Delay before each of its data responses; the global latency when `None`.
    pub latency: Option<Duration>,
    /// Short Instagram follower pages now and then.
    pub short_pages: bool,
    /// Daily churn of its lists; the global churn when `None`.
    pub churn: Option<f64>,
    /// Scripted faults, first match wins.
    pub faults: Vec<FaultRule>,
}

impl AccountConfig {
    /// The size of one of its lists.
    pub fn len(&self, dataset: Dataset) -> u64 {
        match dataset {
            Dataset::Followers => self.followers,
            Dataset::Following => self.following,
        }
    }
}

const COMMAND_LINE: &str = "command line";

impl SimConfig {
    /// A configuration with no accounts and every default, for tests and embedding.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 0,
            api_key: api_key.into(),
            seed: 42,
            latency: Duration::ZERO,
            account_rpm: None,
            key_rps: None,
            ratelimit_headers: false,
            faults: RandomFaults::default(),
            accounts: Vec::new(),
            cache_bytes: 256 << 20,
            day: 0,
            churn: 0.0,
            cursor_ttl: None,
            shared_followers: 0.0,
        }
    }

    /// The configuration for these flags: the scenario file if any, then the flags on top.
    pub fn from_args(args: &SimArgs) -> Result<Self> {
        let mut config = match &args.scenario {
            Some(path) => Self::from_scenario_file(path, args.api_key.clone())?,
            None => Self::new(args.api_key.clone()),
        };
        config.apply_args(args)?;
        Ok(config)
    }

    /// Reads and validates a scenario file.
    pub fn from_scenario_file(path: &Path, api_key: String) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadScenario {
            path: path.to_owned(),
            source,
        })?;
        let file: ScenarioFile =
            toml::from_str(&text).map_err(|source| SimError::ParseScenario {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        Self::from_scenario(file, &path.display().to_string(), api_key)
    }

    /// Validates a parsed scenario; `origin` names it in error messages.
    pub fn from_scenario(file: ScenarioFile, origin: &str, api_key: String) -> Result<Self> {
        let mut config = Self::new(api_key);
        let check = Check { origin };
        if let Some(seed) = file.seed {
            config.seed = seed;
        }
        if let Some(latency) = &file.latency {
            config.latency = check.duration("latency", latency)?;
        }
        config.account_rpm = file
            .account_rpm
            .map(|r| positive(r).ok_or_else(|| check.invalid("account_rpm", &r, ABOVE_0)))
            .transpose()?;
        config.key_rps = file
            .key_rps
            .map(|r| positive(r).ok_or_else(|| check.invalid("key_rps", &r, ABOVE_0)))
            .transpose()?;
        config.ratelimit_headers = file.ratelimit_headers.unwrap_or(false);
        if let Some(day) = file.day {
            config.day = day_in_range(day).ok_or_else(|| check.invalid("day", &day, DAYS))?;
        }
        if let Some(churn) = file.churn {
            config.churn = check.churn("churn", churn)?;
        }
        if let Some(ttl) = &file.cursor_ttl {
            config.cursor_ttl = Some(check.ttl("cursor_ttl", ttl)?);
        }
        if let Some(shared) = file.shared_followers {
            config.shared_followers = check.shared("shared_followers", shared)?;
        }
        if let Some(faults) = file.faults {
            config.apply_faults(faults, &check)?;
        }
        let short_default = file.short_pages.unwrap_or(false);
        for (i, account) in file.accounts.into_iter().enumerate() {
            let account = check.account(i, account, short_default)?;
            config.push_account(account, origin)?;
        }
        Ok(config)
    }

    fn apply_faults(&mut self, faults: FaultsFile, check: &Check<'_>) -> Result<()> {
        if let Some(rate) = faults.rate {
            self.faults.rate = probability(rate)
                .ok_or_else(|| check.invalid("faults.rate", &rate, "a probability from 0 to 1"))?;
        }
        if let Some(kinds) = &faults.kinds {
            self.faults.kinds = parse_kinds(kinds, |i, name| {
                check.invalid(
                    &format!("faults.kinds[{i}]"),
                    &format!("{name:?}"),
                    &fault_names(),
                )
            })?;
        }
        if let Some(n) = faults.max_consecutive {
            self.faults.max_consecutive = n;
        }
        if let Some(retry_after) = &faults.retry_after {
            self.faults.retry_after = check.duration("faults.retry_after", retry_after)?;
        }
        Ok(())
    }

    fn push_account(&mut self, account: AccountConfig, origin: &str) -> Result<()> {
        if self.accounts.iter().any(|a| a.id == account.id) {
            return Err(SimError::DuplicateAccount {
                origin: origin.to_owned(),
                id: account.id,
            });
        }
        self.accounts.push(account);
        Ok(())
    }

    fn apply_args(&mut self, args: &SimArgs) -> Result<()> {
        let check = Check {
            origin: COMMAND_LINE,
        };
        self.host.clone_from(&args.host);
        self.port = args.port;
        self.cache_bytes =
            usize::try_from(args.cache_mib.saturating_mul(1 << 20)).map_err(|_| {
                check.invalid("--cache-mib", &args.cache_mib, "a size that fits in memory")
            })?;
        if let Some(seed) = args.seed {
            self.seed = seed;
        }
        if let Some(latency) = args.latency {
            self.latency = latency;
        }
        if let Some(r) = args.account_rpm {
            self.account_rpm =
                Some(positive(r).ok_or_else(|| check.invalid("--account-rpm", &r, ABOVE_0))?);
        }
        if let Some(r) = args.key_rps {
            self.key_rps =
                Some(positive(r).ok_or_else(|| check.invalid("--key-rps", &r, ABOVE_0))?);
        }
        if let Some(day) = args.day {
            self.day = day_in_range(day).ok_or_else(|| check.invalid("--day", &day, DAYS))?;
        }
        if let Some(churn) = args.churn {
            self.churn = check.churn("--churn", churn)?;
        }
        if let Some(ttl) = args.cursor_ttl {
            self.cursor_ttl = Some(check.positive_ttl("--cursor-ttl", ttl)?);
        }
        if let Some(shared) = args.shared_followers {
            self.shared_followers = check.shared("--shared-followers", shared)?;
        }
        self.apply_fault_args(args, &check)?;
        if args.short_pages {
            for account in &mut self.accounts {
                account.short_pages = true;
            }
        }
        self.ratelimit_headers |= args.ratelimit_headers;
        self.generate_accounts(args)
    }

    fn apply_fault_args(&mut self, args: &SimArgs, check: &Check<'_>) -> Result<()> {
        if let Some(rate) = args.fault_rate {
            self.faults.rate = probability(rate)
                .ok_or_else(|| check.invalid("--fault-rate", &rate, "a probability from 0 to 1"))?;
        }
        if let Some(kinds) = &args.fault_kinds {
            self.faults.kinds = parse_kinds(kinds, |_, name| {
                check.invalid("--fault-kinds", &format!("{name:?}"), &fault_names())
            })?;
        }
        if let Some(n) = args.fault_max_consecutive {
            self.faults.max_consecutive = n;
        }
        if let Some(retry_after) = args.retry_after {
            self.faults.retry_after = retry_after;
        }
        Ok(())
    }

    /// Adds `--accounts` generated accounts (4 by default without a scenario).
    fn generate_accounts(&mut self, args: &SimArgs) -> Result<()> {
        let generated = args
            .accounts
            .unwrap_or(if args.scenario.is_some() { 0 } else { 4 });
        for i in 0..generated {
            let provider = match args.provider {
                ProviderChoice::Linkedin => Provider::Linkedin,
                ProviderChoice::Instagram => Provider::Instagram,
                ProviderChoice::Mixed if i % 2 == 0 => Provider::Linkedin,
                ProviderChoice::Mixed => Provider::Instagram,
            };
            let account = AccountConfig {
                id: format!("acc_{}_{i:04}", provider.as_str()),
                provider,
                followers: args.followers,
                following: args.following,
                latency: None,
                short_pages: args.short_pages,
                churn: None,
                faults: Vec::new(),
            };
            self.push_account(account, COMMAND_LINE)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
