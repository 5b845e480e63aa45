//! Progress: a bar on a terminal, one line every 10 seconds elsewhere (Kubernetes logs, Airflow).
//!
//! Counters are atomics the units bump; this module only displays them.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, periodic lines elsewhere.
    Auto,
    /// Always bars.
    On,
    /// Periodic lines only.
    Off,
}

/// Live counters of a run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Units planned.
    pub units_total: AtomicU64,
    /// Units finished (any status).
    pub units_done: AtomicU64,
    /// Units failed.
    pub units_failed: AtomicU64,
    /// Records received.
    pub records: AtomicU64,
    /// Requests sent.
    pub requests: AtomicU64,
    /// Retries.
    pub retries: AtomicU64,
}

/// The display task; stop it with [`Progress::finish`].
pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts displaying `c`.
    pub fn start(c: Arc<Counters>, mode: ProgressMode) -> Progress {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bars = match mode {
            ProgressMode::On => true,
            ProgressMode::Off => false,
            ProgressMode::Auto => tty,
        };
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            if bars {
                let pb = ProgressBar::with_draw_target(
                    Some(c.units_total.load(Relaxed)),
                    ProgressDrawTarget::stderr(),
                );
                pb.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:30}] {pos}/{len} units {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                loop {
                    pb.set_position(c.units_done.load(Relaxed));
                    pb.set_message(line(&c, started));
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        () = s.cancelled() => break,
                    }
                }
                pb.finish_and_clear();
            } else {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = s.cancelled() => break,
                    }
                    tracing::info!(
                        units_done = c.units_done.load(Relaxed),
                        units_total = c.units_total.load(Relaxed),
                        units_failed = c.units_failed.load(Relaxed),
                        records = c.records.load(Relaxed),
                        requests = c.requests.load(Relaxed),
                        retries = c.retries.load(Relaxed),
                        "Progress: {}.",
                        line(&c, started)
                    );
                }
            }
        });
        Progress {
            stop,
            task: Some(task),
        }
    }

    /// Stops the display.
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take()
            && let Err(e) = t.await
        {
            tracing::debug!(error = %e, "Progress display ended abnormally.");
        }
    }
}

fn line(c: &Counters, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let req = c.requests.load(Relaxed);
    format!(
        "{} records, {:.1} requests/s, {} retries, {} failed",
        c.records.load(Relaxed),
        req as f64 / secs,
        c.retries.load(Relaxed),
        c.units_failed.load(Relaxed)
    )
}
