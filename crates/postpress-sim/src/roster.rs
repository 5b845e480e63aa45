//! A bounded cache of lists' memberships, one per (account, dataset, day).
//!
//! Owns computing each membership once, even when many requests ask for it at the same time
//! (the first computes, the others wait for it), and keeping at most a budget of bytes of them
//! (and at most 262,144 entries, for lists too small to weigh anything), oldest out first. A membership in use stays alive while a request holds it. It must not know
//! how a membership is computed (`churn`) or what it is used for.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, OnceLock};

use super::churn::Members;
use super::data::Dataset;

/// An account (by its position in the configuration), one of its lists, and a day.
pub(crate) type RosterKey = (u32, Dataset, u32);

type Cell = Arc<OnceLock<Arc<Members>>>;

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<RosterKey, Cell>,
    /// Computed entries, oldest first.
    order: VecDeque<RosterKey>,
    bytes: usize,
}

const SHARDS: usize = 16;
/// Entries per shard, whatever their size: 2,000 accounts x 2 lists x 30 days fit.
const SHARD_ENTRIES: usize = 16_384;

/// The cache: 16 mutex-guarded shards of `capacity / 16` bytes each.
#[derive(Debug)]
pub(crate) struct Roster {
    shards: Vec<Mutex<Shard>>,
    shard_capacity: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl Roster {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_capacity: capacity / SHARDS,
            hasher: Default::default(),
        }
    }

    fn shard(&self, key: &RosterKey) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The membership at `key`, computed by `compute` if no one has yet.
    pub(crate) fn get_or_compute(
        &self,
        key: RosterKey,
        compute: impl FnOnce() -> Members,
    ) -> Arc<Members> {
        let cell = Arc::clone(self.shard(&key).map.entry(key).or_default());
        let mut computed = false;
        let members = Arc::clone(cell.get_or_init(|| {
            computed = true;
            Arc::new(compute())
        }));
        if computed {
            self.account(key, &cell, members.bytes());
        }
        members
    }

    /// Books a newly computed entry and evicts the oldest ones beyond the budget, never the
    /// newest.
    fn account(&self, key: RosterKey, cell: &Cell, size: usize) {
        let mut shard = self.shard(&key);
        // Evicted while it was being computed: nothing to book.
        if !shard.map.get(&key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            return;
        }
        shard.order.push_back(key);
        shard.bytes += size;
        while (shard.bytes > self.shard_capacity || shard.order.len() > SHARD_ENTRIES)
            && shard.order.len() > 1
        {
            let Some(old) = shard.order.pop_front() else {
                break;
            };
            if let Some(evicted) = shard.map.remove(&old) {
                shard.bytes -= evicted.get().map_or(0, |m| m.bytes());
            }
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_and_stays_bounded() {
        let roster = Roster::new(SHARDS * 4000);
        for day in 0..200 {
            let m = roster.get_or_compute((0, Dataset::Followers, day), || {
                Members::Compact(vec![day; 250])
            });
            assert_eq!(m.index(0), Some(u64::from(day)));
            assert!(roster.bytes() <= SHARDS * 4000);
        }
        let cached = |day| {
            let mut hit = true;
            roster.get_or_compute((0, Dataset::Followers, day), || {
                hit = false;
                Members::Compact(vec![day; 250])
            });
            hit
        };
        assert!(cached(199), "the newest entry was evicted");
        assert!(!cached(0), "the oldest entry was kept beyond the budget");
    }

    #[test]
    fn concurrent_askers_share_one_computation() {
        let roster = Arc::new(Roster::new(1 << 20));
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (roster, calls) = (Arc::clone(&roster), Arc::clone(&calls));
                std::thread::spawn(move || {
                    roster.get_or_compute((1, Dataset::Following, 3), || {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        Members::Compact(vec![7; 10])
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().len(), 10);
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
