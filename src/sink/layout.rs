//! The one place that builds object paths: final partitions, staging, manifests (SPEC §4), the
//! checkpoint and lease files of staging areas (SPEC §10), the reader tables (SPEC §9), and the
//! one place that reads them back from listed paths.
//!
//! Paths are built from `PathPart`s, which percent-encode unsafe bytes and neutralise `.`/`..`
//! but keep `=`, so hive `key=value` segments survive. The few listed paths the job reads back
//! (a staging area's id, a published part's account) are taken apart here too.

use crate::model::{Dataset, Provider};
use object_store::path::{Path, PathPart};

/// The directory of staged files, per run: `{prefix}/_staging/{run_id}`.
pub const STAGING_DIR: &str = "_staging";
/// The directory of run manifests: `{prefix}/_runs`.
pub const RUNS_DIR: &str = "_runs";
/// The run and finalize leases (SPEC §10).
pub const LEASES_DIR: &str = "_leases";
/// A unit's checkpoint, beside its staged parts (SPEC §10).
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// A staging area's lease: `{prefix}/_staging/{area}/_lease.json`.
pub const LEASE_FILE: &str = "_lease.json";
/// The directory of the reader tables: `{prefix}/tables`.
pub const TABLES_DIR: &str = "tables";
/// File names of finalize manifests in `_runs/snapshot_date=D/` start with this.
pub const FINALIZE_MANIFEST_PREFIX: &str = "finalize-";
/// The directory of `prune` and `erase` records and the suppressed lists (SPEC §12).
pub const LIFECYCLE_DIR: &str = "_lifecycle";

/// Identifies one partition of a reader table: `tables/{table}/[provider=P/]snapshot_date=D`.
#[derive(Debug, Clone, Copy)]
pub struct TableKey<'a> {
    /// The table's directory name (`followers`, `follower_changes`, `account_daily`, ...).
    pub table: &'a str,
    /// The provider partition, for the tables that have one.
    pub provider: Option<Provider>,
    pub snapshot_date: &'a str,
}

/// Identifies one unit's partition.
#[derive(Debug, Clone, Copy)]
pub struct PartitionKey<'a> {
    /// followers | following.
    pub dataset: Dataset,
    /// linkedin | instagram.
    pub provider: Provider,
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

    /// A unit's checkpoint in a staging area: beside its parts.
    pub fn checkpoint(&self, area: Area<'_>, key: &PartitionKey<'_>) -> Path {
        self.partition(area, key).join(CHECKPOINT_FILE)
    }

    /// The lease of a staging area (a run's, by its id).
    pub fn lease(&self, area: &str) -> Path {
        self.staging_root(area).join(LEASE_FILE)
    }

    /// Every published unit of one dataset, provider and date lies below this:
    /// `{dataset}/provider={provider}/snapshot_date={date}`.
    pub fn published_date(
        &self,
        dataset: Dataset,
        provider: Provider,
        snapshot_date: &str,
    ) -> Path {
        self.build([
            PathPart::from(dataset.as_str()),
            PathPart::from(format!("provider={provider}")),
            PathPart::from(format!("snapshot_date={snapshot_date}")),
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

    /// The account of a published part listed below [`Layout::published_date`]: `Some` only for
    /// `{dir}/account_id={account}/part-*.parquet`.
    pub fn published_part_account(&self, dir: &Path, location: &Path) -> Option<String> {
        let mut rest = location.prefix_match(dir)?;
        let account = rest.next()?;
        let file = rest.next()?;
        if rest.next().is_some() || !is_part_file(file.as_ref()) {
            return None;
        }
        account
            .as_ref()
            .strip_prefix("account_id=")
            .map(str::to_owned)
    }

    /// The id of a staging area listed as a common prefix below [`Layout::staging_all`].
    pub fn staging_area_id(&self, area: &Path) -> Option<String> {
        let mut rest = area.prefix_match(&self.staging_all())?;
        let id = rest.next()?;
        rest.next().is_none().then(|| id.as_ref().to_owned())
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

    /// `_lifecycle`: the records of `prune` and `erase`, and the suppressed lists.
    pub fn lifecycle_dir(&self) -> Path {
        self.build([PathPart::from(LIFECYCLE_DIR)])
    }

    /// `_lifecycle/suppressed`: every list of erased keys' hashes.
    pub fn suppressed_dir(&self) -> Path {
        self.lifecycle_dir().join("suppressed")
    }

    /// `_lifecycle/suppressed/{id}.txt`: the hashes one `erase` added.
    pub fn suppressed_list(&self, id: &str) -> Path {
        self.suppressed_dir().join(format!("{id}.txt"))
    }

    /// `_lifecycle/{command}-{id}.json`: what one `prune` or `erase` did.
    pub fn lifecycle_record(&self, command: &str, id: &str) -> Path {
        self.lifecycle_dir().join(format!("{command}-{id}.json"))
    }

    /// The root directory of a dataset's units, or of the reader tables: `{name}`.
    pub fn top(&self, name: &str) -> Path {
        self.build([PathPart::from(name.to_owned())])
    }

    /// The marker written and deleted by the destination preflight.
    pub fn preflight_marker(&self, run_id: &str) -> Path {
        self.staging_root(run_id).join("_preflight")
    }

    /// Every reader table: `{prefix}/tables`.
    pub fn tables_root(&self) -> Path {
        self.build([PathPart::from(TABLES_DIR)])
    }

    /// The object the destination's check of conditional writes creates and deletes.
    pub fn lease_check_marker(&self, run_id: &str) -> Path {
        self.staging_root(run_id).join("_lease_check")
    }

    /// The lease of a (job, snapshot date, shard), held by its run for the run's whole life
    /// (SPEC §10): `_leases/run/{job}/snapshot_date={date}/shard={I}-of-{N}.json`, `shard=all`
    /// for an unsharded run.
    pub fn run_lease(&self, job: &str, snapshot_date: &str, shard: Option<&str>) -> Path {
        let shard = shard.map_or_else(|| "all".to_owned(), |s| s.replace('/', "-of-"));
        self.build([
            PathPart::from(LEASES_DIR),
            PathPart::from("run"),
            PathPart::from(job.to_owned()),
            PathPart::from(format!("snapshot_date={snapshot_date}")),
            PathPart::from(format!("shard={shard}.json")),
        ])
    }

    /// The lease of a date's reader tables, held by the finalize building them (SPEC §10):
    /// `_leases/finalize/snapshot_date={date}.json`.
    pub fn finalize_lease(&self, snapshot_date: &str) -> Path {
        self.build([
            PathPart::from(LEASES_DIR),
            PathPart::from("finalize"),
            PathPart::from(format!("snapshot_date={snapshot_date}.json")),
        ])
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

/// An object path as a manifest records it (its `Display`), if it is a valid one.
pub fn recorded_path(text: &str) -> Option<Path> {
    #[allow(clippy::disallowed_methods)]
    // A manifest holds paths this crate built and printed; parsing checks them, builds nothing.
    Path::parse(text).ok()
}

/// Whether a file name is a part's: `part-*.parquet`.
pub fn is_part_file(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
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

    /// Checkpoints lie beside their unit's staged parts; a lease at the top of its area; the
    /// listed paths the job reads back are taken apart exactly.
    #[test]
    fn checkpoint_and_lease_paths() {
        let l = Layout::new(&Path::from("exports/pp"));
        assert_eq!(
            l.checkpoint(Area::Staging { run_id: "r1" }, &key())
                .as_ref(),
            "exports/pp/_staging/r1/followers/provider=linkedin/snapshot_date=2026-11-26/account_id=acc_linkedin_01HX/checkpoint.json"
        );
        assert_eq!(l.lease("r1").as_ref(), "exports/pp/_staging/r1/_lease.json");
        let dir = l.published_date(Dataset::Followers, Provider::Linkedin, "2026-11-26");
        assert_eq!(
            dir.as_ref(),
            "exports/pp/followers/provider=linkedin/snapshot_date=2026-11-26"
        );
        let part = l.part(Area::Final, &key(), 3);
        assert_eq!(
            l.published_part_account(&dir, &part).as_deref(),
            Some("acc_linkedin_01HX")
        );
        let stray = l.partition(Area::Final, &key()).join("notes.txt");
        assert_eq!(l.published_part_account(&dir, &stray), None);
        assert_eq!(
            l.staging_area_id(&l.staging_root("20261126T010203Z-0a0b0c"))
                .as_deref(),
            Some("20261126T010203Z-0a0b0c")
        );
        assert_eq!(l.staging_area_id(&l.lease("r1")), None);
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
