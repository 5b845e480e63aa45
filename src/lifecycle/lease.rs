//! Where `erase` and `prune` take the output's lifecycle lease (SPEC §10, §12).
//!
//! The exclusive lease primitive (conditional writes, waiting for live leases of runs,
//! finalizes and other lifecycle commands) is built in the sink as a general mechanism; until it
//! lands, this is the one place both commands call, so wiring it in is one change here. Today
//! it only validates `--wait` and returns a guard that holds nothing.

use std::time::Duration;

/// `--wait`'s default: how long `erase` and `prune` wait for other writers of the output.
pub const DEFAULT_WAIT: &str = "1h";

/// The longest `--wait` accepted.
const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A bad `--wait` (exit 2).
#[derive(Debug, thiserror::Error)]
#[error(
    "--wait {value:?} is not allowed; use a humantime duration from 0s to 7days, e.g. \"30m\" or \"1h\""
)]
pub struct WaitError {
    /// The value as given.
    pub value: String,
}

/// Parses `--wait`: a humantime duration up to a week (0 means "do not wait").
pub fn parse_wait(value: &str) -> Result<Duration, WaitError> {
    humantime::parse_duration(value)
        .ok()
        .filter(|d| *d <= MAX_WAIT)
        .ok_or_else(|| WaitError {
            value: value.to_owned(),
        })
}

/// The lifecycle lease while a command holds it; released on drop.
#[derive(Debug)]
pub struct LifecycleLease {
    /// How long the command was willing to wait for it.
    pub waited_up_to: Duration,
}

/// Takes the output's lifecycle lease for `command`, waiting up to `wait` for the live leases
/// of runs, finalizes, erases and prunes of the same output.
///
/// The exclusive lease of SPEC §10 lands here: create-if-absent, renewed while held, and a wait
/// that logs whom it waits for and gives up after `wait` (exit 1 naming them). Until then it
/// takes nothing. A `--dry-run` never calls it: it writes nothing and takes no lease.
pub async fn hold_lifecycle_lease(command: &str, wait: Duration) -> LifecycleLease {
    tracing::debug!(
        command,
        wait_s = wait.as_secs(),
        "Lifecycle lease: none taken yet."
    );
    LifecycleLease { waited_up_to: wait }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--wait` takes humantime durations up to a week and names what is allowed otherwise.
    #[test]
    fn wait_values() {
        assert_eq!(parse_wait(DEFAULT_WAIT).unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_wait("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_wait("8days").unwrap_err().to_string(),
            "--wait \"8days\" is not allowed; use a humantime duration from 0s to 7days, e.g. \"30m\" or \"1h\""
        );
        assert!(parse_wait("soon").is_err());
    }
}
