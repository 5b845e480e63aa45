//! The run's figures in the Prometheus text exposition format (SPEC §11), for the node-exporter
//! textfile collector or a push to a Pushgateway.
//!
//! Names follow Prometheus conventions: `postpress_etl_` prefix, `_total` on counters, units as
//! suffixes (`_seconds`, `_bytes`). Labels are `dataset`, `provider` and `status`, whose values
//! are fixed and few, plus `job_name` (and `shard` for a sharded run) so that the files of two
//! jobs or shards on one host never describe the same series. Never `account_id`: a job has
//! thousands of accounts, and every account would be a new series per metric in Prometheus'
//! memory and index, forever (the manifest and the summary name the accounts).
//!
//! Each run is a new process, so the counters start at zero with it, like any restarted
//! process's. Every (dataset, provider, status) combination is written, zeros included, so a
//! query never mistakes "none failed" for "no data". No sample carries a timestamp: neither the
//! textfile collector nor the Pushgateway accepts one.
//!
//! This module formats text; it must not know where the text is written.

use super::outcome::{Outcome, RunFacts};
use super::run::RunReport;
use super::unit::UnitStatus;
use crate::model::{Dataset, Provider};
use chrono::{DateTime, Utc};
use std::fmt::{Display, Write as _};

/// The figures of one (dataset, provider).
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    ok: u64,
    failed: u64,
    skipped: u64,
    records: u64,
    suppressed: u64,
    requests: u64,
    retries: u64,
    throttled: u64,
    bytes: u64,
    output_bytes: u64,
}

/// Every (dataset, provider), in the order the file lists them.
fn pairs() -> impl Iterator<Item = (Dataset, Provider)> {
    Dataset::ALL
        .into_iter()
        .flat_map(|d| Provider::ALL.into_iter().map(move |p| (d, p)))
}

/// Sums a report's units per (dataset, provider), as [`RunReport::seal`] sums its totals.
fn figures(report: &RunReport) -> Vec<((Dataset, Provider), Figures)> {
    let mut all: Vec<_> = pairs().map(|k| (k, Figures::default())).collect();
    for u in &report.units {
        let Some((_, f)) = all
            .iter_mut()
            .find(|((d, p), _)| *d == u.dataset && *p == u.provider)
        else {
            continue;
        };
        match u.status {
            UnitStatus::Ok => {
                f.ok += 1;
                f.records += u.records;
                f.suppressed += u.suppressed;
                f.output_bytes += u.output_bytes;
            }
            UnitStatus::Failed => f.failed += 1,
            UnitStatus::Skipped => f.skipped += 1,
        }
        f.requests += u.attempts;
        f.retries += u.retries;
        f.throttled += u.throttles;
        f.bytes += u.bytes;
    }
    all
}

/// The metrics file of an outcome; `None` for a job-file or usage error, where nothing was
/// counted. `now` is when a run that has no report ended.
pub fn render(facts: &RunFacts, outcome: &Outcome<'_>, now: DateTime<Utc>) -> Option<String> {
    let mut t = Text::new(facts, outcome);
    let (per_pair, duration) = match outcome {
        Outcome::Invalid { .. } => return None,
        Outcome::Ran(r) => (
            Some(figures(r)),
            run_duration(r).unwrap_or(since(facts, now)),
        ),
        Outcome::NotStarted { .. } => (
            Some(pairs().map(|k| (k, Figures::default())).collect()),
            since(facts, now),
        ),
        // Counts unknown: say only what is known rather than zeros that look like a fact.
        Outcome::Abandoned { .. } => (None, since(facts, now)),
    };
    if let Some(per_pair) = &per_pair {
        counts(&mut t, per_pair);
    }
    t.family(
        "postpress_etl_duration_seconds",
        "gauge",
        "How long the run took, in seconds.",
    );
    t.sample("postpress_etl_duration_seconds", &[], duration);
    t.family(
        "postpress_etl_exit_code",
        "gauge",
        "The run's exit code: 0 ok, 3 some units failed, 1 run-fatal, 130/143 interrupted.",
    );
    t.sample("postpress_etl_exit_code", &[], outcome.exit_code());
    if let (Outcome::Ran(r), 0) = (outcome, outcome.exit_code()) {
        let finished = parse_time(&r.finished_at).unwrap_or(now);
        t.family(
            "postpress_etl_last_success_timestamp_seconds",
            "gauge",
            "When the last run that exited 0 finished (Unix time); only successful runs write it.",
        );
        t.sample(
            "postpress_etl_last_success_timestamp_seconds",
            &[],
            seconds(finished.timestamp_millis()),
        );
    }
    Some(t.out)
}

/// The per-(dataset, provider) families.
fn counts(t: &mut Text, per_pair: &[((Dataset, Provider), Figures)]) {
    t.family(
        "postpress_etl_units",
        "gauge",
        "Units of the run by dataset, provider and how they ended (ok, failed, skipped).",
    );
    for ((d, p), f) in per_pair {
        for (status, n) in [("ok", f.ok), ("failed", f.failed), ("skipped", f.skipped)] {
            let labels = [
                ("dataset", d.as_str()),
                ("provider", p.as_str()),
                ("status", status),
            ];
            t.sample("postpress_etl_units", &labels, n);
        }
    }
    type Field = fn(&Figures) -> u64;
    let families: [(&str, &str, Field); 7] = [
        (
            "postpress_etl_records_total",
            "Records the run published.",
            |f| f.records,
        ),
        (
            "postpress_etl_suppressed_total",
            "Rows of erased people the run dropped before staging them.",
            |f| f.suppressed,
        ),
        (
            "postpress_etl_requests_total",
            "HTTP requests the run sent to the API, retries included.",
            |f| f.requests,
        ),
        (
            "postpress_etl_retries_total",
            "Requests the run retried.",
            |f| f.retries,
        ),
        (
            "postpress_etl_throttled_total",
            "Times the API told the run to slow down (429, x-ratelimit-remaining: 0).",
            |f| f.throttled,
        ),
        (
            "postpress_etl_bytes_total",
            "Bytes of API pages the run received.",
            |f| f.bytes,
        ),
        (
            "postpress_etl_output_bytes_total",
            "Bytes of Parquet the run published.",
            |f| f.output_bytes,
        ),
    ];
    for (name, help, field) in families {
        t.family(name, "counter", help);
        for ((d, p), f) in per_pair {
            t.sample(
                name,
                &[("dataset", d.as_str()), ("provider", p.as_str())],
                field(f),
            );
        }
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The manifest's finished_at − started_at, in seconds.
fn run_duration(r: &RunReport) -> Option<f64> {
    let (start, end) = (parse_time(&r.started_at)?, parse_time(&r.finished_at)?);
    Some(seconds((end - start).num_milliseconds().max(0)))
}

fn since(facts: &RunFacts, now: DateTime<Utc>) -> f64 {
    seconds((now - facts.started_at).num_milliseconds().max(0))
}

/// Milliseconds as seconds, exact to the millisecond in the text.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The exposition text being built, with the labels every sample carries.
struct Text {
    out: String,
    common: Vec<(&'static str, String)>,
}

impl Text {
    fn new(facts: &RunFacts, outcome: &Outcome<'_>) -> Text {
        let (job, shard) = match outcome {
            Outcome::Ran(r) => (Some(r.job.clone()), r.shard.clone()),
            _ => (facts.job.clone(), facts.shard.clone()),
        };
        let mut common = Vec::new();
        if let Some(j) = job {
            common.push(("job_name", j));
        }
        if let Some(s) = shard {
            common.push(("shard", s));
        }
        Text {
            out: String::new(),
            common,
        }
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        writeln!(self.out, "# HELP {name} {}", escape_help(help)).unwrap_or_default();
        writeln!(self.out, "# TYPE {name} {kind}").unwrap_or_default();
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        let all: Vec<String> = self
            .common
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(labels.iter().copied())
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        if all.is_empty() {
            writeln!(self.out, "{name} {value}")
        } else {
            writeln!(self.out, "{name}{{{}}} {value}", all.join(","))
        }
        .unwrap_or_default();
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A HELP text as the text format wants it: `\` and newlines escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::outcome::fixtures;
    use super::*;
    use chrono::TimeZone;

    fn facts() -> RunFacts {
        let mut f = RunFacts::new(Utc.with_ymd_and_hms(2026, 11, 26, 2, 29, 59).unwrap());
        f.job = Some("daily".into());
        f
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 2, 31, 3).unwrap()
    }

    fn rendered(outcome: &Outcome<'_>) -> String {
        render(&facts(), outcome, now()).expect("written")
    }

    /// A run that exited 0: every family with HELP and TYPE, every (dataset, provider, status)
    /// with zeros included, sums per label set, and the last success at the manifest's
    /// finished_at.
    #[test]
    fn ok_run_metrics_are_exact() {
        let r = fixtures::ok();
        assert_eq!(rendered(&Outcome::Ran(&r)), OK_RUN);
    }

    /// A partial run: the shard is a label, failed and skipped units are counted, and there is
    /// no last-success sample (a Pushgateway keeps the previous success's).
    #[test]
    fn partial_run_has_no_last_success() {
        let r = fixtures::partial();
        let text = rendered(&Outcome::Ran(&r));
        let common = r#"job_name="daily",shard="1/4""#;
        for line in [
            format!(
                r#"postpress_etl_units{{{common},dataset="following",provider="linkedin",status="failed"}} 1"#
            ),
            format!(
                r#"postpress_etl_units{{{common},dataset="followers",provider="instagram",status="skipped"}} 1"#
            ),
            format!(
                r#"postpress_etl_requests_total{{{common},dataset="followers",provider="instagram"}} 2"#
            ),
            format!("postpress_etl_exit_code{{{common}}} 3"),
            format!("postpress_etl_duration_seconds{{{common}}} 62.5"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("last_success"), "{text}");
    }

    /// Without a report: zeros for a run that could not start (nothing was done), only the
    /// duration and exit code for an abandoned one (its counts are unknown), nothing at all for
    /// a usage error.
    #[test]
    fn runs_without_a_report() {
        let text = rendered(&Outcome::NotStarted { error: "x" });
        assert_eq!(
            text.lines().filter(|l| l.ends_with("} 0")).count(),
            12 + 7 * 4
        );
        assert!(
            text.ends_with("postpress_etl_exit_code{job_name=\"daily\"} 1\n"),
            "{text}"
        );
        let text = rendered(&Outcome::Abandoned {
            signal: super::super::StopSignal::Terminate,
        });
        assert_eq!(text, ABANDONED);
        assert_eq!(
            render(&facts(), &Outcome::Invalid { error: "x" }, now()),
            None
        );
    }

    /// Label values and HELP texts are escaped as the text format requires.
    #[test]
    fn escaping() {
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
        assert_eq!(escape_help("a\\b\nc\"d"), r#"a\\b\nc"d"#);
    }

    const ABANDONED: &str = "\
# HELP postpress_etl_duration_seconds How long the run took, in seconds.
# TYPE postpress_etl_duration_seconds gauge
postpress_etl_duration_seconds{job_name=\"daily\"} 64
# HELP postpress_etl_exit_code The run's exit code: 0 ok, 3 some units failed, 1 run-fatal, 130/143 interrupted.
# TYPE postpress_etl_exit_code gauge
postpress_etl_exit_code{job_name=\"daily\"} 143
";

    const OK_RUN: &str = r#"# HELP postpress_etl_units Units of the run by dataset, provider and how they ended (ok, failed, skipped).
# TYPE postpress_etl_units gauge
postpress_etl_units{job_name="daily",dataset="followers",provider="linkedin",status="ok"} 1
postpress_etl_units{job_name="daily",dataset="followers",provider="linkedin",status="failed"} 0
postpress_etl_units{job_name="daily",dataset="followers",provider="linkedin",status="skipped"} 0
postpress_etl_units{job_name="daily",dataset="followers",provider="instagram",status="ok"} 0
postpress_etl_units{job_name="daily",dataset="followers",provider="instagram",status="failed"} 0
postpress_etl_units{job_name="daily",dataset="followers",provider="instagram",status="skipped"} 0
postpress_etl_units{job_name="daily",dataset="following",provider="linkedin",status="ok"} 0
postpress_etl_units{job_name="daily",dataset="following",provider="linkedin",status="failed"} 0
postpress_etl_units{job_name="daily",dataset="following",provider="linkedin",status="skipped"} 0
postpress_etl_units{job_name="daily",dataset="following",provider="instagram",status="ok"} 1
postpress_etl_units{job_name="daily",dataset="following",provider="instagram",status="failed"} 0
postpress_etl_units{job_name="daily",dataset="following",provider="instagram",status="skipped"} 0
# HELP postpress_etl_records_total Records the run published.
# TYPE postpress_etl_records_total counter
postpress_etl_records_total{job_name="daily",dataset="followers",provider="linkedin"} 250
postpress_etl_records_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_records_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_records_total{job_name="daily",dataset="following",provider="instagram"} 7
# HELP postpress_etl_suppressed_total Rows of erased people the run dropped before staging them.
# TYPE postpress_etl_suppressed_total counter
postpress_etl_suppressed_total{job_name="daily",dataset="followers",provider="linkedin"} 0
postpress_etl_suppressed_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_suppressed_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_suppressed_total{job_name="daily",dataset="following",provider="instagram"} 0
# HELP postpress_etl_requests_total HTTP requests the run sent to the API, retries included.
# TYPE postpress_etl_requests_total counter
postpress_etl_requests_total{job_name="daily",dataset="followers",provider="linkedin"} 4
postpress_etl_requests_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_requests_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_requests_total{job_name="daily",dataset="following",provider="instagram"} 1
# HELP postpress_etl_retries_total Requests the run retried.
# TYPE postpress_etl_retries_total counter
postpress_etl_retries_total{job_name="daily",dataset="followers",provider="linkedin"} 1
postpress_etl_retries_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_retries_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_retries_total{job_name="daily",dataset="following",provider="instagram"} 0
# HELP postpress_etl_throttled_total Times the API told the run to slow down (429, x-ratelimit-remaining: 0).
# TYPE postpress_etl_throttled_total counter
postpress_etl_throttled_total{job_name="daily",dataset="followers",provider="linkedin"} 1
postpress_etl_throttled_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_throttled_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_throttled_total{job_name="daily",dataset="following",provider="instagram"} 0
# HELP postpress_etl_bytes_total Bytes of API pages the run received.
# TYPE postpress_etl_bytes_total counter
postpress_etl_bytes_total{job_name="daily",dataset="followers",provider="linkedin"} 1000
postpress_etl_bytes_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_bytes_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_bytes_total{job_name="daily",dataset="following",provider="instagram"} 70
# HELP postpress_etl_output_bytes_total Bytes of Parquet the run published.
# TYPE postpress_etl_output_bytes_total counter
postpress_etl_output_bytes_total{job_name="daily",dataset="followers",provider="linkedin"} 500
postpress_etl_output_bytes_total{job_name="daily",dataset="followers",provider="instagram"} 0
postpress_etl_output_bytes_total{job_name="daily",dataset="following",provider="linkedin"} 0
postpress_etl_output_bytes_total{job_name="daily",dataset="following",provider="instagram"} 40
# HELP postpress_etl_duration_seconds How long the run took, in seconds.
# TYPE postpress_etl_duration_seconds gauge
postpress_etl_duration_seconds{job_name="daily"} 62.5
# HELP postpress_etl_exit_code The run's exit code: 0 ok, 3 some units failed, 1 run-fatal, 130/143 interrupted.
# TYPE postpress_etl_exit_code gauge
postpress_etl_exit_code{job_name="daily"} 0
# HELP postpress_etl_last_success_timestamp_seconds When the last run that exited 0 finished (Unix time); only successful runs write it.
# TYPE postpress_etl_last_success_timestamp_seconds gauge
postpress_etl_last_success_timestamp_seconds{job_name="daily"} 1795660262.5
"#;
}
