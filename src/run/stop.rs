//! The run's stop: a signal recorded and a token cancelled, checked at every wait.

use crate::report::StopSignal;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a stopping run may take before the process exits anyway (SPEC §5: within 10 s).
pub const STOP_GRACE: Duration = Duration::from_secs(8);

/// The run's stop signal, set by the signal handler before it cancels the token.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    signal: Arc<Mutex<Option<StopSignal>>>,
}

impl Stop {
    /// A fresh, unsignalled stop.
    pub fn new() -> Stop {
        Stop::default()
    }
    /// Records the signal and cancels everything waiting.
    pub fn signal(&self, s: StopSignal) {
        let mut g = self.signal.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert(s);
        self.token.cancel();
    }
    /// The signal received, if any.
    pub fn received(&self) -> Option<StopSignal> {
        *self.signal.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The token cancelled on a signal.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}
