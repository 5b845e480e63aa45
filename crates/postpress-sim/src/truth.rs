//! Ground truth for tests: exactly what the simulator serves for a list on a day, computed
//! without a server, so a test can check what the ETL wrote without trusting it.
//!
//! Owns the public functions over `(seed, provider, dataset, account_id, size, churn, day)`:
//! `size` is the list's configured size (its size on day 0) and `churn` the account's churn
//! (the global `--churn`/`churn` unless the account sets its own). The same code computes what
//! the server pages through. It must not know about HTTP or cursors.
//!
//! Served order, newest first: the items that (re)joined the list on a later day come first,
//! those of the same day by ascending item index; the items of day 0 that never left come last,
//! in their day-0 order. Day 0 (and any day without churn) is item `i` at position `i`, the
//! list as served before days existed. About `churn` of the list leaves each day and about as
//! many items arrive, a quarter of them items that had left; the size stays near `size`.
//! Computing a day costs about `size * (1 + 2 * churn) * (1 + 2 * churn * day)` cheap draws.

use serde_json::Value;

use super::churn;
use super::data::{Dataset, ListKey, Provider, Shared, expected_item};

/// The item indices of the list on `day`, in served order: position `i` holds item
/// `indices[i]`, which is `expected_item(seed, provider, dataset, account_id, indices[i])`.
pub fn expected_indices(
    seed: u64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    size: u64,
    churn: f64,
    day: u32,
) -> Vec<u64> {
    let list = ListKey::new(seed, provider, dataset, account_id);
    churn::members(list.churn_seed(), size, churn, day)
        .indices()
        .collect()
}

/// Every item of the list on `day`, in served order, exactly as served (`object` and unknown
/// extra fields included).
pub fn expected_list(
    seed: u64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    size: u64,
    churn: f64,
    day: u32,
) -> Vec<Value> {
    expected_indices(seed, provider, dataset, account_id, size, churn, day)
        .into_iter()
        .map(|i| expected_item(seed, provider, dataset, account_id, i))
        .collect()
}

/// The keys ([`Dataset::key_field`]: `id`, or `member_id` for following) of the list on `day`,
/// in served order: what `GET /_sim/stats/ids` answers.
pub fn expected_keys(
    seed: u64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    size: u64,
    churn: f64,
    day: u32,
) -> Vec<String> {
    expected_keys_shared(seed, 0.0, provider, dataset, account_id, size, churn, day)
}

/// [`expected_keys`] of a simulator started with `--shared-followers shared`: sharing changes
/// which person an item index is, never which indices a list holds.
#[allow(clippy::too_many_arguments)]
pub fn expected_keys_shared(
    seed: u64,
    shared: f64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    size: u64,
    churn: f64,
    day: u32,
) -> Vec<String> {
    let list =
        ListKey::new(seed, provider, dataset, account_id).with_shared(Shared::new(seed, shared));
    expected_indices(seed, provider, dataset, account_id, size, churn, day)
        .into_iter()
        .map(|i| list.key(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{expected_key, item_key};
    use std::collections::HashSet;

    const P: Provider = Provider::Instagram;
    const D: Dataset = Dataset::Following;

    #[test]
    fn day_zero_is_the_plain_list() {
        let list = expected_list(4, P, D, "acc_t", 50, 0.2, 0);
        assert_eq!(list.len(), 50);
        for (i, item) in list.iter().enumerate() {
            assert_eq!(*item, expected_item(4, P, D, "acc_t", i as u64));
        }
        assert_eq!(expected_list(4, P, D, "acc_t", 50, 0.0, 9), list);
    }

    /// Keys and items agree; an item that left looks the same as the day before it left.
    #[test]
    fn keys_items_and_content_across_days() {
        let day = |d| expected_list(4, P, D, "acc_t", 400, 0.1, d);
        let (before, after) = (day(4), day(5));
        let keys = expected_keys(4, P, D, "acc_t", 400, 0.1, 5);
        let from_items: Vec<&str> = after.iter().map(|v| item_key(D, v).unwrap()).collect();
        assert_eq!(keys, from_items);
        let kept: HashSet<&str> = from_items.iter().copied().collect();
        let lost: Vec<&Value> = before
            .iter()
            .filter(|v| !kept.contains(item_key(D, v).unwrap()))
            .collect();
        assert!(!lost.is_empty());
        let indices = expected_indices(4, P, D, "acc_t", 400, 0.1, 4);
        for (item, index) in before.iter().zip(indices) {
            assert_eq!(*item, expected_item(4, P, D, "acc_t", index));
            assert_eq!(
                item_key(D, item),
                Some(expected_key(4, P, D, "acc_t", index).as_str())
            );
        }
    }
}
