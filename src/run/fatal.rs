//! Why a run stops before its end (SPEC §3, §5, §10): the run-fatal causes, typed until the
//! manifest and the last ERROR line put them into words.

use super::breaker::Trip;
use std::fmt;

/// A run-fatal cause: every unit stops, the run exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fatal {
    /// The API rejected the key itself (`errors/missing_credentials`,
    /// `errors/insufficient_privileges`).
    KeyRejected {
        /// The envelope type the API answered with.
        error_type: String,
    },
    /// A breaker tripped: something global is wrong (SPEC §3).
    Breaker(Trip),
    /// Another run took over a lease this run held (its staging area's, or its job, date and
    /// shard's): two runs must never write one unit.
    LeaseLost {
        /// What was lost, as the lease layer says it.
        what: String,
    },
    /// A unit's task panicked (a bug): the other units go on, the run exits 1.
    Internal {
        /// The unit and the panic.
        message: String,
    },
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::KeyRejected { error_type } => {
                write!(
                    f,
                    "the API key was rejected ({error_type}); stopping the run"
                )
            }
            Fatal::Breaker(trip) => write!(f, "{trip}"),
            Fatal::LeaseLost { what } => {
                write!(
                    f,
                    "{what}; this run stopped so that two runs never write one unit"
                )
            }
            Fatal::Internal { message } => f.write_str(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of each cause are the ones the manifest and the log have always had.
    #[test]
    fn words() {
        let k = Fatal::KeyRejected {
            error_type: "errors/missing_credentials".into(),
        };
        assert_eq!(
            k.to_string(),
            "the API key was rejected (errors/missing_credentials); stopping the run"
        );
        let l = Fatal::LeaseLost {
            what: "another run took this run's lease of its job, date and shard over".into(),
        };
        assert!(
            l.to_string()
                .ends_with("so that two runs never write one unit")
        );
    }
}
