//! Unknown field names: how many distinct ones a page or a unit remembers, with exact counts.

use std::collections::BTreeMap;

/// How many distinct unknown field names a page or unit remembers (their counts stay exact).
pub const MAX_UNKNOWN_NAMES: usize = 32;

/// Adds `n` occurrences of unknown field `name` to `names`, which remembers at most
/// [`MAX_UNKNOWN_NAMES`] distinct names (counts of the names it has stay exact).
pub fn merge_unknown(names: &mut BTreeMap<String, u64>, name: &str, n: u64) {
    if let Some(c) = names.get_mut(name) {
        *c += n;
    } else if names.len() < MAX_UNKNOWN_NAMES {
        names.insert(name.to_owned(), n);
    }
}
