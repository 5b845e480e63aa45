//! Published rows compared with the simulator's ground truth (`postpress_sim::expected_item`),
//! column by column and in order.

use super::read::days;
use super::{DATE, SEED, read_unit};
use postpress_sim::{self as sim, expected_item};
use serde_json::{Map, Value};
use std::path::Path;

fn sim_provider(p: &str) -> sim::Provider {
    match p {
        "linkedin" => sim::Provider::Linkedin,
        _ => sim::Provider::Instagram,
    }
}

fn sim_dataset(d: &str) -> sim::Dataset {
    match d {
        "followers" => sim::Dataset::Followers,
        _ => sim::Dataset::Following,
    }
}

/// Asserts a unit's published rows equal exactly the `n` items the simulator serves for it:
/// every API column (absent and null alike read back as null), the metadata columns, the order.
pub fn assert_unit_exact(
    out: &Path,
    dataset: &str,
    provider: &str,
    account: &str,
    n: u64,
) -> Vec<Map<String, Value>> {
    let got = read_unit(out, dataset, provider, account);
    assert_eq!(
        got.len() as u64,
        n,
        "{dataset}/{provider}/{account}: row count"
    );
    for (i, row) in got.iter().enumerate() {
        let want = expected_item(
            SEED,
            sim_provider(provider),
            sim_dataset(dataset),
            account,
            i as u64,
        );
        let want = want.as_object().expect("item is an object");
        for (col, v) in row {
            let expected = match col.as_str() {
                "account_id" => Value::from(account),
                "provider" => Value::from(provider),
                "snapshot_date" => Value::from(days(DATE)),
                "position" => Value::from(i as i64),
                "fetched_at" | "run_id" => continue,
                api => want.get(api).cloned().unwrap_or(Value::Null),
            };
            assert_eq!(
                v, &expected,
                "{dataset}/{provider}/{account} row {i} column {col:?}\nrow: {row:?}\nserved: {want:?}"
            );
        }
        for k in want.keys() {
            assert!(
                k == "object" || row.contains_key(k) || !is_documented(k),
                "{dataset}/{provider}/{account} row {i}: documented field {k:?} has no column"
            );
        }
    }
    got
}

fn is_documented(field: &str) -> bool {
    const DOC: [&str; 20] = [
        "id",
        "urn",
        "name",
        "headline",
        "profile_url",
        "profile_picture_url",
        "profile_picture_url_large",
        "messaging_id",
        "username",
        "is_private",
        "is_verified",
        "first_name",
        "last_name",
        "public_identifier",
        "public_profile_url",
        "created_at",
        "member_id",
        "member_urn",
        "connection_urn",
        "object",
    ];
    DOC.contains(&field)
}
