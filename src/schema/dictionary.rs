//! The data dictionary that `postpress-etl schema` prints: every variant's columns, then the
//! reader tables (SPEC §9) and their paths.

use super::tables::{account_daily_columns, changes_columns, path_columns, snapshot_columns};
use super::{Column, Registry};
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
        out
    }
}
