//! The reader tables' columns (SPEC §9), derived from the variants of `schemas/` so that the
//! schema files stay the single source of truth: `tables/followers` and `tables/following` have
//! exactly the units' columns; `*_changes` the change columns, the variant's key, then its other
//! API columns; `account_daily` its own fixed columns.
//!
//! Like the rest of `schema`, it must not know where tables are stored or how they are built.

use super::{Column, ColumnType, Variant};
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
        description: description.to_owned(),
    }
}

fn arrow(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.ty.arrow(), !c.required))
            .collect::<Vec<_>>(),
    ))
}

/// The columns of a `*_changes` table of a variant: account_id, provider, snapshot_date,
/// previous_snapshot_date, change, the key, then the variant's other API columns in order.
pub fn changes_columns(v: &Variant) -> Vec<Column> {
    use ColumnType::{Date32, Utf8};
    let mut cols = vec![
        column("account_id", Utf8, true, "The linked postpress account."),
        column(
            "provider",
            Utf8,
            true,
            "linkedin or instagram (also a hive partition key).",
        ),
        column(
            "snapshot_date",
            Date32,
            true,
            "The date D of the change (also a hive partition key).",
        ),
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
        column("account_id", Utf8, true, "The linked postpress account."),
        column("provider", Utf8, true, "linkedin or instagram."),
        column("dataset", Utf8, true, "followers or following."),
        column(
            "snapshot_date",
            Date32,
            true,
            "The date D (also a hive partition key).",
        ),
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
            names[..7],
            [
                "account_id",
                "provider",
                "snapshot_date",
                "previous_snapshot_date",
                "change",
                "member_id",
                "first_name"
            ]
        );
        assert_eq!(names.len(), 5 + fo.columns.len());
        let li = changes_schema(&r.variant(Dataset::Followers, Provider::Linkedin));
        assert_eq!(li.field(5).name(), "id");
        assert!(!li.field(5).is_nullable());
        assert_eq!(account_daily_schema().fields().len(), 10);
    }
}
