//! Publishing a date's reader tables: every staged table partition is moved into place through
//! the units' publish step, and every table partition of the date that this finalize did not
//! write (a provider whose units all failed this time) is emptied of the parts an earlier
//! finalize left, so a date's tables are replaced whole. Then the finalize manifest.

use super::date::StagedTable;
use super::error::FinalizeError;
use super::report::TableWritten;
use crate::model::{Dataset, Provider};
use crate::sink::layout::{Area, Layout, TableKey};
use crate::sink::{publish, put_object};
use object_store::ObjectStore;
use object_store::path::Path;
use tokio_util::sync::CancellationToken;

/// The directory name of the daily summary table.
pub const ACCOUNT_DAILY: &str = "account_daily";

/// Every reader table of a date: (table, provider).
fn every_partition() -> Vec<(&'static str, Option<Provider>)> {
    let mut all = Vec::new();
    for d in Dataset::ALL {
        for table in [d.as_str(), super::consolidate::changes_table(d)] {
            for p in Provider::ALL {
                all.push((table, Some(p)));
            }
        }
    }
    all.push((ACCOUNT_DAILY, None));
    all
}

/// Publishes the staged tables of `day` and empties the date's other table partitions.
pub(super) async fn publish_tables(
    store: &dyn ObjectStore,
    how: publish::Move,
    layout: &Layout,
    day: &str,
    staged: &[StagedTable],
) -> Result<Vec<TableWritten>, FinalizeError> {
    // A publish that started is finished: a stop only shortens the waits between retries.
    let cancel = CancellationToken::new();
    let mut written = Vec::new();
    for (table, provider) in every_partition() {
        let key = TableKey {
            table,
            provider,
            snapshot_date: day,
        };
        let dir = layout.table_partition(Area::Final, &key);
        let mine = staged
            .iter()
            .find(|s| s.table == table && s.provider == provider);
        let parts = mine.map_or(&[][..], |s| &s.parts[..]);
        let published = publish::publish_into(store, &dir, parts, how, &cancel)
            .await
            .map_err(|source| FinalizeError::Write {
                date: day.to_owned(),
                source,
            })?;
        if let Some(s) = mine {
            written.push(TableWritten {
                table: table.to_owned(),
                provider: provider.map(|p| p.to_string()),
                rows: s.rows,
                files: published
                    .files
                    .iter()
                    .map(|f| dir.clone().join(f.as_str()).to_string())
                    .collect(),
                file_sizes: published
                    .files
                    .iter()
                    .map(|f| {
                        let part = s.parts.iter().find(|p| &p.file_name == f);
                        part.map_or(0, |p| p.bytes)
                    })
                    .collect(),
                stale_files_removed: published.removed,
            });
        }
    }
    Ok(written)
}

/// Writes the finalize manifest.
pub(super) async fn write_manifest(
    store: &dyn ObjectStore,
    path: &Path,
    day: &str,
    json: Vec<u8>,
) -> Result<(), FinalizeError> {
    put_object(store, path, json)
        .await
        .map_err(|source| FinalizeError::Write {
            date: day.to_owned(),
            source,
        })
}
