//! `tables/account_daily`: one row per (account, dataset) of the job and date, saying whether
//! the unit was published complete, how many items it had and how many it gained and lost.

use super::FinalizeError;
use super::discover::Status;
use crate::model::{Dataset, Provider};
use crate::schema::tables::account_daily_schema;
use arrow_array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
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

/// The rows as one batch of the `account_daily` schema, for the date `days` (since the epoch).
pub(super) fn batch(rows: &[DailyRow], days: i32) -> Result<RecordBatch, FinalizeError> {
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
        Arc::new(Date32Array::from(vec![days; rows.len()])),
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
        let b = batch(
            &[
                row(Status::Ok, Some(5), Some(9), Some(1), Some("r1")),
                row(Status::Ok, Some(5), None, None, Some("r1")),
                row(Status::Failed, None, Some(9), None, Some("r2")),
                row(Status::Missing, None, None, None, None),
            ],
            10,
        )
        .expect("batch");
        assert_eq!(b.num_rows(), 4);
        let nulls: Vec<usize> = b.columns().iter().map(|c| c.null_count()).collect();
        assert_eq!(nulls, vec![0, 0, 0, 0, 0, 2, 2, 3, 3, 1]);
    }
}
