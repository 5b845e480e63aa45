//! Progress: a bar on a terminal, one line every 10 seconds elsewhere (Kubernetes logs, Airflow).
//! `--progress on` off a terminal, where a bar cannot redraw, writes a line every 2 seconds and
//! one at the end.
//!
//! Counters are atomics the units bump; this module only displays them.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Acquire};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Whether progress bars are drawn (`--progress`): on a terminal by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, a line every 10 s elsewhere.
    Auto,
    /// Always progress: bars on a terminal, elsewhere a line every 2 s and one at the end.
    On,
    /// No bars: a line every 10 s.
    Off,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Bars redrawn in place (a terminal).
    Bars,
    /// A log line every `every`, and one at the end when `last`.
    Lines { every: Duration, last: bool },
}

impl View {
    fn choose(mode: ProgressMode, tty: bool) -> View {
        match (mode, tty) {
            (ProgressMode::Auto | ProgressMode::On, true) => View::Bars,
            (ProgressMode::On, false) => View::Lines {
                every: Duration::from_secs(2),
                last: true,
            },
            (ProgressMode::Auto | ProgressMode::Off, _) => View::Lines {
                every: Duration::from_secs(10),
                last: false,
            },
        }
    }
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
        let view = View::choose(mode, tty);
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            match view {
                View::Bars => bars(&c, &s).await,
                View::Lines { every, last } => lines(&c, &s, every, last).await,
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

async fn bars(c: &Counters, stop: &CancellationToken) {
    let started = Instant::now();
    let pb = ProgressBar::with_draw_target(
        Some(c.units_total.load(Acquire)),
        ProgressDrawTarget::stderr(),
    );
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} units {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    loop {
        // Both values, then one draw: two rate-limited draws in a row showed the new unit count
        // beside the previous records count.
        let n = Snapshot::of(c);
        pb.set_message(n.line(started));
        pb.set_position(n.units_done);
        pb.force_draw();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = stop.cancelled() => break,
        }
    }
    pb.finish_and_clear();
}

async fn lines(c: &Counters, stop: &CancellationToken, every: Duration, last: bool) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        log_line(c, started);
    }
    if last {
        log_line(c, started);
    }
}

fn log_line(c: &Counters, started: Instant) {
    let n = Snapshot::of(c);
    tracing::info!(
        units_done = n.units_done,
        units_total = n.units_total,
        units_failed = n.units_failed,
        records = n.records,
        requests = n.requests,
        retries = n.retries,
        "Progress: {}/{} units, {}.",
        n.units_done,
        n.units_total,
        n.line(started)
    );
}

/// The counters read once, so a line's figures agree with each other.
struct Snapshot {
    units_done: u64,
    units_total: u64,
    units_failed: u64,
    records: u64,
    requests: u64,
    retries: u64,
}

impl Snapshot {
    fn of(c: &Counters) -> Snapshot {
        // Units done first: a unit counts its records before it counts itself done, so the
        // records read after never lag the units shown as done.
        let units_done = c.units_done.load(Acquire);
        Snapshot {
            units_done,
            units_total: c.units_total.load(Acquire),
            units_failed: c.units_failed.load(Acquire),
            records: c.records.load(Acquire),
            requests: c.requests.load(Acquire),
            retries: c.retries.load(Acquire),
        }
    }

    fn line(&self, started: Instant) -> String {
        let secs = started.elapsed().as_secs_f64().max(0.001);
        format!(
            "{} records, {:.1} requests/s, {} retries, {} failed",
            self.records,
            self.requests as f64 / secs,
            self.retries,
            self.units_failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `on` shows progress everywhere; off a terminal it cannot be bars, so it is lines.
    #[test]
    fn display_per_mode() {
        let lines = |secs, last| View::Lines {
            every: Duration::from_secs(secs),
            last,
        };
        let table = [
            (ProgressMode::Auto, true, View::Bars),
            (ProgressMode::Auto, false, lines(10, false)),
            (ProgressMode::On, true, View::Bars),
            (ProgressMode::On, false, lines(2, true)),
            (ProgressMode::Off, true, lines(10, false)),
            (ProgressMode::Off, false, lines(10, false)),
        ];
        for (mode, tty, want) in table {
            assert_eq!(View::choose(mode, tty), want, "{mode:?} tty={tty}");
        }
    }
}
