//! The data dictionary that `postpress-etl schema` prints: every variant's columns, then the
//! reader tables (SPEC §9) and their paths, then what `prune` and `erase` keep under
//! `_lifecycle/` and what they leave behind (SPEC §12).

use super::registry::Registry;
use super::tables::{account_daily_columns, changes_columns, path_columns, snapshot_columns};
use super::variant::Column;
use std::fmt::Write as _;

fn write_columns<'a>(out: &mut String, columns: impl Iterator<Item = &'a Column>) {
    writeln!(
        out,
        "  {:<26} {:<13} {:<9} {:<6} description",
        "column", "type", "required", "where"
    )
    .unwrap_or_default();
    for c in columns {
        writeln!(
            out,
            "  {:<26} {:<13} {:<9} {:<6} {}",
            c.name,
            c.ty.name(),
            if c.required { "yes" } else { "no" },
            if c.in_path { "path" } else { "file" },
            c.description
        )
        .unwrap_or_default();
    }
    out.push('\n');
}

/// `_lifecycle/`, the `suppressed` counter and what `erase` leaves behind (SPEC §12).
const LIFECYCLE: &str = "
Data lifecycle (`postpress-etl prune`, `erase`): the output's own files under _lifecycle/
  _lifecycle/suppressed/{id}.txt   the SHA-256 (lowercase hex, of the key's UTF-8 bytes) of every erased
                                   key, one per line; one list per erase. Every run and finalize reads
                                   them all and drops rows whose key (id, member_id) hashes to a listed
                                   value. Never delete them: an erased person would come back.
  _lifecycle/erase-{id}.json       what one erase did: the keys' SHA-256 (never a key), files considered,
                                   scanned and decided by the reader tables, bytes read, per file changed
                                   its path, rewritten or discarded (a staged unit), the rows removed, and
                                   a rewritten file's ETag and size before and after (a later erase
                                   follows a file through them). Do not edit: erase trusts them and the
                                   finalize manifests to read fewer files.
  _lifecycle/prune-{id}.json       what one prune did: per table and date the objects and bytes deleted,
                                   the dates whose units it kept and why, stale staging areas, files
                                   outside the layouts (left alone).
  _lifecycle/lease.json            the lifecycle lease: held by an erase or prune while it writes; runs
                                   and finalizes of the output wait for it.
suppressed (run manifest, per unit; --summary-json counts.suppressed; metric
  postpress_etl_suppressed_total{dataset,provider}): rows of the list as served that were dropped
  because their key is erased. records counts the rows published; position keeps the index in the
  list as served, so an erased person leaves a gap in the positions.
What erase leaves behind: no row of the person in any unit, reader table (snapshots and changes) or
  staged part; the keys' hashes in _lifecycle/. account_daily keeps its counts (records, gained,
  lost): they are aggregates, not a person's data; a later finalize of that date counts what remains.
";

impl Registry {
    /// The data dictionary as a text table (`postpress-etl schema`).
    pub fn dictionary(&self) -> String {
        let mut out = String::new();
        for v in &self.variants {
            let providers = v
                .provider
                .map_or("linkedin, instagram".to_owned(), |p| p.to_string());
            writeln!(
                out,
                "{} ({}) — schemas/{}, list object {}, item key {}",
                v.dataset, providers, v.file, v.list_object, v.key
            )
            .unwrap_or_default();
            write_columns(&mut out, v.columns.iter().chain(self.metadata.iter()));
        }
        out.push_str(
            "Partitions: {dataset}/provider={provider}/snapshot_date={YYYY-MM-DD}/account_id={account_id}/part-NNNNN.parquet\n\
             Columns marked `path` are hive partition columns: in the path only, never inside a file (every\n\
             file's footer metadata still names them); read a directory with hive partitioning to get them.\n\n",
        );
        out.push_str(
            "Reader tables (`postpress-etl finalize`, and `run` without --shard): one sorted file per date\n\
             and provider, built from the units published complete.\n\n",
        );
        out.push_str(
            "tables/followers, tables/following — the units' file columns and account_id, sorted by\n\
             account_id then position; row groups never mix two accounts' rows where an account has\n\
             row_group_rows rows.\n",
        );
        for v in &self.variants {
            let providers = v
                .provider
                .map_or("linkedin, instagram".to_owned(), |p| p.to_string());
            writeln!(out, "tables/{} ({providers})", v.dataset).unwrap_or_default();
            let cols = snapshot_columns(v, &self.metadata);
            write_columns(&mut out, cols.iter().chain(path_columns(true).iter()));
        }
        for v in &self.variants {
            let table = match v.dataset {
                crate::model::Dataset::Followers => "follower_changes",
                crate::model::Dataset::Following => "following_changes",
            };
            let providers = v
                .provider
                .map_or("linkedin, instagram".to_owned(), |p| p.to_string());
            writeln!(
                out,
                "tables/{table} ({providers}) — per account, its list on D against its previous complete snapshot P, by {}",
                v.key
            )
            .unwrap_or_default();
            let cols = changes_columns(v);
            write_columns(&mut out, cols.iter().chain(path_columns(true).iter()));
        }
        out.push_str("tables/account_daily — one row per (account, dataset) of the job and date\n");
        let cols = account_daily_columns();
        write_columns(&mut out, cols.iter().chain(path_columns(false).iter()));
        out.push_str(
            "Partitions: tables/{followers,following,follower_changes,following_changes}/provider={provider}/snapshot_date={YYYY-MM-DD}/part-NNNNN.parquet\n\
             \x20           tables/account_daily/snapshot_date={YYYY-MM-DD}/part-NNNNN.parquet\n",
        );
        out.push_str(LIFECYCLE);
        out
    }
}
