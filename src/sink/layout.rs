//! The one place that builds object paths: final partitions, staging, manifests (SPEC §4), the
//! reader tables (SPEC §9), and the one place that reads them back from listed paths.
//!
//! Paths are built from `PathPart`s, which percent-encode unsafe bytes and neutralise `.`/`..`
//! but keep `=`, so hive `key=value` segments survive.

use crate::model::{Dataset, Provider};
use object_store::path::{Path, PathPart};

/// The directory of staged files, per run: `{prefix}/_staging/{run_id}`.
pub const STAGING_DIR: &str = "_staging";
/// The directory of run manifests: `{prefix}/_runs`.
pub const RUNS_DIR: &str = "_runs";
/// The directory of the reader tables: `{prefix}/tables`.
pub const TABLES_DIR: &str = "tables";
/// File names of finalize manifests in `_runs/snapshot_date=D/` start with this.
pub const FINALIZE_MANIFEST_PREFIX: &str = "finalize-";

/// Identifies one partition of a reader table: `tables/{table}/[provider=P/]snapshot_date=D`.
#[derive(Debug, Clone, Copy)]
pub struct TableKey<'a> {
    /// The table's directory name (`followers`, `follower_changes`, `account_daily`, ...).
    pub table: &'a str,
    /// The provider partition, for the tables that have one.
    pub provider: Option<Provider>,
    /// `YYYY-MM-DD`.
    pub snapshot_date: &'a str,
}

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

    /// The partition directory of a reader table in an area.
    pub fn table_partition(&self, area: Area<'_>, key: &TableKey<'_>) -> Path {
        let mut parts: Vec<PathPart<'_>> = Vec::with_capacity(7);
        if let Area::Staging { run_id } = area {
            parts.push(STAGING_DIR.into());
            parts.push(PathPart::from(run_id.to_owned()));
        }
        parts.push(TABLES_DIR.into());
        parts.push(PathPart::from(key.table.to_owned()));
        if let Some(p) = key.provider {
            parts.push(PathPart::from(format!("provider={p}")));
        }
        parts.push(PathPart::from(format!(
            "snapshot_date={}",
            key.snapshot_date
        )));
        self.build(parts)
    }

    /// The run manifests of a date: `_runs/snapshot_date={date}`.
    pub fn manifests_of(&self, snapshot_date: &str) -> Path {
        self.build([
            PathPart::from(RUNS_DIR),
            PathPart::from(format!("snapshot_date={snapshot_date}")),
        ])
    }

    /// What `finalize` read and wrote: `_runs/snapshot_date={date}/finalize-{run_id}.json`.
    pub fn finalize_manifest(&self, snapshot_date: &str, run_id: &str) -> Path {
        self.manifests_of(snapshot_date)
            .join(format!("{FINALIZE_MANIFEST_PREFIX}{run_id}.json"))
    }

    /// Every snapshot date of a dataset and provider: `{dataset}/provider={provider}`.
    pub fn dataset_root(&self, dataset: Dataset, provider: Provider) -> Path {
        self.build([
            PathPart::from(dataset.as_str()),
            PathPart::from(format!("provider={provider}")),
        ])
    }

    /// Every unit of a dataset, provider and date:
    /// `{dataset}/provider={provider}/snapshot_date={date}`.
    pub fn units_of(&self, dataset: Dataset, provider: Provider, snapshot_date: &str) -> Path {
        self.dataset_root(dataset, provider)
            .join(format!("snapshot_date={snapshot_date}"))
    }

    /// The marker written and deleted by the destination preflight.
    pub fn preflight_marker(&self, run_id: &str) -> Path {
        self.staging_root(run_id).join("_preflight")
    }
}

/// The date of a listed `.../snapshot_date={date}` directory.
pub fn snapshot_date_of(dir: &Path) -> Option<&str> {
    dir.filename()?.strip_prefix("snapshot_date=")
}

/// The account and file name of an object listed below [`Layout::units_of`]:
/// `{units_of}/account_id={account}/{file}`; `None` for anything else.
pub fn unit_file_of(units_of: &Path, object: &Path) -> Option<(String, String)> {
    let mut rest = object.prefix_match(units_of)?;
    let account = rest.next()?;
    let file = rest.next()?;
    if rest.next().is_some() {
        return None;
    }
    let account = account.as_ref().strip_prefix("account_id=")?.to_owned();
    Some((account, file.as_ref().to_owned()))
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

    /// Reader tables, their manifests and the listing paths follow SPEC §9 exactly; listed
    /// unit files are read back to their account and file name.
    #[test]
    fn table_paths_follow_the_spec() {
        let l = Layout::new(&Path::from("exports/pp"));
        let changes = TableKey {
            table: "follower_changes",
            provider: Some(Provider::Instagram),
            snapshot_date: "2026-11-26",
        };
        assert_eq!(
            l.table_partition(Area::Final, &changes)
                .join(part_file_name(0))
                .as_ref(),
            "exports/pp/tables/follower_changes/provider=instagram/snapshot_date=2026-11-26/part-00000.parquet"
        );
        let daily = TableKey {
            table: "account_daily",
            provider: None,
            snapshot_date: "2026-11-26",
        };
        assert_eq!(
            l.table_partition(Area::Staging { run_id: "r1" }, &daily)
                .as_ref(),
            "exports/pp/_staging/r1/tables/account_daily/snapshot_date=2026-11-26"
        );
        assert_eq!(
            l.finalize_manifest("2026-11-26", "r1").as_ref(),
            "exports/pp/_runs/snapshot_date=2026-11-26/finalize-r1.json"
        );
        let units = l.units_of(Dataset::Followers, Provider::Linkedin, "2026-11-26");
        assert_eq!(
            units.as_ref(),
            "exports/pp/followers/provider=linkedin/snapshot_date=2026-11-26"
        );
        assert_eq!(snapshot_date_of(&units), Some("2026-11-26"));
        let file = l.part(Area::Final, &key(), 3);
        assert_eq!(
            unit_file_of(&units, &file),
            Some(("acc_linkedin_01HX".into(), "part-00003.parquet".into()))
        );
        assert_eq!(unit_file_of(&units, &units.clone().join("x.parquet")), None);
        assert_eq!(unit_file_of(&units, &file.clone().join("deeper")), None);
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
