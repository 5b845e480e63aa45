//! `run --summary-json` and `--metrics-file` (SPEC §11) through the real binary, on every way a
//! run ends: ok (0), partial (3), run-fatal (1, with and without a manifest), job-file and usage
//! errors (2), SIGTERM (143). The summary must agree with the run manifest and the simulator's
//! own counts; the metrics file is parsed by Prometheus' Python text parser
//! (`prometheus_client`, in `.venv`), and its sums must agree with the manifest too.
//!
//! * `ended` — runs that ran: 0, 3, 1 with a manifest, 143, and the S3 manifest URL;
//! * `early` — runs that stopped before they started: 1 without a manifest, 2.

mod early;
mod ended;

use crate::util::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The project venv's Python, which has `prometheus_client` (scripts/requirements.txt).
fn venv_python() -> PathBuf {
    let py = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python"));
    assert!(
        py.exists(),
        "{} is missing: run bash scripts/venv.sh",
        py.display()
    );
    py
}

/// Parses a metrics file with `prometheus_client.parser` and returns, per family name, its
/// type, help and samples: `{name: {type, help, samples: [{name, labels, value}]}}`.
fn parse_metrics(path: &Path) -> BTreeMap<String, Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    families.append({"name": f.name, "type": f.type, "help": f.documentation,
                     "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                                 for s in f.samples]})
print(json.dumps(families))
"#;
    let out = Command::new(venv_python())
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "prometheus_client rejected {}:\n{}\n--- file\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    let families: Vec<Value> = serde_json::from_slice(&out.stdout).expect("parser output is JSON");
    let mut by_name = BTreeMap::new();
    for f in families {
        let name = f["name"].as_str().expect("name").to_owned();
        assert_ne!(f["type"], "unknown", "{name} has a TYPE line");
        assert!(
            !f["help"].as_str().unwrap_or_default().is_empty(),
            "{name} has HELP"
        );
        for s in f["samples"].as_array().expect("samples") {
            assert!(
                s["labels"].get("account_id").is_none(),
                "no account_id label: {s}"
            );
        }
        assert!(
            by_name.insert(name.clone(), f).is_none(),
            "{name} appears once"
        );
    }
    by_name
}

/// The sum of a family's samples whose labels include `want`.
fn sum(m: &BTreeMap<String, Value>, family: &str, want: &[(&str, &str)]) -> f64 {
    m.get(family)
        .unwrap_or_else(|| panic!("no family {family} in {m:#?}"))["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| want.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().expect("a number"))
        .sum()
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the summary is one JSON object")
}

/// The run's only manifest and its path.
fn the_manifest(out: &Path) -> (Value, PathBuf) {
    // The run's tables have a manifest of their own (finalize-*.json).
    let files: Vec<PathBuf> = files_below(&out.join("_runs"))
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with("finalize-"))
        })
        .collect();
    assert_eq!(files.len(), 1, "one manifest:\n{}", tree(out));
    let path = std::fs::canonicalize(&files[0]).expect("manifest path");
    (read_json(&path), path)
}

/// Units the summary must list: failed, or skipped with an error (stopped before their end).
fn not_published(manifest: &Value) -> Vec<Value> {
    manifest["units"]
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["status"] == "failed" || (u["status"] == "skipped" && !u["error"].is_null()))
        .map(|u| {
            json!({
                "account_id": u["account_id"], "dataset": u["dataset"], "provider": u["provider"],
                "status": u["status"], "error_type": u["error"]["type"].as_str()
                    .map_or_else(|| u["error"]["kind"].clone(), Value::from),
            })
        })
        .collect()
}

/// The summary says what the manifest says: status, ids, counts, failed units, where it is.
fn assert_summary_agrees(s: &Value, m: &Value, manifest_path: &Path, code: i32) {
    assert_eq!(s["exit_code"], code, "{s}");
    assert_eq!(s["status"], m["status"], "{s}");
    for key in ["run_id", "snapshot_date", "job"] {
        assert_eq!(s[key], m[key], "{key}: {s}");
    }
    assert_eq!(s["shard"], m.get("shard").cloned().unwrap_or(Value::Null));
    assert_eq!(s["error"], m.get("error").cloned().unwrap_or(Value::Null));
    let t = &m["totals"];
    let c = &s["counts"];
    for (summary_key, manifest_key) in [
        ("units", "units"),
        ("ok", "ok"),
        ("failed", "failed"),
        ("skipped", "skipped"),
        ("records", "records"),
        ("requests", "attempts"),
        ("retries", "retries"),
        ("throttled", "throttles"),
        ("storage_retries", "storage_retries"),
    ] {
        assert_eq!(c[summary_key], t[manifest_key], "counts.{summary_key}: {s}");
    }
    assert_eq!(c.as_object().map(|o| o.len()), Some(9), "{c}");
    assert_eq!(s["failed_units"], Value::from(not_published(m)), "{s}");
    assert_eq!(s["manifest"], manifest_path.display().to_string());
}

/// The metrics' sums are the manifest's totals, unit counts match per dataset and provider,
/// the duration is the manifest's, and the last success is there only on exit 0.
fn assert_metrics_agree(metrics: &Path, m: &Value, code: i32) {
    let p = parse_metrics(metrics);
    let t = &m["totals"];
    let total = |k: &str| t[k].as_f64().expect("total");
    for (family, key) in [
        ("postpress_etl_records", "records"),
        ("postpress_etl_requests", "attempts"),
        ("postpress_etl_retries", "retries"),
        ("postpress_etl_throttled", "throttles"),
        ("postpress_etl_bytes", "bytes"),
    ] {
        assert_eq!(p[family]["type"], "counter", "{family}");
        assert_eq!(sum(&p, family, &[]), total(key), "{family} vs totals.{key}");
    }
    let units = m["units"].as_array().expect("units");
    let published: f64 = units
        .iter()
        .filter(|u| u["status"] == "ok")
        .map(|u| u["output_bytes"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(sum(&p, "postpress_etl_output_bytes", &[]), published);
    for status in ["ok", "failed", "skipped"] {
        for ds in ["followers", "following"] {
            for pr in ["linkedin", "instagram"] {
                let want = units
                    .iter()
                    .filter(|u| u["status"] == status && u["dataset"] == ds && u["provider"] == pr)
                    .count() as f64;
                let labels = [("status", status), ("dataset", ds), ("provider", pr)];
                assert_eq!(sum(&p, "postpress_etl_units", &labels), want, "{labels:?}");
            }
        }
    }
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(m[k].as_str().expect("time")).expect("RFC 3339")
    };
    let took = (at("finished_at") - at("started_at")).num_milliseconds() as f64 / 1000.0;
    assert_eq!(sum(&p, "postpress_etl_duration_seconds", &[]), took);
    assert_eq!(sum(&p, "postpress_etl_exit_code", &[]), f64::from(code));
    let job = m["job"].as_str().expect("job");
    assert_eq!(
        sum(&p, "postpress_etl_exit_code", &[("job_name", job)]),
        f64::from(code)
    );
    let last = "postpress_etl_last_success_timestamp_seconds";
    if code == 0 {
        let finished = at("finished_at").timestamp_millis() as f64 / 1000.0;
        assert_eq!(sum(&p, last, &[]), finished);
    } else {
        assert!(!p.contains_key(last), "no last success on exit {code}");
    }
}

/// Runs a job with both files and returns the command's output and the two paths.
fn run_with_files(t: &TestDir, job: &Path, extra: &[&str]) -> (Output, PathBuf, PathBuf) {
    let (s, m) = (t.path().join("summary.json"), t.path().join("metrics.prom"));
    let mut args = vec![
        "--summary-json",
        s.to_str().expect("utf-8"),
        "--metrics-file",
        m.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    (run_job(job, &args), s, m)
}
