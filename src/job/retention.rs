//! `[retention]` (SPEC §12): how many days of each kind of data `prune` keeps.
//!
//! Owns the raw table and the validated [`Retention`] (`validate.rs` checks one into the
//! other). It must not know what `prune` deletes or how: it only says how old is too old.

use std::fmt;
use std::num::NonZeroU32;

use serde::Deserialize;

/// The most days a limit may name: 100 years of daily snapshots.
pub const MAX_RETENTION_DAYS: i64 = 36_500;

/// `[retention]` as written; a missing key or 0 keeps forever.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// Days of unit partitions (SPEC §4) kept, once a date's reader tables exist. 0: forever.
    #[serde(default)]
    pub units_days: i64,
    /// Days of `tables/followers` and `tables/following` kept. 0: forever.
    #[serde(default)]
    pub snapshots_days: i64,
    /// Days of the `*_changes` tables and `account_daily` kept. 0: forever.
    #[serde(default)]
    pub changes_days: i64,
}

/// Validated `[retention]`: `None` keeps forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Unit partitions of both datasets.
    pub units_days: Option<NonZeroU32>,
    /// `tables/followers`, `tables/following`.
    pub snapshots_days: Option<NonZeroU32>,
    /// `tables/*_changes`, `tables/account_daily`.
    pub changes_days: Option<NonZeroU32>,
}

impl Retention {
    /// Whether any limit is set: without one `prune` deletes nothing but stale staging.
    pub fn is_forever(&self) -> bool {
        self.units_days.is_none() && self.snapshots_days.is_none() && self.changes_days.is_none()
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |d: Option<NonZeroU32>| match d {
            Some(d) => format!("{d} days"),
            None => "forever".to_owned(),
        };
        write!(
            f,
            "units {}, snapshots {}, changes {}",
            show(self.units_days),
            show(self.snapshots_days),
            show(self.changes_days)
        )
    }
}
