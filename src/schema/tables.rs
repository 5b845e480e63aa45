//! The reader tables' columns (SPEC §9), derived from the variants of `schemas/` so that the
//! schema files stay the single source of truth: `tables/followers` and `tables/following` have
//! the units' file columns plus `account_id`; `*_changes` the change columns, the variant's key,
//! then its other API columns; `account_daily` its own fixed columns. As in the unit layout, the
//! partition columns (`provider`, `snapshot_date`) are in the path only: [`path_columns`] names
//! them for the data dictionary, and no table's Arrow schema holds them.
//!
//! Like the rest of `schema`, it must not know where tables are stored or how they are built.

use super::variant::{Column, ColumnType, Variant};
use arrow_schema::{Field, Schema, SchemaRef};
use std::sync::Arc;

/// The `change` column's value for an item in D's list and not in P's.
pub const GAINED: &str = "gained";
/// The `change` column's value for an item in P's list and not in D's.
pub const LOST: &str = "lost";

fn column(name: &str, ty: ColumnType, required: bool, description: &str) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        required,
        in_path: false,
        description: description.to_owned(),
    }
}

fn arrow(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .filter(|c| !c.in_path)
            .map(Column::field)
            .collect::<Vec<_>>(),
    ))
}

/// The hive partition columns of a reader table's path (`provider` unless the table is
/// `account_daily`, then `snapshot_date`): in the path only, listed for the data dictionary.
pub fn path_columns(with_provider: bool) -> Vec<Column> {
    let mut cols = Vec::new();
    if with_provider {
        cols.push(column(
            "provider",
            ColumnType::Utf8,
            true,
            "linkedin or instagram (a hive partition key: in the path only).",
        ));
    }
    cols.push(column(
        "snapshot_date",
        ColumnType::Date32,
        true,
        "The date D (a hive partition key: in the path only).",
    ));
    for c in &mut cols {
        c.in_path = true;
    }
    cols
}

/// The name of the column a snapshot table adds to the units' file columns.
pub const ACCOUNT_ID: &str = "account_id";

/// The columns of `tables/followers` or `tables/following` of a variant: the units' file
/// columns with `account_id` (a partition column of the units, a plain column here) before the
/// metadata columns. `file_metadata` are the registry's metadata columns not in the path.
pub fn snapshot_columns(v: &Variant, file_metadata: &[Column]) -> Vec<Column> {
    let mut cols = v.columns.clone();
    cols.push(column(
        ACCOUNT_ID,
        ColumnType::Utf8,
        true,
        "The linked postpress account (a column here: the table holds every account).",
    ));
    cols.extend(file_metadata.iter().filter(|c| !c.in_path).cloned());
    cols
}

/// The Arrow schema of `tables/followers` or `tables/following` of a variant: its unit file
/// schema with `account_id` inserted after the API columns.
pub fn snapshot_schema(v: &Variant) -> SchemaRef {
    let mut fields: Vec<Field> = v
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let at = v.columns.len().min(fields.len());
    fields.insert(
        at,
        Field::new(ACCOUNT_ID, arrow_schema::DataType::Utf8, false),
    );
    Arc::new(Schema::new(fields))
}

/// The columns of a `*_changes` table of a variant: account_id, previous_snapshot_date, change,
/// the key, then the variant's other API columns in order (`provider` and `snapshot_date` are
/// in the path).
pub fn changes_columns(v: &Variant) -> Vec<Column> {
    use ColumnType::{Date32, Utf8};
    let mut cols = vec![
        column(ACCOUNT_ID, Utf8, true, "The linked postpress account."),
        column(
            "previous_snapshot_date",
            Date32,
            true,
            "P: the account's latest earlier date whose unit was published complete.",
        ),
        column(
            "change",
            Utf8,
            true,
            "gained (in D's list, not in P's: today's fields) or lost (in P's, not in D's: P's fields).",
        ),
    ];
    let (key, others): (Vec<&Column>, Vec<&Column>) =
        v.columns.iter().partition(|c| c.name == v.key);
    cols.extend(key.into_iter().cloned());
    cols.extend(others.into_iter().cloned());
    cols
}

/// The Arrow schema of a `*_changes` table of a variant.
pub fn changes_schema(v: &Variant) -> SchemaRef {
    arrow(&changes_columns(v))
}

/// The columns of `tables/account_daily`: one row per (account, dataset) of the job and date.
pub fn account_daily_columns() -> Vec<Column> {
    use ColumnType::{Date32, Int64, Utf8};
    vec![
        column(ACCOUNT_ID, Utf8, true, "The linked postpress account."),
        column("provider", Utf8, true, "linkedin or instagram."),
        column("dataset", Utf8, true, "followers or following."),
        column(
            "status",
            Utf8,
            true,
            "ok (published complete), failed (a run of D reported it not done) or missing (no run of D reported it).",
        ),
        column(
            "records",
            Int64,
            false,
            "Items in the list on D; null unless ok.",
        ),
        column(
            "previous_snapshot_date",
            Date32,
            false,
            "The latest earlier date whose unit was published complete; null if none.",
        ),
        column(
            "gained",
            Int64,
            false,
            "Items in D's list and not in the previous snapshot's; null unless ok with a previous snapshot.",
        ),
        column(
            "lost",
            Int64,
            false,
            "Items in the previous snapshot's list and not in D's; null unless ok with a previous snapshot.",
        ),
        column(
            "run_id",
            Utf8,
            false,
            "The run that published the unit (ok) or reported its failure (failed); null if missing.",
        ),
    ]
}

/// The Arrow schema of `tables/account_daily`.
pub fn account_daily_schema() -> SchemaRef {
    arrow(&account_daily_columns())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dataset, Provider};
    use crate::schema::Registry;

    /// Change tables put the key first among the item's fields, then the others in order.
    #[test]
    fn changes_columns_lead_with_the_key() {
        let r = Registry::load().expect("schemas");
        let fo = r.variant(Dataset::Following, Provider::Linkedin);
        let names: Vec<String> = changes_columns(&fo).into_iter().map(|c| c.name).collect();
        assert_eq!(
            names[..5],
            [
                "account_id",
                "previous_snapshot_date",
                "change",
                "member_id",
                "first_name"
            ]
        );
        assert_eq!(names.len(), 3 + fo.columns.len());
        let li = changes_schema(&r.variant(Dataset::Followers, Provider::Linkedin));
        assert_eq!(li.field(3).name(), "id");
        assert!(!li.field(3).is_nullable());
        let daily = account_daily_schema();
        assert_eq!(daily.fields().len(), 9);
        assert!(daily.field_with_name("snapshot_date").is_err());
        assert!(
            daily.field_with_name("provider").is_ok(),
            "not a partition of account_daily"
        );
    }

    /// A snapshot table is the units' file columns with account_id before the metadata; no
    /// table schema holds a partition column of its path.
    #[test]
    fn snapshot_tables_add_account_id_and_no_partition_column() {
        let r = Registry::load().expect("schemas");
        for v in r.variants() {
            let s = snapshot_schema(v);
            let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names[v.columns.len()], "account_id");
            assert_eq!(names.len(), v.schema.fields().len() + 1);
            let cols: Vec<String> = snapshot_columns(v, &r.metadata)
                .into_iter()
                .map(|c| c.name)
                .collect();
            assert_eq!(cols, names, "the dictionary's columns are the file's");
            for p in ["provider", "snapshot_date"] {
                assert!(s.field_with_name(p).is_err());
                assert!(changes_schema(v).field_with_name(p).is_err());
            }
        }
    }
}
