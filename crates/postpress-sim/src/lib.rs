//! `postpress-sim`: a faithful local simulation of the postpress followers/following API
//! (SPEC section 8), for the demo, the integration tests and the benchmarks.
//!
//! Owns everything the simulator serves: deterministic seeded data (`data`), opaque signed
//! cursors (`cursor`), pages and short pages (`page`), the documented error types
//! (`api_errors`), injected faults (`fault`), rate enforcement (`limit`), counters (`stats`)
//! and the HTTP server (`server`), configured from a scenario file and flags (`config`, `cli`).
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
//!     faults: Vec::new(),
//! });
//! let sim = Sim::bind(config).await?;
//! println!("http://{}", sim.local_addr());
//! sim.serve(postpress_sim::shutdown_signal()).await;
//! # Ok(()) }
//! ```

pub mod api_errors;
mod cache;
pub mod cli;
pub mod config;
mod cursor;
pub mod data;
pub mod error;
pub mod fault;
mod json;
mod limit;
mod page;
mod server;
mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use api_errors::{ApiErrorType, ERROR_TYPES};
pub use cli::{ProviderChoice, SimArgs};
pub use config::{AccountConfig, ScenarioFile, SimConfig};
pub use data::{Dataset, Provider, expected_item, max_limit};
pub use error::{Result, SimError};
pub use fault::{Fault, FaultRule, Malformed, RandomFaults};

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

/// Completes on SIGINT or SIGTERM (on non-Unix platforms, Ctrl-C only).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %error, "Cannot listen for SIGINT.");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "Cannot listen for SIGTERM.");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
