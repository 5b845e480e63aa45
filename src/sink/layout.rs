//! The one place that builds object paths: final partitions, staging, manifests (SPEC §4).
//!
//! Paths are built from `PathPart`s, which percent-encode unsafe bytes and neutralise `.`/`..`
//! but keep `=`, so hive `key=value` segments survive.

use crate::model::{Dataset, Provider};
use object_store::path::{Path, PathPart};

/// The directory of staged files, per run: `{prefix}/_staging/{run_id}`.
pub const STAGING_DIR: &str = "_staging";
/// The directory of run manifests: `{prefix}/_runs`.
pub const RUNS_DIR: &str = "_runs";

/// Identifies one unit's partition.
#[derive(Debug, Clone, Copy)]
pub struct PartitionKey<'a> {
    /// followers | following.
    pub dataset: Dataset,
    /// linkedin | instagram.
    pub provider: Provider,
    /// `YYYY-MM-DD`.
    pub snapshot_date: &'a str,
    /// The validated account id.
    pub account_id: &'a str,
}

/// Where a path lives: published, or staged by a run.
#[derive(Debug, Clone, Copy)]
pub enum Area<'a> {
    /// What readers see.
    Final,
    /// A run's private staging area.
    Staging {
        /// The run.
        run_id: &'a str,
    },
}

/// Paths below the destination's prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    prefix: Vec<PathPart<'static>>,
}

impl Layout {
    /// A layout below `prefix` (empty for a store rooted at the output directory).
    pub fn new(prefix: &Path) -> Layout {
        Layout {
            prefix: prefix
                .parts()
                .map(|p| PathPart::from(p.as_ref().to_owned()))
                .collect(),
        }
    }

    fn build<'a>(&self, parts: impl IntoIterator<Item = PathPart<'a>>) -> Path {
        Path::from_iter(self.prefix.iter().cloned().chain(parts))
    }

    /// The partition directory of a unit in an area.
    pub fn partition(&self, area: Area<'_>, key: &PartitionKey<'_>) -> Path {
        let mut parts: Vec<PathPart<'_>> = Vec::with_capacity(7);
        if let Area::Staging { run_id } = area {
            parts.push(STAGING_DIR.into());
            parts.push(PathPart::from(run_id.to_owned()));
        }
        parts.push(key.dataset.as_str().into());
        parts.push(PathPart::from(format!("provider={}", key.provider)));
        parts.push(PathPart::from(format!(
            "snapshot_date={}",
            key.snapshot_date
        )));
        parts.push(PathPart::from(format!("account_id={}", key.account_id)));
        self.build(parts)
    }

    /// The path of part file `n` of a unit: `.../part-{n:05}.parquet`.
    pub fn part(&self, area: Area<'_>, key: &PartitionKey<'_>, n: usize) -> Path {
        self.partition(area, key).join(part_file_name(n))
    }

    /// The whole staging area of a run.
    pub fn staging_root(&self, run_id: &str) -> Path {
        self.build([
            PathPart::from(STAGING_DIR),
            PathPart::from(run_id.to_owned()),
        ])
    }

    /// The staging area of all runs.
    pub fn staging_all(&self) -> Path {
        self.build([PathPart::from(STAGING_DIR)])
    }

    /// The run manifest: `_runs/snapshot_date={date}/{run_id}.json`.
    pub fn manifest(&self, snapshot_date: &str, run_id: &str) -> Path {
        self.build([
            PathPart::from(RUNS_DIR),
            PathPart::from(format!("snapshot_date={snapshot_date}")),
            PathPart::from(format!("{run_id}.json")),
        ])
    }

    /// The marker written and deleted by the destination preflight.
    pub fn preflight_marker(&self, run_id: &str) -> Path {
        self.staging_root(run_id).join("_preflight")
    }
}

/// Parses the prefix of an `s3://bucket/prefix` URL, the one path that comes from outside.
#[allow(clippy::disallowed_methods)]
pub fn parse_prefix(prefix: &str) -> Result<Path, object_store::path::Error> {
    Path::parse(prefix.trim_matches('/'))
}

/// `part-00000.parquet`.
pub fn part_file_name(n: usize) -> String {
    format!("part-{n:05}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PartitionKey<'static> {
        PartitionKey {
            dataset: Dataset::Followers,
            provider: Provider::Linkedin,
            snapshot_date: "2026-11-26",
            account_id: "acc_linkedin_01HX",
        }
    }

    /// Final and staging paths follow SPEC §4 exactly, below the prefix.
    #[test]
    fn paths_follow_the_spec() {
        let l = Layout::new(&Path::from("exports/pp"));
        assert_eq!(
            l.part(Area::Final, &key(), 0).as_ref(),
            "exports/pp/followers/provider=linkedin/snapshot_date=2026-11-26/account_id=acc_linkedin_01HX/part-00000.parquet"
        );
        assert_eq!(
            l.part(Area::Staging { run_id: "r1" }, &key(), 12).as_ref(),
            "exports/pp/_staging/r1/followers/provider=linkedin/snapshot_date=2026-11-26/account_id=acc_linkedin_01HX/part-00012.parquet"
        );
        assert_eq!(
            l.manifest("2026-11-26", "r1").as_ref(),
            "exports/pp/_runs/snapshot_date=2026-11-26/r1.json"
        );
        let root = Layout::new(&Path::default());
        assert_eq!(root.staging_root("r1").as_ref(), "_staging/r1");
    }

    /// A hostile segment cannot climb out of its partition.
    #[test]
    fn dot_dot_is_neutralised() {
        let l = Layout::new(&Path::default());
        let mut k = key();
        k.account_id = "..";
        let p = l.partition(Area::Final, &k);
        assert_eq!(p.parts().count(), 4);
        assert!(!p.as_ref().contains("/../"), "{p}");
        assert_eq!(l.staging_root("..").parts().count(), 2);
    }
}
