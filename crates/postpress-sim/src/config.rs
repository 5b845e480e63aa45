//! Scenario files and their validated form.
//!
//! Owns the scenario TOML (`ScenarioFile`, plain serde with `deny_unknown_fields` everywhere),
//! its validation into [`SimConfig`], and how command-line flags override the file's globals
//! and add generated accounts. Everything downstream takes a `SimConfig` and never re-checks.
//! It must not know about sockets or rendering.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::cli::{ProviderChoice, SimArgs};
use super::data::{Dataset, Provider};
use super::error::{Result, SimError};
use super::fault::{Fault, FaultRule, RandomFaults};

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
        let invalid = |key: &str, value: &dyn std::fmt::Display, allowed: &str| SimError::Invalid {
            origin: origin.to_owned(),
            key: key.to_owned(),
            value: value.to_string(),
            allowed: allowed.to_owned(),
        };
        let duration = |key: &str, text: &str| {
            humantime::parse_duration(text)
                .map_err(|_| invalid(key, &format!("{text:?}"), "a duration such as \"50ms\""))
        };
        if let Some(seed) = file.seed {
            config.seed = seed;
        }
        if let Some(latency) = &file.latency {
            config.latency = duration("latency", latency)?;
        }
        config.account_rpm = file
            .account_rpm
            .map(|r| positive(r).ok_or_else(|| invalid("account_rpm", &r, "a number above 0")))
            .transpose()?;
        config.key_rps = file
            .key_rps
            .map(|r| positive(r).ok_or_else(|| invalid("key_rps", &r, "a number above 0")))
            .transpose()?;
        config.ratelimit_headers = file.ratelimit_headers.unwrap_or(false);
        if let Some(faults) = file.faults {
            if let Some(rate) = faults.rate {
                config.faults.rate = probability(rate)
                    .ok_or_else(|| invalid("faults.rate", &rate, "a probability from 0 to 1"))?;
            }
            if let Some(kinds) = &faults.kinds {
                config.faults.kinds = parse_kinds(kinds, |i, name| {
                    invalid(
                        &format!("faults.kinds[{i}]"),
                        &format!("{name:?}"),
                        &fault_names(),
                    )
                })?;
            }
            if let Some(n) = faults.max_consecutive {
                config.faults.max_consecutive = n;
            }
            if let Some(retry_after) = &faults.retry_after {
                config.faults.retry_after = duration("faults.retry_after", retry_after)?;
            }
        }
        let short_default = file.short_pages.unwrap_or(false);
        for (i, account) in file.accounts.into_iter().enumerate() {
            if !valid_account_id(&account.id) {
                return Err(invalid(
                    &format!("accounts[{i}].id"),
                    &format!("{:?}", account.id),
                    "[A-Za-z0-9][A-Za-z0-9_.-]* without \"..\"",
                ));
            }
            let latency = account
                .latency
                .as_deref()
                .map(|text| duration(&format!("accounts[{i}].latency"), text))
                .transpose()?;
            let mut faults = Vec::with_capacity(account.faults.len());
            for (j, rule) in account.faults.into_iter().enumerate() {
                let fault = Fault::parse(&rule.fault).ok_or_else(|| {
                    invalid(
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
            let account = AccountConfig {
                id: account.id,
                provider: account.provider,
                followers: account.followers,
                following: account.following,
                latency,
                short_pages: account.short_pages.unwrap_or(short_default),
                faults,
            };
            config.push_account(account, origin)?;
        }
        Ok(config)
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
        let invalid = |key: &str, value: &dyn std::fmt::Display, allowed: &str| SimError::Invalid {
            origin: COMMAND_LINE.to_owned(),
            key: key.to_owned(),
            value: value.to_string(),
            allowed: allowed.to_owned(),
        };
        self.host.clone_from(&args.host);
        self.port = args.port;
        self.cache_bytes = usize::try_from(args.cache_mib.saturating_mul(1 << 20))
            .map_err(|_| invalid("--cache-mib", &args.cache_mib, "a size that fits in memory"))?;
        if let Some(seed) = args.seed {
            self.seed = seed;
        }
        if let Some(latency) = args.latency {
            self.latency = latency;
        }
        if let Some(r) = args.account_rpm {
            self.account_rpm =
                Some(positive(r).ok_or_else(|| invalid("--account-rpm", &r, "a number above 0"))?);
        }
        if let Some(r) = args.key_rps {
            self.key_rps =
                Some(positive(r).ok_or_else(|| invalid("--key-rps", &r, "a number above 0"))?);
        }
        if let Some(rate) = args.fault_rate {
            self.faults.rate = probability(rate)
                .ok_or_else(|| invalid("--fault-rate", &rate, "a probability from 0 to 1"))?;
        }
        if let Some(kinds) = &args.fault_kinds {
            self.faults.kinds = parse_kinds(kinds, |_, name| {
                invalid("--fault-kinds", &format!("{name:?}"), &fault_names())
            })?;
        }
        if let Some(n) = args.fault_max_consecutive {
            self.faults.max_consecutive = n;
        }
        if let Some(retry_after) = args.retry_after {
            self.faults.retry_after = retry_after;
        }
        if args.short_pages {
            for account in &mut self.accounts {
                account.short_pages = true;
            }
        }
        self.ratelimit_headers |= args.ratelimit_headers;
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
                faults: Vec::new(),
            };
            self.push_account(account, COMMAND_LINE)?;
        }
        Ok(())
    }
}

fn positive(r: f64) -> Option<f64> {
    (r.is_finite() && r > 0.0).then_some(r)
}

fn probability(p: f64) -> Option<f64> {
    (0.0..=1.0).contains(&p).then_some(p)
}

fn parse_kinds(names: &[String], invalid: impl Fn(usize, &str) -> SimError) -> Result<Vec<Fault>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Fault::parse(name.trim()).ok_or_else(|| invalid(i, name)))
        .collect()
}

fn fault_names() -> String {
    format!("one of {}", Fault::all_names().join(", "))
}

/// The job file's account id rule (SPEC section 2): `[A-Za-z0-9][A-Za-z0-9_.-]*`, no `..`.
fn valid_account_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn scenario(text: &str) -> Result<SimConfig> {
        SimConfig::from_scenario(toml::from_str(text).unwrap(), "s.toml", "k".into())
    }

    #[test]
    fn full_scenario() {
        let c = scenario(
            r#"
            seed = 7
            latency = "5ms"
            account_rpm = 120.0
            key_rps = 50.0
            ratelimit_headers = true
            [faults]
            rate = 0.3
            kinds = ["429", "drop", "errors/no_channel", "malformed:wrong_type"]
            max_consecutive = 2
            retry_after = "0s"
            [[accounts]]
            id = "acc_linkedin_0000"
            provider = "linkedin"
            followers = 2501
            following = 10
            [[accounts]]
            id = "acc_instagram_0001"
            provider = "instagram"
            latency = "50ms"
            short_pages = true
            [[accounts.faults]]
            dataset = "followers"
            page = 0
            fault = "errors/account_restricted"
            times = 2
            "#,
        )
        .unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.account_rpm, Some(120.0));
        assert_eq!(c.faults.kinds.len(), 4);
        assert_eq!(c.faults.retry_after, Duration::ZERO);
        assert_eq!(c.latency, Duration::from_millis(5));
        assert_eq!(c.accounts[0].latency, None);
        assert_eq!(c.accounts[1].latency, Some(Duration::from_millis(50)));
        assert!(c.accounts[1].short_pages);
        assert_eq!(c.accounts[1].faults[0].times, Some(2));
    }

    #[test]
    fn errors_name_the_key() {
        let e = scenario("[[accounts]]\nid = \"a\"\nprovider = \"linkedin\"\n[[accounts.faults]]\nfault = \"boom\"")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml: accounts[0].faults[0].fault = \"boom\" is not allowed; expected one of errors/missing_credentials"), "{e}");
        let e = scenario("[faults]\nrate = 1.5").unwrap_err().to_string();
        assert_eq!(
            e,
            "s.toml: faults.rate = 1.5 is not allowed; expected a probability from 0 to 1"
        );
        let e = scenario("[[accounts]]\nid = \"a\"\nprovider = \"linkedin\"\n[[accounts]]\nid = \"a\"\nprovider = \"instagram\"")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "s.toml: account a is defined twice");
        assert!(toml::from_str::<ScenarioFile>("nope = 1").is_err());
        assert!(toml::from_str::<ScenarioFile>("[[accounts]]\nid=\"a\"\nprovider=\"x\"").is_err());
    }

    #[test]
    fn flags_generate_and_override() {
        let args = SimArgs::parse_from([
            "postpress-sim",
            "--accounts",
            "3",
            "--followers",
            "5",
            "--latency",
            "2ms",
            "--fault-kinds",
            "drop,429",
            "--short-pages",
        ]);
        let c = SimConfig::from_args(&args).unwrap();
        let ids: Vec<_> = c.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "acc_linkedin_0000",
                "acc_instagram_0001",
                "acc_linkedin_0002"
            ]
        );
        assert!(c.accounts.iter().all(|a| a.followers == 5 && a.short_pages));
        assert_eq!(c.latency, Duration::from_millis(2));
        assert_eq!(c.faults.kinds, [Fault::Drop, Fault::TooManyRequests]);
        let args = SimArgs::parse_from(["postpress-sim", "--fault-kinds", "drop,nope"]);
        assert!(SimConfig::from_args(&args).is_err());
    }
}
