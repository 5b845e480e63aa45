//! `postpress-sim`: a faithful local simulation of the postpress followers/following API
//! (SPEC section 8), for the demo, the integration tests and the benchmarks.
//!
//! Owns everything the simulator serves: deterministic seeded data (`data`, `out`, `people`,
//! `rng`),
//! day-to-day churn of the lists (`churn`, cached per day in `roster`), opaque signed cursors
//! (`cursor`) and their expiry (`expiry`), pages and short pages (`page`), the documented error
//! types (`api_errors`), injected faults (`fault`), rate enforcement (`limit`), counters and
//! peak rates (`stats`, `window`) and the HTTP server (`server`, `reply`, `query`), configured
//! from a scenario file and flags (`config`, `cli`). Tests get the ground truth of any list on
//! any day from `truth` ([`expected_list`], [`expected_keys`]) without a server.
//! It must not know anything about the ETL (jobs, decoding, Parquet, sinks): it shares no types
//! with it, so a bug on one side cannot hide the same bug on the other.
//!
//! ```no_run
//! # async fn demo() -> Result<(), postpress_sim::SimError> {
//! use postpress_sim::{AccountConfig, Provider, Sim, SimConfig};
//! let mut config = SimConfig::new("pp_test_key");
//! config.accounts.push(AccountConfig {
//!     id: "acc_linkedin_0000".into(),
//!     provider: Provider::Linkedin,
//!     followers: 2501,
//!     following: 10,
//!     latency: None,
//!     short_pages: false,
//!     churn: None,
//!     faults: Vec::new(),
//! });
//! let sim = Sim::bind(config).await?;
//! println!("http://{}", sim.local_addr());
//! sim.serve(postpress_sim::shutdown_signal()).await;
//! # Ok(()) }
//! ```

pub mod api_errors;
mod cache;
mod churn;
pub mod cli;
pub mod config;
mod cursor;
pub mod data;
pub mod error;
mod expiry;
pub mod fault;
mod json;
mod limit;
mod out;
mod page;
mod people;
mod query;
mod reply;
mod rng;
mod roster;
mod server;
mod stats;
mod truth;
mod window;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use api_errors::{ApiErrorType, ERROR_TYPES};
pub use churn::MAX_DAY;
pub use cli::{ProviderChoice, SimArgs};
pub use config::{AccountConfig, ScenarioFile, SimConfig};
pub use data::{
    Dataset, Provider, expected_item, expected_item_shared, expected_key, item_key, max_limit,
};
pub use error::{Result, SimError};
pub use fault::{Fault, FaultRule, Malformed, RandomFaults};
pub use truth::{expected_indices, expected_keys, expected_keys_shared, expected_list};

/// A bound, not yet serving, simulator.
pub struct Sim {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<server::State>,
}

impl Sim {
    /// Opens the listening socket at `config.host:config.port` and prepares the accounts.
    pub async fn bind(config: SimConfig) -> Result<Sim> {
        let addr = format!("{}:{}", config.host, config.port);
        let bind_error = |source| SimError::Bind {
            addr: addr.clone(),
            source,
        };
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        Ok(Sim {
            listener,
            addr: local,
            state: Arc::new(server::State::new(config)),
        })
    }

    /// The address actually bound (the port is known even when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes; connections still open are dropped with the runtime.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        server::serve(self.listener, self.state, shutdown).await;
    }
}

/// Completes on SIGINT or SIGTERM (on non-Unix platforms, Ctrl-C only). The handlers are
/// installed when this is called, not when the future is first polled, so a signal sent as soon
/// as the address is printed is not lost; call it inside the runtime, before printing.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn recv(stream: std::io::Result<Signal>, name: &'static str) {
        match stream {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, signal = name, "Cannot listen for the signal.");
                std::future::pending::<()>().await;
            }
        }
    }
    let interrupt = recv(signal(SignalKind::interrupt()), "SIGINT");
    let terminate = recv(signal(SignalKind::terminate()), "SIGTERM");
    async move {
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> {
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %error, "Cannot listen for Ctrl-C.");
            std::future::pending::<()>().await;
        }
    }
}
