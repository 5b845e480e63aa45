//! The `postpress-sim` command line.
//!
//! Owns the flags and their defaults. Flags override the scenario file's globals; turning them
//! into a [`SimConfig`](super::SimConfig) is `config`'s job. It must not know about serving.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A local simulation of the postpress followers/following API.
///
/// Prints its address (`http://HOST:PORT`) as the first line on stdout, logs to stderr
/// (`RUST_LOG`, default `warn`), and stops on SIGINT or SIGTERM.
#[derive(Debug, Clone, Parser)]
#[command(name = "postpress-sim", version, after_long_help = CONTROL_HELP, after_help = CONTROL_HELP)]
pub struct SimArgs {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Scenario file (TOML): accounts, rates, faults. Flags override its globals.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Seed of all generated data and cursors [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,

    /// Delay before every data response, e.g. "50ms" [default: 0ms].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub latency: Option<Duration>,

    /// Enforced requests per minute per account (both lists together); 429 beyond.
    #[arg(long, value_name = "R")]
    pub account_rpm: Option<f64>,

    /// Enforced requests per second for the whole API key; 429 beyond.
    #[arg(long, value_name = "R")]
    pub key_rps: Option<f64>,

    /// Probability of a random fault per data request, 0..1 [default: 0].
    #[arg(long, value_name = "F")]
    pub fault_rate: Option<f64>,

    /// Comma-separated fault kinds for random faults [default: every retryable kind].
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub fault_kinds: Option<Vec<String>>,

    /// Never more than N random faults in a row on the same page [default: 3].
    #[arg(long, value_name = "N")]
    pub fault_max_consecutive: Option<u32>,

    /// Retry-After of injected 429s, e.g. "0s" [default: 1s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub retry_after: Option<Duration>,

    /// Serve short Instagram follower pages now and then, as the real provider does.
    #[arg(long)]
    pub short_pages: bool,

    /// Send x-ratelimit-remaining and x-ratelimit-reset on 200 responses.
    #[arg(long)]
    pub ratelimit_headers: bool,

    /// The API key clients must send in X-API-KEY.
    #[arg(
        long,
        env = "POSTPRESS_API_KEY",
        default_value = "pp_test_key",
        hide_env_values = true
    )]
    pub api_key: String,

    /// Generate N accounts named acc_{provider}_{NNNN} [default: 4 without --scenario, else 0].
    #[arg(long, value_name = "N")]
    pub accounts: Option<u32>,

    /// Followers of each generated account.
    #[arg(long, value_name = "M", default_value_t = 1000)]
    pub followers: u64,

    /// Followed accounts of each generated account.
    #[arg(long, value_name = "K", default_value_t = 100)]
    pub following: u64,

    /// Provider of the generated accounts; mixed alternates, starting with linkedin.
    #[arg(long, value_enum, default_value_t = ProviderChoice::Mixed)]
    pub provider: ProviderChoice,

    /// Upper bound of the rendered-page cache, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub cache_mib: u64,

    /// The current day at start, 0..=36500; `POST /_sim/day/N` moves it [default: 0].
    #[arg(long, value_name = "N")]
    pub day: Option<u32>,

    /// Daily churn of every list, 0 <= F < 1: each day about F of a list leaves and about as
    /// many new items arrive. Day 0 is the same with any churn [default: 0].
    #[arg(long, value_name = "F")]
    pub churn: Option<f64>,

    /// Refuse cursors older than this, e.g. "10s" (400 errors/invalid_request, "expired
    /// cursor: ...") [default: never].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub cursor_ttl: Option<Duration>,

    /// Fraction F, 0..=1, of every list drawn from one population shared by all accounts: the
    /// same people follow many accounts and are followed by them (the same key as a follower's
    /// `id` and a followed member's `member_id`) [default: 0].
    #[arg(long, value_name = "F")]
    pub shared_followers: Option<f64>,
}

/// The control endpoints, for `--help`.
const CONTROL_HELP: &str = "\
Control endpoints (no API key needed, not counted in the stats):
  GET  /_sim/stats          counters, peaks, per account and list; day and cursor_generation
  POST /_sim/reset          zero the counters (also POST /_sim/stats/reset)
  GET  /_sim/day            {\"day\": N}
  POST /_sim/day/N          move the current day: {\"day\": N, \"previous\": M}
  POST /_sim/expire-cursors refuse every cursor issued so far: {\"generation\": G}
  GET  /_sim/stats/ids?account_id=A&dataset=followers|following[&day=N]
                            the keys of that day's list in served order (newest first):
                            {\"account_id\", \"dataset\", \"day\", \"key\", \"count\", \"ids\"}
A cursor pages through the list of the day it was issued on, whatever the current day.";

/// The provider of generated accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderChoice {
    /// All LinkedIn.
    Linkedin,
    /// All Instagram.
    Instagram,
    /// Alternating, starting with LinkedIn.
    Mixed,
}
