//! The simulator's own errors: bad scenarios or flags, and failures to listen.
//!
//! It must not know about the API's error envelope (that is `api_errors`), which describes what
//! the simulator *serves*, not what goes wrong with it.

use std::path::PathBuf;

/// What can stop the simulator from starting.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file could not be read.
    #[error("cannot read scenario {}", path.display())]
    ReadScenario {
        /// The scenario file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The scenario file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid scenario {}", path.display())]
    ParseScenario {
        /// The scenario file.
        path: PathBuf,
        /// The parser's message, with line and column.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value out of its allowed range, in the scenario file or on the command line.
    #[error("{origin}: {key} = {value} is not allowed; expected {allowed}")]
    Invalid {
        /// The scenario file, or "command line".
        origin: String,
        /// The key or flag, e.g. `accounts[1].faults[0].fault`.
        key: String,
        /// The rejected value.
        value: String,
        /// What would be accepted.
        allowed: String,
    },
    /// Two accounts with the same id.
    #[error("{origin}: account {id} is defined twice")]
    DuplicateAccount {
        /// The scenario file, or "command line" for generated accounts.
        origin: String,
        /// The repeated id.
        id: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// The simulator's `Result`.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
