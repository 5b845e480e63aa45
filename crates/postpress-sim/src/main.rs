//! `postpress-sim`: parses flags, starts the simulator, prints its address, serves until
//! SIGINT/SIGTERM. All logic lives in the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use postpress_sim::{Sim, SimArgs, SimConfig, shutdown_signal};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    let args = SimArgs::parse();
    // RUST_LOG: `LEVEL` and `TARGET=LEVEL` directives, comma-separated; default warn.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::WARN));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    let config = match SimConfig::from_args(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("postpress-sim: {:#}", anyhow::Error::from(error));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("postpress-sim: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let sim = match Sim::bind(config).await {
            Ok(sim) => sim,
            Err(error) => {
                eprintln!("postpress-sim: {:#}", anyhow::Error::from(error));
                return ExitCode::FAILURE;
            }
        };
        // Signals are handled from here on: a script may send one as soon as it reads the address.
        let shutdown = shutdown_signal();
        // The first stdout line is the contract with scripts and tests: flush it at once.
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "http://{}", sim.local_addr())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
        drop(stdout);
        sim.serve(shutdown).await;
        ExitCode::SUCCESS
    })
}
