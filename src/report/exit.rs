//! How a command ended, and the one place that maps it to the process's exit code (SPEC §5,
//! §9, §12): every command (`run`, `finalize`, `validate`, `views`, ...) ends in an [`Exit`].

use serde::Serialize;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked was done: 0.
    Done,
    /// Some units (or dates) were not done, the rest was published: 3.
    Partial,
    /// A run-fatal error (destination unusable, key rejected, internal error, a wait that ran
    /// out): 1.
    Fatal,
    /// A job-file, flag or usage error; nothing was done: 2.
    Usage,
    /// Stopped by a signal: 130 for SIGINT, 143 for SIGTERM.
    Signal(StopSignal),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Partial => 3,
            Exit::Fatal => 1,
            Exit::Usage => 2,
            Exit::Signal(StopSignal::Interrupt) => 130,
            Exit::Signal(StopSignal::Terminate) => 143,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of SPEC §5, each once.
    #[test]
    fn codes() {
        let all = [
            (Exit::Done, 0),
            (Exit::Fatal, 1),
            (Exit::Usage, 2),
            (Exit::Partial, 3),
            (Exit::Signal(StopSignal::Interrupt), 130),
            (Exit::Signal(StopSignal::Terminate), 143),
        ];
        for (e, code) in all {
            assert_eq!(e.code(), code, "{e:?}");
        }
    }
}

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopSignal {
    #[serde(rename = "SIGINT")]
    Interrupt,
    /// Kubernetes, Airflow, `kill`.
    #[serde(rename = "SIGTERM")]
    Terminate,
}
