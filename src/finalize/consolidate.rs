//! One dataset and provider of a date: every account's published rows into
//! `tables/{dataset}`, sorted by account then position, and its changes against its previous
//! complete snapshot into `tables/{follower,following}_changes`.
//!
//! Accounts are handled one at a time, in account order; the next few are fetched meanwhile
//! (whole, when their files are small). A big account (at least `row_group_rows` rows) gets row
//! groups of its own: the row group in progress is ended before and after it, so a reader's
//! `WHERE account_id = ...` skips every other account's row groups by their statistics.

use super::date::{DateCtx, StagedTable};
use super::diff::{ChangeKind, KeyIndex, change_rows, key_column};
use super::discover::{Previous, UnitKey};
use super::error::FinalizeError;
use super::read::{Expect, UnitData};
use crate::lifecycle::SuppressedSet;
use crate::model::{Dataset, Provider, SnapshotDate};
use crate::schema::Variant;
use crate::schema::tables::{changes_schema, snapshot_schema};
use crate::sink::layout::{Area, TableKey};
use crate::sink::parquet::FileIdentity;
use crate::sink::table::TableWriter;
use arrow_schema::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use std::sync::Arc;
use tokio_util::task::AbortOnDropHandle;

/// Accounts fetched ahead of the one being written.
const PREFETCH: usize = 8;

/// An account published complete on the date.
#[derive(Debug, Clone)]
pub(super) struct AccountPlan {
    /// The unit.
    pub key: UnitKey,
    /// Its files on the date.
    pub files: Vec<ObjectMeta>,
    /// Its previous complete snapshot, if any.
    pub previous: Option<Previous>,
}

/// What one account contributed.
#[derive(Debug, Clone)]
pub(super) struct AccountResult {
    /// The unit.
    pub key: UnitKey,
    /// Rows on the date.
    pub records: u64,
    /// Changes against the previous snapshot (none on a first snapshot).
    pub gained: Option<u64>,
    /// See `gained`.
    pub lost: Option<u64>,
    /// The run named in its first file's footer.
    pub footer_run_id: Option<String>,
}

/// The directory name of a dataset's change table.
pub(super) fn changes_table(dataset: Dataset) -> &'static str {
    match dataset {
        Dataset::Followers => "follower_changes",
        Dataset::Following => "following_changes",
    }
}

struct Writers {
    table: TableWriter,
    table_schema: SchemaRef,
    changes: TableWriter,
    changes_schema: SchemaRef,
}

struct Loaded {
    plan: AccountPlan,
    today: UnitData,
    previous: Option<UnitData>,
}

fn writer(ctx: &DateCtx<'_>, table: &str, provider: Provider, schema: SchemaRef) -> TableWriter {
    let key = TableKey {
        table,
        provider: Some(provider),
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
            ("table".into(), table.to_owned()),
            ("provider".into(), provider.to_string()),
            ("snapshot_date".into(), ctx.day.clone()),
            ("run_id".into(), ctx.run_id.to_owned()),
            (
                "postpress_etl_version".into(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ],
    };
    TableWriter::new(ctx.store.clone(), dir, schema, &ctx.writer, &identity)
}

/// Opens an account's files of the date and of its previous snapshot: fetches the small ones,
/// checks every footer. A task of its own, so that the next accounts load while one is written.
async fn load(
    store: Arc<dyn ObjectStore>,
    variant: Arc<Variant>,
    provider: Provider,
    plan: AccountPlan,
    day: String,
    suppressed: SuppressedSet,
) -> Result<Loaded, FinalizeError> {
    fn expect<'a>(
        variant: &'a Variant,
        plan: &'a AccountPlan,
        provider: Provider,
        date: &'a str,
        finalizing: &'a str,
        suppressed: &'a SuppressedSet,
    ) -> Expect<'a> {
        Expect {
            variant,
            account_id: &plan.key.account_id,
            provider,
            snapshot_date: date,
            finalizing,
            suppressed,
        }
    }
    let today_expect = expect(&variant, &plan, provider, &day, &day, &suppressed);
    let today = UnitData::load(&store, &plan.files, &today_expect).await?;
    let previous = match &plan.previous {
        Some(p) => {
            let before = SnapshotDate::from(p.date).to_string();
            let e = expect(&variant, &plan, provider, &before, &day, &suppressed);
            Some(UnitData::load(&store, &p.files, &e).await?)
        }
        None => None,
    };
    Ok(Loaded {
        plan,
        today,
        previous,
    })
}

/// Builds `tables/{dataset}` and its changes table for one provider, accounts in the order
/// given (sorted by account_id). Returns the staged tables and each account's figures.
pub(super) async fn dataset_tables(
    ctx: &DateCtx<'_>,
    dataset: Dataset,
    provider: Provider,
    variant: Arc<Variant>,
    accounts: Vec<AccountPlan>,
) -> Result<(Vec<StagedTable>, Vec<AccountResult>), FinalizeError> {
    let changes_schema = changes_schema(&variant);
    let table_schema = snapshot_schema(&variant);
    let mut w = Writers {
        table: writer(ctx, dataset.as_str(), provider, table_schema.clone()),
        table_schema,
        changes: writer(
            ctx,
            changes_table(dataset),
            provider,
            changes_schema.clone(),
        ),
        changes_schema,
    };
    let mut results = Vec::with_capacity(accounts.len());
    let outcome = async {
        let mut loaded = futures::stream::iter(accounts)
            .map(|plan| {
                let task = load(
                    ctx.store.clone(),
                    variant.clone(),
                    provider,
                    plan,
                    ctx.day.clone(),
                    ctx.suppressed.clone(),
                );
                // Aborted when dropped: an error stops the loads in flight too.
                let task = AbortOnDropHandle::new(tokio::spawn(task));
                async move { task.await.map_err(FinalizeError::internal)? }
            })
            .buffered(PREFETCH);
        while let Some(l) = loaded.try_next().await? {
            if ctx.cancel.is_cancelled() {
                return Err(FinalizeError::Interrupted {
                    date: ctx.day.clone(),
                });
            }
            results.push(account(ctx, &variant, &mut w, l).await?);
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        w.table.abort().await;
        w.changes.abort().await;
        return Err(e);
    }
    let write_error = |source| FinalizeError::Write {
        date: ctx.day.clone(),
        source,
    };
    let (table_rows, changes_rows) = (w.table.rows(), w.changes.rows());
    let table = w.table.finish().await.map_err(write_error)?;
    let changes = w.changes.finish().await.map_err(write_error)?;
    let staged = vec![
        StagedTable {
            table: dataset.as_str(),
            provider: Some(provider),
            parts: table,
            rows: table_rows,
        },
        StagedTable {
            table: changes_table(dataset),
            provider: Some(provider),
            parts: changes,
            rows: changes_rows,
        },
    ];
    Ok((staged, results))
}

/// Writes one account: its rows into the table, its gained rows, then its lost rows.
async fn account(
    ctx: &DateCtx<'_>,
    variant: &Variant,
    w: &mut Writers,
    l: Loaded,
) -> Result<AccountResult, FinalizeError> {
    let write_error = |source| FinalizeError::Write {
        date: ctx.day.clone(),
        source,
    };
    let key = variant.key.as_str();
    let big = l.today.rows >= ctx.writer.row_group_rows.get() as u64;
    let mut index = match &l.previous {
        Some(p) => Some(key_index(ctx, p, key).await?),
        None => None,
    };
    let account_id = l.plan.key.account_id.as_str();
    let kind = |gained: bool| ChangeKind {
        account_id,
        previous_snapshot_date: l
            .plan
            .previous
            .as_ref()
            .map_or(0, |p| SnapshotDate::from(p.date).days_since_epoch()),
        gained,
    };
    if big {
        w.table.end_row_group().await.map_err(write_error)?;
    }
    let (mut records, mut gained) = (0, 0);
    let mut rows = l.today.reader(None);
    while let Some(batch) = rows.next_batch().await? {
        check_cancel(ctx)?;
        records += batch.num_rows() as u64;
        let rows = with_account_id(&batch, &w.table_schema, variant.columns.len(), account_id)?;
        w.table.write(&rows).await.map_err(write_error)?;
        if let Some(ix) = index.as_mut() {
            let mask = ix.gained(key_column(&batch, key)?);
            if let Some(c) = change_rows(&batch, &mask, &w.changes_schema, kind(true))? {
                gained += c.num_rows() as u64;
                w.changes.write(&c).await.map_err(write_error)?;
            }
        }
    }
    if big {
        w.table.end_row_group().await.map_err(write_error)?;
    }
    let mut lost = 0;
    if let (Some(ix), Some(p)) = (&index, &l.previous) {
        let mut rows = p.reader(None);
        while let Some(batch) = rows.next_batch().await? {
            check_cancel(ctx)?;
            let mask = ix.lost(key_column(&batch, key)?);
            if let Some(c) = change_rows(&batch, &mask, &w.changes_schema, kind(false))? {
                lost += c.num_rows() as u64;
                w.changes.write(&c).await.map_err(write_error)?;
            }
        }
    }
    let with_previous = l.previous.is_some();
    Ok(AccountResult {
        key: l.plan.key,
        records,
        gained: with_previous.then_some(gained),
        lost: with_previous.then_some(lost),
        footer_run_id: l.today.footer_run_id,
    })
}

/// A unit batch as rows of its snapshot table: `account_id` (a partition column of the units)
/// inserted at `at`, after the API columns.
fn with_account_id(
    batch: &arrow_array::RecordBatch,
    schema: &SchemaRef,
    at: usize,
    account_id: &str,
) -> Result<arrow_array::RecordBatch, FinalizeError> {
    let mut columns = batch.columns().to_vec();
    let ids = arrow_array::StringArray::from_iter_values(std::iter::repeat_n(
        account_id,
        batch.num_rows(),
    ));
    columns.insert(at.min(columns.len()), Arc::new(ids));
    arrow_array::RecordBatch::try_new(schema.clone(), columns).map_err(FinalizeError::internal)
}

fn check_cancel(ctx: &DateCtx<'_>) -> Result<(), FinalizeError> {
    if ctx.cancel.is_cancelled() {
        return Err(FinalizeError::Interrupted {
            date: ctx.day.clone(),
        });
    }
    Ok(())
}

/// The previous snapshot's keys, read from its key column alone.
async fn key_index(
    ctx: &DateCtx<'_>,
    previous: &UnitData,
    key: &str,
) -> Result<KeyIndex, FinalizeError> {
    let rows = usize::try_from(previous.rows).unwrap_or(usize::MAX);
    // Plain-encoded strings: 4 bytes of length, then the bytes.
    let bytes = previous.column_bytes(key).saturating_sub(4 * previous.rows);
    let mut ix = KeyIndex::with_capacity(rows, usize::try_from(bytes).unwrap_or(0));
    let mut keys = previous.reader(Some(&[key]));
    while let Some(batch) = keys.next_batch().await? {
        check_cancel(ctx)?;
        ix.add(key_column(&batch, key)?)?;
    }
    Ok(ix)
}
