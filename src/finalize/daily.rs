//! `tables/account_daily`: one row per (account, dataset) of the job and date, saying whether
//! the unit was published complete, how many items it had and how many it gained and lost; and
//! the same per unit for the finalize manifest.

use super::consolidate::AccountResult;
use super::date::{DateCtx, StagedTable};
use super::discover::{DateListing, Previous, Status, UnitKey};
use super::error::FinalizeError;
use super::output::ACCOUNT_DAILY;
use super::report::UnitRead;
use crate::model::{Dataset, Provider, SnapshotDate};
use crate::schema::tables::account_daily_schema;
use crate::sink::layout::{Area, TableKey};
use crate::sink::parquet::FileIdentity;
use crate::sink::table::TableWriter;
use arrow_array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::Arc;

/// One row of `account_daily`.
#[derive(Debug, Clone)]
pub(super) struct DailyRow {
    /// The account.
    pub account_id: String,
    /// Its provider.
    pub provider: Provider,
    /// The dataset.
    pub dataset: Dataset,
    /// ok, failed or missing.
    pub status: Status,
    /// Items on the date (ok only).
    pub records: Option<u64>,
    /// The previous complete snapshot, days since the epoch.
    pub previous: Option<i32>,
    /// Gained since the previous snapshot (ok with a previous snapshot only).
    pub gained: Option<u64>,
    /// Lost since the previous snapshot (ok with a previous snapshot only).
    pub lost: Option<u64>,
    /// The run that published the unit, or reported its failure.
    pub run_id: Option<String>,
}

fn int(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// The rows as one batch of the `account_daily` schema (the date is the path's).
pub(super) fn batch(rows: &[DailyRow]) -> Result<RecordBatch, FinalizeError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.account_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.provider.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.dataset.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.status.as_str()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| int(r.records)))),
        Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.previous))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| int(r.gained)))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| int(r.lost)))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.run_id.as_deref()),
        )),
    ];
    RecordBatch::try_new(account_daily_schema(), columns).map_err(FinalizeError::internal)
}

/// `account_daily`'s rows and the manifest's units, in account then dataset order.
pub(super) fn account_rows(
    units: &[(UnitKey, Provider)],
    listing: &DateListing,
    previous: &HashMap<UnitKey, Previous>,
    results: &HashMap<UnitKey, AccountResult>,
    date: NaiveDate,
) -> (Vec<DailyRow>, Vec<UnitRead>) {
    let mut rows = Vec::with_capacity(units.len());
    let mut reads = Vec::with_capacity(units.len());
    for (u, provider) in units {
        let Some(on) = listing.units.get(u) else {
            continue;
        };
        let prev = previous.get(u).filter(|p| p.date < date);
        let res = results.get(u);
        let run_id = match on.status {
            Status::Ok => on
                .run_id
                .clone()
                .or_else(|| res.and_then(|r| r.footer_run_id.clone())),
            _ => on.run_id.clone(),
        };
        let records = res.map(|r| r.records);
        rows.push(DailyRow {
            account_id: u.account_id.clone(),
            provider: *provider,
            dataset: u.dataset,
            status: on.status,
            records,
            previous: prev.map(|p| SnapshotDate::from(p.date).days_since_epoch()),
            gained: res.and_then(|r| r.gained),
            lost: res.and_then(|r| r.lost),
            run_id: run_id.clone(),
        });
        let with_changes = res.is_some_and(|r| r.gained.is_some());
        reads.push(UnitRead {
            account_id: u.account_id.clone(),
            dataset: u.dataset,
            provider: *provider,
            status: on.status.as_str().to_owned(),
            run_id,
            records,
            files: on.files.iter().map(|f| f.location.to_string()).collect(),
            file_tags: on
                .files
                .iter()
                .map(|f| f.e_tag.clone().unwrap_or_default())
                .collect(),
            file_sizes: on.files.iter().map(|f| f.size).collect(),
            previous_snapshot_date: prev.map(|p| SnapshotDate::from(p.date).to_string()),
            previous_files: match prev {
                Some(p) if with_changes => p.files.iter().map(|f| f.location.to_string()).collect(),
                _ => Vec::new(),
            },
            gained: res.and_then(|r| r.gained),
            lost: res.and_then(|r| r.lost),
        });
    }
    (rows, reads)
}

/// Writes `account_daily` into staging.
pub(super) async fn stage_daily(
    ctx: &DateCtx<'_>,
    rows: &[DailyRow],
) -> Result<StagedTable, FinalizeError> {
    let key = TableKey {
        table: ACCOUNT_DAILY,
        provider: None,
        snapshot_date: &ctx.day,
    };
    let dir = ctx.layout.table_partition(
        Area::Staging {
            run_id: ctx.staging_area,
        },
        &key,
    );
    let identity = FileIdentity {
        pairs: vec![
            ("table".into(), ACCOUNT_DAILY.to_owned()),
            ("snapshot_date".into(), ctx.day.clone()),
            ("run_id".into(), ctx.run_id.to_owned()),
            (
                "postpress_etl_version".into(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ],
    };
    let batch = batch(rows)?;
    let schema = batch.schema();
    let mut w = TableWriter::new(ctx.store.clone(), dir, schema, &ctx.writer, &identity);
    let write_error = |source| FinalizeError::Write {
        date: ctx.day.clone(),
        source,
    };
    if let Err(e) = w.write(&batch).await {
        w.abort().await;
        return Err(write_error(e));
    }
    let rows = w.rows();
    let parts = w.finish().await.map_err(write_error)?;
    Ok(StagedTable {
        table: ACCOUNT_DAILY,
        provider: None,
        parts,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nulls where SPEC §9 wants them: failed and missing have no counts, a first snapshot no
    /// changes.
    #[test]
    fn rows_and_nulls() {
        let row = |status, records, previous, gained: Option<u64>, run: Option<&str>| DailyRow {
            account_id: "a".into(),
            provider: Provider::Linkedin,
            dataset: Dataset::Followers,
            status,
            records,
            previous,
            gained,
            lost: gained,
            run_id: run.map(str::to_owned),
        };
        let b = batch(&[
            row(Status::Ok, Some(5), Some(9), Some(1), Some("r1")),
            row(Status::Ok, Some(5), None, None, Some("r1")),
            row(Status::Failed, None, Some(9), None, Some("r2")),
            row(Status::Missing, None, None, None, None),
        ])
        .expect("batch");
        assert_eq!(b.num_rows(), 4);
        let nulls: Vec<usize> = b.columns().iter().map(|c| c.null_count()).collect();
        assert_eq!(nulls, vec![0, 0, 0, 0, 2, 2, 3, 3, 1]);
    }
}
