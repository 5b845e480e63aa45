//! Keeping a held lease: renewed in the background until released, its loss (another process
//! took it over after it looked stale) reported through a cancellation token.
//!
//! Knows only `Leases::renew` and `Leases::release`; how a lease is written is not its business.

use super::error::{LeaseError, Result};
use super::leases::{Held, Leases};
use crate::sink::lease::Lease;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A held lease renewed in the background until released: see [`Leases::keep`].
pub struct Kept {
    held: Arc<tokio::sync::Mutex<Held>>,
    leases: Leases,
    stop: CancellationToken,
    lost: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").finish_non_exhaustive()
    }
}

impl Leases {
    /// Keeps `held`: renews it every `every` until [`Kept::release`]. A renewal that finds the
    /// lease taken by another process (this one looked stale) logs it and cancels
    /// [`Kept::lost`]; one that fails to reach the store is logged and tried again next time.
    pub fn keep(&self, held: Held, every: Duration) -> Kept {
        let held = Arc::new(tokio::sync::Mutex::new(held));
        let stop = CancellationToken::new();
        let lost = CancellationToken::new();
        let task = tokio::spawn({
            let (held, stop, lost, leases) =
                (held.clone(), stop.clone(), lost.clone(), self.clone());
            async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        () = stop.cancelled() => return,
                    }
                    let mut h = held.lock().await;
                    match leases.renew(&mut h).await {
                        Ok(()) => tracing::debug!(lease = %h.path, "Lease renewed."),
                        Err(e @ LeaseError::Lost { .. }) => {
                            tracing::error!(error = %e, "A lease this process held was taken over.");
                            lost.cancel();
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %crate::error_chain(&e), lease = %h.path,
                                "A lease could not be renewed; trying again at the next renewal.");
                        }
                    }
                }
            }
        });
        Kept {
            held,
            leases: self.clone(),
            stop,
            lost,
            task,
        }
    }
}

impl Kept {
    /// Cancelled when another process took the lease.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// The lease as last written.
    pub async fn lease(&self) -> Lease {
        self.held.lock().await.lease.clone()
    }

    /// Stops renewing and releases the lease (unless it was lost).
    pub async fn release(self) -> Result<()> {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "A lease renewal task ended abnormally.");
        }
        if self.lost.is_cancelled() {
            return Ok(());
        }
        let held = self.held.lock().await.clone();
        self.leases.release(held).await
    }
}
