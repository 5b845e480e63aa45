//! The output tree on the local disk: file listings for failure messages, a unit's partition
//! directory, and the run and finalize manifests.

use super::DATE;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every file below `dir`, one per line, for failure messages.
pub fn tree(dir: &Path) -> String {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file below `dir`.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The partition directory of a unit.
pub fn partition(out: &Path, dataset: &str, provider: &str, account: &str) -> PathBuf {
    out.join(dataset)
        .join(format!("provider={provider}"))
        .join(format!("snapshot_date={DATE}"))
        .join(format!("account_id={account}"))
}

/// The run manifests written under `out/_runs`, oldest first (finalize's are apart:
/// [`finalize_manifests`]).
pub fn manifests(out: &Path) -> Vec<Value> {
    read_manifests(out, false)
}

/// The finalize manifests (`_runs/snapshot_date=D/finalize-*.json`), oldest first.
pub fn finalize_manifests(out: &Path) -> Vec<Value> {
    read_manifests(out, true)
}

fn read_manifests(out: &Path, finalize: bool) -> Vec<Value> {
    let mut files = files_below(&out.join("_runs"));
    files.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.starts_with("finalize-") == finalize
    });
    files.sort();
    files
        .iter()
        .map(|p| {
            serde_json::from_slice(&std::fs::read(p).expect("read manifest"))
                .expect("manifest is JSON")
        })
        .collect()
}
